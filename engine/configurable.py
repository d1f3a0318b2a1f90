"""The base of every serializable engine object: fields in, config out.

A subclass declares its config keys once, as ``fields``. From them it gets:

- a constructor taking exactly those keys (validated, defaults filled),
- one attribute per field, backed by the one value store ``_values``: reading gives the
  validated value, writing validates the new value and is seen by ``get_config``,
- ``get_config(format)`` in Keras's key order, for Keras 3 or Keras 2,
- a real ``inspect.signature`` (for ``help()``, IDEs and Shift-Tab in notebooks).
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any, ClassVar

from . import registry
from .errors import ConfigError, describe
from .fields import REQUIRED, Field, collect_fields, config_to_dict, validate_config
from .formats import KERAS2, KERAS3, normalize_format

_PACKAGE = __name__.split(".")[0]


def _is_builtin_module(module: str) -> bool:
    return module == _PACKAGE or module.startswith(_PACKAGE + ".")


@functools.lru_cache(maxsize=1024)
def to_snake_case(name: str) -> str:
    """Keras's class-name -> default-object-name rule (``LeakyReLU`` -> ``leaky_re_lu``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class FieldValue:
    """The attribute of one field: reads the value store, validates writes."""

    __slots__ = ("field", "name")

    def __init__(self, field: Field):
        self.field = field
        self.name = field.name

    def __get__(self, obj: Any, cls: type | None = None) -> Any:
        if obj is None:
            return self.field  # Dense.units is the field spec
        try:
            return obj._values[self.name]
        except (AttributeError, KeyError):
            raise AttributeError(self.name) from None

    def __set__(self, obj: Any, value: Any) -> None:
        obj._set_field(self.field, value)


class _ClassSignature:
    """``cls.__signature__``: built from the fields on first use (None on instances, so
    that ``inspect.signature(layer)`` describes the call)."""

    def __get__(self, obj: Any, cls: type) -> inspect.Signature | None:
        if obj is not None:
            return None
        sig = cls.__dict__.get("_signature")
        if sig is None:
            sig = _signature_of(cls)
            type.__setattr__(cls, "_signature", sig)
        return sig


def _signature_of(cls: Any) -> inspect.Signature:
    P = inspect.Parameter
    params: list[inspect.Parameter] = []
    positional = cls._positional_names()
    keyword_only = seen_default = False
    by_name = {f.name: f for f in cls.all_fields()}
    for name in positional:
        f = by_name.get(name)
        if f is None:
            continue
        default = P.empty if f.required else f.default
        if f.required and seen_default:
            keyword_only = True  # a required argument after optional ones: by name only
        seen_default = seen_default or not f.required
        params.append(P(name, P.KEYWORD_ONLY if keyword_only else P.POSITIONAL_OR_KEYWORD,
                        default=default))
    done = set(positional)
    for f in cls.all_fields():
        if f.name not in done:
            params.append(P(f.name, P.KEYWORD_ONLY,
                            default=P.empty if f.required else f.default))
    return inspect.Signature(params)


def _normalizing(get_config: Any) -> Any:
    """Wrap ``get_config`` so it always receives a normalized format: the one given, or
    the format the object was read in when none is given (``deserialize(c).get_config()``
    gives back the form of ``c``, as Keras does)."""

    @functools.wraps(get_config)
    def wrapper(self: Any, format: Any = None, *args: Any, **kwargs: Any) -> Any:
        fmt = self._source_format if format is None else normalize_format(format)
        return get_config(self, fmt, *args, **kwargs)

    wrapper._normalizes_format = True  # type: ignore[attr-defined]
    return wrapper


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
    #: the constructor's positional order when it differs from the config key order
    positional: ClassVar[tuple[str, ...] | None] = None
    #: keys some Keras versions write as None that we accept and ignore
    ignored_keys: ClassVar[tuple[str, ...]] = ()
    #: fields that may still be written once a layer is built
    mutable_when_built: ClassVar[frozenset[str]] = frozenset()
    abstract: ClassVar[bool] = True
    _all_fields: ClassVar[tuple[Field, ...]] = ()
    __signature__ = _ClassSignature()

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        cls._all_fields = collect_fields(cls)
        cls._install_field_attributes()
        own = cls.__dict__.get("get_config")
        if own is not None and not getattr(own, "_normalizes_format", False):
            cls.get_config = _normalizing(own)
        if "abstract" not in cls.__dict__:
            cls.abstract = False
        # Only the engine's own classes are built-ins: a user's subclass (defined anywhere
        # else) is found through custom_objects only and never replaces a built-in name.
        if not cls.abstract and cls.registry_kind and _is_builtin_module(cls.__module__):
            registry.register(cls.registry_kind, cls.__name__, cls, tuple(cls.aliases))

    @classmethod
    def _install_field_attributes(cls) -> None:
        for f in cls._all_fields:
            current = None
            for klass in cls.__mro__:
                if f.name in klass.__dict__:
                    current = klass.__dict__[f.name]
                    break
            if isinstance(current, FieldValue):
                if current.field is not f:
                    setattr(cls, f.name, FieldValue(f))
            elif current is None or not hasattr(type(current), "__set__"):
                if callable(current) and not isinstance(current, (str, int, float, tuple)):
                    raise TypeError(f"{cls.__name__}.{f.name} is both a method and a config "
                                    f"field")
                setattr(cls, f.name, FieldValue(f))
            # else: the class defines its own property for this field (name, trainable)

    # -- construction ---------------------------------------------------------------
    def __init__(self, *args: Any, _config_path: str = "", _source_format: str = KERAS3,
                 **kwargs: Any):
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
        self._source_format = _source_format
        root = _config_path
        try:
            self._values = validate_config(self.all_fields(), kwargs, root or "<args>",
                                           owner=type(self).__name__, fmt=_source_format,
                                           ignore_none_keys=self.ignored_keys,
                                           tolerated=self._tolerate_key)
        except ConfigError as e:
            if not root and e.path.startswith("<args>"):
                raise ConfigError(e.path[len("<args>."):], e.reason) from None
            raise
        self._post_init()

    @property
    def source_format(self) -> str:
        """The format this object was read in: ``keras2`` or ``keras3`` (the default for an
        object made in Python). Keras 2 meanings are converted when reading."""
        return self._source_format

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
        if cls.positional is not None:
            return list(cls.positional)
        base_names = {"name", "trainable", "dtype", "activity_regularizer", "batch_input_shape"}
        return [f.name for f in cls._all_fields if f.name not in base_names]

    def _tolerate_key(self, key: str, value: Any) -> bool:
        return False

    def _post_init(self) -> None:
        """Cross-field checks; raise ``self.config_error(field, message)``."""

    def config_error(self, field: str, message: str) -> ConfigError:
        path = f"{self._path}.{field}" if self._path else field
        return ConfigError(path, message)

    def _set_field(self, f: Field, value: Any) -> None:
        """``obj.<field> = value``: validated, stored in the one value store."""
        if getattr(self, "built", False) and f.name not in self.mutable_when_built:
            raise self.config_error(f.name, f"cannot change {f.name!r} of the built "
                                    f"{type(self).__name__} {getattr(self, 'name', '')!r}: its "
                                    f"weights were made for the old value. Make a new layer from "
                                    f"the changed config: deserialize(serialize(layer)) after "
                                    f"editing it")
        path = f"{self._path}.{f.name}" if self._path else f.name
        if f.takes_format:
            self._values[f.name] = f.validate(value, path, self._source_format)
        else:
            self._values[f.name] = f.validate(value, path)

    @classmethod
    def from_config(cls, config: dict[str, Any], *, path: str = "config",
                    fmt: str = KERAS3) -> Configurable:
        """Make the object from its config dict, read in format ``fmt``."""
        if not isinstance(config, dict):
            raise ConfigError(path, f"expected a dict of settings, got {describe(config)}")
        return cls(_config_path=path, _source_format=normalize_format(fmt), **config)

    # -- output ---------------------------------------------------------------------
    @property
    def values(self) -> dict[str, Any]:
        """The validated value of every field (a copy)."""
        return dict(self._values)

    @_normalizing
    def get_config(self, format: str | None = None) -> dict[str, Any]:
        """The config dict in Keras's key order: in ``format`` ('keras3' or 'keras2'), or
        in the format this object was read in (Keras 3 for one made in Python)."""
        fmt = format
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

__all__ = ["Configurable", "FieldValue", "to_snake_case", "REQUIRED"]
