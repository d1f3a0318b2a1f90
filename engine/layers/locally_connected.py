"""Keras 2's locally connected layers: LocallyConnected1D and LocallyConnected2D.

A locally connected layer is a convolution whose weights are not shared: every output
position has its own kernel. tf.keras stores the weights in one of three layouts chosen by
``implementation`` and layerlab reads each one as tf.keras does:

* 1: ``kernel (out_positions, k1 * k2 * channels_in, filters)``, one dense kernel per output
  position (its rows in the order of the input window: spatial taps, then channels; for
  channels_first: channels, then taps). ``'valid'`` padding only.
* 2: the full dense kernel ``(in_spatial..., channels_in, out_spatial..., filters)``
  (channels_first: ``(channels_in, in_spatial..., filters, out_spatial...)``), masked to the
  connected input/output pairs.
* 3: the connected entries only, ``kernel (n,)``, in the sorted order of their (flat output
  index, flat input index) pairs.

The bias is ``(out_spatial..., filters)``; with channels_first tf.keras adds it reshaped
(not transposed) to ``(filters, out_spatial...)``, and layerlab does the same. Given the
same connection weights the three layouts give the same outputs: layerlab scatters the
weights of layouts 2 and 3 into layout 1 (zero weights for the taps that 'same' padding
leaves outside the input) and runs every layout as one batched matmul of the input
windows, no Python loop over positions. Keras 3 has no such layers: they are read and
written in the Keras 2 format only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..fields import KERAS2, REQUIRED, Activation, Bool, DataFormat, Int, IntTuple
from .base import InputSpec, Layer, kernel_bias_fields
from .conv import conv_output_length, padding_field

__all__ = ["LocallyConnected1D", "LocallyConnected2D", "connections"]


def _axis_pairs(size: int, k: int, s: int, padding: str) -> tuple[np.ndarray, np.ndarray]:
    """(output position, input position) pairs connected along one axis (tf.keras's
    ``conv_connected_inputs``), ordered by output then input position."""
    out = conv_output_length(size, k, s, 1, padding)
    left = k // 2
    centre = np.arange(out)[:, None] * s + (left if padding == "valid" else 0)
    inp = centre - left + np.arange(k)[None, :]
    keep = (inp >= 0) & (inp < size)
    o = np.broadcast_to(np.arange(out)[:, None], inp.shape)
    return o[keep], inp[keep]


def connections(in_spatial: tuple[int, ...], kernel: tuple[int, ...],
                strides: tuple[int, ...], padding: str) -> tuple[np.ndarray, np.ndarray]:
    """Every connected (output position, input position) pair as two ``(n, rank)`` integer
    arrays, in ``itertools.product`` order (output position, then input position)."""
    per_axis = [_axis_pairs(n, k, s, padding) for n, k, s in zip(in_spatial, kernel, strides)]
    o_all, i_all = np.zeros((1, 0), np.int64), np.zeros((1, 0), np.int64)
    for o, i in per_axis:  # pairs of the axes so far x pairs of this axis
        n_prev, n_new = o_all.shape[0], o.shape[0]
        o_all = np.concatenate([np.repeat(o_all, n_new, 0), np.tile(o[:, None], (n_prev, 1))],
                               axis=1)
        i_all = np.concatenate([np.repeat(i_all, n_new, 0), np.tile(i[:, None], (n_prev, 1))],
                               axis=1)
    order = np.lexsort(tuple(i_all.T[::-1]) + tuple(o_all.T[::-1]))
    return o_all[order], i_all[order]


class _LocallyConnected(Layer):
    """Shared implementation (not registered)."""

    abstract = True
    keras_formats = (KERAS2,)
    rank = 1

    def _post_init(self) -> None:
        if self.implementation == 1 and self.padding != "valid":
            raise self.config_error("padding", f"implementation 1 supports only 'valid' "
                                    f"padding, got {self.padding!r} (use implementation 2 "
                                    f"or 3)")

    # -- shapes ------------------------------------------------------------------------
    def _split(self, shape: tuple) -> tuple[tuple, Any]:
        if len(shape) != self.rank + 2:
            raise ValueError(f"{type(self).__name__} {self.name!r} expects inputs of rank "
                             f"{self.rank + 2}, got shape {shape}")
        if self.data_format == "channels_first":
            return tuple(shape[2:]), shape[1]
        return tuple(shape[1:-1]), shape[-1]

    def _out_spatial(self, spatial: tuple) -> tuple:
        out = tuple(conv_output_length(n, k, s, 1, self.padding) for n, k, s in
                    zip(spatial, self.kernel_size, self.strides))
        for o in out:
            if o is not None and o <= 0:
                raise self.config_error("kernel_size", f"the window {self.kernel_size} is "
                                        f"larger than the input's spatial size {spatial} "
                                        f"(valid padding)")
        return out

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        spatial, _ = self._split(shape)
        out = self._out_spatial(spatial)
        if self.data_format == "channels_first":
            return (shape[0], self.filters) + out
        return (shape[0],) + out + (self.filters,)

    # -- weights -----------------------------------------------------------------------
    def build(self, input_shape):
        shape = tuple(input_shape)
        spatial, chans = self._split(shape)
        if chans is None or any(n is None for n in spatial):
            raise ValueError(f"{type(self).__name__} {self.name!r} needs known spatial sizes "
                             f"and channels, got input shape {shape}")
        out = self._out_spatial(spatial)
        self._spatial_in, self._spatial_out, self._chans = spatial, out, chans
        f = self.filters
        cf = self.data_format == "channels_first"
        if self.implementation == 1:
            kshape: tuple = (math.prod(out), math.prod(self.kernel_size) * chans, f)
        elif self.implementation == 2:
            kshape = ((chans,) + spatial + (f,) + out) if cf else (spatial + (chans,) + out +
                                                                   (f,))
        if self.implementation != 1:
            self._entries(*connections(spatial, self.kernel_size, self.strides, self.padding))
            if self.implementation == 3:
                kshape = (self._n_entries,)
        self.kernel = self.add_weight("kernel", kshape, self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint,
                                      field="kernel_initializer")
        self.bias = self.add_bias(out + (f,))
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={1 if cf else -1: chans})

    def _entries(self, o: np.ndarray, i: np.ndarray) -> None:
        """Index every connection weight of implementations 2 and 3.

        ``_dense_at``: where each sorted entry sits in the implementation-2 kernel seen as
        ``(input_flat, output_flat)``; the entries are sorted by (flat output, flat input),
        tf.keras's implementation-3 order. ``_w1_at``: where each entry goes in an
        implementation-1 kernel over windows starting at ``o * stride - pad`` (same
        padding: taps outside the input keep a zero weight), so that every layout runs as
        the same windowed matmul.
        """
        f, c = self.filters, self._chans
        cf = self.data_format == "channels_first"
        n = o.shape[0]
        o_rep = np.repeat(o, c * f, axis=0)
        i_rep = np.repeat(i, c * f, axis=0)
        f_in = np.tile(np.repeat(np.arange(c), f), n)
        f_out = np.tile(np.arange(f), n * c)
        if cf:
            rows = np.ravel_multi_index((f_out, *o_rep.T), (f,) + self._spatial_out)
            cols = np.ravel_multi_index((f_in, *i_rep.T), (c,) + self._spatial_in)
        else:
            rows = np.ravel_multi_index((*o_rep.T, f_out), self._spatial_out + (f,))
            cols = np.ravel_multi_index((*i_rep.T, f_in), self._spatial_in + (c,))
        order = np.lexsort((cols, rows))
        self._n_entries = int(order.size)
        n_out = f * math.prod(self._spatial_out)
        self._dense_at = (cols * n_out + rows)[order]
        starts = np.asarray([self._pad_before(k) for k in self.kernel_size])
        taps = i_rep - (o_rep * np.asarray(self.strides) - starts)
        pos = np.ravel_multi_index(tuple(o_rep.T), self._spatial_out)
        ks = tuple(self.kernel_size)
        feat = (np.ravel_multi_index((f_in, *taps.T), (c,) + ks) if cf else
                np.ravel_multi_index((*taps.T, f_in), ks + (c,)))
        self._w1_at = np.ravel_multi_index((pos, feat, f_out), (
            math.prod(self._spatial_out), math.prod(ks) * c, f))[order]

    def _pad_before(self, k: int) -> int:
        return k // 2 if self.padding == "same" else 0

    def _window_kernel(self) -> np.ndarray:
        """The kernel in the implementation-1 layout ``(positions, features, filters)``."""
        k = np.asarray(self.kernel.value)
        if self.implementation == 1:
            return k
        values = k.reshape(-1)[self._dense_at] if self.implementation == 2 else k
        shape = (math.prod(self._spatial_out), math.prod(self.kernel_size) * self._chans,
                 self.filters)
        w1 = np.zeros(math.prod(shape), k.dtype)
        w1[self._w1_at] = values
        return w1.reshape(shape)

    # -- forward -----------------------------------------------------------------------
    def call(self, inputs):
        x = inputs
        b = x.shape[0]
        f, out = self.filters, self._spatial_out
        cf = self.data_format == "channels_first"
        patches = self._patches(x).transpose(1, 0, 2)  # (positions, B, features)
        y = np.matmul(patches, self._window_kernel()).transpose(1, 0, 2)
        y = y.reshape((b,) + out + (f,))
        if cf:
            y = np.moveaxis(y, -1, 1)
        y = y.astype(self.compute_dtype, copy=False)
        if self.bias is not None:
            bias = self.bias.value
            y = y + (bias.reshape((1, f) + out) if cf else bias[None])
        return self.activation(y).astype(self.compute_dtype, copy=False)

    def _patches(self, x: np.ndarray) -> np.ndarray:
        """(B, out_positions, window features) in tf.keras's ``local_conv`` order (same
        padding: windows over the zero-padded input)."""
        cf = self.data_format == "channels_first"
        xs = np.moveaxis(x, 1, -1) if cf else x  # channels last for the gather
        if self.padding == "same":  # zeros around: their taps have zero weights
            pads = [(k // 2, max(0, (o - 1) * s + k - k // 2 - n)) for n, o, s, k in
                    zip(self._spatial_in, self._spatial_out, self.strides, self.kernel_size)]
            xs = np.pad(xs, [(0, 0), *pads, (0, 0)])
        idx = [np.arange(o)[:, None] * s + np.arange(k)[None, :] for o, s, k in
               zip(self._spatial_out, self.strides, self.kernel_size)]
        if self.rank == 1:
            p = xs[:, idx[0]]  # (B, o, k, C)
        else:
            # (B, o1, o2, k1, k2, C)
            p = xs[:, idx[0][:, None, :, None], idx[1][None, :, None, :]]
        if cf:
            p = np.moveaxis(p, -1, 1 + self.rank)  # channels before the taps
        b = x.shape[0]
        return p.reshape(b, math.prod(self._spatial_out), -1)


def _fields(rank: int) -> tuple:
    return (
        Int("filters", REQUIRED, "Number of output channels.", min=1),
        IntTuple("kernel_size", REQUIRED, "Size of the window.", length=rank, min=1),
        IntTuple("strides", 1, "Step of the window along each spatial axis.", length=rank,
                 min=1),
        padding_field(False),
        DataFormat(),
        Activation("activation", None),
        Bool("use_bias", True, "Whether to add a bias."),
        *kernel_bias_fields(keras3_activity_always=True),
        Int("implementation", 1, "Weights layout: 1 (per-position kernels), 2 (masked dense "
            "kernel) or 3 (sparse entries).", min=1, max=3),
    )


class LocallyConnected1D(_LocallyConnected):
    """Keras 2 only. 1D convolution with a separate kernel at every output step.

    Input shape: ``(batch, steps, channels)`` (channels_first: ``(batch, channels,
    steps)``). Output shape: ``(batch, new_steps, filters)``. Weights: ``kernel`` (layout
    per ``implementation``, see the module docstring), ``bias (new_steps, filters)``.
    """

    rank = 1
    fields = _fields(1)


class LocallyConnected2D(_LocallyConnected):
    """Keras 2 only. 2D convolution with a separate kernel at every output pixel.

    Input shape: ``(batch, rows, cols, channels)`` (or channels first). Output shape:
    ``(batch, new_rows, new_cols, filters)``. Weights: ``kernel`` (layout per
    ``implementation``, see the module docstring), ``bias (new_rows, new_cols, filters)``.
    """

    rank = 2
    fields = _fields(2)
