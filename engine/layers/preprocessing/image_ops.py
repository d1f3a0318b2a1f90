"""Image operations shared by the augmentation layers, in plain NumPy on channels-last
batches ``(B, H, W, C)``: affine and projective resampling with TensorFlow's fill rules,
``map_coordinates``, value-range mapping, RGB <-> HSV, grayscale, Gaussian kernels and
depthwise filtering, and random boxes."""

from __future__ import annotations

from typing import Any

import numpy as np

MAP_FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


def affine_transform(images: np.ndarray, matrix: np.ndarray, interpolation: str = "bilinear",
                     fill_mode: str = "reflect", fill_value: float = 0.0) -> np.ndarray:
    """Samples ``images`` (B, H, W, C) at ``matrix @ [x, y, 1]`` per output pixel.

    ``matrix``: (B, 2, 3) maps output (x=col, y=row) to input coordinates; a (B, 3, 3)
    matrix is projective (the result is divided by its third row). Fill modes as
    TensorFlow's ImageProjectiveTransform: reflect (d c b a | a b c d | d c b a), wrap,
    nearest (edge), constant (``fill_value``).
    """
    b, h, w, c = images.shape
    ys = np.arange(h, dtype=np.float64)[None, :, None]
    xs = np.arange(w, dtype=np.float64)[None, None, :]
    m = np.asarray(matrix, np.float64)[:, :, :, None, None]  # (B, rows, 3, 1, 1)
    sx, sy = (m[:, r, 0] * xs + m[:, r, 1] * ys + m[:, r, 2] for r in (0, 1))
    if m.shape[1] == 3:  # projective: divide by the third coordinate
        k = m[:, 2, 0] * xs + m[:, 2, 1] * ys + m[:, 2, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            sx, sy = sx / k, sy / k
        sx = np.where(np.isfinite(sx), sx, -1.0e9)  # k == 0: outside the image
        sy = np.where(np.isfinite(sy), sy, -1.0e9)
    sx = _map_coord(sx, w, fill_mode)
    sy = _map_coord(sy, h, fill_mode)
    flat = images.reshape(b * h * w, c)
    base = (np.arange(b) * (h * w))[:, None, None]

    def read(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        vals = np.take(flat, base + np.clip(yy, 0, h - 1) * w + np.clip(xx, 0, w - 1),
                       axis=0)
        if fill_mode != "constant":
            return vals
        return np.where(inside[..., None], vals, np.asarray(fill_value, images.dtype))

    if interpolation == "nearest":
        return read(_round_half_away(sy), _round_half_away(sx))
    y0, x0 = np.floor(sy), np.floor(sx)
    wt = images.dtype if images.dtype == np.float32 else np.float64  # TF blends in float32
    dy, dx = (sy - y0)[..., None].astype(wt), (sx - x0)[..., None].astype(wt)
    y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
    top = read(y0, x0) * (1 - dx) + read(y0, x0 + 1) * dx
    bottom = read(y0 + 1, x0) * (1 - dx) + read(y0 + 1, x0 + 1) * dx
    return (top * (1 - dy) + bottom * dy).astype(images.dtype)


def _map_coord(c: np.ndarray, size: int, mode: str) -> np.ndarray:
    """TensorFlow's ImageProjectiveTransform coordinate rules per fill mode."""
    if mode == "constant":
        return c
    if size <= 1:
        return np.zeros_like(c)
    if mode == "reflect":
        m = np.mod(c, 2 * size)
        c = np.where(m >= size, 2 * size - m - 1, m)
    elif mode == "wrap":
        sz = size - 1
        c = np.where(c < 0, c + size * (np.trunc(-c / sz) + 1),
                     np.where(c > sz, c - size * np.trunc(c / sz), c))
    return np.clip(c, 0, size - 1)


def _round_half_away(c: np.ndarray) -> np.ndarray:
    return np.trunc(c + np.copysign(0.5, c)).astype(np.int64)


def centered_affine(mats: np.ndarray, h: int, w: int) -> np.ndarray:
    """Turn (B, 2, 2) linear maps about the image centre into (B, 2, 3) affine maps."""
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    shift = c - np.einsum("bij,j->bi", mats, c)
    return np.concatenate([mats, shift[..., None]], axis=-1)


def to_value_range(x: np.ndarray, src: Any, dst: Any) -> np.ndarray:
    """Keras's ``_transform_value_range``: map ``[src0, src1]`` linearly onto ``[dst0,
    dst1]`` (float32)."""
    if src[0] == dst[0] and src[1] == dst[1]:
        return x
    x = x.astype(np.float32, copy=False)
    s0, s1, d0, d1 = (np.float32(v) for v in (*src, *dst))
    return (x - s0) / (s1 - s0) * (d1 - d0) + d0


def grayscale(x: np.ndarray) -> np.ndarray:
    if x.shape[-1] != 3:
        raise ValueError(f"expected RGB images (3 channels), got shape {x.shape}")
    w = np.asarray([0.2989, 0.5870, 0.1140], x.dtype)
    return np.tensordot(x, w, axes=([-1], [0]))[..., None]


def rgb_to_hsv(x: np.ndarray) -> np.ndarray:
    """RGB (last axis) to HSV with hue in [0, 1) (Keras's / TensorFlow's formula)."""
    x = np.where(np.abs(x) < np.finfo(x.dtype).eps, 0, x).astype(x.dtype, copy=False)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    value = np.maximum(np.maximum(r, g), b)
    rng = value - np.minimum(np.minimum(r, g), b)
    one = np.ones((), x.dtype)
    sat = np.where(value > 0, rng / np.where(value > 0, value, one), 0)
    norm = one / (6 * np.where(rng > 0, rng, one))
    hue = np.where(value == g, norm * (b - r) + np.float32(2.0 / 6.0),
                   norm * (r - g) + np.float32(4.0 / 6.0))
    hue = np.where(value == r, norm * (g - b), hue)
    hue = np.where(rng > 0, hue, 0) + (hue < 0).astype(x.dtype)
    return np.stack([hue, sat, value], axis=-1).astype(x.dtype, copy=False)


def hsv_to_rgb(x: np.ndarray) -> np.ndarray:
    """HSV (last axis, hue in [0, 1)) to RGB (Keras's / TensorFlow's formula)."""
    h, s, v = x[..., 0], x[..., 1], x[..., 2]
    dh = np.mod(h, 1.0) * 6
    planes = [np.clip(np.abs(dh - 3) - 1, 0, 1), np.clip(2 - np.abs(dh - 2), 0, 1),
              np.clip(2 - np.abs(dh - 4), 0, 1)]
    return np.stack([v * ((1 - s) + s * d) for d in planes], axis=-1).astype(x.dtype)


def gaussian_kernel(size: tuple[int, int], sigma: Any) -> np.ndarray:
    """TensorFlow's Keras 3 gaussian_blur kernel: ``outer(k(size[1], sigma[1]),
    k(size[0], sigma[0]))`` laid out as ``(size[0], size[1])`` (rows: height)."""
    def k1d(n: int, s: np.float32) -> np.ndarray:
        t = np.arange(n, dtype=np.float32) - np.float32((n - 1) / 2)
        k = np.exp(np.float32(-0.5) * (t / s) ** 2)
        return k / k.sum()

    s = np.asarray(sigma, np.float32)
    return np.outer(k1d(size[1], s[1]), k1d(size[0], s[0])).reshape(size).astype(np.float32)


def depthwise_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlates each channel of ``x`` (B, H, W, C) with ``kernel`` (kh, kw), zero
    padded to the same size (TensorFlow's SAME split)."""
    kh, kw = kernel.shape
    h, w = x.shape[1:3]
    top, left = (kh - 1) // 2, (kw - 1) // 2
    padded = np.pad(x, ((0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
    out = np.zeros(x.shape, np.float32)
    for i in range(kh):  # loops over the kernel taps only
        for j in range(kw):
            out += kernel[i, j] * padded[:, i:i + h, j:j + w]
    return out


def box_bounds(rng: np.random.Generator, length: int, ratio: np.ndarray) -> tuple:
    crop = (ratio * length).astype(np.float32)
    start = rng.uniform(size=ratio.shape).astype(np.float32) * (length - crop)
    return start, start + crop


def box_mask(h: int, w: int, x0, x1, y0, y1) -> np.ndarray:
    """(B, H, W, 1) mask of ``x0 <= col < x1`` and ``y0 <= row < y1`` per image."""
    gy = np.arange(h, dtype=np.float32)[None, :, None, None]
    gx = np.arange(w, dtype=np.float32)[None, None, :, None]
    col = (slice(None), None, None, None)
    return (gx >= x0[col]) & (gx < x1[col]) & (gy >= y0[col]) & (gy < y1[col])


def homography(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(B, 3, 3) projective maps taking each of the four ``end`` points (B, 4, 2) to the
    matching ``start`` point (output pixel -> input pixel, as Keras 3)."""
    b = start.shape[0]
    ex, ey = end[..., 0], end[..., 1]
    sx, sy = start[..., 0], start[..., 1]
    one, zero = np.ones_like(ex), np.zeros_like(ex)
    rows_x = np.stack([ex, ey, one, zero, zero, zero, -ex * sx, -ey * sx], -1)
    rows_y = np.stack([zero, zero, zero, ex, ey, one, -ex * sy, -ey * sy], -1)
    a = np.concatenate([rows_x, rows_y], axis=1)  # (B, 8, 8)
    rhs = np.concatenate([sx, sy], axis=1)[..., None]
    coef = np.linalg.solve(a, rhs)[..., 0]
    return np.concatenate([coef, np.ones((b, 1))], axis=1).reshape(b, 3, 3)


def _fix_index(idx: np.ndarray, size: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Keras 3's (TensorFlow backend) ``map_coordinates`` index rules per fill mode:
    the index to read and whether it is inside (constant mode only)."""
    if mode == "constant":
        return np.clip(idx, 0, size - 1), (idx >= 0) & (idx < size)
    if mode == "nearest":
        idx = np.clip(idx, 0, size - 1)
    elif mode in ("mirror", "reflect"):
        mod = np.mod(np.abs(idx), 2 * size)
        over = mod >= size
        idx = np.where(over, 2 * size - mod - (1 if mode == "reflect" else 0), mod)
        idx = np.clip(idx, 0, size - 1)
    else:
        idx = np.mod(idx, size)
    return idx, np.ones(idx.shape, bool)


def map_coordinates_2d(images: np.ndarray, ys: np.ndarray, xs: np.ndarray, order: int,
                       fill_mode: str, fill_value: float) -> np.ndarray:
    """Samples ``images`` (B, H, W, C) at the (B, H, W) coordinates ``ys``, ``xs`` with
    nearest (order 0, round half to even) or linear (order 1) interpolation."""
    b, h, w, _ = images.shape
    bidx = np.arange(b)[:, None, None]

    def nodes(c: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        if order == 0:
            return [(np.round(c).astype(np.int64), np.ones_like(c))]
        low = np.floor(c)
        up = c - low
        return [(low.astype(np.int64), 1 - up), (low.astype(np.int64) + 1, up)]

    out = np.zeros(images.shape, np.float32)
    fill = np.float32(fill_value)
    for iy, wy in nodes(ys):
        yy, vy = _fix_index(iy, h, fill_mode)
        for ix, wx in nodes(xs):
            xx, vx = _fix_index(ix, w, fill_mode)
            vals = images[bidx, yy, xx]
            if fill_mode == "constant":
                vals = np.where((vy & vx)[..., None], vals, fill)
            out += (wy * wx).astype(np.float32)[..., None] * vals
    return out
