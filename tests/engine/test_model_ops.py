"""Operations in functional graphs: Keras 3 ``keras.src.ops`` nodes (in .keras configs and,
without a ``module`` key, in legacy .h5 configs) and tf_keras ``TFOpLambda`` layers; their
shapes are inferred before any data (broadcasting and friends), falling back to the shape
Keras recorded; an impossible shape names the node."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import engine
from engine import ConfigError
from engine.models import op_shapes as S


def _t(layer: str, shape: list, node: int = 0, index: int = 0) -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": shape, "dtype": "float32", "keras_history": [layer, node,
                                                                              index]}}


def _input(name: str, shape: list) -> dict:
    return {"module": "keras.layers", "class_name": "InputLayer",
            "config": {"batch_shape": shape, "dtype": "float32", "name": name},
            "registered_name": None, "name": name, "inbound_nodes": []}


def _dense(name: str, units: int, src: dict) -> dict:
    return {"module": "keras.layers", "class_name": "Dense",
            "config": {"name": name, "units": units, "use_bias": False},
            "registered_name": None, "name": name,
            "inbound_nodes": [{"args": [src], "kwargs": {}}]}


def hard_swish_config(module: bool = True) -> dict:
    """``d = Dense(3)(x); y = d * relu6(d + 3) / 6`` as Keras 3 writes it: ``d + 3.0`` and
    ``* (1/6)`` as op nodes, then a Multiply layer."""
    op = {"class_name": "Add", "config": {"name": "add"}, "name": "add",
          "inbound_nodes": [{"args": [_t("d", [None, 3]), 3.0], "kwargs": {}}]}
    op2 = {"class_name": "Multiply", "config": {"name": "multiply"}, "name": "multiply",
           "inbound_nodes": [{"args": [_t("relu", [None, 3]), 1 / 6], "kwargs": {}}]}
    if module:
        for o in (op, op2):
            o["module"] = "keras.src.ops.numpy"
            o["registered_name"] = o["class_name"]
    relu = {"module": "keras.layers", "class_name": "ReLU",
            "config": {"name": "relu", "max_value": 6.0}, "registered_name": None,
            "name": "relu", "inbound_nodes": [{"args": [_t("add", [None, 3])], "kwargs": {}}]}
    mul = {"module": "keras.layers", "class_name": "Multiply",
           "config": {"name": "hs", "trainable": True, "dtype": "float32"},
           "registered_name": None, "name": "hs",
           "inbound_nodes": [{"args": [[_t("d", [None, 3]), _t("multiply", [None, 3])]],
                              "kwargs": {}}]}
    layers = [_input("x", [None, 4]), _dense("d", 3, _t("x", [None, 4])), op, relu, op2, mul,
              _dense("out", 2, _t("hs", [None, 3]))]
    return {"module": "keras", "class_name": "Functional",
            "config": {"name": "m", "trainable": True, "layers": layers,
                       "input_layers": [["x", 0, 0]], "output_layers": [["out", 0, 0]]}}


def _ops(model) -> dict:
    """name -> module of the model's operation nodes (not layers), from its config."""
    return {e["name"]: e["module"] for e in model.get_config("keras3")["layers"]
            if e["module"].startswith("keras.src.ops")}


def _expected(model, x):
    d = x @ model.get_layer("d").get_weights()[0]
    hs = d * np.clip(d + 3.0, 0, 6) / 6.0
    return hs @ model.get_layer("out").get_weights()[0]


@pytest.mark.parametrize("module", [True, False], ids=["keras", "legacy_h5"])
def test_op_nodes_shapes_inferred_and_run(module):
    model = engine.deserialize(hard_swish_config(module))
    assert _ops(model) == {"add": "keras.src.ops.numpy", "multiply": "keras.src.ops.numpy"}
    # every layer built from the inferred shapes, before any data
    assert model.get_layer("hs").built and model.get_layer("out").built
    assert model.compute_output_shape((None, 4)) == (None, 2)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype("float32")
    np.testing.assert_allclose(model(x), _expected(model, x), rtol=1e-5, atol=1e-6)


def test_legacy_layer_with_trainable_and_dtype_stays_a_layer():
    cfg = hard_swish_config(module=False)
    # the real Add merge layer, as the legacy .h5 config writes it (trainable, dtype)
    cfg["config"]["layers"].append({
        "class_name": "Add", "config": {"name": "merge", "trainable": True,
                                        "dtype": "float32"},
        "name": "merge", "inbound_nodes": [{"args": [[_t("hs", [None, 3]),
                                                      _t("d", [None, 3])]], "kwargs": {}}]})
    cfg["config"]["output_layers"] = [["merge", 0, 0]]
    model = engine.deserialize(cfg)
    assert set(_ops(model)) == {"add", "multiply"}
    assert type(model.get_layer("merge")).__name__ == "Add"
    assert model(np.ones((1, 4), "float32")).shape == (1, 3)


def test_op_shape_error_names_the_node():
    cfg = hard_swish_config()
    layers = cfg["config"]["layers"]
    layers[2]["inbound_nodes"][0]["args"] = [_t("d", [None, 3]), _t("x", [None, 4])]
    with pytest.raises(ConfigError) as e:
        engine.deserialize(cfg)
    assert e.value.path == "config.layers[2].inbound_nodes[0]"
    assert "operation 'add' (Add)" in str(e.value) and "(None, 3), (None, 4)" in str(e.value)
    assert "do not broadcast" in str(e.value)


def test_op_falls_back_to_the_recorded_shape():
    cfg = hard_swish_config()
    layers = cfg["config"]["layers"]
    # fancy indexing (d[:, [0, 1, 2]]): its shape is not inferred, the recorded one is used
    layers[2] = {"module": "keras.src.ops.numpy", "class_name": "GetItem",
                 "config": {"name": "add"}, "registered_name": "GetItem", "name": "add",
                 "inbound_nodes": [{"args": [_t("d", [None, 3]),
                                             [{"class_name": "__slice__",
                                               "config": {"start": None, "stop": None,
                                                          "step": None}},
                                              [0, 1, 2]]],
                                    "kwargs": {}}]}
    model = engine.deserialize(cfg)
    assert model.get_layer("relu").built and model.get_layer("out").built
    assert model.compute_output_shape((None, 4)) == (None, 2)
    for i in (3, 5, 6):  # nothing recorded downstream: unknown, built on first call
        node = cfg["config"]["layers"][i]["inbound_nodes"][0]["args"][0]
        for t in node if isinstance(node, list) else [node]:
            t["config"]["shape"] = None
    model = engine.deserialize(cfg)
    assert not model.get_layer("out").built
    assert model(np.ones((2, 4), "float32")).shape == (2, 2)
    assert model.get_layer("out").built


def test_unknown_class_in_a_model_hint_names_engine_load(tmp_path):
    cfg = hard_swish_config()
    cfg["config"]["layers"][3]["class_name"] = "MyRelu"
    path = tmp_path / "m.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(ConfigError) as e:
        engine.load(path)
    assert "engine.load(path, custom_objects={'MyRelu': ...})" in str(e.value)
    assert "deserialize(config" not in str(e.value)
    with pytest.raises(ConfigError) as e:
        engine.model_from_json(json.dumps(cfg))
    assert "engine.model_from_json(text, custom_objects={'MyRelu': ...})" in str(e.value)


# -- tf_keras TFOpLambda -------------------------------------------------------------------


def tf_op_config() -> dict:
    """tf_keras: ``d = Dense(3)(x); y = (d + 3.0) * d`` with TFOpLambda layers."""
    def op(name, fn, node):
        return {"class_name": "TFOpLambda", "config": {"name": name, "trainable": True,
                                                       "dtype": "float32", "function": fn},
                "name": name, "inbound_nodes": [node]}

    layers = [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4],
                                                "dtype": "float32", "name": "x"},
         "name": "x", "inbound_nodes": []},
        {"class_name": "Dense", "config": {"name": "d", "units": 3, "use_bias": False},
         "name": "d", "inbound_nodes": [[["x", 0, 0, {}]]]},
        op("tf.__operators__.add", "__operators__.add", ["d", 0, 0, {"y": 3.0, "name": None}]),
        op("tf.math.multiply", "math.multiply",
           ["tf.__operators__.add", 0, 0, {"y": ["d", 0, 0], "name": None}]),
        op("tf.math.reduce_mean", "math.reduce_mean",
           ["tf.math.multiply", 0, 0, {"axis": -1, "keepdims": True, "name": None}]),
        {"class_name": "Dense", "config": {"name": "out", "units": 2, "use_bias": False},
         "name": "out", "inbound_nodes": [[["tf.math.multiply", 0, 0, {}]]]},
    ]
    return {"class_name": "Functional",
            "config": {"name": "m", "layers": layers, "input_layers": [["x", 0, 0]],
                       "output_layers": [["out", 0, 0], ["tf.math.reduce_mean", 0, 0]]},
            "keras_version": "2.21.0", "backend": "tensorflow"}


def test_tf_op_lambda_runs_and_round_trips():
    cfg = tf_op_config()
    model = engine.deserialize(cfg)
    assert model.get_layer("out").built  # shapes inferred through the TF ops
    assert model.compute_output_shape((None, 4)) == [(None, 2), (None, 1)]
    x = np.random.default_rng(1).standard_normal((3, 4)).astype("float32")
    y, m = model(x)
    d = x @ model.get_layer("d").get_weights()[0]
    np.testing.assert_allclose(y, ((d + 3) * d) @ model.get_layer("out").get_weights()[0],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m, ((d + 3) * d).mean(-1, keepdims=True), rtol=1e-5)
    out = model.get_config("keras2")
    assert out["layers"][2]["inbound_nodes"] == [["d", 0, 0, {"y": 3.0}]]
    assert out["layers"][3]["inbound_nodes"] == [["tf.__operators__.add", 0, 0,
                                                  {"y": ["d", 0, 0]}]]
    again = engine.deserialize({"class_name": "Functional", "config": out})
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again(x)[1], m)


def test_tf_op_lambda_unsupported_function_is_named():
    cfg = tf_op_config()
    cfg["config"]["layers"][2]["config"]["function"] = "image.resize"
    with pytest.raises(ConfigError) as e:
        engine.deserialize(cfg)
    assert e.value.path == "config.layers[2].config.function"
    assert "'image.resize'" in str(e.value) and "math.multiply" in str(e.value)


def test_tf_op_lambda_bad_argument_is_named():
    cfg = copy.deepcopy(tf_op_config())
    cfg["config"]["layers"][2]["inbound_nodes"][0][3] = {"y": 3.0, "z": 3.0}
    with pytest.raises(ConfigError) as e:
        engine.deserialize(cfg)
    assert "config.layers[2].inbound_nodes[0]" in e.value.path
    assert "'z'" in str(e.value)


# -- shape rules -------------------------------------------------------------------------


def test_broadcast_rules():
    assert S.broadcast((None, 3), ()) == (None, 3)
    assert S.broadcast((None, 1, 4), (5, 1)) == (None, 5, 4)
    assert S.broadcast((None, 3), (None, 3)) == (None, 3)
    assert S.broadcast((None, 3), (2, None, 1)) == (2, None, 3)
    assert S.broadcast((None, 3), None) is None
    with pytest.raises(ValueError, match="do not broadcast"):
        S.broadcast((None, 3), (4,))


@pytest.mark.parametrize("rule,args,params,expected", [
    (S.reduce, [(None, 4, 5)], {"axis": [1, 2], "keepdims": True}, (None, 1, 1)),
    (S.reduce, [(None, 4, 5)], {"axis": -1}, (None, 4)),
    (S.reduce, [(None, 4)], {}, ()),
    (S.reshape, [(None, 4, 6)], {"newshape": [-1, 3, 8]}, (None, 3, 8)),
    (S.reshape, [(2, 4, 6)], {"newshape": [-1, 8]}, (6, 8)),
    (S.transpose, [(None, 4, 6)], {"axes": [0, 2, 1]}, (None, 6, 4)),
    (S.expand_dims, [(None, 4)], {"axis": 1}, (None, 1, 4)),
    (S.squeeze, [(None, 1, 4)], {"axis": 1}, (None, 4)),
    (S.matmul, [(None, 2, 3), (3, 5)], {}, (None, 2, 5)),
    (S.where, [(None, 3), (), (1, 3)], {}, (None, 3)),
])
def test_shape_rules(rule, args, params, expected):
    assert rule([S.Sym(a) for a in args], params) == expected


@pytest.mark.parametrize("key,expected", [
    ((slice(None), 0), (None, 6)),
    ((Ellipsis, slice(1, None)), (None, 4, 5)),
    ((slice(None), None, slice(0, 2)), (None, 1, 2, 6)),
    (1, (4, 6)),
    ([slice(None), [0, 1]], None),
])
def test_getitem_shape(key, expected):
    assert S.getitem([S.Sym((None, 4, 6)), key], {}) == expected


def test_shape_rules_many_and_errors():
    two = [[S.Sym((None, 2, 3)), S.Sym((None, 2, 5))]]
    assert S.concatenate(two, {"axis": -1}) == (None, 2, 8)
    assert S.stack([[S.Sym((None, 3)), S.Sym((None, 3))]], {"axis": 1}) == (None, 2, 3)
    with pytest.raises(ValueError, match="axis 2 differs"):
        S.concatenate(two, {"axis": 1})
    with pytest.raises(ValueError, match="inner sizes"):
        S.matmul([S.Sym((None, 3)), S.Sym((4, 5))], {})
    with pytest.raises(ValueError, match="out of range"):
        S.reduce([S.Sym((None, 3))], {"axis": 2})
    with pytest.raises(ValueError, match="out of range"):
        S.getitem([S.Sym((None, 3)), (slice(None), 5)], {})
    with pytest.raises(ValueError, match="cannot squeeze"):
        S.squeeze([S.Sym((None, 3))], {"axis": 1})
