"""Regularization layers: Dropout, SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout,
AlphaDropout, ActivityRegularization.

All are the identity at inference (``training=False``, the default). In training mode the
noise is drawn from the layer's own generator (``self._rng``), seeded by ``seed``: the same
seed gives the same sequence of masks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..fields import KERAS2, KERAS3, REQUIRED, Bool, Float, Name, PlainDType, Seed, Shape
from ..regularizers import L1L2
from .base import InputSpec, Layer, normalize_shape
from .reshaping import DataFormat

#: SELU's constants: AlphaDropout keeps SELU's self-normalization
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def _rate(doc: str = "Fraction of the inputs to drop, in [0, 1).") -> Float:
    return Float("rate", REQUIRED, doc, min=0.0, max=1.0, max_open=True)


def _noise_shape(**kw: Any) -> Shape:
    return Shape("noise_shape", None, "Shape of the drop mask, broadcast over the input "
                 "(None entries take the input's size).", min=1, **kw)


class _NoiseLayer(Layer):
    """Identity at inference; ``_train`` in training mode."""

    keras_builds_at_init = True

    abstract = True
    supports_masking = True

    def call(self, inputs, training=False):
        if not training or not np.issubdtype(inputs.dtype, np.floating):
            return inputs
        return self._train(inputs)

    def _train(self, x: np.ndarray) -> np.ndarray:
        return x

    def compute_output_shape(self, input_shape):
        return normalize_shape(input_shape)

    def _concrete_noise_shape(self, x: np.ndarray, noise_shape: Any) -> tuple[int, ...]:
        if noise_shape is None:
            return x.shape
        if len(noise_shape) != x.ndim:
            raise ValueError(f"{type(self).__name__} {self.name!r}: noise_shape "
                             f"{list(noise_shape)} has {len(noise_shape)} entries, the input "
                             f"has rank {x.ndim} (shape {x.shape})")
        shape = tuple(s if n is None else n for n, s in zip(noise_shape, x.shape))
        for n, s in zip(shape, x.shape):
            if n not in (1, s):
                raise ValueError(f"{type(self).__name__} {self.name!r}: noise_shape "
                                 f"{list(noise_shape)} does not broadcast to inputs of shape "
                                 f"{x.shape}")
        return shape

    def _drop(self, x: np.ndarray, rate: float, noise_shape: tuple[int, ...]) -> np.ndarray:
        """Keep each mask entry with probability 1 - rate; scale kept values by 1/(1-rate)."""
        if rate <= 0:
            return x
        keep = self._rng.random(noise_shape) >= rate
        scale = np.asarray(1.0 / (1.0 - rate), dtype=x.dtype)
        return np.where(keep, x * scale, np.zeros((), dtype=x.dtype))


class Dropout(_NoiseLayer):
    """Sets a fraction ``rate`` of the inputs to 0 in training and scales the others by
    ``1 / (1 - rate)``; the identity at inference.

    ``noise_shape`` drops whole slices: ``(None, 1, None)`` shares one mask along axis 1.

    Input shape: any. Output shape: the same.

    Example:
        >>> Dropout(0.5, seed=1)(x, training=True)
    """

    fields = (_rate(), Seed(), _noise_shape())
    keras2_order = ("name", "trainable", "dtype", "batch_input_shape", "rate", "noise_shape",
                    "seed")

    def _train(self, x):
        return self._drop(x, self.rate, self._concrete_noise_shape(x, self.noise_shape))


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps (one mask entry per sample and channel)."""

    abstract = True
    rank = 1
    # Keras 3 writes rate, seed, name, dtype (a plain string) [, data_format], no trainable;
    # Keras 2 writes Dropout's keys (noise_shape is accepted there but unused).
    fields = (
        _rate(),
        Seed(),
        Name("name", None, "The layer's name (unique within a model)."),
        PlainDType("dtype", "float32", keras2_policy=True),
        _noise_shape(formats=(KERAS2,)),
        Bool("trainable", True, "Whether the weights are updated in training.",
             formats=(KERAS2,)),
    )

    def build(self, input_shape):
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _train(self, x):
        if x.ndim != self.rank + 2:
            raise ValueError(f"{type(self).__name__} {self.name!r} expects inputs of rank "
                             f"{self.rank + 2}, got shape {x.shape}")
        shape = [1] * x.ndim
        shape[0] = x.shape[0]
        ch = 1 if getattr(self, "data_format", "channels_last") == "channels_first" else -1
        shape[ch] = x.shape[ch]
        return self._drop(x, self.rate, tuple(shape))


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of a sequence: the mask has shape ``(batch, 1, channels)``.

    Input shape: ``(batch, steps, channels)``. Output shape: the same.
    """

    rank = 1


class SpatialDropout2D(_SpatialDropout):
    """Drops whole 2D feature maps: mask ``(batch, 1, 1, channels)`` (channels_last).

    Input shape: ``(batch, rows, cols, channels)`` or channels_first. Output: the same.
    """

    rank = 2
    fields = (DataFormat(formats=(KERAS3,)),)


class SpatialDropout3D(_SpatialDropout):
    """Drops whole 3D feature maps: mask ``(batch, 1, 1, 1, channels)`` (channels_last).

    Input shape: ``(batch, d1, d2, d3, channels)`` or channels_first. Output: the same.
    """

    rank = 3
    fields = (DataFormat(formats=(KERAS3,)),)


class GaussianNoise(_NoiseLayer):
    """Adds N(0, stddev) noise in training; the identity at inference.

    Input shape: any. Output shape: the same.
    """

    fields = (Float("stddev", REQUIRED, "Standard deviation of the added noise.", min=0.0),
              Seed())

    def _train(self, x):
        if self.stddev <= 0:
            return x
        return x + self._rng.normal(0.0, self.stddev, x.shape).astype(x.dtype)


class GaussianDropout(_NoiseLayer):
    """Multiplies by N(1, sqrt(rate / (1 - rate))) noise in training; the identity at
    inference.

    Input shape: any. Output shape: the same.
    """

    fields = (_rate("Drop probability; the noise std is sqrt(rate / (1 - rate))."), Seed())

    def _train(self, x):
        if self.rate <= 0:
            return x
        std = math.sqrt(self.rate / (1.0 - self.rate))
        return x * self._rng.normal(1.0, std, x.shape).astype(x.dtype)


class AlphaDropout(_NoiseLayer):
    """Dropout that keeps SELU's mean and variance: dropped values are set to SELU's
    negative saturation, then ``a * x + b`` restores the moments.

    Input shape: any. Output shape: the same.
    """

    fields = (_rate(), Seed(), _noise_shape(formats=(KERAS3,)))

    def _train(self, x):
        rate = self.rate
        if rate <= 0:
            return x
        keep = self._rng.random(self._concrete_noise_shape(x, self.noise_shape)) >= rate
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
        b = -a * alpha_p * rate
        y = np.where(keep, x, np.asarray(alpha_p, dtype=x.dtype))
        return (a * y + b).astype(x.dtype)


class ActivityRegularization(Layer):
    """The identity, adding ``l1 * sum(|x|) + l2 * sum(x**2)`` of its output to ``losses``.

    Input shape: any. Output shape: the same.
    """

    keras_builds_at_init = True

    supports_masking = True
    drop_fields = ("activity_regularizer",)
    fields = (Float("l1", 0.0, "L1 factor of the activity penalty.", min=0.0),
              Float("l2", 0.0, "L2 factor of the activity penalty.", min=0.0))

    def _post_init(self) -> None:
        # not a config key: Keras derives it from l1/l2 and leaves it out of the config
        self._values["activity_regularizer"] = L1L2(l1=self.l1, l2=self.l2)

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return normalize_shape(input_shape)


__all__ = ["Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
           "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"]
