"""The run loop's fused pairs (engine/models/calls.py run_fused): a BatchNormalization or an
element-wise merge and the relu/relu6 layer that alone reads its output, computed in one
pass with the bits of the two calls, NaN and inf included; never where the intermediate
tensor is seen (a traced or observed run, a model output, a second reader) or where one of
the two layers is not the plain case (training, a slope, a custom activation, an activity
regularizer, a subclass with its own call, a mask)."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine.layers.merging import _Merge
from engine.layers.normalization import BatchNormalization
from engine.models import calls, functional


def _layer(cls, name, inbound, **config):
    refs = [[i, 0, 0, {}] for i in inbound]
    return {"class_name": cls, "name": name, "config": {"name": name, **config},
            "inbound_nodes": [refs]}


def _graph(layers, outputs, shape=(None, 5, 5, 3)):
    entry = {"class_name": "InputLayer", "name": "in", "inbound_nodes": [],
             "config": {"batch_input_shape": list(shape), "dtype": "float32", "name": "in"}}
    model = engine.deserialize({"class_name": "Functional", "config": {
        "name": "m", "layers": [entry, *layers], "input_layers": [["in", 0, 0]],
        "output_layers": [[o, 0, 0] for o in outputs]}})
    rng = np.random.default_rng(11)
    model.set_weights([(rng.uniform(0.5, 1.5, w.shape) if w.name in ("moving_variance",
                                                                       "gamma") else
                        rng.standard_normal(w.shape)).astype(np.float32)
                       for w in model.weights])
    return model


def _model(bn1=None, **act):
    return _graph([
        _layer("Conv2D", "c1", ["in"], filters=4, kernel_size=3, padding="same"),
        _layer("BatchNormalization", "bn1", ["c1"], **(bn1 or {})),
        _layer("Activation", "a1", ["bn1"], activation="relu"),        # fused, not in place
        _layer("Conv2D", "c2", ["a1"], filters=4, kernel_size=1),
        _layer("BatchNormalization", "bn2", ["c2"]),
        _layer("ReLU", "r2", ["bn2"], **(act or {"max_value": 6.0})),  # fused, in place
        _layer("Add", "add", ["r2", "a1"]),
        _layer("Activation", "a3", ["add"], activation="relu"),        # fused merge
        _layer("Subtract", "sub", ["a3", "c1"]),
        _layer("Activation", "a4", ["sub"], activation="relu6"),       # fused merge
    ], ["a4"])


def _fused(monkeypatch, module=functional):
    """Count run_fused's fused calls (not None) per first layer, in the run loop of
    ``module`` (functional or sequential)."""
    seen: list[str] = []
    inner = module.run_fused

    def spy(first, act, x, training, owned):
        out = inner(first, act, x, training, owned)
        if out is not None:
            seen.append(first.name)
        return out

    monkeypatch.setattr(module, "run_fused", spy)
    return seen


def _unfused(monkeypatch, fn):
    """``fn()`` with no pair fused and nothing in place (the reference)."""
    with monkeypatch.context() as m:
        m.setattr(calls, "_COUNTS", None)
        m.setattr(BatchNormalization, "fused_clip", lambda self, x, training: None)
        m.setattr(_Merge, "fused_clip", lambda self, x, training: None)
        return fn()


def _references(monkeypatch, model, x):
    """The unfused output and traced outputs of ``model`` on ``x``; then one plain run
    (the first of a shape, which checks every layer) and a spy on run_fused from there."""
    ref = _unfused(monkeypatch, lambda: model(x))
    trace_ref = _unfused(monkeypatch, lambda: model.intermediate_outputs(x))
    model(x)
    return ref, trace_ref, _fused(monkeypatch)


def _input(seed=0):
    x = np.random.default_rng(seed).standard_normal((2, 5, 5, 3)).astype(np.float32)
    x[0, 1, 1, 0], x[1, 2, 3, 2], x[1, 0, 0, 1] = np.nan, np.inf, -np.inf
    return x


def test_fused_pairs_give_the_bits_of_the_two_calls(monkeypatch):
    model = _model()
    x = _input()
    keep = x.copy()
    with np.errstate(invalid="ignore"):
        seen = _fused(monkeypatch)
        first = model(x)  # the first run of a shape checks every layer: nothing fused
        assert seen == []
        ref = _unfused(monkeypatch, lambda: model(x))
        for _ in range(3):
            np.testing.assert_array_equal(model(x), ref)
        np.testing.assert_array_equal(first, ref)
    assert seen == ["bn1", "bn2", "add", "sub"] * 3
    np.testing.assert_array_equal(x, keep)
    assert np.isnan(ref).any()  # NaN went through a fused pair as through the two calls


def test_nothing_fused_where_the_intermediate_tensor_is_seen(monkeypatch):
    model = _model()
    x = _input(1)
    with np.errstate(invalid="ignore"):
        ref, trace_ref, seen = _references(monkeypatch, model, x)
        trace = model.intermediate_outputs(x)
        observed = {}
        out = model.call_observed(x, lambda name, v: observed.setdefault(name, v.copy()))
    assert seen == []
    np.testing.assert_array_equal(out, ref)
    assert set(trace) == set(trace_ref) == set(observed)
    for name in trace_ref:  # bn1 and add are there, each with its own output
        np.testing.assert_array_equal(trace[name], trace_ref[name])
        np.testing.assert_array_equal(observed[name], trace_ref[name])
    # bn1 read twice, bn2 a model output, add read by another layer too: none fused
    other = _graph([
        _layer("BatchNormalization", "bn1", ["in"]),
        _layer("Activation", "a1", ["bn1"], activation="relu"),
        _layer("Activation", "a1b", ["bn1"], activation="relu"),
        _layer("BatchNormalization", "bn2", ["a1"]),
        _layer("Activation", "a2", ["bn2"], activation="relu"),
        _layer("Add", "add", ["a2", "a1b"]),
        _layer("Activation", "a3", ["add"], activation="relu"),
        _layer("Add", "add2", ["add", "a3"]),
    ], ["add2", "bn2"])
    ref = _unfused(monkeypatch, lambda: other(x))
    for _ in range(3):
        for got, want in zip(other(x), ref):
            np.testing.assert_array_equal(got, want)
    assert seen == []


@pytest.mark.parametrize("change", ["training", "slope", "sigmoid", "regularizer",
                                    "subclass", "instance_call"])
def test_nothing_fused_unless_both_layers_are_the_plain_case(monkeypatch, change):
    act = {"negative_slope": 0.1} if change == "slope" else {}
    reg = {"activity_regularizer": {"class_name": "L2", "config": {"l2": 0.01}}}
    model = _model(reg if change == "regularizer" else None, **act)
    if change == "sigmoid":
        model.get_layer("a1")._values["activation"] = engine.activations.get("sigmoid")
    elif change == "instance_call":
        bn = model.get_layer("bn1")
        bn.call = lambda inputs, training=False, mask=None: \
            BatchNormalization.call(bn, inputs, training=training) + 1
    elif change == "subclass":
        class Shifted(BatchNormalization):
            def _normalize(self, inputs, training, mask, owned, bounds=None):
                out = super()._normalize(inputs, training, mask, owned)
                return out + 1 if bounds is None else np.clip(out + 1, *bounds)

        bn = model.get_layer("bn1")
        bn.__class__ = Shifted
    x = _input(2)
    training = change == "training"
    with np.errstate(invalid="ignore"):
        ref = _unfused(monkeypatch, lambda: model(x, training=training))
        model(x, training=training)
        seen = _fused(monkeypatch)
        got = model(x, training=training)
    np.testing.assert_array_equal(got, ref)
    assert ("bn1" in seen) == (change == "slope")
    assert ("bn2" in seen) == (change not in ("training", "slope"))
    assert "add" in seen and "sub" in seen  # the merges are not concerned


def test_a_masked_merge_is_not_fused(monkeypatch):
    model = engine.deserialize({"class_name": "Functional", "config": {
        "name": "m", "layers": [
            {"class_name": "InputLayer", "name": "in", "inbound_nodes": [],
             "config": {"batch_input_shape": [None, 4, 3], "dtype": "float32",
                        "name": "in"}},
            _layer("Masking", "mask", ["in"], mask_value=0.0),
            _layer("Dense", "d", ["mask"], units=3),
            _layer("Add", "add", ["d", "mask"]),
            _layer("Activation", "a", ["add"], activation="relu")],
        "input_layers": [["in", 0, 0]], "output_layers": [["a", 0, 0]]}})
    x = np.random.default_rng(3).standard_normal((2, 4, 3)).astype(np.float32)
    x[0, 1] = 0.0
    ref = _unfused(monkeypatch, lambda: model(x))
    model(x)
    seen = _fused(monkeypatch)
    np.testing.assert_array_equal(model(x), ref)
    assert seen == []


def test_sequential_fuses_the_same_pairs(monkeypatch):
    from engine.models import sequential
    model = engine.deserialize({"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 6],
                                                "dtype": "float32", "name": "x"}},
        {"class_name": "Dense", "config": {"name": "d", "units": 5}},
        {"class_name": "BatchNormalization", "config": {"name": "bn"}},
        {"class_name": "Activation", "config": {"name": "a", "activation": "relu"}},
        {"class_name": "Dense", "config": {"name": "d2", "units": 4}},
        {"class_name": "BatchNormalization", "config": {"name": "bn2"}},
        {"class_name": "ReLU", "config": {"name": "r", "max_value": 6.0}},
        {"class_name": "BatchNormalization", "config": {"name": "bn3"}}]}})
    rng = np.random.default_rng(4)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32)
                       for w in model.weights])
    x = (rng.standard_normal((3, 6)) * 4).astype(np.float32)
    x[0, 0] = np.nan
    seen = _fused(monkeypatch, sequential)
    ref = _unfused(monkeypatch, lambda: model(x))
    trace_ref = _unfused(monkeypatch, lambda: model.intermediate_outputs(x))
    for _ in range(3):
        np.testing.assert_array_equal(model(x), ref)
    assert seen == ["bn", "bn2"] * 3
    seen.clear()
    trace = model.intermediate_outputs(x)
    observed = {}
    model.call_observed(x, lambda name, v: observed.setdefault(name, v.copy()))
    assert seen == []
    assert set(trace) == set(trace_ref) == set(observed)
    for name in trace_ref:
        np.testing.assert_array_equal(trace[name], trace_ref[name])
        np.testing.assert_array_equal(observed[name], trace_ref[name])


def test_a_pair_fuses_when_other_branches_come_between_its_two_layers(monkeypatch):
    """Keras orders some graphs branch by branch (InceptionV3: every branch's convolution,
    then every branch's BatchNormalization, then every branch's relu): a normalization and
    the relu alone reading it still run as one, the relu's output made early; the result
    and every traced output have the bits of the unfused run."""
    model = _graph([
        _layer("Conv2D", "ca", ["in"], filters=4, kernel_size=1),
        _layer("Conv2D", "cb", ["in"], filters=4, kernel_size=3, padding="same"),
        _layer("BatchNormalization", "bna", ["ca"]),
        _layer("BatchNormalization", "bnb", ["cb"]),
        _layer("Activation", "ra", ["bna"], activation="relu"),
        _layer("ReLU", "rb", ["bnb"], max_value=6.0),
        _layer("Concatenate", "cat", ["ra", "rb"]),
    ], ["cat"])
    order = [s.node.layer_name for s in model._run_plan()]
    assert order.index("bnb") < order.index("ra") < order.index("rb")
    x = _input(3)
    with np.errstate(invalid="ignore"):
        ref, trace_ref, seen = _references(monkeypatch, model, x)
        for _ in range(2):
            np.testing.assert_array_equal(model(x), ref)
        trace = model.intermediate_outputs(x)
    assert seen == ["bna", "bnb"] * 2
    assert set(trace) == set(trace_ref)
    for name in trace_ref:
        np.testing.assert_array_equal(trace[name], trace_ref[name])
