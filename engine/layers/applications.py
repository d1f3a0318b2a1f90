"""The layer classes keras.applications defines for its own models, as built-ins:
``LayerScale`` and ``StochasticDepth`` (ConvNeXt), ``CustomScaleLayer``
(InceptionResNetV2). Keras 3 (``keras.src.applications.*``) and tf_keras
(``tf_keras.src.applications.*``) write the same configs for them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..fields import REQUIRED, Float, Int
from ..serialization import get_object
from .base import Layer, normalize_shape


class LayerScale(Layer):
    """ConvNeXt's layer scale: ``inputs * gamma``, one learned factor per channel.

    Args:
        init_values: the initial value of every factor (ConvNeXt: 1e-6).
        projection_dim: the number of channels (the last axis of the input).

    Input shape: ``(..., projection_dim)``. Output shape: the same. Weights: ``gamma``
    ``(projection_dim,)``.
    """

    keras_module: ClassVar[str] = "keras.src.applications.convnext"
    positional = ("init_values", "projection_dim")
    fields = (
        Float("init_values", REQUIRED, "Initial value of each scale factor."),
        Int("projection_dim", REQUIRED, "Number of channels (the input's last axis).", min=1),
    )

    def build(self, input_shape: Any = None) -> None:
        shape = normalize_shape(input_shape) if input_shape is not None else None
        if shape is not None and shape and shape[-1] is not None and \
                shape[-1] != self.projection_dim:
            raise ValueError(f"LayerScale {self.name!r}: projection_dim is "
                             f"{self.projection_dim}, the input has {shape[-1]} channels "
                             f"(shape {shape})")
        init = get_object("initializer", {"class_name": "Constant",
                                          "config": {"value": float(self.init_values)}},
                          "init_values", self.source_format)
        self.gamma = self.add_weight("gamma", (self.projection_dim,), init)

    def call(self, inputs):
        x = np.asarray(inputs)
        return (x * self.gamma.value.astype(x.dtype, copy=False)).astype(x.dtype, copy=False)

    def compute_output_shape(self, input_shape):
        return normalize_shape(input_shape)


class StochasticDepth(Layer):
    """ConvNeXt's stochastic depth: in training, drops the whole residual path of each
    batch entry with probability ``drop_path_rate`` (the kept ones scaled by
    ``1 / (1 - drop_path_rate)``); the identity at inference.

    Input shape: any. Output shape: the same. No weights.
    """

    keras_module: ClassVar[str] = "keras.src.applications.convnext"
    keras_builds_at_init = True
    positional = ("drop_path_rate",)
    fields = (
        Float("drop_path_rate", REQUIRED, "Probability of dropping the path, in [0, 1].",
              min=0.0, max=1.0),
    )

    def call(self, inputs, training=False):
        x = np.asarray(inputs)
        if not training or self.drop_path_rate <= 0:
            return x
        keep = 1.0 - self.drop_path_rate
        if keep <= 0:
            return np.zeros_like(x)
        rng = np.random.default_rng()
        mask = np.floor(keep + rng.uniform(0, 1, (x.shape[0],) + (1,) * (x.ndim - 1)))
        return ((x / keep) * mask).astype(x.dtype, copy=False)

    def compute_output_shape(self, input_shape):
        return normalize_shape(input_shape)


class CustomScaleLayer(Layer):
    """InceptionResNetV2's residual sum: called on ``[x, r]``, gives ``x + r * scale``.

    Input: a list of two tensors of the same shape. Output shape: that shape. No weights.
    """

    keras_module: ClassVar[str] = "keras.src.applications.inception_resnet_v2"
    keras_builds_at_init = True
    multi_input = True
    #: tf_keras registers it (``@register_keras_serializable()``) under this name, which its
    #: legacy .h5 / JSON configs write as the class name
    keras_registered_names: ClassVar[tuple[str, ...]] = ("Custom>CustomScaleLayer",)
    aliases = keras_registered_names
    positional = ("scale",)
    fields = (Float("scale", REQUIRED, "Factor applied to the residual branch."),)

    def _pair(self, inputs: Any) -> tuple[Any, Any]:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            n = len(inputs) if isinstance(inputs, (list, tuple)) else 1
            raise ValueError(f"CustomScaleLayer {self.name!r} expects a list of 2 inputs "
                             f"[shortcut, residual], got {n}")
        return inputs[0], inputs[1]

    def call(self, inputs):
        a, b = self._pair(inputs)
        a, b = np.asarray(a), np.asarray(b)
        return (a + b * np.asarray(self.scale, b.dtype)).astype(a.dtype, copy=False)

    def compute_output_shape(self, input_shape):
        a, b = self._pair(input_shape)
        a, b = normalize_shape(a), normalize_shape(b)
        if len(a) != len(b) or any(x is not None and y is not None and x != y
                                   for x, y in zip(a, b)):
            raise ValueError(f"CustomScaleLayer {self.name!r}: shapes {a} and {b} differ")
        return tuple(x if x is not None else y for x, y in zip(a, b))
