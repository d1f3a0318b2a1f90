"""Depthwise convolution (depth multiplier 1) as one ``np.einsum`` over a window view
(used by ops.depthwise_conv_nd).

The padded channels-last input is viewed, without a copy, as
``V[n, *out, *taps, m] = xp[n, *(out * strides + taps * dilation), m]`` and the output is
``einsum(V, w)``, summed over the taps: NumPy's einsum loop multiplies and accumulates in
one pass per tap with no temporary, where a tap-by-tap loop makes two passes and a scratch
block. When the stride of the last spatial axis is 1, that axis and the channels are one
contiguous run (``m = col * C + c``, the kernel tiled along the columns), so the inner loop
is a whole row of the image rather than one position's channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def depthwise_einsum(xp: np.ndarray, kernel: np.ndarray, strides: Sequence[int],
                     dilation: Sequence[int], out: tuple[int, ...], dtype: np.dtype,
                     ) -> np.ndarray:
    """Depthwise convolution of padded channels-last ``xp`` (N, *spatial, C) with kernel
    (*k, C, 1): the (N, *out, C) result, a new array."""
    ksize, chans = kernel.shape[:-2], kernel.shape[-2]
    rank = len(ksize)
    xp = np.ascontiguousarray(xp, dtype=dtype)
    st = xp.strides
    w = kernel.reshape(ksize + (chans,)).astype(dtype, copy=False)
    if strides[-1] == 1:  # the last spatial axis and the channels as one contiguous run
        run = out[-1] * chans
        shape = (xp.shape[0],) + tuple(out[:-1]) + tuple(ksize) + (run,)
        steps = (st[0],) + tuple(st[1 + a] * strides[a] for a in range(rank - 1)) + \
            tuple(st[1 + a] * dilation[a] for a in range(rank)) + (st[-1],)
        w = np.tile(w, (1,) * rank + (out[-1],))
        inner = [2 * rank]
    else:
        shape = (xp.shape[0],) + tuple(out) + tuple(ksize) + (chans,)
        steps = (st[0],) + tuple(st[1 + a] * strides[a] for a in range(rank)) + \
            tuple(st[1 + a] * dilation[a] for a in range(rank)) + (st[-1],)
        inner = [2 * rank + 1]
    # a read-only window view (np.ndarray over the buffer: as_strided costs 3x as much)
    view = np.ndarray(shape, xp.dtype, buffer=xp, strides=steps)
    view.flags.writeable = False
    lead = list(range(len(shape) - rank - 1))          # n and the output axes
    taps = list(range(len(lead), len(lead) + rank))    # the kernel axes
    y = np.einsum(view, lead + taps + inner, w, taps + inner, lead + inner)
    return y.reshape((xp.shape[0],) + tuple(out) + (chans,))
