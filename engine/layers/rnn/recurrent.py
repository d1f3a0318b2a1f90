"""Recurrent layers that run a cell over the time axis: RNN (any cell, or a list of cells),
SimpleRNN, LSTM and GRU (the cell's settings in the layer's own config).

Every recurrence works time-major inside: the input projection of all time steps is one
matrix product (or one im2col product for ConvLSTM), and the loop over time does only the
recurrent product and the gate arithmetic. Masked steps carry the state over and repeat the
previous output (zeros when ``zero_output_for_mask``), as Keras's ``backend.rnn`` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import activations as _acts
from ...fields import KERAS2, KERAS3, REQUIRED, Bool, Object, Seed
from ..base import Layer
from .cells import BaseCell, GRUCell, LayerList, LSTMCell, SimpleRNNCell, StackedRNNCells, as_cell
from .common import (
    ACTIVATION,
    DROPOUT,
    IMPLEMENTATION,
    REC_ACTIVATION,
    REC_DROPOUT,
    RNN_FLAGS,
    SEED_K3,
    UNIT_FORGET_BIAS,
    USE_BIAS,
    Array,
    check_stateful,
    initializer_fields,
    regularizer_fields,
    units_field,
)


def run_recurrence(cell: BaseCell, x: Array, states: list[Array], mask: Array | None, *,
                   go_backwards: bool, zero_output_for_mask: bool, return_sequences: bool,
                   training: bool, seq_dropout: tuple[int, bool, bool] | None = None
                   ) -> tuple[Array, Array | None, list[Array]]:
    """Run ``cell`` over ``x`` (batch-major ``(B, T, ...)``). ``seq_dropout``: see
    ``BaseCell._begin``.

    Returns ``(last_output, outputs (B, T, ...) or None, final_states)``.
    """
    b, t = x.shape[:2]
    xt = np.swapaxes(x, 0, 1)
    mt = None if mask is None else np.swapaxes(mask, 0, 1)
    if go_backwards:
        xt = xt[::-1]
        mt = None if mt is None else mt[::-1]
    step_shape = tuple(x.shape[2:])
    cell._begin(b, step_shape, training, seq_dropout)
    try:
        xp = cell._project(np.ascontiguousarray(xt))
        out_shape = (b,) + cell.output_step_shape(step_shape)
        prev = np.zeros(out_shape, dtype=x.dtype)
        zero = np.zeros((), dtype=x.dtype)
        outs = np.empty((t,) + out_shape, dtype=x.dtype) if return_sequences else None
        for i in range(t):
            out, new = cell._step(xp[i], states)
            if mt is not None:
                m = mt[i].reshape((b,) + (1,) * (out.ndim - 1))
                new = [np.where(m.reshape((b,) + (1,) * (n.ndim - 1)), n, s)
                       for n, s in zip(new, states)]
                out = np.where(m, out, zero if zero_output_for_mask else prev)
            states = new
            prev = out
            if outs is not None:
                outs[i] = out
    finally:
        cell._end()
    seq = None if outs is None else np.swapaxes(outs, 0, 1)
    return prev, seq, states


def first_shape(shape: Any) -> Any:
    """The sequence's shape from a list ``[x_shape, *state_shapes]`` (tf_keras's call on
    ``[x, *states]``), or ``shape`` itself."""
    if isinstance(shape, list) and shape and isinstance(shape[0], (list, tuple)):
        return shape[0]
    return shape


def split_states(inputs: Any, initial_state: Any) -> tuple[Any, Any]:
    """tf_keras's RNNs take ``[x, *initial_states]`` as their inputs (its configs call
    them so): ``(x, states)``."""
    if isinstance(inputs, (list, tuple)):
        if len(inputs) > 1 and initial_state is None:
            return inputs[0], list(inputs[1:])
        return inputs[0], initial_state
    return inputs, initial_state


def time_major_mask(mask: Any) -> Any:
    """A time-major layer's mask ``(time, batch)`` as ``(batch, time)``."""
    if isinstance(mask, (list, tuple)):
        mask = mask[0] if mask else None
    return None if mask is None else np.swapaxes(np.asarray(mask), 0, 1)


def _norm_mask(mask: Any, x: Array, who: str) -> Array | None:
    if mask is None:
        return None
    if isinstance(mask, (list, tuple)):
        mask = mask[0] if mask else None
        if mask is None:
            return None
    m = np.asarray(mask).astype(bool)
    if m.ndim > 2:
        m = m.reshape(m.shape[:2] + (-1,)).any(-1)
    if m.shape != x.shape[:2]:
        raise ValueError(f"{who}: the mask must have shape {x.shape[:2]} (batch, time), got "
                         f"{m.shape}")
    return m


class BaseRNN(Layer):
    """The RNN driver shared by RNN, SimpleRNN, LSTM, GRU and ConvLSTM*D."""

    abstract = True
    supports_masking = True
    cell: BaseCell

    def _tolerate_key(self, key, value):
        return key == "use_cudnn" or super()._tolerate_key(key, value)

    def _post_init(self):
        check_stateful(self)

    @property
    def state_size(self):
        return self.cell.state_size

    def _time_major(self) -> bool:
        return bool(self._values.get("time_major"))

    def _step_dropout(self) -> bool:
        """Whether the input dropout mask is fresh at every step (tf_keras's fused LSTM
        and GRU) rather than one for every step (Keras 3, and tf_keras's cells)."""
        return False

    def _seq_dropout(self, steps: int) -> tuple[int, bool, bool] | None:
        """``BaseCell._begin``'s ``seq`` for a call on ``steps`` steps, or None."""
        if not self._step_dropout():
            return None
        return steps, bool(self.go_backwards), self._time_major()

    def _step_shape(self, input_shape) -> tuple:
        return tuple(input_shape[2:])

    def build(self, input_shape, initial_state_shape=None):
        # Keras 3 builds with (sequences_shape, initial_state_shape); tf_keras's configs
        # call the layer on [x, *states] (and so give a list of shapes)
        input_shape = first_shape(input_shape)
        if len(input_shape) < 3:
            raise ValueError(f"{type(self).__name__} {self.name!r} expects inputs of rank >= 3 "
                             f"(batch, time, features), got shape {input_shape}")
        b = input_shape[1] if self._time_major() else input_shape[0]
        if not self.cell.built:
            self.cell.build((b,) + self._step_shape(input_shape))
        self.set_weight_paths()

    def call(self, inputs, initial_state=None, mask=None, training=False):
        inputs, initial_state = split_states(inputs, initial_state)
        x = inputs
        if self._time_major():  # tf_keras: the input and its mask are (time, batch, ...)
            x = np.swapaxes(x, 0, 1)
            mask = time_major_mask(mask)
        who = f"{type(self).__name__} {self.name!r}"
        m = _norm_mask(mask, x, who)
        step_shape = tuple(x.shape[2:])
        if initial_state is None:
            states = self.cell.get_initial_state(x.shape[0], step_shape)
        else:
            init = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
            want = self.cell.export_state_shapes(step_shape)  # as returned: channels_first
            if len(init) != len(want):
                raise ValueError(f"{who}: initial_state needs {len(want)} arrays, got "
                                 f"{len(init)}")
            states = [np.asarray(s, dtype=self.compute_dtype) for s in init]
            for s, w in zip(states, want):
                if s.shape != (x.shape[0],) + tuple(w):
                    raise ValueError(f"{who}: initial state of shape {s.shape}, expected "
                                     f"{(x.shape[0],) + tuple(w)}")
            states = [self.cell.import_state(s) for s in states]
        last, seq, states = run_recurrence(
            self.cell, x, states, m, go_backwards=self.go_backwards,
            zero_output_for_mask=bool(self._values.get("zero_output_for_mask")),
            return_sequences=self.return_sequences, training=training,
            seq_dropout=self._seq_dropout(x.shape[1]))
        out = last
        if self.return_sequences:
            out = np.swapaxes(seq, 0, 1) if self._time_major() else seq
        if self.return_state:
            return [out, *self.cell.nest_states([self.cell.export_state(s) for s in states])]
        return out

    def compute_output_shape(self, input_shape, initial_state_shape=None):
        shape = tuple(first_shape(input_shape))
        b, t = (shape[1], shape[0]) if self._time_major() else (shape[0], shape[1])
        step = self._step_shape(shape)
        o = self.cell.output_step_shape(step)
        if self.return_sequences:
            out = ((t, b) if self._time_major() else (b, t)) + tuple(o)
        else:
            out = (b,) + tuple(o)
        if self.return_state:
            return [out] + self.cell.nest_states(
                [(b,) + tuple(s) for s in self.cell.export_state_shapes(step)])
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + self.cell.nest_states([None] * self.cell._n_states())
        return out


class _CellField(Object):
    """``RNN.cell``: a cell config, or a list of them (wrapped in StackedRNNCells)."""

    def __init__(self):
        super().__init__("cell", REQUIRED, "The RNN cell (or a list of cells, stacked).",
                         object_kind="layer")

    def validate(self, value: Any, path: str, fmt: str = KERAS3) -> BaseCell:
        if isinstance(value, (list, tuple)):
            cells = LayerList("cells").validate(list(value), path, fmt)
            return StackedRNNCells(cells=cells, _config_path=path, _source_format=fmt)
        return as_cell(super().validate(value, path, fmt), path)


class RNN(BaseRNN):
    """Runs a cell over the time axis.

    Input shape: ``(batch, time, features)``. Output shape: ``(batch, units)``, or
    ``(batch, time, units)`` with ``return_sequences``; with ``return_state`` a list
    ``[output, *states]`` (the states of stacked cells are flattened).
    """

    fields = (*RNN_FLAGS, _CellField())

    def _post_init(self):
        super()._post_init()
        self._sublayers = [self.cell]


def _copy_values(cell: Layer, values: dict[str, Any]) -> Layer:
    """The layer's validated settings (dtype included) given to its own cell."""
    for f in cell.all_fields():
        if f.name in values and f.name not in ("name", "trainable"):
            cell._values[f.name] = values[f.name]
    cell._post_init()
    return cell


class OwnCellRNN(BaseRNN):
    """An RNN layer whose config holds the cell's settings (SimpleRNN, LSTM, GRU, ConvLSTM)."""

    abstract = True
    cell_class: type[BaseCell]
    cell_name: str

    def _post_init(self):
        super()._post_init()
        cell = self.cell_class(**self._cell_scalar_args(), name=self.cell_name,
                               trainable=self._values["trainable"],
                               _config_path=self._path, _source_format=self.source_format)
        self.cell = _copy_values(cell, self._values)
        self._sublayers = [self.cell]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        seed = self._values.get("seed")
        self.cell._rng = np.random.default_rng(seed if isinstance(seed, int) else None)

    def _cell_scalar_args(self) -> dict[str, Any]:
        return {"units": self._values["units"]}


class _FusedKeras2(OwnCellRNN):
    """tf_keras's LSTM and GRU layers run a fused kernel (the cuDNN-compatible one, on CPU
    too) when the activations are tanh/sigmoid, there is a bias, no recurrent dropout and
    no unrolling (GRU: also ``reset_after``); that path multiplies the whole input by
    one dropout mask drawn on its shape ``(batch, time, features)``: a fresh mask at
    every step (``tf_keras/src/layers/rnn/lstm.py``, ``LSTM.call``; ``gru.py``)."""

    abstract = True

    def _step_dropout(self) -> bool:
        v = self._values
        if self.source_format != KERAS2 or not 0.0 < v.get("dropout", 0.0) < 1.0 or \
                v.get("recurrent_dropout") or v.get("unroll") or not v.get("use_bias"):
            return False
        if isinstance(self, GRU) and not v.get("reset_after"):
            return False
        return _is(v.get("activation"), _acts.tanh) and \
            _is(v.get("recurrent_activation"), _acts.sigmoid)


def _is(act: Any, fn: Any) -> bool:
    return getattr(act, "fn", None) is fn and not getattr(act, "custom", True)


class SimpleRNN(OwnCellRNN):
    """Fully connected RNN: ``h_t = activation(x_t @ kernel + h_{t-1} @ U + bias)``.

    Input shape: ``(batch, time, features)``. Output shape: ``(batch, units)`` or
    ``(batch, time, units)``; ``return_state`` adds the final ``h``.
    Weights (in ``simple_rnn/simple_rnn_cell``): ``kernel``, ``recurrent_kernel``, ``bias``.
    """

    cell_class = SimpleRNNCell
    cell_name = "simple_rnn_cell"
    fields = (*RNN_FLAGS, units_field(), ACTIVATION, USE_BIAS, *initializer_fields(),
              *regularizer_fields(True), DROPOUT, REC_DROPOUT,
              Seed("seed", None, "Random seed for dropout (not written by Keras).",
                   formats=()))


class LSTM(_FusedKeras2):
    """Long Short-Term Memory (gate order i, f, c, o).

    Input shape: ``(batch, time, features)``. Output shape: ``(batch, units)`` or
    ``(batch, time, units)``; ``return_state`` adds ``[h, c]``.
    Weights (in ``lstm/lstm_cell``): ``kernel (in, 4u)``, ``recurrent_kernel (u, 4u)``,
    ``bias (4u,)``.
    """

    cell_class = LSTMCell
    cell_name = "lstm_cell"
    fields = (*RNN_FLAGS, units_field(), ACTIVATION, REC_ACTIVATION, USE_BIAS,
              *initializer_fields(), UNIT_FORGET_BIAS, *regularizer_fields(True), DROPOUT,
              REC_DROPOUT, SEED_K3, IMPLEMENTATION)


class GRU(_FusedKeras2):
    """Gated Recurrent Unit (gate order z, r, h; ``reset_after`` picks the bias layout).

    Input shape: ``(batch, time, features)``. Output shape: ``(batch, units)`` or
    ``(batch, time, units)``; ``return_state`` adds the final ``h``.
    Weights (in ``gru/gru_cell``): ``kernel (in, 3u)``, ``recurrent_kernel (u, 3u)``,
    ``bias (2, 3u)`` (reset_after) or ``(3u,)``.
    """

    cell_class = GRUCell
    cell_name = "gru_cell"
    fields = (*RNN_FLAGS, units_field(), ACTIVATION, REC_ACTIVATION, USE_BIAS,
              *initializer_fields(), *regularizer_fields(True), DROPOUT, REC_DROPOUT,
              IMPLEMENTATION,
              Bool("reset_after", True, "Apply the reset gate after the recurrent product."),
              SEED_K3)
