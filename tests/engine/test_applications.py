"""The layer classes keras.applications defines for its own models (LayerScale,
StochasticDepth, CustomScaleLayer) as built-ins, in Keras 3 and tf_keras configs; weight
errors of a file list only the layers that have weights. (Whole applications models from
real Keras: test_real_models.py.)"""

from __future__ import annotations

import io
import json
import zipfile

import h5py
import numpy as np
import pytest

import engine
from engine import ConfigError
from engine.errors import WeightsError

K3_CONVNEXT = "keras.src.applications.convnext"


def _k3(cls: str, module: str, **cfg) -> dict:
    return {"module": module, "class_name": cls,
            "config": {"name": cfg.pop("name", cls.lower()), "trainable": True,
                       "dtype": {"module": "keras", "class_name": "DTypePolicy",
                                 "config": {"name": "float32"}, "registered_name": None},
                       **cfg},
            "registered_name": cls}


def test_layer_scale_keras3_config():
    layer = engine.deserialize(_k3("LayerScale", K3_CONVNEXT, init_values=1e-6,
                                   projection_dim=4))
    layer.build((None, 2, 4))
    np.testing.assert_array_equal(layer.get_weights()[0], np.full(4, 1e-6, "float32"))
    gamma = np.arange(1, 5, dtype="float32")
    layer.set_weights([gamma])
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype("float32")
    np.testing.assert_array_equal(layer(x), x * gamma)
    out = engine.serialize(layer, "keras3")
    assert out["module"] == K3_CONVNEXT and out["class_name"] == "LayerScale"
    assert {k: out["config"][k] for k in ("init_values", "projection_dim")} == \
        {"init_values": 1e-6, "projection_dim": 4}


def test_layer_scale_tf_keras_config_and_bad_values():
    cfg = {"class_name": "LayerScale", "config": {"name": "s", "trainable": True,
                                                  "dtype": "float32", "init_values": 0.5,
                                                  "projection_dim": 3}}
    layer = engine.deserialize(cfg)
    assert layer.get_config()["projection_dim"] == 3
    with pytest.raises(ValueError, match="projection_dim is 3, the input has 5"):
        layer.build((None, 5))
    bad = json.loads(json.dumps(cfg))
    bad["config"]["projection_dim"] = 0
    with pytest.raises(ConfigError) as e:
        engine.deserialize(bad)
    assert e.value.path == "config.projection_dim"
    bad["config"]["projection_dim"] = 3
    del bad["config"]["init_values"]
    with pytest.raises(ConfigError, match="init_values"):
        engine.deserialize(bad)


def test_stochastic_depth_identity_at_inference_drops_paths_in_training():
    layer = engine.deserialize(_k3("StochasticDepth", K3_CONVNEXT, drop_path_rate=0.5))
    x = np.ones((64, 3, 2), "float32")
    np.testing.assert_array_equal(layer(x), x)
    y = layer(x, training=True)
    per_sample = {float(v) for v in np.unique(y.reshape(64, -1), axis=0).ravel()}
    assert per_sample <= {0.0, 2.0} and len(per_sample) == 2  # whole samples dropped
    with pytest.raises(ConfigError, match="drop_path_rate"):
        engine.deserialize(_k3("StochasticDepth", K3_CONVNEXT, drop_path_rate=1.5))


def _scale_model(registered: str | None) -> dict:
    """tf_keras: x + CustomScaleLayer(0.17)([x, Dense(x)])."""
    layer = {"class_name": "CustomScaleLayer",
             "config": {"name": "scale", "trainable": True, "dtype": "float32",
                        "scale": 0.17},
             "name": "scale", "inbound_nodes": [[["x", 0, 0, {}], ["d", 0, 0, {}]]]}
    if registered:
        layer["module"] = "tf_keras.src.applications.inception_resnet_v2"
        layer["registered_name"] = registered
    layers = [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 3],
                                                "dtype": "float32", "name": "x"},
         "name": "x", "inbound_nodes": []},
        {"class_name": "Dense", "config": {"name": "d", "units": 3}, "name": "d",
         "inbound_nodes": [[["x", 0, 0, {}]]]},
        layer,
    ]
    return {"class_name": "Functional",
            "config": {"name": "m", "layers": layers, "input_layers": [["x", 0, 0]],
                       "output_layers": [["scale", 0, 0]]}}


@pytest.mark.parametrize("registered", [None, "Custom>CustomScaleLayer"])
def test_custom_scale_layer_in_a_model(registered):
    model = engine.deserialize(_scale_model(registered))
    x = np.random.default_rng(2).standard_normal((4, 3)).astype("float32")
    w, b = model.get_layer("d").get_weights()
    np.testing.assert_allclose(model(x), x + (x @ w + b) * np.float32(0.17), rtol=1e-6)
    assert model.compute_output_shape((None, 3)) == (None, 3)


def test_custom_scale_layer_legacy_class_name():
    # tf_keras's legacy .h5 / to_json writes the registered name as the class name
    cfg = _scale_model(None)
    cfg["config"]["layers"][2]["class_name"] = "Custom>CustomScaleLayer"
    model = engine.deserialize(cfg)
    assert type(model.get_layer("scale")).__name__ == "CustomScaleLayer"


def test_custom_scale_layer_other_registered_name_still_needs_custom_objects():
    with pytest.raises(ConfigError, match="Custom>Other"):
        engine.deserialize(_scale_model("Custom>Other"))


def test_custom_scale_layer_wants_two_inputs():
    layer = engine.deserialize({"class_name": "CustomScaleLayer",
                                "config": {"name": "c", "scale": 2.0}})
    np.testing.assert_array_equal(layer([np.ones((1, 2)), np.ones((1, 2))]),
                                  np.full((1, 2), 3.0))
    with pytest.raises(ValueError, match="shapes"):
        layer.compute_output_shape([(None, 2), (None, 3)])
    with pytest.raises(ValueError, match="list of 2 inputs"):
        layer.compute_output_shape([(None, 2)] * 3)


def _keras_archive(config: dict, weights: dict[str, list[np.ndarray]]) -> bytes:
    h5 = io.BytesIO()
    with h5py.File(h5, "w") as f:
        for path, arrays in weights.items():
            g = f.require_group(path)
            for i, a in enumerate(arrays):
                g.create_dataset(str(i), data=a)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", h5.getvalue())
    return buf.getvalue()


def test_weights_error_lists_only_layers_with_weights():
    # the Dense after an op of unknown shape (fancy indexing, no shape recorded) cannot be
    # built; the weightless Activation and
    # pooling layers (also unbuilt) are not "layers whose weights cannot be placed"
    def t(name, shape=None):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": shape, "dtype": "float32",
                           "keras_history": [name, 0, 0]}}

    def node(*args):
        return [{"args": list(args), "kwargs": {}}]

    layers = [
        {"module": "keras.layers", "class_name": "InputLayer",
         "config": {"batch_shape": [None, 4, 2], "dtype": "float32", "name": "x"},
         "name": "x", "inbound_nodes": []},
        {"module": "keras.src.ops.numpy", "class_name": "GetItem", "config": {"name": "g"},
         "name": "g", "registered_name": "GetItem",
         "inbound_nodes": node(t("x", [None, 4, 2]), [{"class_name": "__ellipsis__",
                                                       "config": {}}, [0, 1]])},
        {"module": "keras.layers", "class_name": "Activation",
         "config": {"name": "act", "activation": "relu"}, "name": "act",
         "inbound_nodes": node(t("g"))},
        {"module": "keras.layers", "class_name": "GlobalAveragePooling1D",
         "config": {"name": "pool"}, "name": "pool", "inbound_nodes": node(t("act"))},
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 3},
         "name": "d", "inbound_nodes": node(t("pool"))},
    ]
    cfg = {"module": "keras", "class_name": "Functional",
           "config": {"name": "m", "layers": layers, "input_layers": [["x", 0, 0]],
                      "output_layers": [["d", 0, 0]]}}
    data = _keras_archive(cfg, {"layers/dense/vars": [np.ones((2, 3), "float32"),
                                                      np.zeros(3, "float32")]})
    with pytest.raises(WeightsError) as e:
        engine.load(io.BytesIO(data))
    text = str(e.value)
    assert "'d'" in text and "cannot be placed" in text
    assert "'act'" not in text and "'pool'" not in text


def test_tf_keras_registered_name_of_an_application_class_deserializes_alone():
    cfg = {"module": "keras.layers", "class_name": "CustomScaleLayer",
           "registered_name": "Custom>CustomScaleLayer", "config": {"scale": 0.5}}
    layer = engine.deserialize(cfg)
    assert type(layer).__name__ == "CustomScaleLayer"
    bad = dict(cfg, registered_name="Custom>Other")
    with pytest.raises(engine.ConfigError, match="registered_name"):
        engine.deserialize(bad)
