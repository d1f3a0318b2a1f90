"""Shared parts of the normalization layers (engine/layers/normalization.py): the axis
checks, the broadcast shape of per-axis weights, the epsilon/center/scale and
beta/gamma field declarations, and the renorm standard deviations' initializer."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..fields import Bool, Constraint, Float, Initializer, Regularizer
from .base import Layer


def resolve_axes(layer: Layer, axis: Any, ndim: int, field: str = "axis") -> list[int]:
    """``axis`` (int or list) as sorted non-negative ints for rank ``ndim``; a ConfigError
    naming ``field`` when one is out of range or repeated."""
    axes = [axis] if isinstance(axis, int) else list(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise layer.config_error(field, f"axis {a} is out of range for inputs of rank "
                                     f"{ndim} (expected -{ndim} <= axis < {ndim}), got "
                                     f"axis={axis!r}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise layer.config_error(field, f"repeated axis in {axis!r}")
    return sorted(out)


def _bshape(ndim: int, axes: list[int], shape: tuple) -> list[int]:
    out = [1] * ndim
    for a in axes:
        out[a] = shape[a]
    return out


def _norm_fields(epsilon: float = 1e-3) -> tuple:
    return (
        Float("epsilon", epsilon, "Small float added to the variance.", min=0, min_open=True),
        Bool("center", True, "Whether to add the offset beta."),
        Bool("scale", True, "Whether to multiply by gamma."),
    )


_INIT_REG = (
    Initializer("beta_initializer", "zeros", "Initializer of beta."),
    Initializer("gamma_initializer", "ones", "Initializer of gamma."),
    Regularizer("beta_regularizer", None, "Penalty on beta."),
    Regularizer("gamma_regularizer", None, "Penalty on gamma."),
    Constraint("beta_constraint", None, "Constraint on beta."),
    Constraint("gamma_constraint", None, "Constraint on gamma."),
)


class _SqrtInit:
    """Keras initializes the renorm standard deviations with sqrt(variance initializer)."""

    def __init__(self, base: Any):
        self.base = base

    def __call__(self, shape: tuple, dtype: str = "float32") -> np.ndarray:
        return np.sqrt(np.asarray(self.base(shape, dtype=dtype), dtype=dtype))
