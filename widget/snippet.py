"""The editor's Python export: ``keras.layers.Dense(units=64, activation='relu')``.

Only the arguments that differ from their defaults are written; a nested initializer,
regularizer or constraint is written by its alias when all its settings are defaults, else
as a call of its own class.
"""

from __future__ import annotations

import math
import re
from typing import Any

import engine
from engine import ConfigError
from engine.fields import REQUIRED, Field
from engine.formats import KERAS3

from .composites import short_float

#: the Keras module of each kind of object written as a call
MODULES = {"layer": "keras.layers", "initializer": "keras.initializers",
           "regularizer": "keras.regularizers", "constraint": "keras.constraints"}


def python_snippet(obj: Any, kind: str = "layer") -> str:
    """``keras.layers.Dense(units=64, activation='relu')``: only non-default arguments."""
    args = []
    for f in type(obj).all_fields():
        if KERAS3 not in f.formats:
            continue
        value = obj.values.get(f.name)
        if kind == "layer" and f.name == "name" and _auto_name(type(obj).__name__, value):
            continue
        if _is_default(f, value):
            continue
        args.append(f"{f.name}={_py_value(f, value)}")
    return f"{MODULES[kind]}.{type(obj).__name__}({', '.join(args)})"


def _auto_name(class_name: str, name: Any) -> bool:
    return isinstance(name, str) and re.fullmatch(
        re.escape(engine.to_snake_case(class_name)) + r"(_\d+)?", name) is not None


def _is_default(f: Field, value: Any) -> bool:
    if f.default is REQUIRED:
        return False
    try:
        default = f.validate(f.default_for(KERAS3), f.name)
    except ConfigError:
        return False
    if f.kind == "object":
        return _ser(default) == _ser(value)
    return bool(default == value)


def _ser(v: Any) -> Any:
    return None if v is None else engine.serialize(v, format=KERAS3)


def _py_value(f: Field, value: Any) -> str:
    if f.kind == "object" and f.object_kind in MODULES and value is not None:
        cls = type(value)
        all_default = all(_is_default(g, value.values.get(g.name)) for g in cls.all_fields())
        if all_default and cls.aliases and f.object_kind != "layer":
            return repr(cls.aliases[0])
        return python_snippet(value, kind=f.object_kind)
    if f.kind == "object":  # an activation or dtype policy: by name
        return repr(getattr(value, "name", value))
    return _py(value)


def _py(value: Any) -> str:
    """Python source of a plain value, floats by their shortest (float32) repr."""
    if isinstance(value, float):
        return short_float(value) if math.isfinite(value) else f"float('{value}')"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_py(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py(k)}: {_py(v)}" for k, v in value.items()) + "}"
    return repr(value)


__all__ = ["python_snippet", "MODULES"]
