"""Layers that resize images: Resizing, CenterCrop and UpSampling1D/2D/3D (the resize
itself is :mod:`.resize_ops`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...fields import REQUIRED, Bool, Choice, DataFormat, Float, Int, IntTuple
from ...formats import KERAS2, KERAS3
from ..base import InputSpec, Layer
from .resize_ops import RESIZE_METHODS, center_crop, hw_axes, resize_images

__all__ = ["Resizing", "CenterCrop", "UpSampling1D", "UpSampling2D", "UpSampling3D"]


def image_output_shape(layer: Layer, input_shape: Any, height: int, width: int,
                       data_format: str) -> tuple:
    """``input_shape`` (images of rank 3 or 4) with its height and width replaced."""
    shape = list(input_shape)
    if len(shape) not in (3, 4):
        raise ValueError(f"{type(layer).__name__} {layer.name!r} expects images of rank 3 or 4, "
                         f"got shape {tuple(shape)}")
    h, w = hw_axes(len(shape), data_format)
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

    #: Keras's constructor order
    positional = ("height", "width", "interpolation", "crop_to_aspect_ratio", "pad_to_aspect_ratio",
                  "fill_mode", "fill_value", "antialias", "data_format")

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
        if np.issubdtype(dt, np.integer) and self.source_format != KERAS2:
            info = np.iinfo(dt)
            return np.clip(np.round(out), info.min, info.max).astype(dt)
        return out.astype(self.compute_dtype, copy=False)

    def compute_output_shape(self, input_shape):
        return image_output_shape(self, input_shape, self.height, self.width, self.data_format)


class CenterCrop(Layer):
    """Crops the centre ``(height, width)`` window; an input smaller than the target is
    instead centre-cropped to the target aspect and resized (bilinear), as Keras does.

    Input shape: ``(batch, H, W, C)`` or ``(H, W, C)``. Output shape: ``H, W = height,
    width``. No weights.
    """

    #: Keras's constructor order
    positional = ("height", "width", "data_format")

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
        h, w = hw_axes(4, self.data_format)
        if self.interpolation == "nearest":
            out = np.repeat(np.repeat(inputs, self.size[0], axis=h), self.size[1], axis=w)
            return out
        size = (inputs.shape[h] * self.size[0], inputs.shape[w] * self.size[1])
        out = resize_images(inputs, size, self.interpolation, data_format=self.data_format)
        return out.astype(self.compute_dtype, copy=False)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        h, w = hw_axes(4, self.data_format)
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
