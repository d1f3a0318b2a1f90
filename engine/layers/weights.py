"""A layer's weight: :class:`Variable` (name, path, shape, dtype, a value filled now or read
lazily from a file), and the kernel/bias weight fields layers declare."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import WeightsError
from ..fields import KERAS3, Constraint, Field, Initializer, Regularizer


class Variable:
    """A weight: ``name`` (``kernel``), ``path`` (``dense/kernel``), ``value`` (an array)."""

    __slots__ = ("name", "path", "_value", "_loader", "trainable", "initializer",
                 "regularizer", "constraint", "shape", "dtype", "field")

    def __init__(self, name: str, path: str, shape: tuple[int, ...], dtype: str,
                 trainable: bool, initializer: Any, regularizer: Any = None,
                 constraint: Any = None, field: str | None = None):
        self.name, self.path = name, path
        self.shape, self.dtype = tuple(map(int, shape)), dtype
        self.trainable = trainable
        self.initializer, self.regularizer, self.constraint = initializer, regularizer, constraint
        self.field = field
        self._loader: Callable[[], np.ndarray] | None = None
        self._value: np.ndarray | None = None

    @property
    def value(self) -> np.ndarray | None:
        """The array; a weight read from a file is fetched here, on first access."""
        if self._value is None and self._loader is not None:
            loader = self._loader
            self._value = loader()
            self._loader = None
        return self._value

    @value.setter
    def value(self, value: np.ndarray | None) -> None:
        self._value, self._loader = value, None

    def set_loader(self, loader: Callable[[], np.ndarray] | None) -> None:
        """Fetch the value lazily from ``loader()`` (engine.files) instead of holding it."""
        self._value, self._loader = None, loader

    @property
    def loaded(self) -> bool:
        return self._value is not None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def numpy(self) -> np.ndarray:
        return np.array(self.value)

    def assign(self, value: Any) -> None:
        arr = np.asarray(value, dtype=self.dtype)
        if arr.shape != self.shape:
            raise WeightsError(f"{self.path}: expected shape {self.shape}, got {arr.shape}")
        self.value = arr

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.value, dtype=dtype)

    def __repr__(self) -> str:
        return f"<Variable path={self.path!r} shape={self.shape} dtype={self.dtype}>"


def activity_regularizer_field(keras3_always: bool) -> Field:
    """Keras 3's base Layer writes ``activity_regularizer`` only when set; some layers
    (Conv, Embedding, RNNs) always write it. Keras 2 layers that take it always do."""
    return Regularizer("activity_regularizer", None, "Penalty on the layer's output.",
                       omit_default=() if keras3_always else (KERAS3,))


def kernel_bias_fields(keras3_activity_always: bool) -> tuple[Field, ...]:
    """The kernel/bias initializer, regularizer and constraint keys (with
    activity_regularizer between them), in the order Dense, Conv, EinsumDense and
    LocallyConnected write them."""
    return (
        Initializer("kernel_initializer", "glorot_uniform", "Initializer of the kernel."),
        Initializer("bias_initializer", "zeros", "Initializer of the bias."),
        Regularizer("kernel_regularizer", None, "Penalty on the kernel."),
        Regularizer("bias_regularizer", None, "Penalty on the bias."),
        activity_regularizer_field(keras3_always=keras3_activity_always),
        Constraint("kernel_constraint", None, "Constraint on the kernel."),
        Constraint("bias_constraint", None, "Constraint on the bias."),
    )
