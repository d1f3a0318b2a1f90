"""A Sequential without an InputLayer: its ``intermediate_outputs`` trace and its depths
name the ``<first layer>_input`` InputLayer that its config lists (issue 14 follow-up)."""

from __future__ import annotations

import numpy as np

import engine
from engine.layers import Dense
from engine.models import Sequential


def _config_names(model):
    return [e["config"]["name"] for e in model.get_config()["layers"]]


def test_trace_names_the_synthesized_input_layer():
    model = Sequential([Dense(4, name="first"), Dense(2, name="second")])
    model.build((None, 3))
    x = np.ones((5, 3), "float32")
    trace = model.intermediate_outputs(x)
    assert list(trace) == _config_names(model) == ["first_input", "first", "second"]
    np.testing.assert_array_equal(trace["first_input"], x)
    assert model.layer_depths() == {"first_input": 0, "first": 1, "second": 2}
    # the config round-trips with the same names, and traces the same
    again = engine.deserialize(engine.serialize(model))
    assert list(again.intermediate_outputs(x)) == list(trace)


def test_trace_after_a_call_builds_the_model():
    model = Sequential([Dense(2, name="d")])
    trace = model.intermediate_outputs(np.ones((1, 3), "float32"))
    assert list(trace) == _config_names(model) == ["d_input", "d"]


def test_synthesized_name_avoids_a_layer_of_that_name():
    model = Sequential([Dense(4, name="a"), Dense(2, name="a_input")])
    model.build((None, 3))
    names = _config_names(model)
    assert names == ["a_input_", "a", "a_input"]
    assert list(model.intermediate_outputs(np.ones((2, 3), "float32"))) == names
    engine.deserialize(engine.serialize(model))  # unique names: it loads


def test_unbuilt_model_has_no_input_entry():
    model = Sequential([Dense(2, name="d")])
    assert _config_names(model) == ["d"] and model.layer_depths() == {"d": 1}
