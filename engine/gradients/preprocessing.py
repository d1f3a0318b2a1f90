"""VJPs of the two numeric preprocessing layers that are plain arithmetic at the input of
many architectures (EfficientNet, MobileNetV3, ConvNeXt): Rescaling and Normalization.
TensorFlow differentiates through them; every other preprocessing or augmentation layer
is refused (see table.find)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers.preprocessing.numeric import Normalization, Rescaling
from .table import Call, register, unbroadcast


@register(Rescaling, Normalization)
def affine(layer: Any, xs: list[np.ndarray], call: Call):
    """Both are ``x * slope + intercept`` elementwise (broadcast with their settings): the
    layer run on zeros gives the intercept, on ones the slope plus the intercept."""
    x = np.asarray(xs[0])
    dt = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(layer.compute_dtype)
    x = x.astype(dt, copy=False)
    zero = np.asarray(layer.call(np.zeros_like(x)), np.float64)
    slope = np.asarray(layer.call(np.ones_like(x)), np.float64) - zero
    y = (x * slope + zero).astype(dt, copy=False)
    return y, lambda g: ([unbroadcast(g * slope, x.shape).astype(g.dtype)], {})
