"""Gradient cases from real Keras / TensorFlow for what engine.gradients took on last:
RNN initial states as inputs (a layer called on ``[x, *states]``, and functional models
feeding ``initial_state=`` from Input tensors), tf_keras's ``time_major=True``, the
attention layers' ``return_attention_scores=True`` (both outputs with cotangents),
Bidirectional's grouped states around stacked cells, and tf_keras's own dropout-mask
layout in training (one mask per gate with ``implementation=1``; a fresh input mask at
every step on the fused LSTM/GRU path).

    /work/oracle-venv/bin/python -m tests.oracle_gen gradients_states   # from the root

Written like tests/oracle_gen/gradients.py's cases (same ``record``, same directory);
the dropout draws are recorded as in gradients_extra.py: the uniforms the engine draws,
in its order, given to TensorFlow as masks in place of its own.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .gradients import G, L, record
from .gradients_extra import _cell, _Draws, _masks, attention_setup

CASES: list[Any] = []  # nothing for the layer-case loop of tests.oracle_gen


def k2_rnn_setup(batch: int, steps: int, in_dim: int, time_major: bool = False):
    """Fix a tf_keras LSTM/GRU/SimpleRNN's masks the way tf_keras uses them, decided by
    tf_keras itself: the fused path (``_could_use_gpu_kernel``) multiplies the input by
    ``mask[0]`` drawn on the whole input's shape; the cell path uses ``count`` per-gate
    masks with ``implementation == 1`` (forced by recurrent dropout) and ``mask[0]``
    otherwise. The engine draws (cell ``_begin``): the input masks, then the recurrent
    masks."""
    def setup(keras, obj, rng):
        import tensorflow as tf
        d = _Draws(rng)
        cell = obj.cell
        n_gates = {"LSTMCell": 4, "GRUCell": 3}.get(type(cell).__name__, 1)
        per_gate = n_gates > 1 and getattr(cell, "implementation", 2) == 1
        n = n_gates if per_gate else 1
        fused = bool(getattr(obj, "_could_use_gpu_kernel", False))
        seq = (steps, batch) if time_major else (batch, steps)
        shapes = []
        if 0 < cell.dropout < 1:
            shapes += [seq + (in_dim,)] if fused else [(batch, in_dim)] * n
        if 0 < cell.recurrent_dropout < 1:
            shapes += [(batch, cell.units)] * n
        us = d.draw("cell", shapes)
        n_in = (1 if fused else n) if 0 < cell.dropout < 1 else 0
        dp = [tf.constant(_masks(u, cell.dropout)) for u in us[:n_in]] or None
        rdp = [tf.constant(_masks(u, cell.recurrent_dropout)) for u in us[-n:]] \
            if 0 < cell.recurrent_dropout < 1 else None

        def give(masks):
            def get(inputs, training, count=1):
                if masks is None:
                    return None
                if count == 1:
                    return masks[0]
                return list(masks) if len(masks) == count else [masks[0]] * count
            return get
        d.patch(obj if fused else cell, "get_dropout_mask_for_cell", give(dp))
        d.patch(cell, "get_recurrent_dropout_mask_for_cell", give(rdp))
        return d.result()
    return setup


def _lstm_initial_state(keras):
    x = keras.Input((4, 3), name="x")
    h, c = keras.Input((5,), name="h0"), keras.Input((5,), name="c0")
    y = keras.layers.LSTM(5, return_sequences=True, name="lstm")(x, initial_state=[h, c])
    return keras.Model([x, h, c], keras.layers.Dense(2, name="out")(y), name="lstm_init")


def _bidirectional_initial_state(keras):
    x = keras.Input((4, 3), name="x")
    hf, hb = keras.Input((3,), name="hf"), keras.Input((3,), name="hb")
    y = keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True),
                                   name="bi")(x, initial_state=[hf, hb])
    return keras.Model([x, hf, hb], keras.layers.Dense(2, name="out")(y), name="bi_init")


def _shared_state(keras):
    """One state feeds two RNNs and a Dense: its gradients add up."""
    x = keras.Input((3, 2), name="x")
    h = keras.Input((4,), name="h0")
    a = keras.layers.GRU(4, name="gru_a")(x, initial_state=h)
    b = keras.layers.SimpleRNN(4, go_backwards=True, name="rnn_b")(x, initial_state=[h])
    y = keras.layers.Add(name="add")([a, b, keras.layers.Dense(4, name="d")(h)])
    return keras.Model([x, h], y, name="shared_state")


def _time_major_masked(keras):
    """tf_keras: ids (time, batch) -> Embedding(mask_zero) -> time-major GRU and LSTM (the
    mask is (time, batch) too)."""
    x = keras.Input((3,), dtype="int32", name="ids")  # "batch" axis = time here
    h = keras.layers.Embedding(9, 4, mask_zero=True, name="emb")(x)
    h = keras.layers.GRU(3, time_major=True, return_sequences=True, name="gru")(h)
    h = keras.layers.LSTM(2, time_major=True, go_backwards=True, name="lstm")(h)
    return keras.Model(x, keras.layers.Dense(2, name="out")(h), name="time_major_masked")


def _attention_scores(keras):
    q, v = keras.Input((3, 4), name="q"), keras.Input((5, 4), name="v")
    o, s = keras.layers.MultiHeadAttention(2, 2, name="mha")(q, v,
                                                             return_attention_scores=True)
    o2, s2 = keras.layers.Attention(name="att")([o, v], return_attention_scores=True)
    y = keras.layers.Dense(2, name="out")(o2)
    return keras.Model([q, v], [y, s, s2], name="attention_scores")


STATES = [
    # initial states: a layer called on (x, states), and models fed by Input tensors
    L("lstm_initial_state_args", "LSTM", {"units": 3, "return_state": True}, [
        (2, 4, 3), (2, 3), (2, 3)], call="states"),
    L("gru_initial_state_backwards", "GRU", {"units": 3, "go_backwards": True,
                                             "return_sequences": True}, [(2, 4, 2), (2, 3)],
      call="states"),
    L("bidirectional_lstm_initial_state_states", "Bidirectional",
      {"layer": _cell("LSTM", units=2, return_state=True), "merge_mode": "sum"},
      [(2, 3, 3), (2, 2), (2, 2), (2, 2), (2, 2)], call="states"),
    G("model_lstm_initial_state", _lstm_initial_state, [(2, 4, 3), (2, 5), (2, 5)],
      call="list"),
    G("model_lstm_initial_state_k2", _lstm_initial_state, [(2, 4, 3), (2, 5), (2, 5)],
      call="list", keras2=True),
    G("model_bidirectional_initial_state", _bidirectional_initial_state,
      [(2, 4, 3), (2, 3), (2, 3)], call="list", loss="mse", target_kind="normal"),
    G("model_bidirectional_initial_state_k2", _bidirectional_initial_state,
      [(2, 4, 3), (2, 3), (2, 3)], call="list", keras2=True),
    G("model_shared_initial_state", _shared_state, [(3, 3, 2), (3, 4)], call="list"),
    # tf_keras time_major
    L("lstm_time_major_k2", "LSTM", {"units": 3, "time_major": True,
                                     "return_sequences": True, "return_state": True},
      [(5, 2, 3)], keras2=True),
    L("gru_time_major_k2", "GRU", {"units": 3, "time_major": True, "go_backwards": True},
      [(4, 2, 3)], keras2=True),
    G("model_time_major_masked_k2", _time_major_masked, [(5, 3)], input_kind="padded:9",
      keras2=True),
    L("simple_rnn_time_major_k2", "SimpleRNN", {"units": 2, "time_major": True,
                                                "return_sequences": True}, [(3, 2, 4)],
      keras2=True),
    # Bidirectional around stacked cells, with states (grouped per cell)
    L("bidirectional_stacked_cells_states", "Bidirectional",
      {"layer": _cell("RNN", cell=[_cell("LSTMCell", units=3), _cell("GRUCell", units=2)],
                      return_sequences=True, return_state=True), "merge_mode": "concat"},
      [(2, 4, 3)]),
    # return_attention_scores: both outputs, both cotangents
    L("mha_scores", "MultiHeadAttention", {"num_heads": 2, "key_dim": 3},
      [(2, 4, 6), (2, 5, 6)], call="args", extra={"return_attention_scores": True}),
    L("mha_scores_causal_dropout_training", "MultiHeadAttention",
      {"num_heads": 2, "key_dim": 2, "dropout": 0.3}, [(2, 4, 5), (2, 4, 5)], call="args",
      extra={"return_attention_scores": True, "use_causal_mask": True}, training=True,
      setup=attention_setup((2, 2, 4, 4), 0.3)),
    L("mha_scores_2d_axes", "MultiHeadAttention",
      {"num_heads": 2, "key_dim": 2, "attention_axes": [1, 2]},
      [(1, 2, 3, 4), (1, 2, 2, 4)], call="args", extra={"return_attention_scores": True}),
    L("gqa_scores", "GroupQueryAttention",
      {"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2},
      [(2, 3, 5), (2, 4, 5)], call="args", extra={"return_attention_scores": True}),
    L("attention_scores_dropout_training", "Attention", {"dropout": 0.4, "use_scale": True},
      [(2, 3, 4), (2, 5, 4)], call="list",
      extra={"return_attention_scores": True, "use_causal_mask": True}, training=True,
      setup=attention_setup((2, 3, 5), 0.4)),
    L("additive_attention_scores", "AdditiveAttention", {"use_scale": True},
      [(2, 3, 4), (2, 4, 4), (2, 4, 4)], call="list",
      extra={"return_attention_scores": True}),
    G("model_attention_scores", _attention_scores, [(2, 3, 4), (2, 5, 4)], call="list"),
    # tf_keras's dropout masks (training)
    L("lstm_k2_fused_dropout_training", "LSTM", {"units": 3, "dropout": 0.3,
                                                 "return_sequences": True},
      [(2, 4, 3)], keras2=True, training=True, setup=k2_rnn_setup(2, 4, 3)),
    L("gru_k2_fused_dropout_backwards_training", "GRU",
      {"units": 3, "dropout": 0.25, "go_backwards": True, "return_sequences": True},
      [(2, 5, 2)], keras2=True, training=True, setup=k2_rnn_setup(2, 5, 2)),
    L("lstm_k2_fused_dropout_time_major_training", "LSTM",
      {"units": 2, "dropout": 0.4, "time_major": True}, [(4, 2, 3)], keras2=True,
      training=True, setup=k2_rnn_setup(2, 4, 3, time_major=True)),
    L("lstm_k2_rec_dropout_impl2_training", "LSTM",
      {"units": 3, "dropout": 0.2, "recurrent_dropout": 0.3, "implementation": 2,
       "return_sequences": True}, [(2, 4, 3)], keras2=True, training=True,
      setup=k2_rnn_setup(2, 4, 3)),
    L("gru_k2_rec_dropout_v1_training", "GRU",
      {"units": 3, "dropout": 0.2, "recurrent_dropout": 0.3, "reset_after": False},
      [(2, 4, 2)], keras2=True, training=True, setup=k2_rnn_setup(2, 4, 2)),
    L("lstm_k2_impl1_unrolled_dropout_training", "LSTM",
      {"units": 3, "dropout": 0.3, "implementation": 1, "unroll": True},
      [(2, 3, 3)], keras2=True, training=True, setup=k2_rnn_setup(2, 3, 3)),
    L("lstm_k2_impl2_no_bias_dropout_training", "LSTM",
      {"units": 3, "dropout": 0.3, "use_bias": False, "return_sequences": True},
      [(2, 4, 3)], keras2=True, training=True, setup=k2_rnn_setup(2, 4, 3)),
    L("gru_k2_impl1_relu_dropout_training", "GRU",
      {"units": 2, "dropout": 0.35, "implementation": 1, "activation": "relu"},
      [(2, 4, 3)], keras2=True, training=True, setup=k2_rnn_setup(2, 4, 3)),
]


def main(argv: list[str]) -> int:
    failed = 0
    for g in STATES:
        if argv and not any(a in g.name for a in argv):
            continue
        try:
            record(g)
            print(f"gradients_states: {g.name}: written")
        except Exception as e:  # report and go on: one failure must not hide the rest
            failed += 1
            print(f"gradients_states: {g.name}: FAILED: {type(e).__name__}: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
    sys.exit(main(sys.argv[1:]))
