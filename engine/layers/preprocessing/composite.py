"""Layers made of other layers: Pipeline (nested layers in order), RandAugment and AugMix
(random chains of Keras 3's augmentation operations)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import serialization
from ...errors import ConfigError, describe
from ...fields import REQUIRED, Bool, DataFormat, Field, Float, Int, Seed
from ...fields.ranges import Factor, ValueRange
from ...formats import KERAS3
from ..base import Layer
from .colour import (
    AutoContrast,
    RandomBrightness,
    RandomColorDegeneration,
    RandomContrast,
    RandomPosterization,
    Solarization,
)
from .filters import Equalization, RandomSharpness
from .geometric import RandomRotation, RandomShear, RandomTranslation
from .image_layer import INTERPOLATION, ImagePreprocessingLayer, Keras3ImageLayer

__all__ = ["Pipeline", "RandAugment", "AugMix"]


class LayerList(Field):
    """A list of nested layer configs (Pipeline.layers)."""

    kind = "layer_list"

    def expected(self) -> str:
        return "a list of layer configs"

    def _check(self, value: Any, path: str) -> list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(path, f"expected a list of layer configs, got {describe(value)}")
        out = []
        for i, item in enumerate(value):
            layer = serialization.get_object("layer", item, f"{path}[{i}]", KERAS3)
            if not isinstance(layer, Layer):
                raise ConfigError(f"{path}[{i}]", f"expected a layer, got {describe(layer)}")
            out.append(layer)
        return out

    def to_config(self, value: Any, fmt: str) -> Any:
        return [serialization.serialize(v, format=fmt) for v in value]


class Pipeline(Layer):
    """Applies ``layers`` one after the other (each one's output feeds the next), passing
    ``training`` on; masks pass through layers that take one. Keras 3 only. Its config has
    only ``layers`` and ``name``.

    Input shape: the first layer's. Output shape: the last layer's. Weights: those of the
    nested layers, in order.
    """

    keras_formats = (KERAS3,)
    fields = (LayerList("layers", REQUIRED, "The layers to apply, first to last."),)

    def _post_init(self) -> None:
        self._sublayers = list(self.layers)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            shape = tuple(layer.compute_output_shape(shape))
        self.set_weight_paths()  # Keras 3: pipeline/<layer>/<weight>

    def __call__(self, inputs: Any, *args: Any, training: bool = False, **kwargs: Any) -> Any:
        if isinstance(inputs, dict):  # Keras 3's {"images", "labels"} form, layer by layer
            for layer in self.layers:
                inputs = layer(inputs, training=training)
            return inputs
        return super().__call__(inputs, *args, training=training, **kwargs)

    def call(self, inputs, training=False, mask=None):
        x = inputs
        for layer in self.layers:
            kw: dict[str, Any] = {"training": training}
            if mask is not None and ("mask" in layer._call_accepts or layer._call_var_kw):
                kw["mask"] = mask
            x = layer(x, **kw)
            mask = layer.compute_mask(x, mask) if mask is not None else None
        return x

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = tuple(layer.compute_output_shape(shape))
        return shape

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        cfg = super().get_config(format)
        return {"layers": cfg["layers"], "name": cfg["name"]}


def _op_layers(layer: Layer, names: tuple[str, ...]) -> list[ImagePreprocessingLayer]:
    """RandAugment's / AugMix's sub-layers, configured from ``factor`` as Keras 3 does
    (their draws come from the parent's generator)."""
    lo, hi = layer.factor
    pair, vr, interp = [lo, hi], list(layer.value_range), layer.interpolation
    make = {
        "random_shear": lambda: RandomShear(x_factor=pair, y_factor=pair,
                                            interpolation=interp),
        "random_translation": lambda: RandomTranslation(height_factor=pair, width_factor=pair,
                                                        interpolation=interp),
        "random_rotation": lambda: RandomRotation(factor=pair, interpolation=interp),
        "random_brightness": lambda: RandomBrightness(factor=pair, value_range=vr),
        "random_color_degeneration": lambda: RandomColorDegeneration(factor=pair,
                                                                     value_range=vr),
        "random_contrast": lambda: RandomContrast(factor=pair, value_range=vr),
        "random_sharpness": lambda: RandomSharpness(factor=pair, value_range=vr),
        "random_posterization": lambda: RandomPosterization(factor=max(1, int(8 * hi)),
                                                            value_range=vr),
        "solarization": lambda: Solarization(addition_factor=pair, threshold_factor=pair,
                                             value_range=vr),
        "auto_contrast": lambda: AutoContrast(value_range=vr),
        "equalization": lambda: Equalization(value_range=vr),
    }
    try:
        return [make[name]() for name in names]
    except ConfigError as e:
        raise layer.config_error("factor", e.reason) from None


def _apply_op(layer: Layer, op: ImagePreprocessingLayer, x: np.ndarray) -> np.ndarray:
    op.__dict__["_rng_generator"] = layer._rng
    return op._augment(x.astype(np.float32, copy=False)).astype(np.float32, copy=False)


_RAND_AUGMENT_OPS = ("random_shear", "random_translation", "random_rotation",
                     "random_brightness", "random_color_degeneration", "random_contrast",
                     "random_sharpness", "random_posterization", "solarization",
                     "auto_contrast", "equalization")


_AUG_MIX_OPS = ("random_shear", "random_translation", "random_rotation",
                "random_posterization", "solarization", "auto_contrast", "equalization",
                "random_brightness", "random_color_degeneration", "random_contrast",
                "random_sharpness")


class RandAugment(Keras3ImageLayer):
    """Training: applies ``num_ops`` operations one after the other, each picked at random
    (the same for the whole batch) among Keras 3's eleven: RandomShear, RandomTranslation,
    RandomRotation, RandomBrightness, RandomColorDegeneration, RandomContrast,
    RandomSharpness, RandomPosterization, Solarization, AutoContrast, Equalization, each
    configured from ``factor`` as Keras 3 does. Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)`` (RGB for colour
    degeneration). No weights.
    """

    #: Keras's constructor order
    positional = ("value_range", "num_ops", "factor", "interpolation", "seed", "data_format")

    fields = (
        DataFormat(),
        ValueRange(),
        Int("num_ops", 2, "Number of operations applied.", min=0),
        Factor("factor", 0.5, "Strength: f for [0, f], or [lower, upper] in [0, 1].", min=0),
        INTERPOLATION,
        Seed(),
    )

    def _post_init(self) -> None:
        super()._post_init()
        self._ops = _op_layers(self, _RAND_AUGMENT_OPS)

    def _augment(self, x):
        picks = self._rng.integers(0, len(self._ops), size=self.num_ops)
        for i in np.atleast_1d(picks):
            x = _apply_op(self, self._ops[int(i)], x)
        return x


class AugMix(Keras3ImageLayer):
    """Training: ``w * x + (1 - w) * sum_i m_i chain_i(x)``, clipped to ``value_range``:
    ``num_chains`` chains of up to ``chain_depth`` random operations (each step picks one
    of the operations or none), chain weights ``m`` from Dirichlet(alpha) and ``w`` from
    Beta(alpha, alpha), as Keras 3. ``all_ops=False`` leaves out the colour operations
    (brightness, colour degeneration, contrast, sharpness). Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)`` (RGB for colour
    degeneration). No weights.
    """

    #: Keras's constructor order
    positional = ("value_range", "num_chains", "chain_depth", "factor", "alpha", "all_ops",
                  "interpolation", "seed", "data_format")

    fields = (
        DataFormat(),
        ValueRange(),
        Int("num_chains", 3, "Number of augmentation chains.", min=1),
        Int("chain_depth", 3, "Largest number of operations in a chain.", min=0),
        Factor("factor", 0.3, "Strength: f for [0, f], or [lower, upper] in [0, 1].", min=0),
        Float("alpha", 1.0, "Dirichlet and Beta parameter.", min=0, min_open=True),
        Bool("all_ops", True, "Also use the colour operations."),
        INTERPOLATION,
        Seed(),
    )

    def _post_init(self) -> None:
        super()._post_init()
        self._ops = _op_layers(self, _AUG_MIX_OPS if self.all_ops else _AUG_MIX_OPS[:7])

    def _augment(self, x):
        gam = np.asarray(self._rng.gamma(self.alpha, size=self.num_chains), np.float64)
        mix = (gam / gam.sum()).astype(np.float32)
        w = np.float32(self._rng.beta(self.alpha, self.alpha))
        x = x.astype(np.float32, copy=False)
        total = np.zeros_like(x)
        for c in range(self.num_chains):  # loops over chains and their steps only
            img = x.copy()
            for _ in range(self.chain_depth):
                pick = int(self._rng.integers(0, len(self._ops) + 1))
                if pick < len(self._ops):
                    img = _apply_op(self, self._ops[pick], img)
            total += img * mix[c]
        return np.clip(w * x + (1 - w) * total, *self.value_range)
