"""Fast elementwise kernels for the inference path of the convolution, normalization and
activation layers (tests/bench/bench_applications.py measures them).

Two NumPy costs dominate small elementwise passes, and both are avoided here without
changing a single result bit:

* ``np.maximum`` on float32 is about 3x slower than ``np.clip`` on this NumPy (both
  propagate NaN, map -inf to the lower bound and +inf to the upper one), so relu and relu6
  are clips;
* a per-channel vector broadcast over (positions, channels) runs NumPy's inner loop once
  per position, ``channels`` elements long (16 for MobileNet's first blocks); the vector
  tiled ``k`` times over a (positions / k, k * channels) view of the same memory gives
  long inner loops and the same products.

Writing ``out=`` into a buffer is done only where the caller says the buffer is its own
(an array the layer allocated in this call), never into an input: in a functional graph
one tensor may feed several layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import activations

__all__ = ["activate", "batch_norm_fold", "batch_norm_inference", "relu_layer", "scale_shift"]

#: inner-loop length aimed at by :func:`scale_shift` (elements of the tiled vectors)
TILE_ELEMENTS = 8192
_TILES: dict[tuple[int, int], int] = {}


def _relu_fn(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.clip(x, x.dtype.type(0), x.dtype.type(np.inf), out=out)


def _relu6_fn(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.clip(x, x.dtype.type(0), x.dtype.type(6), out=out)


#: exact in the input's float dtype (the float64 detour of ActivationFn gives the same bits)
_EXACT = {activations.relu: _relu_fn, activations.relu6: _relu6_fn}


def activate(fn: Any, y: np.ndarray, owned: bool) -> np.ndarray:
    """``fn(y)`` for a layer's activation ``fn``; relu and relu6 on float arrays are one
    clip, written into ``y`` itself when ``owned`` (``y`` is the caller's own buffer)."""
    kernel = None
    if isinstance(fn, activations.ActivationFn) and not fn.custom and \
            isinstance(y, np.ndarray) and y.dtype.kind == "f":
        if fn.fn is activations.linear:
            return y
        kernel = _EXACT.get(fn.fn)
    if kernel is None:
        return fn(y)
    return kernel(y, y if owned and y.flags.writeable else np.empty_like(y))


def relu_layer(x: np.ndarray, max_value: float | None, negative_slope: float,
               threshold: float, owned: bool = False) -> np.ndarray | None:
    """The ReLU layer's plain cases (relu, relu6 and relu clipped at ``max_value``) as one
    clip, into ``x`` itself when ``owned`` (the caller's own buffer), else into a new array;
    None for the others (a slope or a threshold)."""
    if negative_slope != 0 or threshold != 0 or x.dtype.kind != "f":
        return None
    hi = np.inf if max_value is None else max_value
    if x.dtype != np.float64 and max_value is not None and \
            float(x.dtype.type(hi)) != float(hi):
        return None  # a bound not exact in the input's dtype: the general path rounds it
    return np.clip(x, x.dtype.type(0), x.dtype.type(hi),
                   out=x if owned and x.flags.writeable else None)


def _tile(positions: int, channels: int) -> int:
    """How many times to tile a per-channel vector: the largest divisor of ``positions``
    with ``k * channels <= TILE_ELEMENTS`` (cached per shape)."""
    key = (positions, channels)
    k = _TILES.get(key)
    if k is None:
        k = max(1, min(positions, TILE_ELEMENTS // max(1, channels)))
        while positions % k:
            k -= 1
        if len(_TILES) > 4096:
            _TILES.clear()
        _TILES[key] = k
    return k


def scale_shift(x: np.ndarray, scale: np.ndarray, shift: np.ndarray,
                out: np.ndarray | None = None, tiles: dict | None = None) -> np.ndarray:
    """``x * scale + shift`` with per-channel (last axis) float vectors ``scale`` and
    ``shift`` of ``x``'s dtype, rounded as the two NumPy operations round; into ``out``
    (a new array when None; ``out`` may be ``x`` itself when the caller owns ``x``).
    ``tiles``: a dict where the tiled vectors are kept per tiling for the next call with
    the same ``scale`` and ``shift`` (the caller's to clear when they change)."""
    channels = x.shape[-1] if x.ndim else 1
    if out is None:
        out = np.empty(x.shape, x.dtype)
    if x.size == 0 or channels == 0 or not (x.flags.c_contiguous and out.flags.c_contiguous):
        np.multiply(x, scale, out=out)
        out += shift
        return out
    positions = x.size // channels
    k = _tile(positions, channels)
    xs = x.reshape(positions // k, k * channels)
    os_ = out.reshape(xs.shape)
    s, b = scale, shift
    if k > 1:  # both vectors tiled into one buffer (faster than two np.tile)
        tiled = tiles.get(k) if tiles is not None else None
        if tiled is None or tiled.dtype != x.dtype:
            tiled = np.empty((2, k, channels), x.dtype)
            tiled[0] = scale
            tiled[1] = shift
            if tiles is not None and len(tiles) < 16:
                tiles[k] = tiled
        s, b = tiled[0].reshape(-1), tiled[1].reshape(-1)
    np.multiply(xs, s, out=os_)
    os_ += b
    return out


def batch_norm_fold(mean: Any, var: Any, gamma: Any, beta: Any,
                    epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    """BatchNormalization's moving statistics folded into one float32 scale and shift per
    channel, in BatchNormalization.call's float32 arithmetic (weights as Variables;
    ``gamma``/``beta`` may be None)."""
    f32 = np.float32
    inv = 1.0 / np.sqrt(var.value.astype(f32, copy=False) + f32(epsilon))
    if gamma is not None:
        inv = inv * gamma.value.astype(f32, copy=False)
    shift = -mean.value.astype(f32, copy=False) * inv
    if beta is not None:
        shift = shift + beta.value.astype(f32, copy=False)
    return inv.astype(f32, copy=False), shift.astype(f32, copy=False)


def batch_norm_inference(x: np.ndarray, mean: Any, var: Any, gamma: Any, beta: Any,
                         epsilon: float, dtype: str, out: np.ndarray | None = None,
                         memo: dict | None = None) -> np.ndarray:
    """BatchNormalization's inference on channels-last float32 ``x`` from its weights:
    :func:`batch_norm_fold`, then :func:`scale_shift` into ``out`` (``x`` itself when the
    caller owns it; a new array when None), as ``dtype``.

    ``memo`` (the layer's dict) keeps the folded vectors and their tilings for the next
    call, with the bytes of the weights and epsilon they were made from: any change of a
    weight (a new array, or the same array written in place, as a finite-difference check
    does) folds again. Comparing the bytes costs less than the fold's NumPy calls."""
    if memo is None:
        scale, shift = batch_norm_fold(mean, var, gamma, beta, epsilon)
        tiles = None
    else:
        arrays = [v.value for v in (mean, var, gamma, beta) if v is not None]
        sig = (epsilon, gamma is None, beta is None,
               tuple([(a.dtype.str, a.shape) for a in arrays]),
               b"".join([a.tobytes() for a in arrays]))
        if memo.get("sig") != sig:
            memo.clear()
            memo["fold"] = batch_norm_fold(mean, var, gamma, beta, epsilon)
            memo["tiles"] = {}
            memo["sig"] = sig
        (scale, shift), tiles = memo["fold"], memo["tiles"]
    out = scale_shift(x, scale, shift, out, tiles)
    return out.astype(dtype, copy=False)
