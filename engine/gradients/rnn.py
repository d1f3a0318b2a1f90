"""VJPs of the recurrent layers: SimpleRNN, LSTM, GRU (both GRU bias layouts), RNN over a
cell or a list of cells (StackedRNNCells), ConvLSTM1D/2D/3D, with masks, ``go_backwards``,
``return_sequences``, ``return_state``, ``time_major`` (tf_keras), initial states and
training-mode dropout (the cell's seeded masks); Bidirectional over them, TimeDistributed
over any layer with a VJP, and the cells called on one step.

Initial states are inputs: a layer's VJP takes ``[x, *states]`` (flat, as the cells keep
them; Bidirectional: the forward layer's, then the backward layer's) and returns their
gradients after the input's. ``engine.gradients`` passes ``call_kwargs={'initial_state':
...}`` that way, and models pass the tensors given as ``initial_state=`` (or a second
argument, or tf_keras's ``[x, *states]`` inputs).

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
from ..layers.rnn.recurrent import time_major_mask
from ..layers.rnn.wrappers import merge_directions
from .rnn_loop import Flags, kind_of, run
from .table import Call, cast_input, find, register


def _check(layer: Any, call: Call) -> None:
    cell = getattr(layer, "cell", layer)
    for c in (cell.cells if isinstance(cell, StackedRNNCells) else [cell]):
        kind_of(c, call.where)


def _states(layer: Any, xs: list[np.ndarray], n: int, where: str) -> list | None:
    """The initial states given after the input (``[x, *states]``), or None."""
    if len(xs) == 1:
        return None
    if len(xs) - 1 != n:
        raise ConfigError(where, f"layer {layer.name!r}: expected {n} initial state(s) "
                          f"after the input, got {len(xs) - 1}")
    return [cast_input(layer, s) for s in xs[1:]]


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


def _run(layer: Any, x: np.ndarray, mask: np.ndarray | None, call: Call, where: str,
         init: list | None = None):
    return _cells(layer.cell, x, mask, init,
                  Flags(layer.go_backwards, layer.return_sequences,
                        bool(layer._values.get("zero_output_for_mask")),
                        layer._seq_dropout(x.shape[1])),
                  call.training, where)


@register(SimpleRNN, LSTM, GRU, RNN, ConvLSTM1D, ConvLSTM2D, ConvLSTM3D)
def recurrent(layer: Any, xs: list[np.ndarray], call: Call):
    """``xs``: the input, then the initial states if any (flat, as the cell keeps them);
    ``time_major`` layers run on the input swapped to batch-major, as their call does."""
    _check(layer, call)
    x = cast_input(layer, xs[0])
    tm = layer._time_major()
    if tm:
        x = np.swapaxes(x, 0, 1)
    init = _states(layer, xs, layer.cell._n_states(), call.where)
    mask = _mask(layer, time_major_mask(call.mask) if tm else call.mask, x)
    out, states, back = _run(layer, x, mask, call, f"{call.where}.cell", init)
    n = len(states)
    seq = tm and layer.return_sequences

    def backward(g):
        go, gst = (g[0], list(g[1:1 + n])) if layer.return_state else (g, [None] * n)
        gx, grads, g_init = back(np.swapaxes(go, 0, 1) if seq else go, gst)
        gx = np.swapaxes(gx, 0, 1) if tm else gx
        return [gx, *(g_init if init is not None else [])], grads
    if seq:
        out = np.swapaxes(out, 0, 1)
    if layer.return_state:
        return [out, *layer.cell.nest_states(states)], backward
    return out, backward


@register(Bidirectional)
def bidirectional(layer: Bidirectional, xs: list[np.ndarray], call: Call):
    """``xs``: the input, then the initial states if any: the forward layer's, then the
    backward layer's. With ``return_state`` the states are grouped as the layer returns
    them (per cell for stacked cells); the cotangents come flat."""
    fl, bl = layer.forward_layer, layer.backward_layer
    for sub in (fl, bl):
        _check(sub, call)
    tm = fl._time_major()  # tf_keras: (time, batch, ...), run batch-major as the layers do
    x = cast_input(layer, xs[0])
    if tm:
        x = np.swapaxes(x, 0, 1)
    nf, nb = fl.cell._n_states(), bl.cell._n_states()
    init = _states(layer, xs, nf + nb, call.where)
    mask = _mask(layer, time_major_mask(call.mask) if tm else call.mask, x)
    y, fs, fback = _run(fl, x, mask, call, f"{call.where}.forward_layer",
                        None if init is None else init[:nf])
    yr, bs, bback = _run(bl, x, mask, call, f"{call.where}.backward_layer",
                         None if init is None else init[nf:])
    seq = layer.return_sequences
    if seq:
        yr = yr[:, ::-1]
    mode = layer.merge_mode
    out: Any = merge_directions(mode, y, yr)
    swap = tm and seq  # the outputs back to time-major, their cotangents to batch-major
    if swap:
        out = [np.swapaxes(o, 0, 1) for o in out] if isinstance(out, list) else \
            np.swapaxes(out, 0, 1)
    n = len(fs)
    states = fl.cell.nest_states(fs) + bl.cell.nest_states(bs) if layer.return_state else []
    outs = (out if isinstance(out, list) else [out]) + states

    def backward(g):
        gl = g if isinstance(g, list) else [g]
        k = 2 if mode is None else 1
        go, gst = gl[:k], gl[k:]
        if swap:
            go = [np.swapaxes(o, 0, 1) for o in go]
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
        gbs = list(gst[n:]) if gst else [None] * len(bs)
        gx1, g1, gi1 = fback(gy, gfs)
        gx2, g2, gi2 = bback(gyr, gbs)
        gx = gx1 + gx2
        return [np.swapaxes(gx, 0, 1) if tm else gx,
                *((list(gi1) + list(gi2)) if init is not None else [])], {**g1, **g2}
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
