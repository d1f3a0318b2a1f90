"""layerlab's engine: Keras layer and model configs, deserialized and run in NumPy.

>>> from engine import deserialize
>>> layer = deserialize({'class_name': 'Dense', 'config': {'units': 32, 'activation': 'relu'}})

Importing the package is cheap: families of layers (and models, files) are imported the
first time one of their names is used.
"""

from __future__ import annotations

from typing import Any

from . import registry as _registry
from .budget import (
    DEFAULT_MAX_ACTIVATION_BYTES,
    DEFAULT_MAX_WEIGHT_BYTES,
    DEFAULT_MAX_WEIGHT_ELEMENTS,
    Budget,
    using_budget,
    weight_budget,
)
from .errors import (
    BudgetError,
    ConfigError,
    InputError,
    MultipleConfigErrors,
    UnsafeConfigError,
    WeightsError,
)
from .formats import KERAS2, KERAS3, normalize_format
from .registry import custom_object_scope
from .serialization import deserialize, detect_format, get_object, serialize

#: public name -> the module that defines it (imported on first use)
_LAZY = {
    "load": "engine.files", "save": "engine.files", "FileError": "engine.files",
    "UnsafeFileError": "engine.files", "model_from_json": "engine.files",
    "Sequential": "engine.models", "Model": "engine.models", "Functional": "engine.models",
    "Layer": "engine.layers.base", "Variable": "engine.layers.base",
    "build_without_initializers": "engine.layers.base",
    "to_snake_case": "engine.configurable",
    "gradients": "engine.gradients",
}
_SUBMODULES = ("activations", "constraints", "dtypes", "fields", "initializers", "layers",
               "regularizers", "models", "files")


def names(kind: str, *, aliases: bool = False) -> list[str]:
    """Names of the built-in objects of ``kind`` ('layer', 'initializer', 'regularizer',
    'constraint', 'activation', 'dtype'), without importing them: canonical names, or
    every accepted name (``'swish'``, ``'glorot_uniform'``...) with ``aliases=True``."""
    if kind not in _registry.KINDS:
        raise ValueError(f"kind: expected one of {', '.join(_registry.KINDS)}, got {kind!r}")
    return _registry.all_names(kind) if aliases else _registry.names(kind)


def lookup(kind: str, name: str) -> Any | None:
    """The built-in class (or function) of ``kind`` called ``name`` (or an alias), or None."""
    return _registry.lookup(kind, name)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(_registry.import_engine_module(module), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return _registry.import_engine_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))


__all__ = [
    "deserialize", "serialize", "detect_format", "get_object", "names", "lookup",
    "normalize_format", "to_snake_case", "ConfigError", "UnsafeConfigError", "BudgetError",
    "WeightsError", "MultipleConfigErrors", "custom_object_scope", "weight_budget",
    "KERAS2", "KERAS3", "DEFAULT_MAX_WEIGHT_ELEMENTS", "DEFAULT_MAX_WEIGHT_BYTES",
    "DEFAULT_MAX_ACTIVATION_BYTES", "Budget", "using_budget", "InputError", *_LAZY,
    *_SUBMODULES,
]
