"""The inference fast paths (engine/layers/elementwise.py, linalg.py, conv/depthwise_ops.py,
the ActivationFn shortcut, the remembered budget check, the functional run loop) against the
general paths they replace: the same values (bit for bit where the arithmetic is
the same, within float rounding where only the order of a sum changes), NaN and inf treated
as before, and no input ever written in place."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import engine
from engine import activations
from engine.budget import Budget
from engine.errors import BudgetError, InputError
from engine.formats import KERAS2
from engine.layers.conv import ops as convmod
from engine.layers.elementwise import activate, relu_layer, scale_shift
from engine.layers.linalg import matmul_rows

SPECIAL = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, -1.5, 0.25, 5.999, 6.0, 6.5, 1e30],
                   np.float32)


def _general(name: str, x: np.ndarray) -> np.ndarray:
    """The activation's general path (the float64 detour of ActivationFn): the reference."""
    return np.asarray(activations.get(name).fn(x.astype(np.float64)), dtype=x.dtype)


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


# -- ActivationFn's shortcut -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["relu", "relu6", "linear"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", ">f4"])
def test_activation_fn_shortcut_matches_the_float64_detour(name, dtype):
    x = np.concatenate([SPECIAL[SPECIAL < 1e4], np.random.default_rng(5).standard_normal(40)
                        * 4]).astype(dtype)
    keep = x.copy()
    y = activations.get(name)(x)
    ref = _general(name, x)
    # the same values, NaN where the reference has NaN (relu(-0.0) may keep the zero's sign)
    np.testing.assert_array_equal(y, ref)
    assert y.dtype == ref.dtype == x.dtype  # a big-endian input stays big-endian
    assert not np.shares_memory(x, y)  # always a new array, as before (linear too)
    np.testing.assert_array_equal(x, keep)
    strided = activations.get(name)(x[::3])
    np.testing.assert_array_equal(strided, ref[::3])


def test_activation_fn_keeps_the_general_path_elsewhere():
    x = np.arange(-3, 4)
    assert activations.get("relu")(x).dtype == np.float32  # integers: float32, as before
    assert activations.get("relu")([-1.0, 2.0]).tolist() == [0.0, 2.0]
    y = activations.get("relu")(np.linspace(-2, 2, 5, dtype=np.float32), max_value=1.0)
    assert y.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


# -- the cast fast path ------------------------------------------------------------------------

def test_cast_returns_arrays_of_the_compute_dtype_as_they_are():
    layer = engine.deserialize({"class_name": "Dense", "config": {"units": 2}})
    x = np.ones((2, 3), np.float32)
    assert layer._cast(x) is x
    for other in (x.astype(np.float64), x.astype(">f4"), x.astype(np.int64)):
        got = layer._cast(other)
        assert got.dtype == np.float32 and got.dtype.isnative
    with pytest.raises(InputError, match="complex"):
        layer._cast(x.astype(np.complex64))
    half = engine.deserialize({"class_name": "Dense", "config": {"units": 2,
                                                                "dtype": "float16"}})
    assert half._cast(x).dtype == np.float16


# -- the remembered budget check ---------------------------------------------------------------

def _count_shape_calls(layer):
    calls = []
    inner = layer.compute_output_shape

    def counted(*a, **k):
        calls.append(a)
        return inner(*a, **k)

    layer.compute_output_shape = counted  # an instance attribute: not part of the config
    return calls


def test_budget_check_is_remembered_per_input_shape():
    layer = engine.deserialize({"class_name": "Conv2D", "config": {"filters": 4,
                                                                   "kernel_size": 3}})
    x = np.ones((2, 8, 8, 3), np.float32)
    layer(x)
    calls = _count_shape_calls(layer)
    for _ in range(3):
        layer(x)
    assert calls == []  # computed by the first call for this shape, then remembered
    layer(np.ones((3, 8, 8, 3), np.float32))
    assert len(calls) == 1  # another shape: checked
    layer(np.ones((3, 8, 8, 3), np.float32))
    assert len(calls) == 1


def test_remembered_budget_check_sees_a_changed_limit_config_or_shape():
    cfg = {"class_name": "RepeatVector", "config": {"n": 1000}}
    budget = Budget(max_activation_bytes=2 * 1000 * 4 * 4)
    layer = engine.deserialize(cfg, budget=budget)
    x = np.ones((2, 4), np.float32)
    for _ in range(2):
        assert layer(x).shape == (2, 1000, 4)
    with pytest.raises(BudgetError):  # a bigger batch
        layer(np.ones((3, 4), np.float32))
    budget.max_activation_bytes -= 1  # the limit lowered after the calls
    with pytest.raises(BudgetError):
        layer(x)
    budget.max_activation_bytes += 1
    layer(x)
    layer._values["n"] = 2000  # a config value replaced (as code inside the engine may)
    with pytest.raises(BudgetError):
        layer(x)
    layer._values["n"] = 1000
    layer(x)
    layer._values["dtype"] = type(layer).field("dtype").validate("float64", "dtype")
    with pytest.raises(BudgetError):  # the same shape in float64: twice the bytes
        layer(x)


def test_budget_check_of_layers_with_state_outside_their_config_is_not_remembered():
    layer = engine.deserialize({"class_name": "StringLookup",
                                "config": {"vocabulary": ["a", "b"], "output_mode": "one_hot"}},
                               max_activation_bytes=4000)
    x = np.array([["a"], ["b"]])
    assert layer(x).shape == (2, 3)
    layer.set_vocabulary([f"t{i}" for i in range(1000)])  # the output grows with it
    with pytest.raises(BudgetError):
        layer(x)


# -- the functional run loop -------------------------------------------------------------------

def _residual_model():
    return engine.model_from_json(json.dumps({
        "class_name": "Functional", "config": {
            "name": "m", "trainable": True,
            "layers": [
                {"class_name": "InputLayer", "name": "in", "config": {
                    "batch_input_shape": [None, 4], "dtype": "float32", "name": "in"},
                 "inbound_nodes": []},
                {"class_name": "Dense", "name": "a", "config": {"name": "a", "units": 4,
                                                                 "activation": "relu"},
                 "inbound_nodes": [[["in", 0, 0, {}]]]},
                {"class_name": "Dense", "name": "b", "config": {"name": "b", "units": 4},
                 "inbound_nodes": [[["a", 0, 0, {}]]]},
                {"class_name": "Add", "name": "add", "config": {"name": "add"},
                 "inbound_nodes": [[["a", 0, 0, {}], ["b", 0, 0, {}]]]},
                {"class_name": "Dense", "name": "c", "config": {"name": "c", "units": 2},
                 "inbound_nodes": [[["add", 0, 0, {}]]]},
            ],
            "input_layers": [["in", 0, 0]], "output_layers": [["c", 0, 0], ["a", 0, 0]]}}))


def test_functional_loop_releases_tensors_after_their_last_use_only():
    model = _residual_model()
    release = {node.layer_name: {k[0] for k in keys} for node, _, keys in model._run_plan()}
    assert release["add"] == {"b"}  # 'a' feeds the output: kept
    assert release["a"] == {"in"} and release["c"] == {"add"}
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    c, a = model(x)
    layers = {n: model.get_layer(n) for n in "abc"}
    ref_a = layers["a"](x)
    np.testing.assert_array_equal(a, ref_a)
    np.testing.assert_array_equal(c, layers["c"](ref_a + layers["b"](ref_a)))
    trace = model.intermediate_outputs(x)  # every tensor, released ones included
    assert set(trace) == {"in", "a", "b", "add", "c"}
    np.testing.assert_array_equal(trace["b"], layers["b"](ref_a))


def test_conv_paddings_are_remembered_per_input_size():
    cfg = {"class_name": "Conv2D", "config": {"filters": 3, "kernel_size": 3, "strides": 2,
                                              "padding": "same"}}
    layer = engine.deserialize(cfg)
    rng = np.random.default_rng(6)
    xs = [rng.standard_normal((1, n, n, 2)).astype(np.float32) for n in (5, 8, 5, 7)]
    outs = [layer(x) for x in xs]
    for x, y in zip(xs, outs):  # a fresh layer (nothing remembered) with the same weights
        fresh = engine.deserialize(cfg)
        fresh.build(x.shape)
        fresh.set_weights(layer.get_weights())
        np.testing.assert_array_equal(y, fresh(x))
    assert [y.shape[1] for y in outs] == [3, 4, 3, 4]
