"""Colour augmentation layers: RandomContrast, RandomBrightness, AutoContrast,
RandomGrayscale, RandomInvert, Solarization, RandomPosterization,
RandomColorDegeneration, RandomHue, RandomSaturation and RandomColorJitter."""

from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ...fields import REQUIRED, DataFormat, Float, Seed
from ...fields.ranges import ContrastFactor, Factor, ValueRange
from ...formats import KERAS2, KERAS3
from .image_layer import (
    EPS,
    RNG_TYPE,
    ImagePreprocessingLayer,
    Keras3ImageLayer,
    check_rgb,
)
from .image_ops import grayscale, hsv_to_rgb, rgb_to_hsv, to_value_range

__all__ = ["RandomContrast", "RandomBrightness", "AutoContrast", "RandomGrayscale",
           "RandomInvert", "Solarization", "RandomPosterization", "RandomColorDegeneration",
           "RandomHue", "RandomSaturation", "RandomColorJitter"]


class RandomContrast(ImagePreprocessingLayer):
    """Training: ``(x - mean) * c + mean`` per image and channel (mean over H, W), c drawn
    from ``[1 - lower, 1 + upper]``, clipped to ``value_range``.

    ``factor`` f means ``[0, f]`` in a Keras 3 config and ``[f, f]`` in a Keras 2 one: a
    layer read from Keras 2 keeps Keras 2's range, and is written for Keras 3 with the
    pair that means the same (see :class:`ContrastFactor`). Keras 2 always clips to
    ``[0, 255]``: another ``value_range`` cannot be written for Keras 2.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "value_range", "seed")

    fields = (
        RNG_TYPE,
        DataFormat(formats=(KERAS3,)),
        ContrastFactor("factor", REQUIRED),
        ValueRange(doc="Range to clip the output to (Keras 2: always [0, 255]).",
                   formats=(KERAS3,)),
        Seed(),
    )

    def _post_init(self) -> None:
        super()._post_init()
        if self.source_format == KERAS2:  # Keras 2's meaning, kept when written for Keras 3
            self.factor = self.field("factor").read(self.factor.given, "factor", KERAS2)

    def format_difference(self, fmt: str) -> tuple[str, str] | None:
        if fmt == KERAS2 and tuple(self.value_range) != (0, 255):
            return ("value_range", f"Keras 2's RandomContrast always clips to [0, 255]; "
                    f"{list(self.value_range)} cannot be written for Keras 2")
        try:
            self.field("factor").express(self.factor, fmt)
        except ConfigError as e:  # a Keras 2 range Keras 3 has no factor for
            return ("factor", e.reason)
        return None

    def _augment(self, x):
        lo, hi = self.factor
        c = self._rng.uniform(1 - lo, 1 + hi, size=(x.shape[0], 1, 1, 1))
        mean = x.mean(axis=(1, 2), keepdims=True)
        out = (x - mean) * c + mean
        return np.clip(out, *self.value_range)


class RandomBrightness(ImagePreprocessingLayer):
    """Training: adds ``u * (value_range[1] - value_range[0])`` per image, u drawn from
    the factor range, and clips to ``value_range``.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "value_range", "seed")

    fields = (
        RNG_TYPE,
        DataFormat(formats=(KERAS3,)),
        Factor("factor", REQUIRED, "Brightness range: f for [-f, f], or [lower, upper].",
               writes_pair=(KERAS3, KERAS2)),
        ValueRange(),
        Seed(),
    )

    def _augment(self, x):
        lo, hi = self.factor
        vr = self.value_range
        delta = self._rng.uniform(lo, hi, size=(x.shape[0], 1, 1, 1)) * (vr[1] - vr[0])
        return np.clip(x + delta, vr[0], vr[1])


class AutoContrast(Keras3ImageLayer):
    """Stretches each image's channels to the full ``value_range`` (per image and channel:
    ``(x - min) / (max - min)``); a flat channel is left unchanged. Deterministic: it
    applies at inference too, as in Keras 3.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("value_range")

    fields = (
        DataFormat(),
        ValueRange(),
    )

    def _inference(self, x):
        batch = x[None] if x.ndim == 3 else x
        if self.data_format == "channels_first":
            batch = np.moveaxis(batch, 1, -1)
        out = self._augment(batch)
        if self.data_format == "channels_first":
            out = np.moveaxis(out, -1, 1)
        out = out.astype(self.compute_dtype, copy=False)
        return out[0] if x.ndim == 3 else out

    def _augment(self, x):
        orig = x
        img = to_value_range(x, self.value_range, (0, 255)).astype(np.float32, copy=False)
        low = img.min(axis=(1, 2), keepdims=True)
        high = img.max(axis=(1, 2), keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.float32(255.0) / (high - low)
            out = np.clip(img * scale + (-low * scale), 0.0, 255.0)
        out = to_value_range(out, (0, 255), self.value_range)
        return np.where(np.isnan(out), orig, out)


class RandomGrayscale(Keras3ImageLayer):
    """Training: turns each RGB image to grayscale (``0.2989 R + 0.587 G + 0.114 B`` in
    every channel) with probability ``factor``. Inference: identity.

    Input/output shape: ``(batch, H, W, 3)`` or ``(H, W, 3)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "data_format", "seed")

    fields = (
        DataFormat(),
        Float("factor", 0.5, "Probability of converting an image.", min=0, max=1),
        Seed(formats=()),
    )

    def _augment(self, x):
        apply = self._rng.uniform(size=(x.shape[0], 1, 1, 1)) < self.factor
        return np.where(apply, grayscale(x), x)


class RandomInvert(Keras3ImageLayer):
    """Training: replaces an image by ``value_range[1] - x`` with a probability drawn from
    ``factor``. Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "value_range", "seed", "data_format")

    fields = (
        DataFormat(),
        Factor("factor", 1.0, "Probability range: f for [0, f], or [lower, upper].", min=0),
        ValueRange(doc="Range of the pixel values [low, high] (inverted as high - x).",
                   sort=False),
        Seed(),
    )

    def _augment(self, x):
        n = x.shape[0]
        prob = self._rng.uniform(*self.factor, size=n)
        apply = (self._rng.uniform(size=n) < prob)[:, None, None, None]
        return np.where(apply, np.float32(self.value_range[1]) - x, x)


class Solarization(Keras3ImageLayer):
    """Training (values mapped to 0..255): adds a random amount (``addition_factor``),
    clips, and inverts pixels above a random threshold (``threshold_factor``), as Keras 3.
    Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("addition_factor", "threshold_factor", "value_range", "seed")

    fields = (
        DataFormat(),
        ValueRange(),
        Factor("addition_factor", 0.0, "Added amount (fraction of 255): f for [0, f], or "
               "[lower, upper].", min=0, number="from_zero"),
        Factor("threshold_factor", 0.0, "Inversion threshold (fraction of 255): f for [0, f], "
               "or [lower, upper].", min=0, number="from_zero"),
        Seed(),
    )

    def _augment(self, x):
        shape = (x.shape[0], 1, 1, 1)
        add_lo, add_hi = self.addition_factor
        thr_lo, thr_hi = self.threshold_factor
        add = self._rng.uniform(add_lo, add_hi * 255, size=shape)
        thr = self._rng.uniform(thr_lo, thr_hi * 255, size=shape)
        img = to_value_range(x, self.value_range, (0, 255)) + add.astype(np.float32)
        img = np.clip(img, 0, 255)
        img = np.where(img < thr, img, 255 - img)
        return to_value_range(img.astype(np.float32), (0, 255), self.value_range)


class RandomPosterization(Keras3ImageLayer):
    """Training: keeps the top ``b`` bits of each 0..255 value, ``b`` drawn per image from
    ``factor`` (1..8). Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "value_range", "data_format", "seed")

    fields = (
        DataFormat(),
        Factor("factor", REQUIRED, "Bits to keep: b for [1, b], or [lower, upper] in 1..8.",
               min=1, max=8, integers=True),
        ValueRange(),
        Seed(),
    )

    def _augment(self, x):
        lo, hi = (int(v) for v in self.factor)
        n = x.shape[0]
        bits = self._rng.integers(lo, hi, size=n) if lo != hi else np.full(n, lo)
        shift = (8 - bits).astype(np.uint8)[:, None, None, None]
        img = to_value_range(x, self.value_range, (0, 255))
        img = np.clip(img, 0, 255).astype(np.uint8)
        img = np.left_shift(np.right_shift(img, shift), shift).astype(np.float32)
        return to_value_range(img, (0, 255), self.value_range)


class RandomColorDegeneration(Keras3ImageLayer):
    """Training: blends each RGB image towards its grayscale version, ``x + f * (gray -
    x)`` with f drawn from the factor range, clipped to ``value_range``. Inference:
    identity.

    Input/output shape: ``(batch, H, W, 3)`` or ``(H, W, 3)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "value_range", "data_format", "seed")

    fields = (
        DataFormat(),
        Factor("factor", REQUIRED, "Blend range: f for [-f, f], or [lower, upper]."),
        ValueRange(),
        Seed(),
    )

    def _augment(self, x):
        f = self._rng.uniform(*self.factor, size=(x.shape[0], 1, 1, 1))
        out = x + f.astype(np.float32) * (grayscale(x) - x)
        return np.clip(out, *self.value_range)


class RandomHue(Keras3ImageLayer):
    """Training (RGB): shifts the hue by ``±u / 2`` of a turn (u drawn from the factor
    range, a random sign per image), in HSV space with the values mapped to [0, 1] and
    the result clipped. Inference: identity.

    Input/output shape: ``(batch, H, W, 3)`` or ``(H, W, 3)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "value_range", "data_format", "seed")

    fields = (
        DataFormat(),
        Factor("factor", REQUIRED, "Hue shift range: f for [0, f], or [lower, upper] in "
               "[0, 1].", min=0),
        ValueRange(),
        Seed(),
    )

    def _shift(self, x: np.ndarray, lo: float, hi: float) -> np.ndarray:
        n = x.shape[0]
        sign = np.where(self._rng.uniform(size=n) > 0.5, -1.0, 1.0)
        shift = (sign * self._rng.uniform(lo, hi, size=n) * 0.5).astype(np.float32)
        img = to_value_range(x.astype(np.float32, copy=False), self.value_range, (0, 1))
        hsv = rgb_to_hsv(check_rgb(self, img))
        h = hsv[..., 0] + shift[:, None, None]
        h = np.where(h > 1, h - 1, h)
        h = np.where(h < 0, h + 1, h)
        hsv = np.stack([h, hsv[..., 1], hsv[..., 2]], axis=-1)
        out = np.clip(hsv_to_rgb(hsv), 0, 1)
        return to_value_range(out, (0, 1), self.value_range)

    def _augment(self, x):
        return self._shift(x, *self.factor)


class RandomSaturation(Keras3ImageLayer):
    """Training (RGB): multiplies the HSV saturation by ``u / (1 - u + 1e-7)`` (u drawn
    from the factor range; 0.5 keeps the image), clips it to ``value_range`` (as Keras 3
    does) and converts back. Inference: identity.

    Input/output shape: ``(batch, H, W, 3)`` or ``(H, W, 3)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "value_range", "data_format", "seed")

    fields = (
        DataFormat(),
        Factor("factor", REQUIRED, "Range: f for [-f, f], or [lower, upper] (0.5: no "
               "change)."),
        ValueRange(),
        Seed(),
    )

    def _scale(self, x: np.ndarray, lo: float, hi: float) -> np.ndarray:
        u = self._rng.uniform(lo, hi, size=x.shape[0]).astype(np.float32)
        f = (u / (1 - u + EPS))[:, None, None]
        hsv = rgb_to_hsv(check_rgb(self, x.astype(np.float32, copy=False)))
        s = np.clip(hsv[..., 1] * f, *self.value_range)
        return hsv_to_rgb(np.stack([hsv[..., 0], s, hsv[..., 2]], axis=-1))

    def _augment(self, x):
        return self._scale(x, *self.factor)


class RandomColorJitter(Keras3ImageLayer):
    """Training: applies, in this order and each only when its factor is set, Keras 3's
    RandomBrightness, RandomContrast, RandomSaturation and RandomHue with ``value_range``
    (all drawing from this layer's generator). Inference: identity.

    Input/output shape: ``(batch, H, W, 3)`` or ``(H, W, 3)`` (any channels without
    saturation and hue). No weights.
    """

    #: Keras's constructor order
    positional = ("value_range", "brightness_factor", "contrast_factor", "saturation_factor",
                  "hue_factor", "seed", "data_format")

    fields = (
        DataFormat(),
        ValueRange(),
        Factor("brightness_factor", None, "RandomBrightness factor (None: off).",
               writes_pair=()),
        ContrastFactor("contrast_factor", None, "RandomContrast factor (None: off).",
                       writes_pair=()),
        Factor("saturation_factor", None, "RandomSaturation factor (None: off).",
               writes_pair=()),
        Factor("hue_factor", None, "RandomHue factor (None: off).", min=0, writes_pair=()),
        Seed(),
    )

    def _post_init(self) -> None:
        super()._post_init()
        self._steps: list[ImagePreprocessingLayer] = []
        kinds = (("brightness_factor", RandomBrightness), ("contrast_factor", RandomContrast),
                 ("saturation_factor", RandomSaturation), ("hue_factor", RandomHue))
        for field, cls in kinds:
            pair = self._values[field]
            if pair is not None:
                self._steps.append(cls(factor=pair, value_range=self.value_range))

    def _augment(self, x):
        if x.shape[-1] != 3 and any(isinstance(st, (RandomHue, RandomSaturation))
                                    for st in self._steps):
            check_rgb(self, x)
        for step in self._steps:
            step.__dict__["_rng_generator"] = self._rng  # one stream for the whole jitter
            x = step._augment(x.astype(np.float32, copy=False))
        return x
