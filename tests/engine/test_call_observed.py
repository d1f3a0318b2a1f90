"""Model.call_observed: each layer's output seen once as it is made, nothing kept, the
in-place run's speed kept, values a callback holds never overwritten."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "models"))
from arch_configs import mobilenet_v2_config, resnet_config  # noqa: E402


def _functional():
    model = engine.deserialize(resnet_config(size=16, widths=(4, 8), blocks=1))
    x = np.random.default_rng(0).standard_normal((2, 16, 16, 3)).astype("float32")
    return model, x


def _sequential():
    model = engine.deserialize({"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 6], "name": "inp"}},
        {"class_name": "Dense", "config": {"name": "d1", "units": 5}},
        {"class_name": "BatchNormalization", "config": {"name": "bn"}},
        {"class_name": "Activation", "config": {"name": "act", "activation": "relu"}},
        {"class_name": "Dense", "config": {"name": "d2", "units": 3}}]}})
    return model, np.random.default_rng(1).standard_normal((4, 6)).astype("float32")


@pytest.mark.parametrize("make", [_functional, _sequential])
def test_each_output_seen_once_with_the_traced_values(make):
    model, x = make()
    expected = model.intermediate_outputs(x)
    seen: dict[str, np.ndarray] = {}

    def look(name, value):
        assert name not in seen, f"{name} seen twice"
        seen[name] = np.array(value)  # a copy: the run may reuse the array afterwards

    out = model.call_observed(x, look)
    np.testing.assert_array_equal(out, model(x))
    assert set(seen) == set(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(seen[name], value, err_msg=name)


@pytest.mark.parametrize("make", [_functional, _sequential])
def test_arrays_the_callback_keeps_are_never_written_into(make):
    model, x = make()
    expected = model.intermediate_outputs(x)
    kept: dict[str, np.ndarray] = {}
    views: dict[str, np.ndarray] = {}

    def keep(name, value):
        if len(kept) % 2:  # half kept whole, half through a view only
            kept[name] = value
        else:
            kept[name] = None
            views[name] = value.reshape(-1)[::2]
    model.call_observed(x, keep)
    for name, value in kept.items():
        if value is not None:
            np.testing.assert_array_equal(value, expected[name], err_msg=name)
        else:
            np.testing.assert_array_equal(views[name], expected[name].reshape(-1)[::2],
                                          err_msg=name)


def test_the_model_input_is_never_written_into():
    model = engine.deserialize(mobilenet_v2_config(size=32, classes=10, alpha=0.35))
    x = np.random.default_rng(2).standard_normal((1, 32, 32, 3)).astype("float32")
    before = x.copy()
    names: list[str] = []
    model.call_observed(x, lambda name, value: names.append(name))
    np.testing.assert_array_equal(x, before)
    assert len(names) == len(model.intermediate_outputs(x))


def test_a_dropped_output_is_written_into_by_its_reader():
    """What the callback does not keep, the run may write into (the in-place path is not
    switched off as in a traced run): BatchNormalization and ReLU write into the
    convolution's output, which is alive while they run (no freed memory reused)."""
    model = engine.deserialize(mobilenet_v2_config(size=32, classes=10, alpha=0.35))
    x = np.random.default_rng(2).standard_normal((1, 32, 32, 3)).astype("float32")
    model(x)  # the first run of a shape never writes in place
    address: dict[str, int] = {}
    model.call_observed(x, lambda name, value: address.setdefault(
        name, value.__array_interface__["data"][0]))
    assert address["Conv1"] == address["bn_Conv1"] == address["Conv1_relu"]
    kept = []
    model.call_observed(x, lambda name, value: kept.append(value))  # all kept: no writes
    assert len({v.__array_interface__["data"][0] for v in kept}) == len(kept)
