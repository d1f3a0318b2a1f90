"""VJPs of the core layers: Dense, EinsumDense, Embedding, the activation layers, the
identity-like layers and the dropout/noise layers."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import activations as A
from ..formats import KERAS2
from ..layers.activation import ELU, Activation, LeakyReLU, PReLU, ReLU, Softmax, ThresholdedReLU
from ..layers.core.dense import Dense, EinsumDense
from ..layers.core.embedding import Embedding, ReversibleEmbedding
from ..layers.core.masking import Identity, Masking
from ..layers.regularization import (
    ActivityRegularization,
    AlphaDropout,
    Dropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)
from .activations import activation_vjp, is_linear
from .table import Call, cast_input, register, unbroadcast


def _activate(layer: Any, z: np.ndarray, call: Call):
    """``layer.activation(z)`` and the VJP back to ``z``."""
    act = layer.activation
    if is_linear(act):
        return z, lambda g: g
    y = act(z)
    return y, lambda g: activation_vjp(act, z, y, g, f"{call.where}.activation")


@register(Dense)
def dense(layer: Dense, xs: list[np.ndarray], call: Call):
    x = cast_input(layer, xs[0])
    w = layer.kernel.value
    z = x @ w
    if layer.bias is not None:
        z = z + layer.bias.value
    y, act_back = _activate(layer, z, call)

    def backward(g):
        gz = act_back(g)
        g2 = gz.reshape(-1, gz.shape[-1])
        grads = {layer.kernel.path: (x.reshape(-1, x.shape[-1]).T @ g2).astype(w.dtype)}
        if layer.bias is not None:
            grads[layer.bias.path] = g2.sum(axis=0).astype(w.dtype)
        return [gz @ w.T], grads
    return y, backward


@register(EinsumDense)
def einsum_dense(layer: EinsumDense, xs: list[np.ndarray], call: Call):
    x = cast_input(layer, xs[0])
    eq = layer.equation.replace(" ", "")
    lhs, out = eq.split("->")
    a, b = lhs.split(",")
    w = layer.kernel.value
    z = np.einsum(eq, x, w)
    bias = getattr(layer, "bias", None)
    if bias is not None:
        z = z + bias.value
    y, act_back = _activate(layer, z, call)

    def backward(g):
        gz = act_back(g)
        gx = np.einsum(f"{out},{b}->{a}", gz, w)
        gw = np.einsum(f"{a},{out}->{b}", x, gz)
        grads = {layer.kernel.path: gw.astype(w.dtype)}
        if bias is not None:
            grads[bias.path] = unbroadcast(gz, bias.shape).reshape(bias.shape)
        return [gx], grads
    return y, backward


@register(Embedding)
def embedding(layer: Embedding, xs: list[np.ndarray], call: Call):
    ids = np.asarray(xs[0])
    y = layer.call(ids)

    def backward(g):
        table = np.zeros(layer.embeddings.shape, dtype=np.float64)
        np.add.at(table, ids.astype(np.int64).reshape(-1), g.reshape(-1, g.shape[-1]))
        return [None], {layer.embeddings.path: table.astype(layer.embeddings.dtype)}
    return y, backward


@register(ReversibleEmbedding)
def reversible_embedding(layer: ReversibleEmbedding, xs: list[np.ndarray], call: Call):
    """Ids -> vectors as Embedding; with the call argument ``reverse=True`` vectors ->
    logits ``x @ embeddings.T`` (or ``@ reverse_embeddings``), soft-capped
    ``tanh(logits / cap) * cap`` when ``logit_soft_cap`` is set."""
    if not call.extra.get("kwargs", {}).get("reverse"):
        return embedding(layer, xs, call)
    x = np.asarray(xs[0]).astype(layer.compute_dtype, copy=False)
    weight = layer.embeddings if layer.tie_weights else layer.reverse_embeddings
    kernel = weight.value.T if layer.tie_weights else weight.value
    if layer.reverse_dtype is not None:
        x, kernel = x.astype(layer.reverse_dtype), kernel.astype(layer.reverse_dtype)
    logits = x @ kernel
    cap = layer.logit_soft_cap
    th = None
    if cap is not None:
        th = np.tanh(logits / cap)
        logits = th * cap

    def backward(g):
        gl = np.asarray(g, logits.dtype)
        if th is not None:
            gl = gl * (1.0 - th * th)
        gk = x.reshape(-1, x.shape[-1]).T @ gl.reshape(-1, gl.shape[-1])
        gk = gk.T if layer.tie_weights else gk
        return [gl @ kernel.T], {weight.path: gk.astype(weight.dtype)}
    return logits, backward


@register(Activation)
def activation_layer(layer: Activation, xs: list[np.ndarray], call: Call):
    z = cast_input(layer, xs[0])
    y, back = _activate(layer, z, call)
    return y, lambda g: ([back(g)], {})


def _elementwise(layer: Any, xs: list[np.ndarray], deriv):
    x = cast_input(layer, xs[0])
    y = layer.call(x)
    return y, lambda g: ([(g * deriv(x)).astype(g.dtype, copy=False)], {})


@register(ReLU)
def relu_layer(layer: ReLU, xs: list[np.ndarray], call: Call):
    from .activations import _relu_d
    if layer.negative_slope == 0.0 and layer.threshold == 0.0:  # relu, relu6: a 0/1 mask
        x = cast_input(layer, xs[0])
        y = layer.call(x)
        top = layer.max_value

        def backward(g):
            keep = x > 0
            if top is not None:
                keep &= x < top
            return [g * keep], {}
        return y, backward
    return _elementwise(layer, xs, lambda x: _relu_d(
        x.astype(np.float64), negative_slope=layer.negative_slope, max_value=layer.max_value,
        threshold=layer.threshold, keras2=layer.source_format == KERAS2))


@register(LeakyReLU)
def leaky_relu_layer(layer: LeakyReLU, xs: list[np.ndarray], call: Call):
    return _elementwise(layer, xs, lambda x: np.where(x >= 0, 1.0, layer.negative_slope))


@register(ELU)
def elu_layer(layer: ELU, xs: list[np.ndarray], call: Call):
    from .activations import _elu_d
    return _elementwise(layer, xs, lambda x: _elu_d(x.astype(np.float64), layer.alpha))


@register(ThresholdedReLU)
def thresholded_relu(layer: ThresholdedReLU, xs: list[np.ndarray], call: Call):
    return _elementwise(layer, xs, lambda x: (x > layer.theta).astype(np.float64))


@register(PReLU)
def prelu(layer: PReLU, xs: list[np.ndarray], call: Call):
    x = cast_input(layer, xs[0])
    a = layer.alpha.value
    y = layer.call(x)

    def backward(g):
        ga = unbroadcast(g * -np.maximum(-x, 0), (1,) + a.shape)[0]
        return [g * np.where(x > 0, 1.0, a).astype(g.dtype)], {layer.alpha.path: ga}
    return y, backward


@register(Softmax)
def softmax_layer(layer: Softmax, xs: list[np.ndarray], call: Call):
    x = cast_input(layer, xs[0])
    y = layer.call(x, mask=call.mask)
    axis = tuple(layer.axis) if isinstance(layer.axis, (list, tuple)) else layer.axis
    return y, lambda g: ([A_softmax_vjp(y, g, axis)], {})


def A_softmax_vjp(y: np.ndarray, g: np.ndarray, axis: Any) -> np.ndarray:
    y64, g64 = y.astype(np.float64), g.astype(np.float64)
    return (y64 * (g64 - np.sum(g64 * y64, axis=axis, keepdims=True))).astype(g.dtype)


@register(Identity, ActivityRegularization)
def identity(layer: Any, xs: list[np.ndarray], call: Call):
    return cast_input(layer, xs[0]), lambda g: ([g], {})


@register(Masking)
def masking(layer: Masking, xs: list[np.ndarray], call: Call):
    x = cast_input(layer, xs[0])
    keep = np.any(x != layer.mask_value, axis=-1, keepdims=True)
    return layer.call(x), lambda g: ([np.where(keep, g, 0).astype(g.dtype)], {})


@register(Dropout, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D, GaussianNoise,
          GaussianDropout, AlphaDropout)
def noise(layer: Any, xs: list[np.ndarray], call: Call):
    """Every noise layer is affine in its input, elementwise, for one draw of the noise:
    the same draw run on ones and on zeros gives the slope (the seeded mask, scaled)."""
    x = cast_input(layer, xs[0])
    if not call.training or not np.issubdtype(x.dtype, np.floating):
        return x, lambda g: ([g], {})
    rng = layer._rng
    start = rng.bit_generator.state
    y = layer.call(x, training=True)
    after = rng.bit_generator.state
    rng.bit_generator.state = start
    ones = layer.call(np.ones_like(x), training=True)
    rng.bit_generator.state = start
    zeros = layer.call(np.zeros_like(x), training=True)
    rng.bit_generator.state = after
    slope = ones - zeros
    return y, lambda g: ([(g * slope).astype(g.dtype)], {})


_ = A  # the activation functions are resolved through the layers' fields
