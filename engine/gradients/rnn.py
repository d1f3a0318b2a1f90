"""VJPs of the recurrent layers: SimpleRNN, LSTM, GRU (both GRU bias layouts), with
masks, ``go_backwards``, ``return_sequences`` and ``return_state``; Bidirectional over
them and TimeDistributed over any layer with a VJP.

The forward pass runs the cell's step formulas and keeps, per step, what backpropagation
through time needs; the backward pass walks the steps in reverse and does the projections
of all steps (input kernel, recurrent kernel) as one matrix product each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import activations as A
from ..errors import ConfigError
from ..layers.rnn import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    GRUCell,
    LSTMCell,
    SimpleRNN,
    SimpleRNNCell,
    TimeDistributed,
)
from ..layers.rnn.common import fast_activation
from ..layers.rnn.wrappers import merge_directions
from .activations import activation_vjp
from .table import Call, cast_input, find, register


def _dact(act: Any, z: np.ndarray, y: np.ndarray, g: np.ndarray) -> np.ndarray:
    fn = getattr(act, "fn", None)
    if fn is A.tanh and not act.custom:
        return g * (1.0 - y * y)
    if fn is A.sigmoid and not act.custom:
        return g * y * (1.0 - y)
    return activation_vjp(act, z, y, g)


def _check(layer: Any, call: Call) -> None:
    cell = getattr(layer, "cell", layer)
    _kind(cell, call.where)
    if call.training and (cell.dropout or cell.recurrent_dropout):
        raise ConfigError(call.where, f"layer {layer.name!r} ({type(layer).__name__}): "
                          f"training-mode gradients with dropout/recurrent_dropout are not "
                          f"supported yet; use training=False or set them to 0")
    if hasattr(layer, "_time_major") and layer._time_major():
        raise ConfigError(call.where, f"layer {layer.name!r}: time_major=True has no "
                          f"backward pass yet")


def _mask(layer: Any, mask: Any, x: np.ndarray) -> np.ndarray | None:
    if isinstance(mask, (list, tuple)):
        mask = mask[0] if mask else None
    if mask is None:
        return None
    m = np.asarray(mask).astype(bool)
    if m.ndim > 2:
        m = m.reshape(m.shape[:2] + (-1,)).any(-1)
    return m


_KIND = {SimpleRNNCell: SimpleRNN, LSTMCell: LSTM, GRUCell: GRU}


def _kind(cell: Any, where: str) -> type:
    kind = _KIND.get(type(cell))
    if kind is None:
        raise ConfigError(where, f"an RNN over a {type(cell).__name__} has no backward pass "
                          f"yet (SimpleRNNCell, LSTMCell and GRUCell have one)")
    return kind


def _run(layer: Any, x: np.ndarray, mask: np.ndarray | None, init: list | None = None, *,
         flags: Any = None):
    """Forward through time; returns the outputs, the final states and
    ``backward(g_out, g_states) -> (gx, grads, g_initial_states)``. ``layer`` is an RNN
    layer, or a cell with ``flags`` giving go_backwards/return_sequences (one step)."""
    cell = getattr(layer, "cell", layer)
    flags = flags or layer
    kind = _kind(cell, layer.name)
    u = cell.units
    b, t = x.shape[:2]
    xt = np.swapaxes(x, 0, 1)
    mt = None if mask is None else np.swapaxes(mask, 0, 1)
    if flags.go_backwards:
        xt = xt[::-1]
        mt = None if mt is None else mt[::-1]
    xt = np.ascontiguousarray(xt)
    W, U = cell.kernel.value, cell.recurrent_kernel.value
    bias = None if cell.bias is None else cell.bias.value
    act = cell.activation
    ract = getattr(cell, "recurrent_activation", None)
    f_act, f_ract = fast_activation(act), (None if ract is None else fast_activation(ract))
    b_in = b_rec = None
    if bias is not None:
        if kind is GRU and cell.reset_after:
            b_in, b_rec = bias[0], bias[1]
        else:
            b_in = bias
    xp = (xt.reshape(t * b, -1) @ W).reshape(t, b, -1)
    if b_in is not None:
        xp += b_in
    dt = xp.dtype
    n_states = 2 if kind is LSTM else 1
    states = [np.zeros((b, u), dt) for _ in range(n_states)] if init is None else \
        [np.asarray(s0, dt) for s0 in init]
    prev = np.zeros((b, u), dt)
    zof = bool(flags._values.get("zero_output_for_mask"))
    outs = np.empty((t, b, u), dt) if flags.return_sequences else None
    tape: list[tuple] = []
    for i in range(t):
        h = states[0]
        if kind is LSTM:
            c = states[1]
            z = xp[i] + h @ U
            s = f_ract(z)
            g = f_act(z[:, 2 * u:3 * u])
            c_new = s[:, u:2 * u] * c + s[:, :u] * g
            tc = f_act(c_new)
            h_new = s[:, 3 * u:] * tc
            tape.append((h, c, z, s, g, c_new, tc))
            new = [h_new, c_new]
        elif kind is GRU:
            if cell.reset_after:
                inner = h @ U
                if b_rec is not None:
                    inner = inner + b_rec
                zr_pre = xp[i][:, :2 * u] + inner[:, :2 * u]
                zr = f_ract(zr_pre)
                hh_pre = xp[i][:, 2 * u:] + zr[:, u:] * inner[:, 2 * u:]
            else:
                inner = h @ U[:, :2 * u]
                zr_pre = xp[i][:, :2 * u] + inner
                zr = f_ract(zr_pre)
                hh_pre = xp[i][:, 2 * u:] + (zr[:, u:] * h) @ U[:, 2 * u:]
            hh = f_act(hh_pre)
            zg = zr[:, :u]
            h_new = zg * h + (1.0 - zg) * hh
            tape.append((h, inner, zr_pre, zr, hh_pre, hh))
            new = [h_new]
        else:
            pre = xp[i] + h @ U
            h_new = f_act(pre)
            tape.append((h, pre, h_new))
            new = [h_new]
        out = new[0]
        if mt is not None:
            m = mt[i][:, None]
            new = [np.where(m, n, s) for n, s in zip(new, states)]
            out = np.where(m, out, np.zeros((), dt) if zof else prev)
        states, prev = new, out
        if outs is not None:
            outs[i] = out
    seq = None if outs is None else np.swapaxes(outs, 0, 1)

    def backward(g_out: np.ndarray, g_states: list[np.ndarray | None]):
        gs = [np.zeros((b, u), dt) if g is None else np.asarray(g, dt) for g in g_states]
        gseq = None
        g_last = np.zeros((b, u), dt)
        if flags.return_sequences:
            gseq = np.swapaxes(np.asarray(g_out, dt), 0, 1)
        else:
            g_last = np.asarray(g_out, dt)
        carry = g_last  # gradient w.r.t. the running output ``prev``
        gxp = np.empty((t, b, xp.shape[-1]), dt)
        g_inner = np.empty((t, b, U.shape[1] if kind is not GRU or cell.reset_after
                            else 2 * u), dt) if kind is GRU else None
        hs = np.empty((t, b, u), dt)
        ghh_all = np.empty((t, b, u), dt) if kind is GRU and not cell.reset_after else None
        rh_all = np.empty((t, b, u), dt) if ghh_all is not None else None
        for i in range(t - 1, -1, -1):
            g_o = carry + (gseq[i] if gseq is not None else 0)
            if mt is not None:
                m = mt[i][:, None]
                g_new = [np.where(m, gs[0] + g_o, 0)] + [np.where(m, g, 0) for g in gs[1:]]
                keep = [np.where(m, 0, g) for g in gs]
                carry = np.zeros_like(g_o) if zof else np.where(m, 0, g_o)
            else:
                g_new = [gs[0] + g_o] + gs[1:]
                keep = None
                carry = np.zeros_like(g_o)
            rec = tape[i]
            hs[i] = rec[0]
            if kind is LSTM:
                h, c, z, s, g, c_new, tc = rec
                gh, gc = g_new
                so = s[:, 3 * u:]
                gc = gc + _dact(act, c_new, tc, gh * so)
                gz = np.zeros_like(z)
                gz[:, 3 * u:] = gh * tc
                gz[:, u:2 * u] = gc * c
                gz[:, :u] = gc * g
                g_g = gc * s[:, :u]
                gz_s = _dact(ract, z, s, gz)  # i, f, o through the recurrent activation
                gz_s[:, 2 * u:3 * u] = _dact(act, z[:, 2 * u:3 * u], g, g_g)
                gxp[i] = gz_s
                gs = [gz_s @ U.T, gc * s[:, u:2 * u]]
            elif kind is GRU:
                h, inner, zr_pre, zr, hh_pre, hh = rec
                (gh,) = g_new
                zg, r = zr[:, :u], zr[:, u:]
                g_hh = _dact(act, hh_pre, hh, gh * (1.0 - zg))
                gzr = np.empty_like(zr)
                gzr[:, :u] = gh * (h - hh)
                gxp[i][:, 2 * u:] = g_hh
                gh_prev = gh * zg
                if cell.reset_after:
                    gzr[:, u:] = g_hh * inner[:, 2 * u:]
                    gzr_pre = _dact(ract, zr_pre, zr, gzr)
                    gxp[i][:, :2 * u] = gzr_pre
                    gin = np.concatenate([gzr_pre, g_hh * r], axis=1)
                    g_inner[i] = gin
                    gh_prev = gh_prev + gin @ U.T
                else:
                    g_rh = g_hh @ U[:, 2 * u:].T
                    gzr[:, u:] = g_rh * h
                    gzr_pre = _dact(ract, zr_pre, zr, gzr)
                    gxp[i][:, :2 * u] = gzr_pre
                    g_inner[i] = gzr_pre
                    ghh_all[i], rh_all[i] = g_hh, r * h
                    gh_prev = gh_prev + g_rh * r + gzr_pre @ U[:, :2 * u].T
                gs = [gh_prev]
            else:
                h, pre, h_new = rec
                (gh,) = g_new
                gpre = _dact(act, pre, h_new, gh)
                gxp[i] = gpre
                gs = [gpre @ U.T]
            if keep is not None:
                gs = [a + k for a, k in zip(gs, keep)]
        flat_x = xt.reshape(t * b, -1)
        flat_h = hs.reshape(t * b, u)
        gflat = gxp.reshape(t * b, -1)
        grads = {cell.kernel.path: (flat_x.T @ gflat).astype(W.dtype)}
        if kind is GRU:
            gi = g_inner.reshape(t * b, -1)
            gU = np.zeros_like(U)
            if cell.reset_after:
                gU += flat_h.T @ gi
            else:
                gU[:, :2 * u] = flat_h.T @ gi
                gU[:, 2 * u:] = rh_all.reshape(t * b, u).T @ ghh_all.reshape(t * b, u)
            grads[cell.recurrent_kernel.path] = gU
            if bias is not None:
                gb = gflat.sum(axis=0)
                grads[cell.bias.path] = np.stack([gb, gi.sum(axis=0)]) if cell.reset_after \
                    else gb
        else:
            grads[cell.recurrent_kernel.path] = (flat_h.T @ gflat).astype(U.dtype)
            if bias is not None:
                grads[cell.bias.path] = gflat.sum(axis=0)
        gx = (gflat @ W.T).reshape(t, b, -1)
        if flags.go_backwards:
            gx = gx[::-1]
        return np.swapaxes(gx, 0, 1), grads, gs

    return (prev if seq is None else seq), states, backward


@register(SimpleRNN, LSTM, GRU, RNN)
def recurrent(layer: Any, xs: list[np.ndarray], call: Call):
    _check(layer, call)
    x = cast_input(layer, xs[0])
    mask = _mask(layer, call.mask, x)
    out, states, back = _run(layer, x, mask)
    n = len(states)

    def backward(g):
        if layer.return_state:
            gx, grads, _ = back(g[0], list(g[1:1 + n]))
        else:
            gx, grads, _ = back(g, [None] * n)
        return [gx], grads
    if layer.return_state:
        return [out, *states], backward
    return out, backward


@register(Bidirectional)
def bidirectional(layer: Bidirectional, xs: list[np.ndarray], call: Call):
    fl, bl = layer.forward_layer, layer.backward_layer
    for sub in (fl, bl):
        _check(sub, call)
    x = cast_input(layer, xs[0])
    mask = _mask(layer, call.mask, x)
    y, fs, fback = _run(fl, x, mask)
    yr, bs, bback = _run(bl, x, mask)
    seq = layer.return_sequences
    if seq:
        yr = yr[:, ::-1]
    mode = layer.merge_mode
    out: Any = merge_directions(mode, y, yr)
    n = len(fs)
    outs = (out if isinstance(out, list) else [out]) + (fs + bs if layer.return_state else [])

    def backward(g):
        gl = g if isinstance(g, list) else [g]
        k = 2 if mode is None else 1
        go, gst = gl[:k], gl[k:]
        if mode == "concat":
            gy, gyr = go[0][..., :y.shape[-1]], go[0][..., y.shape[-1]:]
        elif mode == "sum":
            gy = gyr = go[0]
        elif mode == "ave":
            gy = gyr = go[0] / 2
        elif mode == "mul":
            gy, gyr = go[0] * yr, go[0] * y
        else:
            gy, gyr = go
        if seq:
            gyr = gyr[:, ::-1]
        gfs = list(gst[:n]) if gst else [None] * n
        gbs = list(gst[n:]) if gst else [None] * n
        gx1, g1, _ = fback(gy, gfs)
        gx2, g2, _ = bback(gyr, gbs)
        return [gx1 + gx2], {**g1, **g2}
    return (outs if len(outs) > 1 else outs[0]), backward


@register(TimeDistributed)
def time_distributed(layer: TimeDistributed, xs: list[np.ndarray], call: Call):
    x = cast_input(layer, xs[0])
    b, t = x.shape[:2]
    inner = layer.layer
    m = None
    if call.mask is not None:
        mm = np.asarray(call.mask)
        m = mm.reshape((b * t,) + mm.shape[2:])
    y, back = find(inner, call.where)(inner, [x.reshape((b * t,) + x.shape[2:])],
                                      Call(call.training, m, f"{call.where}.layer"))
    if isinstance(y, (list, tuple)):
        raise ConfigError(call.where, f"layer {layer.name!r}: TimeDistributed over a layer "
                          f"with several outputs has no backward pass")
    out = y.reshape((b, t) + y.shape[1:])

    def backward(g):
        gxs, grads = back(g.reshape((b * t,) + g.shape[2:]))
        gx = gxs[0]
        return [None if gx is None else gx.reshape(x.shape)], grads
    return out, backward


class _OneStep:
    """The flags of a cell called on one step."""

    go_backwards = False
    return_sequences = False
    _values: dict[str, Any] = {}


@register(SimpleRNNCell, LSTMCell, GRUCell)
def cell_step(cell: Any, xs: list[np.ndarray], call: Call):
    """``cell(x, states) -> (output, new_states)``: one step of the recurrence (the inputs
    are ``[x, *states]``; the outputs ``[output, *new_states]``)."""
    _check(cell, call)
    x = cast_input(cell, xs[0])
    n = 2 if type(cell) is LSTMCell else 1
    init = [cast_input(cell, s) for s in xs[1:1 + n]] or None
    out, states, back = _run(cell, x[:, None], None, init, flags=_OneStep())

    def backward(g):
        gl = g if isinstance(g, list) else [g]
        g_states = list(gl[1:1 + n]) + [None] * (n - len(gl[1:1 + n]))
        g_out = gl[0]
        if len(gl) > 1 and g_states[0] is not None:  # the output is the new h itself
            g_out, g_states[0] = g_out + g_states[0], None
        gx, grads, g_init = back(g_out, g_states)
        return [gx[:, 0], *g_init[:len(xs) - 1]], grads
    return [out, *states], backward
