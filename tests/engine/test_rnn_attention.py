"""Recurrent and attention layers beyond the generic oracle cases: masked attention against
Keras references (tests/data/keras/generated_extra, written by
``python -m tests.oracle_gen.attention``), bad configs, output shapes with states and
scores, masking through recurrences, seeded dropout in training."""

from __future__ import annotations

import json

import numpy as np
import pytest
from oracle import DATA

import engine
from engine import ConfigError

EXTRA = DATA / "generated_extra"


def layer(class_name: str, fmt: str = "keras3", **config):
    cfg = {"class_name": class_name, "config": config}
    if fmt == "keras3":
        cfg["module"] = "keras.layers"
    return engine.deserialize(cfg)


# -- masked attention vs Keras -------------------------------------------------------------


def _mask_refs():
    out = []
    for fmt in ("k3", "k2"):
        meta = json.loads((EXTRA / f"attention_masks_{fmt}.json").read_text())
        for name, m in meta.items():
            out.append(pytest.param(fmt, name, m, id=f"{fmt}-{name}"))
    return out


@pytest.mark.parametrize("fmt,name,meta", _mask_refs())
def test_masked_attention_matches_keras(fmt, name, meta):
    with np.load(EXTRA / f"attention_masks_{fmt}.npz") as z:
        a = {k.split("__", 1)[1]: z[k] for k in z.files if k.startswith(name + "__")}
    cfg = {"class_name": meta["class_name"], "config": meta["config"]}
    if fmt == "k3":
        cfg["module"] = "keras.layers"
    lay = engine.deserialize(cfg)
    kind, which = meta["kind"], meta["which"]

    def run():
        if kind.startswith("list"):
            return lay([a["q"], a["v"]], mask=[a["qm"], a["vm"]],
                       return_attention_scores="scores" in kind,
                       use_causal_mask="causal" in kind)
        kw = {}
        for key, arg in (("q", "query_mask"), ("v", "value_mask"), ("k", "key_mask"),
                         ("a", "attention_mask")):
            if key in which:
                kw[arg] = a[key + "m" if key != "a" else "am"]
        if "scores" in kind:
            kw["return_attention_scores"] = True
        if "causal" in kind:
            kw["use_causal_mask"] = True
        if "key" in kind:
            return lay(a["q"], a["v"], key=a["k"], **kw)
        return lay(a["q"], a["v"], **kw)

    run()
    lay.set_weights([a[f"w{i}"] for i in range(meta["n_weights"])])
    got = run()
    got = got if isinstance(got, list) else [got]
    assert len(got) == meta["n_outputs"]
    for i, g in enumerate(got):
        np.testing.assert_allclose(g, a[f"y{i}"], atol=1e-5, rtol=1e-4, err_msg=f"output {i}")


# -- bad configs -------------------------------------------------------------------------

_LSTM = {"class_name": "LSTM", "config": {"units": 3}}

BAD = [
    ("LSTM", {"units": 0}, "config.units"),
    ("GRU", {"units": -2}, "config.units"),
    ("SimpleRNN", {"units": 3, "stateful": True}, "config.stateful"),
    ("LSTM", {"units": 3, "dropout": 1.5}, "config.dropout"),
    ("GRU", {"units": 3, "recurrent_dropout": -0.1}, "config.recurrent_dropout"),
    ("LSTM", {}, "config.units"),
    ("Bidirectional", {"layer": _LSTM, "merge_mode": "avg"}, "config.merge_mode"),
    ("Bidirectional", {"layer": {"class_name": "LSTM", "config": {"units": 0}}},
     "config.layer.config.units"),
    ("Bidirectional", {"layer": {"class_name": "Dense", "config": {"units": 2}}},
     "config.layer"),
    ("Bidirectional", {"layer": _LSTM, "backward_layer": _LSTM}, "config.backward_layer"),
    ("Bidirectional", {"layer": {"class_name": "LSTM", "config": {"units": 3,
                                                                  "stateful": True}}},
     "config.layer.config.stateful"),
    ("RNN", {"cell": {"class_name": "Dense", "config": {"units": 2}}}, "config.cell"),
    ("RNN", {}, "config.cell"),
    ("StackedRNNCells", {"cells": []}, "config.cells"),
    ("ConvLSTM2D", {"filters": 2}, "config.kernel_size"),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 3, "padding": "causal"}, "config.padding"),
    ("ConvLSTM1D", {"filters": 0, "kernel_size": 3}, "config.filters"),
    ("TimeDistributed", {}, "config.layer"),
    ("MultiHeadAttention", {"num_heads": 2}, "config.key_dim"),
    ("MultiHeadAttention", {"num_heads": 0, "key_dim": 4}, "config.num_heads"),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4, "value_dim": 0},
     "config.value_dim"),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4, "dropout": 2.0}, "config.dropout"),
    ("GroupQueryAttention", {"head_dim": 4, "num_query_heads": 4, "num_key_value_heads": 3},
     "config.num_key_value_heads"),
    ("GroupQueryAttention", {"num_query_heads": 4, "num_key_value_heads": 2},
     "config.head_dim"),
    ("Attention", {"score_mode": "add"}, "config.score_mode"),
    ("AdditiveAttention", {"use_scale": "yes"}, "config.use_scale"),
]


@pytest.mark.parametrize("class_name,config,path", BAD,
                         ids=[f"{c}-{p}" for c, _, p in BAD])
def test_bad_config_names_the_field(class_name, config, path):
    with pytest.raises(ConfigError) as err:
        engine.deserialize({"module": "keras.layers", "class_name": class_name,
                            "config": config})
    assert str(err.value).startswith(path + ":"), str(err.value)


def test_stateful_message_says_why():
    with pytest.raises(ConfigError, match="stateful") as err:
        layer("LSTM", units=3, stateful=True)
    assert "state between" in str(err.value) and "initial_state" in str(err.value)


def test_mha_key_value_shapes_must_agree():
    mha = layer("MultiHeadAttention", num_heads=2, key_dim=2)
    with pytest.raises(ValueError, match="value and key"):
        mha(np.zeros((1, 3, 4)), np.zeros((1, 5, 4)), key=np.zeros((1, 6, 4)))


# -- output shapes -------------------------------------------------------------------------

RNN_SHAPES = [
    ("LSTM", {"units": 4, "return_state": True, "return_sequences": True}, (2, 5, 3)),
    ("GRU", {"units": 4, "return_state": True}, (2, 5, 3)),
    ("SimpleRNN", {"units": 2, "return_state": True, "go_backwards": True}, (2, 5, 3)),
    ("RNN", {"cell": [{"class_name": "LSTMCell", "config": {"units": 4}},
                      {"class_name": "GRUCell", "config": {"units": 2}}],
             "return_state": True}, (2, 5, 3)),
    ("Bidirectional", {"layer": {"class_name": "LSTM", "config": {
        "units": 3, "return_state": True, "return_sequences": True}}, "merge_mode": None},
     (2, 5, 3)),
    ("Bidirectional", {"layer": {"class_name": "GRU", "config": {"units": 3,
                                                                 "return_state": True}}},
     (2, 5, 3)),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 3, "return_state": True,
                    "return_sequences": True, "strides": 2}, (2, 3, 7, 6, 2)),
    ("ConvLSTM1D", {"filters": 2, "kernel_size": 3, "data_format": "channels_first",
                    "return_state": True}, (2, 3, 2, 6)),
    ("TimeDistributed", {"layer": {"class_name": "Dense", "config": {"units": 3}}},
     (2, 4, 5, 6)),
]


@pytest.mark.parametrize("class_name,config,shape", RNN_SHAPES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(RNN_SHAPES)])
def test_rnn_output_shapes_with_states(class_name, config, shape):
    lay = layer(class_name, **config)
    out = lay(np.random.default_rng(0).standard_normal(shape).astype("float32"))

    def shapes(tree):  # stacked cells return their states grouped per cell, as Keras
        if isinstance(tree, list):
            return [shapes(t) for t in tree]
        return tuple(np.shape(tree)) if hasattr(tree, "shape") else tuple(tree)

    want = lay.compute_output_shape(shape)
    assert shapes(out) == shapes(want)
    none = lay.compute_output_shape((None,) + shape[1:])
    flat = lambda t: [x for s in t for x in flat(s)] if isinstance(t, list) else [t]  # noqa
    assert [s[1:] for s in flat(shapes(none))] == [s[1:] for s in flat(shapes(want))]


def test_stacked_cells_return_states_per_cell_as_keras():
    lay = layer("RNN", cell=[{"class_name": "LSTMCell", "config": {"units": 4}},
                             {"class_name": "GRUCell", "config": {"units": 2}}],
                return_state=True)
    out, lstm_states, gru_states = lay(np.ones((2, 5, 3), "float32"))
    assert out.shape == (2, 2)
    assert [s.shape for s in lstm_states] == [(2, 4), (2, 4)]
    assert [s.shape for s in gru_states] == [(2, 2)]
    np.testing.assert_array_equal(gru_states[0], out)


ATT_SHAPES = [
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, [(2, 4, 6), (2, 5, 6)]),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3, "output_shape": [2, 5]},
     [(2, 4, 6), (2, 5, 3), (2, 5, 7)]),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 2, "attention_axes": [1, 2]},
     [(2, 3, 4, 5), (2, 2, 6, 5)]),
    ("GroupQueryAttention", {"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2},
     [(2, 4, 6), (2, 5, 6)]),
]


@pytest.mark.parametrize("class_name,config,shapes", ATT_SHAPES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(ATT_SHAPES)])
def test_attention_output_shapes_with_scores(class_name, config, shapes):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(s).astype("float32") for s in shapes]
    lay = layer(class_name, **config)
    key = {"key": xs[2]} if len(xs) == 3 else {}
    y, scores = lay(xs[0], xs[1], return_attention_scores=True, **key)
    args = shapes + [None] * (3 - len(shapes))
    assert lay.compute_output_shape(*args) == y.shape
    got = lay.compute_output_shape(*args, return_attention_scores=True)
    assert [tuple(g) for g in got] == [y.shape, scores.shape]
    np.testing.assert_allclose(scores.reshape(scores.shape[:-len(shapes[1]) + 2] + (-1,))
                               .sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("class_name", ["Attention", "AdditiveAttention"])
def test_dense_attention_output_shape_with_scores(class_name):
    rng = np.random.default_rng(0)
    shapes = [(2, 4, 6), (2, 5, 6), (2, 5, 6)]
    lay = layer(class_name)
    y, s = lay([rng.standard_normal(sh).astype("float32") for sh in shapes],
               return_attention_scores=True)
    assert lay.compute_output_shape(shapes, return_attention_scores=True) == [y.shape, s.shape]


# -- masking through recurrences -------------------------------------------------------------


def _seq(shape=(2, 6, 3), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


MASK = np.array([[1, 1, 0, 1, 0, 0], [1, 0, 0, 1, 1, 0]], bool)


@pytest.mark.parametrize("class_name", ["SimpleRNN", "LSTM", "GRU"])
def test_masked_steps_repeat_output_and_carry_state(class_name):
    lay = layer(class_name, units=4, return_sequences=True, return_state=True)
    x = _seq()
    out, *states = lay(x, mask=MASK)
    for b in range(2):
        for t in range(1, 6):
            if not MASK[b, t]:
                np.testing.assert_array_equal(out[b, t], out[b, t - 1])
    # the final state equals the state after the unmasked steps alone
    for b in range(2):
        kept = x[b:b + 1, MASK[b]]
        _, *ref = lay(kept)
        for s, r in zip(states, ref):
            np.testing.assert_allclose(s[b], r[0], rtol=1e-5, atol=1e-6)


def test_zero_output_for_mask_and_bidirectional_zeros():
    x = _seq()
    lay = layer("LSTM", units=3, return_sequences=True, zero_output_for_mask=True)
    out = lay(x, mask=MASK)
    assert np.all(out[~MASK] == 0) and np.all(np.abs(out[MASK]).sum(-1) > 0)
    bi = layer("Bidirectional", layer={"class_name": "GRU", "config": {
        "units": 3, "return_sequences": True}}, merge_mode=None)
    fwd, bwd = bi(x, mask=MASK)
    assert np.all(fwd[~MASK] == 0) and np.all(bwd[~MASK] == 0)
    assert bi.forward_layer.zero_output_for_mask and bi.backward_layer.zero_output_for_mask


def test_go_backwards_returns_reversed_sequence():
    x = _seq()
    fwd = layer("GRU", units=3, return_sequences=True)
    bwd = layer("GRU", units=3, return_sequences=True, go_backwards=True)
    fwd(x)
    bwd.build(x.shape)
    bwd.set_weights(fwd.get_weights())
    np.testing.assert_allclose(bwd(x), fwd(x[:, ::-1]), rtol=1e-6)


def test_unroll_and_time_major_give_the_same_result():
    x = _seq()
    a = layer("LSTM", units=3, return_sequences=True)
    b = layer("LSTM", units=3, return_sequences=True, unroll=True)
    c = layer("LSTM", "keras2", units=3, return_sequences=True, time_major=True)
    a(x)
    for other in (b, c):
        other.build(x.shape if other is b else x.swapaxes(0, 1).shape)
        other.set_weights(a.get_weights())
    np.testing.assert_array_equal(a(x), b(x))
    np.testing.assert_allclose(a(x), c(x.swapaxes(0, 1)).swapaxes(0, 1), rtol=1e-6)


def test_cell_step_matches_one_step_layer():
    x = _seq((2, 1, 3))
    lstm = layer("LSTM", units=4, return_state=True)
    y, h, c = lstm(x)
    cell = lstm.cell
    zeros = np.zeros((2, 4), "float32")
    out, (h2, c2) = cell(x[:, 0], [zeros, zeros])
    np.testing.assert_allclose(out, y, rtol=1e-6)
    np.testing.assert_allclose(c2, c, rtol=1e-6)


def test_initial_state_is_used():
    x = _seq()
    lay = layer("GRU", units=3)
    h0 = np.ones((2, 3), "float32")
    assert not np.allclose(lay(x), lay(x, initial_state=[h0]))
    with pytest.raises(ValueError, match="initial state"):
        lay(x, initial_state=[np.ones((2, 4), "float32")])


# -- dropout -----------------------------------------------------------------------------


@pytest.mark.parametrize("class_name,config", [
    ("LSTM", {"units": 4, "dropout": 0.5, "recurrent_dropout": 0.3, "seed": 5}),
    ("GRU", {"units": 4, "dropout": 0.4, "seed": 5}),
    ("GRU", {"units": 4, "recurrent_dropout": 0.4, "reset_after": False, "seed": 5}),
    ("SimpleRNN", {"units": 4, "dropout": 0.5, "recurrent_dropout": 0.5, "seed": 5}),
    ("ConvLSTM1D", {"filters": 2, "kernel_size": 3, "dropout": 0.5, "recurrent_dropout": 0.5,
                    "seed": 5}),
])
def test_rnn_dropout_identity_at_inference_seeded_in_training(class_name, config):
    shape = (2, 5, 6, 3) if class_name.startswith("Conv") else (2, 5, 3)
    x = _seq(shape)
    plain = {k: v for k, v in config.items() if "dropout" not in k and k != "seed"}
    a, b, ref = layer(class_name, **config), layer(class_name, **config), \
        layer(class_name, **plain)
    a(x)
    for other in (b, ref):
        other.build(x.shape)
        other.set_weights(a.get_weights())
    np.testing.assert_array_equal(a(x), ref(x))  # inference: dropout off
    ta, tb = a(x, training=True), b(x, training=True)
    np.testing.assert_array_equal(ta, tb)  # same seed, same draws
    assert not np.allclose(ta, ref(x))
    assert not np.allclose(ta, a(x, training=True))  # fresh masks on each call


@pytest.mark.parametrize("class_name,config,call", [
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3, "dropout": 0.5, "seed": 2}, "args"),
    ("GroupQueryAttention", {"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 1,
                             "dropout": 0.5, "seed": 2}, "args"),
    ("Attention", {"dropout": 0.5, "seed": 2}, "list"),
    ("AdditiveAttention", {"dropout": 0.5, "seed": 2}, "list"),
])
def test_attention_dropout_seeded(class_name, config, call):
    q, v = _seq((2, 4, 6), 1), _seq((2, 5, 6), 2)
    a, b = layer(class_name, **config), layer(class_name, **config)

    def run(lay, **kw):
        return lay(q, v, **kw) if call == "args" else lay([q, v], **kw)

    run(a)
    run(b)
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(run(a), run(b))
    ta, tb = run(a, training=True), run(b, training=True)
    np.testing.assert_array_equal(ta, tb)
    assert not np.allclose(ta, run(a))


def test_attention_fully_masked_query_rows():
    """Keras 3 zeroes the probabilities of a fully masked row on its softmax path (here
    with returned scores) and leaves it uniform on its fused path."""
    q, v = _seq((1, 3, 4), 3), _seq((1, 4, 4), 4)
    mha = layer("MultiHeadAttention", num_heads=1, key_dim=2)
    qm = np.array([[True, False, True]])
    _, s = mha(q, v, query_mask=qm, return_attention_scores=True)
    assert np.all(s[0, 0, 1] == 0) and np.allclose(s[0, 0, 0].sum(), 1)


def test_mha_batch_parallel_path_equals_serial(monkeypatch):
    from engine.layers.conv import ops as conv

    rng = np.random.default_rng(5)
    q, v = rng.standard_normal((5, 4, 6)).astype("float32"), \
        rng.standard_normal((5, 3, 6)).astype("float32")
    qm = rng.uniform(size=(5, 4)) > 0.3
    am = rng.uniform(size=(5, 4, 3)) > 0.2
    mha = layer("MultiHeadAttention", num_heads=2, key_dim=3, output_shape=[2, 2])
    kw = {"query_mask": qm, "attention_mask": am, "use_causal_mask": True,
          "return_attention_scores": True}
    serial = mha(q, v, **kw)
    monkeypatch.setattr(conv, "THREADS", 2)
    monkeypatch.setattr(conv, "PARALLEL_FLOPS", 0)
    par = mha(q, v, **kw)
    for a, b in zip(serial, par):
        np.testing.assert_array_equal(a, b)


def test_bidirectional_from_a_built_nested_layer_builds_both_directions():
    """Keras 3 writes the wrapped layer's build_config too: the layer is then built inside
    deserialize, before the wrapper copies it. Both directions get their own initialized
    weights, with distinct paths, and the wrapper runs."""
    gru = {"module": "keras.layers", "class_name": "GRU",
           "config": {"units": 4, "name": "gru_1"}, "build_config": {"input_shape": [2, 5, 3]}}
    cfg = {"module": "keras.layers", "class_name": "Bidirectional",
           "config": {"layer": gru, "name": "bid"}, "build_config": {"input_shape": [2, 5, 3]}}
    layer = engine.deserialize(cfg)
    paths = [w.path for w in layer.weights]
    assert len(paths) == 6 and len(set(paths)) == 6
    fwd, bwd = layer.forward_layer.get_weights(), layer.backward_layer.get_weights()
    assert all(w is not None for w in fwd + bwd)
    assert not np.array_equal(fwd[0], bwd[0])
    assert layer(np.ones((2, 5, 3), "float32")).shape == (2, 8)
