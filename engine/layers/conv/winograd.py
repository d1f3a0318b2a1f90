"""Winograd F(2x2, 3x3): stride-1 3x3 convolutions with many channels (used by ops.conv_nd).

Each 2x2 block of outputs ("tile") is computed from the 4x4 block of inputs around it as
``Y = A^T [(G g G^T) * (B^T d B)] A`` (Lavin and Gray, 2016), so one GEMM per element of
the 4x4 transformed tile, 16 of depth C, replaces nine per output (36 multiply-adds per
tile and channel pair become 16). All transform coefficients are 0, +-1 and 1/2, exact in
float32; the result differs from the direct sum only by rounding (measured against a
float64 reference on the VGG16 and ResNet50 shapes: about twice the direct GEMM's rounding
error, 6e-7 of the output's largest value; tests/engine/test_conv_kernels.py).

The transforms are a few whole-array additions on strided views of a block of tile rows
(about BLOCK_FLOATS floats of transformed input and GEMM output, at least BLOCK_MIN_TILES
tiles for the GEMMs' sake). The kernel's transform ``U = G g G^T`` (16/9 of the kernel's
size) is recomputed on every call (a kernel may change in place between calls, as the
finite-difference gradient checks do), so Winograd is used only where the tiles are many
enough to repay it (``use_winograd``). Inputs or kernels with NaN or +-inf never come here
(ops.conv_nd): inf - inf in the transforms would turn the direct sum's +-inf into NaN.

Matrices (F(2, 3)): ``B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]``,
``G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]``,
``A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: least channels and filters: below, the transforms cost more than the GEMMs save
#: (measured, batch 2, memory warm as inside a model: 128 channels and 32 filters,
#: DenseNet's 3x3 convolutions, run in 0.74-0.85x the direct time on 24x24 images and
#: 0.82-0.84x on 12x12; 64 channels and 32 filters 0.79x at 24x24 but 1.03x at 12x12, so
#: fewer than MIN_CHANNELS filters need twice MIN_CHANNELS channels)
MIN_CHANNELS = 64
MIN_FILTERS = 32
#: least output tiles (2x2 blocks of outputs, over the batch): the kernel's transform is
#: paid on every call, so tiny images keep the direct GEMMs (measured: 72 tiles are 0.7x
#: the direct time at 128 and at 512 channels, 18 tiles 1.2-1.5x)
MIN_TILES = 64
#: target floats of one block's transformed input + GEMM output (L2-sized), and the
#: least tiles of a block (the GEMMs' rows: fewer lose speed)
BLOCK_FLOATS = 1 << 18
BLOCK_MIN_TILES = 256
#: the dtypes Winograd runs in (float16 would lose too much in the transforms)
DTYPES = (np.dtype(np.float32),)


def use_winograd(padded_shape: Sequence[int], kernel_shape: Sequence[int],
                 strides: Sequence[int], dilation: Sequence[int], out: Sequence[int],
                 groups: int, dtype: Any) -> bool:
    """Whether :func:`conv_winograd` runs this convolution: 2-d, 3x3, stride and dilation
    1, no groups, float32, >= MIN_CHANNELS input channels and filters (or >= MIN_FILTERS
    filters and 2 MIN_CHANNELS channels), and at least
    MIN_TILES output tiles (enough to repay the kernel transform, 16 C F writes, with
    the GEMMs it saves, 20 multiply-adds per tile, channel and filter)."""
    if len(out) != 2 or tuple(kernel_shape[:2]) != (3, 3) or groups != 1 or \
            any(s != 1 for s in strides) or any(d != 1 for d in dilation) or \
            np.dtype(dtype) not in DTYPES:
        return False
    chans, filters = kernel_shape[-2:]
    if chans < MIN_CHANNELS or filters < MIN_FILTERS or \
            (filters < MIN_CHANNELS and chans < 2 * MIN_CHANNELS):
        return False
    tiles = padded_shape[0] * -(-out[0] // 2) * -(-out[1] // 2)
    return tiles >= MIN_TILES


def largest_array_bytes(chans: int, filters: int, tiles: int, itemsize: int) -> int:
    """Bytes of the largest array :func:`conv_winograd` makes besides its output: the
    kernel's transform (16 C F) or a block's transformed input / GEMM output."""
    most = min(tiles, max(BLOCK_MIN_TILES, BLOCK_FLOATS // (16 * (chans + filters))))
    return itemsize * max(16 * chans * filters, 16 * most * max(chans, filters))


def extra_padding(out: Sequence[int]) -> tuple[int, int]:
    """Zero rows / columns to add at the end of the padded input so that every tile is
    whole (odd output sizes; the extra outputs are computed and dropped)."""
    return out[0] % 2, out[1] % 2


def kernel_transform(kernel: np.ndarray, dtype: Any, halve: bool) -> np.ndarray:
    """``U = G g G^T`` for every channel and filter: (16, C, F) from (3, 3, C, F). With
    ``halve=False`` the rows and columns 1 and 2 are left doubled (``2 G`` there): the
    caller halves the transformed input instead (a power of two: the products are the
    same bits either way, barring subnormal numbers)."""
    g = kernel.astype(dtype, copy=False)
    sums = g[0] + g[2]                          # G g along the kernel's rows
    rows = [g[0], sums + g[1], np.subtract(sums, g[1], out=sums), g[2]]
    if halve:
        rows[1] *= 0.5
        rows[2] *= 0.5
    u = np.empty((4, 4) + g.shape[2:], dtype)    # then along the columns
    for a, r in enumerate(rows):
        u[a, 0] = r[0]
        u[a, 3] = r[2]
        np.add(r[0], r[2], out=u[a, 2])
        np.add(u[a, 2], r[1], out=u[a, 1])
        u[a, 2] -= r[1]
    if halve:
        u[:, 1:3] *= 0.5
    return u.reshape((16,) + g.shape[2:])


def _blocks(n_batch: int, th: int, tw: int, per_block: int) -> list[tuple[int, int, int, int]]:
    """(first image, images, first tile row, tile rows) blocks of about ``per_block``
    tiles: whole images together when an image is smaller, else rows of one image."""
    per_image = th * tw
    if per_image <= per_block:
        step = max(1, per_block // per_image)
        return [(b, min(step, n_batch - b), 0, th) for b in range(0, n_batch, step)]
    rows = max(1, per_block // tw)
    return [(b, 1, r, min(rows, th - r)) for b in range(n_batch) for r in range(0, th, rows)]


def conv_winograd(xp: np.ndarray, kernel: np.ndarray, out: tuple[int, int],
                  run_blocks: Callable[[Callable[[list[Any]], None], list[Any], int], None],
                  halve_kernel: bool | None = None) -> np.ndarray:
    """Stride-1 3x3 convolution of padded channels-last ``xp`` (N, Hp, Wp, C), padded so
    that ``Hp = 2 * ceil(Ho / 2) + 2`` (and the same for the columns; see extra_padding),
    with kernel (3, 3, C, F). Returns the (N, Ho, Wo, F) result, a new array or a view of
    one (odd output sizes). ``run_blocks(work, blocks, flops)`` runs ``work`` over the
    blocks (ops._run_blocks: on the worker threads when the job is large).
    ``halve_kernel``: where G's factors 1/2 go (the kernel's
    transform or the input's; the same bits either way), by default the smaller side."""
    n_batch, hp, wp, chans = xp.shape
    filters = kernel.shape[-1]
    th, tw = (hp - 2) // 2, (wp - 2) // 2
    dtype = np.result_type(xp.dtype, kernel.dtype)
    tiles_all = n_batch * th * tw
    # the factors 1/2 of G on the kernel's side or the input's, whichever is smaller
    halve_u = 14 * chans * filters <= 12 * tiles_all * chans if halve_kernel is None \
        else halve_kernel
    u = kernel_transform(kernel, dtype, halve_u)
    y = np.empty((n_batch, 2 * th, 2 * tw, filters), dtype=dtype)
    # y[n, 2i + a, 2j + b, f] is y6[n, i, a, j, b, f]
    y6 = y.reshape(n_batch, th, 2, tw, 2, filters)
    per_block = max(BLOCK_MIN_TILES, BLOCK_FLOATS // (16 * (chans + filters)))
    blocks = _blocks(n_batch, th, tw, per_block)
    most = max(nb * nr for _, nb, _, nr in blocks) * tw

    def work(parts: list[tuple[int, int, int, int]]) -> None:
        # scratch of one worker, reused by its blocks (each block overwrites what it reads)
        t_buf = np.empty(4 * (2 * most + 2 * tw * max(nb for _, nb, _, _ in parts)) *
                         chans, dtype)
        v_buf = np.empty(16 * most * chans, dtype)
        m_buf = np.empty(16 * most * filters, dtype)
        s_buf = np.empty(8 * most * filters, dtype)
        for b0, nb, r0, nr in parts:
            tiles = nb * nr * tw
            xs = xp[b0:b0 + nb, 2 * r0:2 * (r0 + nr) + 2]          # (nb, 2nr + 2, Wp, C)
            # B^T along the columns: t[k] (nb, 2nr + 2, tw, C)
            t = t_buf[:4 * nb * (2 * nr + 2) * tw * chans].reshape(
                4, nb, 2 * nr + 2, tw, chans)
            c0, c1 = xs[:, :, 0:2 * tw:2], xs[:, :, 1:2 * tw + 1:2]
            c2, c3 = xs[:, :, 2:2 * tw + 2:2], xs[:, :, 3:2 * tw + 3:2]
            np.subtract(c0, c2, out=t[0])
            np.add(c1, c2, out=t[1])
            np.subtract(c2, c1, out=t[2])
            np.subtract(c1, c3, out=t[3])
            if not halve_u:
                t[1:3] *= 0.5
            # then along the rows: v[a, k] (nb, nr, tw, C)
            v = v_buf[:16 * tiles * chans].reshape(4, 4, nb, nr, tw, chans)
            r0_, r1_ = t[:, :, 0:2 * nr:2], t[:, :, 1:2 * nr + 1:2]
            r2_, r3_ = t[:, :, 2:2 * nr + 2:2], t[:, :, 3:2 * nr + 3:2]
            np.subtract(r0_, r2_, out=v[0])
            np.add(r1_, r2_, out=v[1])
            np.subtract(r2_, r1_, out=v[2])
            np.subtract(r1_, r3_, out=v[3])
            if not halve_u:
                v[1:3] *= 0.5
            # the 16 GEMMs (tiles, C) @ (C, F)
            m = m_buf[:16 * tiles * filters].reshape(16, tiles, filters)
            np.matmul(v.reshape(16, tiles, chans), u, out=m)
            m = m.reshape(4, 4, nb, nr, tw, filters)
            # A^T along the rows: s[a, k] (nb, nr, tw, F)
            s = s_buf[:8 * tiles * filters].reshape(2, 4, nb, nr, tw, filters)
            np.add(m[0], m[1], out=s[0])
            s[0] += m[2]
            np.subtract(m[1], m[2], out=s[1])
            s[1] -= m[3]
            # then along the columns, into the output: y6[:, rows, a, :, b]
            dest = y6[b0:b0 + nb, r0:r0 + nr]                       # (nb, nr, 2, tw, 2, F)
            d0 = dest[:, :, :, :, 0].transpose(2, 0, 1, 3, 4)       # (2a, nb, nr, tw, F)
            d1 = dest[:, :, :, :, 1].transpose(2, 0, 1, 3, 4)
            np.add(s[:, 0], s[:, 1], out=d0)
            d0 += s[:, 2]
            np.subtract(s[:, 1], s[:, 2], out=d1)
            d1 -= s[:, 3]

    run_blocks(work, blocks, 16 * tiles_all * chans * filters)
    if (2 * th, 2 * tw) == tuple(out):
        return y
    return y[:, :out[0], :out[1]]

