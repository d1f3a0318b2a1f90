"""Activations: every Keras 3 and Keras 2 name against independent float64 formulas
(FORMAT.md section 5.1, scipy.special) and against real Keras's outputs
(tests/data/keras/generated/activations_k{3,2}.npz, written by
tests/oracle_gen/activations_table.py), plus names, aliases and serialization per format.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from oracle import DATA
from scipy import special

import engine
from engine import ConfigError, UnsafeConfigError, activations
from engine.fields import KERAS2, KERAS3
from engine.layers.core import Dense


def _table(fmt: str):
    z = np.load(DATA / "generated" / f"activations_{fmt}.npz")
    arrays = {k: z[k] for k in z.files if k != "meta"}
    return arrays, json.loads(str(z["meta"]))


K3, K3_META = _table("k3")
K2, K2_META = _table("k2")
X = K3["x"]
np.testing.assert_array_equal(X, K2["x"])

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _keras_sparsemax(z: np.ndarray) -> np.ndarray:
    """Keras 3.15's sparsemax, row by row: tau = (sum of the cumulative sums over the
    support - 1) / support size (keras/src/backend/*/nn.py)."""
    out = np.empty_like(z)
    for idx in np.ndindex(z.shape[:-1]):
        row = z[idx]
        zs = sorted(row, reverse=True)
        cums = np.cumsum(zs)
        support = [j for j in range(len(zs)) if zs[j] - (cums[j] - 1) / (j + 1) > 0]
        tau = (sum(cums[j] for j in support) - 1) / len(support)
        out[idx] = np.maximum(row - tau, 0)
    return out


def _sparsemax_by_bisection(z: np.ndarray) -> np.ndarray:
    """The simplex projection found by bisection on tau (sum(max(z - tau, 0)) = 1)."""
    lo = z.max(axis=-1, keepdims=True) - 1.0
    hi = z.max(axis=-1, keepdims=True)
    for _ in range(200):
        mid = (lo + hi) / 2
        too_much = np.maximum(z - mid, 0).sum(axis=-1, keepdims=True) > 1.0
        lo = np.where(too_much, mid, lo)
        hi = np.where(too_much, hi, mid)
    return np.maximum(z - (lo + hi) / 2, 0)


def _hs3(x):
    return np.clip(x / 6 + 0.5, 0, 1)


REFERENCE = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": special.expit,
    "tanh": np.tanh,
    "softmax": lambda x: special.softmax(x, axis=-1),
    "log_softmax": lambda x: special.log_softmax(x, axis=-1),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "exponential": np.exp,
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
    "gelu": lambda x: 0.5 * x * (1 + special.erf(x / np.sqrt(2))),
    "silu": lambda x: x * special.expit(x),
    "swish": lambda x: x * special.expit(x),
    "mish": lambda x: x * np.tanh(np.log1p(np.exp(x))),
    "relu6": lambda x: np.minimum(np.maximum(x, 0), 6),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "hard_sigmoid": _hs3,
    "hard_silu": lambda x: x * _hs3(x),
    "hard_swish": lambda x: x * _hs3(x),
    "celu": lambda x: np.maximum(x, 0) + np.expm1(np.minimum(x, 0)),
    "glu": lambda x: x[..., : x.shape[-1] // 2] * special.expit(x[..., x.shape[-1] // 2:]),
    "hard_tanh": lambda x: np.clip(x, -1, 1),
    "hard_shrink": lambda x: np.where(np.abs(x) > 0.5, x, 0),
    "soft_shrink": lambda x: np.sign(x) * np.maximum(np.abs(x) - 0.5, 0),
    "tanh_shrink": lambda x: x - np.tanh(x),
    "log_sigmoid": special.log_expit,
    "sparse_plus": lambda x: np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4)),
    "sparse_sigmoid": lambda x: np.clip((x + 1) / 2, 0, 1),
    "squareplus": lambda x: (x + np.sqrt(x * x + 4)) / 2,
    "sparsemax": _keras_sparsemax,
}
K2_REFERENCE = {**REFERENCE, "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0, 1)}

K3_NAMES = K3_META["activations"]
K2_NAMES = K2_META["activations"]


def test_the_tables_cover_every_engine_activation():
    assert set(activations.names()) == set(K3_NAMES)
    assert set(K3_NAMES) == set(REFERENCE)
    assert set(K2_NAMES) <= set(K3_NAMES)


def _get(name: str, fmt: str):
    return activations.get(name, fmt=fmt)


# -- independent formulas (float64) ----------------------------------------------------

GRID = np.concatenate([np.linspace(-9, 9, 721), [0.0, 0.5, -0.5, 1.0, -1.0, 1e-9, -1e-9,
                                                 30.0, -30.0, 60.0, -60.0]])


@pytest.mark.parametrize("name", K3_NAMES)
def test_keras3_activation_matches_reference_formula(name):
    x = GRID.reshape(1, -1)[:, : (GRID.size // 2) * 2]  # an even last axis for glu
    got = _get(name, KERAS3)(x)
    assert got.dtype == np.float64
    want = REFERENCE[name](x)
    if name == "exponential":
        np.testing.assert_allclose(got, want, rtol=1e-12)
        return
    # gelu uses a 1.2e-7 erf approximation (far below float32 resolution)
    rtol, atol = (2e-7, 1e-7) if name == "gelu" else (1e-10, 1e-12)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", K2_NAMES)
def test_keras2_activation_matches_reference_formula(name):
    x = GRID.reshape(1, -1)
    got = _get(name, KERAS2)(x)
    want = K2_REFERENCE[name](x)
    rtol, atol = (2e-7, 1e-7) if name == "gelu" else (1e-10, 1e-12)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def test_hard_sigmoid_differs_between_formats():
    x = np.array([-3.0, -1.0, 0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(_get("hard_sigmoid", KERAS3)(x),
                               [0.0, 1 / 3, 0.5, 2 / 3, 5 / 6, 1.0])
    np.testing.assert_allclose(_get("hard_sigmoid", KERAS2)(x), [0.0, 0.3, 0.5, 0.7, 0.9, 1.0])
    # hard_silu always uses the Keras 3 hard_sigmoid
    np.testing.assert_allclose(_get("hard_silu", KERAS3)(x), x * _hs3(x))


def test_sparsemax_is_the_simplex_projection_when_one_entry_is_in_the_support():
    x = np.array([[0.0, 3.0, -1.0, 0.5], [2.0, -2.0, 0.1, 0.2]])
    np.testing.assert_allclose(_get("sparsemax", KERAS3)(x), _sparsemax_by_bisection(x))
    # with a wider support Keras 3.15 deviates from the projection; layerlab follows Keras
    wide = np.array([[0.1, 0.2, 0.3, 0.25]])
    np.testing.assert_allclose(_get("sparsemax", KERAS3)(wide), _keras_sparsemax(wide))
    assert not np.allclose(_keras_sparsemax(wide), _sparsemax_by_bisection(wide))


def test_softmax_family_is_stable_for_large_inputs():
    x = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1000.0]])
    for name in ("softmax", "log_softmax", "sparsemax"):
        y = _get(name, KERAS3)(x)
        assert np.isfinite(y).all(), name
    np.testing.assert_allclose(_get("softmax", KERAS3)(x).sum(-1), 1.0)
    assert np.isfinite(_get("softplus", KERAS3)(np.array([1000.0, -1000.0]))).all()
    assert np.isfinite(_get("log_sigmoid", KERAS3)(np.array([1000.0, -1000.0]))).all()


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_output_dtype_follows_input(dtype):
    for name in K3_NAMES:
        y = _get(name, KERAS3)(X.astype(dtype))
        assert y.dtype == np.dtype(dtype), name
    assert _get("relu", KERAS3)(np.array([[-1, 2]])).dtype == np.float32  # ints -> float32


# -- against real Keras ------------------------------------------------------------------


@pytest.mark.parametrize("name", K3_NAMES)
def test_keras3_activation_equals_keras_output(name):
    got = _get(name, KERAS3)(X)
    want = K3[f"act_{name}"]
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", K2_NAMES)
def test_keras2_activation_equals_keras_output(name):
    got = _get(name, KERAS2)(X)
    want = K2[f"act_{name}"]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def _dense(name, fmt: str, units: int = 16):
    cfg = {"class_name": "Dense", "config": {"units": units, "activation": name,
                                             "kernel_initializer": "identity"}}
    if fmt == KERAS3:
        cfg["module"] = "keras.layers"
        cfg["registered_name"] = None
    else:
        cfg["config"]["dtype"] = "float32"
    return engine.deserialize(cfg)


@pytest.mark.parametrize("fmt,name", [(KERAS3, n) for n in K3_NAMES] +
                         [(KERAS2, n) for n in K2_NAMES])
def test_activation_inside_a_layer_config_follows_the_config_format(fmt, name):
    """A Dense with an identity kernel is the activation alone: hard_sigmoid in a Keras 2
    config is Keras 2's hard_sigmoid, in a Keras 3 config Keras 3's."""
    layer = _dense(name, fmt)
    got = layer(X)
    want = (K3 if fmt == KERAS3 else K2)[f"act_{name}"]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fmt,name", [(KERAS3, n) for n in K3_NAMES] +
                         [(KERAS2, n) for n in K2_NAMES])
def test_activation_serializes_as_keras_writes_it(fmt, name):
    meta = K3_META if fmt == KERAS3 else K2_META
    want = meta["activation_serialize"][name]
    layer = _dense(name, fmt)
    assert layer.get_config(fmt)["activation"] == want
    # written and read back in the same format: the same function
    again = engine.deserialize(engine.serialize(layer, fmt))
    np.testing.assert_array_equal(again(X), layer(X))


def test_swish_and_silu_names_per_format():
    # Keras 3 writes silu for swish; Keras 2 writes swish for silu
    assert _dense("swish", KERAS3).get_config(KERAS3)["activation"] == "silu"
    assert _dense("silu", KERAS2).get_config(KERAS2)["activation"] == "swish"
    # across formats: what the other Keras writes for the same function
    assert _dense("swish", KERAS2).get_config(KERAS3)["activation"] == "silu"
    assert _dense("silu", KERAS3).get_config(KERAS2)["activation"] == "swish"
    assert _dense("hard_swish", KERAS3).get_config(KERAS3)["activation"] == "hard_silu"


def test_hard_sigmoid_across_formats_warns_about_the_meaning():
    with pytest.warns(UserWarning, match="hard_sigmoid means"):
        assert _dense("hard_sigmoid", KERAS3).get_config(KERAS2)["activation"] == "hard_sigmoid"
    with pytest.warns(UserWarning, match="hard_sigmoid means"):
        assert _dense("hard_sigmoid", KERAS2).get_config(KERAS3)["activation"] == "hard_sigmoid"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _dense("hard_sigmoid", KERAS3).get_config(KERAS3)
        _dense("hard_sigmoid", KERAS2).get_config(KERAS2)


def test_none_is_linear():
    for fmt in (KERAS3, KERAS2):
        layer = _dense(None, fmt)
        assert layer.get_config(fmt)["activation"] == "linear"
    assert activations.get(None).name == "linear"


@pytest.mark.parametrize("bad,hint", [("Relu", "relu"), ("leakyrelu", "leaky_relu"),
                                      ("Linear", "linear"), ("sigmod", "sigmoid")])
def test_unknown_activation_names_get_close_names(bad, hint):
    with pytest.raises(ConfigError) as info:
        _dense(bad, KERAS3)
    msg = str(info.value)
    assert msg.startswith("config.activation: unknown activation ")
    assert hint in msg and "custom_objects" in msg


def test_threshold_needs_arguments():
    with pytest.raises(ConfigError, match=r"^config.activation: 'threshold' needs"):
        _dense("threshold", KERAS3)


@pytest.mark.parametrize("bad", [3, 1.5, True, ["relu"]])
def test_activation_of_wrong_type(bad):
    with pytest.raises(ConfigError) as info:
        _dense(bad, KERAS3)
    assert str(info.value).startswith("config.activation: ")


def test_function_dicts_builtin_and_lambda():
    fn = {"module": "keras.activations", "class_name": "function", "config": "tanh",
          "registered_name": None}
    np.testing.assert_allclose(_dense(fn, KERAS3)(X), np.tanh(X), rtol=1e-6)
    lam = {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA", "defaults": None,
                                                 "closure": None}}
    with pytest.raises(UnsafeConfigError) as info:
        _dense(lam, KERAS3)
    assert str(info.value).startswith("config.activation: ")
    assert "never runs code" in str(info.value)


def test_custom_activation_by_name_and_by_function_dict():
    def my_act(x):
        return x * 3.0

    cfg = {"class_name": "Dense", "config": {"units": 16, "activation": "my_act",
                                             "kernel_initializer": "identity"}}
    # Keras 2 resolves a name through custom_objects (layerlab does so in both formats)
    layer = engine.deserialize(cfg, custom_objects={"my_act": my_act})
    np.testing.assert_allclose(layer(X), 3 * X, rtol=1e-6)
    assert layer.get_config(KERAS2)["activation"] == "my_act"
    k3 = layer.get_config(KERAS3)["activation"]
    assert k3 == {"module": "builtins", "class_name": "function", "config": "my_act",
                  "registered_name": "function"}
    # the Keras 3 function dict resolves through custom_objects too
    again = engine.deserialize(engine.serialize(layer), custom_objects={"my_act": my_act})
    np.testing.assert_allclose(again(X), 3 * X, rtol=1e-6)
    # without custom_objects: refused with the hint
    with pytest.raises(ConfigError, match="custom_objects"):
        engine.deserialize(engine.serialize(layer))
    # a custom name shadows a built-in one, as Keras's custom_objects do
    layer = engine.deserialize({"class_name": "Dense", "config": {
        "units": 16, "activation": "relu", "kernel_initializer": "identity"}},
        custom_objects={"relu": my_act})
    np.testing.assert_allclose(layer(X), 3 * X, rtol=1e-6)


# -- layers used as activations (values and dicts from keras 3.15.1 / tf_keras 2.21) --------

XL = np.linspace(-3, 3, 8, dtype="float32").reshape(2, 4)
POS = [0.4285714328289032, 1.2857142686843872, 2.142857074737549, 3.0]


def test_keras2_layer_class_names_as_activations():
    layer = engine.deserialize({"class_name": "Dense", "config": {
        "units": 4, "activation": "LeakyReLU", "kernel_initializer": "identity"}})
    np.testing.assert_allclose(layer(XL), [[-0.9000000357627869, -0.6428571343421936,
                                            -0.3857142925262451, -0.12857143580913544], POS],
                               rtol=1e-6)
    act = layer.get_config(KERAS2)["activation"]
    assert list(act) == ["class_name", "config"] and act["class_name"] == "LeakyReLU"
    assert act["config"]["name"].startswith("leaky_re_lu")  # tf_keras: 'leaky_re_lu'
    assert {k: v for k, v in act["config"].items() if k != "name"} == {
        "trainable": True, "dtype": "float32", "alpha": 0.30000001192092896}
    elu = engine.deserialize({"class_name": "Dense", "config": {
        "units": 4, "activation": {"class_name": "ELU", "config": {"alpha": 0.5}},
        "kernel_initializer": "identity"}})
    np.testing.assert_allclose(elu(XL), [[-0.47510647773742676, -0.4413404166698456,
                                          -0.3617734909057617, -0.17428046464920044], POS],
                               rtol=1e-6)
    assert elu.get_config(KERAS2)["activation"]["config"]["alpha"] == 0.5
    # Keras 3 takes no layer class names as strings
    with pytest.raises(ConfigError, match="unknown activation 'LeakyReLU'"):
        engine.deserialize({"module": "keras.layers", "class_name": "Dense",
                            "config": {"units": 4, "activation": "LeakyReLU"}})


def test_a_layer_object_as_activation_round_trips_in_keras3_form():
    from engine.layers.activation import LeakyReLU

    layer = Dense(4, activation=LeakyReLU(negative_slope=0.1), kernel_initializer="identity")
    want = [[-0.30000001192092896, -0.2142857164144516, -0.12857143580913544,
             -0.04285714402794838], POS]
    np.testing.assert_allclose(layer(XL), want, rtol=1e-6)
    act = layer.get_config()["activation"]
    assert {k: act[k] for k in ("module", "class_name", "registered_name")} == {
        "module": "keras.layers", "class_name": "LeakyReLU", "registered_name": None}
    assert act["config"]["negative_slope"] == 0.1 and "build_config" not in act
    assert [w.path for w in layer.weights] == [f"{layer.name}/kernel", f"{layer.name}/bias"]
    again = engine.deserialize(engine.serialize(layer))
    np.testing.assert_allclose(again(XL), want, rtol=1e-6)


def test_prelu_as_activation_is_refused():
    with pytest.raises(ConfigError, match=r"^config.activation: a PReLU layer"):
        engine.deserialize({"class_name": "Dense", "config": {"units": 4,
                                                              "activation": "PReLU"}})


@pytest.mark.parametrize("name", ["sigmoid", "silu", "swish", "tanh", "hard_sigmoid",
                                  "hard_silu", "hard_swish"])
def test_float32_activations_computed_in_float32_stay_within_ulps_of_float64(name):
    """sigmoid, silu (swish), tanh, hard_sigmoid and hard_silu (hard_swish) of float32
    arrays run in float32 arithmetic (as
    TensorFlow's kernels; the float64 detour is 10x slower): within 4 ulps of the exact
    value (scipy's float64 expit and tanh) rounded to float32, or within 1e-35 where
    exp(-x) overflows (x < -88.7, where the detour gives 0 already from x < -37), NaN and
    +-inf giving what the detour gives; float16 arrays still take the detour."""
    fn = _get(name, KERAS3)
    rng = np.random.default_rng(41)
    x = np.concatenate([rng.standard_normal(20000) * 8, np.linspace(-120, 120, 4001),
                        [0.0, -0.0, 1e-30, -1e-30, 88.7, -88.7, 89.0, -89.0, 104.0, -104.0,
                         np.nan, np.inf, -np.inf]]).astype(np.float32)
    assert fn.fn in activations._FLOAT32
    x64 = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        got = fn(x)
        detour = np.asarray(fn.fn(x64), np.float32)
        exact = {"sigmoid": special.expit(x64), "tanh": np.tanh(x64),
                 "hard_sigmoid": _hs3(x64)}.get(
            name, x64 * (_hs3(x64) if name.startswith("hard") else special.expit(x64)))
    want = exact.astype(np.float32)
    assert got.dtype == np.float32
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite], detour[~finite])
    ulp = np.spacing(np.abs(want[finite]))
    err = np.abs(got[finite].astype(np.float64) - want[finite])
    assert np.all((err <= 4 * ulp) | ((err <= 1e-35) & (x[finite] < -88.7)))
    half = x[np.isfinite(x) & (np.abs(x) < 10)].astype(np.float16)
    np.testing.assert_array_equal(fn(half), np.asarray(fn.fn(half.astype(np.float64)),
                                                       np.float16))
