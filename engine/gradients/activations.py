"""Derivatives of every Keras activation function, as VJPs: ``gz = vjp(z, y, gy)``.

``z`` is the activation's input, ``y`` its output; derivatives are taken in float64 and
cast to the cotangent's dtype. At kinks the derivative is TensorFlow's (relu: 0 at 0).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import activations as A
from ..errors import ConfigError
from .table import Call, find


def _sig(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _elu_d(x, alpha=1.0):
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


def _gelu_d(x, approximate=False):
    if approximate:
        c = np.sqrt(2.0 / np.pi)
        u = c * (x + 0.044715 * x ** 3)
        t = np.tanh(u)
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3 * 0.044715 * x * x)
    cdf = 0.5 * (1.0 + A.erf(x / np.sqrt(2.0)))  # the forward's erf (error < 1.2e-7)
    return cdf + x * np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)


def _relu_d(x, negative_slope=0.0, max_value=None, threshold=0.0, keras2=False):
    if negative_slope != 0.0 and max_value is None and threshold == 0:
        return np.where(x > 0, 1.0, negative_slope)
    if threshold != 0:
        d = (x > threshold).astype(float)
        pre = np.where(x > threshold, x, 0.0)
    else:
        d = (x > 0).astype(float)
        pre = np.maximum(x, 0.0)
    if max_value is not None:
        d = d * (pre < max_value)
    if negative_slope != 0.0:
        d = d + negative_slope * (threshold - x > 0)
    return d


def _hs(x):
    return np.where((x > -3.0) & (x < 3.0), 1.0 / 6.0, 0.0)


#: activation function -> elementwise derivative d(x) (x in float64)
ELEMENTWISE: dict[Callable[..., Any], Callable[..., Any]] = {
    A.linear: lambda x: np.ones_like(x),
    A.relu: _relu_d,
    A.sigmoid: lambda x: _sig(x) * (1.0 - _sig(x)),
    A.tanh: lambda x: 1.0 - np.tanh(x) ** 2,
    A.softplus: _sig,
    A.softsign: lambda x: 1.0 / (1.0 + np.abs(x)) ** 2,
    A.exponential: np.exp,
    A.elu: _elu_d,
    A.selu: lambda x: A.SELU_SCALE * _elu_d(x, A.SELU_ALPHA),
    A.gelu: _gelu_d,
    A.silu: lambda x: _sig(x) * (1.0 + x * (1.0 - _sig(x))),
    A.mish: lambda x: np.tanh(A.softplus(x)) + x * (1.0 - np.tanh(A.softplus(x)) ** 2) * _sig(x),
    A.relu6: lambda x: ((x > 0) & (x < 6)).astype(float),
    A.leaky_relu: lambda x, negative_slope=0.2: np.where(x >= 0, 1.0, negative_slope),
    A.hard_sigmoid: _hs,
    A.hard_sigmoid_keras2: lambda x: np.where((x > -2.5) & (x < 2.5), 0.2, 0.0),
    A.hard_silu: lambda x: A.hard_sigmoid(x) + x * _hs(x),
    A.celu: lambda x, alpha=1.0: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0) / alpha)),
    A.hard_tanh: lambda x: ((x > -1) & (x < 1)).astype(float),
    A.hard_shrink: lambda x, threshold=0.5: (np.abs(x) > threshold).astype(float),
    A.soft_shrink: lambda x, threshold=0.5: (np.abs(x) > threshold).astype(float),
    A.tanh_shrink: lambda x: np.tanh(x) ** 2,
    A.log_sigmoid: lambda x: _sig(-x),
    A.sparse_plus: lambda x: np.where(x <= -1.0, 0.0, np.where(x >= 1.0, 1.0, (x + 1.0) / 2)),
    A.sparse_sigmoid: lambda x: np.where((x > -1.0) & (x < 1.0), 0.5, 0.0),
    A.squareplus: lambda x, b=4.0: (1.0 + x / np.sqrt(x * x + b)) / 2.0,
}


def _softmax_vjp(z, y, g, axis=-1):
    return y * (g - np.sum(g * y, axis=axis, keepdims=True))


def _log_softmax_vjp(z, y, g, axis=-1):
    return g - np.exp(y) * np.sum(g, axis=axis, keepdims=True)


def _glu_vjp(z, y, g, axis=-1):
    a, b = np.split(z, 2, axis=axis)
    s = _sig(b)
    return np.concatenate([g * s, g * a * s * (1.0 - s)], axis=axis)


def _sparsemax_vjp(z, y, g, axis=-1):
    """Keras's sparsemax ``max(z - tau, 0)`` with ``tau = (sum of the support's cumulative
    sums - 1) / |support|`` (see engine.activations.sparsemax), differentiated as
    TensorFlow does: through ``tau`` and the sort, the support held fixed, and the maximum
    passing the gradient where ``z - tau >= 0``."""
    zl = np.moveaxis(z, axis, -1)
    gl = np.moveaxis(g, axis, -1)
    order = np.argsort(-zl, axis=-1, kind="stable")
    zs = np.take_along_axis(zl, order, -1)
    k = np.arange(1, zl.shape[-1] + 1)
    cums = np.cumsum(zs, axis=-1)
    support = zs - (cums - 1.0) / k > 0
    kz = support.sum(axis=-1, keepdims=True)
    tau = (np.sum(np.where(support, cums, 0.0), axis=-1, keepdims=True) - 1.0) / kz
    gm = np.where(zl - tau >= 0, gl, 0.0)
    # d tau / d zs_i = #{j in support, j >= i} / |support|
    after = np.cumsum(support[..., ::-1], axis=-1)[..., ::-1]
    dtau = np.zeros_like(zl)
    np.put_along_axis(dtau, order, after / kz, -1)
    gz = gm - gm.sum(axis=-1, keepdims=True) * dtau
    return np.moveaxis(gz, -1, axis)


#: activation function -> full VJP (z, y, g, **kwargs) for the non-elementwise ones
FULL: dict[Callable[..., Any], Callable[..., Any]] = {
    A.softmax: _softmax_vjp,
    A.log_softmax: _log_softmax_vjp,
    A.glu: _glu_vjp,
    A.sparsemax: _sparsemax_vjp,
}


def activation_vjp(act: Any, z: np.ndarray, y: np.ndarray, g: np.ndarray,
                   where: str = "activation", **kwargs: Any) -> np.ndarray:
    """The gradient w.r.t. ``z`` of ``sum(act(z) * g)``."""
    fn = getattr(act, "fn", act)
    layer = getattr(act, "layer", None)
    if layer is not None:  # a layer used as the activation
        _, back = find(layer, where)(layer, [z], Call(where=where))
        return back(g)[0][0]
    z64 = np.asarray(z, np.float64)
    g64 = np.asarray(g, np.float64)
    if fn in ELEMENTWISE:
        return (g64 * ELEMENTWISE[fn](z64, **kwargs)).astype(g.dtype, copy=False)
    if fn in FULL:
        y64 = np.asarray(y, np.float64)
        return FULL[fn](z64, y64, g64, **kwargs).astype(g.dtype, copy=False)
    raise ConfigError(where, f"the activation {getattr(act, 'name', act)!r} has no derivative "
                      f"in engine.gradients (differentiable: "
                      f"{', '.join(sorted(differentiable_names()))})")


def differentiable_names() -> list[str]:
    known = set(ELEMENTWISE) | set(FULL)
    return [n for n, f in A.BUILTINS.items() if f in known]


def is_linear(act: Any) -> bool:
    return getattr(act, "fn", None) is A.linear and not getattr(act, "custom", False)
