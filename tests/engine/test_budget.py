"""The budget (issue 14): one byte budget for a whole model's weights, a forward-pass
budget per call, a time budget for initializers; depth, names, dtypes, constants, inputs."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

import engine
from engine.budget import (
    DEFAULT_MAX_ACTIVATION_BYTES,
    DEFAULT_MAX_WEIGHT_BYTES,
    MAX_CONFIG_DEPTH,
    Budget,
    using_budget,
)
from engine.errors import (
    MAX_LISTED_ERRORS,
    BudgetError,
    ConfigError,
    InputError,
    MultipleConfigErrors,
    close_names,
)
from engine.fields import check_name, constant_array, numeric_dtype


def _dense(units, n_in=None, dtype="float32", name=None, **extra):
    cfg = {"units": units, "dtype": {"module": "keras", "class_name": "DTypePolicy",
                                     "config": {"name": dtype}, "registered_name": None},
           **extra}
    if name:
        cfg["name"] = name
    out = {"module": "keras.layers", "class_name": "Dense", "config": cfg,
           "registered_name": None}
    if n_in is not None:
        out["build_config"] = {"input_shape": [None, n_in]}
    return out


def _seq(layers, n_in):
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "s", "layers": [
                {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                 "config": {"batch_shape": [None, n_in], "dtype": "float32", "name": "x"}},
                *layers]},
            "build_config": {"input_shape": [None, n_in]}}


# -- weights: one budget in bytes for the whole model ----------------------------------------

def test_defaults():
    assert DEFAULT_MAX_WEIGHT_BYTES == DEFAULT_MAX_ACTIVATION_BYTES == 2**30
    b = Budget()
    assert (b.max_weight_bytes, b.weight_bytes) == (2**30, 0)


def test_float64_counts_twice():
    # 10x10 kernel + 10 bias = 110 elements: 440 bytes float32, 880 float64
    assert engine.deserialize(_dense(10, 10), max_weight_bytes=440).built
    with pytest.raises(BudgetError, match="880 bytes"):
        engine.deserialize(_dense(10, 10, "float64"), max_weight_bytes=879)
    assert engine.deserialize(_dense(10, 10, "float64"), max_weight_bytes=880).built


def test_one_budget_for_all_layers_of_a_model_checked_before_allocating():
    # three layers of 4 MB each (float32 1000x1000): each fits 10 MB, together they do not
    cfg = _seq([_dense(1000, name=f"d{i}") for i in range(3)], 1000)
    tracemalloc.start()
    try:
        with pytest.raises(BudgetError) as info:
            engine.deserialize(cfg, max_weight_bytes=10_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, f"{peak} bytes: weights were allocated before the refusal"
    msg = str(info.value)
    assert "'d2'" in msg and "so far take 8.01 MB" in msg and "max_weight_bytes" in msg
    model = engine.deserialize(cfg, max_weight_bytes=12_100_000)
    assert all(w.value is not None for w in model.weights)


def test_sublayers_share_the_budget():
    cfg = {"module": "keras.layers", "class_name": "MultiHeadAttention", "registered_name": None,
           "config": {"num_heads": 4, "key_dim": 64},
           "build_config": {"shapes_dict": {"query_shape": [None, 3, 256],
                                            "value_shape": [None, 3, 256]}}}
    layer = engine.deserialize(cfg)
    nbytes = sum(w.size * 4 for w in layer.weights)
    one = max(w.size * 4 for w in layer.weights)
    assert engine.deserialize(cfg, max_weight_bytes=nbytes).built
    with pytest.raises(BudgetError):  # every sub-layer fits alone, not all together
        engine.deserialize(cfg, max_weight_bytes=max(nbytes - 1, 2 * one))


def test_budget_object_and_deprecated_elements():
    budget = Budget(max_weight_bytes=800)
    engine.deserialize(_dense(10, 10), budget=budget)
    assert budget.weight_bytes == 440
    with pytest.raises(BudgetError):  # the same budget, shared by two calls
        engine.deserialize(_dense(10, 10), budget=budget)
    with pytest.raises(BudgetError, match="over the budget of 109"):
        engine.deserialize(_dense(10, 10), max_weight_elements=109)
    with pytest.raises(ValueError, match="not both"):
        engine.deserialize(_dense(10, 10), budget=Budget(), max_weight_bytes=5)
    for bad in (0, -1, 1.5, "10", True):
        with pytest.raises(ValueError, match="max_weight_bytes"):
            engine.deserialize(_dense(10, 10), max_weight_bytes=bad)


def test_layers_made_in_python_share_a_budget_when_built_together():
    with using_budget(Budget(max_weight_bytes=4000)) as b:
        layer = engine.deserialize({"class_name": "Dense", "config": {"units": 10}})
        layer.build((None, 10))
        assert b.weight_bytes == 440
    other = engine.deserialize({"class_name": "Dense", "config": {"units": 10}})
    other.build((None, 10))  # its own default budget
    assert other.budget is not b


# -- the forward pass --------------------------------------------------------------------------

@pytest.mark.parametrize("cls,config,shape", [
    ("RepeatVector", {"n": 300_000_000}, (2, 4)),
    ("ZeroPadding2D", {"padding": 15000}, (1, 4, 4, 1)),
    ("UpSampling2D", {"size": 5000}, (1, 4, 4, 1)),
    ("CenterCrop", {"height": 40000, "width": 40000}, (1, 4, 4, 3)),
    ("Resizing", {"height": 25000, "width": 25000}, (1, 4, 4, 3)),
    ("MaxPooling2D", {"pool_size": 2000, "strides": 1, "padding": "same"}, (1, 4, 4, 1)),
    ("AdaptiveAveragePooling2D", {"output_size": 40000}, (1, 4, 4, 1)),
    ("Rescaling", {"scale": [[[1.0] * 20000]], "offset": [[[0.0]] * 20000]}, (1, 4, 1, 1)),
])
def test_outputs_over_the_activation_budget_are_refused_before_running(cls, config, shape):
    layer = engine.deserialize({"class_name": cls, "config": config})
    start = time.perf_counter()
    tracemalloc.start()
    try:
        with pytest.raises(BudgetError) as info:
            layer(np.ones(shape, "float32"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000 and time.perf_counter() - start < 2
    msg = str(info.value)
    assert layer.name in msg and ("max_activation_bytes" in msg or "too long" in msg)


def test_activation_budget_keyword():
    cfg = {"class_name": "RepeatVector", "config": {"n": 1000}}
    layer = engine.deserialize(cfg, max_activation_bytes=2 * 1000 * 4 * 4)
    assert layer(np.ones((2, 4), "float32")).shape == (2, 1000, 4)
    layer = engine.deserialize(cfg, max_activation_bytes=2 * 1000 * 4 * 4 - 1)
    with pytest.raises(BudgetError, match="32.00 kB"):
        layer(np.ones((2, 4), "float32"))


def test_orthogonal_qr_is_budgeted_in_time():
    cfg = _dense(8192, 8192, kernel_initializer={"class_name": "Orthogonal",
                                                  "config": {"seed": 1}})
    start = time.perf_counter()
    with pytest.raises(BudgetError, match="Orthogonal") as info:
        engine.deserialize(cfg)
    assert time.perf_counter() - start < 1
    assert info.value.path == "config.kernel_initializer"
    small = _dense(64, 64, kernel_initializer={"class_name": "Orthogonal",
                                               "config": {"seed": 1}})
    k = engine.deserialize(small).kernel.value
    np.testing.assert_allclose(k.T @ k, np.eye(64), atol=1e-5)


# -- depth, cycles, names, registered_name, dtypes, constants ---------------------------------

def test_depth_and_cycles_are_config_errors():
    cfg = {"class_name": "Dense", "config": {"units": 2}}
    for _ in range(100):
        cfg = {"class_name": "TimeDistributed", "config": {"layer": cfg}}
    with pytest.raises(ConfigError, match=f"nested more than {MAX_CONFIG_DEPTH} deep"):
        engine.deserialize(cfg)
    deep: object = 1.0
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ConfigError, match="nested more than"):
        engine.deserialize({"class_name": "Rescaling", "config": {"scale": deep}})
    loop = {"class_name": "TimeDistributed", "config": {}}
    loop["config"]["layer"] = loop
    with pytest.raises(ConfigError, match="contains itself") as info:
        engine.deserialize(loop)
    assert info.value.path == "config.layer"


@pytest.mark.parametrize("name,why", [
    ("", "non-empty"), ("a\x00b", "control"), ("a\nb", "control"), ("x" * 257, "256"),
    ("a\udc80", "surrogate"), (5, "expected a string"),
])
def test_bad_names(name, why):
    with pytest.raises(ConfigError, match=why) as info:
        engine.deserialize({"class_name": "Dense", "config": {"units": 2, "name": name}})
    assert info.value.path == "config.name"
    assert check_name("dense_1 ü", "name") == "dense_1 ü"


def test_registered_name_resolves_only_to_builtins_or_custom_objects():
    cfg = {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2},
           "registered_name": "evil>Dense"}
    with pytest.raises(ConfigError, match="neither a built-in") as info:
        engine.deserialize(cfg)
    assert info.value.path == "registered_name"
    dense = engine.lookup("layer", "Dense")
    assert isinstance(engine.deserialize(cfg, custom_objects={"evil>Dense": dense}), dense)
    assert engine.deserialize({**cfg, "registered_name": "Dense"}).units == 2


@pytest.mark.parametrize("dtype", ["U200000000", "V", "object", "S10", "complex64", "M8",
                                   7, None])
def test_only_numeric_dtypes(dtype):
    with pytest.raises(ConfigError):
        numeric_dtype(dtype, "config.dtype")
    assert numeric_dtype("int8", "d") == np.int8


def test_constants_are_numeric_and_charged():
    with using_budget(Budget(max_weight_bytes=1000)) as b:
        arr = constant_array([[1, 2], [3, 4]], "float64", "args[1]")
        assert arr.dtype == np.float64 and b.weight_bytes == 32
        with pytest.raises(BudgetError):
            constant_array([0.0] * 200, "float64", "args[1]")
        with pytest.raises(ConfigError, match="numeric dtype"):
            constant_array("a", "U100000000", "args[1]")
        with pytest.raises(ConfigError):
            constant_array(["a", "b"], None, "args[1]")


def test_einsum_repeated_output_letter_refused():
    with pytest.raises(ConfigError, match="more than once") as info:
        engine.deserialize({"class_name": "EinsumDense", "config": {
            "equation": "ab,bc->acc", "output_shape": [4, 4]}})
    assert info.value.path == "config.equation"


# -- inputs: only documented errors, real numbers only -----------------------------------------

@pytest.mark.parametrize("cls,config", [
    ("Dense", {"units": 2}), ("Activation", {"activation": "sigmoid"}), ("ReLU", {}),
])
def test_complex_inputs_refused(cls, config):
    layer = engine.deserialize({"class_name": cls, "config": config})
    with pytest.raises(InputError, match="complex"):
        layer(np.ones((1, 3)) * (1 + 2j))


@pytest.mark.parametrize("cls,config,x", [
    ("Dense", {"units": 2}, np.array([["a", "b", "c"]])),
    ("GlobalMaxPooling1D", {}, np.ones((1, 0, 3), "float32")),
    ("LSTM", {"units": 2}, np.ones((1, 0, 3), "float32")),
    ("Dense", {"units": 2}, [[1.0, 2.0], [3.0]]),
])
def test_bad_inputs_are_input_errors(cls, config, x):
    layer = engine.deserialize({"class_name": cls, "config": config})
    with pytest.raises(InputError) as info:
        layer(x)
    assert layer.name in str(info.value)


def test_wrong_size_after_build_is_an_input_error():
    layer = engine.deserialize(_dense(2, 5))
    with pytest.raises(InputError, match="size 5"):
        layer(np.ones((2, 3), "float32"))


# -- time and size of messages -----------------------------------------------------------------

def test_close_names_is_linear():
    pool = [f"layer_{i}" for i in range(6000)]
    start = time.perf_counter()
    for i in range(2000):  # was ~20 ms per call against 6,000 names (118 s for 6,000)
        close_names(f"lyer_{i}", pool)
    assert time.perf_counter() - start < 10
    assert close_names("lyer_12", pool)[0].startswith("layer_1")


def test_messages_are_capped():
    errors = [ConfigError(f"layers[{i}]", "x" * 10_000) for i in range(1000)]
    err = MultipleConfigErrors("config", errors)
    assert len(str(err)) < 5000 and "more (see .errors)" in str(err)
    assert len(err.errors) == 1000 and MAX_LISTED_ERRORS == 20


def test_shared_object_ids_must_agree():
    a = {"class_name": "GlorotUniform", "config": {"seed": 1}, "shared_object_id": 5}
    same = engine.deserialize({"class_name": "Dense", "config": {
        "units": 2, "kernel_initializer": a, "bias_initializer": dict(a)}})
    assert same.units == 2
    other = {**a, "config": {"seed": 2}}
    with pytest.raises(ConfigError, match="first used at config.kernel_initializer") as info:
        engine.deserialize({"class_name": "Dense", "config": {
            "units": 2, "kernel_initializer": a, "bias_initializer": other}})
    assert info.value.path == "config.bias_initializer.shared_object_id"


def test_bounded_floats_are_finite():
    init = {"class_name": "RandomNormal", "config": {"stddev": float("inf")}}
    with pytest.raises(ConfigError, match="finite") as info:
        engine.deserialize({"class_name": "Dense", "config": {
            "units": 2, "kernel_initializer": init}})
    assert info.value.path == "config.kernel_initializer.config.stddev"
