"""The ModelEditor's state, without widgets: the model, its seeded sample, per-layer
statistics and flags, edits in place with undo/redo/reset, and the downstream recompute.

An edit replaces one layer's config entry in the model's config, builds the new model without
running initializers and fills its weights: every layer whose weight shapes did not change
keeps its arrays (shared, not copied); the edited layer keeps its weights too unless an
initializer changed or its shapes changed (then it is re-initialized, seeded); a downstream
layer whose shapes changed is re-initialized (seeded) and reported. Only the part of the
model downstream of the edit is run again: its config is cut off below the edited layer and
fed the activations kept from the last pass (see :mod:`widget.model_graph`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import engine
from engine import ConfigError

from .model_graph import CUT_PREFIX, ConfigGraph, ref_value
from .model_sample import make_sample, open_model
from .model_sample import seeded as seeded_config
from .model_stats import activation_name, flags_for, layer_stats, predicted_std

#: activations are kept for the downstream recompute while their total stays below this
#: many elements; above it every edit reruns the whole model
MAX_KEPT_ELEMENTS = 64_000_000
MAX_HISTORY = 50
SEP = "/"


def leaf_layers(model: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(path, layer) of every layer, nested models flattened (``outer/inner``), models
    themselves included before their layers."""
    out = []
    for layer in model.layers:
        path = prefix + layer.name
        out.append((path, layer))
        if isinstance(layer, engine.Model):
            out.extend(leaf_layers(layer, path + SEP))
    return out


def _weights_of(layer: Any) -> list[Any]:
    return [] if isinstance(layer, engine.Model) else list(layer.weights)


def _shapes(layer: Any) -> list[tuple[int, ...]]:
    return [tuple(w.shape) for w in _weights_of(layer)]


def _without_build_configs(config: dict[str, Any]) -> dict[str, Any]:
    """The model config with its layers' ``build_config`` dropped (their input shapes are
    inferred from the graph again, so a shape change upstream reaches them). Entries are
    copied where they change, never changed in place."""
    layers = []
    for entry in config["config"].get("layers") or []:
        if entry.get("class_name") != "InputLayer" and "build_config" in entry:
            entry = {k: v for k, v in entry.items() if k != "build_config"}
        if isinstance((entry.get("config") or {}).get("layers"), list):
            entry = _without_build_configs(entry)
        layers.append(entry)
    return {**config, "config": {**config["config"], "layers": layers}}


def _masks(config: Any) -> bool:
    """Whether a model config makes masks (Masking, ``mask_zero``): they do not cross a
    cut, so such a model is rerun whole."""
    if isinstance(config, dict):
        if config.get("class_name") == "Masking" or config.get("mask_zero") is True:
            return True
        return any(_masks(v) for v in config.values())
    if isinstance(config, list):
        return any(_masks(v) for v in config)
    return False


def _init_keys(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (cfg.get("config") or {}).items() if k.endswith("_initializer")}


@dataclass
class Pass:
    """One forward pass's results: statistics by flattened layer name, kept activations."""

    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    trace: dict[str, Any] | None = None


class ModelRef:
    """A model that may not exist yet: after an edit, the downstream part is a cut model
    (``sub``, already run) and the rest is the model before the edit (``base``); the whole
    model is built (without initializers, weights shared) only when asked for."""

    def __init__(self, config: dict[str, Any], model: Any = None, base: ModelRef | None = None,
                 sub: Any = None, units: Any = (), custom_objects: Any = None):
        self.config, self.model, self.base, self.sub = config, model, base, sub
        self.units = set(units)
        self.custom_objects = custom_objects

    def get(self) -> Any:
        if self.model is None:
            with engine.build_without_initializers():
                model = engine.deserialize(self.config, self.custom_objects)
            for path, layer in leaf_layers(model):
                for w, v in zip(_weights_of(layer), _weights_of(self.layer(path))):
                    w.assign(v.value)
            self.model, self.base, self.sub = model, None, None
        return self.model

    def layer(self, path: str) -> Any:
        parts = path.split(SEP)
        if self.model is not None:
            model = self.model
        elif parts[0] in self.units:
            model = self.sub
        else:
            return self.base.layer(path)  # type: ignore[union-attr]
        for part in parts:
            model = model.get_layer(part)
        return model

    def get_layer(self, name: str) -> Any:
        return self.layer(name)


@dataclass
class Snapshot:
    ref: ModelRef
    config: dict[str, Any]
    unit: str | None  # top-level layer the step changed (recompute from there)


class ModelState:
    """The model being edited, its sample, statistics and history (no widgets).

    Args:
        model_or_path_or_config: an engine model, a path, a config dict or JSON text.
        sample: your input (an array, or a list for several inputs); else a seeded one.
        input_shape: the input shape for the automatic sample, e.g. ``(None, 32)``.
        seed: seed of the sample and of every re-initialization.
        custom_objects: passed to ``engine.load`` / ``engine.deserialize``.
    """

    def __init__(self, model_or_path_or_config: Any, sample: Any = None,
                 input_shape: Any = None, seed: int = 0,
                 custom_objects: dict[str, Any] | None = None,
                 progress: Callable[[float], Any] | None = None):
        self.seed = int(seed)
        self.custom_objects = custom_objects
        model = open_model(model_or_path_or_config, self.seed, custom_objects)
        self.config = engine.serialize(model, format=engine.KERAS3)
        self._ref = ModelRef(self.config, model, custom_objects=custom_objects)
        self.graph = ConfigGraph(self.config)
        if sample is None:
            self.sample, self.sample_note = make_sample(model, self.graph, self.seed,
                                                        input_shape)
        else:
            self.sample = [np.asarray(s) for s in sample] if isinstance(sample, (list, tuple)) \
                else np.asarray(sample)
            self.sample_note = "your sample"
        self.order: list[str] = []
        self.stats: dict[str, dict[str, Any]] = {}
        self.trace: dict[str, Any] | None = None
        self.reference: str | None = None
        self._wstd: dict[int, tuple[np.ndarray, float | None]] = {}
        self.undo_stack: list[Snapshot] = []
        self.redo_stack: list[Snapshot] = []
        self.original = Snapshot(self._ref, self.config, None)
        #: what the last edit re-initialized (flattened names), and why
        self.reinitialized: list[str] = []
        if progress:
            progress(0.1)
        self._full_pass()
        if progress:
            progress(1.0)

    @property
    def model(self) -> Any:
        """The current model (built on first access after an edit)."""
        return self._ref.get()

    # -- passes -------------------------------------------------------------------------
    def _full_pass(self) -> None:
        trace = self.model.intermediate_outputs(self.sample)
        self.order = []
        self.stats = {}
        self._absorb(self.model, self.graph, trace, "", list(trace))
        kept = sum(np.asarray(v).size for v in trace.values() if isinstance(v, np.ndarray))
        # a cut model's inputs carry no masks: a masking model reruns whole on every edit
        self.trace = trace if kept <= MAX_KEPT_ELEMENTS and not _masks(self.config) else None
        self._finish()

    def _absorb(self, model: Any, graph: ConfigGraph, trace: dict[str, Any], prefix: str,
                names: list[str], order: list[str] | None = None) -> None:
        """Statistics of ``names`` from ``trace`` (nested models: their layers too)."""
        order = self.order if order is None else order
        for name in names:
            if name.startswith(CUT_PREFIX) or name not in graph.entries:
                continue
            entry = graph.entries[name]
            if entry["class_name"] == "InputLayer":
                continue
            value = trace[name]
            if graph.calls(name) > 1 and isinstance(value, list):
                value = value[0]
            if isinstance(value, (list, tuple)):
                value = value[0]
            try:
                layer = model.get_layer(name)
            except ValueError:  # an operation of a Keras 3 graph (not_equal...): not a layer
                continue
            if isinstance(layer, engine.Model):
                refs = graph.first_input(name)
                xin = [ref_value(trace, graph, r) for r in refs]
                inner_trace = layer.intermediate_outputs(xin[0] if len(xin) == 1 else xin)
                inner = ConfigGraph(engine.serialize(layer, format=engine.KERAS3))
                self._absorb(layer, inner, inner_trace, prefix + name + SEP, list(inner_trace),
                             order)
            path = prefix + name
            st = layer_stats(value, activation_name(entry))
            st.update(name=path, class_name=entry["class_name"], depth=0, weight_std=None,
                      predicted_std=None)
            ws = _weights_of(layer)
            if ws:
                k = np.asarray(ws[0].value)
                st["weight_std"] = self._weight_std(k)
                refs = graph.first_input(name)
                if refs and refs[0][0] in graph.entries:
                    src = self.stats.get(prefix + refs[0][0])
                    xin = src["rms"] if src else None
                    if src is None and graph.class_name(refs[0][0]) == "InputLayer":
                        xv = np.asarray(ref_value(trace, graph, refs[0]), np.float64)
                        xin = float(np.sqrt(np.mean(xv * xv)))
                    st["predicted_std"] = predicted_std(entry, tuple(k.shape), xin)
            if path not in self.stats:
                order.append(path)
            self.stats[path] = st

    def _weight_std(self, k: np.ndarray) -> float | None:
        """A kernel's std, remembered per array (weights are shared from edit to edit)."""
        hit = self._wstd.get(id(k))
        if hit is not None and hit[0] is k:
            return hit[1]
        value = float(k.std()) if k.size else None
        if len(self._wstd) > 4096:
            self._wstd.clear()
        self._wstd[id(k)] = (k, value)  # the array is kept, so its id is not reused
        return value

    def _finish(self) -> None:
        ref = next((self.stats[n] for n in self.order), None)
        self.reference = ref["name"] if ref else None
        for i, n in enumerate(self.order):
            st = self.stats[n]
            st["depth"] = i
            st["flags"] = flags_for(st, ref["std"] if ref else None)

    def _recompute_from(self, unit: str) -> None:
        """Run the part of the model downstream of the top-level layer ``unit``."""
        if self.trace is None or self.graph.class_name(unit) == "InputLayer":
            self._full_pass()
            return
        sub, frontier = self._cut(unit)
        for path, layer in leaf_layers(sub):
            if path.startswith(CUT_PREFIX):
                continue
            for w, v in zip(_weights_of(layer), _weights_of(self._layer(path))):
                w.assign(v.value)
        self._run_cut(sub, frontier)

    def _cut(self, unit: str) -> tuple[Any, list[Any]]:
        """The model downstream of ``unit`` (built without initializers) and its inputs."""
        trace = self.trace
        cfg, frontier = self.graph.cut(unit, lambda r: ref_value(trace, self.graph, r))
        with engine.build_without_initializers():
            sub = engine.deserialize(cfg, self.custom_objects)
        return sub, frontier

    def _run_cut(self, sub: Any, frontier: list[Any]) -> None:
        trace = self.trace
        assert trace is not None
        xs = [ref_value(trace, self.graph, r) for r in frontier]
        new = sub.intermediate_outputs(xs[0] if len(xs) == 1 else xs)
        down = [n for n in new if not n.startswith(CUT_PREFIX)]
        for n in down:
            trace[n] = new[n]
        self._absorb(self._ref, self.graph, trace, "", down)
        self._finish()

    # -- access ---------------------------------------------------------------------------
    def _layer(self, path: str, model: Any = None) -> Any:
        if model is None:
            return self._ref.layer(path)
        for part in path.split(SEP):
            model = model.get_layer(part)
        return model

    def layer(self, path: str) -> Any:
        return self._layer(path)

    def resolve(self, name: str) -> str:
        """A flattened layer path from a path or a unique plain name."""
        if name in self.stats:
            return name
        hits = [p for p in self.order if p.rsplit(SEP, 1)[-1] == name]
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise ValueError(f"select: {name!r} is ambiguous: {', '.join(hits)}")
        more = "..." if len(self.order) > 8 else ""
        raise ValueError(f"select: no layer {name!r} in model "
                         f"{self.config['config'].get('name')!r} "
                         f"(layers: {', '.join(self.order[:8])}{more})")

    def layer_input(self, path: str) -> Any:
        """The input the layer receives on the sample (a list for several inputs)."""
        parts = path.split(SEP)
        model, graph = self._ref, self.graph
        trace = self.trace if self.trace is not None else \
            self.model.intermediate_outputs(self.sample)
        for i, part in enumerate(parts):
            refs = graph.first_input(part)
            if graph.sequential and not refs and graph.entries[part]["class_name"] != \
                    "InputLayer":
                xs = [self._sequential_input(model, trace, graph)]
            else:
                xs = [ref_value(trace, graph, r) for r in refs]
            if i == len(parts) - 1:
                return xs[0] if len(xs) == 1 else xs
            inner = model.get_layer(part)
            trace = inner.intermediate_outputs(xs[0] if len(xs) == 1 else xs)
            model, graph = inner, ConfigGraph(engine.serialize(inner, format=engine.KERAS3))
        raise ValueError(path)

    def _sequential_input(self, model: Any, trace: dict[str, Any], graph: ConfigGraph) -> Any:
        first = [n for n in trace if n not in graph.entries]
        return trace[first[0]] if first else self.sample

    def statistics(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in self.stats[n].items() if k != "values"} for n in self.order]

    # -- edits ----------------------------------------------------------------------------
    def apply(self, path: str, new_cfg: dict[str, Any], fresh_weights: list[np.ndarray]
              ) -> list[str]:
        """Put the layer config ``new_cfg`` (``{'class_name', 'config'}``) at ``path``;
        ``fresh_weights`` are its seeded initial weights (used when the layer is
        re-initialized). Returns the flattened names re-initialized. Raises on failure
        (the state is unchanged)."""
        parts = path.split(SEP)
        old_layer = self._layer(path)
        old_entry = self._entry(path)
        if new_cfg["config"].get("name", old_layer.name) != old_layer.name:
            raise ConfigError("name", "renaming a layer inside a model is not supported here "
                              "(its links use the name); keep the name")
        entry = {**copy.deepcopy(old_entry), "class_name": new_cfg["class_name"],
                 "config": copy.deepcopy(new_cfg["config"])}
        entry.pop("build_config", None)
        entry["module"] = old_entry.get("module", "keras.layers") \
            if new_cfg["class_name"] == old_entry["class_name"] else "keras.layers"
        if "build_config" in old_entry and new_cfg["class_name"] == old_entry["class_name"]:
            entry["build_config"] = old_entry["build_config"]
        kept = self._replace_entry(self.config, parts, entry)
        # with the layers' build configs first (some layers cannot infer every input shape
        # from the graph); then without, so that a shape change reaches downstream layers
        problem: Exception | None = None
        for config in (kept, _without_build_configs(kept)):
            try:
                return self._apply_config(config, path, old_entry, entry, fresh_weights)
            except Exception as e:  # noqa: BLE001 - the first error is the one to report
                problem = problem or e
        assert problem is not None
        raise problem

    def _apply_config(self, config: dict[str, Any], path: str, old_entry: dict[str, Any],
                      entry: dict[str, Any], fresh: list[np.ndarray]) -> list[str]:
        unit = path.split(SEP)[0]
        old = (self._ref, self.config, self.graph, self.trace and dict(self.trace),
               self.stats, self.order)
        if self.trace is None:  # nothing kept: build the whole model, run it all
            with engine.build_without_initializers():
                model = engine.deserialize(config, self.custom_objects)
            reinit = self._fill_weights(model, config, path, old_entry, entry, fresh)
            ref: ModelRef = ModelRef(config, model, custom_objects=self.custom_objects)
            try:
                self._set_model(ref, config, None)
            except Exception:
                self._ref, self.config, self.graph, _, self.stats, self.order = old
                raise
        else:
            self.graph = ConfigGraph(config)
            try:
                sub, frontier = self._cut(unit)
                reinit = self._fill_weights(sub, None, path, old_entry, entry, fresh)
                self.config = config
                self._ref = ModelRef(config, base=old[0], sub=sub,
                                     units=self.graph.downstream(unit),
                                     custom_objects=self.custom_objects)
                self.stats = {k: dict(v) for k, v in self.stats.items()}
                self._run_cut(sub, frontier)
            except Exception:
                self._ref, self.config, self.graph, self.trace, self.stats, self.order = old
                raise
        self._push(Snapshot(old[0], old[1], unit))
        self.reinitialized = reinit
        return reinit

    def _entry(self, path: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        cfg = self.config if config is None else config
        for part in path.split(SEP):
            cfg = ConfigGraph(cfg).entries[part]
        return cfg

    def _replace_entry(self, config: dict[str, Any], parts: list[str],
                       entry: dict[str, Any]) -> dict[str, Any]:
        graph = ConfigGraph(config)
        if len(parts) == 1:
            return graph.with_entry(parts[0], entry)
        inner = self._replace_entry(graph.entries[parts[0]], parts[1:], entry)
        return graph.with_entry(parts[0], inner)

    def _fill_weights(self, model: Any, config: dict[str, Any] | None, path: str,
                      old_entry: dict[str, Any], entry: dict[str, Any],
                      fresh: list[np.ndarray]) -> list[str]:
        reinit, need_seeded = [], []
        init_changed = _init_keys(old_entry) != _init_keys(entry)
        for p, layer in leaf_layers(model):
            ws = _weights_of(layer)
            if not ws or p.startswith(CUT_PREFIX):
                continue
            try:
                old = self._layer(p)
            except ValueError:
                old = None
            same = old is not None and _shapes(old) == _shapes(layer)
            if p == path:
                if same and not init_changed:
                    for w, v in zip(ws, _weights_of(old)):
                        w.assign(v.value)
                elif [tuple(np.shape(a)) for a in fresh] == _shapes(layer):
                    for w, a in zip(ws, fresh):
                        w.assign(a)
                    reinit.append(p)
                else:
                    need_seeded.append(p)
            elif same:
                for w, v in zip(ws, _weights_of(old)):
                    w.assign(v.value)
            else:
                need_seeded.append(p)
        if need_seeded:
            cfg = engine.serialize(model, format=engine.KERAS3) if config is None else config
            seeded = engine.deserialize(seeded_config(cfg, self.seed), self.custom_objects)
            for p in need_seeded:
                for w, v in zip(_weights_of(self._layer(p, model)),
                                _weights_of(self._layer(p, seeded))):
                    w.assign(v.value)
            reinit.extend(need_seeded)
        return reinit

    def reinitialize(self, paths: list[str], initializer: Any = None) -> list[str]:
        """Draw the weights of the layers at ``paths`` again (seeded): from their own
        initializers (``initializer`` None), or with ``initializer`` (a name or config) set
        as their kernel initializer first."""
        config = copy.deepcopy(self.config)
        units = []
        init = None if initializer is None else engine.serialize(engine.get_object(
            "initializer", initializer, "initializer", engine.KERAS3))
        for p in paths:
            units.append(p.split(SEP)[0])
            if init is None:
                continue
            entry = copy.deepcopy(self._entry(p, config))
            key = "depthwise_initializer" if "depthwise_initializer" in entry["config"] else \
                "kernel_initializer"
            if key not in entry["config"]:
                raise ConfigError(key, f"layer {p!r} ({entry['class_name']}) has no kernel "
                                  f"initializer; re-initialize it from its own initializers "
                                  f"(initializer=None)")
            entry["config"][key] = copy.deepcopy(init)
            config = self._replace_entry(config, p.split(SEP), entry)
        with engine.build_without_initializers():
            model = engine.deserialize(config, self.custom_objects)
        seeded = engine.deserialize(seeded_config(config, self.seed), self.custom_objects)
        for p, layer in leaf_layers(model):
            src = self._layer(p, seeded) if p in paths or self._shapes_differ(p, layer) \
                else self._layer(p)
            for w, v in zip(_weights_of(layer), _weights_of(src)):
                w.assign(v.value)
        first = min(units, key=self.graph.names.index)
        unit = first if len(set(units)) == 1 else None
        self._push(Snapshot(self._ref, self.config, unit))
        self._set_model(ModelRef(config, model, custom_objects=self.custom_objects), config,
                        unit)
        self.reinitialized = list(paths)
        return list(paths)

    def _shapes_differ(self, path: str, layer: Any) -> bool:
        try:
            return _shapes(self._layer(path)) != _shapes(layer)
        except ValueError:
            return True

    def _push(self, snap: Snapshot) -> None:
        self.undo_stack.append(snap)
        del self.undo_stack[:-MAX_HISTORY]
        self.redo_stack.clear()

    def _set_model(self, ref: ModelRef, config: dict[str, Any], unit: str | None) -> None:
        self._ref, self.config = ref, config
        self.graph = ConfigGraph(config)
        if unit is None:
            self._full_pass()
        else:
            self._recompute_from(unit)

    def _restore(self, snap: Snapshot, unit: str | None) -> None:
        self._set_model(snap.ref, snap.config, unit)

    def undo(self) -> bool:
        if not self.undo_stack:
            return False
        snap = self.undo_stack.pop()
        self.redo_stack.append(Snapshot(self._ref, self.config, snap.unit))
        self._restore(snap, snap.unit)
        self.reinitialized = []
        return True

    def redo(self) -> bool:
        if not self.redo_stack:
            return False
        snap = self.redo_stack.pop()
        self.undo_stack.append(Snapshot(self._ref, self.config, snap.unit))
        self._restore(snap, snap.unit)
        self.reinitialized = []
        return True

    def reset(self) -> bool:
        """Back to the model as opened (one undoable step)."""
        if self._ref is self.original.ref:
            return False
        self._push(Snapshot(self._ref, self.config, None))
        self._restore(self.original, None)
        self.reinitialized = []
        return True

    # -- output ---------------------------------------------------------------------------
    def export(self, fmt: str = "keras3") -> str:
        fmt = engine.normalize_format(fmt)
        return json.dumps(engine.serialize(self.model, format=fmt), indent=2)

    def save(self, path: Any) -> None:
        engine.save(self.model, path)
