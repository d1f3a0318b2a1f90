"""The ModelEditor state's runs of the part of the model downstream of an edit (a mixin of
:class:`widget.model_state.ModelState`, which holds the model, its config graph, the kept
activations ``trace``, the statistics and the history).

An edit runs the edited layer alone (built from its config entry, on its kept input), then
the rest downstream of it, whose built model is kept for the next edit of the same layer.
That rest runs untraced (``Model.call_observed``): each output's statistics are taken as it
is made (:class:`widget.model_stats.StatsObserver`), the engine keeps its in-place path, and
the outputs are not kept but marked stale (``_stale``); they are made again (a traced run of
the same part) only when something reads one (:meth:`DownstreamRuns._value`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import engine

from .model_graph import CUT_PREFIX, entry_name, ref_value
from .model_ref import SEP, ModelRef, init_keys, leaf_layers, shapes_of, weights_of
from .model_sample import seeded as seeded_config
from .model_stats import StatsObserver, activation_name, predicted_std


class _Single:
    """One layer, held as a ModelRef holds a cut model (``name``, ``layers``)."""

    def __init__(self, layer: Any):
        self.name, self.layers = layer.name, [layer]


class OutputShapeChanged(Exception):
    """The edited layer's output shape changed: the layers downstream must be built without
    their build configs (their input shapes changed)."""


class DownstreamRuns:
    """The downstream runs of :class:`widget.model_state.ModelState` (a mixin: it uses the
    state's ``trace``, ``graph``, ``stats``, ``order``, ``_ref``, ``_rest``, ``_stale``,
    ``_facts``, ``_theory``, ``seed``, ``custom_objects`` and its ``_absorb``, ``_finish``,
    ``_layer``, ``_entry``, ``_weight_std`` methods)."""

    trace: dict[str, Any] | None
    graph: Any
    stats: dict[str, dict[str, Any]]
    order: list[str]
    config: dict[str, Any]
    seed: int
    custom_objects: Any
    _ref: Any
    _rest: Any
    _stale: tuple[Any, list[Any], set[str]] | None
    _facts: dict[str, tuple[Any, ...]]
    _theory: dict[int, Any]
    _absorb: Any
    _finish: Any
    _layer: Any
    _entry: Any
    _weight_std: Any

    def _absorb_observed(self, sub: Any, names: list[str],
                         computed: dict[str, dict[str, Any]]) -> None:
        """:meth:`_absorb` of the top-level layers ``names`` of the cut model ``sub`` (no
        nested model) that an observed run gave ``computed`` statistics of. What does not
        change from edit to edit (the layer's kernel variable, the layer feeding it) is
        kept per layer while its config entry and layer object stay the same."""
        graph, stats, facts = self.graph, self.stats, self._facts
        table = {la.name: la for la in sub.layers}
        for name in names:
            st = computed[name]
            entry = graph.entries[name]
            layer = table.get(name)
            if layer is None or entry["class_name"] == "InputLayer":
                continue  # an operation of a Keras 3 graph (not_equal...): not a layer
            hit = facts.get(name)
            if hit is None or hit[0] is not entry or hit[1] is not layer:
                ws = weights_of(layer)
                refs = graph.first_input(name)
                src = refs[0] if refs and refs[0][0] in graph.entries else None
                hit = facts[name] = (entry, layer, ws[0] if ws else None, src,
                                     src is not None and
                                     graph.class_name(src[0]) == "InputLayer")
            st.update(name=name, class_name=entry["class_name"], depth=0, weight_std=None,
                      predicted_std=None)
            if hit[2] is not None:
                k = np.asarray(hit[2].value)
                st["weight_std"] = self._weight_std(k)
                src = hit[3]
                if src is not None:
                    before = stats.get(src[0])
                    xin = before["rms"] if before else None
                    if before is None and hit[4]:
                        xv = np.asarray(self._value(src), np.float64)
                        xin = float(np.sqrt(np.mean(xv * xv)))
                    st["predicted_std"] = predicted_std(entry, k.shape, xin, self._theory)
            if name not in stats:
                self.order.append(name)
            stats[name] = st

    def _value(self, ref: Any) -> Any:
        """The kept array a ref names; made first when the last edit's run left it out."""
        if self._stale is not None and ref[0] in self._stale[2]:
            self._refresh()
        assert self.trace is not None
        return ref_value(self.trace, self.graph, ref)

    def _refresh(self) -> None:
        """Make the outputs the last edit's untraced run left out of ``trace`` (a traced
        run of the cut model that made them, on its inputs' kept values: they are current,
        since every run that could change them first refreshes or covers this part)."""
        stale, self._stale = self._stale, None
        if stale is None or self.trace is None:
            return
        sub, frontier, names = stale
        xs = [self._value(r) for r in frontier]
        new = sub.intermediate_outputs(xs[0] if len(xs) == 1 else xs)
        for n in new:
            if n in names:
                self.trace[n] = new[n]

    def activations(self) -> dict[str, Any]:
        """Every top-level layer's kept output on the sample (``intermediate_outputs`` of the
        current model), the ones the last edit left out made first; None when the model is
        too big to keep them (or makes masks)."""
        self._refresh()
        return self.trace  # type: ignore[return-value]

    def _run_cut(self, sub: Any, frontier: list[Any], before: Any = ()) -> None:
        """Run the cut model ``sub`` on its frontier's kept values; the statistics of its
        layers (and of ``before``, layers already run into the trace) anew.

        The run is not traced: each output's statistics are taken as it is made (in cache,
        and the engine keeps its in-place path), the outputs themselves are dropped and
        marked stale, made again (a traced run of ``sub``) only when something reads one:
        selecting a layer downstream, or an edit whose cut starts there. An edit of the
        same layer again needs none of them (its inputs are upstream). A part with a
        nested model runs traced (its layers' statistics need the nested model's input)."""
        trace = self.trace
        assert trace is not None
        names = {la.name for la in sub.layers if not la.name.startswith(CUT_PREFIX)}
        if self._stale is not None and not self._stale[2] <= names:
            self._refresh()  # what this run does not cover: made while its inputs are kept
        xs = [self._value(r) for r in frontier]
        x = xs[0] if len(xs) == 1 else xs
        if any(isinstance(la, engine.Model) for la in sub.layers):
            new = sub.intermediate_outputs(x)
            down = [n for n in new if not n.startswith(CUT_PREFIX)]
            for n in down:
                trace[n] = new[n]
            self._stale = None  # what was stale lay in this run (checked above)
            computed = None
        else:
            computed = self._observed_stats(sub, x, names)
            down = list(computed)  # run order: a layer's input before it
            for n in names:
                trace.pop(n, None)
            self._stale = (sub, list(frontier), names)
        if computed is None:  # nested models' layers too: their flags are all drawn again
            self._absorb(self._ref, self.graph, trace, "", [*before, *down])
            self._finish()
            return
        self._absorb(self._ref, self.graph, trace, "", list(before))
        self._absorb_observed(sub, down, computed)
        inner = tuple(u + SEP for u in before)  # an edited nested model's layers too
        self._finish([n for n in self.order if n in computed or n in before or
                      (inner and n.startswith(inner))])

    def _observed_stats(self, sub: Any, x: Any, names: set[str]) -> dict[str, dict[str, Any]]:
        """Run ``sub`` on ``x`` untraced (``call_observed``), taking the statistics of each
        output in ``names`` as it is made (see :class:`model_stats.StatsObserver`)."""
        entries = self.graph.entries
        observer = StatsObserver({n: activation_name(entries[n]) for n in names
                                  if n in entries})
        with np.errstate(over="ignore", invalid="ignore"):
            sub.call_observed(x, observer)
            return observer.finish()

    def _apply_split(self, config: dict[str, Any], unit: str, down: list[str], path: str,
                     old_entry: dict[str, Any], entry: dict[str, Any],
                     fresh: list[np.ndarray], keeps_shapes: bool = False) -> list[str]:
        """The downstream recompute in two parts: the edited top-level layer ``unit`` alone
        (built anew, see :meth:`_run_head`), then the rest downstream of it (untraced, see
        :meth:`_run_cut`). ``keeps_shapes``: the config keeps the layers' build configs, so
        a change of the edited layer's output shape gives up at once (the caller tries
        again without them) instead of after building the rest. The rest's model is
        kept for the next edit of the same layer while nothing else changed (same state,
        same input shapes): then it is not built again, its layers (and weights) are the
        current model's. Otherwise it is built, weights filled as for a whole cut."""
        trace = self.trace
        assert trace is not None
        old_ref = self._ref
        rest = set(down) - {unit}
        if self._stale is not None and not self._stale[2] <= rest:
            self._refresh()  # else the tail's run covers the stale part (the usual case)
        before = np.shape(trace[unit]) if unit in trace else None
        direct = self._run_head(unit, path, old_entry, entry, fresh)
        if direct is not None:
            head, reinit = direct
        else:
            with engine.build_without_initializers():
                cfg, frontier = self.graph.cut(unit, self._value, only={unit})
                head = engine.deserialize(cfg, self.custom_objects)
            reinit = self._fill_weights(head, None, path, old_entry, entry, fresh)
            xs = [self._value(r) for r in frontier]
            new = head.intermediate_outputs(xs[0] if len(xs) == 1 else xs)
            trace[unit] = new[unit]
        if keeps_shapes and before is not None and np.shape(trace[unit]) != before:
            raise OutputShapeChanged  # (the caller restores the trace)
        hit = self._rest
        shapes = hit and [(np.shape(v), np.asarray(v).dtype) for v in
                          (self._value(r) for r in hit[2])]
        if hit and hit[0] == unit and hit[3] is old_ref and shapes == hit[4]:
            tail, tail_frontier = hit[1], hit[2]
        else:
            with engine.build_without_initializers():
                cfg, tail_frontier = self.graph.cut(unit, self._value, only=rest)
                tail = engine.deserialize(cfg, self.custom_objects)
            reinit += self._fill_weights(tail, None, path, old_entry, entry, fresh)
            shapes = [(np.shape(v), np.asarray(v).dtype) for v in
                      (self._value(r) for r in tail_frontier)]
        self.config = config
        self._ref = ModelRef(config, base=old_ref, custom_objects=self.custom_objects,
                             parts={unit: head, **{n: tail for n in rest}})
        self.stats = dict(self.stats)  # the dicts: see _finish
        self._run_cut(tail, tail_frontier, [unit])
        self._rest = (unit, tail, tail_frontier, self._ref, shapes)
        return reinit

    def _run_head(self, unit: str, path: str, old_entry: dict[str, Any],
                  entry: dict[str, Any], fresh: list[np.ndarray]) -> Any:
        """The edited top-level layer alone, built from its entry (not a one-layer model:
        a third of the edit's fixed cost) and called on its kept input, its output put in
        the trace: (a holder of the layer for the ModelRef, the re-initialized paths), or
        None when the layer needs the general way (a nested model, a call with more than
        one tensor argument or keywords, weights to draw anew, several outputs)."""
        node = (entry.get("inbound_nodes") or [None])[0]
        if path != unit or (node is not None and (
                not isinstance(node, dict) or node.get("kwargs")
                or len(node.get("args") or ()) != 1)):
            return None
        xs = [self._value(r) for r in self.graph.first_input(unit)]
        config = {k: v for k, v in entry.items() if k not in ("inbound_nodes", "name")}
        if "build_config" not in config:  # (dropped for a shape change): the input's shapes
            shapes = [[None, *np.shape(a)[1:]] for a in xs]
            config["build_config"] = {"input_shape": shapes[0] if len(xs) == 1 else shapes}
        with engine.build_without_initializers():
            layer = engine.deserialize(config, self.custom_objects)
        if isinstance(layer, engine.Model) or not layer.built:
            return None
        ws = weights_of(layer)
        new_shapes = [tuple(w.shape) for w in ws]
        old = self._layer(path)
        if shapes_of(old) == new_shapes and init_keys(old_entry) == init_keys(entry):
            source, reinit = [v.value for v in weights_of(old)], []
        elif [tuple(np.shape(a)) for a in fresh] == new_shapes:
            source, reinit = fresh, [path]
        else:
            return None
        for w, v in zip(ws, source):
            w.assign(v)
        y = layer(xs[0] if len(xs) == 1 else xs, training=False, mask=None)
        if type(y) is not np.ndarray:
            return None
        assert self.trace is not None
        self.trace[unit] = y
        return _Single(layer), reinit

    def prepare(self, path: str) -> bool:
        """Build the part of the model downstream of the top-level layer of ``path`` ahead
        of its first edit (the model an edit of that layer reuses while nothing else
        changed, see :meth:`_apply_split`), so that the first edit costs what the later ones
        do (it is run once too, see below). True when built (or already there); False when
        edits of it take another way."""
        unit = path.split(SEP)[0]
        trace, graph = self.trace, self.graph
        if trace is None or graph.class_name(unit) == "InputLayer" or \
                not graph.first_input(unit) or graph.calls(unit) != 1:
            return False
        down = graph.downstream(unit)
        if len(down) <= 1:
            return False
        if self._rest and self._rest[0] == unit and self._rest[3] is self._ref:
            return True
        with engine.build_without_initializers():
            cfg, frontier = graph.cut(unit, self._value, only=set(down) - {unit})
            tail = engine.deserialize(cfg, self.custom_objects)
        entry = self._entry(path)
        if self._fill_weights(tail, None, path, entry, entry, []):
            return False  # a weight it could not take from the model: leave it to the edit
        xs = [self._value(r) for r in frontier]
        shapes = [(np.shape(v), np.asarray(v).dtype) for v in xs]
        # one run now, its result dropped: a built model's first run does once-only work
        # (its run plan, each layer's input checks, folded or repacked weights) that would
        # otherwise fall on the first edit. The kept activations are its inputs: never
        # written into (see test_kept_activations_are_never_written_into)
        try:
            tail(xs[0] if len(xs) == 1 else xs)
        except Exception:  # noqa: BLE001 - a part that cannot run: the edit will say why
            return False
        self._rest = (unit, tail, frontier, self._ref, shapes)
        return True

    def _fill_weights(self, model: Any, config: dict[str, Any] | None, path: str,
                      old_entry: dict[str, Any], entry: dict[str, Any],
                      fresh: list[np.ndarray]) -> list[str]:
        reinit, need_seeded = [], []
        init_changed = init_keys(old_entry) != init_keys(entry)
        for p, layer in leaf_layers(model):
            ws = weights_of(layer)
            if not ws or p.startswith(CUT_PREFIX):
                continue
            try:
                old = self._layer(p)
            except ValueError:
                old = None
            same = old is not None and shapes_of(old) == shapes_of(layer)
            if p == path:
                if same and not init_changed:
                    for w, v in zip(ws, weights_of(old)):
                        w.assign(v.value)
                elif [tuple(np.shape(a)) for a in fresh] == shapes_of(layer):
                    for w, a in zip(ws, fresh):
                        w.assign(a)
                    reinit.append(p)
                else:
                    need_seeded.append(p)
            elif same:
                for w, v in zip(ws, weights_of(old)):
                    w.assign(v.value)
            else:
                need_seeded.append(p)
        if need_seeded:
            cfg = engine.serialize(model, format=engine.KERAS3) if config is None else config
            drawn = self._seeded_layers(model, seeded_config(cfg, self.seed), need_seeded)
            for p in need_seeded:
                for w, v in zip(weights_of(self._layer(p, model)), weights_of(drawn[p])):
                    w.assign(v.value)
            reinit.extend(need_seeded)
        return reinit

    def _seeded_layers(self, model: Any, seeded: dict[str, Any], paths: list[str]
                       ) -> dict[str, Any]:
        """The layers at ``paths`` of ``model`` with their weights drawn from the seeded
        config ``seeded`` of ``model``: each built alone from its seeded entry for the
        input shape it has in ``model`` (the same draws as the whole seeded model's: an
        initializer's draw depends on its seed and the shape only), not the whole model
        with every initializer run; the whole model when a layer cannot be (nested,
        no build config)."""
        entries = {entry_name(e): e for e in seeded["config"].get("layers") or []}
        out: dict[str, Any] = {}
        for p in paths:
            layer = self._layer(p, model)
            build = layer.get_build_config() if p in entries and SEP not in p else None
            if not build:
                break
            one = engine.deserialize({**{k: v for k, v in entries[p].items()
                                         if k not in ("inbound_nodes", "name")},
                                      "build_config": build}, self.custom_objects)
            if isinstance(one, engine.Model) or not one.built or \
                    shapes_of(one) != shapes_of(layer):
                break
            out[p] = one
        else:
            return out
        whole = engine.deserialize(seeded, self.custom_objects)
        return {p: self._layer(p, whole) for p in paths}
