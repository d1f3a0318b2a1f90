"""Winograd F(2x2, 3x3): stride-1 3x3 convolutions with many channels (used by ops.conv_nd).

Each 2x2 block of outputs ("tile") is computed from the 4x4 block of inputs around it as
``Y = A^T [(G g G^T) * (B^T d B)] A`` (Lavin and Gray, 2016), so one GEMM per element of
the 4x4 transformed tile, 16 of depth C, replaces nine per output (36 multiply-adds per
tile and channel pair become 16). All transform coefficients are 0, +-1 and 1/2, exact in
float32; the result differs from the direct sum only by rounding (measured against a
float64 reference on the VGG16 and ResNet50 shapes: about twice the direct GEMM's rounding
error, 6e-7 of the output's largest value; tests/engine/test_conv_kernels.py).

The transforms are a few whole-array additions on strided views of a block of tile rows
(about BLOCK_FLOATS floats of transformed input, at least BLOCK_MIN_TILES tiles for the
GEMMs' sake). The kernel's transform ``U = G g G^T`` (16/9 of the kernel's
size) and whether the kernel is finite are kept per kernel array (:func:`prepared`) and
reused only while the array is the same object holding the same bits: a kernel may change
in place between calls (``set_weights``, ``Variable.assign``, the finite-difference
gradient checks), so every call compares the kernel with a copy of the bits the transform
was made from (a memory-speed compare, 5-10x cheaper than the transform). Inputs or kernels
with NaN or +-inf never come here (ops.conv_nd): inf - inf in the transforms would turn the
direct sum's +-inf into NaN.

Matrices (F(2, 3)): ``B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]``,
``G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]``,
``A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]``.
"""

from __future__ import annotations

import threading
import weakref
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
#: least output tiles (2x2 blocks of outputs, over the batch): the transforms and the
#: kernel's compare with its remembered bits are paid on every call, so tiny images keep
#: the direct GEMMs (measured: 72 tiles are 0.7x the direct time at 128 and at 512
#: channels, 18 tiles 1.2-1.5x; 18 tiles at 256 channels still 1.03x with the kernel's
#: transform remembered, tests/bench/bench_conv.py)
MIN_TILES = 64
#: target floats of one block's transformed input (16 per tile and channel; half the L2
#: cache), and the least tiles of a block (the GEMMs' rows: fewer lose speed): at least
#: BLOCK_MIN_TILES where the memory-bound transforms weigh most (more than FEW_CHANNELS
#: channels, at most MANY_FILTERS filters), else at least LARGE_BLOCK_MIN_TILES (cheap
#: transforms or large GEMMs). Measured (batch 2, one thread, in VGG16, ResNet50 and
#: DenseNet121 at 96x96, against 256-tile blocks): 128 channels into 32 filters on 24x24
#: images 0.65-0.9x the time in blocks of 60 tiles, 128 into 128 on 48x48 0.7-0.85x; but
#: 256 into 256 on 24x24 1.15x and 64 into 64 on 96x96 1.1x (so not there)
BLOCK_FLOATS = 1 << 17
BLOCK_MIN_TILES = 64
FEW_CHANNELS = 64
MANY_FILTERS = 128
LARGE_BLOCK_MIN_TILES = 256
#: the dtypes Winograd runs in (float16 would lose too much in the transforms)
DTYPES = (np.dtype(np.float32),)


#: most bytes of kernel transforms (and the copies of the kernels they were made from) kept
#: by :func:`prepared`; the least recently used go first
CACHE_BYTES = 64 << 20


class Prepared:
    """What :func:`prepared` keeps of one kernel array: a weak reference to it, a copy of
    its bits, whether it is finite, and its transform (halved: G's factors 1/2 in it)."""

    __slots__ = ("ref", "bits", "finite", "u", "nbytes")

    def __init__(self, kernel: np.ndarray):
        self.ref = weakref.ref(kernel)
        self.bits = _bits(kernel).copy()
        self.finite = bool(np.isfinite(np.add.reduce(kernel, axis=None)))
        self.u = kernel_transform(kernel, kernel.dtype, True) if self.finite else None
        self.nbytes = self.bits.nbytes + (0 if self.u is None else self.u.nbytes)

    def matches(self, kernel: np.ndarray) -> bool:
        return self.ref() is kernel and self.bits.shape == kernel.shape and \
            np.array_equal(self.bits, _bits(kernel))


_cache: dict[int, Prepared] = {}
_lock = threading.Lock()


def _bits(kernel: np.ndarray) -> np.ndarray:
    """The kernel's bits as unsigned integers (equal bits, not equal values: -0.0 and 0.0
    differ, a NaN equals itself)."""
    return kernel.view(np.dtype(f"u{kernel.dtype.itemsize}"))


def prepared(kernel: np.ndarray) -> Prepared:
    """The finiteness and transform of a C-contiguous float32 (3, 3, C, F) ``kernel``:
    remembered while the same array holds the same bits, else made anew (and remembered
    within CACHE_BYTES)."""
    key = id(kernel)
    entry = _cache.get(key)
    if entry is not None and entry.matches(kernel):
        with _lock:   # most recently used last
            if _cache.get(key) is entry:
                _cache[key] = _cache.pop(key)
        return entry
    entry = Prepared(kernel)
    with _lock:
        _cache.pop(key, None)
        for k in [k for k, e in _cache.items() if e.ref() is None]:  # kernels gone
            del _cache[k]
        total = sum(e.nbytes for e in _cache.values())
        while _cache and total + entry.nbytes > CACHE_BYTES:
            total -= _cache.pop(next(iter(_cache))).nbytes
        if entry.nbytes <= CACHE_BYTES:
            _cache[key] = entry
    return entry


def clear_cache() -> None:
    """Forget every remembered kernel transform."""
    with _lock:
        _cache.clear()


def kernel_info(kernel: np.ndarray) -> tuple[bool, np.ndarray | None]:
    """Whether the sum of ``kernel`` is finite (no NaN, +-inf or overflow), and its halved
    transform (for :func:`conv_winograd`'s ``u``) when it is finite; remembered for
    C-contiguous float32 kernels (:func:`prepared`), else the transform is None."""
    if kernel.dtype in DTYPES and kernel.flags.c_contiguous:
        entry = prepared(kernel)
        return entry.finite, entry.u
    return bool(np.isfinite(np.add.reduce(kernel, axis=None))), None


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
    per_block = tiles_per_block(chans, filters)
    most = min(tiles, 2 * per_block)   # (whole images: fewer than 2 per_block tiles)
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


def tiles_per_block(chans: int, filters: int) -> int:
    """Tiles of one block: about BLOCK_FLOATS floats of transformed input, at least
    BLOCK_MIN_TILES (LARGE_BLOCK_MIN_TILES with few channels or many filters)."""
    small = FEW_CHANNELS < chans and filters <= MANY_FILTERS
    return max(BLOCK_MIN_TILES if small else LARGE_BLOCK_MIN_TILES,
               BLOCK_FLOATS // (16 * chans))


def _blocks(n_batch: int, th: int, tw: int, per_block: int) -> list[tuple[int, int, int, int]]:
    """(first image, images, first tile row, tile rows) blocks of about ``per_block``
    tiles: whole images together when an image is smaller (as many as reach
    ``per_block``) or at most a quarter larger, else rows of one image."""
    per_image = th * tw
    if per_image <= per_block + per_block // 4:
        step = -(-per_block // per_image)
        return [(b, min(step, n_batch - b), 0, th) for b in range(0, n_batch, step)]
    rows = max(1, per_block // tw)
    return [(b, 1, r, min(rows, th - r)) for b in range(n_batch) for r in range(0, th, rows)]


def conv_winograd(xp: np.ndarray, kernel: np.ndarray, out: tuple[int, int],
                  run_blocks: Callable[[Callable[[list[Any]], None], list[Any], int], None],
                  halve_kernel: bool | None = None, u: np.ndarray | None = None,
                  ) -> np.ndarray:
    """Stride-1 3x3 convolution of padded channels-last ``xp`` (N, Hp, Wp, C), padded so
    that ``Hp = 2 * ceil(Ho / 2) + 2`` (and the same for the columns; see extra_padding),
    with kernel (3, 3, C, F). Returns the (N, Ho, Wo, F) result, a new array or a view of
    one (odd output sizes). ``run_blocks(work, blocks, flops)`` runs ``work`` over the
    blocks (ops._run_blocks: on the worker threads when the job is large).
    ``halve_kernel``: where G's factors 1/2 go (the kernel's
    transform or the input's; the same bits either way), by default the smaller side;
    ``u``: the kernel's halved transform when the caller has it (:func:`kernel_info`)."""
    n_batch, hp, wp, chans = xp.shape
    filters = kernel.shape[-1]
    th, tw = (hp - 2) // 2, (wp - 2) // 2
    dtype = np.result_type(xp.dtype, kernel.dtype)
    tiles_all = n_batch * th * tw
    # the factors 1/2 of G on the kernel's side or the input's, whichever is smaller
    if u is not None and u.dtype == dtype and halve_kernel in (None, True):
        halve_u = True
    else:
        halve_u = 14 * chans * filters <= 12 * tiles_all * chans if halve_kernel is None \
            else halve_kernel
        u = kernel_transform(kernel, dtype, halve_u)
    y = np.empty((n_batch, 2 * th, 2 * tw, filters), dtype=dtype)
    # y[n, 2i + a, 2j + b, f] is y6[n, i, a, j, b, f]
    y6 = y.reshape(n_batch, th, 2, tw, 2, filters)
    blocks = _blocks(n_batch, th, tw, tiles_per_block(chans, filters))
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

