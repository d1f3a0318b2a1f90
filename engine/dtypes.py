"""DType policies: ``'float32'``, ``'float64'``, ``'mixed_float16'``, ...

Keras 3 writes a policy as a ``DTypePolicy`` dict, Keras 2 as a plain string (or a
``Policy`` dict for mixed precision). Both, and plain strings, are read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import registry
from .errors import ConfigError, describe, excerpt
from .formats import KERAS3

_POLICIES = {
    # name: (compute dtype, variable dtype)
    "float16": ("float16", "float16"),
    "float32": ("float32", "float32"),
    "float64": ("float64", "float64"),
    "mixed_float16": ("float16", "float32"),
    "int32": ("int32", "int32"),
    "int64": ("int64", "int64"),
    "uint8": ("uint8", "uint8"),
    "bool": ("bool", "bool"),
    # text inputs (TextVectorization, StringLookup): NumPy arrays of str or bytes
    "string": ("string", "string"),
}
_POLICY_CLASSES = ("DTypePolicy", "FloatDTypePolicy", "Policy")


class DTypePolicy:
    """The dtype a layer computes in and stores its weights in."""

    def __init__(self, name: str):
        self.name = name
        self.compute_dtype, self.variable_dtype = _POLICIES[name]

    @property
    def np_compute(self) -> np.dtype:
        return np.dtype(self.compute_dtype)

    def serialize(self, fmt: str) -> Any:
        if fmt == KERAS3:
            return {"module": "keras", "class_name": "DTypePolicy",
                    "config": {"name": self.name}, "registered_name": None}
        if self.name.startswith("mixed_"):
            return {"class_name": "Policy", "config": {"name": self.name}}
        return self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DTypePolicy) and other.name == self.name

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<DTypePolicy {self.name}>"


def names() -> list[str]:
    return list(_POLICIES)


def _from_string(name: str, path: str, fmt: str = KERAS3) -> DTypePolicy:
    if name not in _POLICIES:
        hint = ("; bfloat16 has no NumPy type, use float32 or mixed_float16"
                if "bfloat16" in name else "")
        raise ConfigError(path, f"expected one of {', '.join(_POLICIES)}, got "
                          f"{excerpt(name)}{hint}")
    policy = _SHARED.get(name)
    if policy is None:  # policies are immutable values: one per name
        policy = _SHARED[name] = DTypePolicy(name)
    return policy


_SHARED: dict[str, DTypePolicy] = {}


def _from_other(value: Any, path: str, _name: str | None = None) -> DTypePolicy:
    if isinstance(value, DTypePolicy):
        return value
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return _from_string(np.dtype(value).name, path)
    raise ConfigError(path, f"expected a dtype name such as 'float32' or a DTypePolicy dict, "
                      f"got {describe(value)}")


def from_dict(value: dict[str, Any], path: str, fmt: str = KERAS3) -> DTypePolicy:
    cls = value.get("class_name")
    if cls not in _POLICY_CLASSES:
        raise ConfigError(f"{path}.class_name", f"expected one of {', '.join(_POLICY_CLASSES)}, "
                          f"got {describe(cls)}")
    cfg = value.get("config")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("name"), str):
        raise ConfigError(f"{path}.config.name", f"expected a dtype name, got "
                          f"{describe(cfg.get('name') if isinstance(cfg, dict) else cfg)}")
    return _from_string(cfg["name"], f"{path}.config.name")


for _name in _POLICIES:
    registry.register("dtype", _name, _from_string(_name, "dtype"))

registry.set_hooks("dtype", from_string=_from_string, from_dict=from_dict,
                   from_other=lambda value, path: _from_other(value, path))
