"""The editor's model, apart from any view: config in, built layer and arrays out.

:class:`EditorState` holds the last good config, the draft the user is typing (which may be
invalid), the undo/redo history and the sample input. It talks to the engine only through
its public API (``deserialize``, ``serialize``, ``lookup``, ``names``, field specs).

Paths name a field's place within the layer's config: ``"units"``,
``"kernel_initializer.config.scale"``, ``"kernel_initializer.class_name"``; the layer
class itself is ``"class_name"``.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import engine
from engine import ConfigError
from engine.fields import Field
from engine.formats import KERAS2, KERAS3, normalize_format

from .sample import (
    DEFAULT_BATCH,
    MAX_SAMPLE_ELEMENTS,
    as_sample,
    batched,
    build_config_for,
    call_layer,
    candidate_shapes,
    make_sample,
    shape_of,
    shape_spec,
    shrink_note,
    takes_a_list,
)
from .snippet import python_snippet

#: kinds of object fields edited as a class with settings of its own (a nested sub-form)
NESTED_KINDS = ("initializer", "regularizer", "constraint", "layer")


def kind_of(f: Field) -> str:
    """What a field holds, which picks its control: an object field's registry kind
    ('initializer', 'activation', 'dtype', 'layer', ...), else the field's own kind ('int',
    'choice', 'factor', ...)."""
    return f.object_kind if f.kind == "object" else f.kind


#: undo steps kept (older ones are dropped, so memory stays flat in a long session)
MAX_HISTORY = 100


class EditError(Exception):
    """A change that could not be applied; ``path`` names the field (or ``""``)."""

    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass
class BuildResult:
    """A layer built from a config and run on the sample."""

    config: dict[str, Any]
    layer: Any
    inputs: Any
    outputs: list[np.ndarray] = field(default_factory=list)


# -- reading what the user gives ------------------------------------------------------------


def normalize_input(obj: Any) -> tuple[dict[str, Any], str, Any, Any]:
    """A config dict, JSON text or engine layer -> (config, format, shape spec, layer).

    The config returned is ``{'class_name': ..., 'config': {...}}`` without any
    ``build_config`` (the top one's shape, or shapes for a layer built from several
    inputs, is returned instead, as the sample's shape spec; nested layers' are dropped:
    the editor builds every layer afresh on its sample).
    """
    if isinstance(obj, engine.Layer):
        config = {"class_name": type(obj).__name__,
                  "config": without_build_configs(obj.get_config(KERAS3))}
        return config, KERAS3, shape_spec(obj.get_build_config(), "build_config"), obj
    if isinstance(obj, (str, bytes)):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError as e:
            raise ConfigError("config", f"expected JSON text of a layer config: {e}") from None
    if not isinstance(obj, dict):
        raise ConfigError("config", "LayerEditor takes a layer config dict, its JSON text or "
                          f"an engine layer, got {type(obj).__name__}")
    fmt = engine.detect_format(obj)
    bc = obj.get("build_config")
    shape = shape_spec(bc, "build_config") if isinstance(bc, dict) else None
    inner = obj.get("config") or {}
    if isinstance(inner, dict) and inner.get("batch_input_shape") is not None:
        shape = shape_spec(inner["batch_input_shape"], "config.batch_input_shape")
    cfg = {k: v for k, v in obj.items() if k in ("class_name", "config")}
    cfg.setdefault("config", {})
    return without_build_configs(copy.deepcopy(cfg)), fmt, shape, None


def without_build_configs(node: Any) -> Any:
    """A copy of a config without the ``build_config`` of nested layers (a Bidirectional's
    GRU saved built): the editor builds them on its own sample."""
    if isinstance(node, dict):
        return {k: without_build_configs(v) for k, v in node.items() if k != "build_config"}
    if isinstance(node, list):
        return [without_build_configs(v) for v in node]
    return node


def canonical(config: dict[str, Any], fmt: str) -> tuple[dict[str, Any], Any]:
    """Validate ``config``; return its full form (every key, in Keras's order) and the
    unbuilt layer. Raises ``ConfigError``."""
    if fmt == KERAS3 and "module" not in config:  # read it as Keras 3 even without a dtype
        config = {"module": "keras.layers", **config}
    layer = engine.deserialize(config)
    if not isinstance(layer, engine.Layer):
        raise ConfigError("class_name", "LayerEditor edits one layer; this config is a "
                          f"{type(layer).__name__}")
    if fmt not in type(layer).keras_formats:
        fmt = KERAS3
    return {"class_name": type(layer).__name__, "config": layer.get_config(fmt)}, layer


def with_seeds(config: Any, seed: int) -> Any:
    """A copy of ``config`` where every ``"seed": None`` becomes ``seed``, ``seed + 1``..."""
    counter = iter(range(seed, seed + 10_000))

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                out[k] = next(counter) if (k == "seed" and v is None) else walk(v)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(config)


# -- paths ------------------------------------------------------------------------------------


def get_path(config: dict[str, Any], path: str) -> Any:
    """The value at ``path`` in the layer config ``{'class_name', 'config'}``."""
    if path == "class_name":
        return config["class_name"]
    node: Any = config["config"]
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node


def set_path(config: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``config`` with ``value`` at ``path``. A ``class_name`` part switches a
    class and carries over the settings the new class also has."""
    out = copy.deepcopy(config)
    if path == "class_name":
        return switch_class(out, value, kind="layer")
    parts = path.split(".")
    switch = parts[-1] == "class_name"
    if switch:
        parts = parts[:-1]
    parent: Any = out["config"]
    for i, part in enumerate(parts[:-1]):
        nxt = parent.get(part) if isinstance(parent, dict) else None
        if not isinstance(nxt, dict):
            where = ".".join(parts[: i + 1])
            what = "None" if nxt is None else "not a class with settings"
            raise EditError(where, f"{where} is {what}; choose its class before setting "
                            f"{path}")
        parent = nxt
    if not isinstance(parent, dict):
        raise EditError(path, f"no field {path!r} in this config")
    last = parts[-1]
    if switch:
        kind = _nested_kind_at(config, ".".join(parts))
        parent[last] = switch_class(parent.get(last), value, kind=kind)
    else:
        parent[last] = copy.deepcopy(value)
    return out


def _without(config: dict[str, Any], path: str) -> dict[str, Any]:
    """A copy of ``config`` without the key at ``path`` (an unknown key that was set)."""
    out = copy.deepcopy(config)
    node = out["config"]
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[part]
    node.pop(parts[-1], None)
    return out


def _nested_kind_at(config: dict[str, Any], path: str) -> str:
    """The registry kind of the object field at ``path`` (``"initializer"`` if unknown)."""
    spec = field_at(config, path)
    kind = None if spec is None else kind_of(spec)
    return kind if kind in NESTED_KINDS else "initializer"


def field_at(config: dict[str, Any], path: str) -> Field | None:
    """The field spec at ``path`` (``kernel_initializer.config.scale`` -> VarianceScaling's
    ``scale``; ``kernel_initializer.class_name`` -> ``kernel_initializer``), or None."""
    cls = engine.lookup("layer", config.get("class_name", ""))
    node: Any = config.get("config", {})
    parts = path.split(".")
    spec: Field | None = None
    i = 0
    while i < len(parts):
        if cls is None:
            return None
        spec = next((f for f in cls.all_fields() if parts[i] in _keys(f)), None)
        if spec is None:
            return None
        node = node.get(parts[i]) if isinstance(node, dict) else None
        if i + 1 == len(parts) or parts[i + 1] == "class_name":
            return spec
        if parts[i + 1] != "config" or not isinstance(node, dict):
            return None
        name = node.get("class_name")
        nested = isinstance(name, str) and kind_of(spec) in NESTED_KINDS
        cls = engine.lookup(kind_of(spec), name) if nested else None
        node = node.get("config")
        i += 2
    return spec


def switch_class(old: dict[str, Any] | None, class_name: Any, *, kind: str) -> Any:
    """``{'class_name': class_name, 'config': carried}``: settings of ``old`` that the new
    class also has, and a value for each required field it lacks."""
    if class_name is None:
        return None
    cls = engine.lookup(kind, class_name)
    if cls is None:
        raise EditError("class_name", f"unknown {kind} {class_name!r}")
    old_cfg = (old or {}).get("config") or {}
    carried: dict[str, Any] = {}
    for f in cls.all_fields():
        if kind == "layer" and f.name in ("name", "batch_input_shape"):
            continue
        old_key = next((k for k in _keys(f) if k in old_cfg), None)
        if old_key is not None and _accepts(f, old_cfg[old_key]):
            carried[f.name] = copy.deepcopy(old_cfg[old_key])
        elif f.required:
            carried[f.name] = placeholder(f)
    return {"class_name": class_name, "config": carried}


def _keys(f: Field) -> tuple[str, ...]:
    """Every config key of a field: its name, per-format names, aliases."""
    return (f.name, *f.names.values(), *f.aliases)


def _accepts(f: Field, value: Any) -> bool:
    try:
        f.validate(value, f.name)
    except (ConfigError, TypeError, ValueError):
        return False
    return True


def placeholder(f: Field) -> Any:
    """A value for a required field when switching to a class that needs one."""
    kind = kind_of(f)
    value = _GUESSES.get(kind)
    if kind == "choice" and f.choices:
        value = f.choices[0]
    if kind in ("int_tuple", "odd_sizes") and f.length:
        value = [value] * f.length
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low = getattr(f, "number_min", f.min)  # a factor's bare number has its own minimum
        if low is not None and value < low:
            value = type(value)(low + (1 if f.min_open else 0))
        if f.max is not None and (value > f.max or (f.max_open and value >= f.max)):
            high = f.max
            value = type(value)(high - 1 if f.max_open else high) if isinstance(value, int) \
                else float(high) / 2 if f.max_open and high > 0 >= (low or 0) else \
                type(value)(high)
    return value


#: a required field's value, by kind, when switching to a class that needs one
_GUESSES: dict[str, Any] = {
    "int": 32, "float": 1.0, "bool": False, "str": "", "seed": 0, "int_tuple": 3,
    "shape": [8], "axis": -1, "json": None, "activation": "linear",
    "initializer": "glorot_uniform", "factor": 0.1, "value_range": [0, 255], "odd_sizes": 3,
    "number_or_list": 1.0, "number_list": [0.0]}


def error_field(path: str) -> str:
    """An engine error path (``config.kernel_size[1]``) -> a field path
    (``kernel_size``)."""
    p = re.sub(r"\[\d+\]", "", path or "")
    if p.startswith("config."):
        p = p[len("config."):]
    elif p == "config":
        p = ""
    if p == "class_name":
        return "class_name"
    return p


# -- the state --------------------------------------------------------------------------------


class EditorState:
    """Good config, draft, history and sample of one edited layer.

    Args:
        config_or_layer: a config dict in either Keras format, its JSON text, or an engine
            layer.
        input_shape: the sample's shape (a None batch becomes ``DEFAULT_BATCH``), or a
            list of shapes for a layer of several inputs (``[(None, 4), (None, 4)]``).
        sample: the user's own input array, or a list of arrays (overrides
            ``input_shape``).
        seed: seed of the sample and, while ``fixed_seed`` is on, of every initializer
            whose config seed is None.
    """

    def __init__(self, config_or_layer: Any, input_shape: Any = None, sample: Any = None,
                 seed: int | None = 0):
        cfg, fmt, shape_hint, layer = normalize_input(config_or_layer)
        self.format = fmt
        self.fixed_seed = seed is not None
        self.seed = 0 if seed is None else int(seed)
        self.user_sample = as_sample(sample)
        self.user_shape = shape_spec(input_shape)
        self._hint_shape = shape_hint
        self._shape_cache: dict[Any, tuple[int, ...]] = {}
        self._samples: dict[Any, Any] = {}
        self.original, _ = canonical(cfg, fmt)
        self.original_layer = layer if layer is not None and layer.built else None
        self.undo_stack: list[dict[str, Any]] = []
        self.redo_stack: list[dict[str, Any]] = []
        #: why the first build could not run (the form still opens), else None
        self.initial_error: str | None = None
        try:
            self.result = self.build(self.original, reuse=self.original_layer)
        except (EditError, ConfigError) as e:  # the config is valid; running it failed
            self.initial_error = e.message if isinstance(e, EditError) else str(e)
            self.result = BuildResult(self.original, engine.deserialize(
                copy.deepcopy(self.original)), None, [])
        self.good = self.result.config
        self.draft = copy.deepcopy(self.good)

    # -- building -------------------------------------------------------------------------
    def build(self, config: dict[str, Any], reuse: Any = None) -> BuildResult:
        """Validate, build and run ``config``. Raises ``ConfigError`` or ``EditError``."""
        full, _ = canonical(config, self.format)
        if reuse is not None:
            x, _shape = self._sample_for(full, reuse)
            return BuildResult(full, reuse, x, call_layer(reuse, x))
        run = with_seeds(full, self.seed) if self.fixed_seed else full
        layer = engine.deserialize(copy.deepcopy(run))
        x, shape = self._sample_for(full, layer)
        try:
            try:
                outputs = call_layer(layer, x)
            except ConfigError:
                raise
            except Exception:
                # the user's shape was for the original class: another class gets its own
                if full["class_name"] == self.original["class_name"] or \
                        self.user_sample is not None or self.user_shape is None:
                    raise
                layer = engine.deserialize(copy.deepcopy(run))
                x, shape = self._sample_for(full, layer, infer=True)
                outputs = call_layer(layer, x)
        except ConfigError:
            raise
        except Exception as e:  # any runtime failure is shown, never raised to the user
            raise EditError("", f"{type(e).__name__} running {full['class_name']} on an "
                            f"input of shape {_shape_text(x)}: {e}") from None
        return BuildResult(full, layer, x, outputs)

    def input_shape_for(self, config: dict[str, Any], infer: bool = False) -> Any:
        """The sample shape (batch included; a list of shapes for several inputs) for
        ``config`` (``infer``: ignore the user's ``input_shape``)."""
        if self.user_sample is not None:
            return shape_of(self.user_sample)
        spec = self._requested_shape(config, infer)
        if spec is not None:
            return batched(spec)
        key = (config["class_name"], (config.get("config") or {}).get("data_format"))
        if key not in self._shape_cache:
            self._shape_cache[key] = self._infer(config)
        return self._shape_cache[key]

    def _requested_shape(self, config: dict[str, Any], infer: bool = False) -> Any:
        """The shape spec the sample follows, before its batch is bounded: the user's
        ``input_shape``, else the config's own (for the class it was given for); None when
        the shape is inferred from the class."""
        if self.user_shape is not None and not infer:
            return self.user_shape
        if self._hint_shape is not None and config["class_name"] == self.original["class_name"]:
            return self._hint_shape
        return None

    def sample_note(self, config: dict[str, Any]) -> str:
        """In words, when the sample's batch was shrunk to keep it under
        MAX_SAMPLE_ELEMENTS values (else '')."""
        spec = None if self.user_sample is not None else self._requested_shape(config)
        if spec is None:
            return ""
        try:
            return shrink_note(spec, batched(spec))
        except engine.BudgetError:  # one example too big: the build's error says so
            return ""

    def _infer(self, config: dict[str, Any]) -> tuple[int, ...]:
        tried = []
        for shape in candidate_shapes(config):
            full = (2, *shape)
            try:
                layer = engine.deserialize(copy.deepcopy(with_seeds(config, 0)))
                call_layer(layer, make_sample(layer, full, 0))
            except Exception:  # noqa: S112 - a candidate that does not fit: try the next
                tried.append(shape)
                continue
            return (DEFAULT_BATCH, *shape)
        raise EditError("", f"could not find an input {config['class_name']} accepts (tried "
                        f"{', '.join(str(('batch', *s)) for s in tried)}); give one with "
                        f"LayerEditor(..., input_shape=...) or sample=...")

    def _sample_for(self, config: dict[str, Any], layer: Any,
                    infer: bool = False) -> tuple[Any, tuple[int, ...]]:
        if self.user_sample is not None:
            return self.user_sample, shape_of(self.user_sample)
        shape = self.input_shape_for(config, infer)
        vocabulary = getattr(layer, "get_vocabulary", None)  # a text sample uses its tokens
        key = (repr(shape), takes_a_list(layer),
               layer.values.get("input_dim")
               if not getattr(type(layer), "autocast", True) else None,
               hash(tuple(vocabulary())) if vocabulary is not None else None)
        if key not in self._samples:
            if len(self._samples) > 8:
                self._samples.clear()
            self._samples[key] = make_sample(layer, shape, self.seed)
        return self._samples[key], shape

    # -- edits ----------------------------------------------------------------------------
    def try_set(self, path: str, value: Any) -> BuildResult:
        """Apply ``value`` at ``path`` to the draft and build it; commits on success.

        Raises ``ConfigError``/``EditError`` (the draft keeps the bad value)."""
        draft = set_path(self.draft, path, value)
        self.draft = draft
        return self.rebuild()

    def rebuild(self) -> BuildResult:
        """Build the draft; on success it becomes the good config (one undo step)."""
        result = self.build(self.draft)
        if result.config != self.good:
            self.undo_stack.append(self.good)
            del self.undo_stack[:-MAX_HISTORY]
            self.redo_stack.clear()
        self._commit(result)
        return result

    def _commit(self, result: BuildResult) -> None:
        self.result = result
        self.good = result.config
        self.draft = copy.deepcopy(result.config)

    @property
    def dirty(self) -> bool:
        """The draft holds an edit that did not build."""
        return self.draft != self.good

    def revert(self, path: str) -> None:
        """Put the good value back at ``path`` in the draft."""
        if path.endswith(".class_name"):  # the whole object, settings included
            path = path[: -len(".class_name")]
        try:
            good = get_path(self.good, path)
        except KeyError:
            try:
                self.draft = _without(self.draft, path)
            except (KeyError, TypeError):
                self.discard_draft()
            return
        try:
            self.draft = set_path(self.draft, path, good) if path != "class_name" else \
                copy.deepcopy(self.good)
        except EditError:
            self.discard_draft()

    def discard_draft(self) -> None:
        self.draft = copy.deepcopy(self.good)

    def undo(self) -> BuildResult | None:
        if self.dirty:
            self.discard_draft()
            return self.result
        if not self.undo_stack:
            return None
        result = self.build(self.undo_stack[-1])  # a failed build keeps the entry
        self.undo_stack.pop()
        self.redo_stack.append(self.good)
        self._commit(result)
        return result

    def redo(self) -> BuildResult | None:
        if not self.redo_stack:
            return None
        result = self.build(self.redo_stack[-1])  # a failed build keeps the entry
        self.redo_stack.pop()
        self.undo_stack.append(self.good)
        self._commit(result)
        return result

    def reset(self) -> BuildResult:
        self.draft = copy.deepcopy(self.original)
        return self.rebuild()

    def set_sample(self, input_shape: Any = None, sample: Any = None) -> BuildResult:
        """A new sample shape or array; the layer is rebuilt for it."""
        old = (self.user_shape, self.user_sample)
        self.user_shape = shape_spec(input_shape)
        self.user_sample = as_sample(sample)
        try:
            result = self.build(self.good)
        except Exception:
            self.user_shape, self.user_sample = old
            raise
        self._commit(result)
        return result

    def adopt(self, weights: Any) -> BuildResult:
        """Run the current config with given weights: ``weights`` are arrays in
        ``get_weights()`` order, or a layer whose weights to take. The config, the
        history and a layer the editor was opened on are left as they are; the next edit
        builds afresh. Raises EditError (wrong count or shapes, named)."""
        if isinstance(weights, engine.Layer):
            weights = weights.get_weights()
        try:
            arrays = [np.asarray(w) for w in weights]
        except TypeError:
            raise EditError("", f"adopt_weights: expected a list of arrays or a layer, got "
                            f"{type(weights).__name__}") from None
        fresh = self.build(self.good)  # a layer of our own: the user's is never written
        try:
            fresh.layer.set_weights(arrays)
        except (engine.WeightsError, ValueError, TypeError) as e:
            raise EditError("", f"adopt_weights: {e}") from None
        result = BuildResult(fresh.config, fresh.layer, fresh.inputs,
                             call_layer(fresh.layer, fresh.inputs))
        self.result = result
        return result

    def set_seed(self, fixed: bool, seed: int) -> BuildResult:
        self.fixed_seed, self.seed = bool(fixed), int(seed)
        self._samples.clear()
        result = self.build(self.good)
        self._commit(result)
        return result

    # -- export ---------------------------------------------------------------------------
    def export(self, fmt: str) -> str:
        """The current config as ``keras3``/``keras2`` JSON (any spelling
        ``normalize_format`` takes), or a ``python`` snippet."""
        layer = engine.deserialize(copy.deepcopy(self.good))
        if fmt == "python":
            return python_snippet(layer)
        fmt = normalize_format(fmt)
        shape = self.result.inputs
        out = engine.serialize(layer, format=fmt)
        if fmt == KERAS3 and shape is not None:
            out["build_config"] = build_config_for(self.result.layer, shape)
        return json.dumps(out, indent=2)


def _shape_text(x: Any) -> str:
    shape = shape_of(x)
    return str(tuple(shape[0])) if isinstance(shape, list) and len(shape) == 1 else str(shape)


__all__ = ["EditorState", "EditError", "BuildResult", "python_snippet", "get_path",
           "DEFAULT_BATCH", "MAX_SAMPLE_ELEMENTS", "normalize_input", "without_build_configs",
           "set_path", "field_at", "error_field", "KERAS2", "KERAS3"]
