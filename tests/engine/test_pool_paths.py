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


@pytest.mark.parametrize("shape", [(2, 6, 6, 480), (2, 3, 3, 1024), (1, 7, 5, 3),
                                   (2, 5, 64), (2, 3, 4, 5, 6), (4, 1, 1, 8)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cls", ["GlobalAveragePooling", "GlobalMaxPooling"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_has_the_bits_of_numpy_mean_and_max(shape, dtype, cls, keepdims):
    """Global pooling of channels-last inputs (its spatial axes summed as one) gives the
    bits np.mean / np.max over the spatial axes give, NaN and +-inf included."""
    rng = np.random.default_rng(31)
    x = _special(shape, dtype, rng)
    rank = len(shape) - 2
    layer = engine.deserialize({"class_name": f"{cls}{rank}D", "config": {
        "keepdims": keepdims, "dtype": dtype}})
    got = layer(x)
    fn = np.mean if "Average" in cls else np.max
    want = fn(x, axis=tuple(range(1, rank + 1)), keepdims=keepdims)
    assert got.dtype == want.dtype and got.shape == want.shape
    bits = f"u{want.dtype.itemsize}"
    np.testing.assert_array_equal(got.view(bits), want.view(bits))
    # channels_first and strided inputs take np.mean / np.max themselves
    first = engine.deserialize({"class_name": f"{cls}{rank}D", "config": {
        "keepdims": keepdims, "dtype": dtype, "data_format": "channels_first"}})
    moved = np.moveaxis(x, -1, 1)
    np.testing.assert_array_equal(first(moved).reshape(want.shape), want)


def _fitting(shapes, windows):
    """(shape, *window) cases whose window fits the input ('valid' needs that; 'same'
    pads any input)."""
    return [(shape, *w) for shape in shapes for w in windows
            if w[-1] == "same" or min(shape[1:-1]) >= w[0]]


@pytest.mark.parametrize("shape,k,s,padding", _fitting(
    [(2, 3, 3, 176), (2, 6, 6, 88), (2, 9, 9, 24), (3, 7, 5, 4), (2, 11, 3), (1, 5, 6, 4, 3)],
    [(3, 1, "same"), (3, 2, "same"), (2, 1, "valid"), (5, 3, "same"), (1, 1, "valid"),
     (2, 2, "same")]))
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_kept_average_pooling_plan_has_the_bits_of_the_general_path(shape, k, s, padding,
                                                                    dtype):
    """A small average pooling with the layer's memo (its plan kept: padding, tap slices,
    divisors) gives the bits of pool_nd without one, on the first call and the next, NaN
    and +-inf included; another input shape makes a new plan."""
    rng = np.random.default_rng(32)
    rank = len(shape) - 2
    x = _special(shape, dtype, rng)
    pool, strides = (k,) * rank, (s,) * rank
    want = pool_nd(x, pool, strides, padding, "average")
    memo: dict = {}
    bits = f"u{want.dtype.itemsize}"
    for _ in range(2):
        got = pool_nd(x, pool, strides, padding, "average", memo)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got.view(bits), want.view(bits))
    smaller = x[:1]
    np.testing.assert_array_equal(pool_nd(smaller, pool, strides, padding, "average", memo),
                                  pool_nd(smaller, pool, strides, padding, "average"))
    assert memo["avg_plan"].key[0] == smaller.shape


def _padded_max_pool(x, pool, strides, pads):
    """Max pooling the way pool_nd ran it before it stopped padding: the input padded with
    the dtype's lowest value, then the taps folded with np.maximum axis by axis."""
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    v = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=fill)
    for axis, (k, s) in enumerate(zip(pool, strides), start=1):
        o = (v.shape[axis] - k) // s + 1
        head = (slice(None),) * axis
        acc = np.array(v[head + (slice(0, (o - 1) * s + 1, s),)])
        for t in range(1, k):
            np.maximum(acc, v[head + (slice(t, t + (o - 1) * s + 1, s),)], out=acc)
        v = acc
    return v


@pytest.mark.parametrize("shape,k,s,padding", _fitting(
    [(2, 45, 45, 8), (2, 12, 12, 7), (1, 7, 5, 3), (2, 11, 3), (1, 5, 6, 4, 3), (2, 2, 9, 2)],
    [(k, s, padding) for k, s in [(1, 2), (2, 1), (3, 2), (3, 1), (4, 3), (5, 2)]
     for padding in ("same", "valid")]))
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_max_pooling_without_a_padded_copy_has_the_padded_bits(shape, k, s, padding, dtype):
    """Max pooling folds each output's real taps in order without padding the input: the
    bits of folding the -inf (or lowest int) padded input, NaN, +-inf and -0.0 included."""
    rank = len(shape) - 2
    rng = np.random.default_rng(33)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    if dtype != "int32":
        x.reshape(-1)[rng.integers(0, x.size, 4)] = [np.nan, np.inf, -np.inf, -0.0]
        x.reshape(-1)[rng.integers(0, x.size, 3)] = 0.0
    pool, strides = (k,) * rank, (s,) * rank
    pads = pooling.conv_paddings(shape[1:-1], pool, strides, (1,) * rank, padding)
    want = _padded_max_pool(x, pool, strides, pads)
    got = pool_nd(x, pool, strides, padding, "max")
    assert got.shape == want.shape and got.dtype == want.dtype
    bits = f"u{want.dtype.itemsize}"
    np.testing.assert_array_equal(got.view(bits), want.view(bits))
    assert not np.shares_memory(got, x)
