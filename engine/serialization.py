"""deserialize / serialize: Keras 2 and Keras 3 config dicts in, either format out.

A config is data. Classes and functions are found through the engine's registries and the
caller's ``custom_objects`` only; a ``module`` key is never imported, and nothing in a
config is evaluated, unpickled or unmarshalled.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from . import registry
from .configurable import Configurable, check_format
from .errors import ConfigError, UnsafeConfigError, article, describe, excerpt, key_text
from .fields import KERAS2, KERAS3

#: default size budget: the most weight elements one layer may allocate
DEFAULT_MAX_WEIGHT_ELEMENTS = 2**28

_budget: contextvars.ContextVar[int] = contextvars.ContextVar(
    "max_weight_elements", default=DEFAULT_MAX_WEIGHT_ELEMENTS)

_TOP_KEYS = {"class_name", "config", "module", "registered_name", "build_config",
             "compile_config", "shared_object_id", "name", "inbound_nodes", "keras_version",
             "backend"}


def _check_budget_value(max_weight_elements: Any) -> None:
    if isinstance(max_weight_elements, bool) or not isinstance(max_weight_elements, int) or \
            max_weight_elements < 1:
        raise ValueError(f"max_weight_elements: expected a positive int, got "
                         f"{describe(max_weight_elements)}")


@contextlib.contextmanager
def weight_budget(max_weight_elements: int) -> Iterator[None]:
    _check_budget_value(max_weight_elements)
    token = _budget.set(max_weight_elements)
    try:
        yield
    finally:
        _budget.reset(token)


def current_budget() -> int:
    return _budget.get()


def detect_format(config: Any) -> str:
    """Which Keras wrote ``config``: ``keras3`` or ``keras2`` (2.9 form or tf_keras)."""
    if not isinstance(config, dict):
        return KERAS3
    inner = config.get("config")
    dtype = inner.get("dtype") if isinstance(inner, dict) else None
    if isinstance(inner, dict) and ("batch_input_shape" in inner or "time_major" in inner):
        return KERAS2
    if isinstance(dtype, dict):
        return KERAS3 if dtype.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") \
            else KERAS2
    if isinstance(dtype, str) and config.get("class_name") != "InputLayer":
        # a string dtype: the 2.9 form or tf_keras >= 2.13's default form (which has module
        # keys too), unless the config has keys only Keras 3 writes
        return KERAS3 if "module" in config and _keras3_only_keys(inner) else KERAS2
    if isinstance(inner, dict) and isinstance(inner.get("layers"), list) and inner["layers"]:
        return detect_format(inner["layers"][-1])
    return KERAS3 if "module" in config else KERAS2


def _keras3_only_keys(inner: dict[str, Any]) -> bool:
    """Keys no Keras 2 writes: quantization_config, or initializer input_axes (3.15)."""
    if "quantization_config" in inner:
        return True
    for value in inner.values():
        if isinstance(value, dict) and isinstance(value.get("config"), dict) and \
                "input_axes" in value["config"]:
            return True
    return False


def deserialize(
    config: dict[str, Any],
    custom_objects: dict[str, Any] | None = None,
    *,
    max_weight_elements: int = DEFAULT_MAX_WEIGHT_ELEMENTS,
) -> Any:
    """Create a layer (or model) from its config, like ``tf.keras.layers.deserialize``.

    Args:
        config: ``{'class_name': ..., 'config': {...}}`` in the Keras 2 form, or the Keras 3
            form with ``module``, ``registered_name`` and ``build_config``. Keys left out of
            ``config`` take Keras's defaults. A Keras 3 ``build_config`` builds the layer.
        custom_objects: name -> your own class or function, as in Keras.
        max_weight_elements: the most weight elements one layer may allocate; a layer over
            it is refused with a ``BudgetError`` before anything is allocated.

    Returns:
        The layer.

    Raises:
        ConfigError: the message starts with the path of the bad field.
        UnsafeConfigError: the config holds code (a Lambda's bytecode).

    Example:
        >>> layer = deserialize({'class_name': 'Dense', 'config': {'units': 8}})
        >>> layer.build((None, 4)); layer.kernel.shape
        (4, 8)
    """
    if isinstance(config, Configurable):
        return config
    if not isinstance(config, dict):
        hint = ""
        if isinstance(config, str):
            hint = (f"; for a class name use {{'class_name': {excerpt(config, 40)}, "
                    f"'config': {{...}}}}, for JSON text use json.loads first")
        raise ConfigError("config", f"expected a dict with 'class_name' and 'config', got "
                          f"{describe(config)}{hint}")
    _check_budget_value(max_weight_elements)
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise ConfigError("custom_objects", f"expected a dict of name -> class or function, "
                          f"got {describe(custom_objects)}")
    # contextvars set directly (not through the context managers): this is the hot path
    t_budget = _budget.set(max_weight_elements)
    t_format = registry._format.set(detect_format(config))
    t_custom = registry._custom.set({**(registry._custom.get() or {}), **custom_objects}) \
        if custom_objects else None
    try:
        return deserialize_object(config, kind="layer", path="")
    finally:
        if t_custom is not None:
            registry._custom.reset(t_custom)
        registry._format.reset(t_format)
        _budget.reset(t_budget)


def _sub(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def deserialize_object(value: Any, *, kind: str, path: str) -> Any:
    """One ``{'class_name', 'config', ...}`` dict of ``kind`` -> the object."""
    if not isinstance(value, dict):
        raise ConfigError(path or "config", f"expected a dict with 'class_name' and 'config', "
                          f"got {describe(value)}")
    class_name = value.get("class_name")
    if class_name is None:
        keys = ", ".join(key_text(k, 30) for k in list(value)[:8])
        raise ConfigError(_sub(path, "class_name"), f"missing: {article(kind)} config is a dict "
                          f"with 'class_name' and 'config', got keys [{keys}]")
    if not isinstance(class_name, str):
        raise ConfigError(_sub(path, "class_name"), f"expected a class name string, got "
                          f"{describe(class_name)}")
    if class_name == "__lambda__" or kind == "layer" and _has_lambda(value.get("config")):
        raise UnsafeConfigError(path or "config", _LAMBDA_MESSAGE)
    if kind == "activation":
        from .activations import from_function_dict

        return from_function_dict(value, path)
    if kind == "dtype":
        from .dtypes import from_dict

        return from_dict(value, path)
    if kind == "layer" and registry.current_format() is None:
        with registry.source_format(detect_format(value)):
            return deserialize_object(value, kind=kind, path=path)
    if kind == "layer":
        for key in value:
            if key not in _TOP_KEYS:
                raise ConfigError(_sub(path, key_text(key)), f"unknown top-level key; a layer "
                                  f"config has "
                                  f"{', '.join(sorted(_TOP_KEYS - {'shared_object_id'}))}")
    cls = resolve_class(value, kind=kind, path=path)
    cfg = value.get("config", {})
    if cfg is None:
        cfg = {}
    obj = instantiate(cls, cfg, _sub(path, "config"), kind)
    if kind == "layer":
        _maybe_build(obj, value.get("build_config"), _sub(path, "build_config"))
    return obj


_LAMBDA_MESSAGE = (
    "this config holds a Python lambda as bytecode. layerlab never runs code from a config "
    "(it could do anything to your machine). Define the function in your own code and pass it "
    "by name: deserialize(config, custom_objects={'my_fn': my_fn}) with the function given as "
    "{'class_name': 'function', 'config': 'my_fn'}."
)


def _has_lambda(cfg: Any) -> bool:
    if not isinstance(cfg, dict):
        return False
    fn = cfg.get("function")
    if isinstance(fn, dict) and fn.get("class_name") == "__lambda__":
        return True
    return cfg.get("function_type") == "lambda" or cfg.get("output_shape_type") == "lambda"


def resolve_class(value: dict[str, Any], *, kind: str, path: str) -> Any:
    """The class a config dict names: custom_objects first (as Keras), then built-ins."""
    class_name = value["class_name"]
    custom = registry.custom_objects()
    has_reg = "registered_name" in value
    reg = value.get("registered_name")
    if custom and (not has_reg or reg is not None):
        for key in (reg, class_name, reg.split(">")[-1] if isinstance(reg, str) else None):
            if isinstance(key, str) and key in custom:
                return custom[key]
    cls = registry.lookup(kind, class_name)
    if cls is None:
        other = [k for k in registry.KINDS if k != kind and registry.lookup(k, class_name)]
        if other:
            raise ConfigError(_sub(path, "class_name"), f"{class_name!r} is {article(other[0])}, "
                              f"but {article(kind)} is expected here")
        module = value.get("module")
        err = registry.unknown_name(kind, class_name, _sub(path, "class_name"))
        if isinstance(module, str) and module.startswith("keras") and kind == "layer":
            raise ConfigError(err.path, f"{key_text(module)}.{key_text(class_name)} is not "
                              f"supported by layerlab (yet). {err.reason}")
        if isinstance(module, str) and module and not module.startswith("keras"):
            raise ConfigError(err.path, f"{err.reason} (The config names the module "
                              f"{excerpt(module, 40)}; layerlab never imports modules named in "
                              f"a config.)")
        raise err
    return cls


def instantiate(cls: Any, config: Any, path: str, kind: str) -> Any:
    if isinstance(cls, type) and issubclass(cls, Configurable):
        return cls.from_config(config, path=path)
    # The caller's own class (from custom_objects): Keras's from_config contract.
    if not isinstance(config, dict):
        raise ConfigError(path, f"expected a dict of settings, got {describe(config)}")
    try:
        if hasattr(cls, "from_config"):
            return cls.from_config(config)
        return cls(**config)
    except ConfigError:
        raise
    except TypeError as e:
        name = getattr(cls, "__name__", repr(cls))
        raise ConfigError(path, f"{name} could not be created from this config: {e}") from e


def _maybe_build(obj: Any, build_config: Any, path: str) -> None:
    if build_config is None or registry.current_format() == KERAS2:
        return
    if not isinstance(build_config, dict):
        raise ConfigError(path, f"expected {{'input_shape': [...]}}, got {describe(build_config)}")
    shape = build_config.get("input_shape")
    if shape is None or not hasattr(obj, "build_from_config"):
        return
    obj.build_from_config(build_config, path=path)


def serialize(obj: Any, format: str = KERAS3) -> Any:
    """The config dict real Keras writes for ``obj`` (``format`` 'keras3' or 'keras2')."""
    fmt = check_format(format)
    if obj is None:
        return None
    if hasattr(obj, "serialize") and not isinstance(obj, Configurable):
        return obj.serialize(fmt)
    if hasattr(obj, "keras_serialize"):  # models: their own top-level keys
        return obj.keras_serialize(fmt)
    if not hasattr(obj, "get_config"):
        raise TypeError(f"cannot serialize {describe(obj)}: it has no get_config()")
    cls = type(obj)
    if isinstance(obj, Configurable) and fmt not in cls.keras_formats:
        raise ValueError(f"{cls.__name__} does not exist in Keras 2; export it as keras3")
    config = obj.get_config(fmt) if isinstance(obj, Configurable) else obj.get_config()
    builtin = isinstance(obj, Configurable) and registry.lookup(
        cls.registry_kind or "layer", cls.__name__) is cls
    if fmt == KERAS2:
        return {"class_name": cls.__name__, "config": config}
    out: dict[str, Any] = {
        "module": cls.keras_module if builtin else cls.__module__,
        # Keras 3 writes the exported name for a few classes (GroupQueryAttention)
        "class_name": (builtin and cls.__dict__.get("keras3_class_name")) or cls.__name__,
        "config": config,
        "registered_name": None if builtin else cls.__name__,
    }
    build = getattr(obj, "get_build_config", None)
    if build is not None:
        bc = build()
        if bc is not None:
            out["build_config"] = bc
    return out
