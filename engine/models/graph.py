"""A functional model's graph, read and checked from its config.

:class:`GraphParser` reads the ``layers`` / ``input_layers`` / ``output_layers`` of a
functional config (Keras 2 node lists or Keras 3 ``{'args', 'kwargs'}`` nodes) and checks it
as a whole before anything is built: every reference resolves, node indices are in range,
there is no cycle, names are unique and every class is known. Every problem is collected;
the caller raises them together.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from .. import registry
from ..budget import current_budget
from ..errors import ConfigError, close_names, describe
from ..fields.constants import constant_array
from ..formats import KERAS2, KERAS3
from ..serialization import unknown_name
from .model import Model
from .ops import is_operation, operation_problem

NodeKey = tuple[str, int]


class Ref:
    """A tensor in the graph: output ``index`` of call ``node`` of layer ``layer``."""

    __slots__ = ("layer", "node", "index", "shape", "dtype")

    def __init__(self, layer: str, node: int, index: int, shape: Any = None,
                 dtype: str | None = None):
        self.layer, self.node, self.index = layer, node, index
        self.shape, self.dtype = shape, dtype

    @property
    def key(self) -> NodeKey:
        return (self.layer, self.node)

    def __repr__(self) -> str:
        return f"{self.layer}[{self.node}][{self.index}]"


class Node:
    """One call of a layer (or operation) in the graph.

    ``index`` is its 0-based position among that layer's calls; ``args``/``kwargs`` hold
    :class:`Ref` leaves; ``path`` is where the node is in the config and ``layer_path``
    where its layer is.
    """

    __slots__ = ("layer_name", "index", "args", "kwargs", "path", "layer_path", "op", "depth")

    def __init__(self, layer_name: str, index: int, args: list[Any], kwargs: dict[str, Any],
                 path: str, layer_path: str):
        self.layer_name, self.index, self.args, self.kwargs = layer_name, index, args, kwargs
        self.path, self.layer_path = path, layer_path
        self.op: Any = None  # the Layer or Operation, once created
        self.depth = 0

    @property
    def key(self) -> NodeKey:
        return (self.layer_name, self.index)


def refs_in(value: Any) -> list[Ref]:
    """Every :class:`Ref` inside a nested args/kwargs value, in order."""
    if isinstance(value, Ref):
        return [value]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in refs_in(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in refs_in(v)]
    return []


def map_refs(value: Any, fn: Callable[[Ref], Any]) -> Any:
    """``value`` with every :class:`Ref` replaced by ``fn(ref)`` (structure kept)."""
    if isinstance(value, Ref):
        return fn(value)
    if isinstance(value, list):
        return [map_refs(v, fn) for v in value]
    if isinstance(value, tuple):
        return tuple(map_refs(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: map_refs(v, fn) for k, v in value.items()}
    return value


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def node_style(config: Any) -> str | None:
    """KERAS3 when the inbound nodes are {'args', 'kwargs'} dicts, KERAS2 when lists."""
    layers = config.get("layers") if isinstance(config, dict) else None
    for entry in layers if isinstance(layers, list) else []:
        nodes = entry.get("inbound_nodes") if isinstance(entry, dict) else None
        if isinstance(nodes, list) and nodes:
            return KERAS3 if isinstance(nodes[0], dict) else KERAS2
    return None


class GraphParser:
    """Reads and checks the graph of a functional config.

    After construction: ``problems`` (every error found), ``entries``/``names``/``kind``
    (each layer entry, its name and kind: input, op, model or layer), ``nodes`` (key ->
    :class:`Node`), ``inputs``/``outputs`` (refs and whether the config gave a single one)
    and, when there was no problem, ``order`` (the node keys in topological order).
    """

    def __init__(self, config: dict[str, Any], path: str, fmt: str):
        self.path, self.fmt = path, fmt
        self.problems: list[ConfigError] = []
        self.entries: list[dict[str, Any]] = []
        self.names: list[str] = []
        self.nodes: dict[NodeKey, Node] = {}
        self.ncalls: dict[str, int] = {}
        self.kind: dict[str, str] = {}      # name -> input | op | model | layer
        self.inputs: tuple[list[Ref], bool] = ([], False)
        self.outputs: tuple[list[Ref], bool] = ([], False)
        self.order: list[NodeKey] = []
        layers = config.get("layers")
        if not isinstance(layers, list):
            self.err("layers", f"expected a list of layer configs, got {describe(layers)}")
            return
        self._budget = current_budget()
        self._budget.count_layers(len(layers), f"{path}.layers")
        self.entries = layers
        self._read_layers()
        self.inputs = self._io(config, "input_layers")
        self.outputs = self._io(config, "output_layers")
        self._check_refs()
        if not self.problems:
            self._order()

    def err(self, where: str, msg: str) -> None:
        self.problems.append(ConfigError(f"{self.path}.{where}", msg))

    def _read_layers(self) -> None:
        seen: dict[str, int] = {}
        for i, entry in enumerate(self.entries):
            where = f"layers[{i}]"
            if not isinstance(entry, dict):
                self.err(where, f"expected a layer config dict, got {describe(entry)}")
                continue
            cfg = entry.get("config")
            name = entry.get("name")
            if name is None and isinstance(cfg, dict):
                name = cfg.get("name")
            if not isinstance(name, str) or not name:
                self.err(f"{where}.name", f"each layer of a functional model needs a name, "
                         f"got {describe(name)}")
                continue
            if name in seen:
                self.err(f"{where}.name", f"duplicate layer name {name!r} (also layers"
                         f"[{seen[name]}]); names in a model must be unique")
                continue
            seen[name] = i
            self.names.append(name)
            self.kind[name] = self._classify(entry, entry.get("class_name"), where, name)
            self._read_nodes(entry, where, name)

    def _read_nodes(self, entry: dict[str, Any], where: str, name: str) -> None:
        layer_path = f"{self.path}.{where}"
        nodes = entry.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            self.err(f"{where}.inbound_nodes", f"layer {name!r}: expected a list of "
                     f"nodes, got {describe(nodes)}")
            nodes = []
        if self.kind[name] == "input":
            if nodes:
                self.err(f"{where}.inbound_nodes", f"InputLayer {name!r} cannot have "
                         f"inbound nodes")
            self.ncalls[name] = 1
            self.nodes[(name, 0)] = Node(name, 0, [], {}, layer_path, layer_path)
            return
        self.ncalls[name] = len(nodes)
        self._budget.count_nodes(len(nodes), f"{layer_path}.inbound_nodes")
        for n, raw in enumerate(nodes):
            npath = f"{where}.inbound_nodes[{n}]"
            parsed = self._node(raw, npath, name)
            if parsed is not None:
                args, kwargs = parsed
                self.nodes[(name, n)] = Node(name, n, args, kwargs, f"{self.path}.{npath}",
                                             layer_path)

    def _classify(self, entry: dict[str, Any], cls: Any, where: str, name: str) -> str:
        if not isinstance(cls, str):
            self.err(f"{where}.class_name", f"layer {name!r}: expected a class name, got "
                     f"{describe(cls)}")
            return "layer"
        if cls == "InputLayer":
            return "input"
        if is_operation(entry, self.fmt):
            bad = operation_problem(entry)
            if bad:
                self.err(f"{where}.{bad[0]}", f"layer {name!r}: {bad[1]}")
            return "op"
        reg = entry.get("registered_name")  # not a string: refused when the layer is made
        found = registry.custom_objects().get(reg if isinstance(reg, str) and reg else cls) or \
            registry.custom_objects().get(cls) or registry.lookup("layer", cls)
        if found is None:
            err = unknown_name("layer", cls, f"{where}.class_name")
            self.problems.append(ConfigError(f"{self.path}.{err.path}",
                                             f"layer {name!r}: unsupported layer class: "
                                             f"{err.reason}"))
            return "layer"
        if isinstance(found, type) and issubclass(found, Model):
            return "model"
        return "layer"

    def _node(self, raw: Any, path: str, name: str) -> tuple[list[Any], dict[str, Any]] | None:
        if isinstance(raw, dict):  # Keras 3
            args = raw.get("args", [])
            kwargs = raw.get("kwargs", {})
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                self.err(path, f"layer {name!r}: a node is {{'args': [...], 'kwargs': "
                         f"{{...}}}}, got {describe(raw)}")
                return None
            return self._value(args, f"{path}.args", name), \
                self._value(kwargs, f"{path}.kwargs", name)
        if isinstance(raw, list):  # Keras 2: [[name, node, tensor, kwargs], ...]
            return self._keras2_node(raw, path, name)
        self.err(path, f"layer {name!r}: expected a node (a dict or a list), got "
                 f"{describe(raw)}")
        return None

    def _keras2_node(self, raw: list[Any], path: str,
                     name: str) -> tuple[list[Any], dict[str, Any]] | None:
        refs = []
        kwargs: dict[str, Any] = {}
        if len(raw) == 4 and isinstance(raw[0], str) and _int(raw[1]) and _int(raw[2]) and \
                isinstance(raw[3], dict):
            # tf_keras TFOpLambda: one call [layer, node, tensor, kwargs], not a list of them
            return [Ref(raw[0], raw[1] - self._offset(raw[0]), raw[2])], self._k2_kwargs(raw[3])
        for j, item in enumerate(raw):
            if not isinstance(item, list) or len(item) not in (3, 4) or \
                    not isinstance(item[0], str) or not _int(item[1]) or not _int(item[2]):
                self.err(f"{path}[{j}]", f"layer {name!r}: expected [layer_name, node_index, "
                         f"tensor_index, kwargs], got {describe(item)}")
                return None
            refs.append(Ref(item[0], item[1] - self._offset(item[0]), item[2]))
            if len(item) == 4 and isinstance(item[3], dict) and item[3]:
                kwargs = self._k2_kwargs(item[3])
        if not refs:
            self.err(path, f"layer {name!r}: empty node")
            return None
        return ([refs[0]] if len(refs) == 1 else [refs]), kwargs

    def _offset(self, target: str) -> int:
        # Keras 2 numbers a nested model's calls from 1 (node 0 is its own graph).
        if self.fmt == KERAS2 and self.kind.get(target) == "model":
            return 1
        return 0

    def _k2_kwargs(self, kw: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in kw.items():
            if isinstance(v, list) and len(v) == 3 and isinstance(v[0], str) and \
                    _int(v[1]) and _int(v[2]):
                out[k] = Ref(v[0], v[1] - self._offset(v[0]), v[2])
            else:
                out[k] = v
        return out

    def _value(self, v: Any, path: str, name: str) -> Any:
        if isinstance(v, dict):
            cls = v.get("class_name")
            cfg = v.get("config")
            if cls == "__keras_tensor__":
                hist = cfg.get("keras_history") if isinstance(cfg, dict) else None
                if not (isinstance(hist, list) and len(hist) == 3 and isinstance(hist[0], str)
                        and _int(hist[1]) and _int(hist[2])):
                    self.err(path, f"layer {name!r}: keras_history must be [layer_name, "
                             f"node_index, tensor_index], got {describe(hist)}")
                    return None
                return Ref(hist[0], hist[1], hist[2], cfg.get("shape"), cfg.get("dtype"))
            if cls in ("__numpy__", "__tensor__") and isinstance(cfg, dict):
                # numeric only, its size charged to the budget before it is made
                return constant_array(cfg.get("value"), cfg.get("dtype"), f"{path}.config")
            if cls == "__slice__" and isinstance(cfg, dict):
                return slice(cfg.get("start"), cfg.get("stop"), cfg.get("step"))
            if cls == "__ellipsis__":
                return Ellipsis
            return {k: self._value(x, f"{path}.{k}", name) for k, x in v.items()}
        if isinstance(v, list):
            return [self._value(x, f"{path}[{i}]", name) for i, x in enumerate(v)]
        return v

    def _io(self, config: dict[str, Any], key: str) -> tuple[list[Ref], bool]:
        raw = config.get(key)
        if raw is None:
            self.err(key, "missing: a functional model config lists its inputs and outputs")
            return [], False
        single = isinstance(raw, list) and len(raw) == 3 and isinstance(raw[0], str)
        items = [raw] if single else raw
        if isinstance(items, dict):  # a dict of name -> triple (Keras 3 dict inputs)
            items = list(items.values())
        if not isinstance(items, list) or not items:
            self.err(key, f"expected [name, node, tensor] or a list of them, got "
                     f"{describe(raw)}")
            return [], single
        out = []
        for i, t in enumerate(items):
            if not (isinstance(t, list) and len(t) == 3 and isinstance(t[0], str) and
                    _int(t[1]) and _int(t[2])):
                self.err(f"{key}[{i}]", f"expected [layer_name, node_index, tensor_index], "
                         f"got {describe(t)}")
                continue
            off = self._offset(t[0]) if t[0] in self.kind else 0
            out.append(Ref(t[0], t[1] - off, t[2]))
        return out, single

    def _check_ref(self, ref: Ref, where: str, user: str) -> None:
        if ref.layer not in self.ncalls:
            hint = close_names(ref.layer, self.names, 3)
            near = f" (close: {', '.join(hint)})" if hint else ""
            self.err(where, f"{user} references layer {ref.layer!r}, which is not in the "
                     f"model{near}")
            return
        n = self.ncalls[ref.layer]
        off = self._offset(ref.layer)
        if not 0 <= ref.node < n:
            self.err(where, f"{user} references node {ref.node + off} of layer "
                     f"{ref.layer!r}, which has {n} node(s) (valid: {off}..{off + n - 1})")
        elif ref.index < 0:
            self.err(where, f"{user}: tensor index {ref.index} of layer {ref.layer!r} "
                     f"must be >= 0")

    def _check_refs(self) -> None:
        for node in self.nodes.values():
            user = f"layer {node.layer_name!r} node {node.index}"
            for ref in refs_in([node.args, node.kwargs]):
                self._check_ref(ref, node.path[len(self.path) + 1:], user)
        for key, (refs, _) in (("input_layers", self.inputs), ("output_layers", self.outputs)):
            for i, ref in enumerate(refs):
                self._check_ref(ref, f"{key}[{i}]", key)
                if key == "input_layers" and self.kind.get(ref.layer) not in ("input", None):
                    self.err(f"{key}[{i}]", f"model input {ref.layer!r} is not an InputLayer")

    def _order(self) -> None:
        """Topological order of the nodes (Kahn), stable in config order; cycles reported."""
        deps: dict[NodeKey, set[NodeKey]] = {}
        users: dict[NodeKey, list[NodeKey]] = {k: [] for k in self.nodes}
        for key, node in self.nodes.items():
            d = {r.key for r in refs_in([node.args, node.kwargs])}
            deps[key] = d
            for k in d:
                users[k].append(key)
        remaining = {k: len(v) for k, v in deps.items()}
        ready = deque(k for k in self.nodes if remaining[k] == 0)
        order: list[NodeKey] = []
        depth: dict[NodeKey, int] = {}
        while ready:
            k = ready.popleft()
            order.append(k)
            depth[k] = max((depth[d] + 1 for d in deps[k]), default=0)
            for u in users[k]:
                remaining[u] -= 1
                if remaining[u] == 0:
                    ready.append(u)
        if len(order) < len(self.nodes):
            stuck = [k for k in self.nodes if k not in depth]
            cycle = _find_cycle(stuck, deps)
            text = " -> ".join(f"{n}[{i}]" for n, i in cycle) if cycle else \
                ", ".join(f"{n}[{i}]" for n, i in stuck[:10])
            self.err("layers", f"the graph has a cycle: {text}; a functional model must be "
                     f"acyclic")
            return
        self._check_unused_inputs(users)
        for k in order:
            self.nodes[k].depth = depth[k]
        self.order = order

    def _check_unused_inputs(self, users: dict[NodeKey, list[NodeKey]]) -> None:
        inputs = {r.key for r in self.inputs[0]}
        for name, kind in self.kind.items():
            # an InputLayer that is not a model input: fine only if nothing uses it
            if kind == "input" and (name, 0) not in inputs and users.get((name, 0)):
                self.err("input_layers", f"graph disconnected: layer(s) "
                         f"{sorted({u[0] for u in users[(name, 0)]})} use InputLayer "
                         f"{name!r}, which is not listed in input_layers")


def _find_cycle(stuck: list[NodeKey], deps: dict[NodeKey, set[NodeKey]]) -> list[NodeKey]:
    stuck_set = set(stuck)
    for start in stuck:
        path: list[NodeKey] = []
        pos: dict[NodeKey, int] = {}
        k: NodeKey | None = start
        while k is not None and k not in pos:
            pos[k] = len(path)
            path.append(k)
            k = next((d for d in sorted(deps[k]) if d in stuck_set), None)
        if k is not None:
            cyc = path[pos[k]:]
            return list(reversed(cyc + [k]))
    return []
