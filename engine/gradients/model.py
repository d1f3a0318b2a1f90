"""VJPs of whole models: Sequential and functional graphs (nested models, shared layers
whose gradients add up). The forward pass runs each node through its layer's VJP, which
keeps only what its backward pass needs; the backward pass runs the nodes in reverse."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..layers.rnn import Bidirectional
from ..layers.rnn.recurrent import BaseRNN
from ..models.building import input_info
from ..models.calls import output_mask, prepare_inputs
from ..models.functional import Functional
from ..models.graph import map_refs, refs_in
from ..models.ops import Operation
from ..models.sequential import Sequential
from .attention import SEVERAL
from .operations import op_vjp
from .table import Call, find, register


def flatten(out: Any) -> list[Any]:
    if not isinstance(out, (list, tuple)):
        return [out]
    flat: list[Any] = []
    for o in out:
        flat.extend(flatten(o))
    return flat


def _add(store: dict, key: Any, i: int, n: int, g: np.ndarray) -> None:
    slots = store.setdefault(key, [None] * n)
    slots[i] = g if slots[i] is None else slots[i] + g


def _record(outputs: dict[str, Any] | None, name: str, g: Any) -> None:
    if outputs is None:
        return
    if name in outputs:
        prev = outputs[name]
        outputs[name] = (prev if isinstance(prev, _Calls) else _Calls([prev])) + [g]
    else:
        outputs[name] = g


class _Calls(list):
    """Gradients w.r.t. the outputs of a layer called at several nodes, in call order."""

    def __add__(self, other):  # type: ignore[override]
        return _Calls(list(self) + list(other))


def _sum_into(total: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
    for k, v in grads.items():
        total[k] = v if k not in total else total[k] + v


def _ensure_built(layer: Any, xs: list[np.ndarray]) -> None:
    if not getattr(layer, "built", True):
        layer.build(xs[0].shape if len(xs) == 1 else [x.shape for x in xs])


def run_layer(layer: Any, xs: list[np.ndarray], call: Call):
    _ensure_built(layer, xs)
    return find(layer, call.where)(layer, xs, call)


@register(Sequential)
def sequential(model: Sequential, xs: list[np.ndarray], call: Call):
    x = np.asarray(xs[0])
    if model._input_layer is not None:
        shape, dtype = input_info(model._input_layer)
        if x.dtype != np.dtype(dtype):
            x = x.astype(dtype)
        if len(shape) != x.ndim or any(s is not None and s != a
                                       for s, a in zip(shape[1:], x.shape[1:])):
            raise ConfigError(call.where or model.name, f"model {model.name!r} expects inputs "
                              f"of shape {shape}, got {x.shape}")
    if not model.built:
        model.build((None,) + x.shape[1:])
    outputs = call.extra.get("outputs")
    tape = []
    mask = call.mask
    float_x = np.issubdtype(x.dtype, np.floating)
    for i, layer in enumerate(model._layers):
        where = f"{call.where or model.name}.layers[{i}] ({layer.name})"
        y, back = run_layer(layer, [x], Call(call.training, mask, where))
        mask = output_mask(layer, x, mask, lambda w=where: w)
        tape.append((layer, back))
        x = y

    def backward(g):
        grads: dict[str, np.ndarray] = {}
        for layer, back in reversed(tape):
            _record(outputs, layer.name, g)
            gxs, gw = back(g)
            _sum_into(grads, gw)
            g = gxs[0]
            if g is None:
                break
        return [g if float_x else None], grads
    return x, backward


_DIFFERENTIABLE_KWARGS = ("query", "value", "key")


def _is_recurrent(op: Any) -> bool:
    """RNN layers and Bidirectional: called on ``(x, initial_state=...)``."""
    return isinstance(op, (BaseRNN, Bidirectional))


def _node_inputs(node: Any, get: Any, mask_of: Any, op: Any = None):
    """A node's differentiable inputs (refs and arrays), its first argument, its mask and
    the other call arguments (masks and flags, not differentiated). A recurrent layer's
    initial states (``initial_state=`` or its second argument) are inputs after ``x``."""
    first = map_refs(node.args[0], get) if node.args else None
    in_refs = refs_in(node.args[0]) if node.args else []
    xs = list(first) if isinstance(first, list) else [first]
    kwargs: dict[str, Any] = {}
    several = False
    rest = list(node.args[1:])
    if _is_recurrent(op):
        state_args = ([rest.pop(0)] if rest else []) + \
            ([node.kwargs["initial_state"]] if "initial_state" in node.kwargs else [])
        for value in state_args:
            for r in refs_in(value):
                in_refs.append(r)
                xs.append(get(r))
    for value in rest:
        if refs_in(value):
            several = True
            in_refs += refs_in(value)
            xs.append(map_refs(value, get))
    for key in _DIFFERENTIABLE_KWARGS:
        value = node.kwargs.get(key)
        if refs_in(value):
            several = True
            in_refs += refs_in(value)
            xs.append(map_refs(value, get))
            kwargs[f"{key}_mask"] = mask_of(value)
    tensors = []
    for key, value in node.kwargs.items():
        if key in _DIFFERENTIABLE_KWARGS or key in ("mask", "training") or (
                key == "initial_state" and _is_recurrent(op)):
            continue
        if refs_in(value):
            tensors.append(key)
        kwargs[key] = map_refs(value, get) if refs_in(value) else value
    if several:
        kwargs["query_mask"] = mask_of(node.args[0])
        for i, value in enumerate(node.args[1:3]):
            kwargs.setdefault(("value_mask", "key_mask")[i], mask_of(value))
        kwargs["__several__"] = True
    kwargs["__tensors__"] = tensors
    given = node.kwargs.get("mask")
    prev_mask = map_refs(given, get) if refs_in(given) else (
        None if several else mask_of(node.args[0]))
    return in_refs, xs, first, prev_mask, kwargs


def _op_backward(op: Any, pos: list[Any], pos_refs: list[Any], params: dict[str, Any],
                 out: Any, where: str):
    """The VJP of an operation node, its gradients in the order of the node's refs."""
    back = op_vjp(op, pos, params, out, where)

    def backward(g):
        grads = back(g)
        flat = []
        for ref, gr in zip(pos_refs, grads):
            if isinstance(ref, (list, tuple)):
                flat.extend(gr[i] for i, r in enumerate(ref) if refs_in(r))
            elif refs_in(ref):
                flat.append(gr)
        return flat, {}
    return backward


@register(Functional)
def functional(model: Functional, xs: list[np.ndarray], call: Call):
    names = [r.layer for r in model._inputs]
    try:
        xs = prepare_inputs(model, xs if len(xs) > 1 else xs[0], model._input_specs, names)
    except ValueError as e:
        raise ConfigError(call.where or model.name, str(e)) from None
    values: dict[Any, list[Any]] = {}
    masks: dict[Any, list[Any]] = {}
    for ref, x in zip(model._inputs, xs):
        values[ref.key] = [x]
        masks[ref.key] = [None]
    outputs = call.extra.get("outputs")
    tape = []

    def get(r):
        return values[r.key][r.index]

    def mask_of(arg):
        m = map_refs(arg, lambda r: masks[r.key][r.index] if r.index < len(masks[r.key])
                     else None)
        return None if isinstance(m, list) and all(v is None for v in m) else m

    for node in model._order:
        if node.key in values:
            continue
        op = node.op
        where = f"{call.where or model.name}: {node.layer_path} ({node.layer_name})"
        if isinstance(op, Operation):
            pos_refs, _ = op.bind(list(node.args), dict(node.kwargs))
            pos, params = op.bind(map_refs(node.args, get), map_refs(node.kwargs, get))
            out = op.spec.fn(*pos, **params)
            outs = flatten(out)
            values[node.key] = outs
            masks[node.key] = [None] * len(outs)
            refs = refs_in(pos_refs)
            tape.append((node, refs, _op_backward(op, pos, pos_refs, params, out, where),
                         len(outs), [np.issubdtype(np.asarray(get(r)).dtype, np.floating)
                                     for r in refs]))
            continue
        in_refs, xs_node, first, prev_mask, kwargs = _node_inputs(node, get, mask_of, op)
        tensor_kwargs = kwargs.pop("__tensors__")
        if (kwargs.pop("__several__", False) or tensor_kwargs) and type(op) not in SEVERAL:
            raise ConfigError(where, f"layer {node.layer_name!r} is called with several "
                              f"tensor arguments; engine.gradients supports that for "
                              f"the attention layers called on (query, value[, key]) only")
        y, back = run_layer(op, xs_node, Call(call.training, prev_mask, where,
                                              {"kwargs": kwargs}))
        outs = flatten(y)
        values[node.key] = outs
        m = output_mask(op, first, prev_mask, lambda w=where: w)
        m = flatten(m) if isinstance(m, (list, tuple)) else [m] + [None] * (len(outs) - 1)
        masks[node.key] = m if len(m) == len(outs) else [m[0]] + [None] * (len(outs) - 1)
        tape.append((node, in_refs, back, len(outs),
                     [np.issubdtype(np.asarray(get(r)).dtype, np.floating) for r in in_refs]))
    result = [get(r) for r in model._outputs]
    shapes = {node.key: [np.shape(o) for o in values[node.key]] for node, *_ in tape}
    in_like = [(x.shape, x.dtype) for x in xs]
    values.clear()

    def backward(gy):
        gys = gy if isinstance(gy, list) else [gy]
        store: dict[Any, list[Any]] = {}
        for r, g in zip(model._outputs, gys):
            n = len(shapes.get(r.key, [None]))
            _add(store, r.key, r.index, n, g)
        grads: dict[str, np.ndarray] = {}
        for node, in_refs, back, n, float_in in reversed(tape):
            gs = store.pop(node.key, None)
            if gs is None:
                continue
            gs = [np.zeros(s, np.float32) if g is None else g
                  for g, s in zip(gs, shapes[node.key])]
            _record(outputs, node.layer_name, gs[0] if n == 1 else gs)
            gxs, gw = back(gs[0] if n == 1 else gs)
            _sum_into(grads, gw)
            for r, gx, fl in zip(in_refs, gxs, float_in):  # no gradient to int/bool tensors
                if gx is not None and fl:
                    _add(store, r.key, r.index, len(shapes.get(r.key, [None])), gx)
        gxs = []
        for r, (shape, dtype) in zip(model._inputs, in_like):
            if not np.issubdtype(dtype, np.floating):
                gxs.append(None)
                continue
            g = store.get(r.key, [None])[0]
            gxs.append(np.zeros(shape, dtype) if g is None else g)
        return gxs, grads
    single = model._single_output or len(result) == 1
    return (result[0] if single else result), backward
