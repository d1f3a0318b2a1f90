"""VJPs of the merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Dot
(Concatenate moves entries: see shaping)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..layers.merging import Add, Average, Dot, Maximum, Minimum, Multiply, Subtract
from .table import Call, cast_input, register, unbroadcast


def _aligned(xs: list[np.ndarray]) -> list[np.ndarray]:
    rank = max(x.ndim for x in xs)
    return [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]


def _back(xs: list[np.ndarray], gs: list[np.ndarray]) -> list[np.ndarray]:
    return [unbroadcast(g, a.shape).reshape(x.shape) for x, a, g in zip(xs, _aligned(xs), gs)]


def _no_mask(layer: Any, call: Call) -> None:
    if call.mask is not None and any(m is not None for m in call.mask):
        raise ConfigError(call.where, f"layer {layer.name!r} ({type(layer).__name__}): "
                          f"gradients through masked inputs of this layer are not supported; "
                          f"remove the mask (mask_zero / Masking) upstream")


@register(Add, Subtract, Average)
def linear_merge(layer: Any, xs: list[np.ndarray], call: Call):
    xs = [cast_input(layer, x) for x in xs]
    y = layer.call(xs)
    n = len(xs)
    if isinstance(layer, Average):
        signs = [1.0 / n] * n
    elif isinstance(layer, Subtract):
        signs = [1.0, -1.0]
    else:
        signs = [1.0] * n
    return y, lambda g: (_back(xs, [g * np.asarray(s, g.dtype) for s in signs]), {})


@register(Multiply)
def multiply(layer: Multiply, xs: list[np.ndarray], call: Call):
    _no_mask(layer, call)
    xs = [cast_input(layer, x) for x in xs]
    al = _aligned(xs)
    y = layer.call(xs)

    def backward(g):
        gs = []
        for i in range(len(al)):
            p = g
            for j, a in enumerate(al):
                if j != i:
                    p = p * a
            gs.append(p)
        return _back(xs, gs), {}
    return y, backward


@register(Maximum, Minimum)
def extremum(layer: Any, xs: list[np.ndarray], call: Call):
    """Keras folds pairwise (``out = max(out, x_i)``); TensorFlow's gradient of
    max(a, b) goes to ``a`` where ``a >= b`` (min: ``a <= b``)."""
    _no_mask(layer, call)
    xs = [cast_input(layer, x) for x in xs]
    al = _aligned(xs)
    y = layer.call(xs)
    ge = np.greater_equal if isinstance(layer, Maximum) else np.less_equal
    fold = np.maximum if isinstance(layer, Maximum) else np.minimum
    outs = [al[0]]
    for a in al[1:]:
        outs.append(fold(outs[-1], a))

    def backward(g):
        gs: list[Any] = [None] * len(al)
        cur = g
        for i in range(len(al) - 1, 0, -1):
            left = ge(outs[i - 1], al[i])
            gs[i] = np.where(left, 0, cur).astype(g.dtype)
            cur = np.where(left, cur, 0).astype(g.dtype)
        gs[0] = cur
        return _back(xs, gs), {}
    return y, backward


@register(Dot)
def dot(layer: Dot, xs: list[np.ndarray], call: Call):
    if layer.normalize:
        raise ConfigError(call.where, f"layer {layer.name!r} (Dot): normalize=True has no "
                          f"backward pass yet; use normalize=False")
    x, w = (cast_input(layer, v) for v in xs)
    y = layer.call([x, w])
    a1, a2 = layer._pair(x.ndim, w.ndim)
    xm, wm = np.moveaxis(x, a1, -1), np.moveaxis(w, a2, 1)
    b, d = x.shape[0], x.shape[a1]
    x2, w2 = xm.reshape(b, -1, d), wm.reshape(b, d, -1)

    def backward(g):
        g3 = g.reshape(b, x2.shape[1], w2.shape[2])
        gx = np.moveaxis((g3 @ w2.transpose(0, 2, 1)).reshape(xm.shape), -1, a1)
        gw = np.moveaxis((x2.transpose(0, 2, 1) @ g3).reshape(wm.shape), 1, a2)
        return [gx, gw], {}
    return y, backward
