"""Pooling layers: max/average (1-3D), global max/average, adaptive max/average (Keras 3).

Window arithmetic is TensorFlow's (see :mod:`engine.layers.conv`): 'same' pads so that
``out = ceil(in / stride)`` with the extra padding at the end; max pooling ignores the
padding and average pooling divides by the number of real (non-padded) elements in each
window. Windows are reduced tap by tap on strided views: a loop over the ``prod(pool_size)``
window offsets, never over pixels or batch items.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..budget import itemsize
from ..errors import BudgetError
from ..fields import KERAS2, KERAS3, REQUIRED, Bool, DataFormat, IntTuple
from .base import InputSpec, Layer
from .conv import (
    check_window_fits,
    conv_output_length,
    conv_paddings,
    from_channels_last,
    pad_spatial,
    padding_field,
    tap_reduce,
    to_channels_last,
)


def _tiles(x: np.ndarray, pool_size: Sequence[int]) -> np.ndarray:
    """``x`` (windows tiling it exactly) viewed as (N, o1, k1, ..., or, kr * C): each
    window axis but the last split in (outputs, taps), the last one's taps folded into
    runs of C values."""
    sizes, chans = x.shape[1:-1], x.shape[-1]
    shape: tuple[int, ...] = (x.shape[0],)
    for n, k in zip(sizes[:-1], pool_size[:-1]):
        shape += (n // k, k)
    return np.ascontiguousarray(x).reshape(shape + (sizes[-1] // pool_size[-1],
                                                    pool_size[-1] * chans))


def _max_pool_tiled(x: np.ndarray, pool_size: Sequence[int]) -> np.ndarray:
    """Max pooling with windows that tile the input exactly (strides == pool_size, every
    size a multiple): the input viewed as (N, o1, k1, ..., or, kr * C) without a copy, and
    the windows folded with ``np.maximum`` over whole slices, the last axis's as runs of C
    values (fewer, longer passes than one per tap; the same maxima, NaN kept)."""
    sizes, chans = x.shape[1:-1], x.shape[-1]
    v = _tiles(x, pool_size)
    for axis in range(len(sizes) - 1):   # the window axes, outermost first (now at 2)
        parts = [v[(slice(None),) * (axis + 2) + (i,)] for i in range(pool_size[axis])]
        acc = np.maximum(parts[0], parts[1]) if len(parts) > 1 else parts[0].copy()
        for p in parts[2:]:
            np.maximum(acc, p, out=acc)
        v = acc
    runs = [v[..., i * chans:(i + 1) * chans] for i in range(pool_size[-1])]
    out = np.maximum(runs[0], runs[1]) if len(runs) > 1 else runs[0].copy()
    for r in runs[2:]:
        np.maximum(out, r, out=out)
    return out


def _avg_pool_tiled(x: np.ndarray, pool_size: Sequence[int]) -> np.ndarray:
    """Average pooling of float ``x`` with windows that tile it exactly (strides ==
    pool_size, every size a multiple, no padding): the taps as views of x viewed as (N, o1,
    k1, ..., or, kr * C), summed in the tap order of the general path and divided by the
    window size (every window is full), so the same bits, without its blocks and its
    per-position counts."""
    chans = x.shape[-1]
    v = _tiles(x, pool_size)
    views = []
    for tap in itertools.product(*(range(k) for k in pool_size)):
        index: tuple[Any, ...] = (slice(None),)
        for i in tap[:-1]:
            index += (slice(None), i)
        views.append(v[index + (slice(None), slice(tap[-1] * chans, (tap[-1] + 1) * chans))])
    acc = np.add(views[0], views[1])
    for view in views[2:]:
        np.add(acc, view, out=acc)
    acc /= acc.dtype.type(math.prod(pool_size))
    return acc


def _tap_ranges(n: int, k: int, s: int, o: int, b: int) -> list[tuple[int, int]] | None:
    """Per tap of a pooling axis (input length ``n``, window ``k``, stride ``s``, ``o``
    outputs, ``b`` padding before): the (first, stop) outputs whose window holds a real
    element at that tap; None unless every output has one and each tap's outputs reach
    the outputs earlier taps reached (so that each output starts from its first real tap
    and folds the next ones in order: :func:`_max_pool_axes`)."""
    ranges, low, high = [], o, 0
    for t in range(k):
        lo = max(0, -(-(b - t) // s))
        hi = min(o, (n - 1 + b - t) // s + 1)
        if hi <= lo:
            ranges.append((0, 0))
            continue
        if high and (hi < low or hi > high):
            return None
        ranges.append((lo, hi))
        low, high = min(low, lo), max(high, hi)
    return ranges if (low, high) == (0, o) else None


def _max_pool_axes(x: np.ndarray, pool_size: Sequence[int], strides: Sequence[int],
                   out: Sequence[int], pads: Sequence[tuple[int, int]]) -> np.ndarray | None:
    """Max pooling of ``x`` one spatial axis at a time (the maximum of a window is the
    maximum over its last axis of the maxima over the others; NaN kept): the first axis's
    taps are whole rows (long inner loops), and the later axes see fewer values. The
    padding is never made: along each axis each output starts from its first real tap and
    folds the next real ones in tap order, the bits the -inf padding would give (max(-inf,
    v) is v, max(v, -inf) is v) without a padded copy of the input. None when an axis's
    taps do not fit that (:func:`_tap_ranges`)."""
    plans = [_tap_ranges(n, k, s, o, b) for n, k, s, o, (b, _) in
             zip(x.shape[1:-1], pool_size, strides, out, pads)]
    if any(p is None for p in plans):
        return None
    v = x
    for axis, (s, o, (b, _), ranges) in enumerate(zip(strides, out, pads, plans), start=1):
        head = (slice(None),) * axis
        shape = list(v.shape)
        shape[axis] = o
        acc = np.empty(shape, v.dtype)
        low = o                      # outputs [low, high) hold a value
        for t, (lo, hi) in enumerate(ranges):
            if hi <= lo:
                continue
            start = lo * s + t - b
            taps = v[head + (slice(start, start + (hi - lo - 1) * s + 1, s),)]
            if lo < low:             # outputs this tap reaches first
                np.copyto(acc[head + (slice(lo, min(low, hi)),)], taps[head + (
                    slice(0, min(low, hi) - lo),)])
            if hi > max(lo, low) and low < o:
                a = max(lo, low)
                part = acc[head + (slice(a, hi),)]
                np.maximum(part, taps[head + (slice(a - lo, hi - lo),)], out=part)
            low = min(low, lo)
        v = acc
    return v


#: average pooling whose output holds at most this many elements sums its taps over the
#: whole output, from a plan the layer keeps (what the shapes decide: the padding, the
#: taps' slices, the divisors), instead of tap_reduce's cache-sized blocks: NASNetMobile's
#: and InceptionV3's 3x3 'same' poolings of 3x3 to 12x12 images cost 3-10x their
#: arithmetic in bookkeeping otherwise (the same sums in the same order)
PLAN_MAX_ELEMENTS = 1 << 16


def pool_nd(x: np.ndarray, pool_size: Sequence[int], strides: Sequence[int], padding: str,
            mode: str, memo: dict | None = None) -> np.ndarray:
    """Max or average pooling of channels-last ``x`` (batch, *spatial, channels).

    ``memo``: a dict the caller keeps between calls (a layer's), where small average
    poolings keep their plan for the next call with the same shapes and settings."""
    if memo is not None and mode == "average":
        key = (x.shape, x.dtype, tuple(pool_size), tuple(strides), padding)
        plan = memo.get("avg_plan")
        if plan is None or plan.key != key:
            plan = memo["avg_plan"] = _AvgPlan(key)
        if plan.taps is not None:
            return plan.run(x)
    sizes = x.shape[1:-1]
    rank = len(sizes)
    if mode == "max" and tuple(strides) == tuple(pool_size) and x.size and \
            all(n % k == 0 for n, k in zip(sizes, pool_size)) and max(pool_size) > 1:
        return _max_pool_tiled(x, pool_size)
    pads = conv_paddings(sizes, pool_size, strides, (1,) * rank, padding)
    if mode == "average" and x.dtype.kind == "f" and x.size and \
            _avg_tiled(sizes, pool_size, strides, pads):
        return _avg_pool_tiled(x, pool_size)
    out = _pool_out(sizes, pool_size, strides, pads)
    if mode == "max" and x.size and min(out) > 0:
        y = _max_pool_axes(x, pool_size, strides, out, pads)
        if y is not None:
            return y
    fill = -np.inf if mode == "max" else 0.0
    if mode == "max" and not np.issubdtype(x.dtype, np.floating):
        fill = np.iinfo(x.dtype).min
    xp = pad_spatial(x, pads, fill)
    taps = list(itertools.product(*(range(k) for k in pool_size)))
    fold = np.maximum if mode == "max" else np.add

    def first(acc, v, t):
        np.copyto(acc, v)

    def step(acc, v, tmp, t):
        fold(acc, v, out=acc)

    dtype = x.dtype if mode == "max" or np.issubdtype(x.dtype, np.floating) else np.float32
    acc = tap_reduce(xp, taps, strides, (1,) * rank, out, (x.shape[-1],), dtype, first, step)
    if mode == "average":
        acc /= _avg_divisors(sizes, pool_size, strides, out, pads, acc.dtype)
    return acc


def _avg_tiled(sizes: Sequence[int], pool_size: Sequence[int], strides: Sequence[int],
               pads: Sequence[tuple[int, int]]) -> bool:
    """Whether :func:`_avg_pool_tiled` runs an average pooling: windows that tile the
    unpadded input exactly, more than one element each."""
    return tuple(strides) == tuple(pool_size) and math.prod(pool_size) > 1 and \
        all(n % k == 0 for n, k in zip(sizes, pool_size)) and \
        not any(b or a for b, a in pads)


def _pool_out(sizes: Sequence[int], pool_size: Sequence[int], strides: Sequence[int],
              pads: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """The output length along each spatial axis (0 or less: no window fits)."""
    return tuple((n + b + a - k) // s + 1
                 for n, k, s, (b, a) in zip(sizes, pool_size, strides, pads))


def _avg_divisors(sizes: Sequence[int], pool_size: Sequence[int], strides: Sequence[int],
                  out: Sequence[int], pads: Sequence[tuple[int, int]],
                  dtype: Any) -> np.ndarray:
    """The number of real (not padding) elements in each average-pooling window, broadcast
    to (1, *out, 1), in ``dtype``."""
    rank = len(sizes)
    counts = np.ones((1,) * (rank + 2), dtype=dtype)
    for axis, (n, k, s, o, (b, _)) in enumerate(zip(sizes, pool_size, strides, out, pads)):
        start = np.arange(o) * s - b
        c = np.minimum(start + k, n) - np.maximum(start, 0)
        shape = [1] * (rank + 2)
        shape[axis + 1] = o
        counts = counts * c.reshape(shape).astype(dtype)
    return counts


class _AvgPlan:
    """A small float average pooling worked out from the shapes (``key``: input shape and
    dtype, pool size, strides, padding): the zero-padded shape and where the input goes in
    it, the index of each tap's strided view, the output shape and the divisors; ``taps``
    is None when pool_nd's general path runs the call (other dtypes, large outputs)."""

    __slots__ = ("key", "padded", "inner", "taps", "shape", "counts")

    def __init__(self, key: tuple):
        self.key = key
        shape, dtype, pool_size, strides, padding = key
        self.taps = None
        sizes = shape[1:-1]
        rank = len(sizes)
        if dtype.kind != "f" or not math.prod(shape) or len(pool_size) != rank or \
                len(strides) != rank:
            return
        pads = conv_paddings(sizes, pool_size, strides, (1,) * rank, padding)
        if _avg_tiled(sizes, pool_size, strides, pads):
            return   # pool_nd's tiled pooling
        out = _pool_out(sizes, pool_size, strides, pads)
        self.shape = (shape[0],) + out + (shape[-1],)
        if min(out) <= 0 or math.prod(self.shape) > PLAN_MAX_ELEMENTS or \
                math.prod(pool_size) > _MAX_TAPS:
            return
        self.padded = self.inner = None
        if any(b or a for b, a in pads):
            self.padded = (shape[0],) + tuple(n + b + a for n, (b, a) in zip(sizes, pads)) + \
                (shape[-1],)
            self.inner = (slice(None),) + tuple(slice(b, b + n) for n, (b, _) in
                                                zip(sizes, pads))
        self.taps = [(slice(None),) + tuple(slice(t, t + (o - 1) * s + 1, s) for t, s, o in
                                            zip(tap, strides, out))
                     for tap in itertools.product(*(range(k) for k in pool_size))]
        self.counts = _avg_divisors(sizes, pool_size, strides, out, pads, dtype)

    def run(self, x: np.ndarray) -> np.ndarray:
        """pool_nd's average of ``x``: the taps summed in order, then divided."""
        if self.padded is not None:
            xp = np.zeros(self.padded, x.dtype)
            xp[self.inner] = x
        else:
            xp = x
        taps = self.taps
        acc = np.empty(self.shape, x.dtype)
        np.copyto(acc, xp[taps[0]])
        for index in taps[1:]:
            np.add(acc, xp[index], out=acc)
        acc /= self.counts
        return acc


#: the most window positions a pooling window may have (the reduction loops over them)
_MAX_TAPS = 2**20


class Pooling(Layer):
    """Max/average pooling over windows (abstract)."""

    keras_builds_at_init = True

    abstract = True
    rank = 2
    mode = "max"

    positional = ("pool_size", "strides", "padding", "data_format")  # Keras's signature

    def _post_init(self) -> None:
        if self.pool_size is None:
            if self.source_format == KERAS2:
                self.pool_size = (2,) * self.rank
            else:
                raise self.config_error("pool_size", f"required for {type(self).__name__}: "
                                        f"an int or a list of {self.rank} ints >= 1")
        if self.strides is None:
            self.strides = tuple(self.pool_size)
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _spatial(self, shape: Sequence[Any]) -> tuple:
        shape = tuple(shape)
        return shape[1:-1] if self.data_format == "channels_last" else shape[2:]

    def _check_rank(self, shape: Sequence[Any]) -> None:
        if len(shape) != self.rank + 2:
            raise ValueError(f"{type(self).__name__} {self.name!r} expects inputs of rank "
                             f"{self.rank + 2}, got shape {tuple(shape)}")

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        check_window_fits(self, x.shape[1:-1], self.pool_size, (1,) * self.rank,
                          self.padding, what="pool_size")
        memo = self._memo("_pool_memo")
        y = pool_nd(x, self.pool_size, self.strides, self.padding, self.mode, memo)
        return from_channels_last(y, self.data_format)

    def call_intermediate_bytes(self, input_shape: Any) -> int:
        """The padded input 'same' makes (a huge pool_size pads a tiny input hugely); a
        window of more than 2**20 taps is refused (the reduction loops over its taps)."""
        shape = tuple(input_shape) if isinstance(input_shape, tuple) else None
        if shape is None or len(shape) != self.rank + 2 or None in shape:
            return 0
        taps = int(np.prod(self.pool_size, dtype=object))
        if taps > _MAX_TAPS:
            raise BudgetError(self._path or self.name, f"{type(self).__name__} "
                              f"{self.name!r}: a pool_size of {taps:,} window positions "
                              f"would take too long (at most {_MAX_TAPS:,})")
        spatial = self._spatial(shape)
        padded = 1
        for n, k, s in zip(spatial, self.pool_size, self.strides):
            out = conv_output_length(n, k, s, 1, self.padding)
            padded *= max(n, (out - 1) * s + k) if self.padding == "same" else n
        chans = shape[-1] if self.data_format == "channels_last" else shape[1]
        return shape[0] * chans * padded * itemsize(self.compute_dtype)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        self._check_rank(shape)
        spatial = self._spatial(shape)
        check_window_fits(self, spatial, self.pool_size, (1,) * self.rank, self.padding,
                          what="pool_size")
        out = tuple(conv_output_length(n, k, s, 1, self.padding)
                    for n, k, s in zip(spatial, self.pool_size, self.strides))
        if self.data_format == "channels_last":
            return (shape[0],) + out + (shape[-1],)
        return (shape[0], shape[1]) + out


def pooling_fields(rank: int, pool_default: Any) -> tuple:
    return (
        IntTuple("pool_size", pool_default, "Size of the pooling window.", length=rank, min=1),
        padding_field(False),
        IntTuple("strides", None, "Step of the window (None: pool_size).", length=rank,
                 min=1),
        DataFormat(),
    )


_K2_1D_ORDER = ("name", "trainable", "dtype", "batch_input_shape", "strides", "pool_size",
                "padding", "data_format")


class MaxPooling1D(Pooling):
    """Max over windows of ``pool_size`` steps.

    Input shape: ``(batch, steps, channels)``. Output shape: ``(batch, new_steps, channels)``.
    """

    rank = 1
    aliases = ("MaxPool1D",)
    fields = pooling_fields(1, 2)
    keras2_order = _K2_1D_ORDER


class MaxPooling2D(Pooling):
    """Max over ``pool_size`` windows of an image.

    Input shape: ``(batch, rows, cols, channels)``.
    Output shape: ``(batch, new_rows, new_cols, channels)``.
    """

    rank = 2
    aliases = ("MaxPool2D",)
    fields = pooling_fields(2, 2)


class MaxPooling3D(Pooling):
    """Max over ``pool_size`` windows of a volume.

    Input shape: ``(batch, d1, d2, d3, channels)``. Output shape: ``(batch, n1, n2, n3,
    channels)``.
    """

    rank = 3
    aliases = ("MaxPool3D",)
    fields = pooling_fields(3, 2)


class AveragePooling1D(Pooling):
    """Mean over windows of ``pool_size`` steps ('same': over the real elements only).
    ``pool_size`` is required in Keras 3 and defaults to 2 in Keras 2.

    Input shape: ``(batch, steps, channels)``. Output shape: ``(batch, new_steps, channels)``.
    """

    rank = 1
    mode = "average"
    aliases = ("AvgPool1D",)
    fields = pooling_fields(1, None)
    keras2_order = _K2_1D_ORDER


class AveragePooling2D(Pooling):
    """Mean over ``pool_size`` windows ('same': over the real elements only).

    Input shape: ``(batch, rows, cols, channels)``.
    Output shape: ``(batch, new_rows, new_cols, channels)``.
    """

    rank = 2
    mode = "average"
    aliases = ("AvgPool2D",)
    fields = pooling_fields(2, None)


class AveragePooling3D(Pooling):
    """Mean over ``pool_size`` windows of a volume ('same': real elements only).

    Input shape: ``(batch, d1, d2, d3, channels)``. Output shape: ``(batch, n1, n2, n3,
    channels)``.
    """

    rank = 3
    mode = "average"
    aliases = ("AvgPool3D",)
    fields = pooling_fields(3, None)


# -- global ------------------------------------------------------------------------------


#: dtypes np.mean sums in (float16 is summed in float32 by np.mean: not these)
_SUM_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class GlobalPooling(Layer):
    """Reduce every spatial axis (abstract)."""

    keras_builds_at_init = True

    abstract = True
    rank = 2
    mode = "max"
    fields = (
        DataFormat(),
        Bool("keepdims", False, "Keep the spatial axes with length 1."),
    )

    def _post_init(self) -> None:
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def _axes(self) -> tuple[int, ...]:
        first = 1 if self.data_format == "channels_last" else 2
        return tuple(range(first, first + self.rank))

    def call(self, inputs):
        v = self._values
        if v["data_format"] == "channels_last" and type(inputs) is np.ndarray and \
                inputs.dtype in _SUM_DTYPES and inputs.ndim > 2 and inputs.size and \
                inputs.flags.c_contiguous:
            # the spatial axes as one: the same sums in the same order as np.max / np.mean
            # over them, without np.mean's Python bookkeeping (a third of a small call)
            n, c = inputs.shape[0], inputs.shape[-1]
            flat = inputs.reshape(n, -1, c)
            if self.mode == "max":
                out = np.maximum.reduce(flat, axis=1)
            else:
                out = np.add.reduce(flat, axis=1)
                np.true_divide(out, flat.shape[1], out=out, casting="unsafe")
            return out.reshape((n,) + (1,) * (inputs.ndim - 2) + (c,)) if v["keepdims"] \
                else out
        fn = np.max if self.mode == "max" else np.mean
        return fn(inputs, axis=self._axes(), keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != self.rank + 2:
            raise ValueError(f"{type(self).__name__} {self.name!r} expects inputs of rank "
                             f"{self.rank + 2}, got shape {shape}")
        axes = self._axes()
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(shape))
        return tuple(d for i, d in enumerate(shape) if i not in axes)


class GlobalMaxPooling1D(GlobalPooling):
    """Max over the steps axis.

    Input shape: ``(batch, steps, channels)``. Output shape: ``(batch, channels)`` (or
    ``(batch, 1, channels)`` with ``keepdims``).
    """

    rank = 1
    aliases = ("GlobalMaxPool1D",)


class GlobalMaxPooling2D(GlobalPooling):
    """Max over rows and columns.

    Input shape: ``(batch, rows, cols, channels)``. Output shape: ``(batch, channels)``.
    """

    rank = 2
    aliases = ("GlobalMaxPool2D",)


class GlobalMaxPooling3D(GlobalPooling):
    """Max over the three spatial axes.

    Input shape: ``(batch, d1, d2, d3, channels)``. Output shape: ``(batch, channels)``.
    """

    rank = 3
    aliases = ("GlobalMaxPool3D",)


class GlobalAveragePooling1D(GlobalPooling):
    """Mean over the steps axis; with a mask, the mean of the unmasked steps.

    Input shape: ``(batch, steps, channels)``. Output shape: ``(batch, channels)`` (or
    ``(batch, 1, channels)`` with ``keepdims``). Consumes the mask (outputs none).
    """

    rank = 1
    mode = "average"
    supports_masking = True
    aliases = ("GlobalAvgPool1D",)

    def call(self, inputs, mask=None):
        if mask is None:
            return super().call(inputs)
        steps = self._axes()[0]
        m = np.expand_dims(np.asarray(mask, dtype=bool), 2 if steps == 1 else 1)
        total = np.where(m, inputs, 0).sum(axis=steps, keepdims=self.keepdims)
        count = m.sum(axis=steps, keepdims=self.keepdims).astype(inputs.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):
            return total / count

    def compute_mask(self, inputs, mask=None):
        return None


class GlobalAveragePooling2D(GlobalPooling):
    """Mean over rows and columns.

    Input shape: ``(batch, rows, cols, channels)``. Output shape: ``(batch, channels)``.
    """

    rank = 2
    mode = "average"
    aliases = ("GlobalAvgPool2D",)


class GlobalAveragePooling3D(GlobalPooling):
    """Mean over the three spatial axes.

    Input shape: ``(batch, d1, d2, d3, channels)``. Output shape: ``(batch, channels)``.
    """

    rank = 3
    mode = "average"
    aliases = ("GlobalAvgPool3D",)


# -- adaptive (Keras 3) ------------------------------------------------------------------


def adaptive_pool_axis(x: np.ndarray, axis: int, size: int, mode: str) -> np.ndarray:
    """Adaptive pooling of one axis as Keras's TensorFlow backend computes it: output ``i``
    covers ``[floor(i*L/size), ceil((i+1)*L/size))`` (float32 arithmetic), pooled with a
    window of ``ceil(L/size)`` or, where the span is one longer, ``ceil(L/size) + 1``."""
    length = x.shape[axis]
    small = -(-length // size)
    big = small + 1
    i = np.arange(size, dtype=np.float32)
    n, s = np.float32(length), np.float32(size)
    starts = np.floor(i * n / s).astype(np.int64)
    ends = np.ceil((i + 1) * n / s).astype(np.int64)
    ends = np.minimum(ends, length)
    starts = np.minimum(starts, length - 1)
    is_big = (ends - starts) == big
    reduce = np.max if mode == "max" else np.mean

    def pooled(window: int) -> np.ndarray:
        win = sliding_window_view(x, window, axis=axis)
        return reduce(win, axis=-1)

    out = np.take(pooled(small), np.minimum(starts, length - small), axis=axis)
    if is_big.any():
        b = np.take(pooled(big), np.minimum(starts, length - big), axis=axis)
        shape = [1] * x.ndim
        shape[axis] = size
        out = np.where(is_big.reshape(shape), b, out)
    return out


class AdaptivePooling(Layer):
    """Pool to a fixed output size whatever the input size (abstract, Keras 3 only)."""

    abstract = True
    rank = 2
    mode = "max"
    keras_formats = (KERAS3,)

    def _post_init(self) -> None:
        self.input_spec = InputSpec(ndim=self.rank + 2)

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        for axis, size in enumerate(self.output_size, start=1):
            x = adaptive_pool_axis(x, axis, size, self.mode)
        return from_channels_last(np.ascontiguousarray(x), self.data_format)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != self.rank + 2:
            raise ValueError(f"{type(self).__name__} {self.name!r} expects inputs of rank "
                             f"{self.rank + 2}, got shape {shape}")
        if self.data_format == "channels_last":
            return (shape[0],) + tuple(self.output_size) + (shape[-1],)
        return (shape[0], shape[1]) + tuple(self.output_size)


def adaptive_fields(rank: int) -> tuple:
    return (
        IntTuple("output_size", REQUIRED, "Spatial size of the output.", length=rank, min=1),
        DataFormat(),
    )


class AdaptiveMaxPooling1D(AdaptivePooling):
    """Max pooling to ``output_size`` steps.

    Input shape: ``(batch, steps, channels)``. Output shape: ``(batch, output_size,
    channels)``.
    """

    rank = 1
    fields = adaptive_fields(1)


class AdaptiveMaxPooling2D(AdaptivePooling):
    """Max pooling to ``output_size`` rows and columns.

    Input shape: ``(batch, rows, cols, channels)``. Output shape: ``(batch, *output_size,
    channels)``.
    """

    rank = 2
    fields = adaptive_fields(2)


class AdaptiveMaxPooling3D(AdaptivePooling):
    """Max pooling of a volume to ``output_size``.

    Input shape: ``(batch, d1, d2, d3, channels)``. Output shape: ``(batch, *output_size,
    channels)``.
    """

    rank = 3
    fields = adaptive_fields(3)


class AdaptiveAveragePooling1D(AdaptivePooling):
    """Average pooling to ``output_size`` steps.

    Input shape: ``(batch, steps, channels)``. Output shape: ``(batch, output_size,
    channels)``.
    """

    rank = 1
    mode = "average"
    fields = adaptive_fields(1)


class AdaptiveAveragePooling2D(AdaptivePooling):
    """Average pooling to ``output_size`` rows and columns.

    Input shape: ``(batch, rows, cols, channels)``. Output shape: ``(batch, *output_size,
    channels)``.
    """

    rank = 2
    mode = "average"
    fields = adaptive_fields(2)


class AdaptiveAveragePooling3D(AdaptivePooling):
    """Average pooling of a volume to ``output_size``.

    Input shape: ``(batch, d1, d2, d3, channels)``. Output shape: ``(batch, *output_size,
    channels)``.
    """

    rank = 3
    mode = "average"
    fields = adaptive_fields(3)


__all__ = ["pool_nd", "adaptive_pool_axis"]
