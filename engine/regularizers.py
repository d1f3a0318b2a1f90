"""Weight regularizers: penalties added to the loss; they never change a forward pass.

Keras writes some factors rounded to float32: Keras 3 ``L1`` and ``OrthogonalRegularizer``,
and every Keras 2 regularizer (``L2(0.01)`` -> ``0.009999999776482582``).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from . import registry, serialization
from .configurable import Configurable
from .errors import ConfigError
from .fields import KERAS2, KERAS3, Choice, Float


class Regularizer(Configurable):
    """Base of regularizers: ``reg(weights)`` returns the penalty (a float)."""

    registry_kind: ClassVar[str] = "regularizer"
    keras_module: ClassVar[str] = "keras.regularizers"
    abstract = True

    def __init__(self, *args, **kwargs):
        # As Keras: a factor given as None takes its default (L1L2(l1=None) is l1 = 0).
        fields = self.all_fields()
        args = tuple(f.default if a is None and isinstance(f, Float) else a
                     for f, a in zip(fields, args)) + args[len(fields):]
        for f in fields:
            if isinstance(f, Float) and f.name in kwargs and kwargs[f.name] is None:
                kwargs[f.name] = f.default
        super().__init__(*args, **kwargs)

    def _post_init(self) -> None:
        # Keras stores every factor as a float (L2(1) writes 1.0) and refuses inf.
        for f in self.all_fields():
            v = self._values.get(f.name)
            if isinstance(f, Float) and v is not None:
                if math.isinf(v):
                    raise self.config_error(f.name, f"expected a finite number >= 0, got {v}")
                self._values[f.name] = float(v)
                setattr(self, f.name, float(v))

    def __call__(self, x: np.ndarray) -> float:
        raise NotImplementedError


def _factor(name: str, default: float, float32=(KERAS3, KERAS2)) -> Float:
    return Float(name, default, f"Penalty factor of the {name} term.", min=0.0, float32=float32)


class L1(Regularizer):
    """``l1 * sum(|x|)``."""

    aliases = ("l1",)
    fields = (_factor("l1", 0.01),)

    def __call__(self, x):
        return float(self.l1 * np.sum(np.abs(x)))


class L2(Regularizer):
    """``l2 * sum(x**2)``."""

    aliases = ("l2",)
    fields = (_factor("l2", 0.01, float32=(KERAS2,)),)

    def __call__(self, x):
        return float(self.l2 * np.sum(np.square(x)))


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``.

    The string ``'l1l2'`` (Keras 3) means L1L2(0, 0); Keras 2's ``'l1_l2'`` means
    L1L2(0.01, 0.01).
    """

    aliases = ("l1l2",)
    fields = (_factor("l1", 0.0, float32=(KERAS2,)), _factor("l2", 0.0, float32=(KERAS2,)))

    def __call__(self, x):
        return float(self.l1 * np.sum(np.abs(x)) + self.l2 * np.sum(np.square(x)))


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (or columns) of a 2-D weight towards orthonormality.

    ``factor * 0.5 * sum(|P - diag(P)|) / (n (n - 1) / 2)`` with P the Gram matrix of the
    L2-normalized rows (mode ``rows``) or columns.
    """

    aliases = ("orthogonal_regularizer",)
    fields = (_factor("factor", 0.01),
              Choice("mode", "rows", "Whether rows or columns should be orthogonal.",
                     choices=("rows", "columns")))

    def __call__(self, x):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2:
            raise ConfigError("", f"OrthogonalRegularizer works on 2-D weights, got shape "
                              f"{x.shape}")
        if self.mode == "columns":
            x = x.T
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        p = x @ x.T
        n = p.shape[0]
        off = np.abs(p - np.diag(np.diag(p)))
        return float(self.factor * 0.5 * off.sum() / max(n * (n - 1) / 2, 1))


def _from_string(name: str, path: str, fmt: str) -> Regularizer:
    if name == "l1_l2" and name not in registry.custom_objects():
        return L1L2(l1=0.01, l2=0.01)  # Keras 2's 'l1_l2' string
    return serialization.object_from_string("regularizer", name, path, fmt)


registry.set_hooks("regularizer", from_string=_from_string)
