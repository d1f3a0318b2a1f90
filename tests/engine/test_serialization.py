"""deserialize / serialize: the seed example, both formats, shorthands, defaults,
build_config, custom_objects (FORMAT.md 7.1), safety (no imports, no code, a size budget) and
a table of bad configs whose messages start with the bad field's path."""

from __future__ import annotations

import copy
import json
import sys
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import CORPUS, json_roundtrip

import engine
from engine import (
    BudgetError,
    ConfigError,
    UnsafeConfigError,
    constraints,
    initializers,
    registry,
    regularizers,
)
from engine.layers.core import Dense

# The tf.keras 2.9 `tf.keras.layers.deserialize` documentation example, verbatim.
SEED = {
    "class_name": "Dense",
    "config": {
        "name": "dense", "trainable": True, "dtype": "float32", "units": 32,
        "activation": "relu", "use_bias": True,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": None, "bias_constraint": None,
    },
}
K3_SEED = json.loads((CORPUS / "k3" / "k3_seed_dense32_relu.json").read_text())
K2_SEED = json.loads((CORPUS / "k2" / "k2_seed_dense32_relu.json").read_text())


# -- the seed example --------------------------------------------------------------------


def test_seed_example_gives_dense32_relu_with_the_seeds_config():
    seed = copy.deepcopy(SEED)
    layer = engine.deserialize(seed)
    assert seed == SEED, "deserialize must not modify its input"
    assert isinstance(layer, Dense)
    assert layer.units == 32 and layer.activation.name == "relu" and not layer.built
    got = layer.get_config("keras2")
    assert got == SEED["config"]
    assert list(got) == list(SEED["config"])
    assert engine.serialize(layer, "keras2") == SEED
    assert K2_SEED["serialized"] == SEED  # the corpus records the same dict from tf_keras


def test_seed_example_keras3_serialization_equals_what_keras3_writes():
    layer = engine.deserialize(SEED)
    layer.build(tuple(K3_SEED["serialized"]["build_config"]["input_shape"]))
    got = json_roundtrip(engine.serialize(layer, "keras3"))
    assert got == K3_SEED["serialized"]
    assert list(got) == list(K3_SEED["serialized"])
    assert list(got["config"]) == list(K3_SEED["serialized"]["config"])
    assert json_roundtrip(layer.get_config("keras3")) == K3_SEED["config"]


def test_seed_example_keras3_form_reads_back_built():
    layer = engine.deserialize(K3_SEED["serialized"])
    assert layer.built and [w.shape for w in layer.weights] == [(16, 32), (32,)]
    assert [w.path for w in layer.weights] == ["dense/kernel", "dense/bias"]
    assert json_roundtrip(engine.serialize(layer)) == K3_SEED["serialized"]
    assert engine.serialize(layer, "keras2") == SEED


def test_seed_example_outputs_equal_keras():
    for case in (K3_SEED, K2_SEED):
        fmt = case["format"]
        z = np.load(CORPUS / fmt / f"{fmt}_seed_dense32_relu.npz")
        layer = engine.deserialize(case["serialized"])
        if not layer.built:
            layer.build((None, 16))
        layer.set_weights([z["w0"], z["w1"]])
        np.testing.assert_allclose(layer(z["x0"]), z["y0"], rtol=1e-5, atol=1e-5)


def test_tf_keras_default_form_is_read_as_keras2():
    """tf_keras 2.21's default output has module/registered_name/build_config but a string
    dtype; it is a Keras 2 config: build_config is ignored, as tf_keras does."""
    cfg = K2_SEED["serialized_tf_keras_2_21_default"]
    layer = engine.deserialize(cfg)
    assert not layer.built
    assert engine.serialize(layer, "keras2") == SEED


# -- both formats in and out ---------------------------------------------------------------


def test_both_formats_in_and_out():
    k3 = engine.deserialize(K3_SEED["serialized"])
    k2 = engine.deserialize(SEED)
    for fmt in ("keras3", "keras2"):
        assert k3.get_config(fmt) == k2.get_config(fmt)
        for layer in (k3, k2):
            again = engine.deserialize(engine.serialize(layer, fmt))
            assert again.get_config(fmt) == layer.get_config(fmt)
    with pytest.raises(ValueError, match="format"):
        engine.serialize(k2, "keras4")


def test_format_aliases():
    layer = engine.deserialize(SEED)
    assert engine.serialize(layer, "k2") == engine.serialize(layer, "keras2")
    assert engine.serialize(layer, "K3") == engine.serialize(layer, "keras3")
    assert engine.serialize(layer, 3) == engine.serialize(layer, "keras3")


def test_keys_left_out_take_keras_defaults():
    layer = engine.deserialize({"class_name": "Dense", "config": {"units": 8}})
    cfg = layer.get_config("keras2")
    assert cfg["units"] == 8 and cfg["activation"] == "linear" and cfg["use_bias"] is True
    assert cfg["kernel_initializer"] == {"class_name": "GlorotUniform",
                                         "config": {"seed": None}}
    assert cfg["bias_initializer"] == {"class_name": "Zeros", "config": {}}
    assert cfg["dtype"] == "float32" and cfg["trainable"] is True
    assert cfg["name"].startswith("dense")
    k3 = layer.get_config("keras3")
    assert k3["dtype"] == {"module": "keras", "class_name": "DTypePolicy",
                           "config": {"name": "float32"}, "registered_name": None}
    assert "activity_regularizer" not in k3 and k3["quantization_config"] is None
    # and "config" left out altogether (or None) is an empty config
    with pytest.raises(ConfigError, match=r"^config.units: required"):
        engine.deserialize({"class_name": "Dense"})
    assert engine.deserialize({"class_name": "Flatten", "config": None}).get_config(
        "keras2")["data_format"] == "channels_last" if registry.lookup(
        "layer", "Flatten") else True


SHORTHANDS = [
    ("kernel_initializer", "he_normal", lambda v: isinstance(v, initializers.HeNormal)),
    ("kernel_initializer", "Orthogonal", lambda v: isinstance(v, initializers.Orthogonal)),
    ("bias_initializer", "ones", lambda v: isinstance(v, initializers.Ones)),
    ("kernel_regularizer", "l2", lambda v: isinstance(v, regularizers.L2) and v.l2 == 0.01),
    ("kernel_regularizer", "L1L2", lambda v: isinstance(v, regularizers.L1L2)),
    ("activity_regularizer", "l1", lambda v: isinstance(v, regularizers.L1)),
    ("kernel_constraint", "max_norm", lambda v: isinstance(v, constraints.MaxNorm)),
    ("bias_constraint", "NonNeg", lambda v: isinstance(v, constraints.NonNeg)),
    ("activation", "gelu", lambda v: v.name == "gelu"),
    ("dtype", "float64", lambda v: v.name == "float64"),
    ("dtype", "mixed_float16", lambda v: (v.compute_dtype, v.variable_dtype) == (
        "float16", "float32")),
]


@pytest.mark.parametrize("key,short,check", SHORTHANDS, ids=[f"{k}={s}" for k, s, _ in
                                                               SHORTHANDS])
def test_string_shorthands(key, short, check):
    for extra in ({}, {"module": "keras.layers"}):
        layer = engine.deserialize({"class_name": "Dense", "config": {"units": 2, key: short},
                                    **extra})
        assert check(layer._values[key])
        # written in full form, read back the same
        for fmt in ("keras3", "keras2"):
            again = engine.deserialize(engine.serialize(layer, fmt))
            assert again.get_config(fmt) == layer.get_config(fmt)


def test_dtype_forms():
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"},
              "registered_name": None}
    mixed_k2 = {"class_name": "Policy", "config": {"name": "mixed_float16"}}
    for dtype, k3, k2 in [("float64", policy, "float64"), (policy, policy, "float64"),
                          (mixed_k2, {**policy, "config": {"name": "mixed_float16"}}, mixed_k2)]:
        layer = engine.deserialize({"class_name": "Dense", "config": {"units": 2,
                                                                      "dtype": dtype}})
        assert layer.get_config("keras3")["dtype"] == k3
        assert layer.get_config("keras2")["dtype"] == k2


def test_build_config_builds_keras3_and_is_ignored_for_keras2():
    k3 = engine.deserialize({"module": "keras.layers", "class_name": "Dense",
                             "config": {"units": 3}, "registered_name": None,
                             "build_config": {"input_shape": [None, 5]}})
    assert k3.built and k3.kernel.shape == (5, 3)
    assert engine.serialize(k3)["build_config"] == {"input_shape": [None, 5]}
    k2 = engine.deserialize({"class_name": "Dense", "config": {"units": 3, "dtype": "float32"},
                             "build_config": {"input_shape": [None, 5]}})
    assert not k2.built
    unbuilt = engine.deserialize({"module": "keras.layers", "class_name": "Dense",
                                  "config": {"units": 3}, "build_config": {"input_shape": None}})
    assert not unbuilt.built and "build_config" not in engine.serialize(unbuilt)


def test_input_shape_keys():
    layer = engine.deserialize({"class_name": "Dense", "config": {"units": 3,
                                                                  "input_shape": [4]}})
    assert layer.get_config("keras2")["batch_input_shape"] == [None, 4]
    assert "batch_input_shape" not in layer.get_config("keras3")


def test_deserialize_does_not_share_state_between_calls():
    a = engine.deserialize(SEED)
    b = engine.deserialize(SEED)
    assert a is not b and a.kernel_initializer is not b.kernel_initializer
    a.build((None, 4))
    assert not b.built


# -- custom_objects (FORMAT.md 7.1) -------------------------------------------------------


class MyDense(Dense):
    """A user's subclass: found through custom_objects only."""


class PlainThing:
    """Not an engine Layer, no from_config: created as cls(**config)."""

    def __init__(self, units, name=None):
        self.units, self.name = units, name


class WithFromConfig:
    def __init__(self, **kw):
        self.kw, self.via = kw, "init"

    @classmethod
    def from_config(cls, config):
        obj = cls(**config)
        obj.via = "from_config"
        return obj

    def get_config(self):
        return dict(self.kw)


class ConstantInit:
    def __init__(self, k=1.0):
        self.k = k

    def __call__(self, shape, dtype="float32"):
        return np.full(shape, self.k, dtype=dtype)

    def get_config(self):
        return {"k": self.k}


def test_a_users_subclass_is_not_registered_globally():
    assert registry.lookup("layer", "MyDense") is None
    with pytest.raises(ConfigError, match="custom_objects"):
        engine.deserialize({"class_name": "MyDense", "config": {"units": 2}})
    layer = engine.deserialize({"class_name": "MyDense", "config": {"units": 2}},
                               custom_objects={"MyDense": MyDense})
    assert type(layer) is MyDense
    ser = engine.serialize(layer, "keras3")
    assert ser["module"] == __name__ and ser["registered_name"] == "MyDense"
    assert engine.serialize(layer, "keras2")["class_name"] == "MyDense"
    again = engine.deserialize(ser, custom_objects={"MyDense": MyDense})
    assert type(again) is MyDense
    assert again.get_config("keras3") == layer.get_config("keras3")


def test_registered_name_none_keeps_the_builtin():
    cfg = {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2},
           "registered_name": None}
    assert type(engine.deserialize(cfg, custom_objects={"Dense": MyDense})) is Dense


def test_registered_name_absent_lets_custom_objects_override_a_builtin_name():
    for cfg in ({"module": "keras.layers", "class_name": "Dense", "config": {"units": 2}},
                {"class_name": "Dense", "config": {"units": 2}}):
        assert type(engine.deserialize(cfg, custom_objects={"Dense": MyDense})) is MyDense
    assert type(engine.deserialize({"class_name": "Dense", "config": {"units": 2}})) is Dense


def test_registered_name_package_form():
    cfg = {"module": None, "class_name": "MyDense", "config": {"units": 2},
           "registered_name": "pkg>MyDense"}
    for key in ("pkg>MyDense", "MyDense"):
        assert type(engine.deserialize(cfg, custom_objects={key: MyDense})) is MyDense


def test_custom_classes_that_are_not_engine_layers():
    obj = engine.deserialize({"class_name": "PlainThing", "config": {"units": 2, "name": "p"}},
                             custom_objects={"PlainThing": PlainThing})
    assert isinstance(obj, PlainThing) and (obj.units, obj.name) == (2, "p")
    with pytest.raises(ConfigError) as info:
        engine.deserialize({"class_name": "PlainThing", "config": {"units": 2, "foo": 1}},
                           custom_objects={"PlainThing": PlainThing})
    assert str(info.value).startswith("config: PlainThing could not be created")
    obj = engine.deserialize({"class_name": "WithFromConfig", "config": {"a": 1}},
                             custom_objects={"WithFromConfig": WithFromConfig})
    assert obj.via == "from_config" and obj.kw == {"a": 1}
    assert engine.serialize(obj, "keras2") == {"class_name": "WithFromConfig",
                                               "config": {"a": 1}}
    assert engine.serialize(obj) == {"module": __name__, "class_name": "WithFromConfig",
                                     "config": {"a": 1}, "registered_name": "WithFromConfig"}


def test_custom_initializer_by_dict_and_by_name():
    co = {"ConstantInit": ConstantInit}
    cfg = {"module": "keras.layers", "class_name": "Dense", "config": {
        "units": 2, "kernel_initializer": {"class_name": "ConstantInit", "config": {"k": 3.0}}},
        "build_config": {"input_shape": [None, 2]}}
    layer = engine.deserialize(cfg, custom_objects=co)
    np.testing.assert_array_equal(layer.get_weights()[0], np.full((2, 2), 3.0))
    assert engine.serialize(layer)["config"]["kernel_initializer"]["config"] == {"k": 3.0}
    by_name = engine.deserialize({"class_name": "Dense", "config": {
        "units": 2, "kernel_initializer": "ConstantInit"}}, custom_objects=co)
    assert isinstance(by_name.kernel_initializer, ConstantInit)


def test_custom_object_scope():
    with engine.custom_object_scope({"MyDense": MyDense}):
        assert type(engine.deserialize({"class_name": "MyDense",
                                        "config": {"units": 2}})) is MyDense
    with pytest.raises(ConfigError):
        engine.deserialize({"class_name": "MyDense", "config": {"units": 2}})


# -- safety: no imports, no code, a budget --------------------------------------------------

EVIL_MODULE = """
import pathlib
pathlib.Path(__file__).with_name("IMPORTED").write_text("the module ran")
class Evil:
    def __init__(self, **kw):
        pathlib.Path(__file__).with_name("CREATED").write_text("an object was made")
"""


@pytest.mark.parametrize("module,class_name", [
    ("layerlab_evil_probe", "Evil"), ("os", "system"), ("subprocess", "Popen"),
    ("keras.layers", "Evil"), ("builtins", "eval"), ("layerlab_evil_probe.sub", "Evil"),
])
def test_module_in_a_config_is_never_imported(tmp_path, monkeypatch, module, class_name):
    (tmp_path / "layerlab_evil_probe.py").write_text(EVIL_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    cfg = {"module": module, "class_name": class_name, "registered_name": None,
           "config": {"command": "touch pwned", "args": ["touch", str(tmp_path / "RAN")]}}
    with pytest.raises(ConfigError) as info:
        engine.deserialize(cfg)
    assert str(info.value).startswith("class_name: ")
    assert "unknown layer" in str(info.value) and "custom_objects" in str(info.value)
    assert set(sys.modules) - before == set(), "a module was imported"
    assert not any(p.name in ("IMPORTED", "CREATED", "RAN") for p in tmp_path.iterdir())
    # the same as a nested object
    for kind_key in ("kernel_initializer", "kernel_regularizer", "activation"):
        nested = {"class_name": "Dense", "config": {"units": 2, kind_key: {
            "module": module, "class_name": class_name, "config": {}}}}
        with pytest.raises(ConfigError):
            engine.deserialize(nested)
    assert set(sys.modules) - before == set()


K3_LAMBDA = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
             "config": {"name": "lambda", "trainable": True, "dtype": "float32",
                        "function": {"class_name": "__lambda__", "config": {
                            "code": "4wEAAAAAAAAAAAAAAAIAAAATAAAA8wwAAACXAHwAZAF6BQAAUwA=",
                            "defaults": None, "closure": None}}, "arguments": {}}}
K2_LAMBDA = {"class_name": "Lambda", "config": {
    "name": "lambda", "trainable": True, "dtype": "float32",
    "function": ["4wEAAAAAAAAAAAAAAAIAAAATAAAA8wwAAACXAHwAZAF6BQAAUwA=", None, None],
    "function_type": "lambda", "module": "__main__", "output_shape": None,
    "output_shape_type": "raw", "output_shape_module": None, "arguments": {}}}


@pytest.mark.parametrize("cfg", [K3_LAMBDA, K2_LAMBDA], ids=["k3", "k2"])
def test_lambda_bytecode_is_refused(cfg, monkeypatch):
    import base64
    import marshal

    called = []
    monkeypatch.setattr(marshal, "loads", lambda *a, **k: called.append("marshal"))
    monkeypatch.setattr(base64, "b64decode", lambda *a, **k: called.append("b64"))
    with pytest.raises(UnsafeConfigError) as info:
        engine.deserialize(cfg)
    msg = str(info.value)
    assert msg.startswith("config")
    assert "never runs code" in msg and "custom_objects" in msg
    assert called == []
    assert isinstance(info.value, ConfigError)  # one except clause catches every config error


def test_budget_refuses_before_allocation():
    cfg = {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2**20},
           "build_config": {"input_shape": [None, 2**12]}}
    tracemalloc.start()
    try:
        with pytest.raises(BudgetError) as info:
            engine.deserialize(cfg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20, f"peak {peak} bytes: something was allocated"
    msg = str(info.value)
    assert msg.startswith("config: ")
    assert "4,296,015,872" in msg and "max_weight_elements" in msg
    # also when built by hand
    layer = engine.deserialize({"class_name": "Dense", "config": {"units": 2**20}})
    with pytest.raises(BudgetError):
        layer.build((None, 2**12))
    assert not layer.built and layer.weights == []


def test_budget_keyword():
    cfg = {"module": "keras.layers", "class_name": "Dense", "config": {"units": 10},
           "build_config": {"input_shape": [None, 10]}}
    with pytest.raises(BudgetError, match="over the budget of 50"):
        engine.deserialize(cfg, max_weight_elements=50)
    assert engine.deserialize(cfg, max_weight_elements=110).built
    with pytest.raises(BudgetError):
        engine.deserialize(cfg, max_weight_elements=109)
    assert engine.deserialize(cfg).built  # the default budget is back
    for bad in (0, -1, 1.5, "10", True):
        with pytest.raises(ValueError, match="max_weight_elements"):
            engine.deserialize(cfg, max_weight_elements=bad)
    assert engine.DEFAULT_MAX_WEIGHT_ELEMENTS == 2**28


# -- the table of bad configs --------------------------------------------------------------


def _d(inner: dict, **top) -> dict:
    return {"class_name": "Dense", "config": {"units": 3, **inner}, **top}


BAD = [
    # (id, config, error type, message prefix)
    ("units-str", _d({"units": "3"}), ConfigError,
     "config.units: expected a positive int, got the str '3'"),
    ("units-bool", _d({"units": True}), ConfigError,
     "config.units: expected a positive int, got the bool True"),
    ("units-float", _d({"units": 3.5}), ConfigError, "config.units: expected a positive int"),
    ("units-zero", _d({"units": 0}), ConfigError, "config.units: must be >= 1, got 0"),
    ("units-negative", _d({"units": -3}), ConfigError, "config.units: must be >= 1, got -3"),
    ("units-nan", _d({"units": float("nan")}), ConfigError, "config.units: "),
    ("units-missing", {"class_name": "Dense", "config": {}}, ConfigError,
     "config.units: required for Dense"),
    ("use_bias-int", _d({"use_bias": 1}), ConfigError,
     "config.use_bias: expected a bool (true or false), got the int 1"),
    ("trainable-str", _d({"trainable": "yes"}), ConfigError, "config.trainable: "),
    ("name-int", _d({"name": 5}), ConfigError, "config.name: expected a string"),
    ("dtype-unknown", _d({"dtype": "float8"}), ConfigError, "config.dtype: expected one of"),
    ("dtype-bfloat16", _d({"dtype": "bfloat16"}), ConfigError, "config.dtype: "),
    ("scale-negative", _d({"kernel_initializer": {"class_name": "VarianceScaling",
                                                  "config": {"scale": -1}}}), ConfigError,
     "config.kernel_initializer.config.scale: must be > 0, got -1.0"),
    ("mode-bad", _d({"kernel_initializer": {"class_name": "VarianceScaling",
                                            "config": {"mode": "fan_sideways"}}}),
     ConfigError, "config.kernel_initializer.config.mode: expected one of"),
    ("initializer-unknown", _d({"kernel_initializer": "xavier"}), ConfigError,
     "config.kernel_initializer: unknown initializer 'xavier'"),
    ("initializer-wrong-kind", _d({"kernel_initializer": {"class_name": "L2", "config": {}}}),
     ConfigError, "config.kernel_initializer.class_name: 'L2' is a regularizer, but an "
                  "initializer is expected here"),
    ("initializer-int", _d({"kernel_initializer": 5}), ConfigError,
     "config.kernel_initializer: expected an initializer name or config dict, got the int 5"),
    ("initializer-no-class", _d({"kernel_initializer": {"config": {}}}), ConfigError,
     "config.kernel_initializer.class_name: missing"),
    ("initializer-config-list", _d({"kernel_initializer": {"class_name": "Zeros",
                                                           "config": [1]}}),
     ConfigError, "config.kernel_initializer.config: expected a dict of settings"),
    ("regularizer-str-factor", _d({"kernel_regularizer": {"class_name": "L1L2",
                                                          "config": {"l1": "x"}}}),
     ConfigError, "config.kernel_regularizer.config.l1: expected a number, got the str 'x'"),
    ("constraint-unknown-key", _d({"kernel_constraint": {"class_name": "MaxNorm",
                                                         "config": {"max_val": 2}}}),
     ConfigError, "config.kernel_constraint.config.max_val: unknown key for MaxNorm; did you "
                  "mean 'max_value'?"),
    ("activation-unknown", _d({"activation": "rleu"}), ConfigError,
     "config.activation: unknown activation 'rleu'. Close names: relu"),
    ("unknown-key", _d({"use_bais": True}), ConfigError,
     "config.use_bais: unknown key for Dense; did you mean 'use_bias'?"),
    ("unknown-key-far", _d({"zzz": 1}), ConfigError, "config.zzz: unknown key for Dense"),
    ("unknown-class", {"class_name": "Dence", "config": {}}, ConfigError,
     "class_name: unknown layer 'Dence'. Close names: Dense"),
    ("unknown-class-keras-module", {"module": "keras.layers", "class_name": "Blah",
                                    "config": {}, "registered_name": None}, ConfigError,
     "class_name: keras.layers.Blah is not supported by layerlab"),
    ("class-name-int", {"class_name": 3, "config": {}}, ConfigError,
     "class_name: expected a class name string, got the int 3"),
    ("missing-class-name", {"config": {"units": 3}}, ConfigError, "class_name: missing"),
    ("config-not-dict", {"class_name": "Dense", "config": [1, 2]}, ConfigError,
     "config: expected a dict of settings, got the list [1, 2]"),
    ("not-a-dict", "Dense", ConfigError, "config: expected a dict with 'class_name'"),
    ("list", [SEED], ConfigError, "config: expected a dict with 'class_name'"),
    ("top-level-unknown", _d({}, foo=1), ConfigError, "foo: unknown top-level key"),
    ("lambda-k3", K3_LAMBDA, UnsafeConfigError, "config: this config holds a Python lambda"),
    ("lambda-k2", K2_LAMBDA, UnsafeConfigError, "config: this config holds a Python lambda"),
    ("budget", {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2**20},
                "build_config": {"input_shape": [None, 2**12]}}, BudgetError,
     "config: Dense 'dense"),
    ("build-config-bad-shape", {"module": "keras.layers", "class_name": "Dense",
                                "config": {"units": 2}, "build_config": {"input_shape": "x"}},
     ConfigError, "build_config.input_shape: expected a shape"),
    ("build-config-not-dict", {"module": "keras.layers", "class_name": "Dense",
                               "config": {"units": 2}, "build_config": [None, 3]},
     ConfigError, "build_config: expected {'input_shape': [...]}"),
    ("quantized", {"module": "keras.layers", "class_name": "Dense",
                   "config": {"units": 2, "quantization_config": {"mode": "int8"}}},
     ConfigError, "config.quantization_config: quantized layers are not supported"),
    ("nested-deep", _d({"kernel_regularizer": {"class_name": "L1L2", "config": {
        "l1": 0.1, "l2": [1]}}}), ConfigError,
     "config.kernel_regularizer.config.l2: expected a number, got the list [1]"),
]


@pytest.mark.parametrize("cfg,err,prefix", [pytest.param(c, e, p, id=i) for i, c, e, p in BAD])
def test_bad_configs(cfg, err, prefix):
    with pytest.raises(err) as info:
        engine.deserialize(cfg)
    assert type(info.value) is err
    msg = str(info.value)
    assert msg.startswith(prefix), msg
    assert isinstance(info.value, ValueError)  # ConfigError is a ValueError, as in Keras
    assert info.value.path == prefix.split(": ", 1)[0]
    assert len(msg) < 1200


def test_unknown_class_message_has_close_names_and_the_custom_objects_hint():
    with pytest.raises(ConfigError) as info:
        engine.deserialize({"class_name": "Desne", "config": {"units": 3}})
    msg = str(info.value)
    assert "Close names: Dense" in msg
    assert "custom_objects={'Desne': ...}" in msg


HUGE = list(range(10_000))


@pytest.mark.parametrize("cfg", [
    _d({"units": HUGE}),
    _d({"name": HUGE}),
    _d({"kernel_initializer": {"class_name": "Constant", "config": {"value": HUGE}}}),
    {"class_name": "Dense" * 3000, "config": {}},
    _d({"x" * 10_000: 1}),
    _d({"dtype": "f" * 10_000}),
    {"class_name": "Dense", "config": HUGE},
    {"module": "m" * 10_000, "class_name": "Nope", "config": {}},
    {"module": "keras.layers", "class_name": "N" * 10_000, "config": {}},
    {"config": {"units": 1}, "k" * 10_000: 1},
    _d({"activation": "a" * 10_000}),
    _d({"kernel_initializer": "i" * 10_000}),
], ids=["units", "name", "constant", "class_name", "key", "dtype", "config", "module",
        "keras-class", "top-key", "activation", "initializer"])
def test_messages_quote_only_a_short_excerpt_of_huge_inputs(cfg):
    with pytest.raises(ConfigError) as info:
        engine.deserialize(cfg)
    assert len(str(info.value)) < 800, str(info.value)[:2000]


def test_deserialize_passes_through_a_layer():
    layer = engine.deserialize(SEED)
    assert engine.deserialize(layer) is layer


# -- property: round trips in both formats --------------------------------------------------

FLOATS = st.floats(min_value=1e-6, max_value=10.0, allow_nan=False, allow_infinity=False)
SEEDS = st.one_of(st.none(), st.integers(min_value=0, max_value=2**31 - 1))


def _initializer():
    vs = st.fixed_dictionaries({"scale": FLOATS, "mode": st.sampled_from(
        ["fan_in", "fan_out", "fan_avg"]), "distribution": st.sampled_from(
        ["truncated_normal", "untruncated_normal", "uniform", "normal"]), "seed": SEEDS})
    dicts = st.one_of(
        st.builds(lambda c: {"class_name": c, "config": {}}, st.sampled_from(
            ["Zeros", "Ones", "Identity"])),
        st.builds(lambda v: {"class_name": "Constant", "config": {"value": v}},
                  st.floats(-5, 5, allow_nan=False)),
        st.builds(lambda m, s, seed, c: {"class_name": c, "config": {
            "mean": m, "stddev": s, "seed": seed}}, st.floats(-2, 2, allow_nan=False),
            FLOATS, SEEDS, st.sampled_from(["RandomNormal", "TruncatedNormal"])),
        st.builds(lambda lo, w, seed: {"class_name": "RandomUniform", "config": {
            "minval": lo, "maxval": lo + w, "seed": seed}}, st.floats(-2, 2, allow_nan=False),
            FLOATS, SEEDS),
        st.builds(lambda c: {"class_name": "VarianceScaling", "config": c}, vs),
        st.builds(lambda c, seed: {"class_name": c, "config": {"seed": seed}},
                  st.sampled_from(["GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal",
                                   "LecunUniform", "LecunNormal"]), SEEDS),
        st.builds(lambda g, seed: {"class_name": "Orthogonal", "config": {
            "gain": g, "seed": seed}}, FLOATS, SEEDS),
    )
    names = st.sampled_from(["glorot_uniform", "he_normal", "zeros", "ones", "orthogonal",
                             "random_normal", "uniform", "lecun_uniform", "identity"])
    return st.one_of(dicts, names)


def _regularizer():
    return st.one_of(
        st.none(), st.sampled_from(["l1", "l2", "L1L2"]),
        st.builds(lambda v: {"class_name": "L1", "config": {"l1": v}}, FLOATS),
        st.builds(lambda v: {"class_name": "L2", "config": {"l2": v}}, FLOATS),
        st.builds(lambda a, b: {"class_name": "L1L2", "config": {"l1": a, "l2": b}},
                  FLOATS, FLOATS),
        st.builds(lambda f, m: {"class_name": "OrthogonalRegularizer", "config": {
            "factor": f, "mode": m}}, FLOATS, st.sampled_from(["rows", "columns"])),
    )


def _constraint():
    return st.one_of(
        st.none(), st.sampled_from(["max_norm", "non_neg", "unit_norm", "min_max_norm"]),
        st.builds(lambda v, a: {"class_name": "MaxNorm", "config": {"max_value": v,
                                                                    "axis": a}},
                  FLOATS, st.sampled_from([0, 1, -1, [0, 1]])),
        st.builds(lambda lo, w, r: {"class_name": "MinMaxNorm", "config": {
            "min_value": lo, "max_value": lo + w, "rate": r, "axis": 0}}, FLOATS, FLOATS,
            st.floats(0, 1, allow_nan=False)),
    )


DENSE = st.fixed_dictionaries(
    {"units": st.integers(1, 64)},
    optional={
        "name": st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True),
        "trainable": st.booleans(),
        "dtype": st.sampled_from(["float32", "float64", "mixed_float16"]),
        "activation": st.one_of(st.none(), st.sampled_from(
            ["relu", "tanh", "sigmoid", "softmax", "gelu", "selu", "swish", "silu", "elu",
             "linear", "softplus", "exponential", "leaky_relu", "relu6", "mish"])),
        "use_bias": st.booleans(),
        "kernel_initializer": _initializer(),
        "bias_initializer": _initializer(),
        "kernel_regularizer": _regularizer(),
        "bias_regularizer": _regularizer(),
        "activity_regularizer": _regularizer(),
        "kernel_constraint": _constraint(),
        "bias_constraint": _constraint(),
    })


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=DENSE, with_module=st.booleans())
def test_property_dense_configs_round_trip_in_both_formats(config, with_module):
    cfg = {"class_name": "Dense", "config": config}
    if with_module:
        cfg["module"] = "keras.layers"
    layer = engine.deserialize(cfg)
    for fmt in ("keras3", "keras2"):
        once = json_roundtrip(engine.serialize(layer, fmt))
        again = engine.deserialize(once)
        twice = json_roundtrip(engine.serialize(again, fmt))
        assert twice == once
        assert list(twice["config"]) == list(once["config"])
        # and the other format from the re-read layer agrees as well
        other = "keras2" if fmt == "keras3" else "keras3"
        assert json_roundtrip(engine.serialize(again, other))["config"].keys() == \
            json_roundtrip(engine.serialize(layer, other))["config"].keys()


@settings(max_examples=150, deadline=None)
@given(init=_initializer(), fmt=st.sampled_from(["keras3", "keras2"]))
def test_property_initializer_configs_round_trip(init, fmt):
    obj = engine.get_object("initializer", init, "init", fmt)
    once = json_roundtrip(engine.serialize(obj, fmt))
    again = engine.get_object("initializer", once, "init", fmt)
    assert json_roundtrip(engine.serialize(again, fmt)) == once
    assert again.theory((4, 3)) == obj.theory((4, 3))
    if getattr(obj, "seed", None) is not None:
        np.testing.assert_array_equal(again((4, 3)), obj((4, 3)))


# -- objects made in Python ------------------------------------------------------------------


def test_python_objects_are_taken_where_keras_takes_them():
    layer = Dense(3, kernel_initializer=initializers.HeNormal(seed=1),
                  kernel_regularizer=regularizers.L2(0.1), kernel_constraint=constraints.NonNeg(),
                  activation=engine.activations.get("tanh"))
    layer.build((None, 2))
    assert layer.get_config("keras2")["kernel_initializer"] == {"class_name": "HeNormal",
                                                                "config": {"seed": 1}}
    assert len(layer.losses) == 1
    # the caller's own function as an initializer (serializing it then needs get_config)
    ones = Dense(3, kernel_initializer=lambda shape, dtype=None: np.ones(shape))
    ones.build((None, 2))
    np.testing.assert_array_equal(ones.get_weights()[0], np.ones((2, 3)))
    with pytest.raises(TypeError, match="get_config"):
        engine.serialize(ones)


def test_an_object_of_the_wrong_kind_is_refused():
    with pytest.raises(ConfigError) as info:
        Dense(3, kernel_initializer=regularizers.L2())
    msg = str(info.value)
    assert msg.startswith("kernel_initializer: ")
    assert "is a regularizer, but an initializer is expected here" in msg
    with pytest.raises(ConfigError, match=r"^kernel_initializer: expected an initializer"):
        Dense(3, kernel_initializer=Dense)  # a class, not an initializer


def test_excerpt_of_a_huge_list_does_not_render_it_all():
    import time

    from engine.errors import describe

    big = list(range(3_000_000))  # its full repr takes ~0.2 s; the excerpt ~50 us
    t0 = time.perf_counter()
    text = describe(big)
    assert time.perf_counter() - t0 < 0.1
    assert text.startswith("the list [0, 1, 2") and len(text) < 80


def _tf_keras_default_cases():
    from oracle import all_cases, implemented

    return [pytest.param(c, id=c.id) for c in all_cases()
            if c.fmt == "k2" and "serialized_tf_keras_2_21_default" in c.meta
            and implemented(c.class_name)]


@pytest.mark.parametrize("case", _tf_keras_default_cases())
def test_tf_keras_2_21_default_form_reads_as_keras2(case):
    """tf_keras >= 2.13 writes module/registered_name/build_config around a Keras 2 config;
    it reads as Keras 2 (string dtype, K2 meanings) and writes back the 2.9 config."""
    layer = engine.deserialize(case.meta["serialized_tf_keras_2_21_default"])
    got = json_roundtrip(layer.get_config("keras2"))
    assert got == case.meta["config"]
    assert list(got) == list(case.meta["config"])


def test_string_dtype_with_keras3_only_keys_reads_as_keras3():
    cfg = {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
           "config": {"units": 3, "dtype": "float32", "activation": "hard_sigmoid",
                      "quantization_config": None},
           "build_config": {"input_shape": [None, 4]}}
    layer = engine.deserialize(cfg)
    assert layer.built  # Keras 3 builds from build_config
    np.testing.assert_allclose(layer.activation(np.array([3.0])), [1.0])  # x/6 + 1/2
    del cfg["config"]["quantization_config"]  # now it could be tf_keras's default form
    layer = engine.deserialize(cfg)
    assert not layer.built
    np.testing.assert_allclose(layer.activation(np.array([2.0])), [0.9])  # 0.2x + 1/2


def test_get_config_gives_back_the_form_it_was_read_in():
    """The tf.keras 2.9 page's promise: deserialize(config).get_config() is the same dict
    (every default filled in); an explicit format still converts."""
    layer = engine.deserialize(SEED)
    assert layer.source_format == "keras2"
    assert layer.get_config() == SEED["config"]
    assert engine.serialize(layer) == SEED
    assert layer.get_config("keras3")["dtype"]["class_name"] == "DTypePolicy"
    k3 = engine.deserialize(K3_SEED["serialized"])
    assert k3.source_format == "keras3"
    assert json_roundtrip(engine.serialize(k3)) == K3_SEED["serialized"]
    assert engine.serialize(k3, "keras2") == SEED | {"config": {**SEED["config"],
                                                               "name": k3.name}}
    made = engine.lookup("layer", "Dense")(units=3)
    assert made.source_format == "keras3" and "module" in engine.serialize(made)


def test_a_config_sharing_one_dict_many_times_is_checked_in_bounded_time():
    """Python code can build a config whose dicts are shared (a 'diamond ladder': 2**40
    paths through 40 dicts); the depth check visits each dict once per depth budget."""
    import time

    from engine.serialization import check_depth

    x: object = [1]
    for _ in range(40):
        x = {"a": x, "b": x}
    start = time.process_time()
    check_depth({"k": x})
    assert time.process_time() - start < 1.0
