"""Recurrent layers: SimpleRNN, LSTM, GRU, their cells, RNN, StackedRNNCells,
Bidirectional, TimeDistributed and ConvLSTM1D/2D/3D.

Every recurrence works time-major inside: the input projection of all time steps is one
matrix product (or one im2col product for ConvLSTM), and the loop over time does only the
recurrent product and the gate arithmetic. Masked steps carry the state over and repeat the
previous output (zeros when ``zero_output_for_mask``), as Keras's ``backend.rnn`` does.

Weight layouts (Keras's): LSTM kernel ``(in, 4u)`` gates i, f, c, o; GRU kernel
``(in, 3u)`` gates z, r, h, bias ``(2, 3u)`` with ``reset_after`` (input row, recurrent
row) else ``(3u,)``; ConvLSTM kernel ``(*kernel_size, in, 4f)``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import activations as _acts
from .. import registry
from ..errors import ConfigError, describe
from ..fields import (
    KERAS2,
    KERAS3,
    REQUIRED,
    Activation,
    Bool,
    Choice,
    Constraint,
    Field,
    Float,
    Initializer,
    Int,
    IntTuple,
    NestedLayer,
    Object,
    Regularizer,
    Seed,
)
from .base import InputSpec, Layer, activity_regularizer_field

Array = np.ndarray


# -- helpers -----------------------------------------------------------------------------


def _accept_layer_instance(value: Any, path: str, _name: Any = None) -> Any:
    if isinstance(value, Layer):
        return value
    raise ConfigError(path, f"expected a layer config dict or a Layer, got {describe(value)}")


registry.set_resolver("layer", _accept_layer_instance)


def set_weight_paths(layer: Layer, prefix: str = "") -> None:
    """Keras 3 weight paths: the chain of layer names, e.g. ``lstm/lstm_cell/kernel``."""
    base = f"{prefix}{layer.name}"
    for w in layer._weights:
        w.path = f"{base}/{w.name}"
    for sub in layer._sublayers:
        set_weight_paths(sub, base + "/")


def _sigmoid32(x: Array) -> Array:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _relu32(x: Array) -> Array:
    return np.maximum(x, 0)


def _identity(x: Array) -> Array:
    return x


def fast_activation(act: Any):
    """A float32-native version of the common activations (the loop's hot path)."""
    fn = getattr(act, "fn", None)
    if getattr(act, "custom", True) or fn is None:
        return act
    table = {id(_acts.tanh): np.tanh, id(_acts.sigmoid): _sigmoid32,
             id(_acts.linear): _identity, id(_acts.relu): _relu32}
    return table.get(id(fn), act)


class _ForgetBiasInit:
    """LSTM ``unit_forget_bias``: ``[init(u), ones(u), init(2u)]``."""

    def __init__(self, base: Any, units: int):
        self.base, self.units = base, units

    def __call__(self, shape, dtype="float32"):
        u = self.units
        return np.concatenate([np.asarray(self.base((u,), dtype=dtype)),
                               np.ones((u,), dtype=dtype),
                               np.asarray(self.base((2 * u,), dtype=dtype))]).astype(dtype)


def _dropout_masks(rng: np.random.Generator, rate: float, shape: tuple[int, ...], count: int,
                   dtype: str) -> list[Array] | None:
    if not 0.0 < rate < 1.0:
        return None
    return [((rng.random(shape) >= rate) / (1.0 - rate)).astype(dtype) for _ in range(count)]


def _check_stateful(layer: Layer) -> None:
    if layer._values.get("stateful"):
        raise layer.config_error(
            "stateful", "stateful=True is not supported: layerlab runs every call on its own "
            "and keeps no state between batches (a stateful RNN feeds its final state into the "
            "next call). Use stateful=False and pass initial_state= explicitly instead; got "
            "True")


# -- fields shared by the recurrent classes ------------------------------------------------

_DROPOUT = Float("dropout", 0.0, "Fraction of the inputs dropped in training.", min=0, max=1)
_REC_DROPOUT = Float("recurrent_dropout", 0.0, "Fraction of the recurrent state dropped in "
                     "training.", min=0, max=1)
_SEED_K3 = Seed("seed", None, "Random seed for dropout.", formats=(KERAS3,))
_IMPLEMENTATION = Int("implementation", 2, "Keras 2 only: 1 = per-gate products, 2 = fused "
                      "(same result).", choices=(1, 2), min=1, max=2, formats=(KERAS2,))


def _units() -> Field:
    return Int("units", REQUIRED, "Dimensionality of the output space (and of the state).",
               min=1)


def _inits() -> tuple[Field, ...]:
    return (
        Initializer("kernel_initializer", "glorot_uniform", "Initializer of the input kernel."),
        Initializer("recurrent_initializer", "orthogonal",
                    "Initializer of the recurrent kernel."),
        Initializer("bias_initializer", "zeros", "Initializer of the bias."),
    )


def _regs(activity: bool) -> tuple[Field, ...]:
    out = (Regularizer("kernel_regularizer", None, "Penalty on the kernel."),
           Regularizer("recurrent_regularizer", None, "Penalty on the recurrent kernel."),
           Regularizer("bias_regularizer", None, "Penalty on the bias."))
    if activity:
        out += (activity_regularizer_field(keras3_always=True),)
    return out + (
        Constraint("kernel_constraint", None, "Constraint on the kernel."),
        Constraint("recurrent_constraint", None, "Constraint on the recurrent kernel."),
        Constraint("bias_constraint", None, "Constraint on the bias."),
    )


_ACT = Activation("activation", "tanh", "Activation of the candidate/output (None = linear).")
_REC_ACT = Activation("recurrent_activation", "sigmoid", "Activation of the gates.")
_USE_BIAS = Bool("use_bias", True, "Whether to add a bias.")
_FORGET = Bool("unit_forget_bias", True, "Initialize the forget-gate bias to ones.")

_RNN_FLAGS: tuple[Field, ...] = (
    Bool("return_sequences", False, "Return the whole output sequence, not only the last."),
    Bool("return_state", False, "Also return the final states."),
    Bool("go_backwards", False, "Process the sequence backwards (outputs stay reversed)."),
    Bool("stateful", False, "Not supported: carry states across calls."),
    Bool("unroll", False, "Unroll the loop in Keras (same result here)."),
    Bool("time_major", False, "Keras 2 only: inputs are (time, batch, ...).",
         formats=(KERAS2,)),
    Bool("zero_output_for_mask", False, "Masked steps output zeros instead of repeating the "
         "previous output.", formats=(KERAS3,)),
)


# -- cells -------------------------------------------------------------------------------


class _Cell(Layer):
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
        return self.n_gates if self._values.get("recurrent_dropout") else 1

    def _begin(self, batch: int, step_shape: tuple, training: bool) -> None:
        self._dp = self._rdp = None
        if not training:
            return
        n = self._mask_count()
        dt = self.compute_dtype
        self._dp = _dropout_masks(self._rng, self.dropout, (batch,) + tuple(step_shape), n, dt)
        st = self.state_shapes(step_shape)[0]
        self._rdp = _dropout_masks(self._rng, self.recurrent_dropout, (batch,) + tuple(st), n,
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

    def _add_dense_weights(self, in_dim: int, n: int, bias_shape: tuple, bias_init: Any):
        u = self.units
        self.kernel = self.add_weight("kernel", (in_dim, n * u), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint,
                                      field="kernel_initializer")
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (u, n * u), self.recurrent_initializer,
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint,
            field="recurrent_initializer")
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", bias_shape, bias_init,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint,
                                        field="bias_initializer")

    def _in_dim(self, input_shape) -> int:
        d = input_shape[-1]
        if d is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the last dimension of the "
                             f"input must be known, got shape {input_shape}")
        return int(d)


class SimpleRNNCell(_Cell):
    """One step of a fully connected RNN: ``h = activation(x @ kernel + h @ U + bias)``.

    Input shape: ``(batch, input_dim)`` and states ``[(batch, units)]``.
    Output shape: ``(batch, units)``.
    Weights: ``kernel (input_dim, units)``, ``recurrent_kernel (units, units)``,
    ``bias (units,)``.
    """

    fields = (_units(), _ACT, _USE_BIAS, *_inits(), *_regs(False), _DROPOUT, _REC_DROPOUT,
              _SEED_K3)

    def _post_init(self):
        super()._post_init()
        self._act = fast_activation(self.activation)

    def build(self, input_shape):
        self._add_dense_weights(self._in_dim(input_shape), 1, (self.units,),
                                self.bias_initializer)

    def _project(self, x):
        return self._input_proj(x, self.kernel.value,
                                None if self.bias is None else self.bias.value)

    def _step(self, xp, states):
        h = self._act(xp + self._rec_proj(states[0], self.recurrent_kernel.value))
        return h, [h]


class LSTMCell(_Cell):
    """One LSTM step; gate order i, f, c, o.

    Input shape: ``(batch, input_dim)``, states ``[h, c]`` each ``(batch, units)``.
    Output shape: ``(batch, units)``.
    Weights: ``kernel (input_dim, 4u)``, ``recurrent_kernel (u, 4u)``, ``bias (4u,)``.
    """

    n_gates = 4
    fields = (_units(), _ACT, _REC_ACT, _USE_BIAS, _FORGET, *_inits(), *_regs(False),
              _DROPOUT, _REC_DROPOUT, _SEED_K3, _IMPLEMENTATION)
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
        init = self.bias_initializer
        if self.unit_forget_bias:
            init = _ForgetBiasInit(self.bias_initializer, self.units)
        self._add_dense_weights(self._in_dim(input_shape), 4, (4 * self.units,), init)

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


class GRUCell(_Cell):
    """One GRU step; gate order z, r, h. ``h = z * h_prev + (1 - z) * h_candidate``.

    ``reset_after=True`` (default): ``candidate = act(x_h + r * (h_prev @ U_h + b_rh))`` with
    a bias of shape ``(2, 3u)`` (input row, recurrent row); ``False``:
    ``candidate = act(x_h + (r * h_prev) @ U_h)`` with a bias ``(3u,)``.

    Input shape: ``(batch, input_dim)``. Output shape: ``(batch, units)``.
    """

    n_gates = 3
    fields = (_units(), _ACT, _REC_ACT, _USE_BIAS, *_inits(), *_regs(False), _DROPOUT,
              _REC_DROPOUT, _IMPLEMENTATION,
              Bool("reset_after", True, "Apply the reset gate after the recurrent product "
                   "(the cuDNN-compatible form)."),
              _SEED_K3)

    def _post_init(self):
        super()._post_init()
        self._act = fast_activation(self.activation)
        self._ract = fast_activation(self.recurrent_activation)

    def build(self, input_shape):
        shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        self._add_dense_weights(self._in_dim(input_shape), 3, shape, self.bias_initializer)

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


class _LayerList(Field):
    """A list of nested layer configs (StackedRNNCells.cells)."""

    kind = "layer_list"

    def expected(self) -> str:
        return "a list of cell configs"

    def _check(self, value, path):
        if not isinstance(value, (list, tuple)) or not value:
            raise ConfigError(path, f"expected a non-empty list of cell configs, got "
                              f"{describe(value)}")
        return [_as_cell(registry.get_object("layer", v, f"{path}[{i}]"), f"{path}[{i}]")
                for i, v in enumerate(value)]

    def to_config(self, value, fmt):
        from ..serialization import serialize

        return [serialize(v, format=fmt) for v in value]


def _as_cell(obj: Any, path: str) -> _Cell:
    if not isinstance(obj, _Cell):
        raise ConfigError(path, f"expected an RNN cell (SimpleRNNCell, LSTMCell, GRUCell, "
                          f"StackedRNNCells), got {type(obj).__name__}")
    return obj


class StackedRNNCells(_Cell):
    """Several cells run one after the other at each step (the output of one is the input
    of the next). States: the flat list of every cell's states, in order.

    Input shape: ``(batch, input_dim)``. Output shape: ``(batch, last cell's units)``.
    """

    fields = (_LayerList("cells", REQUIRED, "The cells, first to last."),)

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

    def _begin(self, batch, step_shape, training):
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


# -- the recurrent loop ------------------------------------------------------------------


def run_recurrence(cell: _Cell, x: Array, states: list[Array], mask: Array | None, *,
                   go_backwards: bool, zero_output_for_mask: bool, return_sequences: bool,
                   training: bool) -> tuple[Array, Array | None, list[Array]]:
    """Run ``cell`` over ``x`` (batch-major ``(B, T, ...)``).

    Returns ``(last_output, outputs (B, T, ...) or None, final_states)``.
    """
    b, t = x.shape[:2]
    xt = np.swapaxes(x, 0, 1)
    mt = None if mask is None else np.swapaxes(mask, 0, 1)
    if go_backwards:
        xt = xt[::-1]
        mt = None if mt is None else mt[::-1]
    step_shape = tuple(x.shape[2:])
    cell._begin(b, step_shape, training)
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


class _RNNBase(Layer):
    """The RNN driver shared by RNN, SimpleRNN, LSTM, GRU and ConvLSTM*D."""

    abstract = True
    supports_masking = True
    cell: _Cell

    def _tolerate_key(self, key, value):
        return key == "use_cudnn" or super()._tolerate_key(key, value)

    def _post_init(self):
        _check_stateful(self)

    @property
    def state_size(self):
        return self.cell.state_size

    def _time_major(self) -> bool:
        return bool(self._values.get("time_major"))

    def _step_shape(self, input_shape) -> tuple:
        return tuple(input_shape[2:])

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(f"{type(self).__name__} {self.name!r} expects inputs of rank >= 3 "
                             f"(batch, time, features), got shape {input_shape}")
        b = input_shape[1] if self._time_major() else input_shape[0]
        if not self.cell.built:
            self.cell.build((b,) + self._step_shape(input_shape))
        set_weight_paths(self)

    def call(self, inputs, initial_state=None, mask=None, training=False):
        x = inputs
        if self._time_major():
            x = np.swapaxes(x, 0, 1)
        who = f"{type(self).__name__} {self.name!r}"
        m = _norm_mask(mask, x, who)
        step_shape = tuple(x.shape[2:])
        if initial_state is None:
            states = self.cell.get_initial_state(x.shape[0], step_shape)
        else:
            init = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
            want = self.cell.state_shapes(step_shape)
            if len(init) != len(want):
                raise ValueError(f"{who}: initial_state needs {len(want)} arrays, got "
                                 f"{len(init)}")
            states = [np.asarray(s, dtype=self.compute_dtype) for s in init]
            for s, w in zip(states, want):
                if s.shape != (x.shape[0],) + tuple(w):
                    raise ValueError(f"{who}: initial state of shape {s.shape}, expected "
                                     f"{(x.shape[0],) + tuple(w)}")
        last, seq, states = run_recurrence(
            self.cell, x, states, m, go_backwards=self.go_backwards,
            zero_output_for_mask=bool(self._values.get("zero_output_for_mask")),
            return_sequences=self.return_sequences, training=training)
        out = last
        if self.return_sequences:
            out = np.swapaxes(seq, 0, 1) if self._time_major() else seq
        if self.return_state:
            return [out, *self.cell.nest_states([self.cell.export_state(s) for s in states])]
        return out

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
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
                         kind="layer")

    def validate(self, value, path):
        if isinstance(value, (list, tuple)):
            cells = _LayerList("cells").validate(list(value), path)
            return StackedRNNCells(cells=cells, _config_path=path)
        return _as_cell(super().validate(value, path), path)


class RNN(_RNNBase):
    """Runs a cell over the time axis.

    Input shape: ``(batch, time, features)``. Output shape: ``(batch, units)``, or
    ``(batch, time, units)`` with ``return_sequences``; with ``return_state`` a list
    ``[output, *states]`` (the states of stacked cells are flattened).
    """

    fields = (*_RNN_FLAGS, _CellField())

    def _post_init(self):
        super()._post_init()
        self._sublayers = [self.cell]


def _copy_values(cell: Layer, values: dict[str, Any]) -> Layer:
    for f in cell.all_fields():
        if f.name in values and f.name not in ("name", "trainable"):
            cell._values[f.name] = values[f.name]
            if not isinstance(getattr(type(cell), f.name, None), property):
                setattr(cell, f.name, values[f.name])
    cell._post_init()
    return cell


class _OwnCellRNN(_RNNBase):
    """An RNN layer whose config holds the cell's settings (SimpleRNN, LSTM, GRU, ConvLSTM)."""

    abstract = True
    cell_class: type[_Cell]
    cell_name: str

    def _post_init(self):
        super()._post_init()
        cell = self.cell_class(**self._cell_scalar_args(), name=self.cell_name,
                               trainable=self._values["trainable"],
                               _config_path=self._path)
        self.cell = _copy_values(cell, self._values)
        cell._values["dtype"] = self._values["dtype"]
        self._sublayers = [self.cell]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        seed = self._values.get("seed")
        self.cell._rng = np.random.default_rng(seed if isinstance(seed, int) else None)

    def _cell_scalar_args(self) -> dict[str, Any]:
        return {"units": self._values["units"]}


class SimpleRNN(_OwnCellRNN):
    """Fully connected RNN: ``h_t = activation(x_t @ kernel + h_{t-1} @ U + bias)``.

    Input shape: ``(batch, time, features)``. Output shape: ``(batch, units)`` or
    ``(batch, time, units)``; ``return_state`` adds the final ``h``.
    Weights (in ``simple_rnn/simple_rnn_cell``): ``kernel``, ``recurrent_kernel``, ``bias``.
    """

    cell_class = SimpleRNNCell
    cell_name = "simple_rnn_cell"
    fields = (*_RNN_FLAGS, _units(), _ACT, _USE_BIAS, *_inits(), *_regs(True), _DROPOUT,
              _REC_DROPOUT, Seed("seed", None, "Random seed for dropout (not written by "
                                 "Keras).", formats=()))


class LSTM(_OwnCellRNN):
    """Long Short-Term Memory (gate order i, f, c, o).

    Input shape: ``(batch, time, features)``. Output shape: ``(batch, units)`` or
    ``(batch, time, units)``; ``return_state`` adds ``[h, c]``.
    Weights (in ``lstm/lstm_cell``): ``kernel (in, 4u)``, ``recurrent_kernel (u, 4u)``,
    ``bias (4u,)``.
    """

    cell_class = LSTMCell
    cell_name = "lstm_cell"
    fields = (*_RNN_FLAGS, _units(), _ACT, _REC_ACT, _USE_BIAS, *_inits(), _FORGET,
              *_regs(True), _DROPOUT, _REC_DROPOUT, _SEED_K3, _IMPLEMENTATION)


class GRU(_OwnCellRNN):
    """Gated Recurrent Unit (gate order z, r, h; ``reset_after`` picks the bias layout).

    Input shape: ``(batch, time, features)``. Output shape: ``(batch, units)`` or
    ``(batch, time, units)``; ``return_state`` adds the final ``h``.
    Weights (in ``gru/gru_cell``): ``kernel (in, 3u)``, ``recurrent_kernel (u, 3u)``,
    ``bias (2, 3u)`` (reset_after) or ``(3u,)``.
    """

    cell_class = GRUCell
    cell_name = "gru_cell"
    fields = (*_RNN_FLAGS, _units(), _ACT, _REC_ACT, _USE_BIAS, *_inits(), *_regs(True),
              _DROPOUT, _REC_DROPOUT, _IMPLEMENTATION,
              Bool("reset_after", True, "Apply the reset gate after the recurrent product."),
              _SEED_K3)


# -- ConvLSTM ----------------------------------------------------------------------------


def _conv_out_len(n: int, k: int, s: int, d: int, padding: str) -> int:
    dk = (k - 1) * d + 1
    if padding == "same":
        return -(-n // s)
    return (n - dk) // s + 1


def conv_nd(x: Array, w: Array, strides: Sequence[int], padding: str,
            dilation: Sequence[int]) -> Array:
    """Channels-last N-D convolution with TF 'same'/'valid' padding: ``x (N, *sp, C)``,
    ``w (*k, C, F)`` -> ``(N, *out, F)`` (the conv module's im2col kernel)."""
    from . import conv as _conv

    pads = _conv.conv_paddings(x.shape[1:-1], w.shape[:-2], strides, dilation, padding)
    return np.ascontiguousarray(_conv.conv_nd(x, w, strides, dilation, pads))


class _ConvLSTMCell(_Cell):
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
        outs = tuple(None if n is None else _conv_out_len(n, k, s, d, self.padding)
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

    def _begin(self, batch, step_shape, training):
        self._dp = self._rdp = None
        if not training:
            return
        dt = self.compute_dtype
        self._dp = _dropout_masks(self._rng, self.dropout, (batch,) + self._cl(step_shape), 4,
                                  dt)
        self._rdp = _dropout_masks(self._rng, self.recurrent_dropout,
                                   (batch,) + self._out_cl(step_shape), 4, dt)

    def build(self, input_shape):
        cl = self._cl(tuple(input_shape[1:]))
        if any(d is None for d in cl):
            raise ValueError(f"{type(self).__name__}: ConvLSTM needs static spatial and channel "
                             f"dimensions, got input shape {input_shape}")
        f = self.filters
        self.kernel = self.add_weight("kernel", tuple(self.kernel_size) + (cl[-1], 4 * f),
                                      self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint,
                                      field="kernel_initializer")
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", tuple(self.kernel_size) + (f, 4 * f),
            self.recurrent_initializer, regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint, field="recurrent_initializer")
        self.bias = None
        if self.use_bias:
            init = _ForgetBiasInit(self.bias_initializer, f) if self.unit_forget_bias else \
                self.bias_initializer
            self.bias = self.add_weight("bias", (4 * f,), init,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint,
                                        field="bias_initializer")

    def _project(self, x):
        t, b = x.shape[:2]
        if self.data_format == "channels_first":
            x = np.moveaxis(x, 2, -1)
        flat = x.reshape((t * b,) + x.shape[2:])
        k = self.kernel.value
        if self._dp is None:
            y = conv_nd(flat, k, self.strides, self.padding, self.dilation_rate)
        else:
            f = self.filters
            y = np.concatenate([
                conv_nd(flat * np.tile(m, (t,) + (1,) * (m.ndim - 1)),
                        k[..., g * f:(g + 1) * f], self.strides, self.padding,
                        self.dilation_rate) for g, m in enumerate(self._dp)], axis=-1)
        if self.bias is not None:
            y += self.bias.value
        return y.reshape((t, b) + y.shape[1:])

    def _rec(self, h: Array) -> Array:
        rk = self.recurrent_kernel.value
        ones = (1,) * self.rank
        if self._rdp is None:
            return conv_nd(h, rk, ones, "same", ones)
        f = self.filters
        return np.concatenate([conv_nd(h * m, rk[..., g * f:(g + 1) * f], ones, "same", ones)
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
        *_RNN_FLAGS,
        Int("filters", REQUIRED, "Number of output channels.", min=1),
        IntTuple("kernel_size", REQUIRED, "Size of the convolution window.", length=rank,
                 min=1),
        IntTuple("strides", (1,) * rank, "Strides of the input convolution.", length=rank,
                 min=1),
        Choice("padding", "valid", "Padding of the input convolution.",
               choices=("valid", "same")),
        Choice("data_format", "channels_last", "Where the channels axis is.",
               choices=("channels_last", "channels_first"), optional=True),
        IntTuple("dilation_rate", (1,) * rank, "Dilation of the input convolution.",
                 length=rank, min=1),
        _ACT, _REC_ACT, _USE_BIAS, *_inits(), _FORGET, *_regs(True), _DROPOUT, _REC_DROPOUT,
        _SEED_K3,
    )


class _ConvLSTM(_OwnCellRNN):
    abstract = True
    rank = 2

    def __init__(self, *args, **kwargs):
        if registry.current_format() == KERAS2 and "recurrent_activation" not in kwargs \
                and len(args) < 2:
            kwargs["recurrent_activation"] = "hard_sigmoid"  # tf_keras's default
        super().__init__(*args, **kwargs)

    def _post_init(self):
        if self._values.get("data_format") is None:
            self._values["data_format"] = "channels_last"
            self.data_format = "channels_last"
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


# -- wrappers ----------------------------------------------------------------------------


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


class Bidirectional(Layer):
    """Runs an RNN forwards and a copy of it backwards and merges the two outputs.

    ``merge_mode``: 'concat' (default), 'sum', 'mul', 'ave', or None (a list
    ``[forward, backward]``). The backward outputs are flipped back in time before merging.
    With ``return_state``: ``[output(s), *forward_states, *backward_states]``.

    Input shape: ``(batch, time, features)``. Output shape: the wrapped layer's, last axis
    doubled for 'concat'. Weights: the forward layer's, then the backward layer's.
    """

    supports_masking = True
    fields = (
        Choice("merge_mode", "concat", "How forward and backward outputs are combined "
               "(None = return both).", choices=("sum", "mul", "ave", "concat"),
               optional=True, lower=False),
        NestedLayer("layer", REQUIRED, "The recurrent layer to run in both directions."),
        NestedLayer("backward_layer", None, "The backward layer (default: a copy of `layer` "
                    "with go_backwards flipped).", optional=True, formats=(KERAS3,)),
    )
    keras2_order = ("name", "trainable", "dtype", "layer", "merge_mode", "backward_layer")

    def _post_init(self):
        layer = self._values["layer"]
        if not isinstance(layer, _RNNBase):
            raise self.config_error("layer", f"expected a recurrent layer (RNN, LSTM, GRU, "
                                    f"SimpleRNN, ConvLSTM*D), got {type(layer).__name__}")
        k2 = registry.current_format() == KERAS2
        self._keras2_names = k2
        fwd = copy.deepcopy(layer)
        fwd.name = ("forward_" + layer.name) if k2 else \
            "forward_" + _strip(layer.name, "forward_")
        given = self._values.get("backward_layer")
        self._backward_given = given is not None
        if given is None:
            bwd = copy.deepcopy(layer)
            _set_flag(bwd, "go_backwards", not layer.go_backwards)
            bwd.name = ("backward_" + layer.name) if k2 else \
                "backward_" + _strip(layer.name, "backward_")
        else:
            if not isinstance(given, _RNNBase):
                raise self.config_error("backward_layer", f"expected a recurrent layer, got "
                                        f"{type(given).__name__}")
            bwd = given
            self._backward_name = given.name
            if k2:
                bwd.name = "backward_" + given.name
        if fwd.go_backwards == bwd.go_backwards:
            raise self.config_error("backward_layer", f"the forward and backward layers must "
                                    f"have different go_backwards, both are "
                                    f"{fwd.go_backwards}")
        for a in ("stateful", "return_sequences", "return_state"):
            if getattr(fwd, a) != getattr(bwd, a):
                raise self.config_error("backward_layer", f"{a} must equal the forward "
                                        f"layer's ({getattr(fwd, a)}), got {getattr(bwd, a)}")
        for sub in (fwd, bwd):
            if "zero_output_for_mask" in sub._values:
                _set_flag(sub, "zero_output_for_mask", bool(sub.return_sequences))
        self.forward_layer, self.backward_layer = fwd, bwd
        self._sublayers = [fwd, bwd]
        self.return_sequences = fwd.return_sequences
        self.return_state = fwd.return_state

    def get_config(self, format=KERAS3):
        from ..configurable import check_format
        from ..serialization import serialize

        fmt = check_format(format)
        cfg = super().get_config(fmt)
        if fmt == KERAS3:
            cfg["layer"] = serialize(self.forward_layer, format=fmt)
            cfg["backward_layer"] = serialize(self.backward_layer, format=fmt)
        elif self._backward_given:
            bw = serialize(self.backward_layer, format=fmt)
            bw["config"]["name"] = self._backward_name
            cfg["backward_layer"] = bw
        return cfg

    def build(self, input_shape):
        for sub in (self.forward_layer, self.backward_layer):
            if not sub.built:
                sub.build(input_shape)
        set_weight_paths(self)

    def call(self, inputs, initial_state=None, mask=None, training=False):
        fs = bs = None
        if initial_state is not None:
            half = len(initial_state) // 2
            fs, bs = list(initial_state[:half]), list(initial_state[half:])
        y = self.forward_layer(inputs, initial_state=fs, mask=mask, training=training)
        yr = self.backward_layer(inputs, initial_state=bs, mask=mask, training=training)
        states: list[Array] = []
        if self.return_state:
            states = list(y[1:]) + list(yr[1:])
            y, yr = y[0], yr[0]
        if self.return_sequences:
            yr = yr[:, ::-1]
        mode = self.merge_mode
        if mode == "concat":
            out: Any = np.concatenate([y, yr], axis=-1)
        elif mode == "sum":
            out = y + yr
        elif mode == "ave":
            out = (y + yr) / 2
        elif mode == "mul":
            out = y * yr
        else:
            out = [y, yr]
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + states
        return out

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        bshape = self.backward_layer.compute_output_shape(input_shape)
        states: list = []
        if self.return_state:
            states = list(shape[1:]) + list(bshape[1:])
            shape, bshape = shape[0], bshape[0]
        shape, bshape = tuple(shape), tuple(bshape)
        if self.merge_mode == "concat":
            last = None if shape[-1] is None or bshape[-1] is None else shape[-1] + bshape[-1]
            shape = shape[:-1] + (last,)
        outs = [shape, bshape] if self.merge_mode is None else [shape]
        if self.return_state:
            return outs + states
        return outs if self.merge_mode is None else outs[0]

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        out: Any
        if self.return_sequences:
            out = [mask, mask] if self.merge_mode is None else mask
        else:
            out = [None, None] if self.merge_mode is None else None
        if self.return_state:
            n = self.forward_layer.cell._n_states() * 2
            return (out if isinstance(out, list) else [out]) + [None] * n
        return out


def _set_flag(layer: Layer, name: str, value: Any) -> None:
    layer._values[name] = value
    setattr(layer, name, value)


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step: ``(batch, time, ...)`` is folded into
    ``(batch * time, ...)``, run once, and unfolded.

    Input shape: ``(batch, time, *inner)``. Output shape: ``(batch, time, *layer_output)``.
    Weights: the wrapped layer's.
    """

    supports_masking = True
    fields = (NestedLayer("layer", REQUIRED, "The layer applied to each time step."),)

    def _post_init(self):
        if not isinstance(self._values["layer"], Layer):
            raise self.config_error("layer", "expected a layer")
        self._sublayers = [self.layer]

    def _child(self, input_shape) -> tuple:
        if len(input_shape) < 3:
            raise ValueError(f"TimeDistributed {self.name!r} expects inputs of rank >= 3 "
                             f"(batch, time, ...), got shape {tuple(input_shape)}")
        return (input_shape[0],) + tuple(input_shape[2:])

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(self._child(input_shape))
        set_weight_paths(self)

    def call(self, inputs, mask=None, training=False):
        b, t = inputs.shape[:2]
        flat = inputs.reshape((b * t,) + inputs.shape[2:])
        kw: dict[str, Any] = {"training": training}
        inner = self.layer
        if mask is not None and ("mask" in inner._call_accepts or inner._call_var_kw):
            m = np.asarray(mask)
            kw["mask"] = m.reshape((b * t,) + m.shape[2:])
        y = inner(flat, **kw)
        if isinstance(y, (list, tuple)):
            return [o.reshape((b, t) + o.shape[1:]) for o in y]
        return y.reshape((b, t) + y.shape[1:])

    def compute_output_shape(self, input_shape):
        child = self.layer.compute_output_shape(self._child(input_shape))
        return (child[0], input_shape[1]) + tuple(child[1:])


__all__ = ["SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "RNN", "SimpleRNN",
           "LSTM", "GRU", "Bidirectional", "TimeDistributed", "ConvLSTM1D", "ConvLSTM2D",
           "ConvLSTM3D", "conv_nd", "run_recurrence", "set_weight_paths"]
