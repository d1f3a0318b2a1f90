"""Activation layers: Activation, ReLU, LeakyReLU, PReLU, ELU, Softmax (and Keras 2's
ThresholdedReLU).

All are elementwise (Softmax along ``axis``), keep the input shape and forward the mask.
"""

from __future__ import annotations

from operator import is_
from typing import Any

import numpy as np

from .. import activations
from ..fields import (
    KERAS2,
    REQUIRED,
    Axis,
    Bool,
    Constraint,
    Float,
    Initializer,
    Regularizer,
    f32,
)
from ..fields import (
    Activation as ActivationField,
)
from .base import InputSpec, Layer, normalize_shape
from .elementwise import activate, clip_bounds, relu_bounds, relu_layer, stock_call

_BASE = {f.name: f for f in Layer.fields}


class _Float32InKeras2(Float):
    """A float Keras 2 casts to float32 (``cast_to_floatx``) before writing it."""

    def to_config(self, value: Any, fmt: str) -> Any:
        if value is None:
            return None
        if fmt == KERAS2:
            return f32(float(value))
        return super().to_config(value, fmt)


class _ElementwiseLayer(Layer):
    keras_builds_at_init = True
    abstract = True
    supports_masking = True

    def compute_output_shape(self, input_shape):
        return normalize_shape(input_shape)


class Activation(_ElementwiseLayer):
    """Applies an activation function: ``activation(x)``.

    Input shape: any. Output shape: the same.

    Example:
        >>> Activation("relu")
    """

    fields = (ActivationField("activation", REQUIRED, "The activation function to apply."),)

    def call(self, inputs):
        return activate(self.activation, inputs, owned=False)

    def _call_owned(self, inputs, owned):
        # the run loop's: ``inputs`` is no one else's (relu, relu6: clipped in place)
        return activate(self.activation, inputs, owned=bool(owned))

    def clip_bounds(self, dtype: np.dtype) -> tuple | None:
        """(lo, hi) when this layer's call on arrays of ``dtype`` is one clip (relu, relu6,
        the class's own call, no activity regularizer), else None: the run loop may then
        leave the clip to the BatchNormalization before it (its ``fused_clip``)."""
        if not stock_call(self, Activation):
            return None
        fn = self._values["activation"]
        memo = self.__dict__.get("_clip_memo")  # per activation object and dtype
        if memo is None or memo[0] is not fn or memo[1] is not dtype:
            memo = self.__dict__["_clip_memo"] = (fn, dtype, clip_bounds(fn, dtype))
        return memo[2]

    def compute_output_shape(self, input_shape):
        shape = normalize_shape(input_shape)
        if getattr(self.activation, "name", None) == "glu":  # halves the last axis
            last = shape[-1]
            return (*shape[:-1], None if last is None else last // 2)
        return shape


class ReLU(_ElementwiseLayer):
    """``x`` above ``threshold``, ``negative_slope * (x - threshold)`` below, then at most
    ``max_value``.

    Input shape: any. Output shape: the same.

    Example:
        >>> ReLU(max_value=6.0)
    """

    fields = (
        _Float32InKeras2("max_value", None, "Upper bound of the output (None = no bound).",
                         min=0.0),
        _Float32InKeras2("negative_slope", 0.0, "Slope below the threshold.", min=0.0),
        _Float32InKeras2("threshold", 0.0, "Values below this are damped.", min=0.0),
    )

    def call(self, inputs):
        return self._relu(inputs, False)

    def _call_owned(self, inputs, owned):
        # the run loop's: ``inputs`` is no one else's (plain cases: clipped in place)
        return self._relu(inputs, bool(owned))

    def clip_bounds(self, dtype: np.dtype) -> tuple | None:
        """As :meth:`Activation.clip_bounds`: the plain cases of ``_relu``."""
        if not stock_call(self, ReLU, "_relu"):
            return None
        v = self._values
        key = (v["max_value"], v["negative_slope"], v["threshold"], dtype)
        memo = self.__dict__.get("_clip_memo")  # per config values and dtype
        if memo is None or not all(map(is_, memo[0], key)):
            memo = self.__dict__["_clip_memo"] = (key, relu_bounds(dtype, *key[:3]))
        return memo[1]

    def _relu(self, inputs, owned):
        fast = relu_layer(inputs, self.max_value, self.negative_slope, self.threshold, owned)
        if fast is not None:
            return fast
        return activations.relu(inputs, negative_slope=self.negative_slope,
                                max_value=self.max_value, threshold=self.threshold,
                                keras2=self.source_format == KERAS2
                                ).astype(inputs.dtype, copy=False)


class LeakyReLU(_ElementwiseLayer):
    """``x`` for ``x >= 0``, ``negative_slope * x`` below.

    Keras 3 writes ``negative_slope`` (``alpha`` is accepted); Keras 2 writes ``alpha``,
    rounded to float32.

    Input shape: any. Output shape: the same.
    """

    fields = (
        _Float32InKeras2("negative_slope", 0.3, "Slope for negative inputs.", aliases=("alpha",),
                         names={KERAS2: "alpha"}),
    )

    def _post_init(self) -> None:
        # Keras 3 refuses a negative slope; tf_keras accepts any number.
        if self.negative_slope < 0 and self.source_format != KERAS2:
            raise self.config_error("negative_slope", f"must be >= 0, got "
                                    f"{self.negative_slope!r}")

    def call(self, inputs):
        s = np.asarray(self.negative_slope, dtype=inputs.dtype)
        return np.where(inputs >= 0, inputs, s * inputs)


class PReLU(Layer):
    """Leaky ReLU with a learned slope: ``max(x, 0) + alpha * min(x, 0)``.

    ``alpha`` has the input's shape without the batch axis; the axes in ``shared_axes``
    (counting the batch as 0) have size 1 (one slope shared along them).

    Input shape: any. Output shape: the same.
    Weights: ``alpha`` (input_shape[1:] with shared axes set to 1).

    Example:
        >>> PReLU(shared_axes=[1, 2])  # one slope per channel of an image
    """

    supports_masking = True
    fields = (
        Initializer("alpha_initializer", "zeros", "Initializer of alpha."),
        Regularizer("alpha_regularizer", None, "Penalty on alpha."),
        Constraint("alpha_constraint", None, "Constraint on alpha."),
        Axis("shared_axes", None, "Axes (1 = first after batch) sharing one alpha."),
    )

    def _post_init(self) -> None:
        axes = self.shared_axes
        if axes is None:
            return
        axes = [axes] if isinstance(axes, int) else list(axes)
        for i, a in enumerate(axes):
            if a < 1:
                raise self.config_error(f"shared_axes[{i}]", f"must be >= 1 (axis 0 is the "
                                        f"batch), got {a}")
        self.shared_axes = axes

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for a in self.shared_axes or []:
            if a > len(shape):
                raise self.config_error("shared_axes", f"axis {a} does not exist for inputs "
                                        f"of rank {len(input_shape)} (shape {input_shape})")
            shape[a - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f"PReLU {self.name!r}: every non-shared axis must have a known "
                             f"size, got shape {input_shape}")
        self.alpha = self.add_weight("alpha", shape, self.alpha_initializer,
                                     regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint, field="alpha_initializer")
        shared = set(self.shared_axes or [])
        axes = {i: input_shape[i] for i in range(1, len(input_shape)) if i not in shared} \
            if shared else {}
        self.input_spec = InputSpec(ndim=len(input_shape), axes=axes)

    def call(self, inputs):
        a = self.alpha.value
        return np.maximum(inputs, 0) + (-a) * np.maximum(-inputs, 0)

    def compute_output_shape(self, input_shape):
        return normalize_shape(input_shape)


class ELU(_ElementwiseLayer):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` below.

    Input shape: any. Output shape: the same.
    """

    # Keras 3 writes name, alpha, trainable, dtype (in this order)
    fields = (
        _BASE["name"],
        _Float32InKeras2("alpha", 1.0, "Scale of the negative part."),
        _BASE["trainable"],
        _BASE["dtype"],
    )
    keras2_order = ("name", "trainable", "dtype", "batch_input_shape", "alpha")

    def call(self, inputs):
        return activations.elu(inputs, alpha=self.alpha).astype(inputs.dtype, copy=False)


class ThresholdedReLU(_ElementwiseLayer):
    """Keras 2 only: ``x`` where ``x > theta``, else 0.

    Input shape: any. Output shape: the same.
    """

    keras_formats = (KERAS2,)
    fields = (_Float32InKeras2("theta", 1.0, "Values at or below this become 0.", min=0.0),)

    def call(self, inputs):
        return np.where(inputs > self.theta, inputs, np.zeros((), dtype=inputs.dtype))


class Softmax(_ElementwiseLayer):
    """Softmax along ``axis`` (an int or a list of axes).

    With a ``mask`` (broadcastable to the input; True = kept), masked positions get -1e9
    before the softmax and 0 after it (Keras 3; fully masked rows give zeros).

    Input shape: any. Output shape: the same.
    """

    fields = (
        Axis("axis", -1, "Axis (or axes) the softmax normalizes over."),
        Bool("robust_masking", False, "Keras 2.13+: mask with where() instead of adding -1e9.",
             formats=(KERAS2,), omit_default=(KERAS2,)),
    )

    def call(self, inputs, mask=None):
        x = inputs
        if mask is not None:
            m = np.asarray(mask)
            if m.ndim > x.ndim:
                raise ValueError(f"Softmax {self.name!r}: the mask has more dimensions than "
                                 f"the inputs: {m.shape} vs {x.shape}")
            try:
                np.broadcast_shapes(m.shape, x.shape)
            except ValueError:
                raise ValueError(f"Softmax {self.name!r}: a mask of shape {m.shape} does not "
                                 f"broadcast to inputs of shape {x.shape}") from None
            if m.dtype != bool:
                m = m > 0.5
            big = -3e4 if x.dtype == np.float16 else -1e9
            x = np.where(m, x, np.asarray(big, dtype=x.dtype))
        axis = tuple(self.axis) if isinstance(self.axis, (list, tuple)) else self.axis
        y = activations.softmax(x, axis=axis)
        if mask is not None:
            y = np.where(m, y, np.zeros((), dtype=y.dtype))
        return y.astype(inputs.dtype, copy=False)


__all__ = ["Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "Softmax"]
