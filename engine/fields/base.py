"""The Field base: one config key's name, default, bounds, formats and doc."""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, describe
from ..formats import FORMATS, KERAS3


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
MISSING: Any = object()


def f32(x: float) -> float:
    """The float32 rounding Keras applies to some serialized floats."""
    return float(np.float32(x))


def is_int(v: Any) -> bool:
    """An integer that is not a bool."""
    if type(v) is int:  # the common case, without the ABC check
        return True
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def is_number(v: Any) -> bool:
    """A real number that is not a bool."""
    if type(v) is float or type(v) is int:
        return True
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


class Field:
    """One config key of a layer, initializer, regularizer or constraint.

    Args:
        name: the config key.
        default: the value when the key is absent, or ``REQUIRED``.
        doc: one line for tooltips and docs.
        min, max: numeric bounds (inclusive unless ``min_open``/``max_open``).
        choices: allowed strings (a dropdown in the form).
        optional: ``None`` is an allowed value (a None toggle in the form).
        length: for tuples, the number of elements.
        formats: which config formats write this key.
        omit_default: formats that leave the key out while it equals its default.
        aliases: other input keys accepted for this field (``alpha`` for ``negative_slope``).
        names: per-format output key (``{"keras2": "alpha"}``).
        defaults: per-format default overriding ``default``.
        float32: formats that write this float rounded to float32.
        widget: options for the form's control (see widget/controls.py).

    ``kind`` (a class attribute) names what the value is; the widget picks its control
    from it.
    """

    kind = "any"
    #: ``validate(value, path, fmt)`` takes the format of the config being read (fields
    #: holding nested objects read their configs in that format)
    takes_format = False

    def __init__(
        self,
        name: str,
        default: Any = REQUIRED,
        doc: str = "",
        *,
        min: float | None = None,
        max: float | None = None,
        min_open: bool = False,
        max_open: bool = False,
        choices: Sequence[Any] | None = None,
        optional: bool = False,
        length: int | None = None,
        formats: Sequence[str] = FORMATS,
        omit_default: Sequence[str] = (),
        aliases: Sequence[str] = (),
        names: dict[str, str] | None = None,
        defaults: dict[str, Any] | None = None,
        float32: Sequence[str] = (),
        widget: dict[str, Any] | None = None,
    ):
        self.name = name
        self.default = default
        self.doc = doc
        self.min, self.max = min, max
        self.min_open, self.max_open = min_open, max_open
        self.choices = tuple(choices) if choices is not None else None
        self.optional = optional or default is None
        self.length = length
        self.formats = tuple(formats)
        self.omit_default = tuple(omit_default)
        self.aliases = tuple(aliases)
        self.names = dict(names or {})
        self.defaults = dict(defaults or {})
        self.float32 = tuple(float32)
        self.widget = dict(widget or {})

    # -- introspection -------------------------------------------------------------
    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def default_for(self, fmt: str = KERAS3) -> Any:
        d = self.defaults.get(fmt, self.default)
        return copy.deepcopy(d) if isinstance(d, (list, dict)) else d

    def validated_default(self, path: str = "") -> Any:
        """The Keras 3 default, validated; cached when it is an immutable plain value."""
        cached = self.__dict__.get("_default_value", MISSING)
        if cached is not MISSING:
            return cached
        d = self.default_for(KERAS3)
        value = self.validate(d, f"{path}.{self.name}")
        if self.cache_default and (d is None or isinstance(d, (bool, int, float, str))):
            self._default_value = value
        return value

    #: whether a plain default's validated value may be cached (objects are made anew)
    cache_default = True

    def key_for(self, fmt: str) -> str:
        return self.names.get(fmt, self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, default={self.default!r})"

    # -- validation ----------------------------------------------------------------
    def validate(self, value: Any, path: str) -> Any:
        """Return the normalized value, or raise ConfigError naming ``path``."""
        if value is None:
            if self.optional:
                return None
            raise ConfigError(path, f"{self.expected()} is required here, got None")
        return self._check(value, path)

    def expected(self) -> str:
        return "a value"

    def _check(self, value: Any, path: str) -> Any:
        return copy.deepcopy(value)

    def in_bounds(self, value: float) -> bool:
        """Whether ``value`` lies within ``min``/``max`` (the one bounds rule)."""
        lo, hi = self.min, self.max
        if lo is not None and (value <= lo if self.min_open else value < lo):
            return False
        return hi is None or (value < hi if self.max_open else value <= hi)

    def _bounds(self, value: float, path: str) -> None:
        if isinstance(value, float) and math.isnan(value):
            raise ConfigError(path, f"expected {self.expected()}, got nan")
        if self.in_bounds(value):
            return
        lo, hi = self.min, self.max
        if lo is not None and (value <= lo if self.min_open else value < lo):
            op = ">" if self.min_open else ">="
            raise ConfigError(path, f"must be {op} {_num(lo)}, got {value!r}")
        op = "<" if self.max_open else "<="
        raise ConfigError(path, f"must be {op} {_num(hi)}, got {value!r}")

    def _wrong(self, value: Any, path: str) -> ConfigError:
        return ConfigError(path, f"expected {self.expected()}, got {describe(value)}")

    # -- output --------------------------------------------------------------------
    def to_config(self, value: Any, fmt: str) -> Any:
        if value is None:
            return None
        if fmt in self.float32 and isinstance(value, float):
            return f32(value)
        return jsonable(value)


def _num(bound: float) -> str:
    """A bound for a message: ``0`` rather than ``0.0``."""
    if isinstance(bound, float) and bound.is_integer():
        return str(int(bound))
    return repr(bound)


def jsonable(value: Any) -> Any:
    """Tuples -> lists, NumPy scalars and arrays -> Python values, recursively."""
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
