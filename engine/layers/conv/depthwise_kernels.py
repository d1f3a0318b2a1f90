"""Depthwise convolution of 1-D and 2-D channels-last arrays for DepthwiseConv1D/2D and
SeparableConv1D/2D (``ops.depthwise_conv_nd``, the generic kernel, does the other ranks).

The output is one ``np.einsum`` over a window view of the zero-padded input (as in
:mod:`.depthwise_ops`): ``y[n, i, j, c] = sum over (a, b) of x[n, i*s + a*d, j*s' + b*d',
c] * w[a, b, c]``, the taps added one by one to the running sum in row-major order of the
window (TensorFlow's order), each product rounded first: the bits of the sequential float
sum (tests/engine/test_depthwise_kernels.py checks them, and the error against float64).
With column stride 1 (and fewer than ROW_MAX_CHANNELS channels) the einsum's inner loop is
a whole output row, ``m = col * C + c`` (the kernel repeated once per output column), a
slice of a padded input row; otherwise it is one output position's channels.

Besides the einsum, what a call costs is NumPy's per-call overhead (several microseconds
per operation, as much as the einsum itself on MobileNetV2's 3x3 and 6x6 layers), so:

- everything that depends only on the shapes, dtypes and window settings (output size,
  padding slices, the view's strides) is worked out once and kept in ``memo`` (the
  layer's dict) for the next call with the same ones;
- the padded input is a new buffer each call (one that reuses memory just freed is in
  the cache); up to ZERO_ALL_BYTES it is made zeroed (one memset), larger ones have only
  their border zeroed, as three strided runs.

Measured and left out (MobileNetV2's shapes, batch 2, one thread; the einsum adds about
one product per 0.13-0.2 ns here, which no other NumPy formulation tried came near):

- a tap loop of NumPy multiplies and adds into a preallocated output, in row blocks of
  several sizes (1.4-5x the einsum's time: two passes per tap and two calls per tap and
  block), or all taps' products in one multiply and one ``add.reduce`` (1.0-3x);
- 'same' padding by restricting each tap to its valid outputs instead of a padded copy
  (an einsum for the middle and four for the borders: 1.1-1.2x at 48x48, 24x24 and
  12x12, the border columns' inner loops are short);
- for stride 2, copying each tap's columns together so the einsum's inner loop is a whole
  row again: 0.76x the time alone on the 49x49x96 layer but 1.0-1.4x inside the model,
  where the copy's writes miss the cache (in cache-sized row blocks: no better);
- keeping the padded buffer or the repeated kernel between calls (no faster inside the
  model, up to 1.1x slower: kept buffers are out of the cache by the next call).

With a depth multiplier M > 1 the input's channels are repeated M times first (output
channel ``c * M + m`` is input channel c with filter m, TensorFlow's order).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .geometry import dilated
from .ops import depthwise_conv_nd

#: padded inputs up to this size are made zeroed whole, larger ones zero only their border
#: (the crossover measured on MobileNetV2's shapes: at 190-290 KB zeroing all took 5-9 us
#: and the three border runs 11-28 us, at 620-760 KB 26-46 us and 19-30 us)
ZERO_ALL_BYTES = 1 << 19
#: with column stride 1 and fewer channels than this, the einsum's inner loop is a whole
#: output row (the kernel repeated along it); with more, one position's channels are long
#: enough (measured, 3x3 'same', batch 2: 6x6x384 0.92x the per-position time as rows,
#: 6x6x576 1.0x, 3x3x960 1.1x; 12x12x192 0.67x)
ROW_MAX_CHANNELS = 512


def depthwise_conv(x: np.ndarray, kernel: np.ndarray, strides: Sequence[int],
                   dilation: Sequence[int], pads: Sequence[tuple[int, int]],
                   memo: dict | None = None) -> np.ndarray:
    """Depthwise convolution of channels-last ``x`` (N, *spatial, C) with ``kernel``
    (*k, C, M) and zero padding ``pads`` ((before, after) per spatial axis): the
    (N, *out, C * M) result, a new array of ``x`` and ``kernel``'s result dtype.

    ``memo``: a dict the caller keeps between calls (the plan of the call for these shapes
    and settings is kept in it); None keeps nothing."""
    rank1 = x.ndim == 3
    if rank1:   # a 2-D convolution of one row
        x, kernel = x[:, None], kernel[None]
        strides, dilation = (1,) + tuple(strides), (1,) + tuple(dilation)
        pads = [(0, 0)] + list(pads)
    if kernel.shape[-2] * kernel.shape[-1] == 1 and x.ndim == 4:
        # one channel: the einsum may add a row's taps apart from the running sum when a
        # tap's step equals the element's (an inner loop over taps), so the channel is
        # doubled to keep the order (and the bits) of the sequential sum
        y = _conv2d(np.repeat(x, 2, axis=-1), np.repeat(kernel, 2, axis=-2), strides,
                    dilation, pads, memo)[..., :1].copy()
    else:
        y = _conv2d(x, kernel, strides, dilation, pads, memo)
    return y[:, 0] if rank1 else y


def _conv2d(x: np.ndarray, kernel: np.ndarray, strides: Sequence[int],
            dilation: Sequence[int], pads: Sequence[tuple[int, int]], memo: dict | None,
            ) -> np.ndarray:
    """:func:`depthwise_conv` of (N, H, W, C) ``x`` with (kh, kw, C, M) ``kernel``."""
    key = (x.shape, x.dtype, kernel.shape, kernel.dtype, strides, dilation, pads)
    plan = None if memo is None else memo.get("depthwise_plan")
    if plan is None or plan.key != key:
        plan = _Plan(key, x, kernel, strides, dilation, pads)
        if memo is not None:
            memo["depthwise_plan"] = plan
    if plan.dtype is None:   # not a float 2-D convolution with an output: the generic kernel
        return depthwise_conv_nd(x, kernel, strides, dilation, pads)
    if plan.padded is not None:
        if plan.border is None:
            xp = np.zeros(plan.padded, plan.dtype)
        else:   # only the border zeroed
            xp = np.empty(plan.padded, plan.dtype)
            flat = xp.reshape(xp.shape[0], -1)
            row = xp.shape[2] * xp.shape[3]
            for start, rows, length in plan.border:
                if rows == 1:
                    flat[:, start:start + length] = 0
                else:
                    flat[:, start:start + rows * row].reshape(-1, rows, row)[:, :, :length] = 0
        if plan.split[-1] == 1:
            xp[plan.inner] = x
        else:
            xp[plan.inner].reshape(plan.split)[...] = x[..., None]
    elif plan.split[-1] > 1:
        xp = np.repeat(x.astype(plan.dtype, copy=False), plan.split[-1], axis=-1)
    else:
        xp = np.ascontiguousarray(x, dtype=plan.dtype)
    view = np.ndarray(plan.view[0], plan.dtype, buffer=xp, strides=plan.view[1])
    view.flags.writeable = False
    w = kernel.reshape(kernel.shape[:2] + (-1,)).astype(plan.dtype, copy=False)
    if plan.reps > 1:   # the kernel once per output column (one copy: np.tile's Python
        # bookkeeping cost as much as MobileNetV2's small depthwise einsums)
        tiled = np.empty(plan.tiled, plan.dtype)
        tiled[...] = w[:, :, None]
        w = tiled.reshape(plan.tiled[:2] + (-1,))
    return np.einsum(plan.subscripts, view, w).reshape(plan.shape)


class _Plan:
    """What a call with these shapes, dtypes and window settings needs: the result dtype
    (None: the generic kernel does this call); the padded input's shape (None without
    padding), the slices of its middle and the runs of its border (None: a small buffer,
    zeroed whole); the shape (N, H, W, C, M) the middle is copied in as; the einsum's
    subscripts, window view (shape, strides), kernel repetitions and the repeated kernel's
    shape; the output shape."""

    __slots__ = ("key", "dtype", "padded", "inner", "split", "border", "view", "reps",
                 "tiled", "subscripts", "shape")

    def __init__(self, key: tuple, x: np.ndarray, kernel: np.ndarray,
                 strides: Sequence[int], dilation: Sequence[int],
                 pads: Sequence[tuple[int, int]]):
        self.key, self.padded = key, None
        out = output_size(x.shape, kernel.shape, strides, dilation, pads)
        dtype = np.result_type(x.dtype, kernel.dtype)
        self.dtype = dtype if x.ndim == 4 and x.size and dtype.kind == "f" and \
            min(out) > 0 else None
        if self.dtype is None:
            return
        n, h, w, c = x.shape
        (pt, pb), (pl, pr) = pads
        mult = kernel.shape[-1]
        chans = c * mult
        self.split = (n, h, w, c, mult)
        padded = (n, h + pt + pb, w + pl + pr, chans)
        if pt or pb or pl or pr:
            self.padded = padded
            self.inner = (slice(None), slice(pt, pt + h), slice(pl, pl + w))
            small = math.prod(padded) * dtype.itemsize <= ZERO_ALL_BYTES
            self.border = None if small else _border(padded, pads)
        size = dtype.itemsize
        steps = (padded[1] * padded[2] * chans * size, padded[2] * chans * size,
                 chans * size)
        kh, kw = kernel.shape[:2]
        ho, wo = out
        self.shape = (n, ho, wo, chans)
        if strides[1] == 1 and chans < ROW_MAX_CHANNELS:
            # a whole output row; tap b's run starts b * dilation columns on
            self.view = ((n, ho, kh, kw, wo * chans),
                         (steps[0], steps[1] * strides[0], steps[1] * dilation[0],
                          steps[2] * dilation[1], size))
            self.reps, self.subscripts = wo, "nirsm,rsm->nim"
            self.tiled = (kh, kw, wo, chans)
        else:                 # one output position's channels
            self.view = ((n, ho, wo, kh, kw, chans),
                         (steps[0], steps[1] * strides[0], steps[2] * strides[1],
                          steps[1] * dilation[0], steps[2] * dilation[1], size))
            self.reps, self.subscripts = 1, "nijrsc,rsc->nijc"


def output_size(shape: Sequence[int], kernel_shape: Sequence[int], strides: Sequence[int],
                dilation: Sequence[int], pads: Sequence[tuple[int, int]]) -> list[int]:
    """Output length along each spatial axis of the padded input (0 or less: none)."""
    return [(n + b + a - dilated(k, d)) // s + 1 for n, (b, a), k, s, d in
            zip(shape[1:-1], pads, kernel_shape, strides, dilation)]


def intermediate_bytes(shape: Sequence[int], kernel_shape: Sequence[int],
                       pads: Sequence[tuple[int, int]], out: Sequence[int],
                       itemsize: int) -> int:
    """Bytes of the largest array :func:`depthwise_conv` of an input of ``shape`` (N,
    *spatial, C) with a kernel of ``kernel_shape`` (*k, C, M) makes besides its output: the
    padded input (its channels repeated M times), or the kernel repeated along an output
    row."""
    chans = shape[-1] * kernel_shape[-1]
    padded = 0
    if any(b or a for b, a in pads) or kernel_shape[-1] > 1:
        padded = shape[0] * chans * itemsize
        for n, (b, a) in zip(shape[1:-1], pads):
            padded *= n + b + a
    rows = 1
    for k in kernel_shape[:-2]:
        rows *= k
    return max(padded, rows * max(out[-1], 0) * chans * itemsize)


def _border(padded: tuple, pads: Sequence[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """The zero border of a ``padded`` (N, H, W, C) buffer as (start, rows, row length)
    runs of each image's flattened elements, ``rows`` runs ``W * C`` apart: the rows and
    columns before the first input element, the right and left border between two input
    rows, and all after the last input element."""
    _, hp, wp, c = padded
    (pt, pb), (pl, pr) = pads
    h, w = hp - pt - pb, wp - pl - pr
    head = (pt * wp + pl) * c
    after_row = (pt * wp + pl + w) * c   # the first input row's right border
    tail = after_row + (h - 1) * wp * c
    parts = [(0, 1, head), (tail, 1, hp * wp * c - tail)]
    if h > 1:
        parts.append((after_row, h - 1, (pr + pl) * c))
    return [p for p in parts if p[2]]
