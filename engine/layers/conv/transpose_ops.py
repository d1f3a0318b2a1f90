"""The transposed convolution kernel (the gradient of ``ops.conv_nd``; used by the
Conv*Transpose layers and engine.gradients): one GEMM per kernel tap, scattered."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .geometry import _tap_view, _taps, dilated


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
