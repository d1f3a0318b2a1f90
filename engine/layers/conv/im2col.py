"""Lean im2col for small convolutions, ops.conv_nd's ``'im2col_one'`` kernel: window
copies into one cache-sized buffer, one GEMM per buffer, and almost no bookkeeping.

On small images the per-call bookkeeping of the other kernels (block lists, one GEMM per
tap, worker-thread dispatch) costs more than the arithmetic: DenseNet121's 3x3 convolutions
of 128 channels into 32 filters on 3x3 to 12x12 images (batch 2) run 1.2-1.6x faster this
way, the 3-channel stems 1.3x (measured in the models, tests/bench/bench_conv.py
``--models`` for the per-layer comparison with TensorFlow). The window view puts the taps
along the last spatial axis next to the channels (``kw * C`` consecutive floats of a row,
dilation 1 there), so the copy moves runs of ``kw * C`` floats, not ``C``.

What the shapes decide (padding, the window view, the blocks) is a :class:`Plan`, which a
layer keeps for its next call on inputs of the same shapes (ops.conv_nd's ``memo``; the
1x1 case keeps its GEMM's shapes the same way): a Conv2D call through the models' run loop
on a tiny input costs 13 us instead of 41 (3x3) and 8 instead of 20 (1x1), DenseNet121's
3x3 convolutions on 3x3 images 68 us a call instead of 99 (measured in this session's
benchmarks, tests/bench/bench_layers_vs_tf.py).

The sum over taps and channels is one dot product per output, in the order (taps of the
outer axes, last-axis tap, channel): the zero padding's products are computed (as the
blocked im2col does), so a +-inf kernel weight meeting the padding gives NaN there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: floats of the window copy of one block (512 KB of float32, half this machine's L2 cache:
#: measured in DenseNet121 at 96x96, batch 2, against 1 << 14, 1 << 19 and 1 << 21: 47.1 ms
#: a forward pass against 50.2, 47.6 and 49.5; its 3x3 convolutions of 128 channels on
#: 24x24 images 1.45 ms a call against 1.72 with 1 << 14 and 1.73 unblocked)
BLOCK_ELEMENTS = 1 << 17
#: and no more floats than the input and output hold together (the extra memory stays a
#: small multiple of what the call reads and writes), unless that is less than this
BLOCK_FLOOR = 1 << 14
#: but at least this many output positions (GEMM rows) a block, where they fit
BLOCK_MIN_ROWS = 24
#: ops.conv_nd uses this kernel for convolutions whose windows hold at most this many
#: floats in all (larger ones keep the other kernels, and their worker threads)
MAX_ELEMENTS = 1 << 21


class Plan:
    """A convolution of channels-last inputs of one shape, no groups, as window copies of a
    block of outputs into a (positions, taps * C) buffer of about BLOCK_ELEMENTS floats
    (at most the input and output's, at least BLOCK_FLOOR) or BLOCK_MIN_ROWS positions,
    whichever is more (whole images, or rows of one), and one GEMM per block.

    Made from the shapes alone, and kept by a layer for its next call on inputs of the
    same shapes (ops.conv_nd's ``memo``): the zero-padded
    input's shape and where the input goes in it (None: no padding), the window view's
    shape and strides, the buffer's shape, and per block the index of its outputs (into
    the view and the result), its number of images or rows and of GEMM rows."""

    __slots__ = ("padded", "inner", "view", "col", "blocks", "w_shape", "result", "dtype",
                 "in_dtype")

    def __init__(self, x_shape: Sequence[int], pads: Sequence[tuple[int, int]],
                 kernel_shape: Sequence[int], strides: Sequence[int],
                 dilation: Sequence[int], out: Sequence[int], dtype: np.dtype,
                 in_dtype: np.dtype):
        out = tuple(out)
        n_batch, filters, chans = x_shape[0], kernel_shape[-1], x_shape[-1]
        self.dtype, self.in_dtype = dtype, in_dtype
        sizes = tuple(n + b + a for n, (b, a) in zip(x_shape[1:-1], pads))
        self.padded = self.inner = None
        if any(b or a for b, a in pads):
            self.padded = (n_batch,) + sizes + (chans,)
            self.inner = (slice(None),) + tuple(slice(b, b + n) for n, (b, _) in
                                                zip(x_shape[1:-1], pads))
        # the read-only window view of the (padded) C-contiguous input: (N, *out,
        # *ksize[:-1], ksize[-1] * C), the last axis kw * C consecutive floats of a row
        # (with dilation along the last axis: (N, *out, *ksize, C))
        item = np.dtype(in_dtype).itemsize
        st = [item * chans]
        for n in reversed(sizes[1:]):
            st.insert(0, st[0] * n)
        st.insert(0, st[0] * sizes[0])          # (batch, *spatial, channel) strides
        ksize = tuple(kernel_shape[:-2])
        spatial = st[1:]
        shape = (n_batch,) + out
        strides_ = (st[0],) + tuple(a * s for a, s in zip(spatial, strides))
        if dilation[-1] == 1:
            shape += ksize[:-1] + (ksize[-1] * chans,)
            strides_ += tuple(a * d for a, d in zip(spatial[:-1], dilation[:-1])) + (item,)
        else:
            shape += ksize + (chans,)
            strides_ += tuple(a * d for a, d in zip(spatial, dilation)) + (item,)
        self.view = (shape, strides_)
        per_pos = math.prod(shape[len(out) + 1:])
        self.w_shape = (per_pos, filters)
        self.result = (n_batch,) + out + (filters,)
        per_image = math.prod(out)
        self.blocks: list[tuple[Any, int, int]] = []
        io = math.prod(x_shape) + n_batch * per_image * filters
        floats = min(BLOCK_ELEMENTS, max(BLOCK_FLOOR, io))
        budget = max(BLOCK_MIN_ROWS, floats // per_pos)   # output positions a block
        if per_image == 0:
            self.col = (0,) + shape[1:]
            return
        if per_image <= budget:                              # whole images per block
            step = max(1, budget // per_image)
            self.col = (min(step, n_batch),) + shape[1:]
            for b in range(0, n_batch, step):
                cnt = min(step, n_batch - b)
                self.blocks.append((slice(b, b + cnt), cnt, cnt * per_image))
            return
        per_row = per_image // out[0]                        # positions of one row of an image
        step = max(1, budget // per_row)
        self.col = (min(step, out[0]),) + shape[2:]
        for b in range(n_batch):
            for r in range(0, out[0], step):
                cnt = min(step, out[0] - r)
                self.blocks.append(((b, slice(r, r + cnt)), cnt, cnt * per_row))

    def run(self, x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        """The convolution of ``x`` (of the planned shape and dtype; C-contiguous when not
        padded) with ``kernel``: a new array."""
        if self.padded is not None:
            xp = np.zeros(self.padded, self.in_dtype)   # (calloc'd: cheaper than a fill)
            xp[self.inner] = x
        else:
            xp = x if x.flags.c_contiguous else np.ascontiguousarray(x)
        view = np.ndarray(self.view[0], self.in_dtype, xp, 0, self.view[1])
        view.flags.writeable = False
        w = kernel.reshape(self.w_shape)
        result = np.empty(self.result, dtype=self.dtype)
        col = np.empty(self.col, dtype=self.in_dtype)
        per_pos, filters = self.w_shape
        for index, cnt, rows in self.blocks:
            c = col[:cnt]
            np.copyto(c, view[index])
            np.matmul(c.reshape(rows, per_pos), w, out=result[index].reshape(rows, filters))
        return result

    def col_bytes(self) -> int:
        """Bytes of the window buffer."""
        return math.prod(self.col) * np.dtype(self.in_dtype).itemsize


def col_elements(n_batch: int, out: Sequence[int], kernel_shape: Sequence[int]) -> int:
    """Floats of every window of a convolution (what an unblocked im2col would copy)."""
    return n_batch * math.prod(out) * math.prod(kernel_shape[:-1])
