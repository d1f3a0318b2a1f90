"""Image resizing layers: Resizing, CenterCrop, UpSampling1D/2D/3D, and the interpolation
they (and the random augmentation layers) share.

:func:`resize_images` reproduces TensorFlow's ``tf.image.resize`` (what Keras uses) without
loops over pixels: each spatial axis gets a 1-D weight matrix (output x input), applied to
that axis alone, so a 2-D resize is two separable 1-D passes.

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
from typing import Any

import numpy as np

from .. import registry
from ..fields import KERAS2, KERAS3, REQUIRED, Bool, Choice, Float, Int, IntTuple
from .base import InputSpec, Layer

__all__ = ["Resizing", "CenterCrop", "UpSampling1D", "UpSampling2D", "UpSampling3D",
           "resize_images", "resize_weights", "RESIZE_METHODS", "DataFormat"]

#: methods of Keras 3's Resizing; Keras 2 also has gaussian and mitchellcubic
RESIZE_METHODS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5",
                  "gaussian", "mitchellcubic")

_F = np.float32


class DataFormat(Choice):
    """``channels_last`` or ``channels_first``; None means Keras's default,
    ``channels_last``."""

    def __init__(self, name: str = "data_format", default: Any = "channels_last", doc: str = "",
                 **kw: Any):
        super().__init__(name, default, doc or "Position of the channels axis.",
                         choices=("channels_last", "channels_first"), **kw)

    def validate(self, value: Any, path: str) -> Any:
        if value is None:
            return "channels_last"
        return super().validate(value, path)


# -- kernels of scale_and_translate ----------------------------------------------------


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


def _hw_axes(ndim: int, data_format: str) -> tuple[int, int]:
    return (ndim - 2, ndim - 1) if data_format == "channels_first" else (ndim - 3, ndim - 2)


def image_output_shape(layer: Layer, input_shape: Any, height: int, width: int,
                       data_format: str) -> tuple:
    shape = list(input_shape)
    if len(shape) not in (3, 4):
        raise ValueError(f"{type(layer).__name__} {layer.name!r} expects images of rank 3 or 4, "
                         f"got shape {tuple(shape)}")
    h, w = _hw_axes(len(shape), data_format)
    shape[h], shape[w] = height, width
    return tuple(shape)


class Resizing(Layer):
    """Resizes images to ``(height, width)`` with ``interpolation`` (see the module doc);
    ``crop_to_aspect_ratio`` first takes the largest centred window of the target aspect,
    ``pad_to_aspect_ratio`` (Keras 3) pads with ``fill_value`` instead. Integer images
    come back rounded in their own dtype (Keras 3; a Keras 2 config gives float32).

    Input shape: ``(batch, H, W, C)`` or ``(H, W, C)`` (channels first per data_format).
    Output shape: the same with ``H, W = height, width``. No weights.
    """

    fields = (
        DataFormat(formats=(KERAS3,)),
        Int("height", REQUIRED, "Output height.", min=1),
        Int("width", REQUIRED, "Output width.", min=1),
        Choice("interpolation", "bilinear", "Interpolation method.", choices=RESIZE_METHODS),
        Bool("crop_to_aspect_ratio", False, "Centre-crop to the target aspect first."),
        Bool("pad_to_aspect_ratio", False, "Pad to the target aspect first (Keras 3).",
             formats=(KERAS3,)),
        Choice("fill_mode", "constant", "Padding mode (only 'constant').",
               choices=("constant",), formats=(KERAS3,)),
        Float("fill_value", 0.0, "Padding value.", formats=(KERAS3,)),
        Bool("antialias", False, "Widen the kernel when downscaling (Keras 3).",
             formats=(KERAS3,)),
    )

    autocast = False

    def _post_init(self) -> None:
        self._keras2 = registry.current_format() == KERAS2
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise self.config_error("pad_to_aspect_ratio", "only one of crop_to_aspect_ratio "
                                    "and pad_to_aspect_ratio can be true")

    def call(self, inputs):
        out = resize_images(inputs, (self.height, self.width), self.interpolation,
                            antialias=self.antialias, data_format=self.data_format,
                            crop_to_aspect_ratio=self.crop_to_aspect_ratio,
                            pad_to_aspect_ratio=self.pad_to_aspect_ratio,
                            fill_value=self.fill_value)
        dt = np.asarray(inputs).dtype
        if np.issubdtype(dt, np.integer) and not self._keras2:
            info = np.iinfo(dt)
            return np.clip(np.round(out), info.min, info.max).astype(dt)
        return out.astype(self.compute_dtype, copy=False)

    def compute_output_shape(self, input_shape):
        return image_output_shape(self, input_shape, self.height, self.width, self.data_format)


def center_crop(x: np.ndarray, height: int, width: int, data_format: str) -> np.ndarray:
    """Keras's CenterCrop: a centred crop, or (input smaller) crop to aspect + resize."""
    h_ax, w_ax = _hw_axes(x.ndim, data_format)
    dh, dw = x.shape[h_ax] - height, x.shape[w_ax] - width
    if dh >= 0 and dw >= 0:
        index = [slice(None)] * x.ndim
        index[h_ax] = slice(dh // 2, dh // 2 + height)
        index[w_ax] = slice(dw // 2, dw // 2 + width)
        return x[tuple(index)]
    return resize_images(x, (height, width), "bilinear", data_format=data_format,
                         crop_to_aspect_ratio=True)


class CenterCrop(Layer):
    """Crops the centre ``(height, width)`` window; an input smaller than the target is
    instead centre-cropped to the target aspect and resized (bilinear), as Keras does.

    Input shape: ``(batch, H, W, C)`` or ``(H, W, C)``. Output shape: ``H, W = height,
    width``. No weights.
    """

    fields = (
        DataFormat(formats=(KERAS3,)),
        Int("height", REQUIRED, "Output height.", min=1),
        Int("width", REQUIRED, "Output width.", min=1),
    )

    def call(self, inputs):
        if inputs.ndim not in (3, 4):
            raise ValueError(f"CenterCrop {self.name!r} expects images of rank 3 or 4, got "
                             f"shape {inputs.shape}")
        out = center_crop(inputs, self.height, self.width, self.data_format)
        return out.astype(self.compute_dtype, copy=False)

    def compute_output_shape(self, input_shape):
        return image_output_shape(self, input_shape, self.height, self.width, self.data_format)


def _times(n: int | None, k: int) -> int | None:
    return None if n is None else n * k


class UpSampling1D(Layer):
    """Repeats each step ``size`` times along the time axis.

    Input shape: ``(batch, steps, features)``. Output: ``(batch, steps * size, features)``.
    """

    fields = (Int("size", 2, "Upsampling factor.", min=1),)

    def build(self, input_shape):
        self.input_spec = InputSpec(ndim=3)

    def call(self, inputs):
        return np.repeat(inputs, self.size, axis=1)

    def compute_output_shape(self, input_shape):
        b, t, c = tuple(input_shape)
        return (b, _times(t, self.size), c)


class UpSampling2D(Layer):
    """Upsamples rows and columns by ``size``: ``nearest`` repeats pixels, other
    interpolations resize like ``tf.image.resize`` (bilinear: half-pixel centers).

    Input shape: 4-D (channels last or first). Output shape: rows and cols times size.
    """

    fields = (
        IntTuple("size", (2, 2), "Upsampling factors for rows and columns.", length=2, min=1),
        DataFormat(),
        Choice("interpolation", "nearest", "Interpolation method.", choices=RESIZE_METHODS),
    )

    def build(self, input_shape):
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        h, w = _hw_axes(4, self.data_format)
        if self.interpolation == "nearest":
            out = np.repeat(np.repeat(inputs, self.size[0], axis=h), self.size[1], axis=w)
            return out
        size = (inputs.shape[h] * self.size[0], inputs.shape[w] * self.size[1])
        out = resize_images(inputs, size, self.interpolation, data_format=self.data_format)
        return out.astype(self.compute_dtype, copy=False)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        h, w = _hw_axes(4, self.data_format)
        shape[h], shape[w] = _times(shape[h], self.size[0]), _times(shape[w], self.size[1])
        return tuple(shape)


class UpSampling3D(Layer):
    """Repeats each voxel ``size`` times along the three spatial axes.

    Input shape: 5-D (channels last or first). Output shape: spatial dims times size.
    """

    fields = (
        IntTuple("size", (2, 2, 2), "Upsampling factors for the three spatial axes.",
                 length=3, min=1),
        DataFormat(),
    )

    def build(self, input_shape):
        self.input_spec = InputSpec(ndim=5)

    def call(self, inputs):
        first = 2 if self.data_format == "channels_first" else 1
        out = inputs
        for i, k in enumerate(self.size):
            if k != 1:
                out = np.repeat(out, k, axis=first + i)
        return out

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        first = 2 if self.data_format == "channels_first" else 1
        for i, k in enumerate(self.size):
            shape[first + i] = _times(shape[first + i], k)
        return tuple(shape)

