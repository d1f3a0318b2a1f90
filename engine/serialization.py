"""deserialize / serialize: Keras 2 and Keras 3 config dicts in, either format out.

All name resolution lives here. A config is data: classes and functions are found through
the engine's registry (built-ins) and the caller's ``custom_objects`` only; a ``module`` key
is never imported, and nothing in a config is evaluated, unpickled or unmarshalled.
"""

from __future__ import annotations

import contextvars
from typing import Any

from . import registry
from .budget import (
    DEFAULT_MAX_ACTIVATION_BYTES,
    DEFAULT_MAX_WEIGHT_BYTES,
    DEFAULT_MAX_WEIGHT_ELEMENTS,
    MAX_CONFIG_DEPTH,
    Budget,
    current_budget,
    make_budget,
    reset_budget,
    set_budget,
    weight_budget,
)
from .errors import (
    BudgetError,
    ConfigError,
    UnsafeConfigError,
    WeightsError,
    article,
    close_names,
    describe,
    excerpt,
    key_text,
)
from .formats import KERAS2, KERAS3, normalize_format

__all__ = ["deserialize", "serialize", "deserialize_object", "get_object", "detect_format",
           "resolve_class", "DEFAULT_MAX_WEIGHT_ELEMENTS", "DEFAULT_MAX_WEIGHT_BYTES",
           "DEFAULT_MAX_ACTIVATION_BYTES", "weight_budget", "current_budget", "check_depth"]

#: shared_object_id -> (class_name, config, path) of its first use, in one deserialize call
_shared: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "layerlab_shared_objects", default=None)

_TOP_KEYS = {"class_name", "config", "module", "registered_name", "build_config",
             "compile_config", "shared_object_id", "name", "inbound_nodes", "keras_version",
             "backend"}


def is_engine_class(cls: Any) -> bool:
    """A class declared with the engine's fields (built-in or a user's subclass)."""
    return isinstance(cls, type) and hasattr(cls, "all_fields") and hasattr(cls, "registry_kind")


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
    max_weight_bytes: int | None = None,
    max_activation_bytes: int | None = None,
    budget: Budget | None = None,
    max_weight_elements: int | None = None,
    max_layers: int | None = None,
    max_nodes: int | None = None,
) -> Any:
    """Create a layer (or model) from its config, like ``tf.keras.layers.deserialize``.

    Args:
        config: ``{'class_name': ..., 'config': {...}}`` in the Keras 2 form, or the Keras 3
            form with ``module``, ``registered_name`` and ``build_config``. Keys left out of
            ``config`` take Keras's defaults. A Keras 3 ``build_config`` builds the layer.
        custom_objects: name -> your own class or function, as in Keras.
        max_weight_bytes: the most bytes the weights and constants of everything this
            config makes may take together (default ``DEFAULT_MAX_WEIGHT_BYTES``, 1 GiB;
            float64 weights count twice float32). Over it: a ``BudgetError`` before
            anything is allocated.
        max_activation_bytes: the most bytes one layer call's output may take (default
            ``DEFAULT_MAX_ACTIVATION_BYTES``, 1 GiB), checked from the shapes before the
            layer runs, for the lifetime of the layer.
        budget: an ``engine.budget.Budget`` instead of the keywords (shared by several
            calls, or with ``max_init_flops``).
        max_weight_elements: deprecated element count for the whole config.
        max_layers: the most layers the config may list, nested models included (default
            ``DEFAULT_MAX_LAYERS``, 10,000); counted before any layer is made.
        max_nodes: the most nodes (layer calls) of its functional models (default
            ``DEFAULT_MAX_NODES``, 10,000).

    Returns:
        The layer.

    Raises:
        ConfigError: the message starts with the path of the bad field; also for lists
            or dicts nested deeper than ``MAX_CONFIG_DEPTH`` (64), layers inside layers
            deeper than ``MAX_LAYER_DEPTH`` (16), and a config that contains itself.
        BudgetError: the weights, a constant or an output would pass the budget, or the
            config lists more layers or nodes than ``max_layers`` / ``max_nodes``.
        UnsafeConfigError: the config holds code (a Lambda's bytecode).

    Example:
        >>> layer = deserialize({'class_name': 'Dense', 'config': {'units': 8}})
        >>> layer.build((None, 4)); layer.kernel.shape
        (4, 8)
    """
    if is_engine_class(type(config)):
        return config
    if not isinstance(config, dict):
        hint = ""
        if isinstance(config, str):
            hint = (f"; for a class name use {{'class_name': {excerpt(config, 40)}, "
                    f"'config': {{...}}}}, for JSON text use json.loads first")
        raise ConfigError("config", f"expected a dict with 'class_name' and 'config', got "
                          f"{describe(config)}{hint}")
    the_budget = make_budget(budget, max_weight_bytes=max_weight_bytes,
                             max_activation_bytes=max_activation_bytes,
                             max_weight_elements=max_weight_elements,
                             max_layers=max_layers, max_nodes=max_nodes)
    check_depth(config)
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise ConfigError("custom_objects", f"expected a dict of name -> class or function, "
                          f"got {describe(custom_objects)}")
    fmt = detect_format(config)
    t_budget = set_budget(the_budget)
    t_shared = _shared.set({})
    t_custom = registry.push_custom_objects(custom_objects) if custom_objects else None
    try:
        with the_budget.deferring():
            return deserialize_object(config, kind="layer", path="", fmt=fmt)
    except RecursionError as e:  # a backstop: check_depth bounds the nesting first
        raise ConfigError("config", f"nested too deeply to read (the limits are "
                          f"MAX_CONFIG_DEPTH={MAX_CONFIG_DEPTH} levels of lists and dicts)"
                          ) from e
    except MemoryError as e:  # a backstop: the budget is checked before allocating
        raise BudgetError("config", "out of memory while reading the config; lower its "
                          "sizes or the budget keywords") from e
    finally:
        if t_custom is not None:
            registry.pop_custom_objects(t_custom)
        reset_budget(t_budget)
        _shared.reset(t_shared)


def _sub(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_CONTAINERS = (dict, list, tuple)


class _TooDeep(Exception):
    pass


def _walk(item: Any, left: int, seen: dict[int, int]) -> None:
    # ``seen``: id -> the least depth budget a container passed with (a dict shared many
    # times, as Python code can build, is walked once per budget, not once per path)
    if not left:
        raise _TooDeep
    for v in (item.values() if isinstance(item, dict) else item):
        if isinstance(v, _CONTAINERS):
            if seen.get(id(v), left) < left:
                continue  # passed already with a smaller budget
            _walk(v, left - 1, seen)
            seen[id(v)] = left - 1


def check_depth(value: Any, path: str = "", limit: int = MAX_CONFIG_DEPTH) -> None:
    """Refuse dicts and lists nested deeper than ``limit``, and a config that contains
    itself, with a ConfigError naming where (checked before anything else reads the config,
    so no RecursionError can come from it later)."""
    if not isinstance(value, _CONTAINERS):
        return
    try:  # the common case, a config within the limit: a walk at most ``limit`` calls deep
        _walk(value, limit, {})
        return
    except (_TooDeep, RecursionError):  # find where, without recursion
        pass
    _check_depth_iteratively(value, path, limit)


def _check_depth_iteratively(value: Any, path: str, limit: int) -> None:
    # nodes: (item, parent node, key); the stack holds (node index, depth). The path and
    # any cycle are worked out only for an error (a cycle always ends in the depth limit).
    containers = _CONTAINERS
    nodes: list[tuple[Any, int, Any]] = [(value, -1, None)]
    stack = [(0, 0)]
    while stack:
        index, depth = stack.pop()
        item = nodes[index][0]
        if depth >= limit:
            _refuse_depth(nodes, index, path, limit)
        items = item.items() if isinstance(item, dict) else enumerate(item)
        for k, v in items:
            if isinstance(v, containers):
                nodes.append((v, index, k))
                stack.append((len(nodes) - 1, depth + 1))


def _refuse_depth(nodes: list[tuple[Any, int, Any]], index: int, path: str,
                  limit: int) -> None:
    chain = []
    while index >= 0:
        chain.append(nodes[index])
        index = nodes[index][1]
    chain.reverse()
    keys = [key for _, _, key in chain[1:]]
    seen: set[int] = set()
    for n, (item, _, _) in enumerate(chain):
        if id(item) in seen:
            raise ConfigError(_trail_path(path, keys[:n]) or "config", "the config contains "
                              "itself (a cycle); a config is a tree of plain values")
        seen.add(id(item))
    where = _trail_path(path, keys)
    shown = where if len(where) <= 160 else f"{where[:70]}...{where[-70:]}"
    raise ConfigError(shown or "config", f"lists and dicts nested more than {limit} "
                      f"deep (the most a config may have: MAX_CONFIG_DEPTH)")


def _trail_path(path: str, trail: Any) -> str:
    out = path
    for k in trail:
        out = f"{out}[{k}]" if isinstance(k, int) else _sub(out, key_text(k))
    return out


def deserialize_object(value: Any, *, kind: str, path: str, fmt: str | None = None) -> Any:
    """One ``{'class_name', 'config', ...}`` dict of ``kind`` -> the object.

    ``fmt`` is the format the config is in (detected from it when None).
    """
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
    if "shared_object_id" in value:
        _check_shared(value, class_name, path)
    if fmt is None:
        fmt = detect_format(value) if kind == "layer" else KERAS3
    from_dict = registry.hook(kind, "from_dict")
    if from_dict is not None:
        return from_dict(value, path, fmt)
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
    obj = instantiate(cls, cfg, _sub(path, "config"), kind, fmt)
    if kind == "layer" and fmt == KERAS3:
        _maybe_build(obj, value.get("build_config"), _sub(path, "build_config"))
    return obj


def _check_shared(value: dict[str, Any], class_name: str, path: str) -> None:
    """Every use of a ``shared_object_id`` names the same class with the same config."""
    sid = value["shared_object_id"]
    where = _sub(path, "shared_object_id")
    if isinstance(sid, bool) or not isinstance(sid, int):
        raise ConfigError(where, f"expected an int, got {describe(sid)}")
    seen = _shared.get()
    if seen is None:
        return
    first = seen.get(sid)
    if first is None:
        seen[sid] = (class_name, value.get("config"), path or "config")
        return
    if first[0] != class_name or first[1] != value.get("config"):
        raise ConfigError(where, f"{sid} was first used at {first[2]} for {excerpt(first[0])} "
                          f"with another config; every use of a shared object must repeat "
                          f"its class and config")


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
    if reg is not None and reg != class_name and reg not in getattr(
            registry.lookup(kind, class_name), "keras_registered_names", ()):
        # Keras writes None (or the class name) for built-ins; any other registered name is
        # a custom class, which only custom_objects can supply
        if not isinstance(reg, str):
            raise ConfigError(_sub(path, "registered_name"), f"expected a string or None, "
                              f"got {describe(reg)}")
        raise ConfigError(_sub(path, "registered_name"), f"{excerpt(reg, 60)} is neither a "
                          f"built-in {kind} nor in custom_objects; pass your class as "
                          f"deserialize(config, custom_objects={{{excerpt(reg, 60)}: ...}})")
    cls = registry.lookup(kind, class_name)
    if cls is None:
        other = [k for k in registry.KINDS if k != kind and registry.lookup(k, class_name)]
        if other:
            raise ConfigError(_sub(path, "class_name"), f"{class_name!r} is {article(other[0])}, "
                              f"but {article(kind)} is expected here")
        module = value.get("module")
        err = unknown_name(kind, class_name, _sub(path, "class_name"))
        if isinstance(module, str) and module.startswith("keras") and kind == "layer":
            raise ConfigError(err.path, f"{key_text(module)}.{key_text(class_name)} is not "
                              f"supported by layerlab (yet). {err.reason}")
        if isinstance(module, str) and module and not module.startswith("keras"):
            raise ConfigError(err.path, f"{err.reason} (The config names the module "
                              f"{excerpt(module, 40)}; layerlab never imports modules named in "
                              f"a config.)")
        raise err
    return cls


def instantiate(cls: Any, config: Any, path: str, kind: str, fmt: str = KERAS3) -> Any:
    """``cls`` made from its ``config`` (read in format ``fmt``)."""
    if is_engine_class(cls):
        return cls.from_config(config, path=path, fmt=fmt)
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
    if build_config is None:
        return
    if not isinstance(build_config, dict):
        raise ConfigError(path, f"expected {{'input_shape': [...]}}, got {describe(build_config)}")
    if build_config.get("input_shape") is None and build_config.get("shapes_dict") is None:
        return
    if not hasattr(obj, "build_from_config"):
        return
    try:
        obj.build_from_config(build_config, path=path)
    except (ConfigError, WeightsError):
        raise
    except (IndexError, TypeError, ValueError, KeyError, AttributeError) as e:
        # a backstop: a shape the layer's build cannot take (an empty one, a wrong rank)
        raise ConfigError(path, f"{type(obj).__name__} cannot be built from this "
                          f"build_config ({type(e).__name__}: {excerpt(str(e), 200)}); give "
                          f"the input shape the layer takes, e.g. [null, 8]") from e


# -- an identifier of a kind -> an object ----------------------------------------------------

#: kinds where Keras also takes a plain callable given in Python
_CALLABLE_KINDS = ("initializer", "regularizer", "constraint")


def get_object(kind: str, value: Any, path: str, fmt: str = KERAS3) -> Any:
    """Resolve ``value`` (alias string, config dict or instance) to an object of ``kind``,
    as Keras's ``get()`` does; ``fmt`` is the format of the config it comes from."""
    if isinstance(value, str):
        from_string = registry.hook(kind, "from_string")
        if from_string is not None:
            return from_string(value, path, fmt)
        return object_from_string(kind, value, path, fmt)
    if isinstance(value, dict):
        return deserialize_object(value, kind=kind, path=path, fmt=fmt)
    from_other = registry.hook(kind, "from_other")
    if from_other is not None:
        return from_other(value, path)
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


def object_from_string(kind: str, name: str, path: str, fmt: str = KERAS3) -> Any:
    """A name (custom_objects first, then built-in names and aliases) -> a new object."""
    found = registry.custom_objects().get(name)
    if found is None:
        found = registry.lookup(kind, name)
    if found is None:
        raise unknown_name(kind, name, path)
    return instantiate(found, {}, path, kind, fmt)


def unknown_name(kind: str, name: str, path: str) -> ConfigError:
    """The error for a name that is neither built-in nor in custom_objects."""
    pool = registry.all_names(kind) + list(registry.custom_objects())
    hint = close_names(name, pool)
    near = f" Close names: {', '.join(hint)}." if hint else ""
    shown = excerpt(name, 60)
    return ConfigError(
        path,
        f"unknown {kind} {shown}.{near} If it is your own "
        f"{'class' if kind != 'activation' else 'function'}, pass it in custom_objects, "
        f"e.g. deserialize(config, custom_objects={{{shown}: ...}}).",
    )


def serialize(obj: Any, format: str | None = None) -> Any:
    """The config dict real Keras writes for ``obj``: in ``format`` ('keras3' or 'keras2'),
    or by default in the format ``obj`` was read in (Keras 3 for one made in Python)."""
    if obj is None:
        return None
    cls = type(obj)
    engine_obj = is_engine_class(cls)
    if format is None:
        fmt = getattr(obj, "source_format", KERAS3) if engine_obj else KERAS3
    else:
        fmt = normalize_format(format)
    if hasattr(obj, "serialize") and not engine_obj:
        return obj.serialize(fmt)
    if hasattr(obj, "keras_serialize"):  # models: their own top-level keys
        return obj.keras_serialize(fmt)
    if not hasattr(obj, "get_config"):
        raise TypeError(f"cannot serialize {describe(obj)}: it has no get_config()")
    if engine_obj and fmt not in cls.keras_formats:
        raise ValueError(f"{cls.__name__} does not exist in Keras 2; export it as keras3")
    config = obj.get_config(fmt) if engine_obj else obj.get_config()
    builtin = engine_obj and registry.lookup(cls.registry_kind or "layer", cls.__name__) is cls
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
