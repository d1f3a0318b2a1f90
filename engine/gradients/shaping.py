"""VJPs of the layers that only move, copy, drop or zero-fill entries: reshaping, cropping,
padding, repeating, nearest-neighbour upsampling and concatenation.

Each such layer is run once more on the *positions* of its input entries (1, 2, 3, ...
in float64, through ``layer.call`` so nothing is cast): the output says, for every output
entry, which input entry it came from (0 for a filled-in zero). The VJP sums the cotangent
into those positions, so it is the exact transpose of what the layer did.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers.merging import Concatenate
from ..layers.preprocessing.resizing import UpSampling1D, UpSampling2D, UpSampling3D
from ..layers.reshaping import (
    Cropping1D,
    Cropping2D,
    Cropping3D,
    Flatten,
    Permute,
    RepeatVector,
    Reshape,
    ZeroPadding1D,
    ZeroPadding2D,
    ZeroPadding3D,
)
from .table import Call, cast_input, register


def _sources(layer: Any, shapes: list[tuple[int, ...]]) -> tuple[np.ndarray, list[int]]:
    """Output of the layer run on entry positions (1-based across all inputs)."""
    pos, offsets, start = [], [], 1
    for s in shapes:
        n = int(np.prod(s))
        pos.append(np.arange(start, start + n, dtype=np.float64).reshape(s))
        offsets.append(start)
        start += n
    arg = pos if getattr(layer, "multi_input", False) else pos[0]
    return np.asarray(layer.call(arg)), offsets + [start]


def gather_vjp(layer: Any, xs: list[np.ndarray], call: Call):
    xs = [cast_input(layer, x) for x in xs]
    y = layer.call(xs if getattr(layer, "multi_input", False) else xs[0])
    src, offsets = _sources(layer, [x.shape for x in xs])
    idx = src.astype(np.int64).reshape(-1)

    def backward(g):
        flat = np.bincount(idx, weights=np.asarray(g, np.float64).reshape(-1),
                           minlength=offsets[-1])
        return [flat[offsets[i]:offsets[i + 1]].reshape(x.shape).astype(g.dtype)
                for i, x in enumerate(xs)], {}
    return y, backward


register(Flatten, Reshape, Permute, RepeatVector, Cropping1D, Cropping2D, Cropping3D,
         ZeroPadding1D, ZeroPadding2D, ZeroPadding3D, Concatenate)(gather_vjp)


@register(UpSampling1D, UpSampling2D, UpSampling3D)
def upsampling(layer: Any, xs: list[np.ndarray], call: Call):
    from ..errors import ConfigError
    if getattr(layer, "interpolation", "nearest") != "nearest":
        raise ConfigError(call.where, f"layer {layer.name!r} (UpSampling2D): only "
                          f"interpolation='nearest' has a backward pass, got "
                          f"{layer.interpolation!r}")
    return gather_vjp(layer, xs, call)
