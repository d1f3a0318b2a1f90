"""The base of every serializable engine object: fields in, config out."""

from __future__ import annotations

import functools
import re
from typing import Any, ClassVar

from .errors import ConfigError
from .fields import KERAS2, KERAS3, Field, collect_fields, config_to_dict, validate_config
from .registry import register

_PACKAGE = __name__.split(".")[0]
#: per class, the field names stored as plain attributes (not properties)
_SETTABLE: dict[type, frozenset[str]] = {}


def _is_builtin_module(module: str) -> bool:
    return module == _PACKAGE or module.startswith(_PACKAGE + ".")


@functools.lru_cache(maxsize=1024)
def to_snake_case(name: str) -> str:
    """Keras's class-name -> default-object-name rule (``LeakyReLU`` -> ``leaky_re_lu``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def check_format(fmt: str) -> str:
    aliases = {"keras3": KERAS3, "k3": KERAS3, "3": KERAS3, "keras2": KERAS2, "k2": KERAS2,
               "2": KERAS2}
    out = aliases.get(str(fmt).lower())
    if out is None:
        raise ValueError(f"format: expected 'keras3' or 'keras2', got {fmt!r}")
    return out


class Configurable:
    """An object whose constructor arguments are exactly its config keys.

    Subclasses declare ``fields`` (see :mod:`engine.fields`); a concrete subclass of a
    kind base (one that sets ``registry_kind``) registers itself under its class name
    and ``aliases`` unless it sets ``abstract = True``.
    """

    registry_kind: ClassVar[str | None] = None
    keras_module: ClassVar[str] = "keras"
    fields: ClassVar[tuple[Field, ...]] = ()
    aliases: ClassVar[tuple[str, ...]] = ()
    #: formats that have this class (K3-only classes refuse ``format="keras2"``)
    keras_formats: ClassVar[tuple[str, ...]] = (KERAS3, KERAS2)
    #: output key order for Keras 2 when it differs from ``fields`` order
    keras2_order: ClassVar[tuple[str, ...] | None] = None
    #: keys some Keras versions write as None that we accept and ignore
    ignored_keys: ClassVar[tuple[str, ...]] = ()
    abstract: ClassVar[bool] = True
    _all_fields: ClassVar[tuple[Field, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        cls._all_fields = collect_fields(cls)
        if "abstract" not in cls.__dict__:
            cls.abstract = False
        # Only the engine's own classes are built-ins: a user's subclass (defined anywhere
        # else) is found through custom_objects only and never replaces a built-in name.
        if not cls.abstract and cls.registry_kind and _is_builtin_module(cls.__module__):
            register(cls.registry_kind, cls.__name__, cls, tuple(cls.aliases))

    # -- construction ---------------------------------------------------------------
    def __init__(self, *args: Any, _config_path: str = "", **kwargs: Any):
        if args:
            own = [self.field(n) for n in self._positional_names()]
            if len(args) > len(own):
                raise ConfigError(_config_path, f"{type(self).__name__} takes at most "
                                  f"{len(own)} positional arguments, got {len(args)}")
            for f, a in zip(own, args):
                if f.name in kwargs:
                    raise ConfigError(f"{_config_path}.{f.name}".lstrip("."),
                                      "given both by position and by name")
                kwargs[f.name] = a
        self._path = _config_path
        root = _config_path
        try:
            values = validate_config(self.all_fields(), kwargs, root or "<args>",
                                     owner=type(self).__name__,
                                     ignore_none_keys=self.ignored_keys,
                                     tolerated=self._tolerate_key)
        except ConfigError as e:
            if not root and e.path.startswith("<args>"):
                raise ConfigError(e.path[len("<args>."):], e.reason) from None
            raise
        self._values = values
        settable = _SETTABLE.get(type(self))
        if settable is None:
            cls = type(self)
            settable = _SETTABLE[cls] = frozenset(
                f.name for f in cls._all_fields
                if not hasattr(type(getattr(cls, f.name, None)), "__set__"))  # no properties
        attrs = self.__dict__  # plain attributes: written directly (no descriptor lookups)
        for name in settable:
            attrs[name] = values[name]
        self._post_init()

    @classmethod
    def all_fields(cls) -> tuple[Field, ...]:
        return cls._all_fields

    @classmethod
    def field(cls, name: str) -> Field:
        for f in cls._all_fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @classmethod
    def _positional_names(cls) -> list[str]:
        base_names = {"name", "trainable", "dtype", "activity_regularizer", "batch_input_shape"}
        return [f.name for f in cls._all_fields if f.name not in base_names]

    def _tolerate_key(self, key: str, value: Any) -> bool:
        return False

    def _post_init(self) -> None:
        """Cross-field checks; raise ``self.config_error(field, message)``."""

    def config_error(self, field: str, message: str) -> ConfigError:
        path = f"{self._path}.{field}" if self._path else field
        return ConfigError(path, message)

    @classmethod
    def from_config(cls, config: dict[str, Any], *, path: str = "config") -> Configurable:
        if not isinstance(config, dict):
            from .errors import describe

            raise ConfigError(path, f"expected a dict of settings, got {describe(config)}")
        return cls(_config_path=path, **config)

    # -- output ---------------------------------------------------------------------
    @property
    def values(self) -> dict[str, Any]:
        """The validated value of every field (a copy)."""
        return dict(self._values)

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        fmt = check_format(format)
        fields = self.all_fields()
        if fmt == KERAS2 and self.keras2_order:
            order = {n: i for i, n in enumerate(self.keras2_order)}
            fields = tuple(sorted(fields, key=lambda f: order.get(f.name, len(order))))
        return config_to_dict(fields, self._values, fmt)

    def __repr__(self) -> str:
        body = ", ".join(f"{f.name}={self._values.get(f.name)!r}" for f in self.all_fields()
                         if f.name not in ("trainable", "dtype") and
                         self._values.get(f.name) is not None)
        return f"{type(self).__name__}({body})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.get_config() == other.get_config()  # type: ignore[attr-defined]

    __hash__ = object.__hash__
