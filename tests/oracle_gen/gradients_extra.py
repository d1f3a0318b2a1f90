"""More gradient cases from real Keras / TensorFlow for engine.gradients: training-mode
dropout inside recurrent and attention layers, stacked RNN cells, ConvLSTM1D/2D/3D,
ReversibleEmbedding, sparsemax and (tf_keras) LocallyConnected1D/2D.

    /work/oracle-venv/bin/python -m tests.oracle_gen gradients_extra   # from the root

Written like tests/oracle_gen/gradients.py's cases (same ``record``, same directory).

Dropout: a random mask cannot be drawn alike by TensorFlow and NumPy, so each dropout
case draws its uniforms here (seeded), gives TensorFlow the masks ``(u >= rate) / (1 -
rate)`` in place of its own draw (the cell's ``get_dropout_mask`` /
``get_recurrent_dropout_mask``, the attention layers' dropout), and records the uniforms
``u<i>`` with ``meta["draws"]``: ``[[where in the engine object, [u names]], ...]``. The
test hands the engine layer a generator that returns exactly these uniforms, in the order
the engine draws them (per cell: the input masks, then the recurrent masks; one mask for
every gate, or one per gate with recurrent dropout, Keras's ``implementation=1``), so the
engine's own mask code builds the same masks from them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from .gradients import G, L, record

CASES: list[Any] = []  # nothing for the layer-case loop of tests.oracle_gen


def _masks(u: np.ndarray, rate: float):
    return ((u >= rate) / (1.0 - rate)).astype("float32")


class _Draws:
    """Collects the uniforms of one case and the engine places that draw them."""

    def __init__(self, rng: np.random.Generator):
        self.rng, self.arrays, self.spec, self.undo = rng, {}, [], []

    def draw(self, where: str, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        names = []
        out = []
        for shape in shapes:
            name = f"u{len(self.arrays)}"
            u = self.rng.random(shape)
            self.arrays[name] = u
            names.append(name)
            out.append(u)
        self.spec.append([where, names])
        return out

    def patch(self, obj: Any, attr: str, value: Any) -> None:
        had = attr in obj.__dict__
        old = obj.__dict__.get(attr)
        object.__setattr__(obj, attr, value)

        def undo():
            if had:
                object.__setattr__(obj, attr, old)
            else:
                object.__delattr__(obj, attr)
        self.undo.append(undo)

    def result(self):
        def restore():
            for fn in reversed(self.undo):
                fn()
        return self.arrays, self.spec, restore


def _cell_masks(d: _Draws, cell: Any, where: str, batch: int, in_dim: int,
                conv: tuple | None = None) -> None:
    """Fix a Keras 3 cell's masks: ``count`` per-gate masks with recurrent dropout
    (implementation 1; always 4 for ConvLSTM), else one. ``conv``: the (input, state)
    step shapes of a ConvLSTM cell, channels last."""
    import tensorflow as tf
    count = getattr(cell, "dropout_mask_count", None)
    n = count or 1
    in_shape, st_shape = ((batch, in_dim), (batch, getattr(cell, "units", None))) \
        if conv is None else ((batch,) + conv[0], (batch,) + conv[1])
    shapes = []
    if 0 < cell.dropout < 1:
        shapes += [in_shape] * n
    if 0 < cell.recurrent_dropout < 1:
        shapes += [st_shape] * n
    us = d.draw(where, shapes)
    dp = [tf.constant(_masks(u, cell.dropout)) for u in us[:n]] if 0 < cell.dropout < 1 \
        else None
    rdp = [tf.constant(_masks(u, cell.recurrent_dropout)) for u in us[-n:]] \
        if 0 < cell.recurrent_dropout < 1 else None
    one = count is None
    d.patch(cell, "get_dropout_mask", lambda x: None if dp is None else dp[0] if one else dp)
    d.patch(cell, "get_recurrent_dropout_mask",
            lambda h: None if rdp is None else rdp[0] if one else rdp)


def rnn_setup(batch: int, in_dim: int, where: str = "cell", conv: tuple | None = None):
    def setup(keras, obj, rng):
        d = _Draws(rng)
        layer = obj.get_layer(where.split(":")[1].split(".")[0]) if where.startswith(
            "layer:") else obj
        if hasattr(layer, "forward_layer"):
            cells = {"forward_layer.cell": layer.forward_layer.cell,
                     "backward_layer.cell": layer.backward_layer.cell}
        elif hasattr(layer.cell, "cells"):
            dims = [in_dim] + [c.units for c in layer.cell.cells[:-1]]
            cells = {f"cell.cells.{k}": c for k, c in enumerate(layer.cell.cells)}
            for (path, c), dim in zip(cells.items(), dims):
                _cell_masks(d, c, path, batch, dim)
            return d.result()
        else:
            cells = {"cell": layer.cell}
        prefix = where + "." if where.startswith("layer:") else ""
        for path, c in cells.items():
            _cell_masks(d, c, prefix + path, batch, in_dim, conv)
        return d.result()
    return setup


class _FixedDropout:
    """Stands in for an attention layer's Dropout sublayer: multiplies by a fixed mask."""

    def __init__(self, mask):
        self.mask = mask

    def __call__(self, x, training=None):
        return x * self.mask if training else x


def attention_setup(shape: tuple[int, ...], rate: float):
    def setup(keras, obj, rng):
        import tensorflow as tf
        d = _Draws(rng)
        (u,) = d.draw("", [shape])
        mask = tf.constant(_masks(u, rate))
        if hasattr(obj, "_dropout_layer"):  # MultiHeadAttention, GroupedQueryAttention
            d.patch(obj, "_dropout_layer", _FixedDropout(mask))
        else:  # Attention, AdditiveAttention: backend.random.dropout in _apply_scores
            from keras.src.layers.attention import attention as module
            rnd = module.backend.random
            old = rnd.dropout
            rnd.dropout = lambda x, rate, seed=None, **kw: x * mask
            d.undo.append(lambda: setattr(rnd, "dropout", old))
        return d.result()
    return setup


def _stacked(keras):
    x = keras.Input((5, 3))
    cells = [keras.layers.LSTMCell(4), keras.layers.GRUCell(3)]
    y = keras.layers.RNN(cells, return_sequences=True, name="stack")(x)
    return keras.Model(x, keras.layers.Dense(2, name="out")(y), name="stacked_cells")


def _masked_dropout_lstm(keras):
    x = keras.Input((6,), dtype="int32")
    h = keras.layers.Embedding(9, 4, mask_zero=True, name="emb")(x)
    h = keras.layers.LSTM(5, dropout=0.3, recurrent_dropout=0.2, name="lstm")(h)
    return keras.Model(x, keras.layers.Dense(3, name="out")(h), name="masked_dropout")


def _cell(name, **config):
    return {"module": "keras.layers", "class_name": name, "config": config,
            "registered_name": None}


EXTRA = [
    # training-mode dropout in recurrent layers (masks injected, see the docstring)
    L("simple_rnn_dropout_training", "SimpleRNN",
      {"units": 4, "dropout": 0.3, "recurrent_dropout": 0.4, "return_sequences": True},
      [(3, 5, 3)], training=True, setup=rnn_setup(3, 3)),
    L("lstm_dropout_training", "LSTM", {"units": 4, "dropout": 0.3}, [(3, 5, 3)],
      training=True, setup=rnn_setup(3, 3)),
    L("lstm_rec_dropout_training", "LSTM",
      {"units": 3, "dropout": 0.25, "recurrent_dropout": 0.35, "return_sequences": True,
       "return_state": True}, [(3, 4, 3)], training=True, setup=rnn_setup(3, 3)),
    L("gru_rec_dropout_training", "GRU",
      {"units": 3, "dropout": 0.2, "recurrent_dropout": 0.3, "return_sequences": True},
      [(3, 5, 2)], training=True, setup=rnn_setup(3, 2)),
    L("gru_v1_rec_dropout_training", "GRU",
      {"units": 3, "reset_after": False, "dropout": 0.2, "recurrent_dropout": 0.3,
       "go_backwards": True}, [(3, 5, 2)], training=True, setup=rnn_setup(3, 2)),
    L("bidirectional_lstm_dropout_training", "Bidirectional",
      {"layer": _cell("LSTM", units=3, dropout=0.3, recurrent_dropout=0.2,
                      return_sequences=True), "merge_mode": "concat"},
      [(2, 4, 3)], training=True, setup=rnn_setup(2, 3)),
    L("rnn_stacked_cells_dropout_training", "RNN",
      {"cell": [_cell("LSTMCell", units=3, dropout=0.2, recurrent_dropout=0.3),
                _cell("SimpleRNNCell", units=2, dropout=0.4)], "return_sequences": True},
      [(2, 4, 3)], training=True, setup=rnn_setup(2, 3)),
    G("model_masked_lstm_dropout_training", _masked_dropout_lstm, [(3, 6)],
      input_kind="padded:9", training=True, setup=rnn_setup(3, 4, "layer:lstm")),
    # training-mode dropout in attention layers
    L("mha_dropout_training", "MultiHeadAttention",
      {"num_heads": 2, "key_dim": 3, "dropout": 0.3}, [(2, 4, 6), (2, 5, 6)], call="args",
      training=True, setup=attention_setup((2, 2, 4, 5), 0.3)),
    L("gqa_dropout_training", "GroupQueryAttention",
      {"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2, "dropout": 0.25},
      [(2, 3, 5), (2, 4, 5)], call="args", training=True,
      setup=attention_setup((2, 4, 3, 4), 0.25)),
    L("attention_dropout_training", "Attention", {"dropout": 0.4, "use_scale": True},
      [(2, 3, 4), (2, 5, 4)], call="list", training=True,
      setup=attention_setup((2, 3, 5), 0.4)),
    L("additive_attention_dropout_training", "AdditiveAttention", {"dropout": 0.3},
      [(2, 3, 4), (2, 4, 4)], call="list", training=True,
      setup=attention_setup((2, 3, 4), 0.3)),
    # stacked cells, ConvLSTM
    L("rnn_stacked_cells", "RNN",
      {"cell": [_cell("GRUCell", units=3), _cell("LSTMCell", units=2)],
       "go_backwards": True, "return_state": True}, [(2, 5, 3)]),
    G("model_stacked_cells_mse", _stacked, [(3, 5, 3)], loss="mse", target_kind="normal"),
    L("conv_lstm1d", "ConvLSTM1D", {"filters": 2, "kernel_size": 3, "padding": "same",
                                    "return_sequences": True}, [(2, 3, 5, 2)]),
    L("conv_lstm2d", "ConvLSTM2D", {"filters": 3, "kernel_size": 2, "return_state": True},
      [(2, 3, 4, 4, 2)]),
    L("conv_lstm2d_strided", "ConvLSTM2D", {"filters": 2, "kernel_size": 3, "strides": 2,
                                            "padding": "same", "go_backwards": True},
      [(1, 3, 5, 5, 2)]),
    L("conv_lstm2d_dropout_training", "ConvLSTM2D",
      {"filters": 2, "kernel_size": 2, "dropout": 0.3, "recurrent_dropout": 0.25,
       "return_sequences": True}, [(2, 3, 4, 4, 2)], training=True,
      setup=rnn_setup(2, 2, conv=((4, 4, 2), (3, 3, 2)))),
    L("conv_lstm1d_dropout_training", "ConvLSTM1D",
      {"filters": 3, "kernel_size": 3, "padding": "same", "dropout": 0.4},
      [(2, 3, 5, 2)], training=True, setup=rnn_setup(2, 2, conv=((5, 2), (5, 3)))),
    L("conv_lstm3d", "ConvLSTM3D", {"filters": 2, "kernel_size": 2, "padding": "same"},
      [(1, 2, 3, 3, 3, 1)]),
    # ReversibleEmbedding, sparsemax
    L("reversible_embedding_ids", "ReversibleEmbedding", {"input_dim": 7, "output_dim": 3},
      [(2, 5)], input_kind="int:7"),
    L("reversible_embedding_reverse_capped", "ReversibleEmbedding",
      {"input_dim": 6, "output_dim": 4, "logit_soft_cap": 2.0}, [(2, 3, 4)],
      extra={"reverse": True}),
    L("reversible_embedding_reverse_untied", "ReversibleEmbedding",
      {"input_dim": 5, "output_dim": 3, "tie_weights": False}, [(2, 3)],
      extra={"reverse": True}),
    L("activation_sparsemax", "Activation", {"activation": "sparsemax"}, [(4, 6)]),
    L("dense_sparsemax", "Dense", {"units": 5, "activation": "sparsemax"}, [(3, 4)]),
    # Keras 2's locally connected layers, every weight layout
    L("locally_connected1d", "LocallyConnected1D",
      {"filters": 3, "kernel_size": 3, "strides": 2, "activation": "tanh"}, [(2, 8, 2)],
      keras2=True),
    L("locally_connected1d_same_impl3", "LocallyConnected1D",
      {"filters": 2, "kernel_size": 3, "padding": "same", "implementation": 3},
      [(2, 5, 2)], keras2=True),
    L("locally_connected2d", "LocallyConnected2D",
      {"filters": 2, "kernel_size": [2, 3], "activation": "relu"}, [(2, 4, 5, 2)],
      keras2=True),
    L("locally_connected2d_same_impl2", "LocallyConnected2D",
      {"filters": 2, "kernel_size": 3, "padding": "same", "strides": 2,
       "implementation": 2}, [(2, 5, 4, 3)], keras2=True),
]


def main(argv: list[str]) -> int:
    failed = 0
    for g in EXTRA:
        if argv and not any(a in g.name for a in argv):
            continue
        try:
            record(g)
            print(f"gradients_extra: {g.name}: written")
        except Exception as e:  # report and go on: one failure must not hide the rest
            failed += 1
            print(f"gradients_extra: {g.name}: FAILED: {type(e).__name__}: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
    sys.exit(main(sys.argv[1:]))
