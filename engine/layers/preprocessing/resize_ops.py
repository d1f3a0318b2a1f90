"""``tf.image.resize`` in NumPy, and the crops around it (what Resizing, CenterCrop,
UpSampling2D, RandomCrop and the Keras 2 RandomHeight/RandomWidth use).

:func:`resize_images` reproduces TensorFlow's ``tf.image.resize`` without loops over
pixels: each spatial axis gets a 1-D weight matrix (output x input), applied to that axis
alone, so a 2-D resize is two separable 1-D passes.

* ``nearest``: half-pixel centers, ``floor((i + 0.5) * in / out)`` (an index gather).
* ``bilinear``: half-pixel centers, edge pixels clamped (``resize_bilinear``).
* ``bicubic``: Keys cubic (a = -0.5), half-pixel centers, taps outside the image dropped and
  the rest renormalized, the fractional offset quantized to 1/1024 as TF's table does.
* ``area``: exact box overlap (``resize_area``; no half-pixel shift).
* ``lanczos3``, ``lanczos5``, ``gaussian``, ``mitchellcubic``: TF's ``scale_and_translate``
  kernels; with ``antialias=True`` (and for ``bilinear``/``bicubic`` then too) the kernel
  is widened by the downscale factor.

The matrices are applied through their few non-zero taps per row (:func:`resize_taps`):
one ``np.take`` and one multiply-add per tap over the whole batch.
"""

from __future__ import annotations

import functools

import numpy as np

RESIZE_METHODS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5",
                  "gaussian", "mitchellcubic")


_F = np.float32


def _lanczos(radius: float):
    def k(x: np.ndarray) -> np.ndarray:
        x = np.abs(x)
        pi = 3.14159265359
        with np.errstate(divide="ignore", invalid="ignore"):
            v = radius * np.sin(pi * x) * np.sin(pi * x / radius) / (pi * pi * x * x)
        v = np.where(x <= 1e-3, 1.0, v)
        return np.where(x > radius, 0.0, v)
    return k, float(radius)


def _gaussian(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    sigma = 1.5 / 3.0
    return np.where(x >= 1.5, 0.0, np.exp(-x * x / (2.0 * sigma * sigma)))


def _keys_cubic(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    near = ((1.5 * x - 2.5) * x) * x + 1.0
    far = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
    return np.where(x >= 2.0, 0.0, np.where(x >= 1.0, far, near))


def _mitchell(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    near = (7.0 / 6.0 * x - 2.0) * x * x + 8.0 / 9.0
    far = ((-7.0 / 18.0 * x + 2.0) * x - 10.0 / 3.0) * x + 16.0 / 9.0
    return np.where(x >= 2.0, 0.0, np.where(x >= 1.0, far, near))


def _triangle(x: np.ndarray) -> np.ndarray:
    return np.maximum(1.0 - np.abs(x), 0.0)


_KERNELS = {
    "lanczos3": _lanczos(3.0),
    "lanczos5": _lanczos(5.0),
    "gaussian": (_gaussian, 1.5),
    "mitchellcubic": (_mitchell, 2.0),
    "keyscubic": (_keys_cubic, 2.0),
    "triangle": (_triangle, 1.0),
}


def _scale_translate(n_in: int, n_out: int, kernel: str, antialias: bool) -> np.ndarray:
    fn, _radius = _KERNELS[kernel]
    scale = _F(n_out) / _F(n_in)
    inv = _F(1.0) / scale
    ks = max(float(inv), 1.0) if antialias else 1.0
    sample = (np.arange(n_out, dtype=_F) + _F(0.5)) * inv
    pos = (np.arange(n_in, dtype=_F)[None, :] + _F(0.5) - sample[:, None]).astype(np.float64)
    w = fn(pos / ks)
    total = w.sum(axis=1, keepdims=True)
    ok = np.abs(total) >= 1000.0 * np.finfo(np.float32).tiny
    return np.where(ok, w / np.where(ok, total, 1.0), w).astype(_F)


def _bilinear(n_in: int, n_out: int) -> np.ndarray:
    scale = _F(n_in) / _F(n_out)
    src = (np.arange(n_out, dtype=_F) + _F(0.5)) * scale - _F(0.5)
    lo_f = np.floor(src)
    lower = np.maximum(lo_f, 0).astype(np.int64)
    upper = np.minimum(np.ceil(src), n_in - 1).astype(np.int64)
    lerp = (src - lo_f).astype(np.float64)
    w = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(w, (rows, lower), 1.0 - lerp)
    np.add.at(w, (rows, upper), lerp)
    return w.astype(_F)


def _bicubic(n_in: int, n_out: int) -> np.ndarray:
    a = -0.5
    scale = _F(n_in) / _F(n_out)
    src = (np.arange(n_out, dtype=_F) + _F(0.5)) * scale - _F(0.5)
    loc = np.floor(src)
    offset = np.rint((src - loc) * _F(1024)).astype(np.float64)
    t = offset / 1024.0

    def near(x):
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    taps = np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=1)
    idx = loc.astype(np.int64)[:, None] + np.arange(-1, 3)[None, :]
    inside = (idx >= 0) & (idx < n_in)
    taps = np.where(inside, taps, 0.0)
    total = taps.sum(axis=1, keepdims=True)
    ok = np.abs(total) >= 1000.0 * np.finfo(np.float32).tiny
    taps = np.where(ok, taps / np.where(ok, total, 1.0), taps)
    w = np.zeros((n_out, n_in))
    rows = np.repeat(np.arange(n_out), 4)
    np.add.at(w, (rows, np.clip(idx, 0, n_in - 1).ravel()), taps.ravel())
    return w.astype(_F)


def _area(n_in: int, n_out: int) -> np.ndarray:
    scale = _F(n_in) / _F(n_out)
    y0 = np.arange(n_out, dtype=_F) * scale
    y1 = (np.arange(n_out, dtype=_F) + _F(1)) * scale
    i = np.arange(n_in + 1, dtype=np.float64)[None, :]
    overlap = np.minimum(i + 1, y1[:, None]) - np.maximum(i, y0[:, None])
    overlap = np.maximum(overlap, 0.0)
    overlap[:, n_in - 1] += overlap[:, n_in]  # TF clamps the index of a cell past the end
    return (overlap[:, :n_in] / float(scale)).astype(_F)


@functools.lru_cache(maxsize=512)
def resize_weights(n_in: int, n_out: int, method: str, antialias: bool = False) -> np.ndarray:
    """The ``(n_out, n_in)`` float32 matrix of a 1-D resize (not for ``nearest``)."""
    if antialias and method in ("bilinear", "bicubic"):
        return _scale_translate(n_in, n_out, "triangle" if method == "bilinear" else
                                "keyscubic", True)
    if method == "bilinear":
        return _bilinear(n_in, n_out)
    if method == "bicubic":
        return _bicubic(n_in, n_out)
    if method == "area":
        return _area(n_in, n_out)
    if method in _KERNELS:
        return _scale_translate(n_in, n_out, method, antialias)
    raise ValueError(f"unknown interpolation {method!r}; expected one of {RESIZE_METHODS}")


@functools.lru_cache(maxsize=512)
def nearest_indices(n_in: int, n_out: int) -> np.ndarray:
    """Source index of each output position for half-pixel nearest-neighbour resizing."""
    scale = _F(n_in) / _F(n_out)
    src = np.floor((np.arange(n_out, dtype=_F) + _F(0.5)) * scale).astype(np.int64)
    return np.clip(src, 0, n_in - 1)


def _resize_axis(x: np.ndarray, axis: int, n_out: int, method: str,
                 antialias: bool) -> np.ndarray:
    n_in = x.shape[axis]
    if n_in == n_out:
        return x
    if method == "nearest":
        return np.take(x, nearest_indices(n_in, n_out), axis=axis)
    idx, wts = resize_taps(n_in, n_out, method, antialias)
    shape = [1] * x.ndim
    shape[axis] = n_out
    out = None
    for j in range(idx.shape[1]):  # a few taps per output position, each one gather
        part = np.take(x, idx[:, j], axis=axis)
        part *= wts[:, j].reshape(shape)
        if out is None:
            out = part
        else:
            out += part
    return out


@functools.lru_cache(maxsize=512)
def resize_taps(n_in: int, n_out: int, method: str,
                antialias: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The 1-D resize as ``(indices, weights)``, both ``(n_out, taps)``: output ``i`` is
    ``sum_j x[indices[i, j]] * weights[i, j]`` (the non-zeros of :func:`resize_weights`)."""
    w = resize_weights(n_in, n_out, method, antialias)
    nz = w != 0
    taps = max(int(nz.sum(axis=1).max()), 1)
    order = np.argsort(~nz, axis=1, kind="stable")[:, :taps]
    return order, np.take_along_axis(w, order, axis=1).astype(_F)


def crop_to_aspect(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The largest centred window of ``x`` (channels last) with the aspect of ``size``."""
    h, w = x.shape[-3], x.shape[-2]
    th, tw = size
    ch = max(min(h, int(_F(w * th) / _F(tw))), 1)
    cw = max(min(w, int(_F(h * tw) / _F(th))), 1)
    hs, ws = int(_F(h - ch) / _F(2)), int(_F(w - cw) / _F(2))
    return x[..., hs:hs + ch, ws:ws + cw, :]


def pad_to_aspect(x: np.ndarray, size: tuple[int, int], fill_value: float) -> np.ndarray:
    """Pads ``x`` (channels last) symmetrically with ``fill_value`` to the aspect of
    ``size``, as Keras 3's TensorFlow backend does."""
    h, w = x.shape[-3], x.shape[-2]
    th, tw = size
    ph = max(h, int(_F(w * th) / _F(tw)))
    pw = max(w, int(_F(h * tw) / _F(th)))
    hs, ws = int(_F(ph - h) / _F(2)), int(_F(pw - w) / _F(2))
    pad = [(0, 0)] * x.ndim
    pad[-3], pad[-2] = (hs, hs), (ws, ws)
    if hs == 0 and ws == 0:
        return x
    return np.pad(x, pad, constant_values=fill_value)


def resize_images(x: np.ndarray, size: tuple[int, int], method: str = "bilinear", *,
                  antialias: bool = False, data_format: str = "channels_last",
                  crop_to_aspect_ratio: bool = False, pad_to_aspect_ratio: bool = False,
                  fill_value: float = 0.0) -> np.ndarray:
    """Resize images (rank 3 or 4) to ``size = (height, width)`` like ``tf.image.resize``.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)`` (channels first when
    ``data_format='channels_first'``). The result is float32.
    """
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"expected images of rank 3 or 4, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating) or x.dtype == np.float16:
        x = x.astype(_F)
    if data_format == "channels_first":
        x = np.moveaxis(x, -3, -1)
    size = (int(size[0]), int(size[1]))
    if crop_to_aspect_ratio:
        x = crop_to_aspect(x, size)
    elif pad_to_aspect_ratio:
        x = pad_to_aspect(x, size, fill_value)
    out = _resize_axis(x, x.ndim - 3, size[0], method, antialias)
    out = _resize_axis(out, x.ndim - 2, size[1], method, antialias)
    if data_format == "channels_first":
        out = np.moveaxis(out, -1, -3)
    return np.ascontiguousarray(out)


def hw_axes(ndim: int, data_format: str) -> tuple[int, int]:
    """The height and width axes of images of rank ``ndim``."""
    return (ndim - 2, ndim - 1) if data_format == "channels_first" else (ndim - 3, ndim - 2)


def center_crop(x: np.ndarray, height: int, width: int, data_format: str) -> np.ndarray:
    """Keras's CenterCrop: a centred crop, or (input smaller) crop to aspect + resize."""
    h_ax, w_ax = hw_axes(x.ndim, data_format)
    dh, dw = x.shape[h_ax] - height, x.shape[w_ax] - width
    if dh >= 0 and dw >= 0:
        index = [slice(None)] * x.ndim
        index[h_ax] = slice(dh // 2, dh // 2 + height)
        index[w_ax] = slice(dw // 2, dw // 2 + width)
        return x[tuple(index)]
    return resize_images(x, (height, width), "bilinear", data_format=data_format,
                         crop_to_aspect_ratio=True)
