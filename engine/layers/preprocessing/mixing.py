"""Layers that mix or cut images: MixUp and CutMix (which also mix the labels) and
RandomErasing."""

from __future__ import annotations

import numpy as np

from ...fields import DataFormat, Float, Seed
from ...fields.ranges import Factor, NumberOrList, ValueRange
from .image_layer import Keras3ImageLayer
from .image_ops import box_bounds, box_mask

__all__ = ["MixUp", "CutMix", "RandomErasing"]


class MixUp(Keras3ImageLayer):
    """Training: ``w * x + (1 - w) * x[perm]`` per image, with a random permutation of the
    batch and ``w`` drawn from Beta(alpha, alpha) per image (images only: labels are not
    taken). Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("alpha", "data_format", "seed")

    fields = (
        DataFormat(),
        Float("alpha", 0.2, "Beta distribution parameter.", min=0, min_open=True),
        Seed(),
    )

    def _augment(self, x):
        n = x.shape[0]
        perm = self._rng.permutation(n)
        w = self._rng.beta(self.alpha, self.alpha, size=n).astype(np.float32)
        self._last = (perm, w)
        w = w[:, None, None, None]
        return w * x + (1 - w) * x[perm]

    def _labels(self, labels):
        perm, w = self._last
        w = w.reshape(-1, 1)
        labels = labels.astype(np.float32, copy=False)
        return w * labels + (1 - w) * labels[perm]


class CutMix(Keras3ImageLayer):
    """Training (batches only): pastes into each image a box cut from another image of
    the batch (random permutation); the box's side fraction is ``sqrt(1 - w)``, ``w`` from
    Beta(a, a) with ``a`` drawn from ``factor`` (images only: labels are not taken).
    Inference, and a single unbatched image: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "seed", "data_format")

    fields = (
        DataFormat(),
        Factor("factor", 1.0, "Beta parameter range: f for [0, f], or [lower, upper].",
               min=0),
        Seed(),
    )

    def call(self, inputs, training=False):
        if inputs.ndim == 3:
            self._last = None
            return inputs
        return super().call(inputs, training=training)

    def _augment(self, x):
        n, h, w = x.shape[:3]
        a = self._rng.uniform(*self.factor) + 1e-6
        ratio = np.sqrt(1.0 - self._rng.beta(a, a, size=n)).astype(np.float32)
        x0, x1 = box_bounds(self._rng, w, ratio)
        y0, y1 = box_bounds(self._rng, h, ratio)
        perm = self._rng.permutation(n)
        self._last = (perm, 1.0 - (x1 - x0) * (y1 - y0) / np.float32(w * h))
        return np.where(box_mask(h, w, x0, x1, y0, y1), x[perm], x)

    def _labels(self, labels):
        if getattr(self, "_last", None) is None:  # an unbatched image: unchanged
            return labels
        perm, keep = self._last
        keep = keep.reshape(-1, 1).astype(np.float32)
        labels = labels.astype(np.float32, copy=False)
        return keep * labels + (1 - keep) * labels[perm]


class RandomErasing(Keras3ImageLayer):
    """Training: with a probability drawn from ``factor``, replaces a random box of each
    image (side fractions ``sqrt(u)``, u drawn from ``scale``) by ``fill_value`` (a number
    or one per RGB channel; None: Gaussian noise times ``value_range[1]``), clipped to
    ``value_range``. Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "scale", "fill_value", "value_range", "seed", "data_format")

    fields = (
        DataFormat(),
        Factor("factor", 1.0, "Erasing probability: f for [0, f], or [lower, upper].", min=0),
        Factor("scale", [0.02, 0.33], "Erased area fraction: f for [0, f], or [lower, upper].",
               min=0),
        NumberOrList("fill_value", None, "Fill: a number, one per RGB channel, or None for "
                     "noise.", length=3),
        ValueRange(),
        Seed(),
    )

    def _augment(self, x):
        n, h, w = x.shape[:3]
        weight = np.sqrt(self._rng.uniform(*self.scale, size=(n, 2)))
        x0, x1 = box_bounds(self._rng, w, weight[:, 0])
        y0, y1 = box_bounds(self._rng, h, weight[:, 1])
        mask = box_mask(h, w, x0, x1, y0, y1)
        prob = self._rng.uniform(*self.factor, size=n)
        apply = (self._rng.uniform(size=n) < prob)[:, None, None, None]
        if self.fill_value is None:
            fill = self._rng.standard_normal(x.shape).astype(np.float32) * \
                np.float32(self.value_range[1])
        else:
            fill = np.asarray(self.fill_value, np.float32)
            if fill.ndim and x.shape[-1] != 3:
                raise ValueError(f"RandomErasing {self.name!r}: fill_value has 3 values (one "
                                 f"per RGB channel), the images have {x.shape[-1]} channels")
            fill = np.broadcast_to(fill, x.shape)
        fill = np.clip(fill, *self.value_range)
        return np.where(mask & apply, fill, x)
