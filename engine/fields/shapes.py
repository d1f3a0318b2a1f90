"""Shape-like fields: int tuples, shapes, axes, and the channels layout."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError, describe
from .base import REQUIRED, Field, is_int
from .scalars import Choice


class IntTuple(Field):
    """A tuple of ``length`` ints (an int is repeated, as Keras does)."""

    kind = "int_tuple"

    def expected(self) -> str:
        n = self.length
        low = f" >= {self.min}" if self.min is not None else ""
        return f"an int{low} or a list of {n} ints{low}" if n else f"a list of ints{low}"

    def _check(self, value: Any, path: str) -> tuple[int, ...]:
        if is_int(value) and self.length:
            items = [value] * self.length
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            raise self._wrong(value, path)
        if self.length is not None and len(items) != self.length:
            raise ConfigError(
                path, f"expected {self.length} values, got {len(items)}: {describe(value)}"
            )
        out = []
        for i, v in enumerate(items):
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if not is_int(v):
                raise ConfigError(f"{path}[{i}]", f"expected an int, got {describe(v)}")
            self._bounds(int(v), f"{path}[{i}]")
            out.append(int(v))
        return tuple(out)


class Shape(Field):
    """A shape: a list of ints >= 0 or None (unknown)."""

    kind = "shape"

    def expected(self) -> str:
        return "a shape (a list of ints or None)"

    def _check(self, value: Any, path: str) -> tuple[int | None, ...]:
        if is_int(value):
            value = (value,)
        if not isinstance(value, (list, tuple)):
            raise self._wrong(value, path)
        if self.length is not None and len(value) != self.length:
            raise ConfigError(path, f"expected {self.length} dimensions, got {len(value)}")
        out: list[int | None] = []
        for i, v in enumerate(value):
            if v is None:
                out.append(None)
                continue
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if not is_int(v) or (v < (self.min if self.min is not None else 0)):
                low = self.min if self.min is not None else 0
                raise ConfigError(f"{path}[{i}]", f"expected an int >= {low} or None, got "
                                  f"{describe(v)}")
            out.append(int(v))
        return tuple(out)


class Axis(Field):
    """An axis (int) or several axes (list of ints)."""

    kind = "axis"

    def __init__(self, name: str, default: Any = REQUIRED, doc: str = "", *, multi=True, **kw):
        super().__init__(name, default, doc, **kw)
        self.multi = multi

    def expected(self) -> str:
        return "an int or a list of ints" if self.multi else "an int"

    def _check(self, value: Any, path: str) -> Any:
        if is_int(value):
            return int(value)
        if self.multi and isinstance(value, (list, tuple)):
            out = []
            for i, v in enumerate(value):
                if not is_int(v):
                    raise ConfigError(f"{path}[{i}]", f"expected an int, got {describe(v)}")
                out.append(int(v))
            return type(value)(out) if isinstance(value, tuple) else out
        raise self._wrong(value, path)


class DataFormat(Choice):
    """``channels_last`` or ``channels_first``; None means Keras's default, channels_last."""

    def __init__(self, name: str = "data_format", default: Any = "channels_last",
                 doc: str = "", **kw: Any):
        super().__init__(name, default, doc or "Where the channels axis is: last "
                         "(batch, ..., channels) or first (batch, channels, ...).",
                         choices=("channels_last", "channels_first"), **kw)

    def validate(self, value: Any, path: str) -> Any:
        return super().validate("channels_last" if value is None else value, path)
