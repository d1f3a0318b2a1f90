"""Name -> object tables, one per kind, and the custom_objects scope.

A leaf module: it imports nothing from the engine but its errors and the catalog (a data
table). Built-in classes are listed by name in :mod:`engine.catalog` with the module that
defines them; a module is imported the first time one of its names is looked up, and its
classes register themselves when it runs. A module named in a config is never imported:
only modules of the catalog are.

Kinds may install hooks (how a string, a dict or another value becomes an object of that
kind); :mod:`engine.serialization` uses them. Resolution itself lives there.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
from collections.abc import Callable, Iterator
from typing import Any

from . import catalog
from .errors import ConfigError, describe

KINDS = ("layer", "initializer", "regularizer", "constraint", "activation", "dtype")

_custom: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "custom_objects", default=None)


#: the only modules the engine ever imports by name: its own, listed in the catalog
def _with_parents(modules: set[str]) -> frozenset[str]:
    out = set(modules)
    for m in modules:
        parts = m.split(".")
        out.update(".".join(parts[:i]) for i in range(2, len(parts)))
    return frozenset(out)


ENGINE_MODULES = _with_parents(
    {module for table in catalog.OBJECTS.values() for module, _ in table.values()}
    | set(catalog.KIND_MODULES.values()) | set(catalog.PUBLIC_MODULES))


def import_engine_module(module: str) -> Any:
    """Import one of the engine's own modules (from the catalog) by name; any other name
    is refused, so nothing named in a config can ever be imported."""
    if module not in ENGINE_MODULES:
        raise ValueError(f"{module!r} is not a module of the engine's catalog")
    return importlib.import_module(module)


class Registry:
    """Names (canonical and aliases) of one kind of object.

    A value is the object, or (until its module is imported) the name of the catalog module
    that defines it.
    """

    def __init__(self, kind: str, listed: dict[str, tuple[str, tuple[str, ...]]]):
        self.kind = kind
        self._by_name: dict[str, Any] = {}
        self._canonical: dict[str, Any] = {}
        for name, (module, aliases) in listed.items():
            self._canonical[name] = module
            self._by_name[name] = module
            for a in aliases:
                self._by_name.setdefault(a, module)

    def add(self, name: str, obj: Any, aliases: tuple[str, ...] = ()) -> None:
        self._canonical[name] = obj
        self._by_name[name] = obj
        for a in aliases:
            self._by_name[a] = obj

    def get(self, name: str) -> Any | None:
        obj = self._by_name.get(name)
        if type(obj) is str:  # a catalog module not imported yet
            import_engine_module(obj)
            obj = self._by_name.get(name)
            if type(obj) is str:
                raise RuntimeError(f"catalog: {obj} does not define the {self.kind} {name!r}; "
                                   f"regenerate engine/catalog.py (tests/gen_catalog.py)")
        return obj

    def names(self) -> list[str]:
        return sorted(self._canonical)

    def all_names(self) -> list[str]:
        return sorted(self._by_name)

    def module_of(self, name: str) -> str | None:
        """The catalog module that defines ``name`` (without importing it)."""
        obj = self._by_name.get(name)
        if obj is None:
            return None
        return obj if type(obj) is str else getattr(obj, "__module__", None)

    def load_all(self) -> None:
        for name in list(self._canonical):
            self.get(name)

    def items(self) -> list[tuple[str, Any]]:
        self.load_all()
        return sorted(self._canonical.items())


REGISTRIES: dict[str, Registry] = {k: Registry(k, catalog.OBJECTS.get(k, {})) for k in KINDS}


def register(kind: str, name: str, obj: Any, aliases: tuple[str, ...] = ()) -> None:
    """Add a built-in ``name`` (and its aliases) of ``kind``."""
    REGISTRIES[kind].add(name, obj, aliases)


def names(kind: str) -> list[str]:
    """Canonical names of every built-in object of ``kind`` (nothing is imported)."""
    return REGISTRIES[kind].names()


def all_names(kind: str) -> list[str]:
    """Canonical names and aliases of ``kind`` (nothing is imported)."""
    return REGISTRIES[kind].all_names()


def lookup(kind: str, name: str) -> Any | None:
    """The built-in object of ``kind`` called ``name`` (canonical or alias), or None."""
    return REGISTRIES[kind].get(name)


def module_of(kind: str, name: str) -> str | None:
    return REGISTRIES[kind].module_of(name)


# -- per-kind hooks ----------------------------------------------------------------------

#: hook names: from_string(name, path, fmt), from_dict(value, path, fmt),
#: from_other(value, path) -> the object (see engine.serialization.get_object)
#: and for the "model_file" kind: load_weights(model, path, **kw), save(model, path, **kw)
HOOK_NAMES = ("from_string", "from_dict", "from_other", "load_weights", "save")
_hooks: dict[str, dict[str, Callable[..., Any]]] = {}


def set_hooks(kind: str, **hooks: Callable[..., Any]) -> None:
    """Install how values of ``kind`` are read (called by the module that defines it)."""
    unknown = set(hooks) - set(HOOK_NAMES)
    if unknown:
        raise TypeError(f"unknown hook(s) {sorted(unknown)}; expected {HOOK_NAMES}")
    _hooks.setdefault(kind, {}).update(hooks)


def hook(kind: str, name: str) -> Callable[..., Any] | None:
    """The ``name`` hook of ``kind``, importing the kind's module on first use."""
    table = _hooks.get(kind)
    if table is None:
        module = catalog.KIND_MODULES.get(kind)
        if module is not None:
            import_engine_module(module)
        table = _hooks.setdefault(kind, {})
    return table.get(name)


# -- custom objects -----------------------------------------------------------------------


@contextlib.contextmanager
def custom_object_scope(objects: dict[str, Any] | None) -> Iterator[None]:
    """Make ``objects`` (name -> class or function) resolvable inside the block."""
    if objects is not None and not isinstance(objects, dict):
        raise ConfigError("custom_objects", f"expected a dict of name -> class or function, got "
                          f"{describe(objects)}")
    token = push_custom_objects(objects)
    try:
        yield
    finally:
        _custom.reset(token)


def push_custom_objects(objects: dict[str, Any] | None) -> contextvars.Token:
    """Merge ``objects`` into the scope; undo with ``pop_custom_objects(token)``."""
    if not objects:
        return _custom.set(_custom.get())
    return _custom.set({**(_custom.get() or {}), **objects})


def pop_custom_objects(token: contextvars.Token) -> None:
    _custom.reset(token)


def custom_objects() -> dict[str, Any]:
    return _custom.get() or {}

