"""VJPs of the layers Keras's applications define: LayerScale and StochasticDepth
(ConvNeXt), CustomScaleLayer (InceptionResNetV2)."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..layers.applications import CustomScaleLayer, LayerScale, StochasticDepth
from .table import Call, cast_input, register, unbroadcast


@register(LayerScale)
def layer_scale(layer: LayerScale, xs: list[np.ndarray], call: Call):
    x = cast_input(layer, xs[0])
    gamma = layer.gamma.value.astype(x.dtype, copy=False)

    def backward(g):
        gg = unbroadcast(g * x, (1,) * (g.ndim - 1) + gamma.shape).reshape(gamma.shape)
        return [g * gamma], {layer.gamma.path: gg.astype(layer.gamma.dtype)}
    return layer.call(x), backward


@register(StochasticDepth)
def stochastic_depth(layer: StochasticDepth, xs: list[np.ndarray], call: Call):
    if call.training and layer.drop_path_rate > 0:
        raise ConfigError(call.where, f"layer {layer.name!r} (StochasticDepth): its training "
                          f"draw is not seeded, so training-mode gradients through it are "
                          f"not reproducible; use training=False or drop_path_rate=0")
    x = cast_input(layer, xs[0])
    return x, lambda g: ([g], {})


@register(CustomScaleLayer)
def custom_scale(layer: CustomScaleLayer, xs: list[np.ndarray], call: Call):
    a, b = (cast_input(layer, v) for v in xs)
    scale = np.asarray(layer.scale, b.dtype)
    return layer.call([a, b]), lambda g: ([g, g * scale], {})
