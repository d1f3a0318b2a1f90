"""The pooling fast paths (engine/layers/pooling.py _avg_pool_tiled, _max_pool_axes)
against plain references: average pooling with the bits of a float32 sum in window order
divided by the window size, max pooling with the window maxima (NaN kept)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import engine
from engine.layers import pooling
from engine.layers.pooling import pool_nd


def _windows(x, pool, strides, pads, fill):
    rank = len(pool)
    xp = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=fill)
    w = sliding_window_view(xp, pool, axis=tuple(range(1, rank + 1)))
    return w[(slice(None),) + tuple(slice(None, None, s) for s in strides)]


def _special(shape, dtype, rng):
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    flat = x.reshape(-1)
    flat[rng.integers(0, flat.size, 3)] = [np.nan, np.inf, -np.inf]
    return x


@pytest.mark.parametrize("pool", [(2,), (2, 2), (3, 2), (2, 2, 2), (1, 3)])
@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
def test_tiled_average_pooling_is_the_window_sum_in_order(pool, dtype):
    rng = np.random.default_rng(0)
    shape = (2, *[k * n for k, n in zip(pool, (3, 2, 2))], 5)
    x = _special(shape, dtype, rng)
    with np.errstate(invalid="ignore", over="ignore"):
        got = pool_nd(x, pool, pool, "valid", "average")
        w = _windows(x, pool, pool, [(0, 0)] * len(pool), 0)
        taps = [w[(Ellipsis,) + t] for t in itertools.product(*(range(k) for k in pool))]
        ref = taps[0].copy()
        for t in taps[1:]:
            ref = ref + t  # float sums in the general path's tap order
        ref = ref / ref.dtype.type(np.prod(pool))
    assert got.dtype == x.dtype and got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)
    assert np.isnan(got).any()


@pytest.mark.parametrize("pool,strides,padding", [((3, 3), (2, 2), "valid"),
                                                  ((3, 3), (2, 2), "same"),
                                                  ((2, 3), (1, 2), "same"),
                                                  ((3,), (2,), "valid"),
                                                  ((2, 1, 3), (2, 1, 1), "same")])
@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_max_pooling_axis_by_axis_is_the_window_maximum(pool, strides, padding, dtype):
    rng = np.random.default_rng(1)
    shape = (2, *[7, 6, 5][:len(pool)], 3)
    x = _special(shape, "float32", rng).astype(dtype) if dtype == "float32" else \
        rng.integers(-100, 100, shape).astype(dtype)
    got = pool_nd(x, pool, strides, padding, "max")
    pads = engine.layers.conv.conv_paddings(shape[1:-1], pool, strides, (1,) * len(pool),
                                            padding)
    fill = -np.inf if dtype == "float32" else np.iinfo(dtype).min
    ref = _windows(x, pool, strides, pads, fill).max(axis=tuple(range(-len(pool), 0)))
    assert got.dtype == x.dtype and got.shape == ref.shape
    np.testing.assert_array_equal(got, ref)
    assert got.base is None or not np.shares_memory(got, x)


def test_max_pooling_with_unit_windows_is_a_copy():
    x = np.arange(2 * 4 * 4 * 2, dtype=np.float32).reshape(2, 4, 4, 2)
    got = pool_nd(x, (1, 1), (2, 2), "valid", "max")
    np.testing.assert_array_equal(got, x[:, ::2, ::2])
    got[...] = -1
    assert x.min() == 0  # not a view of the input


def test_layers_use_the_fast_paths(monkeypatch):
    seen = []
    for name in ("_avg_pool_tiled", "_max_pool_axes"):
        inner = getattr(pooling, name)

        def spy(*a, _inner=inner, _name=name):
            seen.append(_name)
            return _inner(*a)

        monkeypatch.setattr(pooling, name, spy)
    x = np.random.default_rng(3).standard_normal((2, 8, 8, 4)).astype(np.float32)
    engine.deserialize({"class_name": "AveragePooling2D", "config": {"pool_size": 2}})(x)
    engine.deserialize({"class_name": "MaxPooling2D",
                        "config": {"pool_size": 3, "strides": 2}})(x)
    assert seen == ["_avg_pool_tiled", "_max_pool_axes"]
