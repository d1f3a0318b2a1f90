"""The one value store, field attributes, signatures and format names of Configurable."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import engine
from engine import ConfigError, registry
from engine.fields import REQUIRED


def _dense(**kw):
    return engine.lookup("layer", "Dense")(**kw)


def test_an_attribute_write_is_validated_and_seen_by_get_config():
    d = _dense(units=3)
    d.units = 5
    assert d.get_config()["units"] == 5
    d.build((None, 4))
    assert d.kernel.shape == (4, 5)
    assert d.bias.shape == (5,)


@pytest.mark.parametrize("value", [-3, 0, "5", 2.5, None])
def test_a_bad_attribute_write_is_refused_and_keeps_the_value(value):
    d = _dense(units=3)
    with pytest.raises(ConfigError) as e:
        d.units = value
    assert e.value.path == "units"
    assert d.units == 3 and d.get_config()["units"] == 3


def test_nested_objects_written_as_attributes_are_resolved():
    d = _dense(units=2)
    d.kernel_initializer = "he_normal"
    assert type(d.kernel_initializer).__name__ == "HeNormal"
    assert d.get_config()["kernel_initializer"]["class_name"] == "HeNormal"
    with pytest.raises(ConfigError, match="kernel_initializer"):
        d.kernel_initializer = "no_such_initializer"


def test_a_built_layer_refuses_writes_that_its_weights_depend_on():
    d = _dense(units=3)
    d.build((None, 4))
    with pytest.raises(ConfigError, match="built"):
        d.units = 7
    assert d.get_config()["units"] == 3 and d.kernel.shape == (4, 3)
    d.trainable = False  # name and trainable stay writable, as in Keras
    d.name = "renamed"
    assert d.get_config()["trainable"] is False and d.get_config()["name"] == "renamed"


def test_every_field_is_one_value():
    d = _dense(units=3, activation="relu")
    assert "units" not in vars(d)  # no second copy as a plain attribute
    assert d.values["units"] == 3


def test_class_attribute_is_the_field_spec():
    Dense = engine.lookup("layer", "Dense")
    assert Dense.units.name == "units" and Dense.units.default is REQUIRED


def _layer_classes():
    return [(n, registry.lookup("layer", n)) for n in registry.names("layer")]


@pytest.mark.parametrize("name,cls", _layer_classes(), ids=[n for n, _ in _layer_classes()])
def test_signature_lists_every_config_key(name, cls):
    sig = inspect.signature(cls)
    assert set(sig.parameters) == {f.name for f in cls.all_fields()}
    for f in cls.all_fields():
        p = sig.parameters[f.name]
        assert (p.default is inspect.Parameter.empty) == f.required


def test_signature_puts_keras_positional_arguments_first():
    sig = inspect.signature(engine.lookup("layer", "Dense"))
    assert list(sig.parameters)[0] == "units"
    assert sig.parameters["units"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert sig.parameters["name"].kind is inspect.Parameter.KEYWORD_ONLY
    einsum = inspect.signature(engine.lookup("layer", "EinsumDense"))
    assert list(einsum.parameters)[:2] == ["equation", "output_shape"]
    # an instance's signature is its call's, not the constructor's
    assert "units" not in inspect.signature(_dense(units=2)).parameters


@pytest.mark.parametrize("fmt", ["keras2", "K2", "k2", "2", 2])
def test_format_names_are_normalized_once(fmt):
    bn = engine.deserialize({"class_name": "BatchNormalization",
                             "config": {"renorm": True}})
    assert bn.get_config(fmt) == bn.get_config("keras2")
    d = _dense(units=2)
    assert list(d.get_config(fmt)) == list(d.get_config("keras2"))


@pytest.mark.parametrize("fmt", ["keras3", "K3", "3", 3])
def test_keras3_format_names(fmt):
    d = _dense(units=2)
    assert list(d.get_config(fmt)) == list(d.get_config("keras3"))


def test_source_format_is_remembered():
    k2 = engine.deserialize({"class_name": "Dense", "config": {"units": 2,
                                                                 "batch_input_shape": [None, 3]}})
    k3 = engine.deserialize({"module": "keras.layers", "class_name": "Dense",
                             "config": {"units": 2}, "registered_name": None})
    assert k2.source_format == "keras2" and k3.source_format == "keras3"
    assert _dense(units=2).source_format == "keras3"


def test_bad_format_name():
    with pytest.raises(ValueError, match="format"):
        _dense(units=2).get_config("keras4")


def test_weights_from_a_written_config_match_a_fresh_layer():
    d = _dense(units=3, kernel_initializer={"class_name": "GlorotUniform",
                                           "config": {"seed": 1}})
    d.units = 6
    d.build((None, 4))
    fresh = _dense(units=6, kernel_initializer={"class_name": "GlorotUniform",
                                               "config": {"seed": 1}})
    fresh.build((None, 4))
    np.testing.assert_array_equal(d.kernel.value, fresh.kernel.value)


@pytest.mark.parametrize("form", ["cell", "list"])
def test_nested_cells_are_read_in_their_config_format(form):
    """A Keras 2 RNN's cells mean Keras 2's hard_sigmoid (0.2x + 0.5), not Keras 3's."""
    cell = {"class_name": "GRUCell", "config": {"units": 2,
                                                "recurrent_activation": "hard_sigmoid"}}
    k2 = {"class_name": "RNN", "config": {"cell": cell if form == "cell" else [cell],
                                          "batch_input_shape": [None, 3, 4]}}
    layer = engine.deserialize(k2)
    assert layer.source_format == "keras2"
    cells = layer.cell.cells if form == "list" else [layer.cell]
    got = float(cells[0].recurrent_activation(np.array([1.0]))[0])
    assert got == pytest.approx(0.7)
    k3 = {"module": "keras.layers", "class_name": "RNN", "registered_name": None,
          "config": {"cell": {"module": "keras.layers", "registered_name": None, **cell}}}
    got3 = float(engine.deserialize(k3).cell.recurrent_activation(np.array([1.0]))[0])
    assert got3 == pytest.approx(1 / 6 + 0.5)


def test_deserialize_builds_from_a_shapes_dict():
    """Keras 3 writes build_config {'shapes_dict': {...}} for layers built with several
    tensors (MultiHeadAttention); deserialize builds from it as Keras does."""
    mha = engine.lookup("layer", "MultiHeadAttention")(num_heads=2, key_dim=3)
    q, v = np.ones((1, 4, 5), np.float32), np.ones((1, 6, 7), np.float32)
    mha(q, v)
    config = engine.serialize(mha)
    assert set(config["build_config"]["shapes_dict"]) == {"query_shape", "value_shape"}
    again = engine.deserialize(config)
    assert again.built
    assert [w.shape for w in again.weights] == [w.shape for w in mha.weights]
    again.set_weights(mha.get_weights())  # before any call, as after Keras's load
    np.testing.assert_array_equal(again(q, v), mha(q, v))
    bad = {**config, "build_config": {"shapes_dict": {"query_shape": {"x": 1}}}}
    with pytest.raises(ConfigError, match="build_config.shapes_dict.query_shape"):
        engine.deserialize(bad)
