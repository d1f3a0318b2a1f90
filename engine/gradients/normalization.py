"""VJPs of the normalization layers: BatchNormalization (inference and training),
LayerNormalization (with rms_scaling), GroupNormalization, RMSNormalization,
UnitNormalization and SpectralNormalization. Forward passes run in the input's float dtype
(float64 in the finite-difference tests), with the layers' formulas."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..layers.normalization import (
    BatchNormalization,
    GroupNormalization,
    LayerNormalization,
    RMSNormalization,
    SpectralNormalization,
    UnitNormalization,
)
from .table import Call, cast_input, find, register


def _p(v: Any, shape: list[int], dtype) -> np.ndarray | None:
    return None if v is None else np.asarray(v.value, dtype).reshape(shape)


def _wgrad(grads: dict, var: Any, g: np.ndarray, axes: tuple[int, ...]) -> None:
    if var is not None:
        grads[var.path] = g.sum(axis=axes).reshape(var.shape).astype(var.dtype)


def _normalized_back(g, xhat, inv, red):
    """VJP of ``xhat = (x - mean) * inv`` with batch statistics over ``red``."""
    mean_g = g.mean(axis=red, keepdims=True)
    mean_gx = (g * xhat).mean(axis=red, keepdims=True)
    return inv * (g - mean_g - xhat * mean_gx)


def _float(layer: Any, x: np.ndarray) -> np.ndarray:
    x = cast_input(layer, x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float32)


def _affine(xhat: np.ndarray, gamma: np.ndarray | None,
            beta: np.ndarray | None) -> np.ndarray:
    """``xhat * gamma + beta``, each factor only when the layer has it."""
    y = xhat * gamma if gamma is not None else xhat
    return y + beta if beta is not None else y


def _affine_back(grads: dict[str, np.ndarray], layer: Any, g: np.ndarray,
                 xhat: np.ndarray, gamma: np.ndarray | None,
                 axes: tuple[int, ...]) -> np.ndarray:
    """Record gamma's and beta's gradients (summed over ``axes``); the cotangent of
    ``xhat``."""
    _wgrad(grads, layer.gamma, g * xhat, axes)
    _wgrad(grads, layer.beta, g, axes)
    return g * gamma if gamma is not None else g


@register(BatchNormalization)
def batch_norm(layer: BatchNormalization, xs: list[np.ndarray], call: Call):
    x = _float(layer, xs[0])
    dt = x.dtype
    bshape, red = layer._bcast, tuple(layer._reduce)
    gamma, beta = _p(layer.gamma, bshape, dt), _p(layer.beta, bshape, dt)
    eps = dt.type(layer.epsilon)
    train = call.training and layer.trainable
    if train and (layer.renorm or call.mask is not None):
        raise ConfigError(call.where, f"layer {layer.name!r} (BatchNormalization): training-"
                          f"mode gradients with {'renorm' if layer.renorm else 'a mask'} are "
                          f"not supported; use training=False or renorm=False")
    if train:
        mean = x.mean(axis=red, keepdims=True)
        var = np.square(x - mean).mean(axis=red, keepdims=True)
    else:
        mean = _p(layer.moving_mean, bshape, dt)
        var = _p(layer.moving_variance, bshape, dt)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv
    y = _affine(xhat, gamma, beta)

    def backward(g):
        grads: dict[str, np.ndarray] = {}
        gh = _affine_back(grads, layer, g, xhat, gamma, red)
        gx = _normalized_back(gh, xhat, inv, red) if train else gh * inv
        return [gx.astype(g.dtype, copy=False)], grads
    return y.astype(dt, copy=False), backward


@register(LayerNormalization)
def layer_norm(layer: LayerNormalization, xs: list[np.ndarray], call: Call):
    x = _float(layer, xs[0])
    dt = x.dtype
    axes = tuple(layer._axes)
    other = tuple(d for d in range(x.ndim) if d not in axes)
    gamma = _p(layer.gamma, layer._bcast, dt)
    beta = _p(layer.beta, layer._bcast, dt)
    mean = x.mean(axis=axes, keepdims=True)
    var = np.square(x - mean).mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + dt.type(layer.epsilon))
    if layer.rms_scaling:
        xhat = x * inv
    else:
        xhat = (x - mean) * inv
    y = _affine(xhat, gamma, beta)

    def backward(g):
        grads: dict[str, np.ndarray] = {}
        gh = _affine_back(grads, layer, g, xhat, gamma, other)
        if layer.rms_scaling:
            gx = inv * gh - (x - mean) * inv ** 3 * (gh * x).mean(axis=axes, keepdims=True)
        else:
            gx = _normalized_back(gh, xhat, inv, axes)
        return [gx.astype(g.dtype, copy=False)], grads
    return y, backward


@register(GroupNormalization)
def group_norm(layer: GroupNormalization, xs: list[np.ndarray], call: Call):
    x = _float(layer, xs[0])
    dt = x.dtype
    a, groups = layer._axis, layer.groups
    gshape = x.shape[:a] + (groups, x.shape[a] // groups) + x.shape[a + 1:]
    xr = x.reshape(gshape)
    red = tuple(d for d in range(1, xr.ndim) if d != a)
    pshape = [1] * xr.ndim
    pshape[a], pshape[a + 1] = groups, x.shape[a] // groups
    gamma, beta = _p(layer.gamma, pshape, dt), _p(layer.beta, pshape, dt)
    mean = xr.mean(axis=red, keepdims=True)
    inv = 1.0 / np.sqrt(np.square(xr - mean).mean(axis=red, keepdims=True) +
                        dt.type(layer.epsilon))
    xhat = (xr - mean) * inv
    y = _affine(xhat, gamma, beta)
    psum = tuple(d for d in range(xr.ndim) if d not in (a, a + 1))

    def backward(g):
        gr = g.reshape(gshape)
        grads: dict[str, np.ndarray] = {}
        gh = _affine_back(grads, layer, gr, xhat, gamma, psum)
        gx = _normalized_back(gh, xhat, inv, red).reshape(x.shape)
        return [gx.astype(g.dtype, copy=False)], grads
    return y.reshape(x.shape), backward


@register(RMSNormalization)
def rms_norm(layer: RMSNormalization, xs: list[np.ndarray], call: Call):
    x = _float(layer, xs[0])
    dt = x.dtype
    axes = tuple(layer._axes)
    other = tuple(d for d in range(x.ndim) if d not in axes)
    scale = _p(layer.scale, layer._bcast, dt)
    inv = 1.0 / np.sqrt(np.square(x).mean(axis=axes, keepdims=True) + dt.type(layer.epsilon))
    xhat = x * inv
    y = xhat * scale

    def backward(g):
        grads = {layer.scale.path: (g * xhat).sum(axis=other).reshape(layer.scale.shape)
                 .astype(layer.scale.dtype)}
        gh = g * scale
        gx = inv * gh - x * inv ** 3 * (gh * x).mean(axis=axes, keepdims=True)
        return [gx.astype(g.dtype, copy=False)], grads
    return y, backward


@register(UnitNormalization)
def unit_norm(layer: UnitNormalization, xs: list[np.ndarray], call: Call):
    x = _float(layer, xs[0])
    dt = x.dtype
    from ..layers.normalization import resolve_axes
    axes = tuple(resolve_axes(layer, layer.axis, x.ndim))
    sq = np.square(x).sum(axis=axes, keepdims=True)
    floor = dt.type(1e-12)
    if layer._keras2:
        clipped = sq < floor
        inv = 1.0 / np.sqrt(np.maximum(sq, floor))
    else:
        with np.errstate(divide="ignore"):
            raw = 1.0 / np.sqrt(sq)
        clipped = raw > dt.type(1e12)
        inv = np.minimum(raw, dt.type(1e12))
    y = x * inv

    def backward(g):
        dot = (g * x).sum(axis=axes, keepdims=True)
        gx = g * inv - np.where(clipped, 0, x * inv ** 3 * dot)
        return [gx.astype(g.dtype, copy=False)], {}
    return y, backward


@register(SpectralNormalization)
def spectral_norm(layer: SpectralNormalization, xs: list[np.ndarray], call: Call):
    """In training Keras assigns ``kernel / sigma`` to the kernel and runs the wrapped layer:
    the gradient is the wrapped layer's, at the normalized kernel (TensorFlow does not
    differentiate through the assignment). The model's weights are left as they were."""
    inner = layer.layer
    x = np.asarray(xs[0])
    kernel = layer._kernel
    saved = kernel.value
    if call.training and np.any(saved != 0):
        kernel.value = layer.normalized_weights()[1].astype(kernel.dtype)
    try:
        y, back = find(inner, call.where)(inner, [x], Call(call.training, call.mask,
                                                           f"{call.where}.layer"))
    finally:
        kernel.value = saved
    if not layer._keras2 and np.issubdtype(x.dtype, np.floating):
        y = np.asarray(y).astype(x.dtype, copy=False)
    return y, back
