"""Weight constraints: projections applied after an optimizer update.

They have no effect on a forward pass; ``constraint(w)`` returns the projected weights so
the widget can show what a training step would do to them.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .configurable import Configurable
from .fields import Axis, Float

EPSILON = 1e-7


class Constraint(Configurable):
    """Base of constraints: ``constraint(w)`` returns the projected array."""

    registry_kind: ClassVar[str] = "constraint"
    keras_module: ClassVar[str] = "keras.constraints"
    abstract = True

    def __call__(self, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _norms(w: np.ndarray, axis) -> np.ndarray:
    return np.sqrt(np.sum(np.square(w), axis=axis if isinstance(axis, int) else tuple(axis),
                          keepdims=True))


_AXIS = Axis("axis", 0, "Axis (or axes) along which norms are computed.")


class MaxNorm(Constraint):
    """Rescales weights whose norm along ``axis`` exceeds ``max_value``."""

    aliases = ("max_norm", "maxnorm")
    fields = (Float("max_value", 2, "Largest allowed norm.", min=0.0), _AXIS)

    def __call__(self, w):
        n = _norms(w, self.axis)
        return w * (np.clip(n, 0, self.max_value) / (EPSILON + n))


class NonNeg(Constraint):
    """Sets negative weights to zero."""

    aliases = ("non_neg", "nonneg")

    def __call__(self, w):
        return np.maximum(w, 0)


class UnitNorm(Constraint):
    """Rescales weights to unit norm along ``axis``."""

    aliases = ("unit_norm", "unitnorm")
    fields = (_AXIS,)

    def __call__(self, w):
        return w / (EPSILON + _norms(w, self.axis))


class MinMaxNorm(Constraint):
    """Keeps norms along ``axis`` between ``min_value`` and ``max_value`` (``rate`` blends)."""

    aliases = ("min_max_norm",)
    fields = (Float("min_value", 0.0, "Smallest allowed norm.", min=0.0),
              Float("max_value", 1.0, "Largest allowed norm.", min=0.0),
              Float("rate", 1.0, "1 enforces strictly; less moves part of the way.", min=0.0,
                    max=1.0),
              _AXIS)

    def _post_init(self):
        if self.max_value < self.min_value:
            raise self.config_error("max_value", f"must be >= min_value ({self.min_value}), "
                                    f"got {self.max_value}")

    def __call__(self, w):
        n = _norms(w, self.axis)
        desired = self.rate * np.clip(n, self.min_value, self.max_value) + (1 - self.rate) * n
        return w * (desired / (EPSILON + n))
