"""Functional models: a graph of layer calls (``keras.Model(inputs, outputs)``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError, describe
from ..formats import KERAS2, KERAS3, normalize_format
from ..layers.base import Layer
from .building import (
    add_problem,
    build_all,
    combine,
    create,
    gc_paused,
    input_info,
    layer_entry,
    nested,
)
from .calls import (
    call_node,
    call_single,
    infer_node,
    output_dtype,
    prepare_inputs,
    run_fused,
    sole_owner,
    with_context,
)
from .graph import GraphParser, Node, NodeKey, Ref, map_refs, node_style, refs_in
from .model import Model
from .op_shapes import Sym
from .ops import Operation, type_label
from .summary import format_shape

_KNOWN_KEYS = frozenset({"name", "trainable", "layers", "input_layers", "output_layers",
                         "dtype"})
_KNOWN_TEXT = ", ".join(sorted(_KNOWN_KEYS))


class Functional(Model):
    """A functional model: a graph of layer calls (``keras.Model(inputs, outputs)``).

    Created from a Keras 2 or Keras 3 config with :func:`engine.deserialize`. Inputs and
    outputs: one array, or a list (several inputs/outputs, in ``input_layers`` order).

    Example:
        >>> model = engine.deserialize(config)        # a Functional config
        >>> y = model(x); model.summary()
    """

    aliases = ("Model",)
    keras_module: ClassVar[str] = "keras.src.models.functional"
    _registered_name: ClassVar[str | None] = "Functional"

    @classmethod
    def from_config(cls, config: dict[str, Any], *, path: str = "config",
                    fmt: str = KERAS3) -> Functional:
        # the nodes' form says which Keras wrote the config
        fmt = node_style(config) or normalize_format(fmt)
        with nested(path), gc_paused():
            return cls._from_config(config, path, fmt)

    @classmethod
    def _from_config(cls, config: dict[str, Any], path: str, fmt: str) -> Functional:
        if not isinstance(config, dict):
            raise ConfigError(path, f"expected a dict of settings, got {describe(config)}")
        parser = GraphParser(config, path, fmt)
        problems = list(parser.problems)
        for k in config:
            if k not in _KNOWN_KEYS:
                problems.append(ConfigError(f"{path}.{k}", f"unknown key for a functional "
                                            f"model (known keys: {_KNOWN_TEXT})"))
        if problems:
            raise combine(path, problems)
        model = cls(name=config.get("name"), trainable=config.get("trainable", True),
                    _config_path=path, _source_format=fmt)
        created: dict[str, Any] = {}
        for i, entry in enumerate(parser.entries):
            name = parser.names[i]
            where = f"{path}.layers[{i}]"
            try:
                created[name] = create(entry, parser.kind[name], where, fmt)
            except ConfigError as e:
                add_problem(problems, e, where)
        if not problems:
            problems = build_all([(created[parser.names[i]], e, f"{path}.layers[{i}]")
                                  for i, e in enumerate(parser.entries)], fmt)
        if problems:
            raise combine(path, problems)
        model._init_graph(parser, created)
        return model

    def _init_graph(self, parser: GraphParser, created: dict[str, Any]) -> None:
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
        self._input_specs = [input_info(created[r.layer]) for r in self._inputs]
        self._shapes: dict[NodeKey, list[Any]] = {}
        self._build_graph()

    def _build_graph(self) -> None:
        """Build every layer from the shapes flowing through the graph (before any data)."""
        problems: list[ConfigError] = []
        shapes: dict[NodeKey, list[Any]] = {}
        recorded = _recorded_shapes(self._order)
        for node in self._order:
            op = node.op
            if self._kinds[node.layer_name] == "input":
                shapes[node.key] = [input_info(op)[0]]
                continue
            try:
                arg_shapes = map_refs(node.args, lambda r, n=node: _out_shape(shapes, r, n))
            except ConfigError as e:
                problems.append(e)
                continue
            if isinstance(op, Operation):
                try:
                    shapes[node.key] = [_op_shape(op, node, shapes, recorded)]
                except ConfigError as e:
                    problems.append(e)
                continue
            try:
                out = infer_node(op, node, arg_shapes)
            except ConfigError as e:
                problems.append(e)
                continue
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
            raise combine(self._path, problems)
        self._shapes = shapes
        self.built = all(getattr(x, "built", True) for x in self._layers)

    def build(self, input_shape: Any = None) -> None:
        """Functional models are built from their config; nothing more to do."""

    def compute_output_shape(self, input_shape: Any) -> Any:
        outs = [self._shapes.get(r.key, [None])[r.index] if r.index <
                len(self._shapes.get(r.key, [None])) else None for r in self._outputs]
        return outs[0] if self._single_output or len(outs) == 1 else outs

    @property
    def input_names(self) -> list[str]:
        return [r.layer for r in self._inputs]

    # -- running -------------------------------------------------------------------
    def _run_plan(self) -> list[Step]:
        """Per node in order, a :class:`Step`: how to call it, which input tensors it is the
        last reader of, and the tensors no later node reads (released after it: a deep
        model does not keep every activation alive). Made once; the graph never changes
        after it was built."""
        plan = self.__dict__.get("_plan")
        if plan is not None:
            return plan
        keep = {r.key for r in self._outputs}
        inputs = {r.key for r in self._inputs}
        last: dict[NodeKey, int] = {}
        for i, node in enumerate(self._order):
            for r in refs_in([node.args, node.kwargs]):
                last[r.key] = i
        release: list[list[NodeKey]] = [[] for _ in self._order]
        for key, i in last.items():
            if key not in keep:
                release[i].append(key)
        plan = []
        for i, node in enumerate(self._order):
            plain = isinstance(node.op, Layer) and all(
                (k == "mask" and v is None) or (k == "training" and not refs_in(v))
                for k, v in node.kwargs.items()) and len(node.args) == 1
            arg = node.args[0] if node.args else None
            if plain and isinstance(arg, Ref):
                kind, refs = SINGLE, (arg,)
            elif plain and isinstance(arg, list) and arg and node.op.multi_input and \
                    all(isinstance(r, Ref) for r in arg):
                kind, refs = LIST, tuple(arg)
            else:
                kind, refs = GENERIC, ()
            count = Counter(r.key for r in refs_in([node.args, node.kwargs]))
            take = tuple(r.key in release[i] and r.key not in inputs and count[r.key] == 1
                         for r in refs)
            taken = {r.key for r, t in zip(refs, take) if t}
            plan.append(Step(node, kind, refs, take, tuple(release[i]),
                             tuple(k for k in release[i] if k not in taken)))
        readers = Counter(r.key for node in self._order
                          for r in refs_in([node.args, node.kwargs]))
        # the step reading each tensor as its one argument (the tensors read once)
        reader = {st.refs[0][1]: st for st in plan if st.kind == SINGLE}
        for step in plan:
            # a normalization or merge whose one output only one later node reads, a relu
            # layer that reads nothing else (run_fused decides on each run whether the two
            # are one; the relu's output is then made early, when nothing else could have
            # read the normalization's: Keras orders InceptionV3's branches so that
            # another branch's layers often come between the two)
            after = reader.get(step.key)
            if after is not None and step.kind != GENERIC and after.kind == SINGLE and \
                    hasattr(step.node.op, "fused_clip") and \
                    hasattr(after.node.op, "clip_bounds") and \
                    after.refs[0][1:] == (step.key, 0) and after.take[0] and \
                    readers[step.key] == 1 and step.key not in keep and not after.rest:
                step.fuse = after
        self.__dict__["_plan"] = plan
        return plan

    def _run(self, inputs: Any, training: bool, mask: Any, trace: bool = False,
             observe: Callable[[str, Any], Any] | None = None):
        names = [r.layer for r in self._inputs]
        xs = prepare_inputs(self, inputs, self._input_specs, names)
        values: dict[NodeKey, list[Any]] = {}
        masks: dict[NodeKey, list[Any]] = {}
        in_masks = mask if isinstance(mask, (list, tuple)) else [mask] * len(xs)
        for ref, x, m in zip(self._inputs, xs, in_masks):
            values[ref.key] = [x]
            masks[ref.key] = [m]
        trace_out: dict[str, Any] = {}
        # a traced run keeps every tensor: no layer may write into its input
        own = not trace

        def get(r: Ref) -> Any:
            return _output(values[r.key], r, self)

        def mask_of(arg: Any) -> Any:
            m = map_refs(arg, lambda r: masks[r.key][r.index] if r.index < len(masks[r.key])
                         else None)
            if isinstance(m, list) and all(x is None for x in m):
                return None
            return m

        for step in self._run_plan():
            node = step.node
            key = step.key
            if key in values:
                if trace:
                    trace_out.setdefault(node.layer_name, values[key][0])
                if observe is not None:
                    observe(node.layer_name, values[key][0])
                continue
            try:
                if step.kind == SINGLE:
                    r, k, i = step.refs[0]
                    if own and step.take[0]:
                        # this node is the tensor's last reader: taken out of the dicts,
                        # so that only the local x holds it (and perhaps no one else)
                        outs = values.pop(k)
                        x = outs[i] if i < len(outs) else _output(outs, r, self)
                        del outs
                        m = masks.pop(k)
                        owned = True if sole_owner(x) else None
                    else:
                        outs = values[k]
                        x = outs[i] if i < len(outs) else _output(outs, r, self)
                        m, owned = masks[k], None
                    m = m[i] if i < len(m) else None
                elif step.kind == LIST:
                    xs, ms, flags = [], [], []
                    for (r, k, i), take in zip(step.refs, step.take):
                        if own and take:
                            x = _output(values.pop(k), r, self)
                            ms.append(_mask(masks.pop(k), i))
                            flags.append(sole_owner(x))
                        else:
                            x = _output(values[k], r, self)
                            ms.append(_mask(masks[k], i))
                            flags.append(False)
                        xs.append(x)
                        del x
                    x, m = xs, None if all(v is None for v in ms) else ms
                    owned = tuple(flags) if any(flags) else None
                    del xs
                if step.kind != GENERIC:
                    fused = step.fuse
                    if fused is not None and own and observe is None and m is None:
                        y = run_fused(node.op, fused.node.op, x, training, owned)
                        if y is not None:  # the next node's output: that step is done
                            del x
                            values[fused.key], masks[fused.key] = [y], [None]
                            del y
                            for done in step.rest:
                                del values[done], masks[done]
                            continue
                    outs, out_masks = call_single(node.op, node, x, m, training, owned)
                    del x
                else:
                    outs, out_masks = call_node(node.op, node, map_refs(node.args, get),
                                                map_refs(node.kwargs, get), mask_of, training)
            except (ValueError, TypeError) as e:
                again = with_context(e, f"model {self.name!r}, layer {node.layer_name!r} "
                                        f"(call {node.index})")
                if again is e:
                    raise
                raise again from e
            values[key] = outs
            masks[key] = out_masks
            if trace:
                _trace(trace_out, node.layer_name, outs[0] if len(outs) == 1 else outs)
            if observe is not None:  # before the in-place writes of later layers
                observe(node.layer_name, outs[0] if len(outs) == 1 else outs)
            del outs, out_masks  # the dicts are the one holder (see sole_owner)
            for done in (step.rest if own else step.release):
                del values[done], masks[done]
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
        fmt = normalize_format(format)
        layers = []
        for name, layer in zip(self._names, self._layers):
            entry = layer_entry(layer, fmt)
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
        return parsed_single if self.source_format == KERAS3 else len(refs) == 1

    def _offset(self, name: str, fmt: str) -> int:
        return 1 if fmt == KERAS2 and self._kinds.get(name) == "model" else 0

    def _emit_node(self, node: Node, fmt: str) -> Any:
        if fmt == KERAS2:
            refs = node.args[0] if node.args else []
            refs = refs if isinstance(refs, list) else [refs]
            kw = {k: ([v.layer, v.node + self._offset(v.layer, fmt), v.index]
                      if isinstance(v, Ref) else v)
                  for k, v in node.kwargs.items() if v is not None and k != "training"}
            if isinstance(node.op, Operation) and node.op.tf and isinstance(refs[0], Ref):
                r = refs[0]  # a TFOpLambda call: one [layer, node, tensor, kwargs]
                return [r.layer, r.node + self._offset(r.layer, fmt), r.index, kw]
            return [[r.layer, r.node + self._offset(r.layer, fmt), r.index, kw]
                    for r in refs_in(refs)]

        def tensor(r: Ref) -> dict[str, Any]:
            shape = r.shape
            if shape is None:
                s = self._shapes.get(r.key, [None])
                shape = list(s[r.index]) if r.index < len(s) and s[r.index] is not None \
                    else None
            dtype = r.dtype or output_dtype(self._by_name[r.layer])
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": shape, "dtype": dtype,
                               "keras_history": [r.layer, r.node, r.index]}}

        return {"args": _emit_values(map_refs(node.args, tensor)),
                "kwargs": _emit_values(map_refs(node.kwargs, tensor))}

    def get_build_config(self) -> dict[str, Any] | None:
        return {"input_shape": None}

    def _summary_rows(self) -> tuple[list[list[str]], bool]:
        sequential = all(len(refs_in(n.args)) <= 1 for n in self._order) and \
            all(not (k[1] > 0) for k in self._nodes) and \
            len({n.depth for n in self._order}) == len(self._order)
        rows = []
        by_layer: dict[str, list[Node]] = {}
        for k in sorted(self._nodes, key=lambda k: k[1]):
            by_layer.setdefault(k[0], []).append(self._nodes[k])
        for name, layer in zip(self._names, self._layers):
            calls = by_layer.get(name, [])
            shapes = {format_shape(self._shapes.get(n.key, [None])[0]) for n in calls}
            shape = shapes.pop() if len(shapes) == 1 else "multiple"
            built = getattr(layer, "built", True)
            params = f"{layer.count_params():,}" if built else "0 (unbuilt)"
            conn = ", ".join(repr(r) for n in calls for r in refs_in(n.args)) or "-"
            rows.append([f"{name} ({type_label(layer)})", shape, params, conn])
        return rows, sequential


#: how a Step calls its node: a layer on one tensor, a layer on one list of tensors (merge
#: layers), anything else (several arguments, tensor keywords, operations)
SINGLE, LIST, GENERIC = 1, 2, 0


class Step:
    """One node of a functional model's run plan (:meth:`Functional._run_plan`).

    ``refs`` are the input tensors of a SINGLE or LIST call; ``take[i]`` says this node is
    the last reader of ``refs[i]`` (read once here, neither a model input nor an output), so
    the run loop takes it out of its dicts and, when nothing else references the array
    (:func:`calls.sole_owner`), lets the layer write into it. ``release``: the tensors no
    later node reads; ``rest``: those of them not taken. ``fuse``: a later step, a relu
    layer alone reading this (normalization or merge) step's output, which
    :func:`calls.run_fused` may compute with this one in one pass (not in a traced or
    observed run).
    """

    __slots__ = ("node", "key", "kind", "refs", "take", "release", "rest", "fuse")

    def __init__(self, node: Node, kind: int, refs: tuple[Ref, ...], take: tuple[bool, ...],
                 release: tuple[NodeKey, ...], rest: tuple[NodeKey, ...]):
        self.node, self.key, self.kind, self.take = node, node.key, kind, take
        self.refs = tuple((r, r.key, r.index) for r in refs)
        self.release, self.rest = release, rest
        self.fuse: Step | None = None


def _output(outs: list[Any], r: Ref, model: Model) -> Any:
    if r.index >= len(outs):
        raise ValueError(f"model {model.name!r}: layer {r.layer!r} has {len(outs)} "
                         f"output(s); tensor index {r.index} is out of range")
    return outs[r.index]


def _mask(masks: list[Any], index: int) -> Any:
    return masks[index] if index < len(masks) else None


class _Calls(list):
    """Outputs of a layer called at several nodes (intermediate_outputs)."""


def _trace(trace_out: dict[str, Any], name: str, item: Any) -> None:
    if name in trace_out:
        prev = trace_out[name]
        if not isinstance(prev, _Calls):
            prev = _Calls([prev])
        prev.append(item)
        trace_out[name] = prev
    else:
        trace_out[name] = item


def _recorded_shapes(order: list[Node]) -> dict[NodeKey, dict[int, tuple]]:
    """The shape Keras 3 recorded for each tensor (in ``__keras_tensor__`` args)."""
    out: dict[NodeKey, dict[int, tuple]] = {}
    for node in order:
        for r in refs_in([node.args, node.kwargs]):
            if isinstance(r.shape, list) and all(d is None or (isinstance(d, int) and
                                                               not isinstance(d, bool) and
                                                               d >= 0) for d in r.shape):
                out.setdefault(r.key, {})[r.index] = tuple(r.shape)
    return out


def _op_shape(op: Operation, node: Node, shapes: dict[NodeKey, list[Any]],
              recorded: dict[NodeKey, dict[int, tuple]]) -> Any:
    """An operation's output shape: inferred (broadcasting...) or, when it cannot be told,
    the one Keras recorded; an impossible one is an error naming the node."""
    def sym(r: Ref) -> Sym:
        return Sym(_out_shape(shapes, r, node))

    try:
        out = op.output_shape(map_refs(node.args, sym), map_refs(node.kwargs, sym))
    except (ValueError, TypeError, IndexError) as e:
        args = ", ".join(format_shape(_out_shape(shapes, r, node))
                         for r in refs_in([node.args, node.kwargs]))
        raise ConfigError(node.path, f"operation {node.layer_name!r} ({type_label(op)}) "
                          f"cannot take input shape(s) {args}: {e}") from e
    if out is None or None in out[1:]:
        rec = recorded.get(node.key, {}).get(0)
        if rec is not None and (out is None or len(rec) == len(out)):
            return rec
    return out


def _out_shape(shapes: dict[NodeKey, list[Any]], r: Ref, node: Node) -> Any:
    outs = shapes.get(r.key)
    if outs is None:
        return None
    if outs[0] is not None and r.index >= len(outs):
        raise ConfigError(node.path, f"layer {node.layer_name!r} node {node.index} uses "
                          f"output {r.index} of layer {r.layer!r}, which has {len(outs)} "
                          f"output(s)")
    return outs[r.index] if r.index < len(outs) else None


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
