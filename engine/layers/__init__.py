"""The built-in layers, a module (or package) per family.

Families are imported on first use: ``engine.layers.Dense`` (or a config naming Dense)
imports ``engine.layers.core`` only. Where a class lives: see ``engine.catalog``.
"""

from __future__ import annotations

from typing import Any

from .. import registry
from .base import InputSpec, Layer, Variable


def __getattr__(name: str) -> Any:
    cls = registry.lookup("layer", name) if name[:1].isupper() else None
    if cls is not None:
        return cls
    module = f"{__name__}.{name}"
    if module in registry.ENGINE_MODULES:
        return registry.import_engine_module(module)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Layer", "Variable", "InputSpec"]
