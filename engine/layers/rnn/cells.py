"""Recurrent cells, one time step each: SimpleRNNCell, LSTMCell, GRUCell and
StackedRNNCells (several cells per step), on the shared :class:`BaseCell`.

Weight layouts (Keras's): LSTM kernel ``(in, 4u)`` gates i, f, c, o; GRU kernel
``(in, 3u)`` gates z, r, h, bias ``(2, 3u)`` with ``reset_after`` (input row, recurrent
row) else ``(3u,)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import ConfigError, describe
from ...fields import KERAS2, KERAS3, REQUIRED, Bool, Field
from ...serialization import get_object, serialize
from ..base import Layer
from .common import (
    ACTIVATION,
    DROPOUT,
    IMPLEMENTATION,
    REC_ACTIVATION,
    REC_DROPOUT,
    SEED_K3,
    UNIT_FORGET_BIAS,
    USE_BIAS,
    Array,
    ForgetBiasInit,
    dropout_masks,
    fast_activation,
    initializer_fields,
    regularizer_fields,
    units_field,
)


class BaseCell(Layer):
    """Base of the built-in cells: ``_begin`` draws the dropout masks of one call,
    ``_project`` computes the input part of every step at once (time-major), ``_step``
    does one recurrent step."""

    abstract = True
    n_gates = 1

    def _post_init(self) -> None:
        self._dp: list[Array] | None = None
        self._rdp: list[Array] | None = None

    # Keras's cell API
    @property
    def state_size(self) -> list[int]:
        return [self.units] * self._n_states()

    @property
    def output_size(self) -> int:
        return self.units

    def _n_states(self) -> int:
        return 1

    def state_shapes(self, step_shape: tuple) -> list[tuple]:
        """Per-sample shapes of the states for a step input of ``step_shape`` (no batch)."""
        return [(self.units,)] * self._n_states()

    def output_step_shape(self, step_shape: tuple) -> tuple:
        return (self.units,)

    def get_initial_state(self, batch_size: int, step_shape: tuple = ()) -> list[Array]:
        return [np.zeros((batch_size,) + s, dtype=self.compute_dtype)
                for s in self.state_shapes(step_shape)]

    def _mask_count(self) -> int:
        """Dropout masks per call: one per gate with Keras's ``implementation=1`` (Keras 3
        and tf_keras switch to it for recurrent dropout; tf_keras also when the config says
        1), else one for every gate."""
        if self.n_gates == 1:
            return 1
        if self._values.get("recurrent_dropout"):
            return self.n_gates
        if self.source_format == KERAS2 and self._values.get("implementation") == 1:
            return self.n_gates
        return 1

    def _begin(self, batch: int, step_shape: tuple, training: bool,
               seq: tuple[int, bool, bool] | None = None) -> None:
        """Draw the call's masks. ``seq = (steps, go_backwards, time_major)``: tf_keras's
        fused LSTM/GRU path (see ``OwnCellRNN._step_dropout``) draws one input mask over
        the whole input, ``(batch, time, ...)`` (``(time, batch, ...)`` time-major): a
        fresh mask at every step, kept time-major here, in processing order."""
        self._dp = self._rdp = None
        if not training:
            return
        n = self._mask_count()
        dt = self.compute_dtype
        if seq is not None:
            steps, backwards, time_major = seq
            lead = (steps, batch) if time_major else (batch, steps)
            m = dropout_masks(self._rng, self.dropout, lead + tuple(step_shape), 1, dt)
            if m is not None:
                a = m[0] if time_major else np.swapaxes(m[0], 0, 1)
                self._dp = [np.ascontiguousarray(a[::-1] if backwards else a)]
        else:
            self._dp = dropout_masks(self._rng, self.dropout, (batch,) + tuple(step_shape), n,
                                     dt)
        st = self.state_shapes(step_shape)[0]
        self._rdp = dropout_masks(self._rng, self.recurrent_dropout, (batch,) + tuple(st), n,
                                   dt)

    def _end(self) -> None:
        self._dp = self._rdp = None

    def _project(self, x: Array) -> Array:
        raise NotImplementedError

    def _step(self, xp: Array, states: list[Array]) -> tuple[Array, list[Array]]:
        raise NotImplementedError

    def __call__(self, inputs, states=None, training=False, **kwargs):
        # states go by keyword so that the base class does not stack them into one array
        return super().__call__(inputs, training=training, states=states, **kwargs)

    def export_state_shapes(self, step_shape: tuple) -> list[tuple]:
        """State shapes as returned to the caller (``return_state``)."""
        return self.state_shapes(step_shape)

    def export_state(self, state: Array) -> Array:
        return state

    def import_state(self, state: Array) -> Array:
        """A state given by the caller (``initial_state``), as the loop keeps it."""
        return state

    def nest_states(self, flat: list[Any]) -> list[Any]:
        """Final states as an RNN returns them: flat for one cell."""
        return list(flat)

    def call(self, inputs, states=None, training=False):
        """One step, as Keras's ``cell(inputs, states)``: returns ``(output, new_states)``."""
        x = np.asarray(inputs)
        step_shape = tuple(x.shape[1:])
        if states is None:
            states = self.get_initial_state(x.shape[0], step_shape)
        single = not isinstance(states, (list, tuple))
        states = [np.asarray(s, dtype=self.compute_dtype) for s in (
            [states] if single else states)]
        self._begin(x.shape[0], step_shape, training)
        try:
            out, new = self._step(self._project(x[None])[0], states)
        finally:
            self._end()
        if single and len(new) == 1:  # Keras returns a bare state for a bare state
            return out, new[0]
        return out, new

    def _auto_build(self, x, args, kwargs):
        self.build(tuple(x.shape))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.output_step_shape(tuple(input_shape[1:]))

    # shared pieces for the dense cells
    def _input_proj(self, x: Array, kernel: Array, bias: Array | None) -> Array:
        """``x (T, B, in) @ kernel`` with per-gate input dropout masks when training."""
        t, b = x.shape[:2]
        flat = x.reshape(t * b, x.shape[-1])
        if self._dp is None:
            y = flat @ kernel
        elif len(self._dp) == 1:
            y = (x * self._dp[0]).reshape(t * b, -1) @ kernel
        else:
            u = kernel.shape[1] // len(self._dp)
            y = np.concatenate([(x * m).reshape(t * b, -1) @ kernel[:, g * u:(g + 1) * u]
                                for g, m in enumerate(self._dp)], axis=-1)
        if bias is not None:
            y += bias
        return y.reshape(t, b, -1)

    def _rec_proj(self, h: Array, kernel: Array, gates: Sequence[int] | None = None) -> Array:
        """``h @ kernel`` over the given gates, with recurrent dropout masks in training."""
        u = self.units
        gates = range(kernel.shape[1] // u) if gates is None else gates
        if self._rdp is None:
            if len(gates) * u == kernel.shape[1]:
                return h @ kernel
            g0, g1 = gates[0], gates[-1] + 1
            return h @ kernel[:, g0 * u:g1 * u]
        if len(self._rdp) == 1:
            return self._rec_proj_plain(h * self._rdp[0], kernel, gates)
        return np.concatenate([(h * self._rdp[g]) @ kernel[:, g * u:(g + 1) * u]
                               for g in gates], axis=-1)

    def _rec_proj_plain(self, h: Array, kernel: Array, gates: Sequence[int]) -> Array:
        u = self.units
        g0, g1 = gates[0], gates[-1] + 1
        return h @ kernel[:, g0 * u:g1 * u]

    def _add_weights(self, kernel_shape: tuple, recurrent_shape: tuple,
                     bias_shape: tuple) -> None:
        """``kernel``, ``recurrent_kernel`` and ``bias``, in Keras's order (so seeded
        initializers draw the same numbers); with LSTM's ``unit_forget_bias`` the forget-gate
        slice of the bias starts at ones."""
        self.kernel = self.add_weight("kernel", kernel_shape, self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint,
                                      field="kernel_initializer")
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", recurrent_shape, self.recurrent_initializer,
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint,
            field="recurrent_initializer")
        if not (self.use_bias and self._values.get("unit_forget_bias")):
            self.bias = self.add_bias(bias_shape)
            return
        self.bias = self.add_weight("bias", bias_shape,
                                    ForgetBiasInit(self.bias_initializer, self.units),
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint, field="bias_initializer")

    def _add_dense_weights(self, in_dim: int, n_gates: int, bias_shape: tuple) -> None:
        u = self.units
        self._add_weights((in_dim, n_gates * u), (u, n_gates * u), bias_shape)

    def _in_dim(self, input_shape) -> int:
        d = input_shape[-1]
        if d is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the last dimension of the "
                             f"input must be known, got shape {input_shape}")
        return int(d)


class SimpleRNNCell(BaseCell):
    """One step of a fully connected RNN: ``h = activation(x @ kernel + h @ U + bias)``.

    Input shape: ``(batch, input_dim)`` and states ``[(batch, units)]``.
    Output shape: ``(batch, units)``.
    Weights: ``kernel (input_dim, units)``, ``recurrent_kernel (units, units)``,
    ``bias (units,)``.
    """

    fields = (units_field(), ACTIVATION, USE_BIAS, *initializer_fields(),
              *regularizer_fields(False), DROPOUT, REC_DROPOUT, SEED_K3)

    def _post_init(self):
        super()._post_init()
        self._act = fast_activation(self.activation)

    def build(self, input_shape):
        self._add_dense_weights(self._in_dim(input_shape), 1, (self.units,))

    def _project(self, x):
        return self._input_proj(x, self.kernel.value,
                                None if self.bias is None else self.bias.value)

    def _step(self, xp, states):
        h = self._act(xp + self._rec_proj(states[0], self.recurrent_kernel.value))
        return h, [h]


class LSTMCell(BaseCell):
    """One LSTM step; gate order i, f, c, o.

    Input shape: ``(batch, input_dim)``, states ``[h, c]`` each ``(batch, units)``.
    Output shape: ``(batch, units)``.
    Weights: ``kernel (input_dim, 4u)``, ``recurrent_kernel (u, 4u)``, ``bias (4u,)``.
    """

    n_gates = 4
    fields = (units_field(), ACTIVATION, REC_ACTIVATION, USE_BIAS, UNIT_FORGET_BIAS,
              *initializer_fields(), *regularizer_fields(False), DROPOUT, REC_DROPOUT, SEED_K3,
              IMPLEMENTATION)
    keras2_order = ("name", "trainable", "dtype", "units", "activation",
                    "recurrent_activation", "use_bias", "kernel_initializer",
                    "recurrent_initializer", "bias_initializer", "unit_forget_bias")

    def _post_init(self):
        super()._post_init()
        self._act = fast_activation(self.activation)
        self._ract = fast_activation(self.recurrent_activation)

    def _n_states(self):
        return 2

    def build(self, input_shape):
        self._add_dense_weights(self._in_dim(input_shape), 4, (4 * self.units,))

    def _project(self, x):
        return self._input_proj(x, self.kernel.value,
                                None if self.bias is None else self.bias.value)

    def _step(self, xp, states):
        h, c = states
        u = self.units
        z = xp + self._rec_proj(h, self.recurrent_kernel.value)
        s = self._ract(z)
        g = self._act(z[:, 2 * u:3 * u])
        c = s[:, u:2 * u] * c + s[:, :u] * g
        h = s[:, 3 * u:] * self._act(c)
        return h, [h, c]


class GRUCell(BaseCell):
    """One GRU step; gate order z, r, h. ``h = z * h_prev + (1 - z) * h_candidate``.

    ``reset_after=True`` (default): ``candidate = act(x_h + r * (h_prev @ U_h + b_rh))`` with
    a bias of shape ``(2, 3u)`` (input row, recurrent row); ``False``:
    ``candidate = act(x_h + (r * h_prev) @ U_h)`` with a bias ``(3u,)``.

    Input shape: ``(batch, input_dim)``. Output shape: ``(batch, units)``.
    """

    n_gates = 3
    fields = (units_field(), ACTIVATION, REC_ACTIVATION, USE_BIAS, *initializer_fields(),
              *regularizer_fields(False), DROPOUT, REC_DROPOUT, IMPLEMENTATION,
              Bool("reset_after", True, "Apply the reset gate after the recurrent product "
                   "(the cuDNN-compatible form)."),
              SEED_K3)

    def _post_init(self):
        super()._post_init()
        self._act = fast_activation(self.activation)
        self._ract = fast_activation(self.recurrent_activation)

    def build(self, input_shape):
        shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        self._add_dense_weights(self._in_dim(input_shape), 3, shape)

    def _biases(self) -> tuple[Array | None, Array | None]:
        if self.bias is None:
            return None, None
        b = self.bias.value
        return (b[0], b[1]) if self.reset_after else (b, None)

    def _project(self, x):
        return self._input_proj(x, self.kernel.value, self._biases()[0])

    def _step(self, xp, states):
        h = states[0]
        u = self.units
        rk = self.recurrent_kernel.value
        rb = self._biases()[1]
        if self.reset_after:
            inner = self._rec_proj(h, rk)
            if rb is not None:
                inner = inner + rb
            zr = self._ract(xp[:, :2 * u] + inner[:, :2 * u])
            z, r = zr[:, :u], zr[:, u:]
            hh = self._act(xp[:, 2 * u:] + r * inner[:, 2 * u:])
        else:
            inner = self._rec_proj(h, rk, (0, 1))
            zr = self._ract(xp[:, :2 * u] + inner)
            z, r = zr[:, :u], zr[:, u:]
            hprev = h if self._rdp is None else h * self._rdp[-1]
            hh = self._act(xp[:, 2 * u:] + (r * hprev) @ rk[:, 2 * u:])
        h = z * h + (1.0 - z) * hh
        return h, [h]


class LayerList(Field):
    """A list of nested cell configs (StackedRNNCells.cells), read in the format of the
    config that holds them."""

    kind = "layer_list"
    takes_format = True

    def expected(self) -> str:
        return "a list of cell configs"

    def validate(self, value: Any, path: str, fmt: str = KERAS3) -> list[BaseCell]:
        if not isinstance(value, (list, tuple)) or not value:
            raise ConfigError(path, f"expected a non-empty list of cell configs, got "
                              f"{describe(value)}")
        return [as_cell(get_object("layer", v, f"{path}[{i}]", fmt), f"{path}[{i}]")
                for i, v in enumerate(value)]

    def to_config(self, value, fmt):
        return [serialize(v, format=fmt) for v in value]


def as_cell(obj: Any, path: str) -> BaseCell:
    if not isinstance(obj, BaseCell):
        raise ConfigError(path, f"expected an RNN cell (SimpleRNNCell, LSTMCell, GRUCell, "
                          f"StackedRNNCells), got {type(obj).__name__}")
    return obj


class StackedRNNCells(BaseCell):
    """Several cells run one after the other at each step (the output of one is the input
    of the next). States: the flat list of every cell's states, in order.

    Input shape: ``(batch, input_dim)``. Output shape: ``(batch, last cell's units)``.
    """

    fields = (LayerList("cells", REQUIRED, "The cells, first to last."),)

    def _post_init(self):
        super()._post_init()
        self._sublayers = list(self.cells)

    @property
    def units(self) -> int:
        return self.cells[-1].output_size

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return self.cells[-1].output_size

    def _n_states(self):
        return sum(c._n_states() for c in self.cells)

    def _shapes_chain(self, step_shape):
        out, shapes = tuple(step_shape), []
        for c in self.cells:
            shapes.append(out)
            out = c.output_step_shape(out)
        return shapes

    def state_shapes(self, step_shape):
        out = []
        for c, s in zip(self.cells, self._shapes_chain(step_shape)):
            out.extend(c.state_shapes(s))
        return out

    def nest_states(self, flat: list[Any]) -> list[Any]:
        """Keras returns the final states of stacked cells grouped per cell:
        ``[[h1, c1], [h2]]`` for an LSTMCell then a GRUCell."""
        out, i = [], 0
        for c in self.cells:
            n = c._n_states()
            out.append(list(flat[i:i + n]))
            i += n
        return out

    def output_step_shape(self, step_shape):
        return self.cells[-1].output_step_shape(self._shapes_chain(step_shape)[-1])

    def build(self, input_shape):
        shape = tuple(input_shape)
        for c in self.cells:
            if not c.built:
                c.build(shape)
            shape = (shape[0],) + c.output_step_shape(tuple(shape[1:]))

    def _begin(self, batch, step_shape, training, seq=None):  # RNN(cells): seq is None
        for c, s in zip(self.cells, self._shapes_chain(step_shape)):
            c._begin(batch, s, training)

    def _end(self):
        for c in self.cells:
            c._end()

    def _project(self, x):
        return self.cells[0]._project(x)

    def _step(self, xp, states):
        new: list[Array] = []
        i = 0
        out = None
        for k, c in enumerate(self.cells):
            n = c._n_states()
            if k > 0:
                xp = c._project(out[None])[0]
            out, s = c._step(xp, states[i:i + n])
            new.extend(s)
            i += n
        return out, new
