"""VJPs of the recurrent layers: SimpleRNN, LSTM, GRU (both GRU bias layouts), RNN over a
cell or a list of cells (StackedRNNCells), ConvLSTM1D/2D/3D, with masks, ``go_backwards``,
``return_sequences``, ``return_state`` and training-mode dropout (the cell's seeded masks);
Bidirectional over them, TimeDistributed over any layer with a VJP, and the cells called
on one step.

Backpropagation through time is ``rnn_loop.run``; a stack of cells is run as the cells one
after the other over the whole sequence (cell ``k`` reads cell ``k-1``'s outputs, in the
order they were computed), which is the same recurrence.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..layers.rnn import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    ConvLSTM1D,
    ConvLSTM2D,
    ConvLSTM3D,
    GRUCell,
    LSTMCell,
    SimpleRNN,
    SimpleRNNCell,
    StackedRNNCells,
    TimeDistributed,
)
from ..layers.rnn.wrappers import merge_directions
from .rnn_loop import Flags, kind_of, run
from .table import Call, cast_input, find, register


def _check(layer: Any, call: Call) -> None:
    cell = getattr(layer, "cell", layer)
    for c in (cell.cells if isinstance(cell, StackedRNNCells) else [cell]):
        kind_of(c, call.where)
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


def _cells(cell: Any, x: np.ndarray, mask: np.ndarray | None, init: list | None,
           flags: Flags, training: bool, where: str):
    """``run`` for one cell or a stack: ``(output, flat final states, backward(g_out,
    g_states) -> (gx, grads, g_initial_states))``."""
    if not isinstance(cell, StackedRNNCells):
        return run(cell, x, mask, init, flags, training, where)
    cells = cell.cells
    counts = [c._n_states() for c in cells]
    offsets = np.cumsum([0] + counts)
    backs, states = [], []
    h, m = x, mask
    for k, c in enumerate(cells):
        last = k == len(cells) - 1
        sub = Flags(flags.go_backwards if k == 0 else False,
                    flags.return_sequences if last else True, flags.zero_output_for_mask)
        init_k = None if init is None else init[offsets[k]:offsets[k + 1]]
        h, st, back = run(c, h, m, init_k, sub, training, f"{where}.cells[{k}]")
        if k == 0 and flags.go_backwards and m is not None:
            m = m[:, ::-1]  # the later cells read the outputs in processing order
        backs.append(back)
        states.extend(st)

    def backward(g_out, g_states):
        g = g_out
        grads: dict[str, np.ndarray] = {}
        g_init: list[Any] = []
        for k in range(len(backs) - 1, -1, -1):
            g, gk, gi = backs[k](g, list(g_states[offsets[k]:offsets[k + 1]]))
            grads.update(gk)
            g_init = list(gi) + g_init
        return g, grads, g_init
    return h, states, backward


def _run(layer: Any, x: np.ndarray, mask: np.ndarray | None, call: Call, where: str):
    return _cells(layer.cell, x, mask, None,
                  Flags(layer.go_backwards, layer.return_sequences,
                        bool(layer._values.get("zero_output_for_mask"))),
                  call.training, where)


@register(SimpleRNN, LSTM, GRU, RNN, ConvLSTM1D, ConvLSTM2D, ConvLSTM3D)
def recurrent(layer: Any, xs: list[np.ndarray], call: Call):
    _check(layer, call)
    x = cast_input(layer, xs[0])
    mask = _mask(layer, call.mask, x)
    out, states, back = _run(layer, x, mask, call, f"{call.where}.cell")
    n = len(states)

    def backward(g):
        if layer.return_state:
            gx, grads, _ = back(g[0], list(g[1:1 + n]))
        else:
            gx, grads, _ = back(g, [None] * n)
        return [gx], grads
    if layer.return_state:
        return [out, *layer.cell.nest_states(states)], backward
    return out, backward


@register(Bidirectional)
def bidirectional(layer: Bidirectional, xs: list[np.ndarray], call: Call):
    fl, bl = layer.forward_layer, layer.backward_layer
    for sub in (fl, bl):
        _check(sub, call)
    x = cast_input(layer, xs[0])
    mask = _mask(layer, call.mask, x)
    y, fs, fback = _run(fl, x, mask, call, f"{call.where}.forward_layer")
    yr, bs, bback = _run(bl, x, mask, call, f"{call.where}.backward_layer")
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


@register(SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells)
def cell_step(cell: Any, xs: list[np.ndarray], call: Call):
    """``cell(x, states) -> (output, new_states)``: one step of the recurrence (the inputs
    are ``[x, *states]``; the outputs ``[output, *new_states]``, the states flat)."""
    _check(cell, call)
    x = cast_input(cell, xs[0])
    n = cell._n_states()
    init = [cast_input(cell, s) for s in xs[1:1 + n]] or None
    out, states, back = _cells(cell, x[:, None], None, init, Flags(), call.training,
                               call.where)

    def backward(g):
        gl = g if isinstance(g, list) else [g]
        g_states = list(gl[1:1 + n]) + [None] * (n - len(gl[1:1 + n]))
        gx, grads, g_init = back(gl[0], g_states)
        return [gx[:, 0], *g_init[:len(xs) - 1]], grads
    return [out, *states], backward
