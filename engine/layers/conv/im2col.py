"""Lean im2col for small convolutions, ops.conv_nd's ``'im2col_one'`` kernel: window
copies into one cache-sized buffer, one GEMM per buffer, and almost no bookkeeping.

On small images the per-call bookkeeping of the other kernels (block lists, one GEMM per
tap, worker-thread dispatch) costs more than the arithmetic: DenseNet121's 3x3 convolutions
of 128 channels into 32 filters on 3x3 to 12x12 images (batch 2) run 1.2-1.6x faster this
way, the 3-channel stems 1.3x (measured in the models, tests/bench/bench_conv.py
``--models`` for the per-layer comparison with TensorFlow). The window view puts the taps
along the last spatial axis next to the channels (``kw * C`` consecutive floats of a row,
dilation 1 there), so the copy moves runs of ``kw * C`` floats, not ``C``.

The sum over taps and channels is one dot product per output, in the order (taps of the
outer axes, last-axis tap, channel): the zero padding's products are computed (as the
blocked im2col does), so a +-inf kernel weight meeting the padding gives NaN there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: floats of the window copy of one block (64 KB of float32, cache-sized: measured as
#: fast as one block on DenseNet's 6x6 and 12x12 images, and the extra memory stays small)
BLOCK_ELEMENTS = 1 << 14
#: but at least this many output positions (GEMM rows) a block, where they fit
BLOCK_MIN_ROWS = 24
#: ops.conv_nd uses this kernel for convolutions whose windows hold at most this many
#: floats in all (larger ones keep the other kernels, and their worker threads)
MAX_ELEMENTS = 1 << 21


def window_view(xp: np.ndarray, ksize: Sequence[int], strides: Sequence[int],
                dilation: Sequence[int], out: Sequence[int]) -> np.ndarray:
    """The read-only (N, *out, *ksize[:-1], ksize[-1] * C) view of padded channels-last
    ``xp`` (C-contiguous) holding every output's window; with dilation 1 on the last
    spatial axis its last axis is ``ksize[-1] * C`` consecutive floats of the input (with
    dilation there: (N, *out, *ksize, C))."""
    st = xp.strides
    spatial = st[1:-1]
    shape = (xp.shape[0],) + tuple(out)
    strides_ = (st[0],) + tuple(a * s for a, s in zip(spatial, strides))
    if dilation[-1] == 1:
        shape += tuple(ksize[:-1]) + (ksize[-1] * xp.shape[-1],)
        strides_ += tuple(a * d for a, d in zip(spatial[:-1], dilation[:-1])) + (st[-1],)
    else:
        shape += tuple(ksize) + (xp.shape[-1],)
        strides_ += tuple(a * d for a, d in zip(spatial, dilation)) + (st[-1],)
    view = np.ndarray(shape, xp.dtype, xp, 0, strides_)   # (as_strided, 5x cheaper)
    view.flags.writeable = False
    return view


def conv_im2col_one(xp: np.ndarray, kernel: np.ndarray, strides: Sequence[int],
                    dilation: Sequence[int], out: tuple[int, ...]) -> np.ndarray:
    """Convolution of C-contiguous padded channels-last ``xp`` with ``kernel`` (*k, C, F),
    no groups: the windows of a block of outputs copied into a (positions, taps * C)
    buffer of about BLOCK_ELEMENTS floats or BLOCK_MIN_ROWS positions, whichever is more
    (whole images, or rows of one), one GEMM per block. Returns a new (N, *out, F)
    array."""
    n_batch, filters = xp.shape[0], kernel.shape[-1]
    view = window_view(xp, kernel.shape[:-2], strides, dilation, out)
    per_pos = math.prod(view.shape[len(out) + 1:])
    w = kernel.reshape(per_pos, filters)
    dtype = np.result_type(xp.dtype, kernel.dtype)
    result = np.empty((n_batch,) + tuple(out) + (filters,), dtype=dtype)
    per_image = math.prod(out)
    if n_batch * per_image == 0:
        return result
    budget = max(BLOCK_MIN_ROWS, BLOCK_ELEMENTS // per_pos)   # output positions a block
    if per_image <= budget:                              # whole images per block
        step = max(1, budget // per_image)
        col = np.empty((min(step, n_batch),) + view.shape[1:], dtype=xp.dtype)
        for b in range(0, n_batch, step):
            c = col[:min(step, n_batch - b)]
            np.copyto(c, view[b:b + step])
            rows = c.shape[0] * per_image
            np.matmul(c.reshape(rows, per_pos), w,
                      out=result[b:b + step].reshape(rows, filters))
        return result
    per_row = per_image // out[0]                        # rows of the first axis of one image
    step = max(1, budget // per_row)
    col = np.empty((min(step, out[0]),) + view.shape[2:], dtype=xp.dtype)
    for b in range(n_batch):
        for r in range(0, out[0], step):
            c = col[:min(step, out[0] - r)]
            np.copyto(c, view[b, r:r + step])
            rows = c.shape[0] * per_row
            np.matmul(c.reshape(rows, per_pos), w,
                      out=result[b, r:r + step].reshape(rows, filters))
    return result


def col_elements(n_batch: int, out: Sequence[int], kernel_shape: Sequence[int]) -> int:
    """Floats of every window of a convolution (what an unblocked im2col would copy)."""
    return n_batch * math.prod(out) * math.prod(kernel_shape[:-1])
