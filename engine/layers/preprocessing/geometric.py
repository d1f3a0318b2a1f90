"""Geometric augmentation layers: RandomFlip, RandomRotation, RandomZoom,
RandomTranslation, RandomCrop, Keras 2's RandomHeight and RandomWidth, RandomShear,
RandomPerspective, RandomElasticTransform, and MaxNumBoundingBoxes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...fields import REQUIRED, Choice, DataFormat, Float, Int, Seed
from ...fields.ranges import Factor, ValueRange
from ...formats import KERAS2, KERAS3
from .image_layer import (
    FILL_MODES,
    INTERPOLATION,
    RNG_TYPE,
    ImagePreprocessingLayer,
    Keras3ImageLayer,
    fill_fields,
)
from .image_ops import (
    MAP_FILL_MODES,
    affine_transform,
    centered_affine,
    depthwise_same,
    gaussian_kernel,
    homography,
    map_coordinates_2d,
)
from .resize_ops import RESIZE_METHODS, crop_to_aspect, resize_images

__all__ = ["RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomCrop",
           "RandomHeight", "RandomWidth", "RandomShear", "RandomPerspective",
           "RandomElasticTransform", "MaxNumBoundingBoxes"]


class RandomFlip(ImagePreprocessingLayer):
    """Training: flips each image (probability 0.5) horizontally and/or vertically per
    ``mode``. With ``horizontal_and_vertical`` Keras 3 flips both axes or neither (one
    draw), Keras 2 each axis on its own draw: a layer read from a Keras 2 config does the
    latter, and that mode cannot be written for the other format.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("mode", "seed", "data_format")

    fields = (
        RNG_TYPE,
        DataFormat(formats=(KERAS3,)),
        Seed(),
        Choice("mode", "horizontal_and_vertical", "Which flips to apply.",
               choices=("horizontal", "vertical", "horizontal_and_vertical")),
    )
    keras2_order = ("name", "trainable", "dtype", "rng_type", "mode", "seed")

    def _augment(self, x):
        flips = self._rng.uniform(size=(x.shape[0], 1, 1, 1)) <= 0.5
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            x = np.where(flips, x[:, :, ::-1], x)
        if self.mode == "horizontal_and_vertical" and self.source_format == KERAS2:
            # Keras 2 draws the vertical flip on its own
            flips = self._rng.uniform(size=(x.shape[0], 1, 1, 1)) <= 0.5
        if self.mode in ("vertical", "horizontal_and_vertical"):
            x = np.where(flips, x[:, ::-1], x)
        return x


class RandomRotation(ImagePreprocessingLayer):
    """Training: rotates each image by a random angle in ``factor * 2 pi`` about its
    centre, filling per ``fill_mode`` (Keras 3's affine matrix and fill rules).

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "fill_mode", "interpolation", "seed", "fill_value", "data_format")

    fields = (
        RNG_TYPE,
        DataFormat(formats=(KERAS3,)),
        Factor("factor", REQUIRED, "Fraction of a full turn: f for [-f, f], or [lower, "
               "upper]."),
        *fill_fields(),
        INTERPOLATION,
        Seed(),
    )

    def _augment(self, x):
        lo, hi = self.factor
        theta = self._rng.uniform(lo, hi, size=x.shape[0]) * 2 * np.pi
        cos, sin = np.cos(theta), np.sin(theta)
        mats = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], axis=1)
        mats = centered_affine(mats, x.shape[1], x.shape[2])
        return affine_transform(x, mats, self.interpolation, self.fill_mode, self.fill_value)


def _zoom_translate_fields(high: float, width_default: Any) -> tuple:
    """RandomZoom's and RandomTranslation's fields (Keras writes both factors as given)."""
    width_doc = ("Horizontal range (None: the height's)." if width_default is None else
                 "Horizontal range: f for [-f, f], or [lower, upper].")
    return (
        RNG_TYPE,
        DataFormat(formats=(KERAS3,)),
        Factor("height_factor", REQUIRED, "Vertical range: f for [-f, f], or [lower, upper].",
               max=high, writes_pair=()),
        Factor("width_factor", width_default, width_doc, max=high, writes_pair=()),
        Choice("fill_mode", "reflect", "How points outside the input are filled.",
               choices=FILL_MODES),
        INTERPOLATION,
        Seed(),
        Float("fill_value", 0.0, "Value used by fill_mode='constant'."),
    )


_ZT_K2_ORDER = ("name", "trainable", "dtype", "rng_type", "height_factor", "width_factor",
                "fill_mode", "fill_value", "interpolation", "seed")


class RandomZoom(ImagePreprocessingLayer):
    """Training: zooms each image by ``1 + u`` with u drawn from the factor ranges
    (positive: zoom out, negative: zoom in); ``width_factor=None`` keeps the aspect.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("height_factor", "width_factor", "fill_mode", "interpolation", "seed",
                  "fill_value", "data_format")

    fields = _zoom_translate_fields(math.inf, None)
    keras2_order = _ZT_K2_ORDER

    def _augment(self, x):
        n = x.shape[0]
        zy = 1.0 + self._rng.uniform(*self.height_factor, size=n)
        zx = zy if self.width_factor is None else \
            1.0 + self._rng.uniform(*self.width_factor, size=n)
        zero = np.zeros(n)
        mats = np.stack([np.stack([zx, zero], -1), np.stack([zero, zy], -1)], axis=1)
        mats = centered_affine(mats, x.shape[1], x.shape[2])
        return affine_transform(x, mats, self.interpolation, self.fill_mode, self.fill_value)


class RandomTranslation(ImagePreprocessingLayer):
    """Training: shifts each image by fractions of its height and width drawn from the
    factor ranges, filling per ``fill_mode``.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("height_factor", "width_factor", "fill_mode", "interpolation", "seed",
                  "fill_value", "data_format")

    fields = _zoom_translate_fields(1, REQUIRED)
    keras2_order = _ZT_K2_ORDER

    def _augment(self, x):
        n, h, w = x.shape[:3]
        dy = self._rng.uniform(*self.height_factor, size=n) * h
        dx = self._rng.uniform(*self.width_factor, size=n) * w
        one, zero = np.ones(n), np.zeros(n)
        mats = np.stack([np.stack([one, zero, -dx], -1), np.stack([zero, one, -dy], -1)], 1)
        return affine_transform(x, mats, self.interpolation, self.fill_mode, self.fill_value)


class RandomCrop(ImagePreprocessingLayer):
    """Training: a random ``(height, width)`` window of each batch (one offset per call,
    as Keras); an input not larger than the target is centre-cropped to the target aspect
    and resized. Inference: Keras 3 returns the input unchanged; Keras 2 (a layer read from
    a Keras 2 config) centre-crops to the target aspect and resizes (bilinear).

    A target larger than the input is refused (ConfigError naming height or width).
    Input shape: ``(batch, H, W, C)`` or ``(H, W, C)``. Output shape: the input shape at
    Keras 3 inference, else ``H, W = height, width``. No weights.
    """

    #: Keras's constructor order
    positional = ("height", "width", "seed", "data_format")

    fields = (
        RNG_TYPE,
        DataFormat(formats=(KERAS3,)),
        Int("height", REQUIRED, "Crop height.", min=1),
        Int("width", REQUIRED, "Crop width.", min=1),
        Seed(),
    )

    def _post_init(self) -> None:
        super()._post_init()
        if self.seed is None and self.source_format != KERAS2:
            # Keras 3 draws and records a seed when none is given
            seed = int(np.random.default_rng().integers(1, 10**9))
            self.seed = seed

    def format_difference(self, fmt: str) -> tuple[str, str] | None:
        if fmt == self.source_format:
            return None
        source = "Keras 2" if self.source_format == KERAS2 else "Keras 3"
        return ("height", "at inference Keras 2's RandomCrop centre-crops and resizes to "
                "(height, width) and Keras 3's returns its input unchanged: this layer, read "
                f"from {source}, has no config in the other format (a Resizing with "
                "crop_to_aspect_ratio=True resizes in both)")

    def _hw(self, ndim: int) -> tuple[int, int]:
        if self.data_format == "channels_first":
            return ndim - 2, ndim - 1
        return ndim - 3, ndim - 2

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) not in (3, 4):
            raise ValueError(f"RandomCrop {self.name!r} expects images of rank 3 or 4, got "
                             f"shape {shape}")
        h, w = self._hw(len(shape))
        for field, ax in (("height", h), ("width", w)):
            size = shape[ax]
            if size is not None and getattr(self, field) > size:
                raise self.config_error(field, f"the crop ({getattr(self, field)}) is larger "
                                        f"than the input's {field} ({size}); use Resizing or "
                                        f"CenterCrop to upscale")

    def _inference(self, x):
        if self.source_format != KERAS2:
            return x
        return resize_images(x, (self.height, self.width), "bilinear",
                             data_format=self.data_format, crop_to_aspect_ratio=True)

    def _augment(self, x):
        _, h, w, _ = x.shape
        if self.source_format == KERAS2:
            bigger = h >= self.height and w >= self.width
        else:
            bigger = h > self.height and w > self.width
        if not bigger:
            return resize_images(crop_to_aspect(x, (self.height, self.width)),
                                 (self.height, self.width), "bilinear")
        hs = int(self._rng.integers(0, h - self.height + 1))
        ws = int(self._rng.integers(0, w - self.width + 1))
        return x[:, hs:hs + self.height, ws:ws + self.width]

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        if self.source_format == KERAS2:
            h, w = self._hw(len(shape))
            shape[h], shape[w] = self.height, self.width
        return tuple(shape)


class _RandomSide(ImagePreprocessingLayer):
    """Keras 2's RandomHeight / RandomWidth (not registered)."""

    abstract = True
    keras_formats = (KERAS2,)
    axis = 1
    fields = (
        RNG_TYPE,
        Factor("factor", REQUIRED, "Range: f for [-f, f], or [lower, upper] (lower > -1).",
               max=math.inf, lower_open=True, writes_pair=()),
        Choice("interpolation", "bilinear", "Resize interpolation.", choices=RESIZE_METHODS),
        Seed(),
    )

    def _augment(self, x):
        size = [x.shape[1], x.shape[2]]
        size[self.axis - 1] = max(int(round(size[self.axis - 1] *
                                            (1 + self._rng.uniform(*self.factor)))), 1)
        return resize_images(x, tuple(size), self.interpolation)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class RandomHeight(_RandomSide):
    """Keras 2 only. Training: resizes the height by ``1 + u``, u drawn from the factor
    range. Inference: identity.

    Input shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "interpolation", "seed")

    axis = 1


class RandomWidth(_RandomSide):
    """Keras 2 only. Training: resizes the width by ``1 + u``, u drawn from the factor
    range. Inference: identity.

    Input shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "interpolation", "seed")

    axis = 2


class RandomShear(Keras3ImageLayer):
    """Training: shears each image about the top-left corner: the output pixel ``(x, y)``
    reads the input at ``(x + sx * y, sy * x + y)``, with ``sx``, ``sy`` drawn from the
    factor ranges and one random sign per image (Keras 3's matrix), filled per
    ``fill_mode``. Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("x_factor", "y_factor", "interpolation", "fill_mode", "fill_value", "data_format",
                  "seed")

    fields = (
        DataFormat(),
        Factor("x_factor", 0.0, "Horizontal shear: f in [0, 1] for [-f, f], or [lower, "
               "upper].", number_min=0),
        Factor("y_factor", 0.0, "Vertical shear: f in [0, 1] for [-f, f], or [lower, "
               "upper].", number_min=0),
        Choice("fill_mode", "reflect", "How points outside the input are filled.",
               choices=FILL_MODES),
        INTERPOLATION,
        Seed(),
        Float("fill_value", 0.0, "Value used by fill_mode='constant'."),
    )

    def _augment(self, x):
        n = x.shape[0]
        sign = np.where(self._rng.uniform(size=n) > 0.5, -1.0, 1.0)
        sy = self._rng.uniform(*self.y_factor, size=n).astype(np.float32) * sign
        sx = self._rng.uniform(*self.x_factor, size=n).astype(np.float32) * sign
        one, zero = np.ones(n), np.zeros(n)
        mats = np.stack([np.stack([one, sx, zero], -1), np.stack([sy, one, zero], -1)], 1)
        return affine_transform(x, mats, self.interpolation, self.fill_mode, self.fill_value)


class RandomPerspective(Keras3ImageLayer):
    """Training: with a probability drawn from ``factor``, moves each image corner by up
    to ``scale / 2`` of its coordinates (Keras 3: ``end = start * (1 + u)``, u in ``[-scale
    / 2, scale / 2]``) and warps the image by that homography, filling with
    ``fill_value``. Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "scale", "interpolation", "fill_value", "seed", "data_format")

    fields = (
        DataFormat(),
        Factor("factor", 1.0, "Probability: f for [0, f], or [lower, upper].", min=0),
        Float("scale", 1.0, "Largest corner displacement (fraction).", min=0, max=1),
        INTERPOLATION,
        Float("fill_value", 0.0, "Value of points outside the input."),
        Seed(),
    )

    def _augment(self, x):
        n, h, w = x.shape[:3]
        prob = self._rng.uniform(*self.factor, size=n)
        apply = self._rng.uniform(size=n) < prob
        half = 0.5 * self.scale
        u = self._rng.uniform(-half, half, size=(n, 4, 2)).astype(np.float32)
        start = np.broadcast_to(np.asarray([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]],
                                           np.float32), (n, 4, 2))
        end = start + start * u
        mats = homography(start.astype(np.float64), end.astype(np.float64))
        mats = mats.astype(np.float32).astype(np.float64)  # TF casts the transform
        out = affine_transform(x, mats, self.interpolation, "constant", self.fill_value)
        return np.where(apply[:, None, None, None], out, x)


class RandomElasticTransform(Keras3ImageLayer):
    """Training: with a probability drawn from ``factor``, displaces every pixel by a
    Gaussian-smoothed random field, as Keras 3: ``d = blur(normal * sigma)`` with ``sigma =
    0.05 * s * min(H, W)`` and the kernel ``6 * int(sigma) | 1``, moved by ``alpha = 0.1 * s
    * max(H, W)`` (``s`` drawn from ``scale``; Keras 3 uses the same field for both axes,
    and so does layerlab), resampled per ``fill_mode`` and clipped to ``value_range``.
    Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "scale", "interpolation", "fill_mode", "fill_value", "value_range",
                  "seed", "data_format")

    fields = (
        DataFormat(),
        Factor("factor", 1.0, "Probability: f for [0, f], or [lower, upper].", min=0),
        Factor("scale", 1.0, "Distortion strength: f for [0, f], or [lower, upper].", min=0),
        INTERPOLATION,
        Choice("fill_mode", "reflect", "How points outside the input are filled.",
               choices=MAP_FILL_MODES),
        Float("fill_value", 0.0, "Value used by fill_mode='constant'."),
        ValueRange(),
        Seed(),
    )

    def _augment(self, x):
        if self.scale[1] == 0 or self.factor[1] == 0:
            return x
        n, h, w = x.shape[:3]
        prob = self._rng.uniform(*self.factor, size=n)
        apply = self._rng.uniform(size=n) < prob
        s = np.float32(self._rng.uniform(*self.scale))
        alpha = np.float32(max(h, w) * (0.1 * s))
        sigma = np.float32(min(h, w) * (0.05 * s))
        k = 6 * int(sigma) | 1
        field = self._rng.standard_normal((n, h, w, 1)).astype(np.float32) * sigma
        d = depthwise_same(field, gaussian_kernel((k, k), (sigma, sigma)))[..., 0]
        gy, gx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32),
                             indexing="ij")
        order = 0 if self.interpolation == "nearest" else 1
        out = map_coordinates_2d(x.astype(np.float32, copy=False), gy + alpha * d,
                                 gx + alpha * d, order, self.fill_mode, self.fill_value)
        out = np.where(apply[:, None, None, None], out, x)
        return np.clip(out, *self.value_range)


class MaxNumBoundingBoxes(Keras3ImageLayer):
    """Keras 3's bounding-box padder: images pass through unchanged (inference and
    training). :meth:`pad_boxes` gives its bounding-box transformation: keep the first
    ``max_number`` boxes and labels, padding with ``fill_value`` (-1; not written to the
    config, as Keras 3).

    Input/output shape: any image batch. No weights.
    """

    #: Keras's constructor order
    positional = ("max_number", "fill_value")

    fields = (
        DataFormat(),
        Int("max_number", REQUIRED, "Number of boxes kept (or padded to).", min=1),
        Int("fill_value", -1, "Value of padded boxes and labels.", formats=()),
    )

    def call(self, inputs, training=False):
        return inputs

    def pad_boxes(self, boxes: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
        """``boxes (batch, n, 4)`` and ``labels (batch, n)`` cut or padded to
        ``max_number`` entries."""
        boxes, labels = np.asarray(boxes), np.asarray(labels)
        m, pad = self.max_number, max(self.max_number - boxes.shape[1], 0)
        boxes = np.pad(boxes[:, :m], ((0, 0), (0, pad), (0, 0)),
                       constant_values=self.fill_value)
        labels = np.pad(labels[:, :m], ((0, 0), (0, pad)), constant_values=self.fill_value)
        return boxes, labels
