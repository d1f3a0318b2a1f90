"""Name -> class registries, one per kind, and the custom_objects scope.

Resolution goes through these tables only. A module named in a config is never
imported: ``module`` is read as a hint and checked, nothing more.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Callable, Iterator
from typing import Any

from .errors import ConfigError, article, close_names, describe, excerpt

KINDS = ("layer", "initializer", "regularizer", "constraint", "activation", "dtype")

_custom: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "custom_objects", default=None)
_format: contextvars.ContextVar[str | None] = contextvars.ContextVar("source_format",
                                                                     default=None)


class Registry:
    """Names (canonical and aliases) of one kind of object."""

    def __init__(self, kind: str):
        self.kind = kind
        self._by_name: dict[str, Any] = {}
        self._canonical: dict[str, Any] = {}

    def add(self, name: str, obj: Any, aliases: tuple[str, ...] = ()) -> None:
        self._canonical[name] = obj
        self._by_name[name] = obj
        for a in aliases:
            self._by_name[a] = obj

    def get(self, name: str) -> Any | None:
        return self._by_name.get(name)

    def names(self) -> list[str]:
        return sorted(self._canonical)

    def all_names(self) -> list[str]:
        return sorted(self._by_name)

    def items(self) -> list[tuple[str, Any]]:
        return sorted(self._canonical.items())


REGISTRIES: dict[str, Registry] = {k: Registry(k) for k in KINDS}


def register(kind: str, name: str, obj: Any, aliases: tuple[str, ...] = ()) -> None:
    REGISTRIES[kind].add(name, obj, aliases)


def names(kind: str) -> list[str]:
    """Canonical names of every built-in object of ``kind`` (for dropdowns)."""
    _ensure_loaded()
    return REGISTRIES[kind].names()


def lookup(kind: str, name: str) -> Any | None:
    if not _loaded:
        _ensure_loaded()
    return REGISTRIES[kind].get(name)


_loaded = False


def _ensure_loaded() -> None:
    # Importing the package registers every built-in class (layers register on definition).
    global _loaded
    if not _loaded:
        import engine  # noqa: F401

        _loaded = True


# -- custom objects and source format ---------------------------------------------------


@contextlib.contextmanager
def custom_object_scope(objects: dict[str, Any] | None) -> Iterator[None]:
    """Make ``objects`` (name -> class or function) resolvable inside the block."""
    if objects is not None and not isinstance(objects, dict):
        raise ConfigError("custom_objects", f"expected a dict of name -> class or function, got "
                          f"{describe(objects)}")
    merged = {**(_custom.get() or {}), **(objects or {})}
    token = _custom.set(merged)
    try:
        yield
    finally:
        _custom.reset(token)


def custom_objects() -> dict[str, Any]:
    return _custom.get() or {}


@contextlib.contextmanager
def source_format(fmt: str | None) -> Iterator[None]:
    """The format the config being read is in (``keras2`` changes a few meanings)."""
    token = _format.set(fmt)
    try:
        yield
    finally:
        _format.reset(token)


def current_format() -> str | None:
    return _format.get()


# -- resolving an identifier of a kind -------------------------------------------------

_resolvers: dict[str, Callable[[Any, str], Any]] = {}


def set_resolver(kind: str, fn: Callable[[Any, str], Any]) -> None:
    """Install how non-string, non-dict values of ``kind`` are accepted (instances...)."""
    _resolvers[kind] = fn


def unknown_name(kind: str, name: str, path: str) -> ConfigError:
    _ensure_loaded()
    pool = REGISTRIES[kind].all_names() + list(custom_objects())
    hint = close_names(name, pool)
    near = f" Close names: {', '.join(hint)}." if hint else ""
    shown = excerpt(name, 60)
    return ConfigError(
        path,
        f"unknown {kind} {shown}.{near} If it is your own "
        f"{'class' if kind != 'activation' else 'function'}, pass it in custom_objects, "
        f"e.g. deserialize(config, custom_objects={{{shown}: ...}}).",
    )


_SERIALIZATION = f"{__package__}.serialization"


def get_object(kind: str, value: Any, path: str) -> Any:
    """Resolve ``value`` (alias string, config dict or instance) to an object of ``kind``."""
    if not _loaded:
        _ensure_loaded()
    if isinstance(value, str):
        resolve = _string_resolvers.get(kind)
        if resolve is not None:
            return resolve(value, path)
        return from_string(kind, value, path)
    if isinstance(value, dict):
        return sys.modules[_SERIALIZATION].deserialize_object(value, kind=kind, path=path)
    resolver = _resolvers.get(kind)
    if resolver is not None:
        return resolver(value, path, None)
    # an object made in Python (Dense(3, kernel_initializer=HeNormal())), as Keras takes it
    own_kind = getattr(type(value), "registry_kind", None)
    if own_kind == kind:
        return value
    if own_kind is not None:
        raise ConfigError(path, f"{describe(value)} is {article(own_kind)}, but "
                          f"{article(kind)} is expected here")
    if kind in _CALLABLE_KINDS and callable(value) and not isinstance(value, type):
        return value  # the caller's own initializer/regularizer/constraint function
    raise ConfigError(path, f"expected {article(kind)} name or config dict, got "
                      f"{describe(value)}")


#: kinds where Keras also takes a plain callable given in Python
_CALLABLE_KINDS = ("initializer", "regularizer", "constraint")


_string_resolvers: dict[str, Callable[[str, str], Any]] = {}


def from_string(kind: str, name: str, path: str) -> Any:
    """A name (custom_objects first, then built-in names and aliases) -> a new object."""
    found = custom_objects().get(name)
    if found is None:
        found = REGISTRIES[kind].get(name)
    if found is None:
        raise unknown_name(kind, name, path)
    return _instantiate(found, {}, path, kind)


def set_string_resolver(kind: str, fn: Callable[[str, str], Any]) -> None:
    _string_resolvers[kind] = fn


def _instantiate(cls: Any, config: dict[str, Any], path: str, kind: str) -> Any:
    from .serialization import instantiate

    return instantiate(cls, config, path, kind)
