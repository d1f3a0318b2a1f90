"""InputLayer: a model's entry point (shape and dtype of its input)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ConfigError, describe
from ...fields import (
    KERAS2,
    REQUIRED,
    Bool,
    Name,
    PlainDType,
    Shape,
)
from ..base import Layer, normalize_shape

# -- InputLayer ----------------------------------------------------------------------------


class InputLayer(Layer):
    """The entry point of a model: declares the input's shape and dtype; passes data through.

    Accepts ``shape`` (+ ``batch_size``), ``batch_shape``, or Keras 2's ``input_shape`` /
    ``batch_input_shape``. Keras 3 writes ``batch_shape``, Keras 2 ``batch_input_shape``.

    Input/Output shape: ``batch_shape``.

    Example:
        >>> InputLayer(shape=(28, 28, 1)).batch_shape
        (None, 28, 28, 1)
    """

    drop_fields = ("activity_regularizer", "batch_input_shape")
    fields = (
        Shape("batch_shape", REQUIRED, "The input shape, batch first (None = any size).",
              names={KERAS2: "batch_input_shape"}),
        PlainDType("dtype", "float32", "The dtype of the input data."),
        Bool("sparse", False, "Whether the input is a sparse tensor (dense here)."),
        Bool("ragged", False, "Whether the input is a ragged tensor (dense here)."),
        Name("name", None, "The layer's name."),
        Bool("optional", False, "Whether the input may be None."),
        Bool("trainable", True, "Not written by Keras for InputLayer.", formats=()),
    )

    def __init__(self, *args: Any, **kwargs: Any):
        shape = kwargs.pop("shape", None)
        input_shape = kwargs.pop("input_shape", None)
        batch_size = kwargs.pop("batch_size", None)
        if kwargs.get("input_tensor") is not None:
            raise ConfigError("input_tensor", "a symbolic tensor cannot be given to layerlab; "
                              "give shape= or batch_shape= instead")
        kwargs.pop("input_tensor", None)
        if input_shape is not None and shape is None:
            shape = input_shape
        if args:
            if shape is not None:
                raise ConfigError("shape", "given both by position and by name")
            shape, args = args[0], args[1:]
        given = [k for k in ("batch_shape", "batch_input_shape") if kwargs.get(k) is not None]
        if shape is not None:
            if given:
                raise ConfigError("shape", f"give shape or {given[0]}, not both")
            if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
                shape = (shape,)
            if not isinstance(shape, (list, tuple)):
                raise ConfigError("shape", f"expected a list of ints or None, got "
                                  f"{describe(shape)}")
            kwargs["batch_shape"] = [batch_size, *shape]
        elif batch_size is not None and given:
            raise ConfigError("batch_size", f"give batch_size with shape, not with {given[0]}")
        super().__init__(*args, **kwargs)
        self.built = True

    @property
    def batch_shape(self) -> tuple[int | None, ...]:
        return self._values["batch_shape"]

    def call(self, inputs):
        x = np.asarray(inputs)
        want = self.batch_shape
        if x.ndim != len(want) or any(w is not None and w != s for w, s in zip(want, x.shape)):
            raise ValueError(f"InputLayer {self.name!r} expects inputs of shape {want}, got "
                             f"{x.shape}")
        return x.astype(self.dtype, copy=False)

    def _cast(self, x):
        return np.asarray(x)

    def compute_output_shape(self, input_shape=None):
        if input_shape is None:
            return self.batch_shape
        return normalize_shape(input_shape)
