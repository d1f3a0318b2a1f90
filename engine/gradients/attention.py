"""VJPs of the attention layers: MultiHeadAttention (any attention axes, gate, masks,
causal), GroupedQueryAttention, Attention (dot and concat scores) and AdditiveAttention,
with masks and, in training, dropout on the attention weights (the layer's own seeded
draw: ``_dropout`` makes the layer's call, ``ops.dropout``, on the same generator)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..layers.attention import (
    AdditiveAttention,
    Attention,
    GroupedQueryAttention,
    MultiHeadAttention,
)
from ..layers.attention.ops import causal_mask, dropout, masked_softmax
from .table import Call, cast_input, register

#: called on (query, value[, key]) as separate arguments
SEVERAL = (MultiHeadAttention, GroupedQueryAttention)


def _softmax_back(p: np.ndarray, gp: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    gs = p * (gp - np.sum(gp * p, axis=-1, keepdims=True))
    return gs if mask is None else np.where(mask, gs, 0)


def _dropout(layer: Any, p: np.ndarray, call: Call):
    """The attention weights after the layer's training-mode dropout, and its slope (the
    kept entries' scale, zeros elsewhere; None when there is no dropout). The generator
    is rewound to draw the same mask twice: on ``p`` (the layer's exact arithmetic) and on
    ones (the slope)."""
    if not call.training or not 0.0 < layer.dropout < 1.0:
        return p, None
    rng = layer._rng
    start = rng.bit_generator.state
    scale = dropout(rng, np.ones_like(p), layer.dropout)
    rng.bit_generator.state = start
    return dropout(rng, p, layer.dropout), scale


def _with_scores(call: Call) -> bool:
    """``return_attention_scores=True``: the scores are a second output (and their
    cotangent a second one, added to the attention weights' gradient)."""
    return bool(call.extra.get("kwargs", {}).get("return_attention_scores"))


def _split(g: Any, scores: bool):
    return (g[0], g[1]) if scores else (g, None)


def _proj_in(proj: Any, x: np.ndarray):
    k = proj.kernel.value
    k2 = k.reshape(k.shape[0], -1)
    x2 = x.reshape(-1, x.shape[-1])
    y = x2 @ k2
    if proj.bias is not None:
        y += proj.bias.value.reshape(-1)

    def back(g: np.ndarray, grads: dict[str, np.ndarray]) -> np.ndarray:
        g2 = g.reshape(x2.shape[0], -1)
        grads[proj.kernel.path] = (x2.T @ g2).reshape(k.shape)
        if proj.bias is not None:
            grads[proj.bias.path] = g2.sum(axis=0).reshape(proj.bias.shape)
        return (g2 @ k2.T).reshape(x.shape)
    return y.reshape(x.shape[:-1] + k.shape[1:]), back


def _inputs_and_mask(layer: Any, xs: list[np.ndarray], call: Call):
    """Query, value and key (the value when not given) in the layer's dtype, and the
    attention mask the layer's own call builds from the masks and call arguments."""
    kw = call.extra.get("kwargs", {})
    query = cast_input(layer, xs[0])
    value = cast_input(layer, xs[1])
    key = value if len(xs) < 3 else cast_input(layer, xs[2])
    am, _ = layer._masks(query, value, call.mask, kw.get("query_mask"),
                         kw.get("value_mask"), kw.get("key_mask"), kw.get("attention_mask"),
                         bool(kw.get("use_causal_mask")))
    return query, value, key, am


@register(MultiHeadAttention)
def multi_head(layer: MultiHeadAttention, xs: list[np.ndarray], call: Call):
    """With ``return_attention_scores`` the second output is the softmax before dropout
    ``(B, H, *T, *S)``, as Keras's ``_compute_attention`` returns it."""
    ras = _with_scores(call)
    query, value, key, am = _inputs_and_mask(layer, xs, call)
    zero = layer.source_format != "keras2" and (
        ras or not (query.ndim == 3 and layer.dropout == 0))  # the layer's unfused path
    q, q_back = _proj_in(layer._query, query)
    k, k_back = _proj_in(layer._key, key)
    v, v_back = _proj_in(layer._value, value)
    gate = g_back = None
    if layer._gate is not None:
        gpre, g_back = _proj_in(layer._gate, query)
        gate = 1.0 / (1.0 + np.exp(-gpre))
    r = q.ndim
    axes = layer._axes
    batch = [i for i in range(r - 1) if i not in axes]
    perm = batch + list(axes) + [r - 1]
    qt, kt, vt = q.transpose(perm), k.transpose(perm), v.transpose(perm)
    nb = len(batch)
    bshape = qt.shape[:nb]
    qa, ka = qt.shape[nb:-1], kt.shape[nb:-1]
    nq, nk = math.prod(qa), math.prod(ka)
    scale = 1.0 / math.sqrt(layer.key_dim)
    q2 = qt.reshape(bshape + (nq, qt.shape[-1]))
    k2 = kt.reshape(kt.shape[:nb] + (nk, kt.shape[-1]))
    v2 = vt.reshape(vt.shape[:nb] + (nk, vt.shape[-1]))
    s = (q2 * np.asarray(scale, q2.dtype)) @ np.swapaxes(k2, -1, -2)
    m2 = None
    if am is not None:
        m = np.asarray(am, dtype=bool)
        full = bshape + tuple(qa) + tuple(ka)
        while m.ndim < len(full):
            m = np.expand_dims(m, -2 * len(axes) - 1)
        m2 = np.broadcast_to(m, full).reshape(bshape + (nq, nk))
    p = masked_softmax(s, m2, zero)
    pd, keep = _dropout(layer, p, call)
    o2 = pd @ v2
    att = o2.reshape(bshape + tuple(qa) + (v2.shape[-1],)).transpose(np.argsort(perm))
    out = att * gate if gate is not None else att
    ko = layer._output.kernel.value
    ko2 = ko.reshape(math.prod(ko.shape[:2]), -1)
    lead = out.shape[:out.ndim - 2]
    out2 = out.reshape(-1, ko2.shape[0])
    y = out2 @ ko2
    if layer._output.bias is not None:
        y += layer._output.bias.value.reshape(-1)
    y = y.reshape(lead + ko.shape[2:]).astype(layer.compute_dtype)

    def backward(g):
        g, g_scores = _split(g, ras)
        grads: dict[str, np.ndarray] = {}
        g2 = g.reshape(out2.shape[0], -1)
        grads[layer._output.kernel.path] = (out2.T @ g2).reshape(ko.shape)
        if layer._output.bias is not None:
            grads[layer._output.bias.path] = g2.sum(axis=0).reshape(layer._output.bias.shape)
        g_out = (g2 @ ko2.T).reshape(out.shape)
        g_att = g_out
        g_query_extra = 0
        if gate is not None:
            g_att = g_out * gate
            g_query_extra = g_back(g_out * att * gate * (1.0 - gate), grads)
        g_o2 = g_att.transpose(perm).reshape(o2.shape)
        g_p = g_o2 @ np.swapaxes(v2, -1, -2)
        if keep is not None:
            g_p = g_p * keep
        if g_scores is not None:
            g_p = g_p + np.asarray(g_scores, g_p.dtype).reshape(g_p.shape)
        g_v2 = np.swapaxes(pd, -1, -2) @ g_o2
        g_s = _softmax_back(p, g_p, m2)
        g_q2 = (g_s @ k2) * scale
        g_k2 = np.swapaxes(g_s, -1, -2) @ (q2 * scale)
        inv = np.argsort(perm)
        g_q = g_q2.reshape(qt.shape).transpose(inv)
        g_k = g_k2.reshape(kt.shape).transpose(inv)
        g_v = g_v2.reshape(vt.shape).transpose(inv)
        gx_q = q_back(g_q, grads) + g_query_extra
        gx_k = k_back(g_k, grads)
        gx_v = v_back(g_v, grads)
        if len(xs) < 3:
            return [gx_q, gx_v + gx_k], grads
        return [gx_q, gx_v, gx_k], grads
    if ras:
        full = bshape + tuple(qa) + tuple(ka)
        return [y, p.reshape(full).astype(layer.compute_dtype)], backward
    return y, backward


@register(Attention, AdditiveAttention)
def dense_attention(layer: Any, xs: list[np.ndarray], call: Call):
    """With ``return_attention_scores`` the second output is the attention weights after
    dropout, as Keras's ``_apply_scores`` returns them (both Keras 2 and 3)."""
    ras = _with_scores(call)
    kw = call.extra.get("kwargs", {})
    xs = [cast_input(layer, x) for x in xs]
    q, v = xs[0], xs[1]
    k = xs[2] if len(xs) > 2 else v
    q_mask = v_mask = None
    if call.mask is not None:
        q_mask, v_mask = call.mask[0], call.mask[1]
    additive = isinstance(layer, AdditiveAttention)
    concat = not additive and layer.score_mode == "concat"
    sc = None if layer.scale is None else layer.scale.value
    if additive or concat:
        pre = q[..., :, None, :] + k[..., None, :, :]
        if concat and sc is not None:
            pre = sc * pre
        th = np.tanh(pre)
        if additive:
            s = (th * sc).sum(-1) if sc is not None else th.sum(-1)
        else:
            s = layer.concat_score_weight.value * th.sum(-1)
    else:
        raw = q @ np.swapaxes(k, -1, -2)
        s = raw * sc if sc is not None else raw
    sm = None if v_mask is None else np.asarray(v_mask, dtype=bool)[..., None, :]
    if kw.get("use_causal_mask") or layer._values.get("causal"):
        c = causal_mask(s.shape[-2], s.shape[-1])
        sm = c if sm is None else sm & c
    p = masked_softmax(s, sm, zero_masked=False)
    pd, keep = _dropout(layer, p, call)
    out = pd @ v
    qm = None if q_mask is None else np.asarray(q_mask, dtype=bool)[..., None]
    if qm is not None:
        out = np.where(qm, out, 0)

    def backward(g):
        g, g_scores = _split(g, ras)
        grads: dict[str, np.ndarray] = {}
        if qm is not None:
            g = np.where(qm, g, 0)
        g_p = g @ np.swapaxes(v, -1, -2)
        if g_scores is not None:
            g_p = g_p + np.asarray(g_scores, g_p.dtype)
        if keep is not None:
            g_p = g_p * keep
        g_v = np.swapaxes(pd, -1, -2) @ g
        g_s = _softmax_back(p, g_p, sm)
        if additive or concat:
            if additive:
                g_th = g_s[..., None] * (sc if sc is not None else 1.0)
                if sc is not None:
                    grads[layer.scale.path] = (g_s[..., None] * th).reshape(
                        -1, th.shape[-1]).sum(axis=0)
            else:
                w = layer.concat_score_weight.value
                grads[layer.concat_score_weight.path] = np.asarray((g_s * th.sum(-1)).sum())
                g_th = (g_s * w)[..., None] * np.ones_like(th)
            g_pre = g_th * (1.0 - th * th)
            if concat and sc is not None:
                grads[layer.scale.path] = np.asarray((g_pre * (pre / sc)).sum())
                g_pre = g_pre * sc
            g_q, g_k = g_pre.sum(axis=-2), g_pre.sum(axis=-3)
        else:
            if sc is not None:
                grads[layer.scale.path] = np.asarray((g_s * raw).sum())
                g_s = g_s * sc
            g_q, g_k = g_s @ k, np.swapaxes(g_s, -1, -2) @ q
        if len(xs) > 2:
            return [g_q, g_v, g_k], grads
        return [g_q, g_v + g_k], grads
    if ras:
        return [out.astype(layer.compute_dtype), pd.astype(layer.compute_dtype)], backward
    return out.astype(layer.compute_dtype), backward


@register(GroupedQueryAttention)
def grouped_query(layer: GroupedQueryAttention, xs: list[np.ndarray], call: Call):
    """Key/value heads are shared by groups of query heads (``np.repeat``): their
    gradients are summed over each group. With ``return_attention_scores`` the second
    output is the softmax before dropout ``(B, Hq, T, S)``."""
    ras = _with_scores(call)
    query, value, key, am = _inputs_and_mask(layer, xs, call)
    rep = layer.num_query_heads // layer.num_key_value_heads
    q, q_back = _proj_in(layer._query, query)
    k1, k_back = _proj_in(layer._key, key)
    v1, v_back = _proj_in(layer._value, value)
    gate = g_back = None
    if layer._gate is not None:
        gpre, g_back = _proj_in(layer._gate, query)
        gate = 1.0 / (1.0 + np.exp(-gpre))
    q2 = np.swapaxes(q, 1, 2)                                   # (B, Hq, T, hd)
    k2 = np.swapaxes(np.repeat(k1, rep, axis=2), 1, 2)          # (B, Hq, S, hd)
    v2 = np.swapaxes(np.repeat(v1, rep, axis=2), 1, 2)
    scale = 1.0 / math.sqrt(layer.head_dim)
    s = (q2 @ np.swapaxes(k2, -1, -2)) * np.asarray(scale, q2.dtype)
    m = None
    if am is not None:
        m = np.asarray(am, dtype=bool)
        while m.ndim < 4:
            m = np.expand_dims(m, m.ndim - 2)
    fused = layer.dropout == 0 and not ras
    p = masked_softmax(s, m, zero_masked=not fused)
    pd, keep = _dropout(layer, p, call)
    att = np.swapaxes(pd @ v2, 1, 2)                             # (B, T, Hq, hd)
    out = att * gate if gate is not None else att
    ko = layer._output.kernel.value
    ko2 = ko.reshape(-1, ko.shape[-1])
    out2 = out.reshape(-1, ko2.shape[0])
    y = out2 @ ko2
    if layer._output.bias is not None:
        y += layer._output.bias.value
    y = y.reshape(out.shape[:2] + ko.shape[2:]).astype(layer.compute_dtype)

    def backward(g):
        g, g_scores = _split(g, ras)
        grads: dict[str, np.ndarray] = {}
        g2 = g.reshape(out2.shape[0], -1)
        grads[layer._output.kernel.path] = (out2.T @ g2).reshape(ko.shape)
        if layer._output.bias is not None:
            grads[layer._output.bias.path] = g2.sum(axis=0)
        g_out = (g2 @ ko2.T).reshape(out.shape)
        g_att, g_extra = g_out, 0
        if gate is not None:
            g_att = g_out * gate
            g_extra = g_back(g_out * att * gate * (1.0 - gate), grads)
        g_o = np.swapaxes(g_att, 1, 2)
        g_p = g_o @ np.swapaxes(v2, -1, -2)
        if keep is not None:
            g_p = g_p * keep
        if g_scores is not None:
            g_p = g_p + np.asarray(g_scores, g_p.dtype)
        g_v2 = np.swapaxes(pd, -1, -2) @ g_o
        g_s = _softmax_back(p, g_p, None if m is None else np.broadcast_to(m, p.shape)) * scale
        g_q = np.swapaxes(g_s @ k2, 1, 2)
        g_k2 = np.swapaxes(np.swapaxes(g_s, -1, -2) @ q2, 1, 2)
        g_v2 = np.swapaxes(g_v2, 1, 2)
        b, n = g_k2.shape[:2]
        hkv, hd = layer.num_key_value_heads, layer.head_dim
        g_k = g_k2.reshape(b, n, hkv, rep, hd).sum(axis=3)
        g_v = g_v2.reshape(b, n, hkv, rep, hd).sum(axis=3)
        gx_q = q_back(g_q, grads) + g_extra
        gx_k, gx_v = k_back(g_k, grads), v_back(g_v, grads)
        if len(xs) < 3:
            return [gx_q, gx_v + gx_k], grads
        return [gx_q, gx_v, gx_k], grads
    if ras:
        return [y, p.astype(layer.compute_dtype)], backward
    return y, backward
