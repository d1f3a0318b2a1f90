"""Convolution kernels on NumPy arrays, shared by the convolution, pooling and ConvLSTM
layers.

The window arithmetic (TensorFlow's) and the array helpers are in :mod:`.geometry`.

Every kernel runs on channels-last arrays (channels-first inputs are transposed while
being padded). A regular convolution is GEMMs on row blocks, never a Python loop over pixels
or batch items; :func:`conv_kernel` picks one of seven kernels by shape (measured with
tests/bench/bench_applications.py and tests/bench/bench_conv.py). Small convolutions
(DenseNet's 3x3 ones on 3x3 to 12x12 images, the 3-channel stems) copy their windows into
a cache-sized buffer and run one GEMM per buffer (:mod:`.im2col`: the other kernels'
bookkeeping costs more than their arithmetic there). 3x3
stride-1 convolutions with 64 or more channels and filters on images that are not tiny
run as Winograd F(2x2, 3x3) (:mod:`.winograd`: 16 multiply-adds per 2x2 block of outputs
and channel-filter pair instead of 36). Otherwise, with 64 or more channels it is one GEMM per
kernel tap, ``acc += x[shifted rows] @ w[tap]``, on zero-copy slices of the flattened padded
input for stride 1 ('grid_taps') or on gathered blocks otherwise ('gather_taps', which
skips the outputs where a tap reads only padding), so the input is never copied nine
times; 1x1 convolutions are one GEMM on the input; few channels use an im2col (deep GEMM)
in cache-sized blocks. The extra memory is one block plus the padded input. When BLAS is
pinned to one thread, large convolutions split their blocks over ``THREADS`` worker threads
(NumPy releases the GIL inside BLAS), as TensorFlow uses every core.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import im2col, winograd
from .depthwise_ops import depthwise_einsum
from .geometry import (
    _row_window_view,
    _tap_view,
    _taps,
    conv_output_length,
    conv_paddings,
    dilated,
    from_channels_last,
    pad_spatial,
    to_channels_last,
    transpose_output_length,
)
from .im2col import MAX_ELEMENTS, col_elements

#: the window arithmetic and array helpers are :mod:`.geometry`'s, also reachable here
__all__ = [
    "conv_nd", "conv_kernel", "depthwise_conv_nd", "tap_reduce", "conv_output_length",
    "conv_paddings", "dilated", "from_channels_last", "pad_spatial", "to_channels_last",
    "transpose_output_length",
]

#: target number of float elements in one im2col block (about 1 MB of float32)
BLOCK_ELEMENTS = 1 << 18
#: one GEMM per kernel tap: accumulator elements of one row block (cache-sized), and the
#: least rows of a block (shorter GEMMs lose speed)
TAP_ACC_ELEMENTS = 1 << 17
TAP_ROWS_MIN = 256
#: a tap whose real (not padding) inputs feed at most this share of the outputs computes
#: only those outputs (small images; measured: 3x3 'same' on 3x3 images 15-40% faster)
TAP_SKIP_BELOW = 0.8
#: fewer output positions than this (tiny images): one im2col GEMM instead
TAP_MIN_POSITIONS = 64
#: fewer input channels than this: im2col (a GEMM per tap would be too shallow)
TAP_MIN_CHANNELS = 64
#: the one-GEMM im2col (:mod:`.im2col`): at most this many floats of windows, and Winograd
#: with fewer than winograd.MIN_CHANNELS filters on fewer output tiles than this goes there
IM2COL_MAX_ELEMENTS = MAX_ELEMENTS
ONE_GEMM_MAX_TILES = 512
#: and the one-GEMM-per-tap kernel on gathered blocks with at most this many multiply-adds
#: in the im2col's GEMM: its per-tap bookkeeping costs more than the padding it skips
#: (measured, batch 2, one thread: InceptionV3's 1x7 and 7x1 convolutions of 160-192
#: channels on 4x4 images 0.6-0.8x the time, its 3x3 ones of 64-96 channels on 9x9 images
#: 0.6-0.75x; 256 channels on 6x6 images, 42M multiply-adds, the same time, and 512 on 3x3
#: images, where 40% of the taps' work is padding, 1.2x: those keep the tap kernel)
ONE_GEMM_MAX_MACS = 1 << 24
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


def conv_nd(x: np.ndarray, kernel: np.ndarray, strides: Sequence[int],
            dilation: Sequence[int], pads: Sequence[tuple[int, int]], groups: int = 1,
            memo: dict | None = None) -> np.ndarray:
    """N-d convolution (cross-correlation, as TensorFlow) of channels-last ``x``.

    Args:
        x: (batch, *spatial, channels).
        kernel: (*kernel_size, channels // groups, filters).
        strides, dilation: one int per spatial axis.
        pads: (before, after) zero padding per spatial axis.
        groups: channel groups (filters are split the same way).
        memo: a dict the caller keeps between calls (a layer's): what the shapes decide
            (:func:`_decide`: the kernel, the padded shape, an im2col's blocks) is kept in
            it for the next call with the same shapes, dtypes and settings.

    Returns:
        (batch, *out_spatial, filters), possibly a strided view.
    """
    if memo is not None:
        key = (x.shape, x.dtype, x.flags.c_contiguous, kernel.shape, kernel.dtype,
               tuple(strides), tuple(dilation), tuple(pads), groups, THREADS,
               BLOCK_ELEMENTS, IM2COL_MAX_ELEMENTS, im2col.BLOCK_ELEMENTS)
        held = memo.get("conv_plan")
        if held is None or held[0] != key:
            held = memo["conv_plan"] = (key,) + _decide(
                x.shape, x.dtype, x.flags.c_contiguous, kernel.shape, kernel.dtype, strides,
                dilation, pads, groups)
        kind, plan = held[1], held[2]
    else:
        kind, plan = _decide(x.shape, x.dtype, x.flags.c_contiguous, kernel.shape,
                             kernel.dtype, strides, dilation, pads, groups)
    if kind == "matmul":
        # the common 1x1 case as the one GEMM _conv_pointwise would run, without its
        # bookkeeping (10-20 us a call, measured: MobileNetV2 has 35 of them)
        return np.matmul(x.reshape(plan[0]), kernel.reshape(plan[1])).reshape(plan[2])
    if kind == "im2col_one":
        return plan.run(x, kernel)
    if kind == "empty":     # a window larger than the input
        return np.zeros(plan[0], dtype=plan[1])
    padded, out = plan
    if kind == "winograd":
        finite, u = winograd.kernel_info(kernel)   # (remembered per kernel array)
        if not (finite and np.isfinite(np.add.reduce(x, axis=None))):
            # +-inf inside Winograd's transforms gives inf - inf = NaN where the direct
            # sum keeps +-inf (as Keras): non-finite inputs (or sums overflowing) go the
            # direct way
            kind = conv_kernel(padded, kernel.shape, strides, out, groups)
    if kind == "winograd":  # whole 2x2 tiles: odd output sizes get one more zero row/col
        pads = [(b, a + e) for (b, a), e in zip(pads, winograd.extra_padding(out))]
        return winograd.conv_winograd(pad_spatial(x, pads), kernel, out, _run_blocks, u=u)
    if kind == "gather_taps" and kernel.shape[-1] >= TAP_MIN_CHANNELS:  # (few filters: the
        # GEMMs skipped cost less than the bookkeeping)
        return _conv_gather_taps(pad_spatial(x, pads), kernel, strides, dilation, out, groups,
                                 pads)
    return _CONV_KERNELS[kind](pad_spatial(x, pads), kernel, strides, dilation, out, groups)


def _decide(shape: tuple[int, ...], dtype: Any, contiguous: bool,
            kernel_shape: tuple[int, ...], kernel_dtype: Any, strides: Sequence[int],
            dilation: Sequence[int], pads: Sequence[tuple[int, int]], groups: int,
            ) -> tuple[str, Any]:
    """What :func:`conv_nd` works out from the shapes alone (what its ``memo`` keeps):
    ('matmul', (input rows shape, kernel shape, output shape)) for the plain 1x1 case,
    ('empty', (output shape, dtype)) when the window is larger than the padded input,
    ('im2col_one', an :class:`im2col.Plan`), or (a kernel of :func:`conv_kernel`,
    (padded shape, output size))."""
    ksize = kernel_shape[:-2]
    if groups == 1 and math.prod(shape) and contiguous and _plain_pointwise(
            ksize, strides, pads, math.prod(shape[:-1])):
        return "matmul", ((-1, shape[-1]), kernel_shape[-2:],
                          shape[:-1] + kernel_shape[-1:])
    sizes = tuple(n + b + a for n, (b, a) in zip(shape[1:-1], pads))
    out = tuple((n - dilated(k, d)) // s + 1
                for n, k, s, d in zip(sizes, ksize, strides, dilation))
    result_dtype = np.result_type(dtype, kernel_dtype)
    if any(o <= 0 for o in out):
        return "empty", ((shape[0],) + tuple(max(o, 0) for o in out) + kernel_shape[-1:],
                         result_dtype)
    padded = (shape[0],) + sizes + (shape[-1],)
    kind = conv_kernel(padded, kernel_shape, strides, out, groups, dilation, result_dtype)
    if kind == "im2col_one":
        return kind, im2col.Plan(shape, pads, kernel_shape, strides, dilation, out,
                                 result_dtype, np.dtype(dtype))
    return kind, (padded, out)


def im2col_buffer_bytes(shape: Sequence[int], kernel_shape: Sequence[int],
                        strides: Sequence[int], dilation: Sequence[int], padding: str,
                        groups: int, dtype: Any) -> int:
    """Bytes of the window buffer :func:`conv_nd` makes for a C-contiguous channels-last
    input of ``shape`` when it runs the convolution as :mod:`.im2col`'s one GEMM per block,
    else 0 (for a layer's activation budget)."""
    pads = conv_paddings(shape[1:-1], kernel_shape[:-2], strides, dilation, padding)
    kind, plan = _decide(tuple(shape), dtype, True, tuple(kernel_shape), dtype, strides,
                         dilation, pads, groups)
    return plan.col_bytes() if kind == "im2col_one" else 0


def _plain_pointwise(ksize: Sequence[int], strides: Sequence[int],
                     pads: Sequence[tuple[int, int]], rows: int) -> bool:
    """Whether a convolution is 1x1, stride 1 and unpadded, with few enough rows (or the
    worker threads off) that :func:`_conv_pointwise` would run it as one GEMM."""
    if any(k != 1 for k in ksize) or any(s != 1 for s in strides) or \
            any(b or a for b, a in pads):
        return False
    return THREADS <= 1 or rows < 2 * TAP_ROWS_MIN


def conv_kernel(padded_shape: Sequence[int], kernel_shape: Sequence[int],
                strides: Sequence[int], out: Sequence[int], groups: int,
                dilation: Sequence[int] | None = None, dtype: Any = None) -> str:
    """Which kernel :func:`conv_nd` runs (chosen by measurement, tests/bench):

    * ``'im2col_one'`` (only when ``dilation`` and ``dtype`` are given): small
      convolutions, one window copy and one GEMM (:mod:`.im2col`), where the others would
      run an im2col, or one GEMM per tap over every output (few filters), or Winograd
      with few filters and tiles (:func:`_one_gemm`);
    * ``'winograd'`` (only when ``dilation`` and ``dtype`` are given): 3x3 stride 1 with
      many channels and tiles, Winograd F(2x2, 3x3) (:mod:`.winograd`);
    * ``'pointwise'``: 1x1 stride 1, one GEMM on the input itself;
    * ``'grid_taps'``: stride 1, >= TAP_MIN_CHANNELS channels, images large enough that the
      padded grid adds at most GRID_MAX_WASTE: one GEMM per tap on shifted slices, no copy;
    * ``'gather_taps'``: other convolutions of >= TAP_MIN_CHANNELS channels (small images,
      strides, dilation; tiny images with >= TAP_MIN_CHANNELS filters): one GEMM per tap on
      a gathered block, skipping the outputs for which a tap reads only padding;
    * ``'grid_im2col'``: stride 1 with few channels: an im2col of the grid, one deep GEMM;
    * ``'im2col'``: the rest (groups, strides with few channels, tiny images with few
      filters)."""
    ksize, chans = kernel_shape[:-2], padded_shape[-1]
    stride1 = all(s == 1 for s in strides)
    if groups != 1 or math.prod(padded_shape) == 0:
        return "im2col"
    if dilation is not None and dtype is not None:
        wino = winograd.use_winograd(padded_shape, kernel_shape, strides, dilation, out,
                                     groups, dtype)
        base = "winograd" if wino else conv_kernel(padded_shape, kernel_shape, strides, out,
                                                   groups)
        return "im2col_one" if _one_gemm(base, padded_shape, kernel_shape, out) else base
    if stride1 and math.prod(ksize) == 1:
        return "pointwise"
    if chans < TAP_MIN_CHANNELS:
        return "grid_im2col" if stride1 else "im2col"
    # rows of the padded grid computed per valid output by the grid kernels
    if stride1 and math.prod(padded_shape[1:-1]) <= GRID_MAX_WASTE * math.prod(out):
        return "grid_taps"
    if padded_shape[0] * math.prod(out) >= TAP_MIN_POSITIONS or \
            kernel_shape[-1] >= TAP_MIN_CHANNELS:
        return "gather_taps"
    return "im2col"


def _one_gemm(base: str, padded_shape: Sequence[int], kernel_shape: Sequence[int],
              out: Sequence[int]) -> bool:
    """Whether a convolution that ``base`` would run goes to :mod:`.im2col` instead: its
    windows hold at most IM2COL_MAX_ELEMENTS floats, it is too small for the worker
    threads (when they are on), and ``base`` is an im2col (the same sum), one GEMM per tap
    over every output (fewer than TAP_MIN_CHANNELS filters: conv_nd skips no padding
    then) or on gathered blocks of a small convolution (ONE_GEMM_MAX_MACS), or Winograd
    with few filters on few tiles (its memory-bound transforms cost
    about what they save; measured in DenseNet121 at 96x96, batch 2, 128 channels into 32
    filters: 0.8x Winograd's CPU time on 12x12 images, 0.9x on 24x24)."""
    cols = col_elements(padded_shape[0], out, kernel_shape)
    filters = kernel_shape[-1]
    if cols > IM2COL_MAX_ELEMENTS or (THREADS > 1 and cols * filters >= PARALLEL_FLOPS):
        return False
    if base == "winograd":
        return filters < winograd.MIN_CHANNELS and \
            padded_shape[0] * math.prod(-(-o // 2) for o in out) < ONE_GEMM_MAX_TILES
    return base in ("im2col", "grid_im2col") or (base == "gather_taps" and (
        filters < TAP_MIN_CHANNELS or cols * filters <= ONE_GEMM_MAX_MACS))


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


def _tap_boxes(taps: list[tuple[int, ...]], strides: Sequence[int], dilation: Sequence[int],
               out: Sequence[int], pads: Sequence[tuple[int, int]] | None,
               sizes: Sequence[int]) -> list[tuple[tuple[int, int], ...]]:
    """Per kernel tap, the (first, stop) range of outputs along each spatial axis whose
    input position is inside the unpadded input (the rest of the tap reads only padding
    zeros, whose products add exactly nothing); every output when that range holds more
    than TAP_SKIP_BELOW of them (then skipping costs more than it saves)."""
    whole = tuple((0, o) for o in out)
    if pads is None:
        return [whole] * len(taps)
    boxes = []
    for tap in taps:
        box = []
        for t, s, d, o, (b, _), n in zip(tap, strides, dilation, out, pads, sizes):
            # output i reads padded position i * s + t * d, inside when b <= it < b + n
            first = min(o, max(0, -(-(b - t * d) // s)))
            box.append((first, max(first, min(o, (b + n - 1 - t * d) // s + 1))))
        kept = math.prod(b - a for a, b in box) / max(1, math.prod(out))
        boxes.append(tuple(box) if kept <= TAP_SKIP_BELOW else whole)
    return boxes


def _conv_gather_taps(xp: np.ndarray, kernel: np.ndarray, strides: Sequence[int],
                      dilation: Sequence[int], out: tuple[int, ...], groups: int = 1,
                      pads: Sequence[tuple[int, int]] | None = None) -> np.ndarray:
    """Convolution as one GEMM per kernel tap on gathered valid positions: for a block of
    output positions, each tap's strided view is copied into a (rows, channels) buffer and
    ``acc += buffer @ w[t]``; buffer, scratch and accumulator stay in cache, and the extra
    memory is one block, not the nine-fold im2col. With ``pads`` (the zero padding of
    ``xp``), a tap only computes the outputs whose input is not padding: on small images
    that skips a large share of the products (a 3x3 'same' kernel on a 3x3 image: 32 of 81),
    and adds exactly what the padding's zeros would have added, nothing."""
    n_batch, chans = xp.shape[0], xp.shape[-1]
    ksize, filters = kernel.shape[:-2], kernel.shape[-1]
    taps = _taps(ksize)
    wt = kernel.reshape(len(taps), chans, filters)
    dtype = np.result_type(xp.dtype, kernel.dtype)
    result = np.empty((n_batch,) + out + (filters,), dtype=dtype)
    views = [_tap_view(xp, tap, strides, dilation, out) for tap in taps]
    sizes = xp.shape[1:-1] if pads is None else \
        tuple(n - b - a for n, (b, a) in zip(xp.shape[1:-1], pads))
    boxes = _tap_boxes(taps, strides, dilation, out, pads, sizes)
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

    def work_skipping(blocks: list[tuple[slice, slice]]) -> None:
        for bs, rs in blocks:
            nb = bs.stop - bs.start
            shape = (nb, rs.stop - rs.start) + out[1:]
            m = math.prod(shape)
            g_buf = np.empty(m * chans, dtype=xp.dtype)
            t_buf = np.empty(m * filters, dtype=dtype)
            block = result[bs, rs]
            dest = block.reshape(m, filters)
            started = False
            for t, v in enumerate(views):
                (r0, r1), *rest = boxes[t]
                r0, r1 = max(r0, rs.start) - rs.start, min(r1, rs.stop) - rs.start
                sub = (nb, r1 - r0) + tuple(b - a for a, b in rest)
                if min(sub) <= 0:
                    continue   # this tap reads only padding in this block
                full = sub == shape
                k = math.prod(sub)
                gathered = g_buf[:k * chans].reshape(sub + (chans,))
                np.copyto(gathered, v[bs, rs][(slice(None), slice(r0, r1)) + tuple(
                    slice(a, b) for a, b in rest)])
                flat = gathered.reshape(k, chans)
                if full and not started:
                    np.matmul(flat, wt[t], out=dest)
                    started = True
                    continue
                if not started:
                    dest[...] = 0
                    started = True
                tmp = t_buf[:k * filters].reshape(k, filters)
                np.matmul(flat, wt[t], out=tmp)
                if full:
                    dest += tmp
                else:
                    block[(slice(None), slice(r0, r1)) + tuple(slice(a, b) for a, b in rest)] \
                        += tmp.reshape(sub + (filters,))
            if not started:
                dest[...] = 0

    whole = tuple((0, o) for o in out)
    _run_blocks(work if all(b == whole for b in boxes) else work_skipping,
                list(_blocks(n_batch, out, row_budget)), result.size * len(taps) * chans)
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
