"""Field specs: the one description of a config key.

A class declares its config keys once, as a tuple of :class:`Field` objects. From
that tuple the engine derives validation (``deserialize``), defaults, ``get_config``
in Keras's key order for either format, and the widget derives its form.

Example::

    class Dense(Layer):
        fields = (
            Int("units", REQUIRED, min=1, doc="Dimensionality of the output space."),
            Activation("activation", None),
            ...
        )
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import ConfigError, article, close_names, describe, key_text

KERAS3 = "keras3"
KERAS2 = "keras2"
FORMATS = (KERAS3, KERAS2)


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
_MISSING: Any = object()


def f32(x: float) -> float:
    """The float32 rounding Keras applies to some serialized floats."""
    return float(np.float32(x))


def _is_int(v: Any) -> bool:
    if type(v) is int:  # the common case, without the ABC check
        return True
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _is_number(v: Any) -> bool:
    if type(v) is float or type(v) is int:
        return True
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


class Field:
    """One config key of a layer, initializer, regularizer or constraint.

    Args:
        name: the config key.
        default: the value when the key is absent, or ``REQUIRED``.
        doc: one line for tooltips and docs.
        kind: what the value is; the widget picks a control from it.
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
    """

    kind = "any"

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
        cached = self.__dict__.get("_default_value", _MISSING)
        if cached is not _MISSING:
            return cached
        d = self.default_for(KERAS3)
        value = self.validate(d, f"{path}.{self.name}")
        if not isinstance(self, Object) and (d is None or isinstance(d, (bool, int, float, str))):
            self._default_value = value
        return value

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

    def _bounds(self, value: float, path: str) -> None:
        if isinstance(value, float) and math.isnan(value):
            raise ConfigError(path, f"expected {self.expected()}, got nan")
        lo, hi = self.min, self.max
        if lo is not None and (value <= lo if self.min_open else value < lo):
            op = ">" if self.min_open else ">="
            raise ConfigError(path, f"must be {op} {_num(lo)}, got {value!r}")
        if hi is not None and (value >= hi if self.max_open else value > hi):
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
        return _jsonable(value)


def _num(bound: float) -> str:
    """A bound for a message: ``0`` rather than ``0.0``."""
    if isinstance(bound, float) and bound.is_integer():
        return str(int(bound))
    return repr(bound)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


class Int(Field):
    kind = "int"

    def expected(self) -> str:
        if self.min == 1 and self.max is None:
            return "a positive int"
        return "an int"

    def _check(self, value: Any, path: str) -> int:
        if isinstance(value, float) and value.is_integer() and not isinstance(value, bool):
            value = int(value)  # JSON writers sometimes emit 3.0 for 3
        if not _is_int(value):
            raise self._wrong(value, path)
        value = int(value)
        self._bounds(value, path)
        return value


class Float(Field):
    kind = "float"

    def expected(self) -> str:
        return "a number"

    def _check(self, value: Any, path: str) -> float:
        if not _is_number(value):
            raise self._wrong(value, path)
        out = value if _is_int(value) else float(value)
        if isinstance(out, float) and math.isinf(out) and self.max is None and self.min is None:
            return out
        self._bounds(float(out), path)  # messages say "got -1.0" for a float field
        return int(out) if _is_int(out) else out


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


class IntTuple(Field):
    """A tuple of ``length`` ints (an int is repeated, as Keras does)."""

    kind = "int_tuple"

    def expected(self) -> str:
        n = self.length
        low = f" >= {self.min}" if self.min is not None else ""
        return f"an int{low} or a list of {n} ints{low}" if n else f"a list of ints{low}"

    def _check(self, value: Any, path: str) -> tuple[int, ...]:
        if _is_int(value) and self.length:
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
            if not _is_int(v):
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
        if _is_int(value):
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
            if not _is_int(v) or (v < (self.min if self.min is not None else 0)):
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
        if _is_int(value):
            return int(value)
        if self.multi and isinstance(value, (list, tuple)):
            out = []
            for i, v in enumerate(value):
                if not _is_int(v):
                    raise ConfigError(f"{path}[{i}]", f"expected an int, got {describe(v)}")
                out.append(int(v))
            return type(value)(out) if isinstance(value, tuple) else out
        raise self._wrong(value, path)


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


class Object(Field):
    """A nested serializable object resolved through a registry kind.

    ``kind`` is one of ``initializer``, ``regularizer``, ``constraint``,
    ``activation``, ``dtype`` or ``layer``.
    """

    def __init__(self, name: str, default: Any = REQUIRED, doc: str = "", *, kind: str, **kw):
        super().__init__(name, default, doc, **kw)
        self.kind = kind

    def expected(self) -> str:
        return article(self.kind)

    def validate(self, value: Any, path: str) -> Any:
        if value is None:
            if self.kind == "activation":
                return _registry().get_object("activation", "linear", path)
            if self.kind == "dtype":
                return _registry().get_object("dtype", "float32", path)
            if self.optional:
                return None
            raise ConfigError(path, f"{article(self.kind)} is required here, got None")
        return (_REGISTRY or _registry()).get_object(self.kind, value, path)

    def to_config(self, value: Any, fmt: str) -> Any:
        if value is None:
            return None
        from .serialization import serialize

        return serialize(value, format=fmt)


_REGISTRY: Any = None


def _registry() -> Any:
    """engine.registry, imported on first use (it imports this module)."""
    global _REGISTRY
    if _REGISTRY is None:
        from . import registry

        _REGISTRY = registry
    return _REGISTRY


def Initializer(name: str, default: Any = "glorot_uniform", doc: str = "", **kw) -> Object:
    return Object(name, default, doc or "Initializer of the weights.", kind="initializer", **kw)


def Regularizer(name: str, default: Any = None, doc: str = "", **kw) -> Object:
    return Object(name, default, doc or "Penalty added to the loss.", kind="regularizer",
                  optional=True, **kw)


def Constraint(name: str, default: Any = None, doc: str = "", **kw) -> Object:
    return Object(name, default, doc or "Projection applied after updates.", kind="constraint",
                  optional=True, **kw)


def Activation(name: str = "activation", default: Any = None, doc: str = "", **kw) -> Object:
    return Object(name, default, doc or "Activation function (None means linear).",
                  kind="activation", **kw)


def NestedLayer(name: str, default: Any = REQUIRED, doc: str = "", **kw) -> Object:
    return Object(name, default, doc or "A nested layer config.", kind="layer", **kw)


# -- class-level helpers --------------------------------------------------------------


def collect_fields(cls: type) -> tuple[Field, ...]:
    """Fields of ``cls`` and its bases: base fields first; a redeclared name replaces the
    base field at the subclass's position. ``drop_fields`` removes inherited ones."""
    merged: dict[str, Field] = {}
    for klass in reversed(cls.__mro__):
        own = klass.__dict__.get("fields")
        drops = klass.__dict__.get("drop_fields", ())
        for name in drops:
            merged.pop(name, None)
        if not own:
            continue
        for f in own:
            merged.pop(f.name, None)
            merged[f.name] = f
    return tuple(merged.values())


_KEY_TABLES: dict[int, tuple[Sequence[Field], dict[str, Field], dict[str, tuple]]] = {}

#: fast-path kinds of ``_fast_spec`` (a plain value of the expected type is kept as is)
_FAST_BOOL, _FAST_INT, _FAST_STR, _FAST_CHOICE = 1, 2, 3, 4


def _fast_spec(f: Field) -> tuple:
    """``(field, name, none_ok, kind, arg)``: what ``validate_config`` may accept for ``f``
    without calling ``f.validate``, because that call would return the value unchanged.
    Only fields whose class keeps the stock ``validate``/``_check``/``_bounds`` get a fast
    kind; any other value (and so every error) still goes through ``f.validate``."""
    cls = type(f)
    if cls.validate is Object.validate:
        return (f, f.name, f.optional and f.kind not in ("activation", "dtype"), 0, None)
    if cls.validate is not Field.validate:
        return (f, f.name, False, 0, None)
    check = cls._check
    kind, arg = 0, None
    if check is Bool._check:
        kind = _FAST_BOOL
    elif check is Int._check and cls._bounds is Field._bounds:
        kind, arg = _FAST_INT, (f.min, f.max, f.min_open, f.max_open)
    elif check is Str._check:
        kind = _FAST_STR
    elif check is Choice._check:
        lower = getattr(f, "lower", True)
        kind = _FAST_CHOICE
        arg = frozenset(c for c in f.choices or () if type(c) is str and
                        (not lower or c.lower() == c))
    return (f, f.name, f.optional, kind, arg)


def _tables(fields: Sequence[Field]) -> tuple[dict[str, Field], dict[str, tuple]]:
    """Input key (name, alias, per-format name) -> field, and input key -> the field's
    ``_fast_spec``; cached per fields tuple."""
    hit = _KEY_TABLES.get(id(fields))
    if hit is not None and hit[0] is fields:
        return hit[1], hit[2]
    by_key: dict[str, Field] = {}
    for f in fields:
        by_key[f.name] = f
        for k in f.aliases:
            by_key.setdefault(k, f)
        for k in f.names.values():
            by_key.setdefault(k, f)
    fast = {k: _fast_spec(f) for k, f in by_key.items()}
    if isinstance(fields, tuple):  # class field tuples live as long as their class
        _KEY_TABLES[id(fields)] = (fields, by_key, fast)
    return by_key, fast


def _key_table(fields: Sequence[Field]) -> dict[str, Field]:
    """Input key (name, alias, per-format name) -> field; cached per fields tuple."""
    return _tables(fields)[0]


def _has_other_keys(fields: Sequence[Field], by_key: dict[str, Field]) -> bool:
    """Whether some field is reachable under a second key (so a key can repeat one)."""
    return len(by_key) != len(fields)


def validate_config(
    fields: Sequence[Field],
    config: dict[str, Any],
    path: str,
    *,
    owner: str,
    ignore_none_keys: Sequence[str] = (),
    tolerated: Callable[[str, Any], bool] | None = None,
) -> dict[str, Any]:
    """Check ``config`` against ``fields``; return every field's value (defaults filled)."""
    if not isinstance(config, dict):
        raise ConfigError(path, f"expected a dict of settings, got {describe(config)}")
    by_key, fast = _tables(fields)
    out: dict[str, Any] = {}
    seen: dict[str, str] | None = {} if len(by_key) != len(fields) else None
    for key, value in config.items():
        spec = fast.get(key)
        if spec is None:
            if value is None or key in ignore_none_keys or (tolerated and tolerated(key, value)):
                continue  # keys some Keras versions write as None (lora_rank, ...)
            hint = close_names(key, [f.name for f in fields])
            extra = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
            known = ", ".join(f.name for f in fields)
            raise ConfigError(f"{path}.{key_text(key)}", f"unknown key for {owner}{extra} "
                              f"(known keys: {known})")
        f, name, none_ok, kind, arg = spec
        if seen is not None:
            if name in seen:
                raise ConfigError(f"{path}.{key}", f"given twice (also as {seen[name]!r})")
            seen[name] = key
        # fast paths: values f.validate would return unchanged (see _fast_spec)
        if value is None:
            if none_ok:
                out[name] = None
                continue
        elif kind:
            tv = type(value)
            if kind == _FAST_BOOL:
                if tv is bool:
                    out[name] = value
                    continue
            elif kind == _FAST_INT:
                if tv is int:
                    lo, hi, lo_open, hi_open = arg
                    if (lo is None or (value > lo if lo_open else value >= lo)) and \
                            (hi is None or (value < hi if hi_open else value <= hi)):
                        out[name] = value
                        continue
            elif kind == _FAST_STR:
                if tv is str:
                    out[name] = value
                    continue
            elif tv is str and value in arg:  # _FAST_CHOICE
                out[name] = value
                continue
        out[name] = f.validate(value, f"{path}.{key}")
    if len(out) != len(fields):
        for f in fields:
            if f.name in out:
                continue
            if f.default is REQUIRED:  # f.required
                raise ConfigError(f"{path}.{f.name}", f"required for {owner}: {f.expected()}"
                                  + (f" ({f.doc})" if f.doc else ""))
            d = f.__dict__.get("_default_value", _MISSING)  # validated_default's cache
            out[f.name] = d if d is not _MISSING else f.validated_default(path)
    return out


def config_to_dict(fields: Sequence[Field], values: dict[str, Any], fmt: str) -> dict[str, Any]:
    """The JSON-ready config of ``values`` in ``fmt``, in field order."""
    out: dict[str, Any] = {}
    for f in fields:
        if fmt not in f.formats:
            continue
        v = values.get(f.name)
        if fmt in f.omit_default and _same(v, f.default_for(fmt), f):
            continue
        out[f.key_for(fmt)] = f.to_config(v, fmt)
    return out


def _same(value: Any, default: Any, f: Field) -> bool:
    if default is REQUIRED:
        return False
    if isinstance(f, Object):
        return value is None and default is None
    try:
        return f.validate(default, "") == value
    except ConfigError:
        return False
