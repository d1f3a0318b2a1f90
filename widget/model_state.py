"""The ModelEditor's state, without widgets: the model, its seeded sample, per-layer
statistics and flags, edits in place with undo/redo/reset, and the downstream recompute.

An edit replaces one layer's config entry in the model's config, builds the new model without
running initializers and fills its weights: every layer whose weight shapes did not change
keeps its arrays (shared, not copied); the edited layer keeps its weights too unless an
initializer changed or its shapes changed (then it is re-initialized, seeded); a downstream
layer whose shapes changed is re-initialized (seeded) and reported. Only the part of the
model downstream of the edit is run again: its config is cut off below the edited layer and
fed the activations kept from the last pass (see :mod:`widget.model_graph`), in two parts:
the edited layer alone, then the rest downstream of it, whose built model is kept for the next
edit of the same layer (the usual way of working: pick a layer, try values).

That rest runs untraced (``Model.call_observed``): each output's statistics are taken as it
is made, the engine keeps its in-place path, and the outputs are not kept but marked stale;
they are made again (a traced run of the same part, about one downstream forward pass) only
when something reads one: selecting a layer downstream (its real input), an edit that starts
there, undo/redo. Edits of the same layer again never need them (its inputs are upstream).

A Sequential without an InputLayer entry (Keras 2's ``batch_input_shape`` on its first layer,
or layers given an ``input_shape``) gets one written into its config, named as Keras names it
(``<first layer>_input``), so that every layer has an input to cut at.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import engine
from engine import ConfigError

from .model_downstream import DownstreamRuns, OutputShapeChanged
from .model_graph import (
    CUT_PREFIX,
    ConfigGraph,
    complete_trace,
    ref_value,
    with_input_layer,
)
from .model_ref import (
    SEP,
    ModelRef,
    leaf_layers,
    makes_masks,
    shapes_of,
    weights_of,
    without_build_configs,
)
from .model_sample import first_layer_input_shape, make_sample, open_model
from .model_sample import seeded as seeded_config
from .model_stats import (
    activation_name,
    flags_for,
    layer_stats,
    predicted_std,
)

#: activations are kept for the downstream recompute while their total stays below this
#: many elements; above it every edit reruns the whole model
MAX_KEPT_ELEMENTS = 64_000_000
MAX_HISTORY = 50


@dataclass
class Snapshot:
    ref: ModelRef
    config: dict[str, Any]
    unit: str | None  # top-level layer the step changed (recompute from there)


class ModelState(DownstreamRuns):
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
                 progress: Callable[[float, str], Any] | None = None, defer: bool = False):
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
        if self.graph.sequential and (not self.graph.names or self.graph.class_name(
                self.graph.names[0]) != "InputLayer") and not isinstance(self.sample, list):
            # no InputLayer entry: write one, so that every layer has an input to cut at
            shape = first_layer_input_shape(model) or [None, *np.shape(self.sample)[1:]]
            config = with_input_layer(self.config, shape, str(self.sample.dtype))
            if model.built:  # its weights kept
                self._ref = ModelRef(config, base=self._ref, custom_objects=custom_objects)
            else:  # never built: no weights yet, so they are drawn (seeded)
                self._ref = ModelRef(config, engine.deserialize(
                    seeded_config(config, self.seed), custom_objects))
            self.config, self.graph = config, ConfigGraph(config)
        self.order: list[str] = []
        self.stats: dict[str, dict[str, Any]] = {}
        self.trace: dict[str, Any] | None = None
        #: the outputs missing from ``trace`` since the last edit's untraced run, and how to
        #: make them: (the cut model that ran, its inputs' refs, the layer names)
        self._stale: tuple[Any, list[Any], set[str]] | None = None
        self.reference: str | None = None
        self._wstd: dict[int, tuple[np.ndarray, float | None]] = {}
        self._theory: dict[int, Any] = {}  # see model_stats.predicted_std
        #: name -> (entry, layer, kernel variable, input ref, fed by an InputLayer)
        self._facts: dict[str, tuple[Any, ...]] = {}
        #: (reference layer, its std, the order) the flags were last drawn against
        self._flagged: tuple[Any, ...] | None = None
        self._depths: dict[str, int] = {}
        self.undo_stack: list[Snapshot] = []
        self.redo_stack: list[Snapshot] = []
        self.original = Snapshot(self._ref, self.config, None)
        #: what the last edit re-initialized (flattened names), and why
        self.reinitialized: list[str] = []
        #: the model of the part downstream of the last edited layer, kept for its next edit
        #: (layer, model, its inputs' refs, the state it belongs to, its inputs' shapes)
        self._rest: Any = None
        self.ran = False
        if not defer:
            self.run(progress)

    def run(self, progress: Callable[[float, str], Any] | None = None) -> None:
        """The first pass (once): the forward pass, then each layer's statistics;
        ``progress(fraction, what)`` is told along the way."""
        if not self.ran:
            self._full_pass(progress)
            self.ran = True

    @property
    def model(self) -> Any:
        """The current model (built on first access after an edit)."""
        return self._ref.get()

    # -- passes -------------------------------------------------------------------------
    def _full_pass(self, progress: Callable[[float, str], Any] | None = None) -> None:
        if progress:
            progress(0.02, "forward pass")
        trace = complete_trace(self.graph, self.model.intermediate_outputs(self.sample),
                               self.sample)
        self.order = []
        self.stats = {}
        self._stale = None
        self._absorb(self.model, self.graph, trace, "", list(trace), progress=progress)
        kept = sum(np.asarray(v).size for v in trace.values() if isinstance(v, np.ndarray))
        # a cut model's inputs carry no masks: a masking model reruns whole on every edit
        self.trace = trace if kept <= MAX_KEPT_ELEMENTS and not makes_masks(self.config) else None
        self._finish()

    def _absorb(self, model: Any, graph: ConfigGraph, trace: dict[str, Any], prefix: str,
                names: list[str], order: list[str] | None = None,
                progress: Callable[[float, str], Any] | None = None,
                computed: dict[str, dict[str, Any]] | None = None) -> None:
        """Statistics of ``names`` from ``trace`` (nested models: their layers too), or
        taken from ``computed`` (name -> :func:`layer_stats` of its output, taken while
        the output was made) where it has them."""
        order = self.order if order is None else order
        for k, name in enumerate(names):
            if progress:
                progress(0.3 + 0.55 * k / len(names), f"statistics {k + 1}/{len(names)}")
            if name.startswith(CUT_PREFIX) or name not in graph.entries:
                continue
            entry = graph.entries[name]
            if entry["class_name"] == "InputLayer":
                continue
            st = computed.get(name) if computed is not None else None
            value = None
            if st is None:
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
                x1 = xin[0] if len(xin) == 1 else xin
                inner = ConfigGraph(engine.serialize(layer, format=engine.KERAS3))
                inner_trace = complete_trace(inner, layer.intermediate_outputs(x1), x1)
                self._absorb(layer, inner, inner_trace, prefix + name + SEP, list(inner_trace),
                             order)
            path = prefix + name
            if st is None:
                st = layer_stats(value, activation_name(entry))
            st.update(name=path, class_name=entry["class_name"], depth=0, weight_std=None,
                      predicted_std=None)
            ws = weights_of(layer)
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
                    st["predicted_std"] = predicted_std(entry, tuple(k.shape), xin,
                                                        self._theory)
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

    def _finish(self, changed: Any = None) -> None:
        """Depths and flags; only of the ``changed`` paths when the reference layer, its
        std and the order are those the other layers' flags were drawn against."""
        ref = next((self.stats[n] for n in self.order), None)
        self.reference = ref["name"] if ref else None
        ref_std = ref["std"] if ref else None
        key = (self.reference, ref_std, len(self.order))  # the order only ever grows
        fresh: Any = ()
        if changed is None or key != self._flagged:
            self._depths = {n: i for i, n in enumerate(self.order)}
            fresh, changed = set(changed or ()), self.order
        depths = self._depths
        stats = self.stats
        for n in changed:
            st = stats[n]
            if fresh != () and n not in fresh:  # shared with the stats before the edit
                st = stats[n] = dict(st)
            st["depth"] = depths[n]
            st["flags"] = flags_for(st, ref_std)
        self._flagged = key

    def _recompute_from(self, unit: str) -> None:
        """Run the part of the model downstream of the top-level layer ``unit``."""
        if self.trace is None or self.graph.class_name(unit) == "InputLayer" or \
                not self.graph.first_input(unit):
            self._full_pass()
            return
        sub, frontier = self._cut(unit)
        for path, layer in leaf_layers(sub):
            if path.startswith(CUT_PREFIX):
                continue
            for w, v in zip(weights_of(layer), weights_of(self._layer(path))):
                w.assign(v.value)
        self._run_cut(sub, frontier)

    def _cut(self, unit: str) -> tuple[Any, list[Any]]:
        """The model downstream of ``unit`` (built without initializers) and its inputs."""
        cfg, frontier = self.graph.cut(unit, self._value)
        with engine.build_without_initializers():
            sub = engine.deserialize(cfg, self.custom_objects)
        return sub, frontier

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
            complete_trace(graph, self.model.intermediate_outputs(self.sample), self.sample)
        for i, part in enumerate(parts):
            refs = graph.first_input(part)
            if graph.sequential and not refs and graph.entries[part]["class_name"] != \
                    "InputLayer":
                xs = [self._sequential_input(model, trace, graph)]
            elif i == 0 and trace is self.trace:  # the top level: made first when stale
                xs = [self._value(r) for r in refs]
            else:
                xs = [ref_value(trace, graph, r) for r in refs]
            if i == len(parts) - 1:
                return xs[0] if len(xs) == 1 else xs
            inner = model.get_layer(part)
            x1 = xs[0] if len(xs) == 1 else xs
            model, graph = inner, ConfigGraph(engine.serialize(inner, format=engine.KERAS3))
            trace = complete_trace(graph, inner.intermediate_outputs(x1), x1)
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
        # its links are the old entry's (with_entry puts them back): not copied here
        entry = {**copy.deepcopy({k: v for k, v in old_entry.items()
                                  if k not in ("inbound_nodes", "config")}),
                 "class_name": new_cfg["class_name"],
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
        for attempt in (0, 1):
            config = without_build_configs(kept) if attempt else kept
            try:
                return self._apply_config(config, path, old_entry, entry, fresh_weights,
                                          keeps_shapes=not attempt)
            except OutputShapeChanged:
                continue  # the build configs downstream are out of date: without them
            except Exception as e:  # noqa: BLE001 - the first error is the one to report
                problem = problem or e
        assert problem is not None
        raise problem

    def _apply_config(self, config: dict[str, Any], path: str, old_entry: dict[str, Any],
                      entry: dict[str, Any], fresh: list[np.ndarray],
                      keeps_shapes: bool = False) -> list[str]:
        unit = path.split(SEP)[0]
        old = (self._ref, self.config, self.graph, self.trace and dict(self.trace),
               self.stats, self.order, self._stale)
        if self.trace is None:  # nothing kept: build the whole model, run it all
            with engine.build_without_initializers():
                model = engine.deserialize(config, self.custom_objects)
            reinit = self._fill_weights(model, config, path, old_entry, entry, fresh)
            ref: ModelRef = ModelRef(config, model, custom_objects=self.custom_objects)
            try:
                self._set_model(ref, config, None)
            except Exception:
                self._ref, self.config, self.graph, _, self.stats, self.order, _ = old
                raise
        else:
            self.graph = self.graph.renewed(config)
            try:
                down = self.graph.downstream(unit)
                if self.graph.calls(unit) == 1 and len(down) > 1:
                    reinit = self._apply_split(config, unit, down, path, old_entry, entry,
                                               fresh, keeps_shapes)
                else:
                    sub, frontier = self._cut(unit)
                    reinit = self._fill_weights(sub, None, path, old_entry, entry, fresh)
                    self.config = config
                    self._ref = ModelRef(config, base=old[0], sub=sub, units=down,
                                         custom_objects=self.custom_objects)
                    self.stats = dict(self.stats)  # the dicts: see _finish
                    self._run_cut(sub, frontier)
            except Exception:
                (self._ref, self.config, self.graph, self.trace, self.stats, self.order,
                 self._stale) = old
                raise
        self._push(Snapshot(old[0], old[1], unit))
        self.reinitialized = reinit
        return reinit

    def _entry(self, path: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        cfg = self.config if config is None else config
        for part in path.split(SEP):
            cfg = (self.graph if cfg is self.config else ConfigGraph(cfg)).entries[part]
        return cfg

    def _replace_entry(self, config: dict[str, Any], parts: list[str],
                       entry: dict[str, Any]) -> dict[str, Any]:
        graph = self.graph if config is self.config else ConfigGraph(config)
        if len(parts) == 1:
            return graph.with_entry(parts[0], entry)
        inner = self._replace_entry(graph.entries[parts[0]], parts[1:], entry)
        return graph.with_entry(parts[0], inner)

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
            for w, v in zip(weights_of(layer), weights_of(src)):
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
            return shapes_of(self._layer(path)) != shapes_of(layer)
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
