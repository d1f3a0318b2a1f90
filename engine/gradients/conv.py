"""VJPs of the convolutions: Conv1D/2D/3D (strides, dilation, groups, padding valid/same/
causal, both data formats), their transposes, DepthwiseConv1D/2D and SeparableConv1D/2D.

A convolution is a sum over kernel taps of ``view_t(x_padded) @ kernel[t]``; its VJP runs
the same taps backwards: ``gkernel[t] = view_t(x)^T g`` and ``view_t(gx) += g kernel[t]^T``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..layers.conv import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
    conv_nd,
    conv_transpose_nd,
    depthwise_conv_nd,
    from_channels_last,
    pad_spatial,
    to_channels_last,
    transpose_pad_before,
)
from .activations import activation_vjp, is_linear
from .table import Call, cast_input, register


def _tap(tap: Sequence[int], strides: Sequence[int], dilation: Sequence[int],
         out: Sequence[int]) -> tuple[slice, ...]:
    return (slice(None),) + tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                                  for t, s, d, o in zip(tap, strides, dilation, out))


def _unpad(gxp: np.ndarray, x_shape: tuple[int, ...],
           pads: Sequence[tuple[int, int]]) -> np.ndarray:
    inner = (slice(None),) + tuple(slice(b, b + n) for n, (b, _) in zip(x_shape[1:-1], pads))
    return gxp[inner]


def _bias_act(layer: Any, z: np.ndarray, call: Call):
    if layer.bias is not None:
        z = z + layer.bias.value
    act = layer.activation
    if is_linear(act):
        return z, lambda g: g
    y = act(z)
    return y, lambda g: activation_vjp(act, z, y, g, f"{call.where}.activation")


def _bias_grad(layer: Any, gz: np.ndarray, grads: dict[str, np.ndarray]) -> None:
    if layer.bias is not None:
        grads[layer.bias.path] = gz.reshape(-1, gz.shape[-1]).sum(axis=0).astype(
            layer.bias.dtype)


def conv_backward(xp: np.ndarray, kernel: np.ndarray, gz: np.ndarray, strides, dilation,
                  groups: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Gradients w.r.t. the padded input ``xp`` and the kernel of ``conv_nd``."""
    ksize = kernel.shape[:-2]
    cg, filters = kernel.shape[-2:]
    fg = filters // groups
    out = gz.shape[1:-1]
    m = int(np.prod(gz.shape[:-1]))
    g2 = gz.reshape(m, filters)
    gxp = np.zeros(xp.shape, dtype=np.result_type(xp.dtype, gz.dtype))
    gk = np.zeros(kernel.shape, dtype=np.float64 if gz.dtype == np.float64 else np.float32)
    for tap in itertools.product(*(range(k) for k in ksize)):
        sl = _tap(tap, strides, dilation, out)
        v = xp[sl].reshape(m, groups * cg)
        view = gxp[sl]
        kt = kernel[tap]
        if groups == 1:
            gk[tap] = v.T @ g2
            view += (g2 @ kt.T).reshape(view.shape)
            continue
        vg = v.reshape(m, groups, cg).transpose(1, 2, 0)        # (G, cg, m)
        gg = g2.reshape(m, groups, fg).transpose(1, 0, 2)       # (G, m, fg)
        gk[tap] = (vg @ gg).transpose(1, 0, 2).reshape(cg, filters)
        kg = kt.reshape(cg, groups, fg).transpose(1, 2, 0)      # (G, fg, cg)
        view += (gg @ kg).transpose(1, 0, 2).reshape(view.shape)
    return gxp, gk


def depthwise_backward(xp: np.ndarray, kernel: np.ndarray, gd: np.ndarray, strides,
                       dilation) -> tuple[np.ndarray, np.ndarray]:
    """Gradients w.r.t. the padded input and the (*k, C, M) kernel of a depthwise conv."""
    ksize = kernel.shape[:-2]
    chans, mult = kernel.shape[-2:]
    out = gd.shape[1:-1]
    m = int(np.prod(gd.shape[:-1]))
    g3 = gd.reshape(m, chans, mult)
    gxp = np.zeros(xp.shape, dtype=np.result_type(xp.dtype, gd.dtype))
    gk = np.zeros(kernel.shape, dtype=gxp.dtype)
    for tap in itertools.product(*(range(k) for k in ksize)):
        sl = _tap(tap, strides, dilation, out)
        v = xp[sl].reshape(m, chans)
        gk[tap] = np.einsum("mc,mck->ck", v, g3)
        view = gxp[sl]
        view += np.einsum("mck,ck->mc", g3, kernel[tap]).reshape(view.shape)
    return gxp, gk


def _windowed(layer: Any, xs: list[np.ndarray], call: Call, forward, backward_fn):
    """A convolution whose kernel slides over the padded input: ``forward(x, kernel,
    pads)`` gives the pre-activation output, ``backward_fn(xp, kernel, gz)`` the gradients
    w.r.t. the padded input and the kernel; bias, activation and layout are shared."""
    x = to_channels_last(cast_input(layer, xs[0]), layer.data_format)
    kernel = layer.kernel.value.astype(x.dtype, copy=False)
    pads = layer._pads(x)
    y, act_back = _bias_act(layer, np.array(forward(x, kernel, pads)), call)

    def backward(g):
        gz = act_back(to_channels_last(g, layer.data_format))
        gxp, gk = backward_fn(pad_spatial(x, pads), kernel, gz)
        grads = {layer.kernel.path: gk.astype(layer.kernel.dtype)}
        _bias_grad(layer, gz, grads)
        gx = from_channels_last(_unpad(gxp, x.shape, pads), layer.data_format)
        return [gx.astype(g.dtype, copy=False)], grads
    return from_channels_last(y, layer.data_format), backward


@register(Conv1D, Conv2D, Conv3D)
def conv(layer: Any, xs: list[np.ndarray], call: Call):
    s, d, groups = layer.strides, layer.dilation_rate, layer.groups
    return _windowed(layer, xs, call,
                     lambda x, k, pads: conv_nd(x, k, s, d, pads, groups),
                     lambda xp, k, gz: conv_backward(xp, k, gz, s, d, groups))


@register(DepthwiseConv1D, DepthwiseConv2D)
def depthwise(layer: Any, xs: list[np.ndarray], call: Call):
    s, d = layer.strides, layer.dilation_rate
    return _windowed(layer, xs, call,
                     lambda x, k, pads: depthwise_conv_nd(x, k, s, d, pads),
                     lambda xp, k, gz: depthwise_backward(xp, k, gz, s, d))


@register(SeparableConv1D, SeparableConv2D)
def separable(layer: Any, xs: list[np.ndarray], call: Call):
    x = to_channels_last(cast_input(layer, xs[0]), layer.data_format)
    dk = layer.depthwise_kernel.value.astype(x.dtype, copy=False)
    pw = layer.pointwise_kernel.value.astype(x.dtype, copy=False)
    pw2 = pw.reshape(pw.shape[-2:])
    pads = layer._pads(x)
    d = np.array(depthwise_conv_nd(x, dk, layer.strides, layer.dilation_rate, pads))
    d2 = d.reshape(-1, d.shape[-1])
    z = (d2 @ pw2).reshape(d.shape[:-1] + pw.shape[-1:])
    y, act_back = _bias_act(layer, z, call)

    def backward(g):
        gz = act_back(to_channels_last(g, layer.data_format))
        gz2 = gz.reshape(-1, gz.shape[-1])
        gd = (gz2 @ pw2.T).reshape(d.shape)
        gxp, gk = depthwise_backward(pad_spatial(x, pads), dk, gd, layer.strides,
                                     layer.dilation_rate)
        grads = {layer.depthwise_kernel.path: gk.astype(layer.depthwise_kernel.dtype),
                 layer.pointwise_kernel.path: (d2.T @ gz2).reshape(pw.shape).astype(
                     layer.pointwise_kernel.dtype)}
        _bias_grad(layer, gz, grads)
        gx = from_channels_last(_unpad(gxp, x.shape, pads), layer.data_format)
        return [gx.astype(g.dtype, copy=False)], grads
    return from_channels_last(y, layer.data_format), backward


@register(Conv1DTranspose, Conv2DTranspose, Conv3DTranspose)
def conv_transpose(layer: Any, xs: list[np.ndarray], call: Call):
    """The forward scatters ``x @ kernel[t]^T`` into a full buffer at each tap's strided
    view and crops it; the VJP reads the same views of the padded cotangent."""
    x = to_channels_last(cast_input(layer, xs[0]), layer.data_format)
    kernel = layer.kernel.value.astype(x.dtype, copy=False)
    sizes = x.shape[1:-1]
    out = layer._out_sizes(sizes)
    before = transpose_pad_before(sizes, layer.kernel_size, layer.strides,
                                  layer.dilation_rate, out, layer.padding)
    z = np.array(conv_transpose_nd(x, kernel, layer.strides, layer.dilation_rate, out, before))
    y, act_back = _bias_act(layer, z, call)
    ksize = kernel.shape[:-2]
    full = tuple(max((n - 1) * s + (k - 1) * d + 1, b + o) for n, k, s, d, b, o in
                 zip(sizes, ksize, layer.strides, layer.dilation_rate, before, out))

    def backward(g):
        gz = act_back(to_channels_last(g, layer.data_format))
        gbuf = np.zeros((x.shape[0],) + full + (gz.shape[-1],), gz.dtype)
        gbuf[(slice(None),) + tuple(slice(b, b + o) for b, o in zip(before, out))] = gz
        flat = np.ascontiguousarray(x).reshape(-1, x.shape[-1])
        gx = np.zeros(flat.shape, dtype=gz.dtype)
        gk = np.zeros(kernel.shape, dtype=gz.dtype)
        for tap in itertools.product(*(range(k) for k in ksize)):
            v = gbuf[_tap(tap, layer.strides, layer.dilation_rate, sizes)].reshape(
                flat.shape[0], -1)
            gx += v @ kernel[tap]
            gk[tap] = v.T @ flat
        grads = {layer.kernel.path: gk.astype(layer.kernel.dtype)}
        _bias_grad(layer, gz, grads)
        gx = from_channels_last(gx.reshape(x.shape), layer.data_format)
        return [gx.astype(g.dtype, copy=False)], grads
    return from_channels_last(y, layer.data_format), backward
