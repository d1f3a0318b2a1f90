"""VJPs of Keras 2's locally connected layers (LocallyConnected1D/2D, every weight
layout): the layer is one batched matmul of the input windows with a kernel per output
position; the window gather is run on the input's flat indices to scatter the gradient
back, and the kernel gradient is gathered into the layout the layer stores."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers.locally_connected import LocallyConnected1D, LocallyConnected2D
from .activations import activation_vjp, is_linear
from .table import Call, cast_input, register


def _gather_index(layer: Any, x: np.ndarray) -> np.ndarray:
    """For every window entry of one sample, the flat input index it reads, or -1 for
    the zeros of 'same' padding (the layer's own gather run on the indices)."""
    n = int(np.prod(x.shape[1:]))
    ids = np.arange(1, n + 1, dtype=np.float64).reshape((1,) + x.shape[1:])
    return layer._patches(ids)[0].astype(np.int64) - 1  # (positions, features)


@register(LocallyConnected1D, LocallyConnected2D)
def locally_connected(layer: Any, xs: list[np.ndarray], call: Call):
    x = cast_input(layer, xs[0])
    b, f, out = x.shape[0], layer.filters, layer._spatial_out
    cf = layer.data_format == "channels_first"
    patches = layer._patches(x).transpose(1, 0, 2)  # (positions, B, features)
    w1 = layer._window_kernel()
    z = np.matmul(patches, w1).transpose(1, 0, 2).reshape((b,) + out + (f,))
    if cf:
        z = np.moveaxis(z, -1, 1)
    z = z.astype(layer.compute_dtype, copy=False)
    if layer.bias is not None:
        bias = layer.bias.value
        z = z + (bias.reshape((1, f) + out) if cf else bias[None])
    act = layer.activation
    y = z if is_linear(act) else act(z)

    def backward(g):
        gz = g if is_linear(act) else activation_vjp(act, z, y, g, f"{call.where}.activation")
        grads = {}
        if layer.bias is not None:
            grads[layer.bias.path] = gz.sum(axis=0).reshape(layer.bias.shape).astype(
                layer.bias.dtype)
        gl = np.moveaxis(gz, 1, -1) if cf else gz
        gp = gl.reshape(b, -1, f).transpose(1, 0, 2)  # (positions, B, filters)
        gw1 = np.matmul(patches.transpose(0, 2, 1), gp)  # (positions, features, filters)
        gpatch = np.matmul(gp, w1.transpose(0, 2, 1))  # (positions, B, features)
        idx = _gather_index(layer, x)
        valid = idx >= 0
        gx = np.zeros((b, int(np.prod(x.shape[1:]))), gz.dtype)
        np.add.at(gx, (slice(None), idx[valid]), gpatch.transpose(1, 0, 2)[:, valid])
        k = layer.kernel
        if layer.implementation == 1:
            gk = gw1
        else:
            values = gw1.reshape(-1)[layer._w1_at]
            if layer.implementation == 3:
                gk = values
            else:
                gk = np.zeros(k.size, gw1.dtype)
                gk[layer._dense_at] = values
        grads[k.path] = gk.reshape(k.shape).astype(k.dtype)
        return [gx.reshape(x.shape)], grads
    return y, backward
