"""Convolutional LSTMs: ConvLSTM1D, ConvLSTM2D, ConvLSTM3D and their (private) cells.

An LSTM whose input and recurrent products are convolutions (the conv package's im2col
kernel, TensorFlow's padding): kernel ``(*kernel_size, in, 4f)``, recurrent kernel
``(*kernel_size, f, 4f)`` ('same' padding, stride 1), gates i, f, c, o.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...fields import KERAS2, REQUIRED, DataFormat, Field, Int, IntTuple
from ..base import InputSpec
from ..conv import conv_nd, conv_output_length, conv_paddings, padding_field
from .cells import BaseCell
from .common import (
    ACTIVATION,
    DROPOUT,
    REC_ACTIVATION,
    REC_DROPOUT,
    RNN_FLAGS,
    SEED_K3,
    UNIT_FORGET_BIAS,
    USE_BIAS,
    Array,
    dropout_masks,
    fast_activation,
    initializer_fields,
    regularizer_fields,
)
from .recurrent import OwnCellRNN


def _convolve(x: Array, w: Array, strides: Sequence[int], dilation: Sequence[int],
              padding: str) -> Array:
    """``conv_nd`` of channels-last ``x (N, *sp, C)`` with ``w (*k, C, F)`` and TensorFlow's
    'same'/'valid' padding -> a contiguous ``(N, *out, F)``."""
    pads = conv_paddings(x.shape[1:-1], w.shape[:-2], strides, dilation, padding)
    return np.ascontiguousarray(conv_nd(x, w, strides, dilation, pads))


class _ConvLSTMCell(BaseCell):
    """One ConvLSTM step (channels-last inside); not a public Keras class."""

    abstract = True
    n_gates = 4
    rank = 2

    def _post_init(self):
        super()._post_init()
        self._act = fast_activation(self.activation)
        self._ract = fast_activation(self.recurrent_activation)

    @property
    def units(self):
        return self.filters

    @property
    def state_size(self):
        return [self.filters, self.filters]

    def _n_states(self):
        return 2

    def _mask_count(self):
        return 4

    def _cl(self, step_shape: tuple) -> tuple:
        """Step shape in channels-last order."""
        if self.data_format == "channels_first":
            return tuple(step_shape[1:]) + (step_shape[0],)
        return tuple(step_shape)

    def _out_cl(self, step_shape: tuple) -> tuple:
        sp = self._cl(step_shape)[:-1]
        outs = tuple(conv_output_length(n, k, s, d, self.padding)
                     for n, k, s, d in zip(sp, self.kernel_size, self.strides,
                                           self.dilation_rate))
        return outs + (self.filters,)

    def state_shapes(self, step_shape):
        o = self._out_cl(step_shape)
        return [o, o]

    def output_step_shape(self, step_shape):
        o = self._out_cl(step_shape)
        if self.data_format == "channels_first":
            return (o[-1],) + o[:-1]
        return o

    def export_state_shapes(self, step_shape):
        return [self.output_step_shape(step_shape)] * 2

    def export_state(self, state):
        return np.moveaxis(state, -1, 1) if self.data_format == "channels_first" else state

    def import_state(self, state):
        return np.moveaxis(state, 1, -1) if self.data_format == "channels_first" else state

    def _begin(self, batch, step_shape, training, seq=None):  # no fused path: seq unused
        self._dp = self._rdp = None
        if not training:
            return
        dt = self.compute_dtype
        self._dp = dropout_masks(self._rng, self.dropout, (batch,) + self._cl(step_shape), 4,
                                  dt)
        self._rdp = dropout_masks(self._rng, self.recurrent_dropout,
                                   (batch,) + self._out_cl(step_shape), 4, dt)

    def build(self, input_shape):
        cl = self._cl(tuple(input_shape[1:]))
        if any(d is None for d in cl):
            raise ValueError(f"{type(self).__name__}: ConvLSTM needs static spatial and channel "
                             f"dimensions, got input shape {input_shape}")
        f, k = self.filters, tuple(self.kernel_size)
        self._add_weights(k + (cl[-1], 4 * f), k + (f, 4 * f), (4 * f,))

    def _project(self, x):
        t, b = x.shape[:2]
        if self.data_format == "channels_first":
            x = np.moveaxis(x, 2, -1)
        flat = x.reshape((t * b,) + x.shape[2:])
        k = self.kernel.value
        if self._dp is None:
            y = _convolve(flat, k, self.strides, self.dilation_rate, self.padding)
        else:
            f = self.filters
            y = np.concatenate([
                _convolve(flat * np.tile(m, (t,) + (1,) * (m.ndim - 1)),
                          k[..., g * f:(g + 1) * f], self.strides, self.dilation_rate,
                          self.padding) for g, m in enumerate(self._dp)], axis=-1)
        if self.bias is not None:
            y += self.bias.value
        return y.reshape((t, b) + y.shape[1:])

    def _rec(self, h: Array) -> Array:
        rk = self.recurrent_kernel.value
        ones = (1,) * self.rank
        if self._rdp is None:
            return _convolve(h, rk, ones, ones, "same")
        f = self.filters
        return np.concatenate([_convolve(h * m, rk[..., g * f:(g + 1) * f], ones, ones, "same")
                               for g, m in enumerate(self._rdp)], axis=-1)

    def _step(self, xp, states):
        h, c = states
        f = self.filters
        z = xp + self._rec(h)
        s = self._ract(z)
        g = self._act(z[..., 2 * f:3 * f])
        c = s[..., f:2 * f] * c + s[..., :f] * g
        h = s[..., 3 * f:] * self._act(c)
        out = np.moveaxis(h, -1, 1) if self.data_format == "channels_first" else h
        return out, [h, c]


def _conv_lstm_fields(rank: int) -> tuple[Field, ...]:
    return (
        *RNN_FLAGS,
        Int("filters", REQUIRED, "Number of output channels.", min=1),
        IntTuple("kernel_size", REQUIRED, "Size of the convolution window.", length=rank,
                 min=1),
        IntTuple("strides", (1,) * rank, "Strides of the input convolution.", length=rank,
                 min=1),
        padding_field(),
        DataFormat(),
        IntTuple("dilation_rate", (1,) * rank, "Dilation of the input convolution.",
                 length=rank, min=1),
        ACTIVATION, REC_ACTIVATION, USE_BIAS, *initializer_fields(), UNIT_FORGET_BIAS,
        *regularizer_fields(True), DROPOUT, REC_DROPOUT, SEED_K3,
    )


class _ConvLSTM(OwnCellRNN):
    abstract = True
    rank = 2

    def __init__(self, *args, **kwargs):
        if kwargs.get("_source_format") == KERAS2 and "recurrent_activation" not in kwargs \
                and len(args) < 2:
            kwargs["recurrent_activation"] = "hard_sigmoid"  # tf_keras's default
        super().__init__(*args, **kwargs)

    def _post_init(self):
        if any(s != 1 for s in self.strides) and any(d != 1 for d in self.dilation_rate):
            raise self.config_error("dilation_rate", f"strides > 1 cannot be combined with "
                                    f"dilation_rate > 1; got strides={list(self.strides)} "
                                    f"and dilation_rate={list(self.dilation_rate)}")
        super()._post_init()

    def _cell_scalar_args(self):
        v = self._values
        return {"filters": v["filters"], "kernel_size": v["kernel_size"]}

    def build(self, input_shape):
        if len(input_shape) != self.rank + 3:
            raise ValueError(f"{type(self).__name__} {self.name!r} expects inputs of rank "
                             f"{self.rank + 3}, got shape {input_shape}")
        super().build(input_shape)
        self.input_spec = InputSpec(ndim=self.rank + 3)


def _conv_cell_class(rank: int) -> type[_ConvLSTMCell]:
    return type(f"_ConvLSTMCell{rank}D", (_ConvLSTMCell,), {
        "abstract": True, "rank": rank, "fields": _conv_lstm_fields(rank),
        "__doc__": f"One ConvLSTM{rank}D step."})


class ConvLSTM1D(_ConvLSTM):
    """1-D convolutional LSTM. Input shape: ``(batch, time, steps, channels)``
    (channels_last). Output shape: ``(batch, new_steps, filters)`` or with time.
    Weights (in ``conv_lstm1d/conv_lstm_cell``): ``kernel (k, in, 4f)``,
    ``recurrent_kernel (k, f, 4f)``, ``bias (4f,)``."""

    rank = 1
    cell_class = _conv_cell_class(1)
    cell_name = "conv_lstm_cell"
    fields = _conv_lstm_fields(1)


class ConvLSTM2D(_ConvLSTM):
    """2-D convolutional LSTM. Input shape: ``(batch, time, rows, cols, channels)``
    (channels_last). Output shape: ``(batch, new_rows, new_cols, filters)`` or with time.
    Weights (in ``conv_lstm2d/conv_lstm_cell``): ``kernel (kh, kw, in, 4f)``,
    ``recurrent_kernel (kh, kw, f, 4f)``, ``bias (4f,)``."""

    rank = 2
    cell_class = _conv_cell_class(2)
    cell_name = "conv_lstm_cell"
    fields = _conv_lstm_fields(2)


class ConvLSTM3D(_ConvLSTM):
    """3-D convolutional LSTM. Input shape: ``(batch, time, d1, d2, d3, channels)``
    (channels_last). Output shape: ``(batch, o1, o2, o3, filters)`` or with time.
    Weights (in ``conv_lstm3d/conv_lstm_cell``): ``kernel (k1, k2, k3, in, 4f)``,
    ``recurrent_kernel (k1, k2, k3, f, 4f)``, ``bias (4f,)``."""

    rank = 3
    cell_class = _conv_cell_class(3)
    cell_name = "conv_lstm_cell"
    fields = _conv_lstm_fields(3)
