"""Range-like fields: the typed settings of the preprocessing layers.

* :class:`Factor` (kind ``"factor"``): a random factor, a number or a ``[lower, upper]``
  pair within bounds, read as Keras 3's ``_set_factor`` reads it; its value is a
  :class:`FactorRange`, the ``(lower, upper)`` it means.
* :class:`ContrastFactor` (kind ``"factor"``): RandomContrast's factor, whose meaning
  differs between Keras 2 and Keras 3.
* :class:`ValueRange` (kind ``"value_range"``): ``[low, high]``, the range of pixel values.
* :class:`OddSizes` (kind ``"odd_sizes"``): an odd kernel size or two of them.
* :class:`NumberOrList` (kind ``"number_or_list"``): a number or a list of numbers
  (per-channel scales, statistics, fill values).
* :class:`NumberList` (kind ``"number_list"``): a list of numbers, optionally ascending.

Each writes exactly what Keras writes for its format (see ``to_config``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, describe
from ..formats import KERAS2, KERAS3
from .base import REQUIRED, Field, _num, is_number, jsonable

__all__ = ["FactorRange", "Factor", "ContrastFactor", "ValueRange", "OddSizes",
           "NumberOrList", "NumberList"]


def _finite_number(v: Any) -> bool:
    return is_number(v) and math.isfinite(v)


def _bounds_text(lo: float, hi: float) -> str:
    return f"[{_num(lo)}, {_num(hi)}]"


class FactorRange(tuple):
    """What a factor means: the pair ``(lower, upper)`` (Keras 3's ``layer.factor``).

    ``given`` is the value as written in the config it was read from (a number or a
    list), so that a config reads back in the form it was written.
    """

    def __new__(cls, lower: Any, upper: Any, given: Any = None) -> FactorRange:
        self = super().__new__(cls, (lower, upper))
        self.given = [lower, upper] if given is None else given
        return self

    def __getnewargs__(self) -> tuple[Any, Any, Any]:
        return (self[0], self[1], self.given)

    @property
    def lower(self) -> Any:
        return self[0]

    @property
    def upper(self) -> Any:
        return self[1]


class Factor(Field):
    """A random factor: a number, or a ``[lower, upper]`` pair (sorted when read).

    A number ``f`` means ``(max(-|f|, min), |f|)`` (Keras 3's ``_set_factor``), or with
    ``number="from_zero"`` ``(0, f)`` (Solarization). Numbers must lie within
    ``[number_min, max]`` (``number_min`` defaults to ``min``), pair values within
    ``[min, max]``; ``lower_open`` also refuses a range whose lower end is ``min``.

    The value is a :class:`FactorRange`. ``writes_pair`` lists the formats whose config
    holds the normalized ``[lower, upper]`` (Keras 3's RandomRotation, RandomContrast,
    ...); the others write the factor as it was given (RandomZoom, Keras 2 layers).
    ``integers`` writes whole numbers as ints (RandomPosterization's bit counts).
    """

    kind = "factor"

    def __init__(
        self,
        name: str = "factor",
        default: Any = REQUIRED,
        doc: str = "",
        *,
        min: float = -1,
        max: float = 1,
        number_min: float | None = None,
        lower_open: bool = False,
        number: str = "symmetric",
        writes_pair: Sequence[str] = (KERAS3,),
        integers: bool = False,
        **kw: Any,
    ):
        super().__init__(name, default, doc, min=min, max=max, **kw)
        if number not in ("symmetric", "from_zero"):
            raise ValueError(f"number: expected 'symmetric' or 'from_zero', got {number!r}")
        self.number_min = min if number_min is None else number_min
        self.lower_open = lower_open
        self.number = number
        self.writes_pair = tuple(writes_pair)
        self.integers = integers

    def expected(self) -> str:
        nums = _bounds_text(self.number_min, self.max)
        if self.number_min == self.min:
            return f"a number in {nums} or a list of two numbers in that range"
        return f"a number in {nums} or a list of two numbers in {_bounds_text(self.min, self.max)}"

    def _check(self, value: Any, path: str) -> FactorRange:
        return self.read(value, path, KERAS3)

    def read(self, value: Any, path: str, fmt: str = KERAS3) -> FactorRange:
        """The range ``value`` means in a config of format ``fmt``."""
        if isinstance(value, FactorRange):
            return value
        if isinstance(value, (list, tuple)):
            if len(value) != 2 or not all(_finite_number(v) for v in value):
                raise self._wrong(value, path)
            lower, upper = sorted(value)
            if lower < self.min or upper > self.max:
                raise ConfigError(path, f"values must be in {_bounds_text(self.min, self.max)}, "
                                  f"got {list(value)}")
            out = FactorRange(lower, upper, list(value))
        elif _finite_number(value):
            if not self.number_min <= value <= self.max:
                raise ConfigError(path, f"must be in {_bounds_text(self.number_min, self.max)}, "
                                  f"got {value!r}")
            if self.number == "from_zero":
                out = FactorRange(0, value, value)
            else:
                f = abs(value)
                out = FactorRange(max(-f, self.min), f, value)
        else:
            raise self._wrong(value, path)
        if self.lower_open and out[0] <= self.min:
            raise ConfigError(path, f"the lower bound must be > {_num(self.min)}, got "
                              f"{describe(value)}")
        return out

    def to_config(self, value: Any, fmt: str) -> Any:
        if value is None:
            return None
        pair = self.read(value, self.name)
        if fmt not in self.writes_pair and self.read(pair.given, self.name, fmt) == pair:
            return jsonable(pair.given)
        return self.express(pair, fmt)

    def express(self, pair: FactorRange, fmt: str) -> list:
        """``pair`` as a ``[lower, upper]`` config of format ``fmt``."""
        if fmt == KERAS3 and pair[0] > pair[1]:
            raise ConfigError(self.name, f"the range {list(pair)} cannot be written for Keras "
                              f"3, which sorts [lower, upper]")
        if self.integers:
            return [int(v) if float(v).is_integer() else v for v in pair]
        return jsonable(list(pair))


class ContrastFactor(Factor):
    """RandomContrast's factor: the contrast is drawn from ``[1 - lower, 1 + upper]``.

    Keras 3 reads a number ``f`` as ``(0, f)`` and sorts a pair; Keras 2 reads ``f`` as
    ``(f, f)`` and takes a pair as it is. A Keras 2 factor is written for Keras 3 as the
    pair with the same meaning; a Keras 2 pair ``[lower, upper]`` with ``lower > upper``
    has none (Keras 3 would sort it), and writing it for Keras 3 is a ConfigError.
    """

    def __init__(self, name: str = "factor", default: Any = REQUIRED, doc: str = "", **kw: Any):
        super().__init__(name, default, doc or "Contrast range: the contrast is drawn from "
                         "[1 - lower, 1 + upper]; Keras 3 reads a number f as [0, f], "
                         "Keras 2 as [f, f].", min=0, max=1, **kw)

    def read(self, value: Any, path: str, fmt: str = KERAS3) -> FactorRange:
        pair = super().read(value, path, KERAS3)  # the same checks in both formats
        if fmt != KERAS2 or isinstance(value, FactorRange):
            return pair
        if isinstance(value, (list, tuple)):
            return FactorRange(value[0], value[1], list(value))
        return FactorRange(value, value, value)

    def express(self, pair: FactorRange, fmt: str) -> list:
        if fmt == KERAS3 and pair[0] > pair[1]:
            lo, hi = 1 - pair[0], 1 + pair[1]
            raise ConfigError(self.name, f"the Keras 2 factor {list(pair)} draws the contrast "
                              f"from [{lo:.6g}, {hi:.6g}]; Keras 3 sorts [lower, upper] and "
                              f"has no factor for that range: export it as Keras 2, or "
                              f"give the factor as [{_num(pair[1])}, {_num(pair[0])}] "
                              f"(a different range)")
        return super().express(pair, fmt)


class ValueRange(Field):
    """``[low, high]``: the range of the pixel values (sorted when ``sort``)."""

    kind = "value_range"

    def __init__(self, name: str = "value_range", default: Any = (0, 255), doc: str = "",
                 *, sort: bool = True, **kw: Any):
        super().__init__(name, default, doc or "Range of the pixel values [low, high].", **kw)
        self.sort = sort

    def expected(self) -> str:
        return "a list of two numbers [low, high]"

    def _check(self, value: Any, path: str) -> tuple:
        if not isinstance(value, (list, tuple)) or len(value) != 2 or \
                not all(_finite_number(v) for v in value):
            raise self._wrong(value, path)
        return tuple(sorted(value)) if self.sort else tuple(value)

    def to_config(self, value: Any, fmt: str) -> Any:
        return None if value is None else jsonable(list(value))


class OddSizes(Field):
    """An odd positive int, or a list of ``length`` of them (kernel sizes)."""

    kind = "odd_sizes"

    def __init__(self, name: str, default: Any = REQUIRED, doc: str = "", *, length: int = 2,
                 **kw: Any):
        super().__init__(name, default, doc, length=length, min=1, **kw)

    def expected(self) -> str:
        return f"an odd positive int or a list of {self.length} of them"

    def _check(self, value: Any, path: str) -> tuple[int, ...]:
        items = list(value) if isinstance(value, (list, tuple)) else [value] * (self.length or 1)
        if len(items) != self.length or not all(
                type(v) is int or (isinstance(v, (int, np.integer)) and not isinstance(v, bool))
                for v in items) or not all(v > 0 and v % 2 == 1 for v in items):
            raise self._wrong(value, path)
        return tuple(int(v) for v in items)

    def to_config(self, value: Any, fmt: str) -> Any:
        return None if value is None else list(value)


class NumberOrList(Field):
    """A finite number, or a list of them: any nesting when ``length`` is None, else a
    flat list of ``length`` numbers. Written as given. ``min`` bounds every number."""

    kind = "number_or_list"

    def expected(self) -> str:
        low = f" >= {_num(self.min)}" if self.min is not None else ""
        if self.length is None:
            return f"a number{low} or a list of numbers{low}"
        return f"a number{low} or a list of {self.length} numbers{low}"

    def _check(self, value: Any, path: str) -> Any:
        if isinstance(value, np.ndarray):
            ok = value.dtype.kind in "iuf" and (self.length is None or value.shape ==
                                                 (self.length,))
        elif self.length is not None and isinstance(value, (list, tuple)):
            ok = len(value) == self.length and all(is_number(v) for v in value)
        else:
            ok = _numbers_only(value)
        if not ok:
            raise self._wrong(value, path)
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):  # a ragged nesting
            raise self._wrong(value, path) from None
        if not np.all(np.isfinite(arr)):
            raise ConfigError(path, f"expected finite numbers, got {describe(value)}")
        if self.min is not None and arr.size and arr.min() < self.min:
            raise ConfigError(path, f"must be >= {_num(self.min)}, got {describe(value)}")
        return jsonable(value)


def _numbers_only(value: Any, depth: int = 0) -> bool:
    """A number, or (nested) lists of numbers only."""
    if isinstance(value, (list, tuple)):
        return depth < 32 and all(_numbers_only(v, depth + 1) for v in value)
    return is_number(value)


class NumberList(Field):
    """A list of finite numbers, in ascending order when ``ascending``."""

    kind = "number_list"

    def __init__(self, name: str, default: Any = REQUIRED, doc: str = "", *,
                 ascending: bool = False, **kw: Any):
        super().__init__(name, default, doc, **kw)
        self.ascending = ascending

    def expected(self) -> str:
        return "a list of numbers" + (" in ascending order" if self.ascending else "")

    def _check(self, value: Any, path: str) -> list:
        if not isinstance(value, (list, tuple)) or not all(_finite_number(v) for v in value):
            raise self._wrong(value, path)
        out = jsonable(list(value))
        if self.ascending and any(b < a for a, b in zip(out, out[1:])):
            raise ConfigError(path, f"must be sorted ascending, got {describe(list(value))}")
        return out
