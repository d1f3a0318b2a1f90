"""The base class of the image preprocessing layers (identity at inference, a seeded
random transformation in training, Keras 3's ``{"images", "labels"}`` dict form) and the
field specs they share."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...fields import Choice, Float
from ...formats import KERAS2, KERAS3
from ..base import Layer

EPS = np.float32(1e-7)

RNG_TYPE = Choice("rng_type", "stateful", "Keras 2 random generator kind.",
                  choices=("stateful", "stateless", "legacy"), formats=(KERAS2,))

FILL_MODES = ("reflect", "wrap", "constant", "nearest")

INTERPOLATION = Choice("interpolation", "bilinear", "Interpolation of sampled pixels.",
                       choices=("nearest", "bilinear"))


def fill_fields() -> tuple:
    """``fill_mode`` and ``fill_value`` of the affine augmentation layers."""
    return (Choice("fill_mode", "reflect", "How points outside the input are filled.",
                   choices=FILL_MODES),
            Float("fill_value", 0.0, "Value used by fill_mode='constant'."))


class ImagePreprocessingLayer(Layer):
    """Base of the augmentation layers (not registered): identity at inference, a seeded
    random transformation in training, on ``(batch, H, W, C)`` or ``(H, W, C)`` images.

    Subclasses implement ``_augment`` (a channels-last batch in, the same shape out) and,
    when inference is not the identity, ``_inference``.
    """

    abstract = True

    def __call__(self, inputs: Any, *args: Any, training: bool = False, **kwargs: Any) -> Any:
        """Images, or Keras 3's dict form ``{"images": ..., "labels": ...}`` (labels pass
        through, except MixUp and CutMix, which mix them as they mix the images)."""
        if not isinstance(inputs, dict):
            return super().__call__(inputs, *args, training=training, **kwargs)
        return call_on_dict(self, inputs, training, lambda x: super(
            ImagePreprocessingLayer, self).__call__(x, *args, training=training, **kwargs))

    def _labels(self, labels: np.ndarray) -> np.ndarray:
        """Labels after the last training call (most layers leave them unchanged)."""
        return labels

    def call(self, inputs, training=False):
        x = inputs
        if x.ndim not in (3, 4):
            raise ValueError(f"{type(self).__name__} {self.name!r} expects images of rank 3 or "
                             f"4, got shape {x.shape}")
        if not training:
            return self._inference(x)
        single = x.ndim == 3
        batch = x[None] if single else x
        if getattr(self, "data_format", "channels_last") == "channels_first":
            out = np.moveaxis(self._augment(np.moveaxis(batch, 1, -1)), -1, 1)
        else:
            out = self._augment(batch)
        out = out.astype(self.compute_dtype, copy=False)
        return out[0] if single else out

    def _inference(self, x: np.ndarray) -> np.ndarray:
        return x

    def _augment(self, x: np.ndarray) -> np.ndarray:
        """``x``: ``(batch, H, W, C)`` channels last."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def format_difference(self, fmt: str) -> tuple[str, str] | None:
        """``(field, reason)`` when no config of format ``fmt`` means what this layer
        does (Keras 2 and Keras 3 differ there), else None."""
        return None

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        """The config; a ConfigError when format ``format`` cannot express this layer."""
        problem = self.format_difference(format)
        if problem is not None:
            raise self.config_error(*problem)
        return super().get_config(format)


def call_on_dict(layer: Layer, data: dict, training: bool, run: Any) -> dict:
    """Run ``run`` on ``data["images"]`` and the layer's label rule on ``data["labels"]``;
    other keys (bounding boxes, segmentation masks) are not supported."""
    other = sorted(set(data) - {"images", "labels"})
    if "images" not in data or other:
        raise ValueError(f"{type(layer).__name__} {layer.name!r}: a dict input takes "
                         f"'images' and optionally 'labels', got keys {sorted(data)}"
                         + (" (bounding boxes and segmentation masks are not supported)"
                            if other else ""))
    out = dict(data)
    out["images"] = run(data["images"])
    if "labels" in data:
        labels = np.asarray(data["labels"])
        out["labels"] = layer._labels(labels) if training else labels
    return out


class Keras3ImageLayer(ImagePreprocessingLayer):
    """Base of the image layers Keras 2 does not have (not registered)."""

    abstract = True
    keras_formats = (KERAS3,)


def check_rgb(layer: Layer, x: np.ndarray) -> np.ndarray:
    """``x`` itself, after checking that it has 3 channels."""
    if x.shape[-1] != 3:
        raise ValueError(f"{type(layer).__name__} {layer.name!r} expects RGB images (3 "
                         f"channels), got {x.shape[-1]} channels")
    return x
