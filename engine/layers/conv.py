"""Convolution layers: Conv1D/2D/3D, their transposes, separable and depthwise convolutions.

The arithmetic follows TensorFlow (what Keras 2 and Keras 3 on the TF backend compute):

* ``'valid'``: ``out = (in - dk) // stride + 1`` with ``dk = (k - 1) * dilation + 1``.
* ``'same'``: ``out = ceil(in / stride)``; the padding ``max((out - 1) * stride + dk - in, 0)``
  is split with the extra element at the end.
* ``'causal'`` (Conv1D, SeparableConv1D): ``dk - 1`` zeros on the left, then ``'valid'``.
* transposed: ``valid -> (in - 1) * s + dk + op`` (``op`` defaults to ``max(dk, s) - dk``),
  ``same -> in * s`` or ``(in - 1) * s + dk % 2 + op`` when ``output_padding`` is given.

Every convolution runs on channels-last arrays (channels-first inputs are transposed while
being padded). A regular convolution is an im2col GEMM done in row blocks: the block's
column buffer stays in cache and each block is one BLAS call, so there is no Python loop
over pixels or batch items, and the extra memory is one block plus the padded input. When
BLAS is pinned to one thread, large convolutions split their blocks over ``THREADS`` worker
threads (NumPy releases the GIL inside BLAS), as TensorFlow uses every core.
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

from ..errors import ConfigError
from ..fields import (
    KERAS2,
    KERAS3,
    REQUIRED,
    Activation,
    Bool,
    Choice,
    Constraint,
    Initializer,
    Int,
    IntTuple,
    Regularizer,
)
from ..registry import current_format
from .base import InputSpec, Layer, activity_regularizer_field, kernel_bias_fields

#: target number of float elements in one im2col block (about 1 MB of float32)
BLOCK_ELEMENTS = 1 << 18


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


CHANNEL_FORMATS = ("channels_last", "channels_first")


class DataFormat(Choice):
    """``channels_last`` or ``channels_first``; None means Keras's default, channels_last."""

    def __init__(self, name: str = "data_format", default: Any = "channels_last",
                 doc: str = "", **kw: Any):
        super().__init__(name, default, doc or "Where the channels axis is: last "
                         "(batch, ..., channels) or first (batch, channels, ...).",
                         choices=CHANNEL_FORMATS, **kw)

    def validate(self, value: Any, path: str) -> Any:
        if value is None:
            return "channels_last"
        return super().validate(value, path)


def padding_field(causal: bool = False, name: str = "padding") -> Choice:
    choices = ("valid", "same", "causal") if causal else ("valid", "same")
    doc = "'valid' (no padding), 'same' (output size ceil(in / stride))"
    doc += ", 'causal' (left padding only)." if causal else "."
    return Choice(name, "valid", doc, choices=choices)


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


def check_window_fits(layer: Layer, sizes: Sequence[int | None], kernel: Sequence[int],
                      dilation: Sequence[int], padding: str, what: str = "kernel_size") -> None:
    """A 'valid' window larger than the input has no output: say so, naming the layer."""
    if padding != "valid":
        return
    for axis, (n, k, d) in enumerate(zip(sizes, kernel, dilation)):
        if n is not None and dilated(k, d) > n:
            eff = f" (dilated to {dilated(k, d)})" if d > 1 else ""
            raise ConfigError(
                layer._path + "." + what if layer._path else what,
                f"{type(layer).__name__} {layer.name!r}: {what} {tuple(kernel)}{eff} is larger "
                f"than the input's spatial size {tuple(sizes)} on spatial axis {axis} with "
                f"padding 'valid'; the output would be empty (use padding='same' or a smaller "
                f"{what})")


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
    if groups == 1 and all(s == 1 for s in strides) and xp.size:
        return _conv_stride1(xp, kernel, dilation, out)
    return _conv_blocked(xp, kernel, strides, dilation, out, groups)


def _conv_stride1(xp: np.ndarray, kernel: np.ndarray, dilation: Sequence[int],
                  out: tuple[int, ...]) -> np.ndarray:
    """Stride-1 convolution on the padded grid, flattened: every kernel tap reads the rows
    of the flattened input shifted by a constant offset, and the taps along the last axis
    are one overlapping window of the row, so a block's im2col is a few big copies. Rows of
    the grid that are not valid outputs are computed and dropped (a few percent)."""
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
    views = [_tap_view(xp, tap, strides, dilation, out) for tap in taps]
    row_budget = _block_rows(n_taps * chans, xp.size + result.size)

    def work(blocks: list[tuple[slice, slice]]) -> None:
        for bs, rs in blocks:
            nb = bs.stop - bs.start
            shape = (nb, rs.stop - rs.start) + out[1:]
            m = math.prod(shape)
            col = np.empty(shape + (groups, n_taps, cg), dtype=xp.dtype)
            for t, v in enumerate(views):
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


#: output elements per block of the tap-by-tap loops (depthwise, pooling): L2-sized
TAP_BLOCK_ELEMENTS = 1 << 16


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
    taps = _taps(ksize)
    kt = kernel.reshape((len(taps), chans, mult))

    def first(acc, v, t):
        np.multiply(v[..., None], kt[t], out=acc)

    def step(acc, v, tmp, t):
        np.multiply(v[..., None], kt[t], out=tmp)
        acc += tmp

    acc = tap_reduce(xp, taps, strides, dilation, out, (chans, mult),
                     np.result_type(xp.dtype, kernel.dtype), first, step)
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


# -- layers ------------------------------------------------------------------------------

_LORA = ("lora_rank", "lora_alpha")


class BaseConv(Layer):
    """Shared machinery of the convolution layers (abstract)."""

    abstract = True
    rank: int = 2
    allow_causal = False
    #: Keras refuses strides > 1 together with dilation_rate > 1 for this class
    refuse_strided_dilation = True

    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def _spatial(self, shape: Sequence[int | None]) -> tuple[int | None, ...]:
        shape = tuple(shape)
        return shape[1:-1] if self.data_format == "channels_last" else shape[2:]

    def _with_spatial(self, batch, spatial, channels) -> tuple:
        if self.data_format == "channels_last":
            return (batch,) + tuple(spatial) + (channels,)
        return (batch, channels) + tuple(spatial)

    def _check_rank(self, shape: Sequence[Any]) -> None:
        if len(shape) != self.rank + 2:
            raise ValueError(f"{type(self).__name__} {self.name!r} expects inputs of rank "
                             f"{self.rank + 2} (batch, {self.rank} spatial axes, channels), "
                             f"got shape {tuple(shape)}")

    def _input_channels(self, shape: Sequence[int | None]) -> int:
        self._check_rank(shape)
        c = shape[self._channel_axis()]
        if c is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the channel dimension of "
                             f"the inputs must be known, got shape {tuple(shape)}")
        return int(c)

    def _check_basics(self) -> None:
        if self.refuse_strided_dilation and max(self.strides) > 1 and \
                max(self.dilation_rate) > 1:
            raise self.config_error(
                "dilation_rate", f"strides > 1 together with dilation_rate > 1 is not "
                f"supported by Keras; got strides={list(self.strides)} and "
                f"dilation_rate={list(self.dilation_rate)}")
        if self.padding == "causal" and not self.allow_causal:
            raise self.config_error("padding", f"'causal' padding is only supported by "
                                    f"Conv1D and SeparableConv1D, not {type(self).__name__}")

    @staticmethod
    def _w(var: Any, x: np.ndarray) -> np.ndarray:
        """A weight in the compute dtype of ``x`` (float16 under mixed_float16)."""
        return var.value.astype(x.dtype, copy=False)

    def _bias_act(self, y: np.ndarray) -> np.ndarray:
        """Add the bias (in place: ``y`` is this call's own buffer) and activate."""
        if self.bias is not None:
            y += self.bias.value
        if getattr(self.activation, "name", None) == "linear" and \
                not getattr(self.activation, "custom", False):
            return y
        return self.activation(y)

    def _windowed_output_shape(self, input_shape, channels_out) -> tuple:
        shape = tuple(input_shape)
        self._check_rank(shape)
        spatial = self._spatial(shape)
        check_window_fits(self, spatial, self.kernel_size, self.dilation_rate, self.padding)
        out = tuple(conv_output_length(n, k, s, d, self.padding) for n, k, s, d in
                    zip(spatial, self.kernel_size, self.strides, self.dilation_rate))
        return self._with_spatial(shape[0], out, channels_out)

    def _pads(self, x_cl: np.ndarray) -> list[tuple[int, int]]:
        sizes = x_cl.shape[1:-1]
        check_window_fits(self, sizes, self.kernel_size, self.dilation_rate, self.padding)
        return conv_paddings(sizes, self.kernel_size, self.strides, self.dilation_rate,
                             self.padding)


def conv_fields(rank: int, causal: bool = False) -> tuple:
    return (
        Int("filters", REQUIRED, "Number of output channels.", min=1),
        IntTuple("kernel_size", REQUIRED, "Size of the convolution window.", length=rank,
                 min=1),
        IntTuple("strides", 1, "Step of the window along each spatial axis.", length=rank,
                 min=1),
        padding_field(causal),
        DataFormat(),
        IntTuple("dilation_rate", 1, "Spacing between kernel taps (atrous convolution).",
                 length=rank, min=1),
        Int("groups", 1, "Channel groups: input and output channels are split into this many "
            "independent convolutions.", min=1),
        Activation("activation", None),
        Bool("use_bias", True, "Whether to add a bias vector."),
        *kernel_bias_fields(keras3_activity_always=True),
    )


class Conv(BaseConv):
    """N-d convolution (abstract; see Conv1D, Conv2D, Conv3D)."""

    abstract = True
    ignored_keys = _LORA

    def _post_init(self) -> None:
        self._check_basics()
        if self.filters % self.groups:
            raise self.config_error("groups", f"filters ({self.filters}) must be divisible "
                                    f"by groups ({self.groups})")

    def build(self, input_shape):
        chans = self._input_channels(input_shape)
        if chans % self.groups:
            raise self.config_error(
                "groups", f"{type(self).__name__} {self.name!r}: the input's {chans} channels "
                f"are not divisible by groups={self.groups} (input shape "
                f"{tuple(input_shape)})")
        self._windowed_output_shape(input_shape, self.filters)
        self.kernel = self.add_weight(
            "kernel", self.kernel_size + (chans // self.groups, self.filters),
            self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint, field="kernel_initializer")
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint,
                                        field="bias_initializer")
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): chans})

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        y = conv_nd(x, self._w(self.kernel, x), self.strides, self.dilation_rate, self._pads(x),
                    self.groups)
        return from_channels_last(self._bias_act(y), self.data_format)

    def compute_output_shape(self, input_shape):
        return self._windowed_output_shape(input_shape, self.filters)


class Conv1D(Conv):
    """1-D convolution (temporal), ``padding`` may be 'causal'.

    Input shape: ``(batch, steps, channels)`` (channels_first: ``(batch, channels, steps)``).
    Output shape: ``(batch, new_steps, filters)``.
    Weights: ``kernel (k, channels // groups, filters)``, ``bias (filters,)``.
    """

    rank = 1
    allow_causal = True
    aliases = ("Convolution1D",)
    fields = conv_fields(1, causal=True)


class Conv2D(Conv):
    """2-D convolution (images).

    Input shape: ``(batch, rows, cols, channels)`` (channels_first: channels at axis 1).
    Output shape: ``(batch, new_rows, new_cols, filters)``.
    Weights: ``kernel (kh, kw, channels // groups, filters)``, ``bias (filters,)``.

    Example:
        >>> Conv2D(64, 3, padding="same").build((None, 32, 32, 3))
    """

    rank = 2
    aliases = ("Convolution2D",)
    fields = conv_fields(2)


class Conv3D(Conv):
    """3-D convolution (volumes).

    Input shape: ``(batch, d1, d2, d3, channels)`` (channels_first: channels at axis 1).
    Output shape: ``(batch, n1, n2, n3, filters)``.
    Weights: ``kernel (k1, k2, k3, channels // groups, filters)``, ``bias (filters,)``.
    """

    rank = 3
    aliases = ("Convolution3D",)
    fields = conv_fields(3)


# -- transposed --------------------------------------------------------------------------


def conv_transpose_fields(rank: int, keras2_dilation: bool = True) -> tuple:
    return (
        Int("filters", REQUIRED, "Number of output channels.", min=1),
        IntTuple("kernel_size", REQUIRED, "Size of the convolution window.", length=rank,
                 min=1),
        IntTuple("strides", 1, "Upsampling step along each spatial axis.", length=rank,
                 min=1),
        padding_field(False),
        IntTuple("output_padding", None, "Extra rows/cols added at the end of each spatial "
                 "axis (each < its stride); None infers it.", length=rank, min=0),
        DataFormat(),
        IntTuple("dilation_rate", 1, "Spacing between kernel taps.", length=rank, min=1,
                 formats=(KERAS3, KERAS2) if keras2_dilation else (KERAS3,)),
        Int("groups", 1, "Keras 2 only: written by tf.keras and ignored by its transposed "
            "convolutions.", min=1, formats=(KERAS2,)),
        Activation("activation", None),
        Bool("use_bias", True, "Whether to add a bias vector."),
        *kernel_bias_fields(keras3_activity_always=True),
    )


_TRANSPOSE_K2_ORDER = (
    "name", "trainable", "dtype", "batch_input_shape", "filters", "kernel_size", "strides",
    "padding", "data_format", "dilation_rate", "groups", "activation", "use_bias",
    "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
    "activity_regularizer", "kernel_constraint", "bias_constraint", "output_padding")


class ConvTranspose(BaseConv):
    """Transposed convolution (abstract; see Conv1DTranspose, Conv2DTranspose, ...)."""

    abstract = True
    keras2_order = _TRANSPOSE_K2_ORDER

    def _post_init(self) -> None:
        self._check_basics()
        if self.filters % self.groups:
            raise self.config_error("groups", f"filters ({self.filters}) must be divisible "
                                    f"by groups ({self.groups})")
        if self.output_padding is not None:
            for i, (op, s) in enumerate(zip(self.output_padding, self.strides)):
                if op >= s:
                    raise self.config_error(
                        "output_padding", f"each value must be smaller than the stride; at "
                        f"axis {i} output_padding is {op} and strides is {s} (got "
                        f"output_padding={list(self.output_padding)}, "
                        f"strides={list(self.strides)})")
                dk = dilated(self.kernel_size[i], self.dilation_rate[i])
                if self.padding == "same" and op == 0 and dk % 2 == 0:
                    raise self.config_error(
                        "output_padding", f"0 at axis {i} with padding 'same' and an even "
                        f"(dilated) kernel size {dk} gives an output length TensorFlow's "
                        f"transposed convolution refuses at call time (Keras fails there); "
                        f"use output_padding >= 1 or None")

    def build(self, input_shape):
        chans = self._input_channels(input_shape)
        self.kernel = self.add_weight(
            "kernel", self.kernel_size + (self.filters, chans), self.kernel_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
            field="kernel_initializer")
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint,
                                        field="bias_initializer")
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): chans})

    def _out_sizes(self, sizes: Sequence[int | None]) -> tuple[int | None, ...]:
        ops = self.output_padding or (None,) * self.rank
        return tuple(transpose_output_length(n, k, s, d, self.padding, op) for n, k, s, d, op
                     in zip(sizes, self.kernel_size, self.strides, self.dilation_rate, ops))

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        sizes = x.shape[1:-1]
        out = self._out_sizes(sizes)
        before = transpose_pad_before(sizes, self.kernel_size, self.strides,
                                      self.dilation_rate, out, self.padding)
        y = conv_transpose_nd(x, self._w(self.kernel, x), self.strides, self.dilation_rate, out,
                              before)
        return from_channels_last(self._bias_act(y), self.data_format)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        self._check_rank(shape)
        return self._with_spatial(shape[0], self._out_sizes(self._spatial(shape)),
                                  self.filters)


class Conv1DTranspose(ConvTranspose):
    """1-D transposed convolution.

    Input shape: ``(batch, steps, channels)``. Output shape: ``(batch, new_steps, filters)``
    with ``new_steps`` as in the module docstring.
    Weights: ``kernel (k, filters, channels)``, ``bias (filters,)``.
    """

    rank = 1
    aliases = ("Convolution1DTranspose",)
    fields = conv_transpose_fields(1)


class Conv2DTranspose(ConvTranspose):
    """2-D transposed convolution ("deconvolution").

    Input shape: ``(batch, rows, cols, channels)``.
    Output shape: ``(batch, new_rows, new_cols, filters)``.
    Weights: ``kernel (kh, kw, filters, channels)``, ``bias (filters,)``.
    """

    rank = 2
    aliases = ("Convolution2DTranspose",)
    fields = conv_transpose_fields(2)


class Conv3DTranspose(ConvTranspose):
    """3-D transposed convolution. tf.keras 2 neither writes nor applies ``dilation_rate``
    here; a Keras 2 config therefore runs undilated, as tf.keras does.

    Input shape: ``(batch, d1, d2, d3, channels)``.
    Output shape: ``(batch, n1, n2, n3, filters)``.
    Weights: ``kernel (k1, k2, k3, filters, channels)``, ``bias (filters,)``.
    """

    rank = 3
    aliases = ("Convolution3DTranspose",)
    fields = conv_transpose_fields(3, keras2_dilation=False)
    keras2_order = tuple(k for k in _TRANSPOSE_K2_ORDER if k != "dilation_rate")

    def _post_init(self) -> None:
        if current_format() == KERAS2:
            self._values["dilation_rate"] = self.dilation_rate = (1, 1, 1)
        super()._post_init()


# -- depthwise ---------------------------------------------------------------------------


def depthwise_fields(rank: int) -> tuple:
    return (
        Int("depth_multiplier", 1, "Output channels per input channel.", min=1),
        IntTuple("kernel_size", REQUIRED, "Size of the convolution window.", length=rank,
                 min=1),
        IntTuple("strides", 1, "Step of the window along each spatial axis.", length=rank,
                 min=1),
        padding_field(False),
        DataFormat(),
        IntTuple("dilation_rate", 1, "Spacing between kernel taps.", length=rank, min=1),
        Int("groups", 1, "Keras 2 only: written by tf.keras, ignored by its depthwise "
            "convolutions.", min=1, formats=(KERAS2,)),
        Activation("activation", None),
        Bool("use_bias", True, "Whether to add a bias vector."),
        Initializer("depthwise_initializer", "glorot_uniform",
                    "Initializer of the depthwise kernel."),
        Initializer("bias_initializer", "zeros", "Initializer of the bias."),
        Regularizer("depthwise_regularizer", None, "Penalty on the depthwise kernel."),
        Regularizer("bias_regularizer", None, "Penalty on the bias."),
        activity_regularizer_field(keras3_always=True),
        Constraint("depthwise_constraint", None, "Constraint on the depthwise kernel."),
        Constraint("bias_constraint", None, "Constraint on the bias."),
    )


_DEPTHWISE_K2_ORDER = (
    "name", "trainable", "dtype", "batch_input_shape", "kernel_size", "strides", "padding",
    "data_format", "dilation_rate", "groups", "activation", "use_bias", "bias_initializer",
    "bias_regularizer", "activity_regularizer", "bias_constraint", "depth_multiplier",
    "depthwise_initializer", "depthwise_regularizer", "depthwise_constraint")


class DepthwiseConv(BaseConv):
    """Depthwise convolution (abstract): each input channel has its own
    ``depth_multiplier`` filters."""

    abstract = True
    keras2_order = _DEPTHWISE_K2_ORDER
    #: Keras 3 computes strided dilated depthwise convolutions (tf.keras 2 refused them)
    refuse_strided_dilation = False

    @classmethod
    def _positional_names(cls) -> list[str]:
        # Keras's signature: (kernel_size, strides, padding, depth_multiplier, ...)
        names = super()._positional_names()
        names.remove("depth_multiplier")
        return names[:3] + ["depth_multiplier"] + names[3:]

    def _post_init(self) -> None:
        self._check_basics()

    def build(self, input_shape):
        chans = self._input_channels(input_shape)
        self._windowed_output_shape(input_shape, chans * self.depth_multiplier)
        self.kernel = self.add_weight(
            "kernel", self.kernel_size + (chans, self.depth_multiplier),
            self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint, field="depthwise_initializer")
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (chans * self.depth_multiplier,),
                                        self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint,
                                        field="bias_initializer")
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): chans})

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        y = depthwise_conv_nd(x, self._w(self.kernel, x), self.strides, self.dilation_rate,
                              self._pads(x))
        return from_channels_last(self._bias_act(y), self.data_format)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        self._check_rank(shape)
        c = shape[self._channel_axis()]
        return self._windowed_output_shape(shape, None if c is None else
                                           c * self.depth_multiplier)


class DepthwiseConv1D(DepthwiseConv):
    """1-D depthwise convolution.

    Input shape: ``(batch, steps, channels)``.
    Output shape: ``(batch, new_steps, channels * depth_multiplier)``.
    Weights: ``kernel (k, channels, depth_multiplier)``, ``bias (channels * mult,)``.
    """

    rank = 1
    fields = depthwise_fields(1)


class DepthwiseConv2D(DepthwiseConv):
    """2-D depthwise convolution.

    Input shape: ``(batch, rows, cols, channels)``.
    Output shape: ``(batch, new_rows, new_cols, channels * depth_multiplier)``.
    Weights: ``kernel (kh, kw, channels, depth_multiplier)``, ``bias (channels * mult,)``.
    """

    rank = 2
    fields = depthwise_fields(2)


# -- separable ---------------------------------------------------------------------------


def separable_fields(rank: int, causal: bool = False) -> tuple:
    return (
        Int("depth_multiplier", 1, "Depthwise output channels per input channel.", min=1),
        Int("filters", REQUIRED, "Number of output channels.", min=1),
        IntTuple("kernel_size", REQUIRED, "Size of the depthwise window.", length=rank, min=1),
        IntTuple("strides", 1, "Step of the window along each spatial axis.", length=rank,
                 min=1),
        padding_field(causal),
        DataFormat(),
        IntTuple("dilation_rate", 1, "Spacing between kernel taps.", length=rank, min=1),
        Int("groups", 1, "Keras 2 only: written by tf.keras, ignored by its separable "
            "convolutions.", min=1, formats=(KERAS2,)),
        Activation("activation", None),
        Bool("use_bias", True, "Whether to add a bias vector."),
        Initializer("kernel_initializer", "glorot_uniform", "Keras 2 only: written by "
                    "tf.keras, unused.", formats=(KERAS2,)),
        Initializer("depthwise_initializer", "glorot_uniform",
                    "Initializer of the depthwise kernel."),
        Initializer("pointwise_initializer", "glorot_uniform",
                    "Initializer of the pointwise kernel."),
        Initializer("bias_initializer", "zeros", "Initializer of the bias."),
        Regularizer("kernel_regularizer", None, "Keras 2 only: written by tf.keras, unused.",
                    formats=(KERAS2,)),
        Regularizer("depthwise_regularizer", None, "Penalty on the depthwise kernel."),
        Regularizer("pointwise_regularizer", None, "Penalty on the pointwise kernel."),
        Regularizer("bias_regularizer", None, "Penalty on the bias."),
        activity_regularizer_field(keras3_always=True),
        Constraint("kernel_constraint", None, "Keras 2 only: written by tf.keras, unused.",
                   formats=(KERAS2,)),
        Constraint("depthwise_constraint", None, "Constraint on the depthwise kernel."),
        Constraint("pointwise_constraint", None, "Constraint on the pointwise kernel."),
        Constraint("bias_constraint", None, "Constraint on the bias."),
    )


_SEPARABLE_K2_ORDER = (
    "name", "trainable", "dtype", "batch_input_shape", "filters", "kernel_size", "strides",
    "padding", "data_format", "dilation_rate", "groups", "activation", "use_bias",
    "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
    "activity_regularizer", "kernel_constraint", "bias_constraint", "depth_multiplier",
    "depthwise_initializer", "pointwise_initializer", "depthwise_regularizer",
    "pointwise_regularizer", "depthwise_constraint", "pointwise_constraint")


class SeparableConv(BaseConv):
    """Depthwise then pointwise (1x1) convolution (abstract)."""

    abstract = True
    keras2_order = _SEPARABLE_K2_ORDER
    refuse_strided_dilation = False

    @classmethod
    def _positional_names(cls) -> list[str]:
        # Keras's signature: (filters, kernel_size, strides, padding, data_format,
        # dilation_rate, depth_multiplier, ...)
        names = super()._positional_names()
        names.remove("depth_multiplier")
        return names[:6] + ["depth_multiplier"] + names[6:]

    def _post_init(self) -> None:
        self._check_basics()

    def build(self, input_shape):
        chans = self._input_channels(input_shape)
        self._windowed_output_shape(input_shape, self.filters)
        mult = self.depth_multiplier
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (chans, mult), self.depthwise_initializer,
            regularizer=self.depthwise_regularizer, constraint=self.depthwise_constraint,
            field="depthwise_initializer")
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1,) * self.rank + (chans * mult, self.filters),
            self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint, field="pointwise_initializer")
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint,
                                        field="bias_initializer")
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): chans})

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        d = depthwise_conv_nd(x, self._w(self.depthwise_kernel, x), self.strides,
                              self.dilation_rate, self._pads(x))
        pw = self._w(self.pointwise_kernel, x)
        y = (d.reshape(-1, d.shape[-1]) @ pw.reshape(pw.shape[-2:])).reshape(
            d.shape[:-1] + pw.shape[-1:])  # one GEMM, not one per row
        return from_channels_last(self._bias_act(y), self.data_format)

    def compute_output_shape(self, input_shape):
        return self._windowed_output_shape(input_shape, self.filters)


class SeparableConv1D(SeparableConv):
    """1-D depthwise-separable convolution ('causal' padding as in tf.keras 2).

    Input shape: ``(batch, steps, channels)``. Output shape: ``(batch, new_steps, filters)``.
    Weights: ``depthwise_kernel (k, channels, mult)``,
    ``pointwise_kernel (1, channels * mult, filters)``, ``bias (filters,)``.
    """

    rank = 1
    allow_causal = True
    aliases = ("SeparableConvolution1D",)
    fields = separable_fields(1, causal=True)


class SeparableConv2D(SeparableConv):
    """2-D depthwise-separable convolution.

    Input shape: ``(batch, rows, cols, channels)``.
    Output shape: ``(batch, new_rows, new_cols, filters)``.
    Weights: ``depthwise_kernel (kh, kw, channels, mult)``,
    ``pointwise_kernel (1, 1, channels * mult, filters)``, ``bias (filters,)``.
    """

    rank = 2
    aliases = ("SeparableConvolution2D",)
    fields = separable_fields(2)


__all__ = [
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "conv_nd",
    "conv_transpose_nd", "depthwise_conv_nd", "conv_paddings", "conv_output_length",
    "DataFormat", "padding_field",
]
