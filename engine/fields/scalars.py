"""Scalar fields: int, float, bool, string, choice, seed, and free-form JSON."""

from __future__ import annotations

import copy
import math
import numbers
from typing import Any

import numpy as np

from ..errors import ConfigError, describe
from .base import REQUIRED, Field, is_int, is_number


class Int(Field):
    kind = "int"

    def expected(self) -> str:
        if self.min == 1 and self.max is None:
            return "a positive int"
        return "an int"

    def _check(self, value: Any, path: str) -> int:
        if isinstance(value, float) and value.is_integer() and not isinstance(value, bool):
            value = int(value)  # JSON writers sometimes emit 3.0 for 3
        if not is_int(value):
            raise self._wrong(value, path)
        value = int(value)
        self._bounds(value, path)
        return value


class Float(Field):
    kind = "float"

    def expected(self) -> str:
        return "a number"

    def _check(self, value: Any, path: str) -> float:
        if not is_number(value):
            raise self._wrong(value, path)
        out = value if is_int(value) else float(value)
        if isinstance(out, float) and math.isinf(out):
            if self.max is None and self.min is None:
                return out
            # a bounded number (a stddev, a rate) is finite: inf would make NaN weights
            raise ConfigError(path, f"expected a finite number, got {out}")
        self._bounds(float(out), path)  # messages say "got -1.0" for a float field
        return int(out) if is_int(out) else out


class Bool(Field):
    kind = "bool"

    def expected(self) -> str:
        return "a bool (true or false)"

    def _check(self, value: Any, path: str) -> bool:
        if not isinstance(value, (bool, np.bool_)):
            raise self._wrong(value, path)
        return bool(value)


class Str(Field):
    kind = "str"

    def expected(self) -> str:
        return "a string"

    def _check(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise self._wrong(value, path)
        return value


#: the longest name a layer, model or weight may have
MAX_NAME_CHARS = 256


def check_name(value: Any, path: str) -> str:
    """A name: a non-empty string of at most 256 characters, without NUL or other control
    characters and without lone surrogates (which cannot be written as UTF-8)."""
    if not isinstance(value, str):
        raise ConfigError(path, f"expected a string (a name), got {describe(value)}")
    if not value:
        raise ConfigError(path, "expected a non-empty name, got ''")
    if len(value) > MAX_NAME_CHARS:
        raise ConfigError(path, f"a name has at most {MAX_NAME_CHARS} characters, got one of "
                          f"{len(value):,}")
    for i, ch in enumerate(value):
        code = ord(ch)
        if code < 32 or 127 <= code < 160 or code in (0x2028, 0x2029):
            raise ConfigError(path, f"a name may not hold control characters, got "
                              f"{ascii(ch)} at position {i} of {describe(value)}")
        if 0xD800 <= code <= 0xDFFF:
            raise ConfigError(path, f"a name may not hold lone surrogates (not valid "
                              f"Unicode text), got {ascii(ch)} at position {i}")
    return value


class Name(Str):
    """A layer's, model's or weight's name (see :func:`check_name`); a "str" field to
    the form."""

    def expected(self) -> str:
        return "a string (a name)"

    def _check(self, value: Any, path: str) -> str:
        return check_name(value, path)


class Choice(Field):
    """A string from a fixed set; ``lower=True`` accepts any case (Keras lowercases)."""

    kind = "choice"

    def __init__(self, name: str, default: Any = REQUIRED, doc: str = "", *, lower=True, **kw):
        super().__init__(name, default, doc, **kw)
        self.lower = lower

    def expected(self) -> str:
        opts = ", ".join(repr(c) for c in self.choices or ())
        return f"one of {opts}"

    def _check(self, value: Any, path: str) -> Any:
        if isinstance(value, str) and self.lower:
            value = value.lower()
        if value not in (self.choices or ()):
            raise ConfigError(path, f"expected {self.expected()}, got {describe(value)}")
        return value


class Seed(Int):
    kind = "seed"

    def __init__(self, name: str = "seed", default: Any = None, doc: str = "", **kw):
        super().__init__(name, default, doc or "Random seed; None draws fresh values each time.",
                         min=0, **kw)

    def expected(self) -> str:
        return "an int >= 0 or None"


class Json(Field):
    """A JSON value passed through as is (lists, dicts, numbers)."""

    kind = "json"

    def _check(self, value: Any, path: str) -> Any:
        _check_json(value, path)
        return copy.deepcopy(value)


def _check_json(value: Any, path: str, depth: int = 0) -> None:
    if depth > 64:
        raise ConfigError(path, "nested too deeply (more than 64 levels)")
    if value is None or isinstance(value, (str, bool, numbers.Real)):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_json(v, f"{path}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _check_json(v, f"{path}.{k}", depth + 1)
        return
    if isinstance(value, np.ndarray):
        return
    raise ConfigError(path, f"expected plain data (numbers, strings, lists), got {describe(value)}")
