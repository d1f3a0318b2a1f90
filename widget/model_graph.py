"""A model's layer graph read from its Keras 3 config: who feeds whom, what is downstream of a
layer, and the config of the downstream part alone (the rest cut off and replaced by inputs).

The ModelEditor recomputes only what an edit can change: it cuts the model's config below the
edited layer, feeds the cut's inputs with the activations it kept from the last pass and runs
that smaller model. Everything here works on configs (plain data) and the engine's public API.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

#: prefix of the inputs that replace the upstream part of a cut model
CUT_PREFIX = "cut__"

Ref = tuple[str, int, int]  # (layer name, node index, tensor index)


def _refs(value: Any, out: list[Ref]) -> None:
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            name, node, index = value["config"]["keras_history"]
            out.append((name, int(node), int(index)))
            return
        for v in value.values():
            _refs(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _refs(v, out)


def _rewrite(value: Any, mapping: dict[Ref, str]) -> Any:
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            name, node, index = value["config"]["keras_history"]
            new = mapping.get((name, int(node), int(index)))
            if new is None:
                return value
            cfg = dict(value["config"], keras_history=[new, 0, 0])
            return {**value, "config": cfg}
        return {k: _rewrite(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, mapping) for v in value]
    return value


def entry_name(entry: dict[str, Any]) -> str:
    return entry.get("name") or entry["config"]["name"]


class ConfigGraph:
    """The layers of a Sequential or Functional config (Keras 3 form) and their links.

    Attributes:
        names: layer names in config order (a Sequential's InputLayer included when written).
        entries: name -> the layer's config entry.
        inputs: name -> per call (node), the refs ``(layer, node, tensor)`` it reads.
        sequential: whether the model is a Sequential.
    """

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.sequential = config["class_name"] == "Sequential"
        layers = config["config"]["layers"]
        self.names: list[str] = []
        self.entries: dict[str, dict[str, Any]] = {}
        self.inputs: dict[str, list[list[Ref]]] = {}
        prev: str | None = None
        for entry in layers:
            name = entry_name(entry)
            self.names.append(name)
            self.entries[name] = entry
            if self.sequential:
                self.inputs[name] = [[(prev, 0, 0)]] if prev is not None else []
                prev = name
            else:
                nodes = []
                for node in entry.get("inbound_nodes") or []:
                    refs: list[Ref] = []
                    _refs(node, refs)
                    nodes.append(refs)
                self.inputs[name] = nodes
        self._down: dict[str, list[str]] = {}
        self.consumers: dict[str, list[str]] = {n: [] for n in self.names}
        for name, nodes in self.inputs.items():
            for refs in nodes:
                for src, _, _ in refs:
                    if src in self.consumers and name not in self.consumers[src]:
                        self.consumers[src].append(name)

    def renewed(self, config: dict[str, Any]) -> ConfigGraph:
        """The graph of ``config``, a copy of this graph's config with some entries replaced
        but the same layers and links (the inbound nodes the very same objects, as
        :meth:`with_entry` keeps them): the links are reused, not read again."""
        layers = config["config"]["layers"]
        old = self.config["config"]["layers"]
        if len(layers) != len(old) or (config["class_name"] == "Sequential") != \
                self.sequential:
            return ConfigGraph(config)
        entries = dict(self.entries)
        for i, (a, b) in enumerate(zip(layers, old)):
            if a is b:
                continue
            name = entry_name(a)
            if name != self.names[i] or a.get("inbound_nodes") is not b.get("inbound_nodes"):
                return ConfigGraph(config)
            entries[name] = a
        graph = copy.copy(self)
        graph.config = config
        graph.entries = entries
        return graph

    def class_name(self, name: str) -> str:
        return self.entries[name]["class_name"]

    def calls(self, name: str) -> int:
        return max(1, len(self.inputs.get(name) or []))

    def downstream(self, name: str) -> list[str]:
        """``name`` and every layer fed by it, directly or not, in config order (kept per
        name: the links never change, and :meth:`renewed` graphs share them)."""
        hit = self._down.get(name)
        if hit is not None:
            return list(hit)
        seen = {name}
        todo = [name]
        while todo:
            for c in self.consumers.get(todo.pop(), []):
                if c not in seen:
                    seen.add(c)
                    todo.append(c)
        down = [n for n in self.names if n in seen]
        self._down[name] = down
        return list(down)

    def first_input(self, name: str) -> list[Ref]:
        """The refs of the layer's first call."""
        nodes = self.inputs.get(name) or []
        return nodes[0] if nodes else []

    def with_entry(self, name: str, entry: dict[str, Any]) -> dict[str, Any]:
        """A copy of the model config with the layer ``name``'s entry replaced (its graph
        links kept)."""
        # shallow: entries are never changed in place, so the others are shared
        layers = list(self.config["config"]["layers"])
        i = self.names.index(name)
        old = layers[i]
        new = dict(entry)
        for key in ("name", "inbound_nodes"):
            if key in old:
                new[key] = old[key]
        layers[i] = new
        return {**self.config, "config": {**self.config["config"], "layers": layers}}

    def cut(self, name: str, value_of: Any, only: Any = None
            ) -> tuple[dict[str, Any], list[Ref]]:
        """The config of the part of the model downstream of ``name`` (included), whose
        inputs are the tensors it reads from upstream, and those tensors' refs (in the cut
        model's input order). ``value_of(ref)`` gives a ref's kept array (for its shape).
        ``only``: the layers to keep instead (a part of the downstream, e.g. ``{name}``)."""
        down = self.downstream(name)
        if only is not None:
            down = [n for n in down if n in set(only)]
        inside = set(down)
        frontier: list[Ref] = []
        for n in down:
            for refs in self.inputs.get(n) or []:
                for r in refs:
                    if r[0] not in inside and r not in frontier:
                        frontier.append(r)
        inputs = []
        mapping: dict[Ref, str] = {}
        for k, r in enumerate(frontier):
            value = np.asarray(value_of(r))
            iname = f"{CUT_PREFIX}{k}"
            mapping[r] = iname
            inputs.append({"module": "keras.layers", "class_name": "InputLayer",
                           "config": {"batch_shape": [None, *value.shape[1:]],
                                      "dtype": str(value.dtype), "name": iname},
                           "registered_name": None, "name": iname, "inbound_nodes": []})
        body = [dict(self.entries[n]) for n in down]  # shallow: never changed in place
        if self.sequential:
            return ({"module": "keras", "class_name": "Sequential", "registered_name": None,
                     "config": {"name": f"{CUT_PREFIX}model", "layers": inputs + body}},
                    frontier)
        for entry in body:
            entry["inbound_nodes"] = _rewrite(entry.get("inbound_nodes") or [], mapping)
        sinks = [n for n in down if not any(c in inside for c in self.consumers[n])]
        return ({"module": "keras.src.models.functional", "class_name": "Functional",
                 "registered_name": "Functional",
                 "config": {"name": f"{CUT_PREFIX}model", "trainable": True,
                            "layers": inputs + body,
                            "input_layers": [[i["name"], 0, 0] for i in inputs],
                            "output_layers": [[n, 0, 0] for n in sinks]}},
                frontier)


def ref_value(trace: dict[str, Any], graph: ConfigGraph, ref: Ref) -> Any:
    """The array a ref names, from an ``intermediate_outputs`` trace."""
    name, node, index = ref
    value = trace[name]
    if graph.calls(name) > 1 and isinstance(value, list):
        value = value[node]
    if isinstance(value, (list, tuple)):
        value = value[index]
    return value


def complete_trace(graph: ConfigGraph, trace: dict[str, Any], x: Any) -> dict[str, Any]:
    """``trace`` with the Sequential's InputLayer entry (when its config writes one the run
    did not trace, as for a Sequential built from layers given an ``input_shape``) set to
    the model's input ``x``."""
    if graph.sequential:
        for name in graph.names:
            if graph.class_name(name) == "InputLayer" and name not in trace:
                trace = {name: x, **trace}
    return trace


def with_input_layer(config: dict[str, Any], shape: Any, dtype: str) -> dict[str, Any]:
    """A Sequential config without an InputLayer entry (Keras 2's ``batch_input_shape`` on
    the first layer, or layers built from an ``input_shape``) with one written first, named
    as Keras names it (``<first layer>_input``), so that every layer has an input to cut
    at. Other configs are returned as they are."""
    layers = config["config"].get("layers") or []
    if config.get("class_name") != "Sequential" or not layers or \
            layers[0].get("class_name") == "InputLayer":
        return config
    taken = {entry_name(e) for e in layers}
    name = f"{entry_name(layers[0])}_input"
    while name in taken:
        name += "_"
    entry = {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
             "config": {"batch_shape": [None, *[None if d is None else int(d)
                                                  for d in list(shape)[1:]]],
                        "dtype": str(dtype), "name": name}}
    return {**config, "config": {**config["config"], "layers": [entry, *layers]}}
