"""Backpropagation through time for one recurrent cell run over a sequence: SimpleRNN,
LSTM, GRU (both bias layouts) and ConvLSTM cells, with masks, ``go_backwards``, initial
states and training-mode dropout.

The forward pass runs the cell's step formulas and keeps, per step, what the backward
pass needs; the backward pass walks the steps in reverse and does the kernel gradients of
all steps (input kernel, recurrent kernel) as one product each (``rnn_ops``).

Dropout: in training the cell draws its masks from its own generator with ``_begin`` (the
very call its forward makes, so the masks are the layer's own seeded draw) and the
products use them as the cell does: one mask for all gates, or one per gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import activations as A
from ..errors import ConfigError
from ..layers.rnn import GRUCell, LSTMCell, SimpleRNNCell
from ..layers.rnn.common import fast_activation
from ..layers.rnn.conv_lstm import _ConvLSTMCell
from .activations import activation_vjp
from .rnn_ops import input_op, recurrent_op


@dataclass
class Flags:
    """How the sequence is run."""

    go_backwards: bool = False
    return_sequences: bool = False
    zero_output_for_mask: bool = False
    #: ``BaseCell._begin``'s ``seq`` (tf_keras's fused LSTM/GRU: a mask per step) or None
    seq_dropout: tuple[int, bool, bool] | None = None


def kind_of(cell: Any, where: str) -> str:
    if isinstance(cell, (LSTMCell, _ConvLSTMCell)):
        return "lstm"
    if isinstance(cell, GRUCell):
        return "gru"
    if isinstance(cell, SimpleRNNCell):
        return "simple"
    raise ConfigError(where, f"an RNN over a {type(cell).__name__} has no backward pass "
                      f"(SimpleRNNCell, LSTMCell, GRUCell, ConvLSTM cells and StackedRNNCells "
                      f"of them have one)")


def _dact(act: Any, z: np.ndarray, y: np.ndarray, g: np.ndarray) -> np.ndarray:
    fn = getattr(act, "fn", None)
    if fn is A.tanh and not act.custom:
        return g * (1.0 - y * y)
    if fn is A.sigmoid and not act.custom:
        return g * y * (1.0 - y)
    return activation_vjp(act, z, y, g)


def draw_masks(cell: Any, batch: int, step_shape: tuple, training: bool,
               seq: tuple[int, bool, bool] | None = None):
    """The cell's dropout masks for one call (``None`` each in inference)."""
    if not training:
        return None, None
    cell._begin(batch, step_shape, True, seq)
    try:
        return cell._dp, cell._rdp
    finally:
        cell._end()


def run(cell: Any, x: np.ndarray, mask: np.ndarray | None, init: list | None,
        flags: Flags, training: bool, where: str = ""):
    """Run ``cell`` over ``x (B, T, ...)``; returns ``(output, final states, backward)``
    where ``backward(g_out, g_states) -> (gx, weight grads, g_initial_states)``. The output
    is the last step's, or the sequence with ``flags.return_sequences``; shapes and data
    format are the layer's."""
    kind = kind_of(cell, where)
    conv = isinstance(cell, _ConvLSTMCell)
    cf = conv and cell.data_format == "channels_first"
    b, t = x.shape[:2]
    step_shape = tuple(x.shape[2:])
    dp, rdp = draw_masks(cell, b, step_shape, training, flags.seq_dropout)
    if cf:
        x = np.moveaxis(x, 2, -1)
    xt = np.swapaxes(x, 0, 1)
    mt = None if mask is None else np.swapaxes(mask, 0, 1)
    if flags.go_backwards:
        xt = xt[::-1]
        mt = None if mt is None else mt[::-1]
    xt = np.ascontiguousarray(xt)
    u = cell.units
    bias = None if cell.bias is None else cell.bias.value
    act = cell.activation
    ract = getattr(cell, "recurrent_activation", None)
    f_act, f_ract = fast_activation(act), (None if ract is None else fast_activation(ract))
    gru_after = kind == "gru" and cell.reset_after
    b_in = b_rec = None
    if bias is not None:
        b_in, b_rec = (bias[0], bias[1]) if gru_after else (bias, None)
    inp = input_op(cell, dp)
    xp = inp.fwd(xt)
    if b_in is not None:
        xp += b_in
    dt = xp.dtype
    if kind == "gru" and not gru_after:
        rec, rec_h = recurrent_op(cell, rdp, (0, 1)), recurrent_op(cell, rdp, (2,))
    else:
        rec, rec_h = recurrent_op(cell, rdp), None
    shapes = cell.state_shapes(step_shape)
    states = [np.zeros((b,) + tuple(s), dt) for s in shapes] if init is None else \
        [np.asarray(s0, dt) for s0 in init]
    if cf and init is not None:
        states = [np.moveaxis(s, 1, -1) for s in states]
    hshape = (b,) + tuple(shapes[0])
    ones = (1,) * (len(hshape) - 1)
    prev = np.zeros(hshape, dt)
    zof = flags.zero_output_for_mask
    outs = np.empty((t,) + hshape, dt) if flags.return_sequences else None
    tape: list[tuple] = []
    for i in range(t):
        h = states[0]
        if kind == "lstm":
            c = states[1]
            z = xp[i] + rec.fwd(h)
            s = f_ract(z)
            g = f_act(z[..., 2 * u:3 * u])
            c_new = s[..., u:2 * u] * c + s[..., :u] * g
            tc = f_act(c_new)
            h_new = s[..., 3 * u:] * tc
            tape.append((h, c, z, s, g, c_new, tc))
            new = [h_new, c_new]
        elif kind == "gru":
            inner = rec.fwd(h)
            if b_rec is not None:
                inner = inner + b_rec
            zr_pre = xp[i][..., :2 * u] + inner[..., :2 * u]
            zr = f_ract(zr_pre)
            if gru_after:
                hh_pre = xp[i][..., 2 * u:] + zr[..., u:] * inner[..., 2 * u:]
            else:
                hh_pre = xp[i][..., 2 * u:] + rec_h.fwd(zr[..., u:] * h)
            hh = f_act(hh_pre)
            zg = zr[..., :u]
            h_new = zg * h + (1.0 - zg) * hh
            tape.append((h, inner, zr_pre, zr, hh_pre, hh))
            new = [h_new]
        else:
            pre = xp[i] + rec.fwd(h)
            h_new = f_act(pre)
            tape.append((h, pre, h_new))
            new = [h_new]
        out = new[0]
        if mt is not None:
            m = mt[i].reshape((b,) + ones)
            new = [np.where(m, n, s) for n, s in zip(new, states)]
            out = np.where(m, out, np.zeros((), dt) if zof else prev)
        states, prev = new, out
        if outs is not None:
            outs[i] = out

    def backward(g_out: Any, g_states: list[Any]):
        gs = [np.zeros(hshape, dt) if g is None else
              np.asarray(np.moveaxis(g, 1, -1) if cf else g, dt) for g in g_states]
        gseq = None
        carry = np.zeros(hshape, dt)  # the gradient w.r.t. the running output ``prev``
        if flags.return_sequences:
            gseq = np.swapaxes(np.asarray(np.moveaxis(g_out, 2, -1) if cf else g_out, dt),
                               0, 1)
        else:
            carry = np.asarray(np.moveaxis(g_out, 1, -1) if cf else g_out, dt)
        gxp = np.empty(xp.shape, dt)
        g_inner = np.empty((t,) + hshape[:-1] + ((3 if gru_after else 2) * u,), dt) \
            if kind == "gru" else None
        hs = np.empty((t,) + hshape, dt)
        ghh_all = np.empty((t,) + hshape, dt) if rec_h is not None else None
        rh_all = np.empty((t,) + hshape, dt) if rec_h is not None else None
        for i in range(t - 1, -1, -1):
            g_o = carry + (gseq[i] if gseq is not None else 0)
            if mt is not None:
                m = mt[i].reshape((b,) + ones)
                g_new = [np.where(m, gs[0] + g_o, 0)] + [np.where(m, g, 0) for g in gs[1:]]
                keep = [np.where(m, 0, g) for g in gs]
                carry = np.zeros_like(g_o) if zof else np.where(m, 0, g_o)
            else:
                g_new = [gs[0] + g_o] + gs[1:]
                keep = None
                carry = np.zeros_like(g_o)
            rec_i = tape[i]
            hs[i] = rec_i[0]
            if kind == "lstm":
                h, c, z, s, g, c_new, tc = rec_i
                gh, gc = g_new
                gc = gc + _dact(act, c_new, tc, gh * s[..., 3 * u:])
                gz = np.empty_like(z)
                gz[..., 3 * u:] = gh * tc
                gz[..., u:2 * u] = gc * c
                gz[..., :u] = gc * g
                gz[..., 2 * u:3 * u] = 0
                gz_s = _dact(ract, z, s, gz)  # i, f, o through the recurrent activation
                gz_s[..., 2 * u:3 * u] = _dact(act, z[..., 2 * u:3 * u], g, gc * s[..., :u])
                gxp[i] = gz_s
                gs = [rec.back_a(gz_s, h.shape), gc * s[..., u:2 * u]]
            elif kind == "gru":
                h, inner, zr_pre, zr, hh_pre, hh = rec_i
                (gh,) = g_new
                zg, r = zr[..., :u], zr[..., u:]
                g_hh = _dact(act, hh_pre, hh, gh * (1.0 - zg))
                gzr = np.empty_like(zr)
                gzr[..., :u] = gh * (h - hh)
                gxp[i][..., 2 * u:] = g_hh
                gh_prev = gh * zg
                if gru_after:
                    gzr[..., u:] = g_hh * inner[..., 2 * u:]
                    gzr_pre = _dact(ract, zr_pre, zr, gzr)
                    gxp[i][..., :2 * u] = gzr_pre
                    gin = np.concatenate([gzr_pre, g_hh * r], axis=-1)
                    g_inner[i] = gin
                    gh_prev = gh_prev + rec.back_a(gin, h.shape)
                else:
                    g_rh = rec_h.back_a(g_hh, h.shape)
                    gzr[..., u:] = g_rh * h
                    gzr_pre = _dact(ract, zr_pre, zr, gzr)
                    gxp[i][..., :2 * u] = gzr_pre
                    g_inner[i] = gzr_pre
                    ghh_all[i], rh_all[i] = g_hh, r * h
                    gh_prev = gh_prev + g_rh * r + rec.back_a(gzr_pre, h.shape)
                gs = [gh_prev]
            else:
                h, pre, h_new = rec_i
                (gh,) = g_new
                gpre = _dact(act, pre, h_new, gh)
                gxp[i] = gpre
                gs = [rec.back_a(gpre, h.shape)]
            if keep is not None:
                gs = [a + k for a, k in zip(gs, keep)]
        kern = cell.kernel.value
        grads = {cell.kernel.path: inp.back_k(xt, gxp).astype(kern.dtype)}
        lead = tuple(range(gxp.ndim - 1))
        rk = cell.recurrent_kernel
        if kind == "gru":
            gU = rec.back_k(hs, g_inner)
            if rec_h is not None:
                gU = gU + rec_h.back_k(rh_all, ghh_all)
            grads[rk.path] = gU.astype(rk.dtype)
            if bias is not None:
                gb = gxp.sum(axis=lead)
                grads[cell.bias.path] = np.stack([gb, g_inner.sum(axis=lead)]) if gru_after \
                    else gb
        else:
            grads[rk.path] = rec.back_k(hs, gxp).astype(rk.dtype)
            if bias is not None:
                grads[cell.bias.path] = gxp.sum(axis=lead)
        gx = inp.back_a(gxp, xt.shape)
        if flags.go_backwards:
            gx = gx[::-1]
        gx = np.swapaxes(gx, 0, 1)
        if cf:
            gx = np.moveaxis(gx, -1, 2)
            gs = [np.moveaxis(s, -1, 1) for s in gs]
        return gx, grads, gs

    out_last, final = prev, states
    seq = None if outs is None else np.swapaxes(outs, 0, 1)
    if cf:
        out_last = np.moveaxis(out_last, -1, 1)
        seq = None if seq is None else np.moveaxis(seq, -1, 2)
        final = [np.moveaxis(s, -1, 1) for s in final]
    return (out_last if seq is None else seq), final, backward
