"""The table from layer class to its vector-Jacobian product (VJP).

A VJP is registered as a *forward* function ``fn(layer, xs, call) -> (y, backward)``: it
runs the layer on the list of inputs ``xs`` (one array for single-input layers), keeps what
the backward pass needs, and returns the output(s) ``y`` and ``backward(gy) -> (gxs,
gweights)``, where ``gxs`` has one gradient per input (None for integer inputs) and
``gweights`` maps a weight's ``path`` to its gradient.

The VJPs live in this package, one module per layer family, because the layer modules are
owned elsewhere; each family module registers its classes with :func:`register`, and
``lookup`` imports every family.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from .refused import REFUSED

Backward = Callable[[Any], tuple[list[Any], dict[str, np.ndarray]]]
Forward = Callable[[Any, list[np.ndarray], "Call"], tuple[Any, Backward]]

#: layer class -> forward-with-VJP function
VJPS: dict[type, Forward] = {}


@dataclass
class Call:
    """How a layer is called: training mode, the incoming mask, where it is (for errors)."""

    training: bool = False
    mask: Any = None
    where: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def register(*classes: type) -> Callable[[Forward], Forward]:
    """Register ``fn`` as the VJP of each class (exact classes, not subclasses)."""
    def deco(fn: Forward) -> Forward:
        for cls in classes:
            VJPS[cls] = fn
        return fn
    return deco


def find(layer: Any, where: str) -> Forward:
    """The registered VJP of ``layer``'s class, or a ConfigError naming the layer. (The
    family modules are imported by ``lookup``, which every entry point goes through.)"""
    fn = VJPS.get(type(layer))
    if fn is None:
        name = getattr(layer, "name", "?")
        cls = type(layer).__name__
        why = REFUSED.get(cls, "engine.gradients differentiates layers with weights or "
                               "arithmetic; preprocessing, augmentation and other "
                               "non-differentiable layers are refused")
        raise ConfigError(where or name, f"layer {name!r} ({cls}) has no backward pass: "
                          f"{why}. Remove it from the model, or take gradients of the part "
                          f"after it")
    return fn


def is_float(x: Any) -> bool:
    return np.issubdtype(np.asarray(x).dtype, np.floating)


def cast_input(layer: Any, x: Any) -> np.ndarray:
    """``x`` as the layer's call sees it: float and integer inputs in the compute dtype
    (layers that take integers, ``autocast = False``, get them as they are)."""
    arr = np.asarray(x)
    dtype = np.dtype(layer.compute_dtype)
    if getattr(layer, "autocast", True) and arr.dtype != dtype and \
            np.issubdtype(dtype, np.floating) and arr.dtype.kind in "fiub":
        arr = arr.astype(dtype)
    return arr


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` down to ``shape`` (the reverse of NumPy broadcasting)."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    axes = tuple(i for i, (a, b) in enumerate(zip(g.shape, shape)) if b == 1 and a != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g
