"""A class's fields as a whole: collecting them, validating a config, writing one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError, close_names, describe, key_text
from ..formats import KERAS3
from .base import MISSING, REQUIRED, Field
from .objects import Object
from .scalars import Bool, Choice, Int, Str


def collect_fields(cls: type) -> tuple[Field, ...]:
    """Fields of ``cls`` and its bases: base fields first; a redeclared name replaces the
    base field at the subclass's position. ``drop_fields`` removes inherited ones."""
    merged: dict[str, Field] = {}
    for klass in reversed(cls.__mro__):
        own = klass.__dict__.get("fields")
        for name in klass.__dict__.get("drop_fields", ()):
            merged.pop(name, None)
        for f in own or ():
            merged.pop(f.name, None)
            merged[f.name] = f
    return tuple(merged.values())


_KEY_TABLES: dict[int, tuple[Sequence[Field], dict[str, Field], dict[str, tuple]]] = {}

#: fast-path kinds of ``_fast_spec`` (a plain value of the expected type is kept as is)
_FAST_OBJECT, _FAST_BOOL, _FAST_INT, _FAST_STR, _FAST_CHOICE = -1, 1, 2, 3, 4


def _fast_spec(f: Field) -> tuple:
    """``(field, name, none_ok, kind, arg)``: what ``validate_config`` may accept for ``f``
    without calling ``f.validate``, because that call would return the value unchanged.
    Only fields whose class keeps the stock ``validate``/``_check``/``_bounds`` get a fast
    kind; any other value (and so every error) still goes through ``f.validate``."""
    cls = type(f)
    if isinstance(f, Object) and cls.validate is Object.validate:
        return (f, f.name, f.none_is_none, _FAST_OBJECT, None)
    if cls.validate is not Field.validate:
        return (f, f.name, False, 0, None)
    check = cls._check
    kind, arg = 0, None
    if check is Bool._check:
        kind = _FAST_BOOL
    elif check is Int._check and cls._bounds is Field._bounds and \
            cls.in_bounds is Field.in_bounds:
        kind = _FAST_INT
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


def field_for_key(fields: Sequence[Field], key: str) -> Field | None:
    """The field that input key ``key`` (name, alias or per-format name) sets."""
    return _tables(fields)[0].get(key)


def validate_config(
    fields: Sequence[Field],
    config: dict[str, Any],
    path: str,
    *,
    owner: str,
    fmt: str = KERAS3,
    ignore_none_keys: Sequence[str] = (),
    tolerated: Callable[[str, Any], bool] | None = None,
) -> dict[str, Any]:
    """Check ``config`` (read in format ``fmt``) against ``fields``; return every field's
    value, defaults filled."""
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
        elif kind > 0:
            tv = type(value)
            if kind == _FAST_BOOL:
                if tv is bool:
                    out[name] = value
                    continue
            elif kind == _FAST_INT:
                if tv is int and f.in_bounds(value):
                    out[name] = value
                    continue
            elif kind == _FAST_STR:
                if tv is str:
                    out[name] = value
                    continue
            elif tv is str and value in arg:  # _FAST_CHOICE
                out[name] = value
                continue
        if kind == _FAST_OBJECT or f.takes_format:
            out[name] = f.validate(value, f"{path}.{key}", fmt)
        else:
            out[name] = f.validate(value, f"{path}.{key}")
    if len(out) != len(fields):
        for f in fields:
            if f.name in out:
                continue
            if f.default is REQUIRED:
                raise ConfigError(f"{path}.{f.name}", f"required for {owner}: {f.expected()}"
                                  + (f" ({f.doc})" if f.doc else ""))
            d = f.__dict__.get("_default_value", MISSING)  # validated_default's cache
            if d is not MISSING:
                out[f.name] = d
            elif f.takes_format:
                out[f.name] = f.validate(f.default_for(KERAS3), f"{path}.{f.name}", fmt)
            else:
                out[f.name] = f.validated_default(path)
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
