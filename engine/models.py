"""Sequential and functional models: graphs of layers read from Keras 2 and Keras 3 configs.

A functional config is validated as a whole before anything is built: every reference
resolves, node indices are in range, there is no cycle, names are unique and every class is
known. All problems are reported together in one :class:`MultipleConfigErrors`.

Non-layer operations that Keras 3 records as graph nodes (``keras.src.ops.numpy.NotEqual``
for ``Embedding(mask_zero=True)``, arithmetic on tensors, ...) come from :data:`OPS`, a
table looked up by class name; no module named in a config is ever imported.
"""

from __future__ import annotations

import contextlib
import gc
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from . import registry
from .configurable import check_format
from .errors import ConfigError, MultipleConfigErrors, describe
from .fields import KERAS2, KERAS3, Bool, Object, Str
from .layers.base import Layer, _shape_from_json, normalize_shape
from .serialization import _maybe_build, deserialize_object, serialize

ShapeT = tuple


# -- non-layer operations --------------------------------------------------------------


def _key(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


class OpSpec:
    """How to run one Keras operation class: ``fn(*args, **params)``."""

    __slots__ = ("fn", "params", "required")

    def __init__(self, fn: Callable[..., Any], params: tuple[str, ...] = (),
                 required: tuple[str, ...] = ()):
        self.fn, self.params, self.required = fn, params, required


def _reduce(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(x: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> Any:
        return fn(x, axis=_key(axis), keepdims=keepdims, **{k: v for k, v in kw.items()
                                                           if v is not None})
    return run


#: Keras 3 operation class name -> numpy implementation (resolved by name only)
OPS: dict[str, OpSpec] = {
    "NotEqual": OpSpec(np.not_equal), "Equal": OpSpec(np.equal),
    "Greater": OpSpec(np.greater), "GreaterEqual": OpSpec(np.greater_equal),
    "Less": OpSpec(np.less), "LessEqual": OpSpec(np.less_equal),
    "Add": OpSpec(np.add), "Subtract": OpSpec(np.subtract), "Multiply": OpSpec(np.multiply),
    "Divide": OpSpec(np.true_divide), "TrueDivide": OpSpec(np.true_divide),
    "Maximum": OpSpec(np.maximum), "Minimum": OpSpec(np.minimum), "Power": OpSpec(np.power),
    "Matmul": OpSpec(np.matmul), "LogicalAnd": OpSpec(np.logical_and),
    "LogicalOr": OpSpec(np.logical_or), "LogicalNot": OpSpec(np.logical_not),
    "Negative": OpSpec(np.negative), "Abs": OpSpec(np.abs), "Absolute": OpSpec(np.abs),
    "Square": OpSpec(np.square), "Sqrt": OpSpec(np.sqrt), "Exp": OpSpec(np.exp),
    "Log": OpSpec(np.log), "Tanh": OpSpec(np.tanh),
    "Where": OpSpec(np.where),
    "Any": OpSpec(_reduce(np.any), ("axis", "keepdims")),
    "All": OpSpec(_reduce(np.all), ("axis", "keepdims")),
    "Mean": OpSpec(_reduce(np.mean), ("axis", "keepdims")),
    "Sum": OpSpec(_reduce(np.sum), ("axis", "keepdims")),
    "Max": OpSpec(_reduce(np.max), ("axis", "keepdims", "initial")),
    "Min": OpSpec(_reduce(np.min), ("axis", "keepdims", "initial")),
    "Reshape": OpSpec(lambda x, newshape: np.reshape(x, _key(newshape)), ("newshape",),
                      ("newshape",)),
    "Transpose": OpSpec(lambda x, axes=None: np.transpose(x, _key(axes)), ("axes",)),
    "ExpandDims": OpSpec(lambda x, axis: np.expand_dims(x, _key(axis)), ("axis",), ("axis",)),
    "Squeeze": OpSpec(lambda x, axis=None: np.squeeze(x, _key(axis)), ("axis",)),
    "Concatenate": OpSpec(lambda xs, axis=0: np.concatenate(xs, axis=axis), ("axis",)),
    "Stack": OpSpec(lambda xs, axis=0: np.stack(xs, axis=axis), ("axis",)),
    "Clip": OpSpec(lambda x, x_min, x_max: np.clip(x, x_min, x_max), ("x_min", "x_max"),
                   ("x_min", "x_max")),
    "Cast": OpSpec(lambda x, dtype: np.asarray(x).astype(dtype), ("dtype",), ("dtype",)),
    "GetItem": OpSpec(lambda x, key: np.asarray(x)[_key(key)]),
    "Relu": OpSpec(lambda x: np.maximum(x, 0)),
    "Sigmoid": OpSpec(lambda x: 1.0 / (1.0 + np.exp(-x))),
    "Softmax": OpSpec(lambda x, axis=-1: _softmax(x, axis), ("axis",)),
}


def _softmax(x: np.ndarray, axis: Any) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=_key(axis), keepdims=True))
    return e / np.sum(e, axis=_key(axis), keepdims=True)


class Operation:
    """A non-layer graph node (a Keras 3 ``keras.src.ops`` operation): no weights."""

    def __init__(self, class_name: str, module: str | None, config: dict[str, Any],
                 spec: OpSpec, path: str):
        unknown = [k for k in config if k != "name" and k not in spec.params]
        if unknown:
            raise ConfigError(f"{path}.{unknown[0]}", f"unknown key for operation "
                              f"{class_name} (known: name, {', '.join(spec.params)})")
        for k in spec.required:
            if k not in config:
                raise ConfigError(f"{path}.{k}", f"missing: operation {class_name} needs it")
        self.class_name, self.module, self.spec = class_name, module, spec
        self.config = dict(config)
        self.name = str(config.get("name") or class_name.lower())
        self.params = {k: v for k, v in config.items() if k != "name"}
        self.built = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("training", None)
        kwargs.pop("mask", None)
        return self.spec.fn(*args, **self.params, **kwargs)

    @property
    def weights(self) -> list[Any]:
        return []

    def count_params(self) -> int:
        return 0

    def keras_entry(self, fmt: str) -> dict[str, Any]:
        if fmt == KERAS2:
            return {"class_name": self.class_name, "config": dict(self.config)}
        return {"module": self.module or "keras.src.ops.numpy", "class_name": self.class_name,
                "config": dict(self.config), "registered_name": self.class_name}

    def __repr__(self) -> str:
        return f"<Operation {self.class_name} name={self.name!r}>"


def _is_op(entry: dict[str, Any]) -> bool:
    cls = entry.get("class_name")
    module = entry.get("module")
    if isinstance(module, str) and module.startswith("keras.src.ops"):
        return True
    return cls in OPS and registry.lookup("layer", cls) is None and \
        cls not in registry.custom_objects()


# -- the graph ------------------------------------------------------------------------


class Ref:
    """A tensor in the graph: output ``index`` of call ``node`` of layer ``layer``."""

    __slots__ = ("layer", "node", "index", "shape", "dtype")

    def __init__(self, layer: str, node: int, index: int, shape: Any = None,
                 dtype: str | None = None):
        self.layer, self.node, self.index = layer, node, index
        self.shape, self.dtype = shape, dtype

    @property
    def key(self) -> tuple[str, int]:
        return (self.layer, self.node)

    def __repr__(self) -> str:
        return f"{self.layer}[{self.node}][{self.index}]"


class Node:
    """One call of a layer (or operation) in the graph: ``index`` is its 0-based position
    among that layer's calls; ``args``/``kwargs`` hold :class:`Ref` leaves."""

    __slots__ = ("layer_name", "index", "args", "kwargs", "path", "op", "depth")

    def __init__(self, layer_name: str, index: int, args: list[Any], kwargs: dict[str, Any],
                 path: str):
        self.layer_name, self.index, self.args, self.kwargs = layer_name, index, args, kwargs
        self.path = path
        self.op: Any = None  # the Layer or Operation, once created
        self.depth = 0

    @property
    def key(self) -> tuple[str, int]:
        return (self.layer_name, self.index)


def _refs(value: Any) -> list[Ref]:
    if isinstance(value, Ref):
        return [value]
    if isinstance(value, (list, tuple)):
        return [r for v in value for r in _refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    return []


def _map(value: Any, fn: Callable[[Ref], Any]) -> Any:
    if isinstance(value, Ref):
        return fn(value)
    if isinstance(value, list):
        return [_map(v, fn) for v in value]
    if isinstance(value, tuple):
        return tuple(_map(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: _map(v, fn) for k, v in value.items()}
    return value


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class _Parser:
    """Reads the ``layers`` / ``input_layers`` / ``output_layers`` of a functional config."""

    def __init__(self, config: dict[str, Any], path: str, fmt: str):
        self.path, self.fmt = path, fmt
        self.problems: list[ConfigError] = []
        self.entries: list[dict[str, Any]] = []
        self.names: list[str] = []
        self.nodes: dict[tuple[str, int], Node] = {}
        self.ncalls: dict[str, int] = {}
        self.kind: dict[str, str] = {}      # name -> input | op | model | layer
        layers = config.get("layers")
        if not isinstance(layers, list):
            self.err("layers", f"expected a list of layer configs, got {describe(layers)}")
            return
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
            cls = entry.get("class_name")
            self.kind[name] = self._classify(entry, cls, f"{where}", name)
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
                self.nodes[(name, 0)] = Node(name, 0, [], {}, f"{self.path}.{where}")
                continue
            self.ncalls[name] = len(nodes)
            for n, raw in enumerate(nodes):
                npath = f"{where}.inbound_nodes[{n}]"
                parsed = self._node(raw, npath, name)
                if parsed is not None:
                    args, kwargs = parsed
                    self.nodes[(name, n)] = Node(name, n, args, kwargs,
                                                  f"{self.path}.{npath}")

    def _classify(self, entry: dict[str, Any], cls: Any, where: str, name: str) -> str:
        if not isinstance(cls, str):
            self.err(f"{where}.class_name", f"layer {name!r}: expected a class name, got "
                     f"{describe(cls)}")
            return "layer"
        if cls == "InputLayer":
            return "input"
        if _is_op(entry):
            if cls not in OPS:
                self.err(f"{where}.class_name", f"layer {name!r}: operation {cls!r} is not "
                         f"supported by layerlab (supported: {', '.join(sorted(OPS))})")
            return "op"
        found = registry.custom_objects().get(entry.get("registered_name") or cls) or \
            registry.custom_objects().get(cls) or registry.lookup("layer", cls)
        if found is None:
            err = registry.unknown_name("layer", cls, f"{where}.class_name")
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
            refs = []
            kwargs: dict[str, Any] = {}
            for j, item in enumerate(raw):
                ipath = f"{path}[{j}]"
                if not isinstance(item, list) or len(item) not in (3, 4) or \
                        not isinstance(item[0], str) or not _int(item[1]) or \
                        not _int(item[2]):
                    self.err(ipath, f"layer {name!r}: expected [layer_name, node_index, "
                             f"tensor_index, kwargs], got {describe(item)}")
                    return None
                refs.append(Ref(item[0], item[1] - self._offset(item[0]), item[2]))
                if len(item) == 4 and isinstance(item[3], dict) and item[3]:
                    kwargs = self._k2_kwargs(item[3])
            if not refs:
                self.err(path, f"layer {name!r}: empty node")
                return None
            return ([refs[0]] if len(refs) == 1 else [refs]), kwargs
        self.err(path, f"layer {name!r}: expected a node (a dict or a list), got "
                 f"{describe(raw)}")
        return None

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
                return np.asarray(cfg.get("value"), dtype=cfg.get("dtype") or None)
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
            from .errors import close_names

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
            for ref in _refs([node.args, node.kwargs]):
                self._check_ref(ref, node.path[len(self.path) + 1:], user)
        for key in ("input_layers", "output_layers"):
            refs = self.inputs[0] if key == "input_layers" else self.outputs[0]
            for i, ref in enumerate(refs):
                self._check_ref(ref, f"{key}[{i}]", key)
                if key == "input_layers" and self.kind.get(ref.layer) not in ("input", None):
                    self.err(f"{key}[{i}]", f"model input {ref.layer!r} is not an InputLayer")

    def _order(self) -> None:
        """Topological order of the nodes (Kahn), stable in config order; cycles reported."""
        deps: dict[tuple[str, int], set[tuple[str, int]]] = {}
        users: dict[tuple[str, int], list[tuple[str, int]]] = {k: [] for k in self.nodes}
        for key, node in self.nodes.items():
            d = {r.key for r in _refs([node.args, node.kwargs])}
            deps[key] = d
            for k in d:
                users[k].append(key)
        remaining = {k: len(v) for k, v in deps.items()}
        ready = deque(k for k in self.nodes if remaining[k] == 0)
        order: list[tuple[str, int]] = []
        depth: dict[tuple[str, int], int] = {}
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
        inputs = {r.key for r in self.inputs[0]}
        for name, kind in self.kind.items():
            if kind == "input" and (name, 0) not in inputs:
                # an InputLayer that is not a model input: fine only if nothing uses it
                if users.get((name, 0)):
                    self.err("input_layers", f"graph disconnected: layer(s) "
                             f"{sorted({u[0] for u in users[(name, 0)]})} use InputLayer "
                             f"{name!r}, which is not listed in input_layers")
        for k in order:
            self.nodes[k].depth = depth[k]
        self.order = order


def _find_cycle(stuck: list[tuple[str, int]],
                deps: dict[tuple[str, int], set[tuple[str, int]]]) -> list[tuple[str, int]]:
    stuck_set = set(stuck)
    for start in stuck:
        path: list[tuple[str, int]] = []
        pos: dict[tuple[str, int], int] = {}
        k: tuple[str, int] | None = start
        while k is not None and k not in pos:
            pos[k] = len(path)
            path.append(k)
            k = next((d for d in sorted(deps[k]) if d in stuck_set), None)
        if k is not None:
            cyc = path[pos[k]:]
            return list(reversed(cyc + [k]))
    return []


# -- the models -----------------------------------------------------------------------


def _input_layer_class() -> type:
    cls = registry.lookup("layer", "InputLayer")
    return cls if cls is not None else InputLayerFallback


class InputLayerFallback(Layer):
    """A model input (used only while the engine's own InputLayer is not available).

    Output shape: ``batch_shape``.
    """

    abstract = True
    fields = (
        Str("name", None, "The input's name."),
        Object("dtype", "float32", "The input dtype.", kind="dtype"),
    )
    drop_fields = ("trainable", "activity_regularizer", "batch_input_shape")

    def __init__(self, *args: Any, batch_shape: Any = None, batch_input_shape: Any = None,
                 shape: Any = None, batch_size: Any = None, sparse: bool = False,
                 ragged: bool = False, optional: bool = False, input_tensor: Any = None,
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        bs = batch_shape if batch_shape is not None else batch_input_shape
        if bs is None and shape is not None:
            bs = [batch_size] + list(shape)
        if bs is None:
            raise ConfigError(self._path or "config", "InputLayer needs batch_shape")
        self.batch_shape = tuple(bs)
        self.built = True

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        key = "batch_shape" if check_format(format) == KERAS3 else "batch_input_shape"
        return {key: list(self.batch_shape), "dtype": self.dtype, "sparse": False,
                "ragged": False, "name": self.name, "optional": False}


def _input_info(layer: Any) -> tuple[tuple[Any, ...], str]:
    shape = None
    for attr in ("batch_shape", "batch_input_shape", "_batch_shape"):
        shape = getattr(layer, attr, None)
        if shape is None:
            shape = getattr(layer, "_values", {}).get(attr)
        if shape is not None:
            break
    dtype = getattr(layer, "dtype", "float32")
    if not isinstance(dtype, str):
        dtype = getattr(dtype, "name", "float32")
    return (tuple(shape) if shape is not None else (None,)), dtype


_MODEL_FIELDS = (
    Str("name", None, "The model's name."),
    Bool("trainable", True, "Whether the weights are updated in training."),
    Object("dtype", "float32", "Dtype policy (Keras 3 Sequential writes it).", kind="dtype"),
)


class Model(Layer):
    """What Sequential and Functional share: layers, weights, summary, intermediate outputs."""

    abstract = True
    fields = _MODEL_FIELDS
    drop_fields = ("activity_regularizer", "batch_input_shape")
    keras_module: ClassVar[str] = "keras"
    supports_masking = True

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._layers: list[Any] = []
        self._source_format = KERAS3
        self._out_masks: Any = None

    # -- layers and weights --------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return [x for x in self._layers if isinstance(x, Layer)]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called ``name`` (or at ``index`` of :attr:`layers`)."""
        if index is not None:
            layers = self.layers
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index} out of range for model "
                                 f"{self.name!r} with {len(layers)} layers")
            return layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        from .errors import close_names

        hint = close_names(str(name), [x.name for x in self.layers], 3)
        near = f" Close names: {', '.join(hint)}." if hint else ""
        raise ValueError(f"get_layer: no layer named {name!r} in model {self.name!r}.{near}")

    @property
    def _sublayers(self) -> list[Layer]:  # type: ignore[override]
        out, seen = [], set()
        for layer in self.layers:
            if id(layer) not in seen:
                seen.add(id(layer))
                out.append(layer)
        return out

    @_sublayers.setter
    def _sublayers(self, value: list[Layer]) -> None:
        pass

    def count_params(self) -> int:
        return int(sum(w.size for w in self.weights))

    @property
    def input_names(self) -> list[str]:
        return [r.layer for r in getattr(self, "_inputs", [])]

    # -- calling -------------------------------------------------------------------
    def __call__(self, inputs: Any, *args: Any, training: bool = False, mask: Any = None,
                 **kwargs: Any) -> Any:
        """Run the model on ``inputs`` (an array, or a list/dict for several inputs)."""
        outputs, masks, _ = self._run(inputs, training=training, mask=mask)
        self._out_masks = masks
        return outputs

    def call(self, inputs: Any, training: bool = False, mask: Any = None) -> Any:
        return self(inputs, training=training, mask=mask)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return self._out_masks

    def predict(self, x: Any, batch_size: int | None = None) -> Any:
        return self(x)

    def intermediate_outputs(self, inputs: Any, training: bool = False) -> dict[str, Any]:
        """Every layer's output for ``inputs``, in graph (depth) order: name -> array.

        A layer called several times maps to the list of its outputs; operations and
        InputLayers are included (the widget plots activation statistics by depth).
        """
        _, _, trace = self._run(inputs, training=training, mask=None, trace=True)
        depths = self.layer_depths()
        order = sorted(trace, key=lambda name: depths.get(name, 0))  # stable: graph order
        return {name: trace[name] for name in order}

    def layer_depths(self) -> dict[str, int]:
        """name -> depth of the layer's first call (0 for inputs)."""
        return {}

    def _run(self, inputs: Any, training: bool, mask: Any, trace: bool = False):
        raise NotImplementedError

    # -- serialization -------------------------------------------------------------
    def keras_serialize(self, fmt: str) -> dict[str, Any]:
        fmt = check_format(fmt)
        cls = type(self)
        if fmt == KERAS2:
            return {"class_name": cls.__name__, "config": self.get_config(KERAS2)}
        out = {"module": self.keras_module, "class_name": cls.__name__,
               "config": self.get_config(KERAS3), "registered_name": self._registered_name,
               "build_config": self.get_build_config()}
        out["compile_config"] = {}
        return out

    _registered_name: ClassVar[str | None] = None

    def to_json(self, format: str = KERAS3, **kwargs: Any) -> str:
        """``model.to_json()``: the serialized model as JSON text (either format)."""
        import json

        fmt = check_format(format)
        data = self.keras_serialize(fmt)
        if fmt == KERAS2:
            data["keras_version"] = "2.21.0"
            data["backend"] = "tensorflow"
        return json.dumps(data, **kwargs)

    def load_weights(self, path: Any) -> None:
        """Load a ``.weights.h5`` (Keras 3 layout) or legacy weights ``.h5`` file."""
        from .files import load_weights

        load_weights(self, path)

    def save(self, path: Any) -> None:
        from .files import save

        save(self, path)

    # -- summary -------------------------------------------------------------------
    def _summary_rows(self) -> tuple[list[Any], bool]:
        return [], True

    def summary(self, line_length: int | None = None, print_fn: Callable[[str], Any] | None
                = None) -> str:
        """Print (and return) Keras's summary table: layer (type), output shape, params."""
        rows, seq = self._summary_rows()
        if seq:
            header = ["Layer (type)", "Output Shape", "Param #"]
            positions, default = [0.45, 0.80, 1.0], 88
            align = "<<>"
        else:
            header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
            positions, default = [0.3, 0.56, 0.74, 1.0], 108
            align = "<<><"
        if line_length is None:
            import shutil

            line_length = min(default, shutil.get_terminal_size((default + 4, 24)).columns - 4)
        text = _table(f'Model: "{self.name}"', header, align, positions, line_length,
                      [r[:len(header)] for r in rows])
        tw = [w for w in self.trainable_weights]
        nw = [w for w in self.non_trainable_weights]
        tc, nc = sum(w.size for w in tw), sum(w.size for w in nw)
        tm = sum(w.size * np.dtype(w.dtype).itemsize for w in tw)
        nm = sum(w.size * np.dtype(w.dtype).itemsize for w in nw)
        text += (f"\n Total params: {tc + nc:,} ({_mem(tm + nm)})\n"
                 f" Trainable params: {tc:,} ({_mem(tm)})\n"
                 f" Non-trainable params: {nc:,} ({_mem(nm)})\n")
        (print_fn or (lambda s: print(s, end="")))(text)
        return text


def _mem(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n / 1024 < 1:
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} PB"


def _fmt_shape(shape: Any) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(_fmt_shape(s) for s in shape) + "]"
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _table(title: str, header: list[str], align: str, positions: list[float],
           line_length: int, rows: list[list[str]]) -> str:
    widths, cur = [], 0
    for p in positions:
        w = int(p * line_length) - cur
        widths.append(w)
        cur += w
    inner = [max(1, w - 3) for w in widths]  # one border + two padding spaces per column
    inner[-1] = max(1, inner[-1] - 1)

    def line(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (w + 2) for w in inner) + right

    import textwrap

    def cells(values: list[str], sep: str) -> list[str]:
        wrapped = [textwrap.wrap(v, w, break_long_words=True) or [""]
                   for v, w in zip(values, inner)]
        out = []
        for i in range(max(len(c) for c in wrapped)):
            parts = []
            for c, w, a in zip(wrapped, inner, align):
                s = c[i] if i < len(c) else ""
                parts.append(" " + (s.rjust(w) if a == ">" else s.ljust(w)) + " ")
            out.append(sep + sep.join(parts) + sep)
        return out

    lines = [title, line("┏", "━", "┳", "┓")]
    lines += cells(header, "┃")
    lines.append(line("┡", "━", "╇", "┩"))
    for i, r in enumerate(rows):
        if i:
            lines.append(line("├", "─", "┼", "┤"))
        lines += cells(r, "│")
    lines.append(line("└", "─", "┴", "┘"))
    return "\n".join(lines)


# -- running a graph ------------------------------------------------------------------


def _first_mask(x: Any, masks: Any) -> Any:
    return masks


def _prepare_inputs(model: Model, inputs: Any, specs: list[tuple[tuple, str]],
                    names: list[str]) -> list[np.ndarray]:
    if isinstance(inputs, dict):
        missing = [n for n in names if n not in inputs]
        if missing:
            raise ValueError(f"model {model.name!r}: missing input(s) {missing}; inputs are "
                             f"{names}")
        inputs = [inputs[n] for n in names]
    if len(specs) == 1:
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1 and \
                not np.isscalar(inputs[0]) and np.ndim(inputs[0]) >= 1 and \
                isinstance(inputs[0], np.ndarray):
            inputs = inputs[0]
        inputs = [inputs]
    elif not isinstance(inputs, (list, tuple)) or len(inputs) != len(specs):
        got = len(inputs) if isinstance(inputs, (list, tuple)) else 1
        raise ValueError(f"model {model.name!r} expects {len(specs)} inputs {names}, got "
                         f"{got}")
    out = []
    for x, (shape, dtype), name in zip(inputs, specs, names):
        arr = np.asarray(x)
        if arr.dtype != np.dtype(dtype):
            arr = arr.astype(dtype)
        if len(shape) != arr.ndim or any(s is not None and s != a
                                         for s, a in zip(shape[1:], arr.shape[1:])):
            raise ValueError(f"model {model.name!r}: input {name!r} expects shape "
                             f"{_fmt_shape(shape)}, got {arr.shape}")
        out.append(arr)
    return out


_PARAMS: dict[type, list[str]] = {}


def _call_params(op: Any) -> list[str]:
    cls = type(op)
    if cls not in _PARAMS:
        import inspect

        try:
            params = list(inspect.signature(cls.call).parameters)[1:]
        except (TypeError, ValueError):
            params = []
        _PARAMS[cls] = params
    return _PARAMS[cls]


def _flatten(out: Any) -> list[Any]:
    """A layer's outputs as the graph numbers them: nested lists (the per-cell states of a
    stacked RNN) flattened in order, as Keras's node outputs are."""
    if not isinstance(out, (list, tuple)):
        return [out]
    flat: list[Any] = []
    for o in out:
        flat.extend(_flatten(o) if isinstance(o, (list, tuple)) else [o])
    return flat


def _call_node(op: Any, node: Node, args: list[Any], kwargs: dict[str, Any],
               mask_of: Callable[[Any], Any], training: bool) -> tuple[list[Any], list[Any]]:
    if isinstance(op, Operation):
        out = op(*args, **kwargs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        return outs, [None] * len(outs)
    kwargs = dict(kwargs)
    kwargs.pop("training", None)
    mask = kwargs.pop("mask", None)
    first = args[0] if args else None
    prev_mask = mask if mask is not None else (mask_of(node.args[0]) if node.args else None)
    tensors = [(i, a) for i, a in enumerate(node.args) if _refs(a)] + \
        [(k, v) for k, v in node.kwargs.items() if k != "mask" and _refs(v)]
    if len(tensors) > 1:
        # Keras 3: each tensor argument's mask goes to '<argument>_mask' when call has it
        names = _call_params(op)
        for pos, value in tensors:
            arg = names[pos] if isinstance(pos, int) and pos < len(names) else pos
            key = f"{arg}_mask"
            if isinstance(arg, str) and key in names and kwargs.get(key) is None:
                m = mask_of(value)
                if m is not None:
                    kwargs[key] = m
    elif mask is None:
        mask = prev_mask
    out = op(first, *args[1:], training=training, mask=mask, **kwargs)
    try:
        out_mask = op.compute_mask(first, prev_mask)
    except Exception:  # a layer without mask support must not break the forward pass
        out_mask = None
    outs = _flatten(out)
    if isinstance(out_mask, (list, tuple)):
        out_mask = _flatten(out_mask)
    if isinstance(out_mask, list) and len(out_mask) == len(outs) and len(outs) > 1:
        masks = list(out_mask)
    else:
        masks = [out_mask] + [None] * (len(outs) - 1)
    return outs, masks


class Functional(Model):
    """A functional model: a graph of layer calls (``keras.Model(inputs, outputs)``).

    Created from a Keras 2 or Keras 3 config with :func:`engine.deserialize`. Inputs and
    outputs: one array, or a list (several inputs/outputs, in ``input_layers`` order).
    """

    aliases = ("Model",)
    keras_module: ClassVar[str] = "keras.src.models.functional"
    _registered_name: ClassVar[str | None] = "Functional"

    @classmethod
    def from_config(cls, config: dict[str, Any], *, path: str = "config") -> Functional:
        style = _node_style(config)  # the nodes' form says which Keras wrote the config
        with _nested(path), _gc_paused(), \
                registry.source_format(style or registry.current_format()):
            return cls._from_config(config, path)

    @classmethod
    def _from_config(cls, config: dict[str, Any], path: str) -> Functional:
        if not isinstance(config, dict):
            raise ConfigError(path, f"expected a dict of settings, got {describe(config)}")
        fmt = registry.current_format() or KERAS3
        parser = _Parser(config, path, fmt)
        problems = list(parser.problems)
        known = {"name", "trainable", "layers", "input_layers", "output_layers", "dtype"}
        for k in config:
            if k not in known:
                problems.append(ConfigError(f"{path}.{k}", "unknown key for a functional "
                                            f"model (known keys: {', '.join(sorted(known))})"))
        if problems:
            raise _combine(path, problems)
        model = cls(name=config.get("name"), trainable=config.get("trainable", True),
                    _config_path=path)
        model._source_format = fmt
        created: dict[str, Any] = {}
        for i, entry in enumerate(parser.entries):
            name = parser.names[i]
            where = f"{path}.layers[{i}]"
            try:
                created[name] = _create(entry, parser.kind[name], where)
            except MultipleConfigErrors as e:
                problems.extend(e.errors or [e])
            except ConfigError as e:
                problems.append(e if e.path.startswith(where) else e.with_prefix(where))
        if not problems:
            problems = _build_all([(created[parser.names[i]], e, f"{path}.layers[{i}]")
                                   for i, e in enumerate(parser.entries)])
        if problems:
            raise _combine(path, problems)
        model._init_graph(parser, created)
        return model

    def _init_graph(self, parser: _Parser, created: dict[str, Any]) -> None:
        self._layers = [created[n] for n in parser.names]
        self._by_name = created
        self._names = list(parser.names)
        self._kinds = dict(parser.kind)
        self._nodes = parser.nodes
        self._order = [parser.nodes[k] for k in parser.order]
        for node in self._order:
            node.op = created[node.layer_name]
        self._inputs, self._single_input = parser.inputs
        self._outputs, self._single_output = parser.outputs
        self._input_specs = [_input_info(created[r.layer]) for r in self._inputs]
        self._shapes: dict[tuple[str, int], list[Any]] = {}
        self._build_graph()

    def _build_graph(self) -> None:
        """Build every layer from the shapes flowing through the graph (before any data)."""
        problems: list[ConfigError] = []
        shapes: dict[tuple[str, int], list[Any]] = {}
        for node in self._order:
            op = node.op
            if self._kinds[node.layer_name] == "input":
                shapes[node.key] = [_input_info(op)[0]]
                continue
            try:
                arg_shapes = _map(node.args, lambda r, n=node: _out_shape(shapes, r, n))
            except ConfigError as e:
                problems.append(e)
                continue
            if isinstance(op, Operation):
                shapes[node.key] = [None]
                continue
            tensor_args = [a for a in node.args if _refs(a)]
            first = arg_shapes[0] if arg_shapes else None
            try:
                if not op.built and len(tensor_args) == 1 and len(node.args) == 1 and \
                        first is not None and _known(first):
                    op.build(first)
                elif not op.built and len(tensor_args) == len(node.args) > 1 and \
                        all(_known(a) for a in arg_shapes):
                    op.build(*arg_shapes)  # layers called with several tensors (attention)
                out = None
                if op.built and len(node.args) == 1 and isinstance(first, tuple):
                    _check_spec(op, first)
                if op.built and first is not None:
                    try:
                        out = op.compute_output_shape(first) if len(node.args) == 1 else \
                            op.compute_output_shape(*arg_shapes)
                    except (ValueError, TypeError, IndexError, KeyError):
                        if len(node.args) == 1:
                            raise
                        out = None
            except ConfigError as e:
                problems.append(e.with_prefix(f"{node.path} (layer {node.layer_name!r})"))
                continue
            except (ValueError, TypeError, IndexError) as e:
                problems.append(ConfigError(node.path, f"layer {node.layer_name!r} "
                                            f"({type(op).__name__}) cannot take input shape "
                                            f"{_fmt_shape(first)}: {e}"))
                continue
            except Exception:  # shape inference is best effort; the call will tell
                out = None
            if isinstance(out, list) and out and all(isinstance(s, (tuple, list)) or s is None
                                                     for s in out):
                shapes[node.key] = [tuple(s) if s is not None else None for s in out]
            else:
                shapes[node.key] = [tuple(out) if out is not None else None]
        for i, ref in enumerate(self._outputs):
            if ref.key in shapes and shapes[ref.key][0] is not None and \
                    ref.index >= len(shapes[ref.key]):
                problems.append(ConfigError(f"{self._path}.output_layers[{i}]",
                                            f"layer {ref.layer!r} has {len(shapes[ref.key])} "
                                            f"output(s); tensor index {ref.index} is out of "
                                            f"range"))
        if problems:
            raise _combine(self._path, problems)
        self._shapes = shapes
        self.built = all(getattr(x, "built", True) for x in self._layers)

    def build(self, input_shape: Any = None) -> None:
        """Functional models are built from their config; nothing more to do."""

    def compute_output_shape(self, input_shape: Any) -> Any:
        outs = [self._shapes.get(r.key, [None])[r.index] if r.index <
                len(self._shapes.get(r.key, [None])) else None for r in self._outputs]
        return outs[0] if self._single_output or len(outs) == 1 else outs

    def _run(self, inputs: Any, training: bool, mask: Any, trace: bool = False):
        names = [r.layer for r in self._inputs]
        xs = _prepare_inputs(self, inputs, self._input_specs, names)
        values: dict[tuple[str, int], list[Any]] = {}
        masks: dict[tuple[str, int], list[Any]] = {}
        in_masks = mask if isinstance(mask, (list, tuple)) else [mask] * len(xs)
        for ref, x, m in zip(self._inputs, xs, in_masks):
            values[ref.key] = [x]
            masks[ref.key] = [m]
        trace_out: dict[str, Any] = {}

        def get(r: Ref) -> Any:
            outs = values[r.key]
            if r.index >= len(outs):
                raise ValueError(f"model {self.name!r}: layer {r.layer!r} has {len(outs)} "
                                 f"output(s); tensor index {r.index} is out of range")
            return outs[r.index]

        def mask_of(arg: Any) -> Any:
            m = _map(arg, lambda r: masks[r.key][r.index] if r.index < len(masks[r.key])
                     else None)
            if isinstance(m, list) and all(x is None for x in m):
                return None
            return m

        for node in self._order:
            if node.key in values:
                if trace:
                    trace_out.setdefault(node.layer_name, values[node.key][0])
                continue
            args = _map(node.args, get)
            kwargs = _map(node.kwargs, get)
            try:
                outs, out_masks = _call_node(node.op, node, args, kwargs, mask_of, training)
            except (ValueError, TypeError) as e:
                raise type(e)(f"model {self.name!r}, layer {node.layer_name!r} (call "
                              f"{node.index}): {e}") from e
            values[node.key] = outs
            masks[node.key] = out_masks
            if trace:
                item = outs[0] if len(outs) == 1 else outs
                if node.layer_name in trace_out:
                    prev = trace_out[node.layer_name]
                    if not isinstance(prev, _Calls):
                        prev = _Calls([prev])
                    prev.append(item)
                    trace_out[node.layer_name] = prev
                else:
                    trace_out[node.layer_name] = item
        outputs = [get(r) for r in self._outputs]
        out_masks = [masks[r.key][r.index] if r.index < len(masks[r.key]) else None
                     for r in self._outputs]
        if self._single_output or len(outputs) == 1:
            return outputs[0], out_masks[0], trace_out
        return outputs, out_masks, trace_out

    def layer_depths(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for node in self._order:
            out.setdefault(node.layer_name, node.depth)
        return out

    # -- config --------------------------------------------------------------------
    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        fmt = check_format(format)
        layers = []
        for name, layer in zip(self._names, self._layers):
            entry = _layer_entry(layer, fmt)
            entry["name"] = name
            nodes = []
            if self._kinds[name] != "input":
                n = 0
                while (name, n) in self._nodes:
                    nodes.append(self._emit_node(self._nodes[(name, n)], fmt))
                    n += 1
            entry["inbound_nodes"] = nodes
            layers.append(entry)

        def io(refs: list[Ref], single: bool) -> Any:
            out = [[r.layer, r.node + self._offset(r.layer, fmt), r.index] for r in refs]
            return out[0] if single and fmt == KERAS3 and len(out) == 1 else out

        return {"name": self.name, "trainable": self.trainable, "layers": layers,
                "input_layers": io(self._inputs, self._single(self._single_input,
                                                              self._inputs)),
                "output_layers": io(self._outputs, self._single(self._single_output,
                                                                self._outputs))}

    def _single(self, parsed_single: bool, refs: list[Ref]) -> bool:
        # Keras 3 keeps the structure it was given; a Keras 2 config is always a list
        return parsed_single if self._source_format == KERAS3 else len(refs) == 1

    def _offset(self, name: str, fmt: str) -> int:
        return 1 if fmt == KERAS2 and self._kinds.get(name) == "model" else 0

    def _emit_node(self, node: Node, fmt: str) -> Any:
        if fmt == KERAS2:
            refs = node.args[0] if node.args else []
            refs = refs if isinstance(refs, list) else [refs]
            kw = {k: ([v.layer, v.node + self._offset(v.layer, fmt), v.index]
                      if isinstance(v, Ref) else v)
                  for k, v in node.kwargs.items() if v is not None and k != "training"}
            return [[r.layer, r.node + self._offset(r.layer, fmt), r.index, kw]
                    for r in _refs(refs)]

        def tensor(r: Ref) -> dict[str, Any]:
            shape = r.shape
            if shape is None:
                s = self._shapes.get(r.key, [None])
                shape = list(s[r.index]) if r.index < len(s) and s[r.index] is not None \
                    else None
            dtype = r.dtype or _out_dtype(self._by_name[r.layer])
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": shape, "dtype": dtype,
                               "keras_history": [r.layer, r.node, r.index]}}

        return {"args": _emit_values(_map(node.args, tensor)),
                "kwargs": _emit_values(_map(node.kwargs, tensor))}

    def get_build_config(self) -> dict[str, Any] | None:
        return {"input_shape": None}

    def _summary_rows(self) -> tuple[list[Any], bool]:
        seq = all(len(_refs(n.args)) <= 1 for n in self._order) and \
            all(not (k[1] > 0) for k in self._nodes) and \
            len({n.depth for n in self._order}) == len(self._order)
        rows = []
        by_layer: dict[str, list[Node]] = {}
        for k in sorted(self._nodes, key=lambda k: k[1]):
            by_layer.setdefault(k[0], []).append(self._nodes[k])
        for name, layer in zip(self._names, self._layers):
            calls = by_layer.get(name, [])
            shapes = {_fmt_shape(self._shapes.get(n.key, [None])[0]) for n in calls}
            shape = shapes.pop() if len(shapes) == 1 else "multiple"
            built = getattr(layer, "built", True)
            params = f"{layer.count_params():,}" if built else "0 (unbuilt)"
            conn = ", ".join(repr(r) for n in calls for r in _refs(n.args)) or "-"
            rows.append([f"{name} ({_type_name(layer)})", shape, params, conn])
        return rows, seq


def _node_style(config: Any) -> str | None:
    """KERAS3 when the inbound nodes are {'args', 'kwargs'} dicts, KERAS2 when lists."""
    layers = config.get("layers") if isinstance(config, dict) else None
    for entry in layers if isinstance(layers, list) else []:
        nodes = entry.get("inbound_nodes") if isinstance(entry, dict) else None
        if isinstance(nodes, list) and nodes:
            return KERAS3 if isinstance(nodes[0], dict) else KERAS2
    return None


class _Calls(list):
    """Outputs of a layer called at several nodes (intermediate_outputs)."""


def _type_name(layer: Any) -> str:
    if isinstance(layer, Operation):
        return layer.class_name
    name = type(layer).__name__
    return "InputLayer" if isinstance(layer, InputLayerFallback) else name


def _check_spec(layer: Any, shape: tuple) -> None:
    """The layer's InputSpec against a symbolic shape (unknown sizes pass)."""
    spec = getattr(layer, "input_spec", None)
    if spec is None or not hasattr(spec, "ndim"):
        return
    if spec.ndim is not None and len(shape) != spec.ndim:
        raise ValueError(f"expects inputs of rank {spec.ndim}, got shape {_fmt_shape(shape)}")
    if spec.min_ndim is not None and len(shape) < spec.min_ndim:
        raise ValueError(f"expects inputs of rank >= {spec.min_ndim}, got shape "
                         f"{_fmt_shape(shape)}")
    for axis, size in (spec.axes or {}).items():
        if -len(shape) <= axis < len(shape) and shape[axis] is not None and \
                shape[axis] != size:
            raise ValueError(f"was built for inputs with size {size} on axis {axis}, got "
                             f"shape {_fmt_shape(shape)}")


def _known(shape: Any) -> bool:
    if isinstance(shape, list):
        return all(_known(s) for s in shape)
    return isinstance(shape, tuple)


def _out_shape(shapes: dict[tuple[str, int], list[Any]], r: Ref, node: Node) -> Any:
    outs = shapes.get(r.key)
    if outs is None:
        return None
    if outs[0] is not None and r.index >= len(outs):
        raise ConfigError(node.path, f"layer {node.layer_name!r} node {node.index} uses "
                          f"output {r.index} of layer {r.layer!r}, which has {len(outs)} "
                          f"output(s)")
    return outs[r.index] if r.index < len(outs) else None


_BOOL_OPS = frozenset({"NotEqual", "Equal", "Greater", "Less", "GreaterEqual", "LessEqual",
                       "LogicalAnd", "LogicalOr", "LogicalNot", "Any", "All"})


def _out_dtype(layer: Any) -> str:
    if isinstance(layer, Operation):
        return "bool" if layer.class_name in _BOOL_OPS else "float32"
    if isinstance(layer, Layer):
        try:
            return layer.compute_dtype
        except Exception:
            return "float32"
    return "float32"


def _emit_values(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return {"class_name": "__numpy__", "config": {"value": v.tolist(),
                                                      "dtype": str(v.dtype)}}
    if isinstance(v, slice):
        return {"class_name": "__slice__", "config": {"start": v.start, "stop": v.stop,
                                                      "step": v.step}}
    if v is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__":
        return v
    if isinstance(v, dict):
        return {k: _emit_values(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_emit_values(x) for x in v]
    return v


def _layer_entry(layer: Any, fmt: str) -> dict[str, Any]:
    if isinstance(layer, Operation):
        return layer.keras_entry(fmt)
    if isinstance(layer, InputLayerFallback):
        cfg = layer.get_config(fmt)
        if fmt == KERAS2:
            return {"class_name": "InputLayer", "config": cfg}
        return {"module": "keras.layers", "class_name": "InputLayer", "config": cfg,
                "registered_name": None}
    entry = serialize(layer, fmt)
    return dict(entry)


def _create(entry: dict[str, Any], kind: str, path: str) -> Any:
    if kind == "op":
        cfg = entry.get("config") or {}
        if not isinstance(cfg, dict):
            raise ConfigError(f"{path}.config", f"expected a dict, got {describe(cfg)}")
        return Operation(entry["class_name"], entry.get("module"), cfg,
                         OPS[entry["class_name"]], f"{path}.config")
    if kind == "input" and registry.lookup("layer", "InputLayer") is None:
        cfg = entry.get("config") or {}
        return InputLayerFallback(_config_path=f"{path}.config", **cfg)
    # created unbuilt: every layer of the model is validated before any is built
    bare = {k: v for k, v in entry.items() if k != "build_config"}
    return deserialize_object(bare, kind="layer", path=path)


def _build_all(items: list[tuple[Any, dict[str, Any], str]]) -> list[ConfigError]:
    """Apply each layer's Keras 3 ``build_config`` (after all were created)."""
    problems: list[ConfigError] = []
    for obj, entry, where in items:
        bc = entry.get("build_config") if isinstance(entry, dict) else None
        if bc is None or not isinstance(obj, Layer) or obj.built:
            continue
        try:
            shapes = bc.get("shapes_dict") if isinstance(bc, dict) else None
            if isinstance(shapes, dict) and bc.get("input_shape") is None:
                # Keras 3 layers built with several tensors: build(query_shape=..., ...)
                obj.build(*[_shape_from_json(v, f"{where}.build_config.shapes_dict.{k}")
                            for k, v in shapes.items()])
                continue
            _maybe_build(obj, bc, f"{where}.build_config")
        except MultipleConfigErrors as e:
            problems.extend(e.errors or [e])
        except ConfigError as e:
            problems.append(e if e.path.startswith(where) else e.with_prefix(where))
        except (ValueError, TypeError) as e:
            problems.append(ConfigError(f"{where}.build_config", f"layer {obj.name!r} cannot "
                                        f"be built: {e}"))
    return problems


#: the deepest nesting of models in models accepted
MAX_MODEL_NESTING = 64
_nesting: list[int] = [0]


@contextlib.contextmanager
def _nested(path: str) -> Iterator[None]:
    if _nesting[0] >= MAX_MODEL_NESTING:
        raise ConfigError(path, f"models nested more than {MAX_MODEL_NESTING} deep; refusing "
                          f"(a hostile or broken config)")
    _nesting[0] += 1
    try:
        yield
    finally:
        _nesting[0] -= 1


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Building a big graph allocates many objects and no garbage: keep Python's cyclic
    collector from rescanning the growing heap (which made the cost superlinear)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _combine(path: str, problems: list[ConfigError]) -> ConfigError:
    flat: list[ConfigError] = []
    for p in problems:
        if isinstance(p, MultipleConfigErrors) and p.errors:
            flat.extend(p.errors)
        else:
            flat.append(p)
    if len(flat) == 1:
        return flat[0]
    return MultipleConfigErrors(path, flat)


class Sequential(Model):
    """A linear stack of layers: ``Sequential([Dense(8), Dense(2)])``.

    Input shape: the first layer's (from an ``InputLayer`` or ``build(input_shape)``).
    Output shape: the last layer's.
    """

    keras_module: ClassVar[str] = "keras"

    def __init__(self, layers: Sequence[Any] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._input_layer: Any = None
        self._build_input_shape: Any = None
        self._shapes: list[Any] = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Any) -> None:
        """Append a layer (an InputLayer first sets the model's input)."""
        if _type_name(layer) == "InputLayer":
            if self._layers or self._input_layer is not None:
                raise ValueError(f"Sequential {self.name!r}: an InputLayer can only be the "
                                 f"first layer")
            self._input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise ValueError(f"Sequential {self.name!r}: expected a layer, got "
                             f"{describe(layer)}")
        names = self.__dict__.setdefault("_layer_names", set())
        if layer.name in names:
            raise ValueError(f"Sequential {self.name!r}: duplicate layer name "
                             f"{layer.name!r}")
        names.add(layer.name)
        self._layers.append(layer)
        self.built = False

    @classmethod
    def from_config(cls, config: dict[str, Any], *, path: str = "config") -> Sequential:
        with _nested(path), _gc_paused():
            return cls._from_config(config, path)

    @classmethod
    def _from_config(cls, config: dict[str, Any], path: str) -> Sequential:
        if not isinstance(config, dict):
            raise ConfigError(path, f"expected a dict of settings, got {describe(config)}")
        fmt = registry.current_format() or KERAS3
        layers = config.get("layers")
        if not isinstance(layers, list):
            raise ConfigError(f"{path}.layers", f"expected a list of layer configs, got "
                              f"{describe(layers)}")
        problems: list[ConfigError] = []
        known = {"name", "trainable", "dtype", "layers", "build_input_shape"}
        for k in config:
            if k not in known:
                problems.append(ConfigError(f"{path}.{k}", f"unknown key for Sequential "
                                            f"(known keys: {', '.join(sorted(known))})"))
        # all classes are checked before any layer is created
        names: dict[str, int] = {}
        for i, entry in enumerate(layers):
            where = f"{path}.layers[{i}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
                problems.append(ConfigError(where, f"expected a layer config dict with "
                                            f"'class_name', got {describe(entry)}"))
                continue
            cls_name = entry["class_name"]
            cfg = entry.get("config")
            lname = cfg.get("name") if isinstance(cfg, dict) else None
            if isinstance(lname, str):
                if lname in names:
                    problems.append(ConfigError(f"{where}.config.name", f"duplicate layer "
                                                f"name {lname!r} (also layers"
                                                f"[{names[lname]}])"))
                names[lname] = i
            if cls_name == "InputLayer":
                if i:
                    problems.append(ConfigError(where, "an InputLayer can only be the first "
                                                "layer of a Sequential model"))
                continue
            if registry.custom_objects().get(cls_name) is None and \
                    registry.lookup("layer", cls_name) is None:
                err = registry.unknown_name("layer", cls_name, f"{where}.class_name")
                problems.append(ConfigError(err.path, f"layer {lname or i!r}: unsupported "
                                            f"layer class: {err.reason}"))
        if problems:
            raise _combine(path, problems)
        model = cls(name=config.get("name"), trainable=config.get("trainable", True),
                    dtype=config.get("dtype", "float32"), _config_path=path)
        model._source_format = fmt
        made = []
        for i, entry in enumerate(layers):
            where = f"{path}.layers[{i}]"
            try:
                layer = _create(entry, "input" if entry["class_name"] == "InputLayer"
                                else "layer", where)
                model.add(layer)
                made.append((layer, entry, where))
            except MultipleConfigErrors as e:
                problems.extend(e.errors or [e])
            except ConfigError as e:
                problems.append(e if e.path.startswith(where) else e.with_prefix(where))
        if not problems:
            problems = _build_all(made)
        if problems:
            raise _combine(path, problems)
        shape = None
        if model._input_layer is not None:
            shape = _input_info(model._input_layer)[0]
        elif model._layers and model._layers[0]._values.get("batch_input_shape") is not None:
            first = model._layers[0]
            shape = tuple(first._values["batch_input_shape"])
            model._input_layer = _input_layer_class()(
                batch_shape=list(shape), dtype=first.dtype, name=f"{first.name}_input") \
                if registry.lookup("layer", "InputLayer") is None else _create(
                    {"class_name": "InputLayer", "config": {
                        ("batch_shape" if fmt == KERAS3 else "batch_input_shape"): list(shape),
                        "dtype": first.dtype, "name": f"{first.name}_input"}},
                    "input", path)
        bis = config.get("build_input_shape")
        if shape is None and bis is not None:
            shape = _shape_from_json(bis, f"{path}.build_input_shape")
        if shape is not None:
            model._build_layers(tuple(shape), path)
        return model

    def _build_layers(self, shape: Any, path: str) -> None:
        problems: list[ConfigError] = []
        shapes = []
        cur = shape
        for i, layer in enumerate(self._layers):
            where = f"{path}.layers[{i + (self._input_layer is not None)}]"
            try:
                if not layer.built:
                    layer.build(cur)
                cur = layer.compute_output_shape(cur)
            except ConfigError as e:
                problems.append(e if e.path.startswith(where) else e.with_prefix(where))
                break
            except (ValueError, TypeError, IndexError) as e:
                problems.append(ConfigError(where, f"layer {layer.name!r} "
                                            f"({type(layer).__name__}) cannot take input "
                                            f"shape {_fmt_shape(cur)}: {e}"))
                break
            shapes.append(tuple(cur) if isinstance(cur, (tuple, list)) else cur)
        if problems:
            raise _combine(path, problems)
        self._shapes = shapes
        self._build_input_shape = tuple(shape)
        self._build_shape = tuple(shape)
        self.built = True

    def build(self, input_shape: Any = None) -> None:
        """Build every layer for inputs of ``input_shape`` (batch included)."""
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError(f"Sequential {self.name!r}: build needs an input shape")
            input_shape = _input_info(self._input_layer)[0]
        self._build_layers(tuple(normalize_shape(input_shape)), self._path or self.name)

    def compute_output_shape(self, input_shape: Any) -> Any:
        cur = normalize_shape(input_shape)
        for layer in self._layers:
            cur = layer.compute_output_shape(cur)
        return cur

    def _run(self, inputs: Any, training: bool, mask: Any, trace: bool = False):
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            inputs = inputs[0]
        x = np.asarray(inputs)
        if self._input_layer is not None:
            shape, dtype = _input_info(self._input_layer)
            if x.dtype != np.dtype(dtype):
                x = x.astype(dtype)
            if len(shape) != x.ndim or any(s is not None and s != a
                                           for s, a in zip(shape[1:], x.shape[1:])):
                raise ValueError(f"model {self.name!r}: expects inputs of shape "
                                 f"{_fmt_shape(shape)}, got {x.shape}")
        if not self.built:
            self._build_layers(tuple(x.shape[:1] and (None,)) + tuple(x.shape[1:]),
                               self.name)
        trace_out: dict[str, Any] = {}
        if trace and self._input_layer is not None:
            trace_out[self._input_layer.name] = x
        for layer in self._layers:
            try:
                y = layer(x, training=training, mask=mask)
                mask = layer.compute_mask(x, mask)
            except (ValueError, TypeError) as e:
                raise type(e)(f"model {self.name!r}, layer {layer.name!r}: {e}") from e
            x = y
            if trace:
                trace_out[layer.name] = x
        return x, mask, trace_out

    def layer_depths(self) -> dict[str, int]:
        out = {self._input_layer.name: 0} if self._input_layer is not None else {}
        out.update({layer.name: i + 1 for i, layer in enumerate(self._layers)})
        return out

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        fmt = check_format(format)
        layers = []
        if self._input_layer is not None:
            layers.append(_layer_entry(self._input_layer, fmt))
        elif self._build_input_shape is not None:
            key = "batch_shape" if fmt == KERAS3 else "batch_input_shape"
            entry = {"class_name": "InputLayer", "config": {
                key: list(self._build_input_shape), "dtype": "float32", "sparse": False,
                "ragged": False, "name": f"{self._layers[0].name}_input", "optional": False}}
            if fmt == KERAS3:
                entry = {"module": "keras.layers", **entry, "registered_name": None}
            layers.append(entry)
        layers += [_layer_entry(x, fmt) for x in self._layers]
        if fmt == KERAS2:
            return {"name": self.name, "layers": layers}
        cfg = {"name": self.name, "trainable": self.trainable,
               "dtype": serialize(self._values["dtype"], KERAS3), "layers": layers}
        if self.built and self._build_input_shape is not None:
            cfg["build_input_shape"] = list(self._build_input_shape)
        return cfg

    def get_build_config(self) -> dict[str, Any] | None:
        if self._build_input_shape is None:
            return None
        return {"input_shape": list(self._build_input_shape)}

    def _summary_rows(self) -> tuple[list[Any], bool]:
        rows = []
        for layer, shape in zip(self._layers, self._shapes or [None] * len(self._layers)):
            params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
            rows.append([f"{layer.name} ({_type_name(layer)})",
                         _fmt_shape(shape) if shape is not None else "?", params])
        return rows, True


def _math_prod(shape: Sequence[int]) -> int:
    return math.prod(shape)


__all__ = ["Sequential", "Functional", "Model", "Operation", "OPS"]
