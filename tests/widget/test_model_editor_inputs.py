"""ModelEditor on models whose Sequential part has no InputLayer entry: a Sequential built from
layers given an ``input_shape`` (called on data or not), a Keras 2 config with
``batch_input_shape`` on its first layer, and a nested Sequential without an InputLayer
inside a functional model (Keras 3 and Keras 2 configs). Each opens, its statistics match a
full pass, and edits of the first and later layers recompute what a fresh editor computes."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

import engine
from widget.model_editor import ModelEditor


def _k2_dense(name, units, activation="linear", **extra):
    return {"class_name": "Dense", "config": {
        "name": name, "trainable": True, "dtype": "float32", "units": units,
        "activation": activation, "use_bias": True,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, **extra}}


def k2_sequential(name="old_style"):
    """A Keras 2 Sequential as older Keras wrote it: no InputLayer, the first layer
    carries ``batch_input_shape``."""
    return {"class_name": "Sequential", "config": {"name": name, "layers": [
        _k2_dense("d1", 8, "relu", batch_input_shape=[None, 4]),
        _k2_dense("d2", 6, "tanh"), _k2_dense("d3", 3)]},
        "keras_version": "2.4.0", "backend": "tensorflow"}


def k2_nested():
    """A Keras 2 functional model calling such a Sequential (its own first node is its
    construction, so the outer call is node 1, as Keras 2 numbers them)."""
    inner = k2_sequential("inner")
    return {"class_name": "Functional", "config": {"name": "outer", "layers": [
        {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
         "config": {"name": "x", "batch_input_shape": [None, 4], "dtype": "float32"}},
        {**{k: inner[k] for k in ("class_name", "config")}, "name": "inner",
         "inbound_nodes": [[["x", 0, 0, {}]]]},
        {**_k2_dense("head", 2), "name": "head", "inbound_nodes": [[["inner", 1, 0, {}]]]}],
        "input_layers": [["x", 0, 0]], "output_layers": [["head", 0, 0]]},
        "keras_version": "2.4.0", "backend": "tensorflow"}


def k3_nested_without_input_layer():
    """The Keras 3 form of :func:`k2_nested` with the inner Sequential's InputLayer entry
    removed (it keeps its ``build_config``)."""
    cfg = engine.serialize(engine.deserialize(k2_nested()), format=engine.KERAS3)
    cfg = copy.deepcopy(cfg)
    for entry in cfg["config"]["layers"]:
        if entry["class_name"] == "Sequential":
            entry["config"]["layers"] = [e for e in entry["config"]["layers"]
                                         if e["class_name"] != "InputLayer"]
    return cfg


def python_sequential(called):
    m = engine.Sequential(name="built")
    m.add(engine.layers.Dense(8, activation="relu", input_shape=(4,), name="d1"))
    m.add(engine.layers.Dense(6, activation="tanh", name="d2"))
    m.add(engine.layers.Dense(3, name="d3"))
    if called:
        m.intermediate_outputs(np.zeros((2, 4), np.float32))
    return m


CASES = {
    "python_uncalled": lambda: python_sequential(False),
    "python_called": lambda: python_sequential(True),
    "k2_batch_input_shape": k2_sequential,
    "k2_batch_input_shape_json": lambda: json.dumps(k2_sequential()),
    "k2_model_config_wrapper": lambda: {"model_config": k2_sequential()},
    "k2_nested": k2_nested,
    "k3_nested_without_input_layer": k3_nested_without_input_layer,
}


def _same_as_fresh(me):
    fresh = ModelEditor(me.model, sample=me.sample)
    assert [s["name"] for s in me.statistics()] == [s["name"] for s in fresh.statistics()]
    for a, b in zip(me.statistics(), fresh.statistics()):
        assert a["output_shape"] == b["output_shape"]
        assert a["std"] == pytest.approx(b["std"], rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("case", list(CASES))
def test_sequential_without_input_layer_opens_and_edits(case):
    me = ModelEditor(CASES[case]())
    stats = me.statistics()
    names = [s["name"] for s in stats]
    leaves = [n for n in names if n.rsplit("/", 1)[-1] in ("d1", "d2", "d3")]
    assert [n.rsplit("/", 1)[-1] for n in leaves] == ["d1", "d2", "d3"]
    assert np.shape(me.sample)[1:] == (4,)
    # statistics match the model's own outputs
    first = leaves[0]
    if "/" in first:
        x = me.model.intermediate_outputs(me.sample)["x"]
        trace = me.model.get_layer("inner").intermediate_outputs(x)
    else:
        trace = me.model.intermediate_outputs(me.sample)
    by = {s["name"]: s for s in stats}
    for n in leaves:
        y = np.asarray(trace[n.rsplit("/", 1)[-1]], np.float64)
        assert by[n]["std"] == pytest.approx(y.std(), rel=1e-6)
    # the first layer has an input: its initializer's prediction is there
    assert by[first]["predicted_std"] is not None and math.isfinite(by[first]["predicted_std"])
    # the first layer is given the real sample
    me.select(first)
    np.testing.assert_allclose(np.asarray(me.editor.sample, np.float64),
                               np.asarray(me.sample, np.float64))
    # edits: the first layer (shape change, downstream re-initialized), then a later one
    assert me.set("units", 5), me.error
    assert first in me.reinitialized and leaves[1] in me.reinitialized
    _same_as_fresh(me)
    me.select(leaves[1])
    assert me.set("activation", "relu"), me.error
    _same_as_fresh(me)
    me.select(first)
    assert me.set("kernel_initializer", "he_normal"), me.error
    _same_as_fresh(me)
    assert me.undo() and me.undo() and me.undo()
    assert [s["std"] for s in me.statistics()] == pytest.approx([s["std"] for s in stats])
    # the export reopens as the same model
    again = ModelEditor(me.export("keras3"), sample=me.sample)
    assert [s["name"] for s in again.statistics()] == names


def test_given_model_is_not_changed_and_its_weights_are_kept():
    m = python_sequential(True)
    kernel = m.get_layer("d2").get_weights()[0].copy()
    me = ModelEditor(m)
    np.testing.assert_array_equal(me.model.get_layer("d2").get_weights()[0], kernel)
    me.select("d1")
    assert me.set("activation", "tanh")
    np.testing.assert_array_equal(me.model.get_layer("d2").get_weights()[0], kernel)
    assert m.get_layer("d1").get_config()["activation"] == "relu"


def test_unbuilt_sequential_is_drawn_seeded():
    a = ModelEditor(python_sequential(False), seed=3)
    b = ModelEditor(python_sequential(False), seed=3)
    np.testing.assert_array_equal(a.model.get_layer("d2").get_weights()[0],
                                  b.model.get_layer("d2").get_weights()[0])


def test_without_any_input_shape_it_asks_for_one():
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        _k2_dense("d1", 8)]}}
    with pytest.raises(engine.ConfigError, match="input_shape"):
        ModelEditor(cfg)
    me = ModelEditor(cfg, input_shape=(None, 4))
    me.select("d1")
    assert me.set("units", 3)
    _same_as_fresh(me)
