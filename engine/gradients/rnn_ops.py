"""The two linear maps of a recurrent cell, with their VJPs: the input projection (all
time steps at once) and the recurrent product (one step at a time), as dense products
(SimpleRNN, LSTM, GRU) or convolutions (ConvLSTM), each with the cell's training-mode
dropout masks.

Masks are the cell's own draw (``cell._dp`` / ``cell._rdp``, see ``rnn_loop``): one mask
for every gate, or one per gate (Keras's ``implementation=1``, used with recurrent
dropout), in which case gate ``g`` sees ``x * mask[g]`` and its own kernel columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..layers.conv import conv_nd, conv_paddings, pad_spatial
from .conv import _unpad, conv_backward

Array = np.ndarray


def _gate_cols(kernel: Array, masks: Sequence[Array] | None, gates: Sequence[int] | None,
               units: int) -> list[tuple[Array, Array | None]]:
    """(kernel columns, mask) pairs: one pair without gate masks, else one per gate."""
    if gates is not None:
        kernel = kernel[..., gates[0] * units:(gates[-1] + 1) * units]
    if masks is None:
        return [(kernel, None)]
    if len(masks) == 1:
        return [(kernel, masks[0])]
    gates = range(kernel.shape[-1] // units) if gates is None else gates
    return [(kernel[..., k * units:(k + 1) * units], masks[g]) for k, g in enumerate(gates)]


class _Linear:
    """``y = concat_g(prod(a * mask_g, K_g))`` for a product ``prod`` linear in both."""

    def __init__(self, kernel: Array, masks: Sequence[Array] | None, units: int,
                 gates: Sequence[int] | None = None):
        self.kernel = kernel
        self.parts = _gate_cols(kernel, masks, gates, units)
        self.gates = gates
        self.units = units

    # subclasses: prod(a, k), grad_a(g, k, a_shape), grad_k(a, g, k)
    def prod(self, a: Array, k: Array) -> Array:
        raise NotImplementedError

    def grad_a(self, g: Array, k: Array, a_shape: tuple) -> Array:
        raise NotImplementedError

    def grad_k(self, a: Array, g: Array, k: Array) -> Array:
        raise NotImplementedError

    def _split(self, g: Array) -> list[Array]:
        if len(self.parts) == 1:
            return [g]
        n = self.parts[0][0].shape[-1]
        return [g[..., i * n:(i + 1) * n] for i in range(len(self.parts))]

    def fwd(self, a: Array) -> Array:
        ys = [self.prod(a if m is None else a * m, k) for k, m in self.parts]
        return ys[0] if len(ys) == 1 else np.concatenate(ys, axis=-1)

    def back_a(self, g: Array, a_shape: tuple) -> Array:
        total = None
        for (k, m), gi in zip(self.parts, self._split(g)):
            ga = self.grad_a(gi, k, a_shape)
            if m is not None:
                ga = ga * m
            total = ga if total is None else total + ga
        return total

    def back_k(self, a: Array, g: Array) -> Array:
        """The kernel's gradient (shaped like the whole kernel, zeros off the gates)."""
        parts = [self.grad_k(a if m is None else a * m, gi, k)
                 for (k, m), gi in zip(self.parts, self._split(g))]
        gk = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
        if self.gates is None:
            return gk
        full = np.zeros(self.kernel.shape, gk.dtype)
        u = self.units
        full[..., self.gates[0] * u:(self.gates[-1] + 1) * u] = gk
        return full


class Dense(_Linear):
    """``a (..., in) @ K (in, cols)`` (as one 2-D product: NumPy loops over the leading
    axes of a stacked matmul)."""

    def prod(self, a, k):
        if a.ndim == 2:
            return a @ k
        return (a.reshape(-1, a.shape[-1]) @ k).reshape(a.shape[:-1] + (k.shape[1],))

    def grad_a(self, g, k, a_shape):
        if g.ndim == 2:
            return g @ k.T
        return (g.reshape(-1, g.shape[-1]) @ k.T).reshape(a_shape)

    def grad_k(self, a, g, k):
        return a.reshape(-1, a.shape[-1]).T @ g.reshape(-1, g.shape[-1])


class Conv(_Linear):
    """A channels-last convolution of ``a (N, *spatial, C)`` (or ``(T, N, ...)``, the
    leading axes flattened) with ``K (*k, C, cols)`` and TensorFlow's padding."""

    def __init__(self, kernel, masks, units, strides, dilation, padding, gates=None):
        super().__init__(kernel, masks, units, gates)
        self.strides, self.dilation, self.padding = strides, dilation, padding

    def _flat(self, a):
        rank = self.kernel.ndim - 2
        lead = a.shape[:a.ndim - rank - 1]
        return a.reshape((-1,) + a.shape[len(lead):]), lead

    def _pads(self, a, k):
        return conv_paddings(a.shape[1:-1], k.shape[:-2], self.strides, self.dilation,
                             self.padding)

    def prod(self, a, k):
        flat, lead = self._flat(a)
        y = conv_nd(flat, k, self.strides, self.dilation, self._pads(flat, k))
        return np.ascontiguousarray(y).reshape(lead + y.shape[1:])

    def _both(self, a, g, k):
        flat, lead = self._flat(a)
        gflat = g.reshape((-1,) + g.shape[len(lead):])
        pads = self._pads(flat, k)
        gxp, gk = conv_backward(pad_spatial(flat, pads), k, gflat, self.strides,
                                self.dilation)
        return _unpad(gxp, flat.shape, pads).reshape(a.shape), gk

    def grad_a(self, g, k, a_shape):
        return self._both(np.zeros(a_shape, g.dtype), g, k)[0]

    def grad_k(self, a, g, k):
        return self._both(a, g, k)[1].astype(g.dtype, copy=False)


def input_op(cell: Any, masks: Any) -> _Linear:
    """The input projection of ``cell`` (dense or convolutional)."""
    k = cell.kernel.value
    if hasattr(cell, "filters"):
        return Conv(k, masks, cell.filters, tuple(cell.strides), tuple(cell.dilation_rate),
                    cell.padding)
    return Dense(k, masks, cell.units)


def recurrent_op(cell: Any, masks: Any, gates: Sequence[int] | None = None) -> _Linear:
    """The recurrent product of ``cell`` over ``gates`` (all when None)."""
    k = cell.recurrent_kernel.value
    if hasattr(cell, "filters"):
        ones = (1,) * (k.ndim - 2)
        return Conv(k, masks, cell.filters, ones, ones, "same", gates)
    return Dense(k, masks, cell.units, gates)
