"""engine.gradients for what came last: RNN initial states as inputs (``[x, *states]``,
``call_kwargs={'initial_state': ...}``, functional models feeding ``initial_state=``),
``time_major=True``, ``return_attention_scores=True`` (two outputs, two cotangents),
``call_kwargs``, Bidirectional's states grouped per cell, and tf_keras's dropout-mask
layout (the engine's forward follows the Keras version the config was read in):
finite differences in float64, the VJP's forward against the layer's own call, and the
layer's own training forward against TensorFlow with the recorded masks.

The TensorFlow cases (tests/oracle_gen/gradients_states.py) run in test_gradients.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import engine
from engine import ConfigError
from engine.gradients import Call, gradients
from engine.gradients.lookup import vjp_of
from engine.gradients.model import flatten
from tests.engine.grad_helpers import fd_check, install_draws, perturb_weights, reseed

DATA = Path(__file__).resolve().parents[1] / "data" / "keras" / "generated" / "gradients"


def _policy(dtype):
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype}}


def k3(name, **config):
    """A Keras 3 config (detected as such by its dtype policy)."""
    return {"module": "keras.layers", "class_name": name, "config": config}


def k2(name, **config):
    """A tf_keras config (string dtype, no module)."""
    return {"class_name": name, "config": config}


def _with_dtype(cfg, dtype):
    out = json.loads(json.dumps(cfg))
    out["config"]["dtype"] = _policy(dtype) if "module" in cfg else dtype
    for key in ("layer", "backward_layer"):
        if isinstance(out["config"].get(key), dict):
            out["config"][key] = _with_dtype(out["config"][key], dtype)
    cell = out["config"].get("cell")
    if isinstance(cell, list):
        out["config"]["cell"] = [_with_dtype(c, dtype) for c in cell]
    return out


#: (config, input shapes (x first, then the initial states), training, call kwargs)
CASES = [
    (k3("LSTM", units=3, return_state=True), [(2, 4, 2), (2, 3), (2, 3)], False, {}),
    (k3("GRU", units=2, go_backwards=True, return_sequences=True), [(2, 3, 2), (2, 2)],
     False, {}),
    (k3("SimpleRNN", units=2, dropout=0.3, recurrent_dropout=0.4, return_state=True),
     [(2, 3, 2), (2, 2)], True, {}),
    (k3("RNN", cell=[k3("LSTMCell", units=2), k3("GRUCell", units=3)], return_state=True),
     [(2, 3, 2), (2, 2), (2, 2), (2, 3)], False, {}),
    (k3("ConvLSTM1D", filters=2, kernel_size=2, data_format="channels_first",
        return_state=True), [(1, 3, 2, 4), (1, 2, 3), (1, 2, 3)], False, {}),
    (k2("GRU", units=2, time_major=True, go_backwards=True, return_sequences=True),
     [(4, 2, 3)], False, {}),
    (k2("LSTM", units=2, time_major=True, return_sequences=True, return_state=True),
     [(3, 2, 2), (2, 2), (2, 2)], False, {}),
    (k3("Bidirectional", layer=k3("LSTM", units=2, return_state=True,
                                  return_sequences=True), merge_mode=None),
     [(2, 3, 2), (2, 2), (2, 2), (2, 2), (2, 2)], False, {}),
    (k3("Bidirectional", layer=k3("RNN", cell=[k3("LSTMCell", units=2),
                                               k3("GRUCell", units=2)],
                                  return_state=True)), [(2, 3, 2)], False, {}),
    (k2("Bidirectional", layer=k2("GRU", units=2, time_major=True, return_sequences=True)),
     [(3, 2, 2)], False, {}),
    # tf_keras's masks: a fresh input mask per step on the fused LSTM/GRU path, per gate
    # with implementation=1 on the cell path
    (k2("LSTM", units=2, dropout=0.3, return_sequences=True), [(2, 4, 3)], True, {}),
    (k2("GRU", units=2, dropout=0.3, time_major=True, go_backwards=True),
     [(3, 2, 2)], True, {}),
    (k2("LSTM", units=2, dropout=0.3, implementation=1, unroll=True), [(2, 3, 3)], True,
     {}),
    (k2("GRU", units=2, dropout=0.3, implementation=1, reset_after=False,
        return_sequences=True), [(2, 3, 3)], True, {}),
    # return_attention_scores
    (k3("MultiHeadAttention", num_heads=2, key_dim=2), [(2, 3, 4), (2, 4, 4)], False,
     {"return_attention_scores": True}),
    (k3("MultiHeadAttention", num_heads=2, key_dim=2, dropout=0.3), [(2, 3, 4), (2, 3, 4)],
     True, {"return_attention_scores": True, "use_causal_mask": True}),
    (k3("GroupedQueryAttention", head_dim=2, num_query_heads=2, num_key_value_heads=1,
        dropout=0.25), [(2, 3, 4), (2, 2, 4)], True, {"return_attention_scores": True}),
    (k3("Attention", dropout=0.4, use_scale=True), [(2, 3, 4), (2, 5, 4)], True,
     {"return_attention_scores": True}),
    (k3("AdditiveAttention", use_scale=True), [(2, 3, 4), (2, 2, 4), (2, 2, 4)], False,
     {"return_attention_scores": True, "use_causal_mask": True}),
]
IDS = [f"{c[0]['class_name']}-{i}" for i, c in enumerate(CASES)]
SEVERAL_ARGS = ("MultiHeadAttention", "GroupedQueryAttention")


def _layer(cfg, shapes, dtype):
    layer = engine.deserialize(_with_dtype(cfg, dtype))
    name = cfg["class_name"]
    several = name in ("Attention", "AdditiveAttention") or name in SEVERAL_ARGS
    layer.build([tuple(s) for s in shapes] if several else shapes[0])
    return layer


def _inputs(shapes, rng, dtype):
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("cfg,shapes,training,kwargs", CASES, ids=IDS)
def test_vjp_matches_finite_differences_float64(cfg, shapes, training, kwargs):
    rng = np.random.default_rng(31)
    layer = _layer(cfg, shapes, "float64")
    perturb_weights(layer, rng)
    fd_check(layer, _inputs(shapes, rng, "float64"), training, rng,
             extra={"kwargs": kwargs} if kwargs else None)


def _own_call(layer, xs, name, training, kwargs):
    if name in SEVERAL_ARGS:
        return layer(*xs, training=training, **kwargs)
    if name in ("Attention", "AdditiveAttention"):
        return layer(xs, training=training, **kwargs)
    return layer(xs[0], initial_state=xs[1:] or None, training=training, **kwargs)


#: the engine layer's call differs from Keras there (strict: fixed -> remove the mark)
OWN_CALL = CASES


@pytest.mark.parametrize("cfg,shapes,training,kwargs", OWN_CALL, ids=IDS)
def test_forward_is_the_layers_own_call(cfg, shapes, training, kwargs):
    """float32, same generators: the VJP's outputs (nested as the layer nests them) are
    the layer's call with the same initial states, layout and dropout draws."""
    name = cfg["class_name"]
    rng = np.random.default_rng(5)
    a, b = _layer(cfg, shapes, "float32"), _layer(cfg, shapes, "float32")
    b.set_weights(a.get_weights())
    xs = _inputs(shapes, rng, "float32")
    reseed(a, 3)
    reseed(b, 3)
    got, _ = vjp_of(a, a.name)(a, xs, Call(training=training, where=a.name,
                                           extra={"kwargs": kwargs}))
    want = _own_call(b, xs, name, training, kwargs)
    assert _structure(got) == _structure(want)
    for x, y in zip(flatten(got), flatten(want)):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def _structure(v):
    if isinstance(v, (list, tuple)):
        return [_structure(x) for x in v]
    return np.shape(v)


# -- the layer's own training forward against TensorFlow (item: tf_keras's masks) -----------

K2_DROPOUT = sorted(p for p in DATA.glob("*_k2_*dropout*training.npz"))


def test_there_are_tf_keras_dropout_cases():
    assert len(K2_DROPOUT) >= 7


@pytest.mark.parametrize("path", K2_DROPOUT, ids=[p.stem for p in K2_DROPOUT])
def test_the_layers_own_training_forward_uses_tf_keras_masks(path):
    """The engine layer's call (not the VJP) in training, its generator replaying the
    uniforms TensorFlow got as masks: TensorFlow's outputs. A fresh mask per step on
    tf_keras's fused LSTM/GRU path, one per gate with implementation=1."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    layer = engine.deserialize(meta["serialized"])
    assert layer.source_format == "keras2"
    x = arrays["x0"]
    layer.build(x.shape)
    layer.set_weights([arrays[f"w{i}"] for i in range(len(meta["weights"]))])
    replays = install_draws(layer, meta, arrays)
    y = flatten(layer(x, training=True))
    for where, replay in replays:
        assert replay.at == len(replay.draws), f"{where}: recorded draws left unused"
    for i, v in enumerate(y):
        np.testing.assert_allclose(v, arrays[f"y{i}"], rtol=1e-5, atol=1e-5)


def test_keras2_fused_lstm_draws_a_mask_per_step_keras3_one_for_all_steps():
    x = np.ones((2, 5, 3), "float32")
    counts = {}
    for fmt, cfg in (("keras2", k2("LSTM", units=2, dropout=0.5)),
                     ("keras3", k3("LSTM", units=2, dropout=0.5))):
        layer = engine.deserialize(_with_dtype(cfg, "float32"))
        assert layer.source_format == fmt
        layer.build(x.shape)
        layer.cell._begin(2, (3,), True, layer._seq_dropout(5))
        (m,) = layer.cell._dp
        counts[fmt] = m.shape
        layer.cell._end()
    assert counts == {"keras2": (5, 2, 3), "keras3": (2, 3)}
    # tf_keras's cell path with implementation=1: one mask per gate (shared by the steps)
    layer = engine.deserialize(_with_dtype(k2("LSTM", units=2, dropout=0.5,
                                              implementation=1, activation="relu"),
                                           "float32"))
    layer.build(x.shape)
    assert layer._seq_dropout(5) is None and layer.cell._mask_count() == 4


# -- call_kwargs -------------------------------------------------------------------------


def test_call_kwargs_reverse_and_attention_scores():
    emb = engine.deserialize(k3("ReversibleEmbedding", input_dim=5, output_dim=3))
    emb.build((2, 4))
    table = np.random.default_rng(3).standard_normal((5, 3)).astype("float32")
    emb.set_weights([table])  # (the default initializer is unseeded: the same case each run)
    h = np.random.default_rng(0).standard_normal((2, 3)).astype("float32")
    g = gradients(emb, h, call_kwargs={"reverse": True})
    np.testing.assert_allclose(g.value, h @ table.T, rtol=1e-6)
    # the input gradient sums the 5 rows in float32: rounding up to a few ulps of the
    # terms' magnitudes (a sum that nearly cancels is only that exact)
    np.testing.assert_allclose(g.inputs[0], np.ones((2, 5)) @ table.astype(np.float64),
                               rtol=1e-5, atol=1e-6 * float(np.abs(table).sum(0).max()))
    np.testing.assert_allclose(g.weights[emb.embeddings.path], np.ones((5, 2)) @ h,
                               rtol=1e-5)
    mha = engine.deserialize(k3("MultiHeadAttention", num_heads=2, key_dim=2))
    q = np.random.default_rng(1).standard_normal((2, 3, 4)).astype("float32")
    mha.build(q.shape, q.shape)
    out, scores = gradients(mha, [q, q], call_kwargs={"return_attention_scores": True}).value
    assert scores.shape == (2, 2, 3, 3)
    # a cotangent on the scores alone reaches the query/key side, not the value projection
    # (not ones: the rows of a softmax sum to one, d sum(p) = 0)
    c = np.random.default_rng(2).standard_normal(scores.shape).astype("float32")
    g = gradients(mha, [q, q], [np.zeros_like(out), c],
                  call_kwargs={"return_attention_scores": True})
    assert not g.weights[mha._value.kernel.path].any()
    assert g.weights[mha._query.kernel.path].any()


def test_initial_state_in_call_kwargs_is_an_input_with_a_gradient():
    lstm = engine.deserialize(k3("LSTM", units=2))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 2)).astype("float32")
    h, c = rng.standard_normal((2, 2, 2)).astype("float32")
    by_kw = gradients(lstm, x, call_kwargs={"initial_state": [h, c]})
    by_list = gradients(lstm, [x, h, c])
    assert len(by_kw.inputs) == 3
    for a, b in zip(by_kw.inputs, by_list.inputs):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(by_kw.value, lstm(x, initial_state=[h, c]), rtol=1e-6)
    with pytest.raises(ConfigError, match="expected 2 initial state"):
        gradients(lstm, [x, h])


def test_call_kwargs_errors_say_what_to_do():
    dense = engine.deserialize(k3("Dense", units=2))
    x = np.ones((1, 3), "float32")
    with pytest.raises(ConfigError, match=r"call_kwargs.reverse: layer 'dense.*' \(Dense\) "
                                          r"takes no call argument 'reverse'"):
        gradients(dense, x, call_kwargs={"reverse": True})
    with pytest.raises(ConfigError, match="call_kwargs.training: pass training=True"):
        gradients(dense, x, call_kwargs={"training": True})
    with pytest.raises(ConfigError, match="call_kwargs: expected a dict"):
        gradients(dense, x, call_kwargs=[("reverse", True)])
    mha = engine.deserialize(k3("MultiHeadAttention", num_heads=1, key_dim=2))
    with pytest.raises(ConfigError, match="call_kwargs.value: 'value' is an input"):
        gradients(mha, np.ones((1, 2, 3), "float32"), call_kwargs={"value": x})
    model = engine.Sequential([dense])
    model.build((None, 3))
    with pytest.raises(ConfigError, match="call_kwargs is for a single layer"):
        gradients(model, x, call_kwargs={"reverse": True})


# -- models: initial states from Input tensors --------------------------------------------


def _t(name, shape):
    return {"class_name": "__keras_tensor__", "config": {
        "shape": shape, "dtype": "float64", "keras_history": [name, 0, 0]}}


def _input(name, shape):
    return {"module": "keras.layers", "class_name": "InputLayer", "name": name,
            "config": {"batch_shape": shape, "dtype": "float64", "name": name},
            "inbound_nodes": []}


def _state_model():
    """x -> LSTM(initial_state=[h0, c0]) and SimpleRNN(h0, positional) -> Concatenate."""
    f64 = _policy("float64")
    layers = [
        _input("x", [None, 3, 2]), _input("h0", [None, 2]), _input("c0", [None, 2]),
        {"module": "keras.layers", "class_name": "LSTM", "name": "lstm",
         "config": {"units": 2, "name": "lstm", "dtype": f64, "go_backwards": True},
         "inbound_nodes": [{"args": [_t("x", [None, 3, 2])], "kwargs": {
             "initial_state": [_t("h0", [None, 2]), _t("c0", [None, 2])]}}]},
        {"module": "keras.layers", "class_name": "SimpleRNN", "name": "rnn",
         "config": {"units": 2, "name": "rnn", "dtype": f64},
         "inbound_nodes": [{"args": [_t("x", [None, 3, 2]), _t("h0", [None, 2])],
                            "kwargs": {}}]},
        {"module": "keras.layers", "class_name": "Concatenate", "name": "cat",
         "config": {"name": "cat", "dtype": f64},
         "inbound_nodes": [{"args": [[_t("lstm", [None, 2]), _t("rnn", [None, 2])]],
                            "kwargs": {}}]}]
    return engine.deserialize({"module": "keras", "class_name": "Functional", "config": {
        "name": "m", "layers": layers,
        "input_layers": [["x", 0, 0], ["h0", 0, 0], ["c0", 0, 0]],
        "output_layers": [["cat", 0, 0]]}})


def test_model_initial_states_match_finite_differences_float64():
    model = _state_model()
    rng = np.random.default_rng(8)
    perturb_weights(model, rng)
    xs = [rng.standard_normal(s) for s in ((2, 3, 2), (2, 2), (2, 2))]
    cot = rng.standard_normal((2, 4))
    g = gradients(model, xs, cot)
    np.testing.assert_allclose(g.value, model(xs), rtol=1e-12)

    def f():
        return float(np.sum(np.asarray(model(xs)) * cot))

    h = 1e-6
    for i, x in enumerate(xs):
        for idx in list(np.ndindex(x.shape))[:5]:
            old = x[idx]
            x[idx] = old + h
            up = f()
            x[idx] = old - h
            down = f()
            x[idx] = old
            assert g.inputs[i][idx] == pytest.approx((up - down) / (2 * h), rel=1e-6,
                                                     abs=1e-8), f"input {i} at {idx}"
    for w in model.weights:
        for idx in list(np.ndindex(w.shape))[:3]:
            old = w.value[idx]
            w.value[idx] = old + h
            up = f()
            w.value[idx] = old - h
            down = f()
            w.value[idx] = old
            assert g.weights[w.path][idx] == pytest.approx((up - down) / (2 * h), rel=1e-6,
                                                           abs=1e-8), f"{w.path} at {idx}"


def test_bidirectional_states_are_grouped_as_the_layer_groups_them():
    layer = engine.deserialize(_with_dtype(k3(
        "Bidirectional", layer=k3("RNN", cell=[k3("LSTMCell", units=2),
                                               k3("GRUCell", units=3)], return_state=True)),
        "float32"))
    x = np.random.default_rng(4).standard_normal((2, 3, 2)).astype("float32")
    layer.build(x.shape)
    want = layer(x)
    g = gradients(layer, x)
    assert _structure(g.value) == _structure(want) == [
        (2, 6), [(2, 2), (2, 2)], [(2, 3)], [(2, 2), (2, 2)], [(2, 3)]]


def test_bidirectional_over_a_time_major_layer_reverses_the_time_axis():
    """tf_keras reverses the backward output along axis 0 for a time_major layer: the
    result is the batch-major Bidirectional's, transposed, with the same weights."""
    tm = engine.deserialize(k2("Bidirectional", layer=k2("LSTM", units=2, time_major=True,
                                                         return_sequences=True)))
    bm = engine.deserialize(k2("Bidirectional", layer=k2("LSTM", units=2,
                                                         return_sequences=True)))
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype("float32")  # (t, b, f)
    tm.build(x.shape)
    bm.build((2, 4, 3))
    bm.set_weights(tm.get_weights())
    np.testing.assert_allclose(tm(x), bm(x.transpose(1, 0, 2)).transpose(1, 0, 2),
                               rtol=1e-6, atol=1e-6)
    g = gradients(tm, x)
    gb = gradients(bm, x.transpose(1, 0, 2))
    np.testing.assert_allclose(g.inputs[0], gb.inputs[0].transpose(1, 0, 2), rtol=1e-5,
                               atol=1e-6)
