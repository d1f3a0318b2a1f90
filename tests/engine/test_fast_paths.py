"""The inference fast paths (engine/layers/elementwise.py, linalg.py, conv/depthwise_ops.py,
the ActivationFn shortcut, the remembered budget check, the functional run loop) against the
general paths they replace: the same values (bit for bit where the arithmetic is
the same, within float rounding where only the order of a sum changes), NaN and inf treated
as before, and no input ever written in place."""

from __future__ import annotations

import itertools
import json
import sys

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
from engine.models import calls

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
    """Other activations are the function's own call: the float64 detour, or float32
    arithmetic for those of activations._FLOAT32 (sigmoid: tests/engine/test_activations.py
    holds it within a few ulps of the exact value)."""
    x = np.linspace(-3, 3, 13, dtype=np.float32)
    for name in ("sigmoid", "gelu", "hard_silu", "elu"):
        fn = activations.get(name)
        got = activate(fn, x, owned=False)
        np.testing.assert_array_equal(got, fn(x))
        if fn.fn not in activations._FLOAT32:
            np.testing.assert_array_equal(got, _general(name, x))
        else:
            np.testing.assert_allclose(got, _general(name, x), rtol=3e-7, atol=0)


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
    release = {s.node.layer_name: {k[0] for k in s.release} for s in model._run_plan()}
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


# -- in place: the run loop gives a layer its input when no one else holds it ----------------
# Rules (engine/models/calls.py sole_owner, functional.Step, Layer._call_owned): a tensor is
# given only by its last reader, read once there, never a model input or output, never in a
# traced run (intermediate_outputs), and only when the local variable of the run loop is the
# one reference to the array and to the memory it views. Every test compares with the same
# run where nothing is given (calls._COUNTS = None), bit for bit.

def _layer(cls, name, inbound, **config):
    """A Keras 2 layer entry; ``inbound``: names (or (name, index) pairs) of its inputs."""
    refs = [[i, 0, 0, {}] if isinstance(i, str) else [i[0], 0, i[1], {}] for i in inbound]
    return {"class_name": cls, "name": name, "config": {"name": name, **config},
            "inbound_nodes": [refs] if refs else []}


def _graph(layers, outputs, shape=(None, 5, 5, 3), name="m", custom_objects=None):
    entry = {"class_name": "InputLayer", "name": "in", "inbound_nodes": [],
             "config": {"batch_input_shape": list(shape), "dtype": "float32", "name": "in"}}
    cfg = {"class_name": "Functional", "config": {
        "name": name, "layers": [entry, *layers], "input_layers": [["in", 0, 0]],
        "output_layers": [[o, 0, 0] for o in outputs]}}
    model = engine.deserialize(cfg, custom_objects=custom_objects)
    rng = np.random.default_rng(11)
    ws = [rng.uniform(0.5, 1.5, w.shape) if w.name in ("moving_variance", "gamma") else
          rng.standard_normal(w.shape) for w in model.weights]
    model.set_weights([w.astype(np.float32) for w in ws])
    return model


def _owned_calls(monkeypatch, *classes):
    """Count the calls of each class's _call_owned given its input to write into (the
    in-place variant), and under "fused" those given the clip of the relu layer after
    (calls.run_fused, in place or not)."""
    counts = dict.fromkeys([c.__name__ for c in classes], 0)
    for cls in classes:
        inner = cls._call_owned

        def counted(self, x, owned, *a, _inner=inner, _name=cls.__name__, **k):
            if owned:
                counts[_name] += 1
            if k.get("bounds") is not None:
                counts["fused"] = counts.get("fused", 0) + 1
            return _inner(self, x, owned, *a, **k)

        monkeypatch.setattr(cls, "_call_owned", counted)
    return counts


def _copying(monkeypatch, fn):
    """``fn()`` with no input ever given to a layer and no two layers fused (the
    reference run)."""
    from engine.layers.merging import _Merge
    from engine.layers.normalization import BatchNormalization
    with monkeypatch.context() as m:
        m.setattr(calls, "_COUNTS", None)
        for cls in (BatchNormalization, _Merge):
            m.setattr(cls, "fused_clip", lambda self, x, training: None)
        return fn()


def _same(a, b):
    a, b = (a, b) if isinstance(a, list) else ([a], [b])
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
        assert u.dtype == v.dtype


def test_sole_owner_sees_every_other_reference():
    assert calls._COUNTS is not None  # CPython < 3.14: the rule is on
    x = np.ones(4)
    assert calls.sole_owner(x)
    y = x
    assert not calls.sole_owner(x)  # a second name
    del y
    kept = [x]
    assert not calls.sole_owner(x)  # held by a list (a dict of tensors, a trace...)
    kept.clear()
    view = x[1:]
    assert not calls.sole_owner(x) and not calls.sole_owner(view)  # a view of x is alive
    del x
    assert calls.sole_owner(view)  # the view alone holds the memory now
    view.flags.writeable = False
    assert not calls.sole_owner(view)
    shared = bytearray(16)  # someone else's memory, writeable: never
    wrapped = np.frombuffer(shared, np.float32)
    assert wrapped.flags.writeable and not calls.sole_owner(wrapped)
    part = wrapped[1:]
    del wrapped
    assert part.base is not None and not calls.sole_owner(part)
    assert not calls.sole_owner(np.ones(3).view(np.recarray))  # a subclass
    assert not calls.sole_owner([1.0])


def test_reference_counts_are_not_trusted_where_they_are_not_exact(monkeypatch):
    assert calls._calibrate() is not None
    monkeypatch.setattr(sys, "version_info", (3, 14, 0))
    assert calls._calibrate() is None  # 3.14's interpreter may skip counting stack references
    monkeypatch.setattr(calls, "_COUNTS", None)
    assert not calls.sole_owner(np.ones(3))


def _chain_model():
    return _graph([
        _layer("Conv2D", "c1", ["in"], filters=4, kernel_size=3, padding="same"),
        _layer("BatchNormalization", "bn1", ["c1"]),
        _layer("Activation", "a1", ["bn1"], activation="relu"),
        _layer("Conv2D", "c2", ["a1"], filters=4, kernel_size=1),
        _layer("BatchNormalization", "bn2", ["c2"]),
        _layer("ReLU", "r2", ["bn2"], max_value=6.0),
        _layer("Add", "add", ["r2", "a1"]),
        _layer("Subtract", "sub", ["add", "c1"]),
        _layer("Activation", "a3", ["sub"], activation="relu6"),
    ], ["a3"])


def test_run_loop_writes_in_place_with_the_same_bits(monkeypatch):
    from engine.layers.activation import Activation, ReLU
    from engine.layers.merging import Add, Subtract
    from engine.layers.normalization import BatchNormalization
    model = _chain_model()
    x = np.random.default_rng(0).standard_normal((2, 5, 5, 3)).astype(np.float32)
    x[0, 1, 1, 0], x[1, 2, 3, 2] = np.nan, np.inf
    keep = x.copy()
    counts = _owned_calls(monkeypatch, BatchNormalization, Activation, ReLU, Add, Subtract)
    with np.errstate(invalid="ignore"):
        first = model(x)  # the first call of a shape checks everything: nothing in place
        assert sum(counts.values()) == 0
        ref = _copying(monkeypatch, lambda: model(x))
        assert sum(counts.values()) == 0
        again = model(x)
    # in place: bn2 (c2 read once) with r2's clip, add (r2 and a1, last read there), sub
    # (add and c1), a3 (sub's); bn1 (c1 is read again by sub) into a new array, clipped
    # there as a1 would: bn1 + a1 and bn2 + r2 fused
    assert counts == {"BatchNormalization": 1, "Activation": 1, "ReLU": 0, "Add": 1,
                      "Subtract": 1, "fused": 2}
    _same(first, ref)
    _same(again, ref)
    np.testing.assert_array_equal(x, keep)
    # the intermediate outputs (never in place) compose to the same output
    with np.errstate(invalid="ignore"):
        trace = model.intermediate_outputs(x)
    _same(trace["a3"], ref)
    np.testing.assert_array_equal(x, keep)


def test_in_place_never_touches_a_tensor_someone_else_holds(monkeypatch):
    from engine.layers.activation import Activation, ReLU
    from engine.layers.merging import Add
    from engine.layers.normalization import BatchNormalization
    model = _graph([
        _layer("BatchNormalization", "bn_in", ["in"]),           # the model's input
        _layer("Conv2D", "c", ["in"], filters=3, kernel_size=1),
        _layer("BatchNormalization", "bn_a", ["c"]),             # c is read twice:
        _layer("BatchNormalization", "bn_b", ["c"]),             # only the last may take it
        _layer("Activation", "out_mid", ["bn_a"], activation="linear"),  # returns bn_a itself
        _layer("ReLU", "r_alias", ["out_mid"]),   # bn_a is out_mid: also read by add_ab below
        _layer("Add", "add_ab", ["bn_a", "bn_b"]),
        _layer("Add", "twice", ["add_ab", "add_ab"]),            # one tensor read twice
        _layer("Flatten", "flat", ["twice"]),                    # a view of twice...
        _layer("Activation", "r_view", ["flat"], activation="relu"),
        _layer("Reshape", "back", ["r_view"], target_shape=[5, 5, 3]),
        _layer("Add", "after", ["back", "bn_in"]),
        _layer("Dropout", "drop", ["after"], rate=0.5),          # returns its input
        _layer("BatchNormalization", "bn_out", ["drop"]),        # drop is an output
        _layer("Activation", "last", ["bn_out"], activation="relu"),
    ], ["last", "drop", "r_alias", "bn_in"])
    x = np.random.default_rng(1).standard_normal((2, 5, 5, 3)).astype(np.float32)
    keep = x.copy()
    ref = _copying(monkeypatch, lambda: model(x))
    model(x)
    counts = _owned_calls(monkeypatch, BatchNormalization, Activation, ReLU, Add)
    outs = model(x)
    _same(outs, ref)
    np.testing.assert_array_equal(x, keep)
    # in place: bn_b (the last reader of c); add_ab into bn_b's array (bn_a's is also
    # out_mid's, read later); r_alias once add_ab has read bn_a; r_view into flat, a view of
    # twice's memory that nothing else holds; after into back (a view of the same).
    # Not: bn_in (the model's input), bn_a (c is read again), twice (one tensor twice),
    # bn_out (drop, the very array of after, is an output), which makes a new array and
    # clips it as last would (fused)
    assert counts == {"BatchNormalization": 1, "Activation": 1, "ReLU": 1, "Add": 2,
                      "fused": 1}
    held = [o.copy() for o in outs]
    model(x)  # a later call never writes into arrays it returned before
    _same(outs, held)


def test_in_place_only_for_arrays_nothing_else_references(monkeypatch):
    from engine.layers.activation import Activation

    class Constant(engine.Layer):
        """Returns an array it keeps (its state): the next layer must not write into it."""

        def build(self, input_shape):
            self.const = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4) - 10

        def call(self, inputs):
            return self.const

        def compute_output_shape(self, input_shape):
            return (1, 2, 3, 4)

    class Frozen(engine.Layer):
        def call(self, inputs):
            out = inputs * 2
            out.flags.writeable = False
            return out

    model = _graph([_layer("Constant", "k", ["in"]),
                    _layer("Activation", "r1", ["k"], activation="relu"),
                    _layer("Frozen", "f", ["r1"]),
                    _layer("Activation", "r2", ["f"], activation="relu")],
                   ["r2"], shape=(None, 2, 3, 4),
                   custom_objects={"Constant": Constant, "Frozen": Frozen})
    counts = _owned_calls(monkeypatch, Activation)
    x = np.zeros((1, 2, 3, 4), np.float32)
    for _ in range(3):
        y = model(x)
    const = model.get_layer("k").const
    np.testing.assert_array_equal(const, np.arange(24).reshape(1, 2, 3, 4) - 10)
    np.testing.assert_array_equal(y, np.maximum(const, 0) * 2)
    assert counts["Activation"] == 0


def test_a_subclass_with_its_own_call_is_never_given_its_input(monkeypatch):
    from engine.layers.normalization import BatchNormalization

    class Doubled(BatchNormalization):
        def call(self, inputs, training=False, mask=None):
            return super().call(inputs, training=training, mask=mask) * 2

    assert Doubled._call_owned is None and BatchNormalization._call_owned is not None
    model = _graph([_layer("Conv2D", "c", ["in"], filters=2, kernel_size=1),
                    _layer("Doubled", "d", ["c"])], ["d"], custom_objects={"Doubled": Doubled})
    x = np.random.default_rng(2).standard_normal((2, 5, 5, 3)).astype(np.float32)
    c = model.get_layer("c")(x)
    ref = BatchNormalization.call(model.get_layer("d"), c) * 2
    for _ in range(3):
        _same(model(x), ref)
    plain = _graph([_layer("Conv2D", "c", ["in"], filters=2, kernel_size=1),
                    _layer("BatchNormalization", "d", ["c"])], ["d"])
    layer = plain.get_layer("d")
    layer.call = lambda inputs, training=False, mask=None: inputs - 1  # an instance's own
    for _ in range(3):
        _same(plain(x), plain.get_layer("c")(x) - 1)


def test_shared_layers_and_nested_models_with_several_outputs(monkeypatch):
    def entry(cls, name, nodes, **config):  # nodes: per call, its [layer, node, index]s
        return {"class_name": cls, "name": name, "config": {"name": name, **config},
                "inbound_nodes": [[[*r, {}] for r in refs] for refs in nodes]}

    inner = {"class_name": "Functional", "name": "inner", "config": {
        "name": "inner", "input_layers": [["i", 0, 0]],
        "output_layers": [["ib", 0, 0], ["ic", 0, 0]],
        "layers": [{"class_name": "InputLayer", "name": "i", "inbound_nodes": [],
                    "config": {"batch_input_shape": [None, 5, 5, 3], "dtype": "float32",
                               "name": "i"}},
                   entry("BatchNormalization", "ib", [[["i", 0, 0]]]),
                   entry("Conv2D", "ic", [[["ib", 0, 0]]], filters=3, kernel_size=1)]},
        "inbound_nodes": [[["c", 0, 0, {}]]]}
    model = _graph([
        entry("Conv2D", "c", [[["in", 0, 0]]], filters=3, kernel_size=1),
        inner,  # a model as a layer: two outputs, the first read before the second
        entry("Activation", "r", [[["inner", 1, 0]]], activation="relu"),
        entry("Add", "add", [[["r", 0, 0], ["inner", 1, 1]]]),
        # one layer called twice, on add and then on its own output (through twice)
        entry("BatchNormalization", "shared", [[["add", 0, 0]], [["twice", 0, 0]]]),
        entry("Activation", "twice", [[["shared", 0, 0]]], activation="relu"),
    ], ["shared"])
    cfg = engine.serialize(model, format=KERAS2)
    cfg["config"]["output_layers"] = [["shared", 1, 0], ["inner", 1, 1]]
    full = engine.deserialize(cfg)
    full.set_weights(model.get_weights())
    x = np.random.default_rng(3).standard_normal((2, 5, 5, 3)).astype(np.float32)
    ref = _copying(monkeypatch, lambda: full(x))
    for _ in range(3):
        outs = full(x)
        _same(outs, ref)
    trace = full.intermediate_outputs(x)
    _same(trace["shared"][1], ref[0])
    bn = full.get_layer("shared")
    np.testing.assert_array_equal(ref[0], bn(np.maximum(bn(trace["add"]), 0)))


def test_merges_in_place_are_their_calls_bit_for_bit():
    rng = np.random.default_rng(4)
    shapes = [[(2, 3, 4), (2, 3, 4)], [(2, 3, 4), (2, 1, 4)], [(2, 1, 4), (2, 3, 4)],
              [(2, 3, 4), (2, 3, 4), (2, 3, 4)], [(2, 4), (2, 3, 4)]]
    for cls in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        layer = engine.deserialize({"class_name": cls, "config": {}})
        for sh in shapes:
            if cls == "Subtract" and len(sh) != 2:
                continue
            for dtypes in (["float32"] * len(sh), ["float64"] + ["float32"] * (len(sh) - 1)):
                xs = [rng.standard_normal(s).astype(d) for s, d in zip(sh, dtypes)]
                xs[0].flat[0] = np.nan
                ref = layer.call([x.copy() for x in xs])
                for owned in itertools.product([False, True], repeat=len(xs)):
                    ys = [x.copy() for x in xs]
                    got = layer._call_owned(ys, owned)
                    np.testing.assert_array_equal(got, ref)
                    assert got.dtype == ref.dtype and got.shape == ref.shape
                    for y, x, mine in zip(ys, xs, owned):
                        if not mine or (got is not y):  # only the buffer it wrote into
                            np.testing.assert_array_equal(y, x)
                    buffer = [y for y in ys[:2] if got is y]
                    assert bool(buffer) == (any(
                        m and y.shape == ref.shape and y.dtype == ref.dtype
                        for y, m in zip(ys[:2], owned[:2])))


@pytest.mark.parametrize("axis", [-1, 1])
def test_batch_normalization_in_place_is_its_call(axis):
    rng = np.random.default_rng(5)
    layer = engine.deserialize({"class_name": "BatchNormalization", "config": {"axis": axis}})
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    layer.build(x.shape)
    layer.set_weights([rng.uniform(0.5, 2, w.shape).astype(np.float32)
                       for w in layer.weights])
    ref = layer.call(x)
    y = x.copy()
    got = layer._call_owned(y, True)
    assert got is y
    np.testing.assert_array_equal(got, ref)
    h = x.astype(np.float16)
    np.testing.assert_array_equal(layer._call_owned(h.copy(), True), layer.call(h))
    y = x.copy()  # training: batch statistics, never in place
    out = layer._call_owned(y, True, training=True)
    assert out is not y
    np.testing.assert_array_equal(y, x)


def test_run_loop_checks_again_when_the_layer_or_budget_changes():
    model = _chain_model()
    x = np.random.default_rng(6).standard_normal((2, 5, 5, 3)).astype(np.float32)
    for _ in range(2):
        model(x)
    bn = model.get_layer("bn1")
    axes = bn.input_spec.axes
    bn.input_spec.axes = {3: 5}  # another spec: checked, refused
    with pytest.raises(InputError, match="size 5 on axis 3"):
        model(x)
    bn.input_spec.axes = axes
    model(x)
    axes[3] = 7  # the same dict changed in place
    with pytest.raises(InputError, match="size 7 on axis 3"):
        model(x)
    axes[3] = 4
    before = model(x)
    bn._values["epsilon"] = 10.0  # a config value replaced: the result follows
    assert not np.array_equal(model(x), before)
    budget = bn.budget
    bn._budget_obj = Budget(max_activation_bytes=2 * 5 * 5 * 4 * 4 - 1)  # another budget
    with pytest.raises(BudgetError, match="bn1"):
        model(x)
    bn._budget_obj = budget
    model(x)
    limit = budget.max_activation_bytes
    budget.max_activation_bytes = 100  # the same budget, a lower limit
    with pytest.raises(BudgetError):
        model(x)
    budget.max_activation_bytes = limit
    model(x)
    with pytest.raises(InputError, match="expects inputs of rank 4"):
        bn(x[0])


def test_sequential_gives_each_layer_its_input(monkeypatch):
    from engine.layers.activation import Activation
    from engine.layers.normalization import BatchNormalization
    model = engine.deserialize({"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 6],
                                                "dtype": "float32", "name": "x"}},
        {"class_name": "BatchNormalization", "config": {"name": "bn0"}},
        {"class_name": "Dense", "config": {"name": "d", "units": 5}},
        {"class_name": "BatchNormalization", "config": {"name": "bn"}},
        {"class_name": "Activation", "config": {"name": "a", "activation": "relu"}},
        {"class_name": "Dropout", "config": {"name": "drop", "rate": 0.5}},
        {"class_name": "Activation", "config": {"name": "a2", "activation": "relu6"}}]}})
    model.set_weights([np.random.default_rng(7).uniform(0.5, 1.5, w.shape).astype(np.float32)
                       for w in model.weights])
    x = np.random.default_rng(8).standard_normal((3, 6)).astype(np.float32)
    keep = x.copy()
    ref = _copying(monkeypatch, lambda: model(x))
    counts = _owned_calls(monkeypatch, BatchNormalization, Activation)
    for _ in range(3):
        _same(model(x), ref)
    np.testing.assert_array_equal(x, keep)  # bn0 reads the input: never in place
    # bn (with a's clip: fused) and a2 in place in each call
    assert counts == {"BatchNormalization": 3, "Activation": 3, "fused": 3}
    trace = model.intermediate_outputs(x)
    _same(trace["a2"], ref)
    np.testing.assert_array_equal(trace["bn"], model.get_layer("bn")(trace["d"]))


def test_model_editor_keeps_its_activations():
    """The ModelEditor keeps the activations of a traced run and reruns only the part
    downstream of an edit on them: plain runs in between never write into them."""
    from pathlib import Path

    from widget.model_editor import ModelEditor
    sys.path.insert(0, str(Path(__file__).parents[1] / "data" / "models"))
    from arch_configs import resnet_config
    me = ModelEditor(resnet_config(size=12, widths=(4, 8), blocks=1, name="r")).run()
    trace = me._state.trace
    held = {k: v for k, v in trace.items() if isinstance(v, np.ndarray)}
    kept = {k: v.copy() for k, v in held.items()}
    assert len(held) > 10
    for _ in range(3):
        me.model(me.sample)  # plain runs: in place wherever the rules allow
    convs = [st["name"] for st in me.statistics() if st["class_name"] == "Conv2D"]
    me.select(convs[-1])
    assert me.set("kernel_initializer", "he_uniform"), me.error
    assert me._state.trace is trace  # rerun from the edit on, on the kept activations
    for k, v in held.items():
        np.testing.assert_array_equal(v, kept[k])  # none written
    fresh = me.model.intermediate_outputs(me.sample)
    for k, v in me._state.activations().items():  # the ones the edit left out made again
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(v, fresh[k])


def test_a_merge_subclass_with_its_own_merge_is_not_in_place():
    from engine.layers.merging import Add

    class Plus1(Add):
        def _merge(self, xs):  # its own _merge, written for one argument
            return super()._merge(xs) + 1

    assert Add.in_place and not Plus1.in_place
    layer = Plus1()
    xs = [np.ones((2, 3), np.float32), np.full((2, 3), 2, np.float32)]
    keep = [x.copy() for x in xs]
    np.testing.assert_array_equal(layer._call_owned(xs, (True, True)), np.full((2, 3), 4))
    _same(xs, keep)


def test_batch_normalization_remembers_its_fold_while_the_weights_are_the_same():
    from engine.layers.elementwise import batch_norm_inference
    rng = np.random.default_rng(10)
    layer = engine.deserialize({"class_name": "BatchNormalization", "config": {}})
    layer.build((None, 4, 4, 6))
    layer.set_weights([rng.uniform(0.5, 2, 6).astype(np.float32) for _ in range(4)])

    def fresh(x):  # the fold computed anew (no memo), the same arithmetic
        return batch_norm_inference(x, layer.moving_mean, layer.moving_variance, layer.gamma,
                                    layer.beta, layer.epsilon, "float32")

    xs = [rng.standard_normal((n, 4, 4, 6)).astype(np.float32) for n in (1, 2, 3, 2)]
    for x in xs:  # several tilings of the same vectors
        np.testing.assert_array_equal(layer(x), fresh(x))
    memo = layer._fold_memo
    assert len(memo["tiles"]) >= 2
    for w in (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance):
        before = layer(xs[1])
        w.value[2] *= np.float32(1.5)  # written in place: seen at once
        after = layer(xs[1])
        np.testing.assert_array_equal(after, fresh(xs[1]))
        assert not np.array_equal(after[..., 2], before[..., 2])
        np.testing.assert_array_equal(after[..., :2], before[..., :2])
    layer.moving_mean.value = layer.moving_mean.value + np.float32(1)  # a new array
    np.testing.assert_array_equal(layer(xs[0]), fresh(xs[0]))
    layer._values["epsilon"] = 0.5
    np.testing.assert_array_equal(layer(xs[0]), fresh(xs[0]))
