"""The inference fast paths (engine/layers/elementwise.py, linalg.py, conv/depthwise_ops.py)
against the general paths they replace: the same values (bit for bit where the arithmetic is
the same, within float rounding where only the order of a sum changes), NaN and inf treated
as before, and no input ever written in place."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import engine
from engine import activations
from engine.formats import KERAS2
from engine.layers.conv import ops as convmod
from engine.layers.elementwise import activate, relu_layer, scale_shift
from engine.layers.linalg import matmul_rows

SPECIAL = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, -1.5, 0.25, 5.999, 6.0, 6.5, 1e30],
                   np.float32)


def _general(name: str, x: np.ndarray) -> np.ndarray:
    """The activation through ActivationFn (its float64 detour): the reference."""
    return activations.get(name)(x)


@pytest.mark.parametrize("name", ["relu", "relu6", "linear"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("owned", [False, True])
def test_activate_matches_the_general_path(name, dtype, owned):
    x = np.concatenate([SPECIAL[SPECIAL < 1e5], np.random.default_rng(0).standard_normal(50)
                        * 4]).astype(dtype)
    keep = x.copy()
    ref = _general(name, x.copy())
    y = activate(activations.get(name), x, owned=owned)
    np.testing.assert_array_equal(y, ref)  # NaN where the reference has NaN
    assert y.dtype == ref.dtype
    if not owned:
        np.testing.assert_array_equal(x, keep)
        assert name == "linear" or not np.shares_memory(x, y)


def test_activate_falls_back_for_other_functions():
    x = np.linspace(-3, 3, 13, dtype=np.float32)
    for name in ("sigmoid", "gelu", "hard_silu", "elu"):
        np.testing.assert_array_equal(activate(activations.get(name), x, owned=False),
                                      _general(name, x))


@pytest.mark.parametrize("cfg", [{}, {"max_value": 6.0}, {"max_value": 0.1},
                                 {"negative_slope": 0.1}, {"threshold": 0.5},
                                 {"max_value": 6.0, "negative_slope": 0.2}])
def test_relu_layer_fast_path_matches_activations_relu(cfg):
    x = np.concatenate([SPECIAL, np.linspace(-8, 8, 33, dtype=np.float32)])
    keep = x.copy()
    layer = engine.deserialize({"class_name": "ReLU", "config": cfg})
    with np.errstate(invalid="ignore"):  # Keras 2's threshold path: -inf * 0 is NaN
        ref = activations.relu(x, negative_slope=cfg.get("negative_slope", 0.0),
                               max_value=cfg.get("max_value"),
                               threshold=cfg.get("threshold", 0.0),
                               keras2=layer.source_format == KERAS2)
        np.testing.assert_array_equal(layer(x), ref.astype(np.float32))
    np.testing.assert_array_equal(x, keep)
    fast = relu_layer(x, cfg.get("max_value"), cfg.get("negative_slope", 0.0),
                      cfg.get("threshold", 0.0))
    assert (fast is None) == bool(cfg.get("negative_slope") or cfg.get("threshold") or
                                  cfg.get("max_value") == 0.1)


@pytest.mark.parametrize("shape", [(7, 3), (2, 5, 5, 16), (2, 4, 4, 1), (3, 1024), (1, 7, 96),
                                   (0, 8), (2, 3, 3, 13)])
def test_scale_shift_is_the_two_numpy_operations(shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    s = rng.standard_normal(shape[-1]).astype(np.float32)
    b = rng.standard_normal(shape[-1]).astype(np.float32)
    keep = x.copy()
    ref = x * s
    ref += b
    np.testing.assert_array_equal(scale_shift(x, s, b), ref)
    np.testing.assert_array_equal(x, keep)
    strided = np.asfortranarray(x)  # not C-contiguous: the plain broadcast
    np.testing.assert_array_equal(scale_shift(strided, s, b), ref)


@pytest.mark.parametrize("axis", [-1, 1])
def test_batch_normalization_inference_matches_the_formula(axis):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 5, 6)).astype(np.float32)
    layer = engine.deserialize({"class_name": "BatchNormalization",
                                "config": {"axis": axis, "epsilon": 1e-3}})
    layer.build(x.shape)
    c = x.shape[axis]
    gamma, beta, mean = (rng.standard_normal(c).astype(np.float32) for _ in range(3))
    var = rng.uniform(0.5, 2, c).astype(np.float32)
    layer.set_weights([gamma, beta, mean, var])
    keep = x.copy()
    shape = [1] * 4
    shape[axis] = c
    inv = (1.0 / np.sqrt(var + np.float32(1e-3)) * gamma).reshape(shape)
    ref = x * inv + (beta.reshape(shape) - mean.reshape(shape) * inv)
    np.testing.assert_allclose(layer(x), ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(x, keep)
    # weights changed in place (a finite-difference check does this) are seen at once
    layer.moving_mean.value[0] += 1.0
    assert not np.array_equal(layer(x), ref)


def test_conv_relu_is_in_place_on_its_own_buffer_only():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 6, 4)).astype(np.float32)
    keep = x.copy()
    for cfg in ({"filters": 3, "kernel_size": 1, "activation": "relu"},
                {"filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu6"}):
        layer = engine.deserialize({"class_name": "Conv2D", "config": cfg})
        y = layer(x)
        lin = engine.deserialize({"class_name": "Conv2D", "config": {**cfg,
                                                                     "activation": "linear"}})
        lin(x)
        lin.set_weights(layer.get_weights())
        np.testing.assert_array_equal(y, _general(cfg["activation"], lin(x)))
        np.testing.assert_array_equal(x, keep)


def _tap_loop(x, kernel, strides, dilation, pads):
    convmod.DEPTHWISE_EINSUM = False
    try:
        return convmod.depthwise_conv_nd(x, kernel, strides, dilation, pads)
    finally:
        convmod.DEPTHWISE_EINSUM = True


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_depthwise_einsum_is_the_tap_loop(rank):
    rng = np.random.default_rng(4 + rank)
    n = 0
    for _ in range(40):
        sp = tuple(int(v) for v in rng.integers(1, 10 if rank < 3 else 6, rank))
        k = tuple(int(v) for v in rng.integers(1, 4, rank))
        s = tuple(int(v) for v in rng.integers(1, 4, rank))
        d = tuple(int(v) for v in rng.integers(1, 3, rank))
        pads = convmod.conv_paddings(sp, k, s, d, ("same", "valid")[int(rng.integers(2))])
        if any(a + b + e < (kk - 1) * dd + 1 for a, (b, e), kk, dd in zip(sp, pads, k, d)):
            continue
        c = int(rng.integers(1, 20))
        for dtype in ("float32", "float64"):
            x = rng.standard_normal((2,) + sp + (c,)).astype(dtype)
            w = rng.standard_normal(k + (c, 1)).astype(dtype)
            keep = x.copy()
            got = convmod.depthwise_conv_nd(x, w, s, d, pads)
            ref = _tap_loop(x, w, s, d, pads)
            assert got.shape == ref.shape and got.dtype == ref.dtype
            # the same products; einsum may add the taps in another order (float rounding)
            tol = 1e-6 if dtype == "float32" else 1e-14
            np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(ref).max())
            np.testing.assert_array_equal(x, keep)
            n += 1
    assert n >= 20


def test_depthwise_multiplier_and_nonfinite_inputs():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 5, 5, 3)).astype(np.float32)
    x[0, 2, 2, 1], x[0, 0, 4, 2] = np.nan, np.inf
    w1 = rng.standard_normal((3, 3, 3, 1)).astype(np.float32)
    pads = [(1, 1), (1, 1)]
    np.testing.assert_array_equal(convmod.depthwise_conv_nd(x, w1, (1, 1), (1, 1), pads),
                                  _tap_loop(x, w1, (1, 1), (1, 1), pads))
    w2 = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)  # multiplier 2: the tap loop
    y = convmod.depthwise_conv_nd(x, w2, (2, 2), (1, 1), pads)
    assert y.shape == (1, 3, 3, 6)


@pytest.mark.parametrize("rows, k, n", list(itertools.product([1, 2, 3, 5], [64, 1100],
                                                                [3, 1000])))
def test_matmul_rows_is_the_matrix_product(rows, k, n):
    rng = np.random.default_rng(rows * k + n)
    x = rng.standard_normal((rows, k)).astype(np.float32)
    w = rng.standard_normal((k, n)).astype(np.float32)
    np.testing.assert_allclose(matmul_rows(x, w), x @ w, rtol=1e-5, atol=1e-4)
    x3 = x.reshape(rows, 1, k)
    assert matmul_rows(x3, w).shape == (rows, 1, n)
    assert matmul_rows(x.astype(np.float64), w).dtype == np.float64
