"""Fast elementwise kernels for the inference path of the convolution, normalization and
activation layers (tests/bench/bench_applications.py measures them).

Two NumPy costs dominate small elementwise passes, and both are avoided here without
changing a single result bit:

* ``np.maximum`` on float32 is about 3x slower than ``np.clip`` on this NumPy (both
  propagate NaN, map -inf to the lower bound and +inf to the upper one), so relu and relu6
  are clips, by the clip ufunc itself (``np.clip``'s Python wrapper costs more than a small
  tensor's clip);
* a per-channel vector broadcast over (positions, channels) runs NumPy's inner loop once
  per position, ``channels`` elements long (16 for MobileNet's first blocks); the vector
  tiled ``k`` times over a (positions / k, k * channels) view of the same memory gives
  long inner loops and the same products.

Writing ``out=`` into a buffer is done only where the caller says the buffer is its own
(an array the layer allocated in this call), never into an input: in a functional graph
one tensor may feed several layers.
"""

from __future__ import annotations

from operator import is_
from typing import Any

import numpy as np

from .. import activations
from ..activations import clip_ufunc as clip  # the ufunc np.clip calls (the same results)

__all__ = ["activate", "batch_norm_fold", "batch_norm_inference", "clip", "clip_bounds",
           "relu_bounds", "relu_layer", "scale_shift", "stock_call"]

#: inner-loop length aimed at by :func:`scale_shift` (elements of the tiled vectors)
TILE_ELEMENTS = 8192
_TILES: dict[tuple[int, int], int] = {}


#: clip bounds of the activations that are one clip, exact in the input's float dtype (the
#: float64 detour of ActivationFn gives the same bits)
_BOUNDS = {activations.relu: (0, np.inf), activations.relu6: (0, 6)}


#: answers of clip_bounds and relu_bounds per (function or ReLU settings, dtype): making the
#: two NumPy scalars costs more than the clip of a small array
_BOUNDS_MEMO: dict[tuple, tuple | None] = {}


def _remember_bounds(key: tuple, bounds: tuple | None) -> tuple | None:
    if len(_BOUNDS_MEMO) >= 256:
        _BOUNDS_MEMO.clear()
    _BOUNDS_MEMO[key] = bounds
    return bounds


def clip_bounds(fn: Any, dtype: np.dtype) -> tuple | None:
    """(lo, hi) of ``dtype`` when the activation ``fn`` on arrays of ``dtype`` is one clip
    (relu, relu6 on floats), else None."""
    if not isinstance(fn, activations.ActivationFn) or fn.custom or dtype.kind != "f":
        return None
    key = (fn.fn, dtype)
    try:
        return _BOUNDS_MEMO[key]
    except (KeyError, TypeError):  # not yet, or a function that cannot be a key
        pass
    bounds = _BOUNDS.get(fn.fn)
    bounds = None if bounds is None else (dtype.type(bounds[0]), dtype.type(bounds[1]))
    return _remember_bounds(key, bounds)


def stock_call(layer: Any, cls: type, *methods: str) -> bool:
    """Whether ``layer`` calls as ``cls`` does, so the run loop may compute its call
    another way with the same result (a fused clip): its class has ``cls``'s
    ``_call_owned`` (a subclass overriding ``call`` alone has none: Layer.__init_subclass__)
    and ``methods``, the instance overrides neither ``call`` nor ``_call_owned``, and no
    activity regularizer would see the output."""
    own = type(layer)
    if own._call_owned is not cls._call_owned or "call" in layer.__dict__ or \
            "_call_owned" in layer.__dict__ or \
            layer._values["activity_regularizer"] is not None:
        return False
    for name in methods:
        if getattr(own, name) is not getattr(cls, name):
            return False
    return True


def activate(fn: Any, y: np.ndarray, owned: bool) -> np.ndarray:
    """``fn(y)`` for a layer's activation ``fn``; relu and relu6 on float arrays are one
    clip, written into ``y`` itself when ``owned`` (``y`` is the caller's own buffer)."""
    if not isinstance(y, np.ndarray):
        return fn(y)
    bounds = clip_bounds(fn, y.dtype)
    if bounds is None:
        if isinstance(fn, activations.ActivationFn) and fn.fn is activations.linear and \
                not fn.custom and y.dtype.kind == "f":
            return y
        return fn(y)
    return clip(y, bounds[0], bounds[1], out=y if owned and y.flags.writeable else None)


def relu_bounds(dtype: np.dtype, max_value: float | None, negative_slope: float,
                threshold: float) -> tuple | None:
    """(lo, hi) of ``dtype`` for the ReLU layer's plain cases (relu, relu6 and relu clipped
    at ``max_value``: one clip); None for the others (a slope, a threshold, a bound not
    exact in ``dtype``: the general path rounds it)."""
    if negative_slope != 0 or threshold != 0 or dtype.kind != "f":
        return None
    key = ("relu", max_value, type(max_value), dtype)
    try:
        return _BOUNDS_MEMO[key]
    except (KeyError, TypeError):  # not yet, or a bound that cannot be a key
        pass
    hi = np.inf if max_value is None else max_value
    if dtype != np.float64 and max_value is not None and float(dtype.type(hi)) != float(hi):
        return _remember_bounds(key, None)
    return _remember_bounds(key, (dtype.type(0), dtype.type(hi)))


def relu_layer(x: np.ndarray, max_value: float | None, negative_slope: float,
               threshold: float, owned: bool = False) -> np.ndarray | None:
    """The ReLU layer's plain cases (:func:`relu_bounds`) as one clip, into ``x`` itself
    when ``owned`` (the caller's own buffer), else into a new array; None for the others."""
    bounds = relu_bounds(x.dtype, max_value, negative_slope, threshold)
    if bounds is None:
        return None
    return clip(x, bounds[0], bounds[1], out=x if owned and x.flags.writeable else None)


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
    ``tiles``: a dict where the tiled vectors are kept per input shape for the next call
    with the same ``scale`` and ``shift`` (the caller's to clear when they change)."""
    if out is None:
        out = np.empty(x.shape, x.dtype)
    channels = x.shape[-1] if x.ndim else 1
    if x.size == 0 or channels == 0 or not x.flags.c_contiguous or \
            out is not x and not out.flags.c_contiguous:
        np.multiply(x, scale, out=out)
        out += shift
        return out
    plan = tiles.get(x.shape) if tiles is not None else None
    if plan is None or plan[1].dtype != x.dtype:
        positions = x.size // channels
        k = _tile(positions, channels)
        s, b = scale, shift
        if k > 1:  # both vectors tiled into one buffer (faster than two np.tile)
            tiled = np.empty((2, k, channels), x.dtype)
            tiled[0] = scale
            tiled[1] = shift
            s, b = tiled[0].reshape(-1), tiled[1].reshape(-1)
        plan = ((positions // k, k * channels), s, b)
        if tiles is not None and len(tiles) < 16:
            tiles[x.shape] = plan
    rows = out.reshape(plan[0])
    np.multiply(x.reshape(plan[0]), plan[1], out=rows)
    np.add(rows, plan[2], out=rows)
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


def _weights_memo(memo: dict, weights: tuple, epsilon: float) -> tuple:
    """The folded (scale, shift) of :func:`batch_norm_inference` and the per-shape tilings
    from ``memo`` while the weight arrays are the same objects holding the same bytes (one
    joined copy compared) and epsilon is the same; else folded again (and the tilings
    dropped)."""
    mean, var, gamma, beta = weights
    if gamma is None or beta is None:
        arrays = [v.value for v in weights if v is not None]
    else:  # the usual case, without a comprehension's frame
        arrays = [mean.value, var.value, gamma.value, beta.value]
    try:
        blob: Any = b"".join(arrays)
    except (TypeError, BufferError, ValueError):  # not contiguous: one copy per array
        blob = [a.tobytes() for a in arrays]
    held = memo.get("key")
    if held is None or held[0] != blob or held[1] != epsilon or \
            held[2] != (gamma is None, beta is None) or not all(map(is_, held[3], arrays)):
        memo.clear()
        memo["fold"] = batch_norm_fold(*weights, epsilon)
        memo["tiles"] = {}
        memo["key"] = (blob, epsilon, (gamma is None, beta is None), arrays)
    return memo["fold"], memo["tiles"]


def batch_norm_inference(x: np.ndarray, mean: Any, var: Any, gamma: Any, beta: Any,
                         epsilon: float, dtype: str, out: np.ndarray | None = None,
                         memo: dict | None = None, bounds: tuple | None = None) -> np.ndarray:
    """BatchNormalization's inference on channels-last float32 ``x`` from its weights:
    :func:`batch_norm_fold`, then :func:`scale_shift` into ``out`` (``x`` itself when the
    caller owns it; a new array when None), as ``dtype``; with ``bounds`` (lo, hi) of the
    result's dtype, clipped to them in place (the relu or relu6 layer that reads it: the
    same clip that layer makes, on the same values).

    ``memo`` (the layer's dict) keeps the folded vectors and their tilings per input shape
    for the next call, with the weight arrays and their bytes and epsilon they were made
    from: any change of a weight (a new array, or the same array written in place, as a
    finite-difference check does) folds again. Comparing the bytes costs less than the
    fold's NumPy calls."""
    if memo is None:
        out = scale_shift(x, *batch_norm_fold(mean, var, gamma, beta, epsilon), out)
    else:
        (scale, shift), tiles = _weights_memo(memo, (mean, var, gamma, beta), epsilon)
        out = scale_shift(x, scale, shift, out, tiles)
    out = out.astype(dtype, copy=False)
    if bounds is not None:
        clip(out, bounds[0], bounds[1], out=out)
    return out
