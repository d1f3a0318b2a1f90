"""Window arithmetic and array helpers of the convolution and pooling kernels (ops,
transpose_ops, pooling).

The arithmetic follows TensorFlow (what Keras 2 and Keras 3 on the TF backend compute):

* ``'valid'``: ``out = (in - dk) // stride + 1`` with ``dk = (k - 1) * dilation + 1``.
* ``'same'``: ``out = ceil(in / stride)``; the padding ``max((out - 1) * stride + dk - in, 0)``
  is split with the extra element at the end.
* ``'causal'`` (Conv1D, SeparableConv1D): ``dk - 1`` zeros on the left, then ``'valid'``.
* transposed: ``valid -> (in - 1) * s + dk + op`` (``op`` defaults to ``max(dk, s) - dk``),
  ``same -> in * s`` or ``(in - 1) * s + dk % 2 + op`` when ``output_padding`` is given.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

# -- size arithmetic ---------------------------------------------------------------------


def dilated(k: int, d: int) -> int:
    return (k - 1) * d + 1


def conv_output_length(size: int | None, k: int, s: int, d: int, padding: str) -> int | None:
    """Output length of a convolution or pooling window along one axis (None stays None)."""
    if size is None:
        return None
    if padding == "valid":
        return (size - dilated(k, d)) // s + 1
    return -(-size // s)


def conv_paddings(sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                  dilation: Sequence[int], padding: str) -> list[tuple[int, int]]:
    """(before, after) zero padding of each spatial axis, TensorFlow's rule."""
    pads = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation):
        dk = dilated(k, d)
        if padding == "same":
            total = max((-(-n // s) - 1) * s + dk - n, 0)
            pads.append((total // 2, total - total // 2))
        elif padding == "causal":
            pads.append((dk - 1, 0))
        else:
            pads.append((0, 0))
    return pads


def transpose_output_length(size: int | None, k: int, s: int, d: int, padding: str,
                            output_padding: int | None) -> int | None:
    if size is None:
        return None
    dk = dilated(k, d)
    if padding == "valid":
        op = max(dk, s) - dk if output_padding is None else output_padding
        return (size - 1) * s + dk + op
    if output_padding is None:
        return size * s
    return (size - 1) * s + dk % 2 + output_padding


# -- array helpers -----------------------------------------------------------------------


def to_channels_last(x: np.ndarray, data_format: str) -> np.ndarray:
    return np.moveaxis(x, 1, -1) if data_format == "channels_first" else x


def from_channels_last(y: np.ndarray, data_format: str) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(y, -1, 1)) if data_format == "channels_first" else y


def pad_spatial(x: np.ndarray, pads: Sequence[tuple[int, int]], fill: float = 0.0,
                ) -> np.ndarray:
    """A C-contiguous copy of channels-last ``x`` padded on its spatial axes (x itself when
    it is already contiguous and needs no padding)."""
    if not any(b or a for b, a in pads):
        return np.ascontiguousarray(x)
    shape = (x.shape[0],) + tuple(n + b + a for n, (b, a) in zip(x.shape[1:-1], pads)) + \
        (x.shape[-1],)
    inner = (slice(None),) + tuple(slice(b, b + n) for n, (b, _) in zip(x.shape[1:-1], pads))
    if fill == 0:  # calloc'd zeros, then the input: fewer, cheaper calls (2-4x, measured)
        out = np.zeros(shape, dtype=x.dtype)
        out[inner] = x
        return out
    out = np.empty(shape, dtype=x.dtype)
    out[inner] = x
    # fill only the border slabs, not the whole buffer
    for axis, (n, (b, a)) in enumerate(zip(x.shape[1:-1], pads), start=1):
        if b:
            out[(slice(None),) * axis + (slice(0, b),)] = fill
        if a:
            out[(slice(None),) * axis + (slice(b + n, None),)] = fill
    return out


def _tap_view(xp: np.ndarray, tap: Sequence[int], strides: Sequence[int],
              dilation: Sequence[int], out: Sequence[int]) -> np.ndarray:
    """The (N, *out, C) strided view of padded ``xp`` read by kernel tap ``tap``."""
    idx = tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                for t, s, d, o in zip(tap, strides, dilation, out))
    return xp[(slice(None),) + idx]


def _row_window_view(xp: np.ndarray, outer: Sequence[int], strides: Sequence[int],
                     dilation: Sequence[int], out: Sequence[int], kw: int) -> np.ndarray:
    """The (N, *out, kw * C) view of padded channels-last ``xp`` whose last axis is the
    window of ``kw`` consecutive positions along the last spatial axis (dilation 1 there),
    for the taps ``outer`` of the other spatial axes."""
    start = xp[(slice(None),) + tuple(slice(t * d, None) for t, d in zip(outer, dilation))]
    st = xp.strides
    return as_strided(start, shape=(xp.shape[0],) + tuple(out) + (kw * xp.shape[-1],),
                      strides=(st[0],) + tuple(a * s for a, s in zip(st[1:-1], strides)) +
                      (st[-1],), writeable=False)


def _taps(kernel_size: Sequence[int]):
    return list(itertools.product(*(range(k) for k in kernel_size)))
