"""Convolution arithmetic and kernels on NumPy arrays, shared by the convolution, pooling
and ConvLSTM layers.

The arithmetic follows TensorFlow (what Keras 2 and Keras 3 on the TF backend compute):

* ``'valid'``: ``out = (in - dk) // stride + 1`` with ``dk = (k - 1) * dilation + 1``.
* ``'same'``: ``out = ceil(in / stride)``; the padding ``max((out - 1) * stride + dk - in, 0)``
  is split with the extra element at the end.
* ``'causal'`` (Conv1D, SeparableConv1D): ``dk - 1`` zeros on the left, then ``'valid'``.
* transposed: ``valid -> (in - 1) * s + dk + op`` (``op`` defaults to ``max(dk, s) - dk``),
  ``same -> in * s`` or ``(in - 1) * s + dk % 2 + op`` when ``output_padding`` is given.

Every kernel runs on channels-last arrays (channels-first inputs are transposed while
being padded). A regular convolution is GEMMs on row blocks, never a Python loop over pixels
or batch items; :func:`conv_kernel` picks one of five kernels by shape (measured with
tests/bench/bench_applications.py, which compares them with the machine's sgemm). With 64
or more channels it is one GEMM per kernel tap, ``acc += x[shifted rows] @ w[tap]``, on
zero-copy slices of the flattened padded input for stride 1 ('grid_taps') or on gathered
blocks otherwise ('gather_taps'), so the input is never copied nine times; 1x1 convolutions
are one GEMM on the input; few channels use an im2col (deep GEMM) in cache-sized blocks. The
extra memory is one block plus the padded input. When BLAS is pinned to one thread, large
convolutions split their blocks over ``THREADS`` worker threads (NumPy releases the GIL
inside BLAS), as TensorFlow uses every core.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .depthwise_ops import depthwise_einsum

#: target number of float elements in one im2col block (about 1 MB of float32)
BLOCK_ELEMENTS = 1 << 18
#: one GEMM per kernel tap: accumulator elements of one row block (cache-sized), and the
#: least rows of a block (shorter GEMMs lose speed)
TAP_ACC_ELEMENTS = 1 << 17
TAP_ROWS_MIN = 256
#: fewer output positions than this (tiny images): one im2col GEMM instead
TAP_MIN_POSITIONS = 64
#: fewer input channels than this: im2col (a GEMM per tap would be too shallow)
TAP_MIN_CHANNELS = 64
#: the stride-1 grid kernels compute (padded grid / valid outputs) times the rows needed;
#: above this ratio (small images) the valid positions are gathered instead
GRID_MAX_WASTE = 1.12


def _default_threads() -> int:
    """Worker threads for large convolutions: the CPU count when BLAS runs one thread per
    call (OPENBLAS/OMP/MKL_NUM_THREADS=1), else 1 (BLAS then parallelizes each GEMM)."""
    single = any(os.environ.get(v) == "1" for v in
                 ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"))
    return min(4, os.cpu_count() or 1) if single else 1


#: worker threads for convolutions above PARALLEL_FLOPS (set to 1 to disable)
THREADS = _default_threads()
#: below this many multiply-adds a convolution runs on the calling thread
PARALLEL_FLOPS = 20_000_000
_pool: ThreadPoolExecutor | None = None


def _block_rows(width: int, io_elements: int) -> int:
    """Rows of an im2col block of ``width`` columns: about BLOCK_ELEMENTS, and at most a
    quarter of the convolution's input + output size, so that small convolutions keep a
    small memory multiple (never fewer than 64 rows)."""
    return max(64, min(BLOCK_ELEMENTS, io_elements // 4) // max(1, width))


def _run_blocks(work: Callable[[list[Any]], None], blocks: list[Any], flops: int) -> None:
    """``work(blocks)``, split over the worker threads when the job is big enough (NumPy
    releases the GIL in GEMMs and copies, so the blocks run in parallel)."""
    global _pool
    n = min(THREADS, len(blocks))
    if n <= 1 or flops < PARALLEL_FLOPS:
        work(blocks)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max(THREADS, 1), thread_name_prefix="layerlab-conv")
    futures = [_pool.submit(work, blocks[i::n]) for i in range(n)]
    for f in futures:
        f.result()


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
    out = np.empty(shape, dtype=x.dtype)
    inner = (slice(None),) + tuple(slice(b, b + n) for n, (b, _) in zip(x.shape[1:-1], pads))
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


def conv_nd(x: np.ndarray, kernel: np.ndarray, strides: Sequence[int],
            dilation: Sequence[int], pads: Sequence[tuple[int, int]], groups: int = 1,
            ) -> np.ndarray:
    """N-d convolution (cross-correlation, as TensorFlow) of channels-last ``x``.

    Args:
        x: (batch, *spatial, channels).
        kernel: (*kernel_size, channels // groups, filters).
        strides, dilation: one int per spatial axis.
        pads: (before, after) zero padding per spatial axis.
        groups: channel groups (filters are split the same way).

    Returns:
        (batch, *out_spatial, filters), possibly a strided view.
    """
    ksize = kernel.shape[:-2]
    xp = pad_spatial(x, pads)
    sizes = xp.shape[1:-1]
    out = tuple((n - dilated(k, d)) // s + 1
                for n, k, s, d in zip(sizes, ksize, strides, dilation))
    if any(o <= 0 for o in out):  # a window larger than the input: empty output
        return np.zeros((xp.shape[0],) + tuple(max(o, 0) for o in out) + kernel.shape[-1:],
                        dtype=np.result_type(xp.dtype, kernel.dtype))
    return _CONV_KERNELS[conv_kernel(xp.shape, kernel.shape, strides, out, groups)](
        xp, kernel, strides, dilation, out, groups)


def conv_kernel(padded_shape: Sequence[int], kernel_shape: Sequence[int],
                strides: Sequence[int], out: Sequence[int], groups: int) -> str:
    """Which kernel :func:`conv_nd` runs (chosen by measurement, tests/bench):

    * ``'pointwise'``: 1x1 stride 1, one GEMM on the input itself;
    * ``'grid_taps'``: stride 1, >= TAP_MIN_CHANNELS channels, images large enough that the
      padded grid adds at most GRID_MAX_WASTE: one GEMM per tap on shifted slices, no copy;
    * ``'gather_taps'``: other convolutions of >= TAP_MIN_CHANNELS channels (small images,
      strides, dilation): one GEMM per tap on a gathered block;
    * ``'grid_im2col'``: stride 1 with few channels: an im2col of the grid, one deep GEMM;
    * ``'im2col'``: the rest (groups, strides with few channels, tiny images)."""
    ksize, chans = kernel_shape[:-2], padded_shape[-1]
    stride1 = all(s == 1 for s in strides)
    if groups != 1 or math.prod(padded_shape) == 0:
        return "im2col"
    if stride1 and math.prod(ksize) == 1:
        return "pointwise"
    if chans < TAP_MIN_CHANNELS:
        return "grid_im2col" if stride1 else "im2col"
    # rows of the padded grid computed per valid output by the grid kernels
    if stride1 and math.prod(padded_shape[1:-1]) <= GRID_MAX_WASTE * math.prod(out):
        return "grid_taps"
    if padded_shape[0] * math.prod(out) >= TAP_MIN_POSITIONS:
        return "gather_taps"
    return "im2col"


def _conv_pointwise(xp: np.ndarray, kernel: np.ndarray, strides: Sequence[int],
                    dilation: Sequence[int], out: tuple[int, ...], groups: int = 1,
                    ) -> np.ndarray:
    """1x1 stride-1 convolution: (rows, C) @ (C, F) on the input itself (row blocks split
    over the worker threads when large)."""
    chans, filters = kernel.shape[-2:]
    flat = xp.reshape(-1, chans)
    w = kernel.reshape(chans, filters)
    result = np.empty((flat.shape[0], filters), dtype=np.result_type(xp.dtype, kernel.dtype))
    rows = flat.shape[0]
    n = max(1, min(THREADS, rows // TAP_ROWS_MIN))
    step = -(-rows // n)
    spans = [(r, min(rows, r + step)) for r in range(0, rows, step)]

    def work(parts: list[tuple[int, int]]) -> None:
        for a, b in parts:
            np.matmul(flat[a:b], w, out=result[a:b])

    _run_blocks(work, spans, rows * chans * filters)
    return result.reshape(xp.shape[:-1] + (filters,))


def _conv_grid_taps(xp: np.ndarray, kernel: np.ndarray, strides: Sequence[int],
                    dilation: Sequence[int], out: tuple[int, ...], groups: int = 1,
                    ) -> np.ndarray:
    """Stride-1 convolution on the padded grid, flattened to (rows, channels): kernel tap
    ``t`` reads the rows shifted by a constant offset, a zero-copy slice of the input, so the
    convolution is one GEMM per tap, ``acc += x[rows + offset] @ w[t]``, with no im2col.
    The rows are done in blocks whose accumulator stays in cache; rows of the grid that are
    not valid outputs (the padding columns) are computed and dropped, so this is used when
    they are few (:func:`conv_nd`). Returns the valid (N, *out, F) part, a strided view."""
    n_batch, sizes, chans = xp.shape[0], xp.shape[1:-1], xp.shape[-1]
    ksize, filters = kernel.shape[:-2], kernel.shape[-1]
    flat = xp.reshape(-1, chans)
    row_stride = [math.prod(sizes[i + 1:]) for i in range(len(sizes))]
    taps = _taps(ksize)
    offsets = [sum(t * d * rs for t, d, rs in zip(tap, dilation, row_stride)) for tap in taps]
    total = flat.shape[0]
    valid_rows = total - max(offsets)
    wt = kernel.reshape(len(taps), chans, filters)
    dtype = np.result_type(xp.dtype, kernel.dtype)
    grid = np.empty((n_batch,) + tuple(sizes) + (filters,), dtype=dtype)
    acc_all = grid.reshape(total, filters)
    block = min(valid_rows, max(TAP_ROWS_MIN, TAP_ACC_ELEMENTS // filters))

    def work(starts: list[int]) -> None:
        tmp = np.empty((block, filters), dtype=dtype)
        for r0 in starts:
            n = min(block, valid_rows - r0)
            acc, t_n = acc_all[r0:r0 + n], tmp[:n]
            np.matmul(flat[r0 + offsets[0]:r0 + offsets[0] + n], wt[0], out=acc)
            for off, w in zip(offsets[1:], wt[1:]):
                np.matmul(flat[r0 + off:r0 + off + n], w, out=t_n)
                acc += t_n

    starts = list(range(0, valid_rows, block))
    per = -(-len(starts) // max(1, min(THREADS, len(starts))))
    runs = [starts[i:i + per] for i in range(0, len(starts), per)]
    _run_blocks(lambda rs: [work(r) for r in rs], runs,
                valid_rows * len(taps) * chans * filters)
    # the valid outputs (the grid's last rows were never written)
    return grid[(slice(None),) + tuple(slice(0, o) for o in out)]


def _conv_grid_im2col(xp: np.ndarray, kernel: np.ndarray, strides: Sequence[int],
                      dilation: Sequence[int], out: tuple[int, ...], groups: int = 1,
                      ) -> np.ndarray:
    """Stride-1 convolution of few channels on the padded grid, flattened: every kernel tap
    reads the rows of the flattened input shifted by a constant offset, and the taps along
    the last axis are one overlapping window of the row, so a block's im2col is a few big
    copies and one GEMM of depth taps * channels. Rows of the grid that are not valid
    outputs are computed and dropped (a few percent at the sizes this is used for)."""
    n_batch, sizes, chans = xp.shape[0], xp.shape[1:-1], xp.shape[-1]
    ksize, filters = kernel.shape[:-2], kernel.shape[-1]
    flat = xp.reshape(-1, chans)
    row_stride = [math.prod(sizes[i + 1:]) for i in range(len(sizes))]
    kw, dw = ksize[-1], dilation[-1]
    outer = _taps(ksize[:-1])
    offsets = [sum(t * d * rs for t, d, rs in zip(tap, dilation, row_stride)) for tap in outer]
    span = max(offsets) + (kw - 1) * dw
    total = flat.shape[0]
    valid_rows = total - span
    n_taps = len(outer) * kw
    w2 = kernel.reshape(n_taps * chans, filters)
    result = np.empty((total, filters), dtype=np.result_type(xp.dtype, kernel.dtype))
    block = min(valid_rows, _block_rows(n_taps * chans, xp.size + total * filters))
    isz = flat.itemsize

    def work(starts: list[int]) -> None:
        col = np.empty((block, n_taps * chans), dtype=xp.dtype)
        col4 = col.reshape(block, len(outer), kw, chans)
        for r0 in starts:
            n = min(block, valid_rows - r0)
            for a, off in enumerate(offsets):
                src = as_strided(flat[r0 + off:], shape=(n, kw, chans),
                                 strides=(chans * isz, dw * chans * isz, isz), writeable=False)
                col4[:n, a] = src
            np.matmul(col[:n], w2, out=result[r0:r0 + n])

    starts = list(range(0, valid_rows, block))
    # contiguous runs of blocks per thread keep each thread's writes apart
    per = -(-len(starts) // max(1, min(THREADS, len(starts))))
    runs = [starts[i:i + per] for i in range(0, len(starts), per)]
    _run_blocks(lambda rs: [work(r) for r in rs], runs, valid_rows * n_taps * chans * filters)
    result[valid_rows:] = 0
    grid = result.reshape((n_batch,) + tuple(sizes) + (filters,))
    return grid[(slice(None),) + tuple(slice(0, o) for o in out)]


def _blocks(n_batch: int, out: tuple[int, ...], row_budget: int):
    """(batch slice, first-axis slice) blocks of about ``row_budget`` output positions."""
    per_image = math.prod(out)
    if per_image * n_batch <= row_budget or per_image == 0:
        yield slice(0, n_batch), slice(0, out[0])
        return
    if per_image <= row_budget:
        step = max(1, row_budget // per_image)
        for b in range(0, n_batch, step):
            yield slice(b, min(n_batch, b + step)), slice(0, out[0])
        return
    per_row = max(1, math.prod(out[1:]))
    step = max(1, row_budget // per_row)
    for b in range(n_batch):
        for r in range(0, out[0], step):
            yield slice(b, b + 1), slice(r, min(out[0], r + step))


def _conv_gather_taps(xp: np.ndarray, kernel: np.ndarray, strides: Sequence[int],
                      dilation: Sequence[int], out: tuple[int, ...], groups: int = 1,
                      ) -> np.ndarray:
    """Convolution as one GEMM per kernel tap on gathered valid positions: for a block of
    output positions, each tap's strided view is copied into a (rows, channels) buffer and
    ``acc += buffer @ w[t]``; buffer, scratch and accumulator stay in cache, and the extra
    memory is one block, not the nine-fold im2col."""
    n_batch, chans = xp.shape[0], xp.shape[-1]
    ksize, filters = kernel.shape[:-2], kernel.shape[-1]
    taps = _taps(ksize)
    wt = kernel.reshape(len(taps), chans, filters)
    dtype = np.result_type(xp.dtype, kernel.dtype)
    result = np.empty((n_batch,) + out + (filters,), dtype=dtype)
    views = [_tap_view(xp, tap, strides, dilation, out) for tap in taps]
    row_budget = max(TAP_ROWS_MIN, TAP_ACC_ELEMENTS // filters)

    def work(blocks: list[tuple[slice, slice]]) -> None:
        for bs, rs in blocks:
            shape = (bs.stop - bs.start, rs.stop - rs.start) + out[1:]
            m = math.prod(shape)
            gathered = np.empty(shape + (chans,), dtype=xp.dtype)
            flat = gathered.reshape(m, chans)
            tmp = np.empty((m, filters), dtype=dtype)
            dest = result[bs, rs].reshape(m, filters)
            for t, v in enumerate(views):
                np.copyto(gathered, v[bs, rs])
                if t == 0:
                    np.matmul(flat, wt[0], out=dest)
                else:
                    np.matmul(flat, wt[t], out=tmp)
                    dest += tmp

    _run_blocks(work, list(_blocks(n_batch, out, row_budget)),
                result.size * len(taps) * chans)
    return result


def _conv_blocked(xp: np.ndarray, kernel: np.ndarray, strides: Sequence[int],
                  dilation: Sequence[int], out: tuple[int, ...], groups: int) -> np.ndarray:
    """General convolution (strides, groups): im2col of a block of output positions, one
    (batched over groups) GEMM per block."""
    n_batch, chans = xp.shape[0], xp.shape[-1]
    ksize, filters = kernel.shape[:-2], kernel.shape[-1]
    taps = _taps(ksize)
    n_taps = len(taps)
    cg, fg = chans // groups, filters // groups
    dtype = np.result_type(xp.dtype, kernel.dtype)
    result = np.empty((n_batch,) + out + (filters,), dtype=dtype)
    if result.size == 0:
        return result
    # kernel as (groups, taps * cg, fg), matching the (groups, taps, cg) column layout
    kg = kernel.reshape(n_taps, cg, groups, fg).transpose(2, 0, 1, 3).reshape(
        groups, n_taps * cg, fg)
    kw = ksize[-1]
    if groups == 1 and dilation[-1] == 1 and kw > 1:
        # the taps along the last axis read kw * C consecutive floats of a row: one
        # overlapping window view per outer tap, so a block's im2col is fewer, longer copies
        views = [_row_window_view(xp, tap, strides, dilation, out, kw)
                 for tap in _taps(ksize[:-1])]
        parts = (len(views), kw * chans)
    else:
        views = [_tap_view(xp, tap, strides, dilation, out) for tap in taps]
        parts = (groups, n_taps, cg)
    row_budget = _block_rows(n_taps * chans, xp.size + result.size)

    def work(blocks: list[tuple[slice, slice]]) -> None:
        for bs, rs in blocks:
            nb = bs.stop - bs.start
            shape = (nb, rs.stop - rs.start) + out[1:]
            m = math.prod(shape)
            col = np.empty(shape + parts, dtype=xp.dtype)
            for t, v in enumerate(views):
                if len(parts) == 2:
                    col[..., t, :] = v[bs, rs]
                else:
                    col[..., t, :] = v[bs, rs].reshape(shape + (groups, cg))
            block = result[bs, rs]
            assert block.flags.c_contiguous  # whole images, or rows of one image
            dest = block.reshape(m, filters)
            if groups == 1:
                np.matmul(col.reshape(m, n_taps * chans), kg[0], out=dest)
            else:
                a = col.reshape(m, groups, n_taps * cg).transpose(1, 0, 2)
                dest[...] = np.matmul(a, kg).transpose(1, 0, 2).reshape(m, filters)

    _run_blocks(work, list(_blocks(n_batch, out, row_budget)),
                result.size // filters * n_taps * cg * filters)
    return result


_CONV_KERNELS = {"pointwise": _conv_pointwise, "grid_taps": _conv_grid_taps,
                 "gather_taps": _conv_gather_taps, "grid_im2col": _conv_grid_im2col,
                 "im2col": _conv_blocked}

#: output elements per block of the tap-by-tap loops (depthwise, pooling): L2-sized
TAP_BLOCK_ELEMENTS = 1 << 16
#: depthwise convolutions with multiplier 1 run as one einsum over a window view
#: (depthwise_ops; 2-4x faster than the tap loop, measured)
DEPTHWISE_EINSUM = True


def tap_reduce(xp: np.ndarray, taps: Sequence[Sequence[int]], strides: Sequence[int],
               dilation: Sequence[int], out: tuple[int, ...], tail: tuple[int, ...],
               dtype: Any, first: Callable[[np.ndarray, np.ndarray, int], None],
               step: Callable[[np.ndarray, np.ndarray, np.ndarray, int], None]) -> np.ndarray:
    """Reduce the strided tap views of padded ``xp`` block by block (cache-sized blocks of
    batch items and first-axis rows).

    ``first(acc, view, t)`` initializes a block of the (N, *out, *tail) result from tap 0,
    ``step(acc, view, tmp, t)`` folds in tap ``t`` (``tmp`` is a scratch block)."""
    n_batch = xp.shape[0]
    result = np.empty((n_batch,) + out + tail, dtype=dtype)
    if result.size == 0:
        return result
    views = [_tap_view(xp, tap, strides, dilation, out) for tap in taps]
    per_pos = max(1, math.prod(tail))

    def work(blocks: list[tuple[slice, slice]]) -> None:
        tmp_buf = None
        for bs, rs in blocks:
            acc = result[bs, rs]
            if tmp_buf is None or tmp_buf.size < acc.size:
                tmp_buf = np.empty(acc.size, dtype=dtype)
            tmp = tmp_buf[:acc.size].reshape(acc.shape)
            first(acc, views[0][bs, rs], 0)
            for t in range(1, len(views)):
                step(acc, views[t][bs, rs], tmp, t)

    # memory-bound: worker threads do not pay off here (measured), so one thread
    work(list(_blocks(n_batch, out, max(1, TAP_BLOCK_ELEMENTS // per_pos))))
    return result


def depthwise_conv_nd(x: np.ndarray, kernel: np.ndarray, strides: Sequence[int],
                      dilation: Sequence[int], pads: Sequence[tuple[int, int]]) -> np.ndarray:
    """Depthwise convolution of channels-last ``x`` with kernel (*k, channels, multiplier);
    output channel ``c * multiplier + m`` (TensorFlow's order)."""
    ksize = kernel.shape[:-2]
    chans, mult = kernel.shape[-2:]
    xp = pad_spatial(x, pads)
    out = tuple((n - dilated(k, d)) // s + 1
                for n, k, s, d in zip(xp.shape[1:-1], ksize, strides, dilation))
    dtype = np.result_type(xp.dtype, kernel.dtype)
    if mult == 1 and xp.size and min(out, default=1) > 0 and DEPTHWISE_EINSUM:
        return depthwise_einsum(xp, kernel, strides, dilation, out, dtype)
    taps = _taps(ksize)
    kt = kernel.reshape((len(taps), chans, mult))

    def first(acc, v, t):
        np.multiply(v[..., None], kt[t], out=acc)

    def step(acc, v, tmp, t):
        np.multiply(v[..., None], kt[t], out=tmp)
        acc += tmp

    acc = tap_reduce(xp, taps, strides, dilation, out, (chans, mult), dtype, first, step)
    return acc.reshape((xp.shape[0],) + out + (chans * mult,))


def conv_transpose_nd(x: np.ndarray, kernel: np.ndarray, strides: Sequence[int],
                      dilation: Sequence[int], out: Sequence[int], pad_before: Sequence[int],
                      ) -> np.ndarray:
    """Transposed convolution (the gradient of ``conv_nd``) of channels-last ``x`` with
    kernel (*k, filters, channels): one GEMM per tap, scattered into the full output, then
    cropped at ``pad_before`` to ``out``."""
    ksize = kernel.shape[:-2]
    filters, chans = kernel.shape[-2:]
    sizes = x.shape[1:-1]
    full = tuple(max((n - 1) * s + dilated(k, d), b + o)
                 for n, k, s, d, b, o in zip(sizes, ksize, strides, dilation, pad_before, out))
    dtype = np.result_type(x.dtype, kernel.dtype)
    buf = np.zeros((x.shape[0],) + full + (filters,), dtype=dtype)
    flat = np.ascontiguousarray(x).reshape(-1, chans)
    taps = _taps(ksize)
    kt = kernel.reshape(len(taps), filters, chans).transpose(0, 2, 1)
    tmp = np.empty((flat.shape[0], filters), dtype=dtype)
    shaped = tmp.reshape(x.shape[:-1] + (filters,))
    for t, tap in enumerate(taps):
        np.matmul(flat, kt[t], out=tmp)
        _tap_view(buf, tap, strides, dilation, sizes)[...] += shaped
    return buf[(slice(None),) + tuple(slice(b, b + o) for b, o in zip(pad_before, out))]


def transpose_pad_before(sizes: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                         dilation: Sequence[int], out: Sequence[int], padding: str) -> list[int]:
    """Where the transposed output starts in the full scatter: TensorFlow pads the forward
    convolution (from ``out`` back to ``sizes``) as for 'same'/'valid'."""
    if padding == "valid":
        return [0] * len(sizes)
    return [max((n - 1) * s + dilated(k, d) - o, 0) // 2
            for n, k, s, d, o in zip(sizes, kernel, strides, dilation, out)]
