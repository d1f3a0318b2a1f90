"""VJPs of the graph operations a functional config may record between layers (Keras 3
``keras.src.ops`` nodes, tf_keras ``TFOpLambda`` nodes): elementwise arithmetic, the common
unary functions, sums and means, matmul, and the ops that only move entries (reshape,
transpose, expand_dims, squeeze, getitem, concatenate, stack), which run again on entry
positions as in ``shaping``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ConfigError
from .table import unbroadcast

Grads = list[Any]


def _shape(v: Any) -> tuple[int, ...]:
    return np.shape(v)


def _sig(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


#: unary ops: name -> d(x, y) (the derivative, elementwise)
UNARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Negative": lambda x, y: -np.ones_like(x),
    "Square": lambda x, y: 2.0 * x,
    "Sqrt": lambda x, y: 0.5 / y,
    "Exp": lambda x, y: y,
    "Log": lambda x, y: 1.0 / x,
    "Tanh": lambda x, y: 1.0 - y * y,
    "Sigmoid": lambda x, y: y * (1.0 - y),
    "Relu": lambda x, y: (x > 0).astype(x.dtype),
    "Relu6": lambda x, y: ((x > 0) & (x < 6)).astype(x.dtype),
    "Silu": lambda x, y: _sig(x) * (1.0 + x * (1.0 - _sig(x))),
    "Abs": lambda x, y: np.sign(x),
    "Absolute": lambda x, y: np.sign(x),
}


def _binary(name: str, a: Any, b: Any, g: np.ndarray) -> Grads:
    a64, b64 = np.asarray(a), np.asarray(b)
    if name == "Add":
        ga, gb = g, g
    elif name == "Subtract":
        ga, gb = g, -g
    elif name == "Multiply":
        ga, gb = g * b64, g * a64
    elif name in ("Divide", "TrueDivide"):
        ga, gb = g / b64, -g * a64 / (b64 * b64)
    elif name in ("Maximum", "Minimum"):  # TensorFlow: ties go to the first argument
        first = a64 >= b64 if name == "Maximum" else a64 <= b64
        ga, gb = np.where(first, g, 0), np.where(first, 0, g)
    else:  # Matmul
        a2 = a64 if a64.ndim > 1 else a64[None]
        b2 = b64 if b64.ndim > 1 else b64[:, None]
        g2 = g.reshape(a2.shape[:-1] + b2.shape[-1:])
        ga = (g2 @ np.swapaxes(b2, -1, -2)).reshape(np.broadcast_shapes(
            a2.shape[:-2], b2.shape[:-2]) + a2.shape[-2:])
        gb = (np.swapaxes(a2, -1, -2) @ g2)
        ga, gb = unbroadcast(ga, a2.shape).reshape(_shape(a)), \
            unbroadcast(gb, b2.shape).reshape(_shape(b))
        return [ga, gb]
    return [unbroadcast(np.asarray(ga), _shape(a)).reshape(_shape(a)),
            unbroadcast(np.asarray(gb), _shape(b)).reshape(_shape(b))]


BINARY = ("Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Maximum", "Minimum",
          "Matmul")
MOVING = ("Reshape", "Transpose", "ExpandDims", "Squeeze", "GetItem", "Concatenate", "Stack")


def _moving(op: Any, pos: list[Any], params: dict[str, Any]):
    """Run ``op`` on the entry positions of its tensor arguments (1-based, 0 = none)."""
    start, offsets, shapes = 1, [], []

    def positions(v):
        nonlocal start
        n = int(np.prod(np.shape(v)))
        out = np.arange(start, start + n, dtype=np.float64).reshape(np.shape(v))
        offsets.append(start)
        shapes.append(np.shape(v))
        start += n
        return out

    first = pos[0]
    arg0 = [positions(v) for v in first] if isinstance(first, (list, tuple)) else \
        positions(first)
    src = np.asarray(op.spec.fn(arg0, *pos[1:], **params)).astype(np.int64).reshape(-1)
    offsets.append(start)
    return src, offsets, shapes


def op_vjp(op: Any, pos: list[Any], params: dict[str, Any], y: Any,
           where: str) -> Callable[[np.ndarray], Grads]:
    """``backward(g)`` -> one gradient per positional argument (a list for a list
    argument); a ConfigError for an operation without one."""
    name = op.tf[0] if op.tf else op.class_name
    if name in BINARY and len(pos) == 2:
        return lambda g: _binary(name, pos[0], pos[1], g)
    if name in UNARY:
        x = np.asarray(pos[0])
        return lambda g: [g * UNARY[name](x, np.asarray(y))]
    if name == "Cast":
        return lambda g: [g.astype(np.asarray(pos[0]).dtype)]
    if name in ("Mean", "Sum"):
        x = np.asarray(pos[0])
        axis, keep = params.get("axis"), params.get("keepdims", False)
        axes = tuple(range(x.ndim)) if axis is None else tuple(
            a % x.ndim for a in (axis if isinstance(axis, (list, tuple)) else [axis]))
        n = int(np.prod([x.shape[a] for a in axes])) if name == "Mean" else 1

        def reduce_back(g):
            gk = g if keep else np.expand_dims(g, axes)
            return [np.broadcast_to(gk / n, x.shape).astype(g.dtype)]
        return reduce_back
    if name in MOVING:
        src, offsets, shapes = _moving(op, pos, params)

        def moving_back(g):
            flat = np.bincount(src, weights=np.asarray(g, np.float64).reshape(-1),
                               minlength=offsets[-1])
            parts = [flat[offsets[i]:offsets[i + 1]].reshape(s).astype(g.dtype)
                     for i, s in enumerate(shapes)]
            first = parts if isinstance(pos[0], (list, tuple)) else parts[0]
            return [first] + [None] * (len(pos) - 1)
        return moving_back

    def refuse(g):
        raise ConfigError(where, f"operation {op.name!r} ({name}) has no backward pass in "
                          f"engine.gradients yet, and a gradient flows through it")
    return refuse
