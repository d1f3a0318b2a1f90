"""VJPs of the pooling layers: Max/AveragePooling1D/2D/3D, the global and the adaptive
poolings."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..layers.conv import conv_paddings, from_channels_last, pad_spatial, to_channels_last
from ..layers.pooling import (
    AdaptiveAveragePooling1D,
    AdaptiveAveragePooling2D,
    AdaptiveAveragePooling3D,
    AdaptiveMaxPooling1D,
    AdaptiveMaxPooling2D,
    AdaptiveMaxPooling3D,
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
    adaptive_pool_axis,
)
from .conv import _tap, _unpad
from .table import Call, cast_input, register


@register(MaxPooling1D, MaxPooling2D, MaxPooling3D, AveragePooling1D, AveragePooling2D,
          AveragePooling3D)
def pooling(layer: Any, xs: list[np.ndarray], call: Call):
    x_in = cast_input(layer, xs[0])
    y = layer.call(x_in)
    x = to_channels_last(x_in, layer.data_format)
    y_cl = to_channels_last(y, layer.data_format)
    rank = x.ndim - 2
    pool, strides = tuple(layer.pool_size), tuple(layer.strides)
    pads = conv_paddings(x.shape[1:-1], pool, strides, (1,) * rank, layer.padding)
    out = y_cl.shape[1:-1]
    taps = list(itertools.product(*(range(k) for k in pool)))
    ones = (1,) * rank

    def backward(g):
        g_cl = to_channels_last(g, layer.data_format)
        if layer.mode == "max":
            xp = pad_spatial(x, pads, -np.inf)
            gxp = np.zeros(xp.shape, dtype=g.dtype)
            free = np.ones(y_cl.shape, dtype=bool)
            for tap in taps:  # TensorFlow: the first maximum of the window takes it all
                sl = _tap(tap, strides, ones, out)
                hit = free & (xp[sl] == y_cl)
                gxp[sl] += np.where(hit, g_cl, 0)
                free &= ~hit
        else:
            valid = pad_spatial(np.ones((1,) + x.shape[1:-1] + (1,), g.dtype), pads, 0.0)
            count = np.zeros((1,) + tuple(out) + (1,), g.dtype)
            for tap in taps:
                count += valid[_tap(tap, strides, ones, out)]
            share = g_cl / count
            gxp = np.zeros((x.shape[0],) + valid.shape[1:-1] + (x.shape[-1],), g.dtype)
            for tap in taps:
                sl = _tap(tap, strides, ones, out)
                gxp[sl] += share
        gx = _unpad(gxp, x.shape, pads)
        return [np.ascontiguousarray(from_channels_last(gx, layer.data_format))], {}
    return y, backward


@register(GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D,
          GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D)
def global_pooling(layer: Any, xs: list[np.ndarray], call: Call):
    if call.mask is not None and isinstance(layer, GlobalAveragePooling1D):
        raise ConfigError(call.where, f"layer {layer.name!r} (GlobalAveragePooling1D): "
                          f"gradients with a mask are not supported yet; remove the mask "
                          f"upstream")
    x = cast_input(layer, xs[0])
    y = layer.call(x)
    axes = layer._axes()
    yk = y if layer.keepdims else np.expand_dims(y, axes)

    def backward(g):
        gk = g if layer.keepdims else np.expand_dims(g, axes)
        if layer.mode == "max":
            hit = x == yk
            share = hit / hit.sum(axis=axes, keepdims=True)
            return [(gk * share).astype(g.dtype)], {}
        n = int(np.prod([x.shape[a] for a in axes]))
        return [np.broadcast_to(gk / np.asarray(n, g.dtype), x.shape).copy()], {}
    return y, backward


def _adaptive_windows(length: int, size: int) -> list[tuple[int, int]]:
    """(start, width) of each output of ``adaptive_pool_axis`` (Keras's TF backend rule)."""
    small = -(-length // size)
    i = np.arange(size, dtype=np.float32)
    n, s = np.float32(length), np.float32(size)
    starts = np.minimum(np.floor(i * n / s).astype(np.int64), length - 1)
    ends = np.minimum(np.ceil((i + 1) * n / s).astype(np.int64), length)
    out = []
    for a, e in zip(starts, ends):
        width = small + 1 if e - a == small + 1 else small
        out.append((int(min(a, length - width)), int(width)))
    return out


@register(AdaptiveAveragePooling1D, AdaptiveAveragePooling2D, AdaptiveAveragePooling3D,
          AdaptiveMaxPooling1D, AdaptiveMaxPooling2D, AdaptiveMaxPooling3D)
def adaptive_pooling(layer: Any, xs: list[np.ndarray], call: Call):
    """Pooled one axis after another: the VJP undoes the axes in reverse, each window's
    cotangent going to its maximum (max) or spread over it (average)."""
    x_in = cast_input(layer, xs[0])
    y = layer.call(x_in)
    x = to_channels_last(x_in, layer.data_format)
    steps = []
    for axis, size in enumerate(layer.output_size, start=1):
        steps.append((axis, x, _adaptive_windows(x.shape[axis], size)))
        x = adaptive_pool_axis(x, axis, size, layer.mode)

    def backward(g):
        gy = to_channels_last(g, layer.data_format)
        for axis, before, windows in reversed(steps):
            xb = np.moveaxis(before, axis, -1)
            gb = np.moveaxis(gy, axis, -1)
            gx = np.zeros(xb.shape, dtype=g.dtype)
            for i, (start, width) in enumerate(windows):
                if layer.mode == "max":
                    win = xb[..., start:start + width]
                    hit = np.argmax(win, axis=-1)[..., None]
                    part = np.zeros(win.shape, g.dtype)
                    np.put_along_axis(part, hit, gb[..., i:i + 1], axis=-1)
                    gx[..., start:start + width] += part
                else:
                    gx[..., start:start + width] += gb[..., i:i + 1] / np.asarray(width, g.dtype)
            gy = np.moveaxis(gx, -1, axis)
        return [np.ascontiguousarray(from_channels_last(gy, layer.data_format))], {}
    return y, backward
