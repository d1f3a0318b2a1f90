"""engine.gradients coverage: the VJPs of training-mode dropout inside recurrent and
attention layers, stacked RNN cells, ConvLSTM1D/2D/3D, ReversibleEmbedding, sparsemax and
LocallyConnected1D/2D against finite differences in float64 (the dropout mask held fixed:
the same seeded draw at every evaluation); their training forward against the layer's
own call with the same generators (the mask is the engine forward's); and the catalog:
every layer class is differentiable or refused with a reason.

TensorFlow cases for the same layers (masks injected into TF, see
tests/oracle_gen/gradients_extra.py) run in test_gradients.py with the others.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest

import engine
from engine import ConfigError
from engine.catalog import OBJECTS
from engine.gradients import Call, gradients, registered_classes
from engine.gradients.lookup import vjp_of
from engine.gradients.refused import REFUSED
from engine.gradients.table import VJPS
from tests.engine.grad_helpers import fd_check, perturb_weights, reseed
from tests.engine.test_gradients import FD_CASES, MODEL_CLASSES


def _c(name, **config):
    return {"class_name": name, "config": {**config, "dtype": "float64"}}


#: (class, config, input shapes, input kind, training, call kwargs)
CASES = [
    ("SimpleRNN", {"units": 3, "dropout": 0.3, "recurrent_dropout": 0.4,
                   "return_sequences": True}, [(2, 4, 3)], "normal", True, {}),
    ("LSTM", {"units": 3, "dropout": 0.3}, [(2, 4, 3)], "normal", True, {}),
    ("LSTM", {"units": 2, "dropout": 0.25, "recurrent_dropout": 0.35,
              "return_sequences": True, "return_state": True}, [(2, 3, 3)], "normal", True,
     {}),
    ("GRU", {"units": 2, "dropout": 0.2, "recurrent_dropout": 0.3, "return_sequences": True},
     [(2, 4, 3)], "normal", True, {}),
    ("GRU", {"units": 2, "reset_after": False, "dropout": 0.2, "recurrent_dropout": 0.3,
             "go_backwards": True, "return_state": True}, [(2, 4, 3)], "normal", True, {}),
    ("LSTMCell", {"units": 2, "dropout": 0.3, "recurrent_dropout": 0.3},
     [(2, 3), (2, 2), (2, 2)], "normal", True, {}),
    ("Bidirectional", {"layer": _c("GRU", units=2, dropout=0.3, recurrent_dropout=0.2,
                                   return_sequences=True)}, [(2, 3, 2)], "normal", True, {}),
    ("RNN", {"cell": [_c("LSTMCell", units=3, dropout=0.2, recurrent_dropout=0.3),
                      _c("GRUCell", units=2, reset_after=False)],
             "return_sequences": True, "go_backwards": True}, [(2, 4, 3)], "normal", True,
     {}),
    ("RNN", {"cell": [_c("GRUCell", units=2), _c("SimpleRNNCell", units=3)],
             "return_state": True}, [(2, 4, 3)], "normal", False, {}),
    ("StackedRNNCells", {"cells": [_c("LSTMCell", units=2), _c("GRUCell", units=3)]},
     [(2, 3), (2, 2), (2, 2), (2, 3)], "normal", False, {}),
    ("ConvLSTM1D", {"filters": 2, "kernel_size": 2, "return_sequences": True,
                    "data_format": "channels_first"}, [(1, 3, 2, 4)], "normal", False, {}),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 2, "padding": "same", "strides": 2,
                    "return_state": True}, [(1, 3, 3, 3, 2)], "normal", False, {}),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 2, "dropout": 0.3,
                    "recurrent_dropout": 0.3, "go_backwards": True}, [(2, 3, 3, 3, 1)],
     "normal", True, {}),
    ("ConvLSTM3D", {"filters": 1, "kernel_size": 2, "padding": "same"},
     [(1, 2, 2, 2, 3, 2)], "normal", False, {}),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 2, "dropout": 0.3},
     [(2, 3, 4), (2, 4, 4)], "normal", True, {}),
    ("GroupedQueryAttention", {"head_dim": 2, "num_query_heads": 2,
                               "num_key_value_heads": 1, "dropout": 0.3},
     [(2, 3, 4), (2, 2, 4)], "normal", True, {}),
    ("Attention", {"dropout": 0.4, "use_scale": True}, [(2, 3, 4), (2, 5, 4)], "normal",
     True, {}),
    ("AdditiveAttention", {"dropout": 0.3}, [(2, 3, 4), (2, 2, 4)], "normal", True, {}),
    ("ReversibleEmbedding", {"input_dim": 5, "output_dim": 3}, [(2, 4)], "int:5", False,
     {}),
    ("ReversibleEmbedding", {"input_dim": 5, "output_dim": 3, "logit_soft_cap": 1.5},
     [(2, 4, 3)], "normal", False, {"reverse": True}),
    ("ReversibleEmbedding", {"input_dim": 4, "output_dim": 3, "tie_weights": False},
     [(2, 3)], "normal", False, {"reverse": True}),
    ("Dense", {"units": 6, "activation": "sparsemax"}, [(3, 4)], "normal", False, {}),
    ("LocallyConnected1D", {"filters": 2, "kernel_size": 3, "strides": 2,
                            "activation": "tanh"}, [(2, 7, 2)], "normal", False, {}),
    ("LocallyConnected1D", {"filters": 2, "kernel_size": 3, "padding": "same",
                            "implementation": 3, "data_format": "channels_first"},
     [(2, 2, 5)], "normal", False, {}),
    ("LocallyConnected2D", {"filters": 2, "kernel_size": [2, 3], "implementation": 1},
     [(1, 4, 5, 2)], "normal", False, {}),
    ("LocallyConnected2D", {"filters": 2, "kernel_size": 3, "strides": 2,
                            "padding": "same", "implementation": 2}, [(2, 5, 4, 2)],
     "normal", False, {}),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


def _layer(class_name, config, shapes, dtype="float64"):
    cfg = {"class_name": class_name, "config": {**config, "dtype": dtype}}
    layer = engine.deserialize(cfg)
    single = len(shapes) == 1 or class_name.endswith(("Cell", "Cells"))
    layer.build(shapes[0] if single else [tuple(s) for s in shapes])
    return layer


def _inputs(shapes, kind, rng, dtype="float64"):
    if kind.startswith("int:"):
        return [rng.integers(0, int(kind[4:]), s) for s in shapes]
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("class_name,config,shapes,kind,training,kwargs", CASES, ids=IDS)
def test_vjp_matches_finite_differences_float64(class_name, config, shapes, kind, training,
                                                kwargs):
    rng = np.random.default_rng(21)
    layer = _layer(class_name, config, shapes)
    perturb_weights(layer, rng)
    fd_check(layer, _inputs(shapes, kind, rng), training, rng,
             extra={"kwargs": kwargs} if kwargs else None)


def _own_call(layer, xs, class_name, training, kwargs):
    if class_name in ("MultiHeadAttention", "GroupedQueryAttention"):
        return layer(*xs, training=training)
    if class_name.endswith(("Cell", "Cells")):
        out, states = layer(xs[0], states=xs[1:], training=training)
        return [out, *states]
    return layer(xs if len(xs) > 1 else xs[0], training=training, **kwargs)


@pytest.mark.parametrize("class_name,config,shapes,kind,training,kwargs", CASES, ids=IDS)
def test_forward_is_the_layers_own_with_its_seeded_masks(class_name, config, shapes, kind,
                                                         training, kwargs):
    """In float32, the VJP's forward equals the layer's call with the same generators:
    in training, the dropout masks are the layer's own draw (not one of the VJP's)."""
    rng = np.random.default_rng(5)
    a = _layer(class_name, config, shapes, "float32")
    b = _layer(class_name, config, shapes, "float32")
    b.set_weights(a.get_weights())
    xs = _inputs(shapes, kind, rng, "float32")
    reseed(a, 3)
    reseed(b, 3)
    got, _ = vjp_of(a, a.name)(a, xs, Call(training=training, where=a.name,
                                           extra={"kwargs": kwargs}))
    want = _own_call(b, xs, class_name, training, kwargs)
    from engine.gradients.model import flatten
    got, want = flatten(got), flatten(want)
    assert len(got) == len(want)
    for x, y in zip(got, want):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    if training:  # a different draw gives a different output: the mask is really used
        reseed(b, 4)
        other = flatten(_own_call(b, xs, class_name, training, kwargs))
        assert any(not np.allclose(x, y) for x, y in zip(got, other))


def test_every_registered_class_has_a_finite_difference_case():
    covered = {c[0] for c in FD_CASES} | {c[0] for c in CASES} | MODEL_CLASSES
    missing = sorted(c.__name__ for c in registered_classes() if c.__name__ not in covered)
    assert not missing, f"VJPs without a finite-difference case: {missing}"


def _catalog_classes():
    out = {}
    for name, (module, _aliases) in OBJECTS["layer"].items():
        cls = getattr(importlib.import_module(module), name)
        out[name] = cls
    return out


def test_every_catalog_layer_is_differentiable_or_refused_with_a_reason():
    classes = _catalog_classes()
    assert set(classes) == set(engine.names("layer"))
    differentiable = {n for n, c in classes.items() if c in VJPS}
    refused = set(REFUSED)
    both = differentiable & refused
    assert not both, f"both in the VJP table and refused: {sorted(both)}"
    unhandled = sorted(set(classes) - differentiable - refused)
    assert not unhandled, f"neither differentiable nor refused: {unhandled}"
    assert refused <= set(classes), f"refused names not in the catalog: " \
                                    f"{sorted(refused - set(classes))}"
    # the differentiable half is most of the catalog, the refused half is the pipeline
    assert len(differentiable) > 2 * len(refused)


def _k3_configs():
    """The configs real Keras 3 and tf_keras wrote for every layer (default arguments)."""
    data = Path(__file__).resolve().parents[1] / "data" / "keras"
    return tuple(json.loads((data / f"configs_k{v}.json").read_text())["layers"]
                 for v in (3, 2))


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_each_refused_layer_names_itself_and_the_reason(name):
    k3, k2 = _k3_configs()
    row = k3.get(name) or k2.get(name)
    if name == "Lambda":
        layer = engine.deserialize({"class_name": "Lambda", "config": {
            "function": "_twice", "name": "lam"}}, custom_objects={"_twice": lambda x: 2 * x})
    elif name == "InputLayer":
        layer = engine.deserialize({"class_name": "InputLayer", "config": {
            "batch_shape": [None, 3], "name": "inp"}})
    else:
        assert row is not None, f"no reference config for {name}"
        cfg = {"class_name": name, "config": row["config"]}
        if name in k3:
            cfg["module"] = "keras.layers"
        layer = engine.deserialize(cfg)
    with pytest.raises(ConfigError) as err:
        vjp_of(layer, f"m.layers[0] ({layer.name})")
    msg = str(err.value)
    assert f"{layer.name!r} ({type(layer).__name__}) has no backward pass" in msg
    assert REFUSED[name] in msg


def test_a_refused_layer_in_a_model_names_it_and_why():
    model = engine.Sequential([
        engine.deserialize({"class_name": "Discretization", "config": {
            "name": "bins", "bin_boundaries": [0.0, 1.0]}}),
        engine.deserialize({"class_name": "Embedding", "config": {"input_dim": 3,
                                                                  "output_dim": 2}})])
    model.build((None, 4))
    with pytest.raises(ConfigError, match=r"layers\[0\] \(bins\).*'bins' \(Discretization\) "
                                          r"has no backward pass: preprocessing that maps "
                                          r"values to integer ids"):
        gradients(model, np.array([[0.5, -1.0, 2.0, 0.1]], "float32"))
