"""Identity and Masking: pass-through layers (Masking adds a mask)."""

from __future__ import annotations

import numpy as np

from ...fields import (
    Float,
)
from ..base import Layer

# -- Identity, Masking -----------------------------------------------------------------------


class Identity(Layer):
    """Returns its input unchanged (masks pass through).

    Input shape: any. Output shape: the same.
    """

    keras_builds_at_init = True

    supports_masking = True

    def call(self, inputs):
        return inputs


class Masking(Layer):
    """Masks timesteps whose features all equal ``mask_value``.

    The output zeroes the masked steps; ``compute_mask`` gives ``(batch, time)`` booleans
    (True = kept) for the layers downstream.

    Input shape: ``(batch, time, ..., features)``. Output shape: the same.

    Example:
        >>> Masking(mask_value=0.0)
    """

    keras_builds_at_init = True

    supports_masking = True
    fields = (Float("mask_value", 0.0, "Steps whose features all equal this are masked."),)

    def call(self, inputs):
        keep = np.any(inputs != self.mask_value, axis=-1, keepdims=True)
        return np.where(keep, inputs, np.zeros((), dtype=inputs.dtype))

    def compute_mask(self, inputs, mask=None):
        return np.any(np.asarray(inputs) != self.mask_value, axis=-1)
