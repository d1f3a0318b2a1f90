"""What the ModelEditor needs from the LayerEditor (issue 15, found building issue 10):
several inputs (``sample=`` as a list, ``input_shape=`` as a list of shapes, a
``build_config`` with ``shapes_dict``), a public way to show given weights, and a built
wrapper (Bidirectional(GRU)) whose ``trainable`` can be changed."""

from __future__ import annotations

import json

import numpy as np
import pytest

import engine
from widget import LayerEditor
from widget.sample import as_sample, batched, shape_spec

RNG = np.random.default_rng(3)


def _arr(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# -- several inputs ---------------------------------------------------------------------------


def test_a_list_sample_feeds_a_merging_layer_and_attention():
    a, b = _arr(2, 4), _arr(2, 4)
    ed = LayerEditor({"class_name": "Add", "config": {}}, sample=[a, b])
    assert ed.error is None
    np.testing.assert_allclose(ed.outputs[0], a + b, rtol=1e-6)
    ed = LayerEditor({"class_name": "Concatenate", "config": {}}, sample=[a, _arr(2, 3)])
    assert ed.error is None and ed.outputs[0].shape == (2, 7)
    assert ed.shape_box.value == "[(2, 4), (2, 3)]"


def test_a_list_sample_goes_positionally_to_multi_head_attention():
    q, v = _arr(2, 3, 4), _arr(2, 5, 4)
    cfg = {"class_name": "MultiHeadAttention", "config": {"num_heads": 2, "key_dim": 4}}
    ed = LayerEditor(cfg, sample=[q, v])
    assert ed.error is None and ed.outputs[0].shape == (2, 3, 4)
    layer = engine.deserialize(cfg)
    ref = layer(q, v)
    ed2 = LayerEditor(layer, sample=[q, v])  # the built layer itself, as ModelEditor opens it
    assert ed2.error is None
    np.testing.assert_array_equal(ed2.outputs[0], np.asarray(ref))
    assert ed2.set("num_heads", 1) and ed2.outputs[0].shape == (2, 3, 4)
    bc = json.loads(ed2.export())["build_config"]
    assert bc == {"shapes_dict": {"query_shape": [None, 3, 4], "value_shape": [None, 5, 4]}}


def test_input_shape_as_a_list_of_shapes():
    ed = LayerEditor({"class_name": "Add", "config": {}}, input_shape=[(None, 4), (None, 4)])
    assert ed.error is None and ed.outputs[0].shape == (16, 4)
    assert ed.shape_box.value == "[(16, 4), (16, 4)]"
    assert json.loads(ed.export())["build_config"] == {"input_shape": [[None, 4], [None, 4]]}
    ed.shape_box.value = "[(3, 5), (3, 5)]"  # typed in the page
    assert ed.error is None and ed.outputs[0].shape == (3, 5)
    ed.shape_box.value = "[(3, 5), (3, x)]"
    assert "list of shapes" in ed.error and ed.outputs[0].shape == (3, 5)
    ed = LayerEditor({"class_name": "Add", "config": {}}, input_shape=[(None, 4), (None, 5)])
    assert ed.error and "Add" in ed.error  # the engine's refusal, shown, not raised


def test_build_config_shapes_dict_and_list_input_shape_are_read():
    cfg = {"class_name": "MultiHeadAttention", "config": {"num_heads": 2, "key_dim": 4},
           "build_config": {"shapes_dict": {"query_shape": [None, 3, 4],
                                            "value_shape": [None, 5, 4]}}}
    ed = LayerEditor(cfg)
    assert ed.error is None and ed.shape_box.value == "[(16, 3, 4), (16, 5, 4)]"
    assert ed.outputs[0].shape == (16, 3, 4)
    cfg = {"class_name": "Concatenate", "config": {},
           "build_config": {"input_shape": [[None, 3], [None, 5]]}}
    ed = LayerEditor(cfg)
    assert ed.error is None and ed.outputs[0].shape == (16, 8)


def test_shape_specs_are_checked_and_batched_together():
    assert shape_spec([None, 4]) == (None, 4)
    assert shape_spec([[None, 4], (2, 5)]) == [(None, 4), (2, 5)]
    assert shape_spec({"shapes_dict": {"q": [None, 2], "v": [None, 3]}}) == [(None, 2),
                                                                            (None, 3)]
    with pytest.raises(engine.ConfigError, match=r"input_shape\[1\]"):
        shape_spec([[None, 4], ["a"]])
    assert batched([(None, 4), (None, 6)]) == [(16, 4), (16, 6)]
    assert batched([(None, 4), (3, 6)]) == [(3, 4), (3, 6)]  # one batch for all
    big = batched([(None, 400_000), (None, 400_000)])
    assert big == [(1, 400_000), (1, 400_000)]
    with pytest.raises(engine.BudgetError):
        batched([(None, 600_000), (None, 600_000)])
    x = np.zeros((2, 3))
    assert isinstance(as_sample([x, x]), list)  # arrays: several inputs
    assert as_sample([[1.0, 2.0], [3.0, 4.0]]).shape == (2, 2)  # numbers: one array
    assert isinstance(as_sample([[1.0, 2.0], [3.0]]), list)  # ragged: several inputs


# -- weights from elsewhere -----------------------------------------------------------------


def test_adopt_weights_shows_given_weights_without_an_undo_step():
    ed = LayerEditor({"class_name": "Dense", "config": {"units": 3}}, input_shape=(None, 4))
    before = ed.plot_bytes
    kernel, bias = np.full((4, 3), 0.5, np.float32), np.arange(3, dtype=np.float32)
    assert ed.adopt_weights([kernel, bias]) and ed.error is None
    np.testing.assert_array_equal(ed.layer.get_weights()[0], kernel)
    np.testing.assert_allclose(ed.outputs[0], ed.sample @ kernel + bias, rtol=1e-6)
    assert ed.plot_bytes != before and not ed.can_undo  # redrawn; not an edit
    assert not ed.adopt_weights([kernel])  # refused, named, the weights stay
    assert "expects 2 arrays" in ed.error
    np.testing.assert_array_equal(ed.layer.get_weights()[0], kernel)
    other = engine.deserialize({"class_name": "Dense", "config": {"units": 3}})
    other(np.ones((1, 4), np.float32))
    assert ed.adopt_weights(other) and ed.layer is not other
    np.testing.assert_array_equal(ed.layer.get_weights()[1], other.get_weights()[1])
    assert ed.set("units", 5) and ed.layer.get_weights()[0].shape == (4, 5)  # fresh again


def test_adopting_never_writes_the_layer_the_editor_was_opened_on():
    x = _arr(2, 4)
    layer = engine.deserialize({"class_name": "Dense", "config": {"units": 3}})
    layer(x)
    kept = layer.get_weights()
    ed = LayerEditor(layer, sample=x)
    assert ed.adopt_weights([np.zeros((4, 3)), np.zeros(3)])
    assert all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), kept))
    assert np.all(ed.outputs[0] == 0)


# -- a built wrapper ----------------------------------------------------------------------------


def test_trainable_on_a_built_bidirectional_gru():
    """Opened on the built layer (its config holds the inner GRU's build_config), a change
    of ``trainable`` rebuilt the GRU with unset weights: a TypeError in the GRU cell."""
    x = _arr(2, 5, 3)
    layer = engine.deserialize({"class_name": "Bidirectional", "config": {
        "layer": {"class_name": "GRU", "config": {"units": 4}}}})
    layer(x)
    ed = LayerEditor(layer, sample=x)
    assert ed.error is None
    ed.controls["trainable"].value = False
    assert ed.error is None and ed.config["config"]["trainable"] is False
    ed.controls["layer.config.trainable"].value = False
    assert ed.error is None and ed.outputs[0].shape == (2, 8)
    assert "build_config" not in json.dumps(ed.config)


def test_a_saved_keras_config_with_nested_build_configs_opens():
    layer = engine.deserialize({"class_name": "Bidirectional", "config": {
        "layer": {"class_name": "LSTM", "config": {"units": 3}}}})
    layer(_arr(2, 5, 3))
    cfg = json.loads(json.dumps(engine.serialize(layer, format="keras3")))
    assert "build_config" in json.dumps(cfg["config"]["layer"])  # as Keras 3 saves it
    ed = LayerEditor(cfg)
    assert ed.error is None and ed.outputs[0].shape == (2, 6)  # the batch it was built on
    assert ed.set("merge_mode", "sum") and ed.outputs[0].shape == (2, 3)
