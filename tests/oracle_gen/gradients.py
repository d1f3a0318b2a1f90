"""Record gradient cases from real Keras 3 / TensorFlow for engine.gradients.

    /work/oracle-venv/bin/python -m tests.oracle_gen.gradients      # from the project root

Each case builds a Keras layer or model from a config, sets seeded weights, runs
``tf.GradientTape`` and writes tests/data/keras/generated/gradients/<case>.npz with the
inputs x<i>, weights w<i>, cotangents c<i> (or targets t<i>), outputs y<i>, input
gradients gx<i> and weight gradients gw<i> (in ``model.weights`` order; zeros where TF
gives None), plus ``meta``: a JSON string with the serialized config, the loss, the
training flag and the case's tolerance. (No .json files: tests/oracle.py reads every
.json under generated/ as a layer case.)

The family loop of ``python -m tests.oracle_gen`` only runs ``CASES`` of layer specs;
these cases are recorded by this module's ``main``.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

OUT = Path(__file__).resolve().parent.parent / "data" / "keras" / "generated" / "gradients"
SEED = 4321
CASES: list[Any] = []  # nothing for the layer-case loop of tests.oracle_gen


@dataclass
class G:
    name: str
    build: Any  # a layer config dict, or a function keras -> model
    inputs: list[tuple[int, ...]]
    input_kind: str = "normal"  # normal | int:<high> | positive
    loss: Any = None
    target_kind: str = ""  # onehot | ids | normal
    training: bool = False
    call: str = "single"  # single | list | args | cell | states (x, initial_state=rest)
    tolerance: float = 1e-5
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: (keras, built object, numpy rng) -> (arrays to record, meta["draws"]): fixes the
    #: dropout draws in TF and records them for the engine (gradients_extra.py)
    setup: Any = None
    keras2: bool = False  # build with tf_keras (Keras 2 only layers)


def L(name: str, class_name: str, config: dict[str, Any], inputs, **kw: Any) -> G:
    return G(name, {"module": "keras.layers", "class_name": class_name, "config": config},
             [tuple(s) for s in inputs], **kw)


ACTIVATIONS = ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "softplus", "softsign",
               "exponential", "elu", "selu", "gelu", "silu", "mish", "relu6", "leaky_relu",
               "hard_sigmoid", "hard_silu", "celu", "glu", "hard_tanh", "hard_shrink",
               "soft_shrink", "tanh_shrink", "log_sigmoid", "sparse_plus", "sparse_sigmoid",
               "squareplus", "linear"]

LAYERS = [
    L("dense_relu", "Dense", {"units": 5, "activation": "relu"}, [(4, 6)]),
    L("dense_tanh_3d", "Dense", {"units": 3, "activation": "tanh"}, [(2, 3, 4)]),
    L("dense_softmax_nobias", "Dense", {"units": 4, "activation": "softmax",
                                        "use_bias": False}, [(3, 5)]),
    L("einsum_dense", "EinsumDense", {"equation": "abc,cd->abd", "output_shape": [None, 4],
                                      "bias_axes": "d"}, [(2, 3, 5)]),
    *[L(f"activation_{a}", "Activation", {"activation": a}, [(3, 8)]) for a in ACTIVATIONS],
    L("relu_layer_params", "ReLU", {"max_value": 1.5, "negative_slope": 0.1,
                                    "threshold": 0.2}, [(3, 8)]),
    L("leaky_relu_layer", "LeakyReLU", {"negative_slope": 0.2}, [(3, 8)]),
    L("elu_layer", "ELU", {"alpha": 0.7}, [(3, 8)]),
    L("prelu_shared", "PReLU", {"shared_axes": [1]}, [(2, 4, 3)]),
    L("softmax_layer_axis1", "Softmax", {"axis": 1}, [(2, 4, 3)]),
    L("conv1d_same_s2", "Conv1D", {"filters": 4, "kernel_size": 3, "strides": 2,
                                   "padding": "same", "activation": "relu"}, [(2, 9, 3)]),
    L("conv1d_causal_d2", "Conv1D", {"filters": 3, "kernel_size": 3, "dilation_rate": 2,
                                     "padding": "causal"}, [(2, 8, 2)]),
    L("conv2d_valid", "Conv2D", {"filters": 4, "kernel_size": 3}, [(2, 6, 6, 3)]),
    L("conv2d_same_s2", "Conv2D", {"filters": 3, "kernel_size": [3, 2], "strides": 2,
                                   "padding": "same", "activation": "tanh"}, [(2, 7, 6, 2)]),
    L("conv2d_dilated", "Conv2D", {"filters": 2, "kernel_size": 3, "dilation_rate": 2,
                                   "padding": "same"}, [(1, 7, 7, 2)]),
    L("conv2d_groups", "Conv2D", {"filters": 4, "kernel_size": 3, "groups": 2}, [(2, 5, 5, 4)]),
    L("conv3d", "Conv3D", {"filters": 2, "kernel_size": 2, "padding": "same"},
      [(1, 3, 4, 4, 2)]),
    L("conv1d_transpose", "Conv1DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2},
      [(2, 5, 2)]),
    L("conv2d_transpose_same", "Conv2DTranspose", {"filters": 2, "kernel_size": 3,
                                                   "strides": 2, "padding": "same",
                                                   "activation": "relu"}, [(2, 4, 4, 3)]),
    L("conv2d_transpose_outpad", "Conv2DTranspose", {"filters": 2, "kernel_size": 3,
                                                     "strides": 2, "output_padding": 1},
      [(1, 3, 4, 2)]),
    L("conv3d_transpose", "Conv3DTranspose", {"filters": 2, "kernel_size": 2, "strides": 2},
      [(1, 2, 2, 3, 2)]),
    L("depthwise2d", "DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2,
                                         "strides": 2, "padding": "same"}, [(2, 6, 6, 3)]),
    L("depthwise1d", "DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 1},
      [(2, 7, 3)]),
    L("separable2d", "SeparableConv2D", {"filters": 4, "kernel_size": 3, "depth_multiplier": 2,
                                         "activation": "relu"}, [(2, 6, 6, 3)]),
    L("separable1d", "SeparableConv1D", {"filters": 3, "kernel_size": 2, "padding": "same"},
      [(2, 6, 2)]),
    L("maxpool2d_valid", "MaxPooling2D", {"pool_size": 2}, [(2, 6, 6, 3)]),
    L("maxpool2d_same_s1", "MaxPooling2D", {"pool_size": 3, "strides": 1, "padding": "same"},
      [(1, 5, 5, 2)]),
    L("avgpool2d_same", "AveragePooling2D", {"pool_size": 3, "strides": 2, "padding": "same"},
      [(2, 5, 6, 2)]),
    L("maxpool1d", "MaxPooling1D", {"pool_size": 2}, [(2, 7, 3)]),
    L("avgpool1d_same", "AveragePooling1D", {"pool_size": 3, "strides": 1,
                                             "padding": "same"}, [(2, 6, 3)]),
    L("maxpool3d", "MaxPooling3D", {"pool_size": 2}, [(1, 4, 4, 4, 2)]),
    L("avgpool3d", "AveragePooling3D", {"pool_size": 2}, [(1, 4, 4, 4, 2)]),
    L("adaptive_maxpool2d", "AdaptiveMaxPooling2D", {"output_size": [3, 2]}, [(2, 7, 5, 2)]),
    L("adaptive_avgpool1d", "AdaptiveAveragePooling1D", {"output_size": 4}, [(2, 7, 3)]),
    L("adaptive_avgpool3d", "AdaptiveAveragePooling3D", {"output_size": 2},
      [(1, 3, 5, 4, 2)]),
    L("gmaxpool1d", "GlobalMaxPooling1D", {}, [(2, 5, 3)]),
    L("gavgpool2d", "GlobalAveragePooling2D", {}, [(2, 4, 4, 3)]),
    L("gmaxpool2d_keepdims", "GlobalMaxPooling2D", {"keepdims": True}, [(2, 4, 4, 3)]),
    L("gavgpool1d", "GlobalAveragePooling1D", {}, [(2, 5, 3)]),
    L("batchnorm_inference", "BatchNormalization", {}, [(4, 5)]),
    L("batchnorm_training_4d", "BatchNormalization", {"momentum": 0.9}, [(4, 3, 3, 2)],
      training=True),
    L("batchnorm_training_2d", "BatchNormalization", {"epsilon": 0.01}, [(6, 4)],
      training=True),
    L("layernorm", "LayerNormalization", {}, [(3, 6)]),
    L("layernorm_axes", "LayerNormalization", {"axis": [1, 2]}, [(2, 3, 4)]),
    L("layernorm_rms", "LayerNormalization", {"rms_scaling": True}, [(3, 6)]),
    L("groupnorm", "GroupNormalization", {"groups": 2}, [(2, 3, 4)]),
    L("rmsnorm", "RMSNormalization", {}, [(3, 6)]),
    L("unitnorm", "UnitNormalization", {}, [(3, 6)]),
    L("spectral_norm_dense_inference", "SpectralNormalization",
      {"layer": {"module": "keras.layers", "class_name": "Dense", "config": {"units": 3},
                 "registered_name": None}}, [(2, 5)]),
    L("spectral_norm_conv_training", "SpectralNormalization",
      {"layer": {"module": "keras.layers", "class_name": "Conv2D",
                 "config": {"filters": 2, "kernel_size": 2}, "registered_name": None},
       "power_iterations": 2}, [(2, 4, 4, 3)], training=True),
    L("flatten", "Flatten", {}, [(2, 3, 4)]),
    L("reshape", "Reshape", {"target_shape": [4, 3]}, [(2, 3, 4)]),
    L("permute", "Permute", {"dims": [2, 1]}, [(2, 3, 4)]),
    L("repeat_vector", "RepeatVector", {"n": 3}, [(2, 4)]),
    L("cropping2d", "Cropping2D", {"cropping": [[1, 0], [0, 2]]}, [(2, 5, 5, 2)]),
    L("zeropadding2d", "ZeroPadding2D", {"padding": [1, 2]}, [(2, 3, 3, 2)]),
    L("cropping1d", "Cropping1D", {"cropping": [1, 2]}, [(2, 6, 2)]),
    L("zeropadding1d", "ZeroPadding1D", {"padding": 2}, [(2, 3, 2)]),
    L("upsampling2d", "UpSampling2D", {"size": [2, 3]}, [(2, 3, 2, 2)]),
    L("upsampling1d", "UpSampling1D", {"size": 2}, [(2, 3, 2)]),
    L("add", "Add", {}, [(2, 4), (2, 4), (2, 4)], call="list"),
    L("subtract", "Subtract", {}, [(2, 4), (2, 4)], call="list"),
    L("multiply", "Multiply", {}, [(2, 4), (2, 4), (2, 4)], call="list"),
    L("average", "Average", {}, [(2, 4), (2, 4)], call="list"),
    L("maximum", "Maximum", {}, [(2, 4), (2, 4), (2, 4)], call="list"),
    L("minimum", "Minimum", {}, [(2, 4), (2, 4)], call="list"),
    L("concatenate", "Concatenate", {"axis": 1}, [(2, 3, 2), (2, 1, 2)], call="list"),
    L("dot", "Dot", {"axes": [2, 2]}, [(2, 3, 4), (2, 5, 4)], call="list"),
    L("embedding", "Embedding", {"input_dim": 7, "output_dim": 3}, [(2, 5)],
      input_kind="int:7"),
    L("simple_rnn_seq", "SimpleRNN", {"units": 4, "return_sequences": True}, [(2, 5, 3)]),
    L("lstm_last", "LSTM", {"units": 4}, [(2, 5, 3)]),
    L("lstm_seq_state", "LSTM", {"units": 3, "return_sequences": True, "return_state": True},
      [(2, 4, 3)]),
    L("gru_reset_after", "GRU", {"units": 4, "return_sequences": True}, [(2, 5, 3)]),
    L("gru_v1_backwards_state", "GRU", {"units": 3, "reset_after": False,
                                        "go_backwards": True, "return_state": True},
      [(2, 5, 3)]),
    L("bidirectional_lstm_concat", "Bidirectional",
      {"layer": {"module": "keras.layers", "class_name": "LSTM",
                 "config": {"units": 3, "return_sequences": True}, "registered_name": None},
       "merge_mode": "concat"}, [(2, 4, 3)]),
    L("bidirectional_gru_sum", "Bidirectional",
      {"layer": {"module": "keras.layers", "class_name": "GRU", "config": {"units": 3},
                 "registered_name": None}, "merge_mode": "sum"}, [(2, 4, 3)]),
    L("rnn_gru_cell", "RNN", {"cell": {"module": "keras.layers", "class_name": "GRUCell",
                                       "config": {"units": 3}, "registered_name": None},
                              "return_sequences": True}, [(2, 4, 3)]),
    L("lstm_cell_step", "LSTMCell", {"units": 3}, [(2, 4), (2, 3), (2, 3)], call="cell"),
    L("gru_cell_step", "GRUCell", {"units": 3}, [(2, 4), (2, 3)], call="cell"),
    L("simple_rnn_cell_step", "SimpleRNNCell", {"units": 3}, [(2, 4), (2, 3)], call="cell"),
    L("time_distributed_dense", "TimeDistributed",
      {"layer": {"module": "keras.layers", "class_name": "Dense",
                 "config": {"units": 3, "activation": "relu"}, "registered_name": None}},
      [(2, 4, 5)]),
    L("mha_self", "MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, [(2, 4, 6), (2, 4, 6)],
      call="args"),
    L("mha_cross_key", "MultiHeadAttention", {"num_heads": 3, "key_dim": 2, "value_dim": 4,
                                              "output_shape": 5},
      [(2, 3, 6), (2, 5, 4), (2, 5, 3)], call="args"),
    L("mha_causal", "MultiHeadAttention", {"num_heads": 2, "key_dim": 4},
      [(2, 5, 6), (2, 5, 6)], call="args", extra={"use_causal_mask": True}),
    L("mha_2d_axes", "MultiHeadAttention", {"num_heads": 2, "key_dim": 2,
                                            "attention_axes": [1, 2]},
      [(1, 2, 3, 4), (1, 2, 3, 4)], call="args"),
    L("gqa_gate", "GroupQueryAttention", {"head_dim": 3, "num_query_heads": 4,
                                          "num_key_value_heads": 2, "use_gate": True},
      [(2, 4, 6), (2, 5, 6)], call="args"),
    L("gqa_causal_key", "GroupQueryAttention", {"head_dim": 2, "num_query_heads": 2,
                                                "num_key_value_heads": 1},
      [(2, 4, 5), (2, 4, 3), (2, 4, 4)], call="args", extra={"use_causal_mask": True}),
    L("attention_dot_scale", "Attention", {"use_scale": True}, [(2, 3, 4), (2, 5, 4)],
      call="list"),
    L("attention_concat", "Attention", {"score_mode": "concat", "use_scale": True},
      [(2, 3, 4), (2, 2, 4), (2, 2, 4)], call="list"),
    L("attention_causal", "Attention", {}, [(2, 4, 3), (2, 4, 3)], call="list",
      extra={"use_causal_mask": True}),
    L("additive_attention", "AdditiveAttention", {}, [(2, 3, 4), (2, 2, 4)], call="list"),
    L("rescaling", "Rescaling", {"scale": 0.25, "offset": -1.0}, [(2, 3, 4)]),
    L("normalization_fixed", "Normalization", {"mean": [0.5, -1.0, 2.0],
                                               "variance": [4.0, 0.25, 1.0]}, [(3, 3)]),
    L("dropout_inference", "Dropout", {"rate": 0.5}, [(2, 4)]),
    L("gaussian_noise_inference", "GaussianNoise", {"stddev": 0.5}, [(2, 4)]),
]


def _mlp(keras):
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(8, activation="tanh"),
                             keras.layers.Dense(4, activation="softmax")], name="mlp")


def _cnn(keras):
    x = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", name="c1")(x)
    h = keras.layers.BatchNormalization(name="bn1")(h)
    h = keras.layers.ReLU(name="r1")(h)
    s = h
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c2")(h)
    h = keras.layers.Conv2D(4, 3, padding="same", name="c3")(h)
    h = keras.layers.Add(name="res")([h, s])
    h = keras.layers.MaxPooling2D(2, name="pool")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    y = keras.layers.Dense(3, name="head")(h)
    return keras.Model(x, y, name="cnn")


def _shared(keras):
    a = keras.Input((5,), name="a")
    b = keras.Input((5,), name="b")
    d = keras.layers.Dense(4, activation="tanh", name="shared")
    h = keras.layers.Concatenate(name="cat")([d(a), d(b)])
    y = keras.layers.Dense(3, name="out")(h)
    return keras.Model([a, b], y, name="shared_model")


def _nested(keras):
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="elu"),
                              keras.layers.Dense(5)], name="inner")
    x = keras.Input((4,))
    h = inner(x)
    h = keras.layers.LayerNormalization(name="ln")(h)
    # a linear head: Keras computes a crossentropy of a sigmoid/softmax output from the
    # activation's cached logits (``_keras_logits``), which engine.gradients does not do
    y = keras.layers.Dense(2, name="out")(h)
    return keras.Model(x, y, name="outer")


def _two_out(keras):
    x = keras.Input((6,))
    h = keras.layers.Dense(5, activation="relu", name="h")(x)
    y1 = keras.layers.Dense(3, name="y1")(h)
    y2 = keras.layers.Dense(2, activation="tanh", name="y2")(h)
    return keras.Model(x, [y1, y2], name="two_out")


def _embed(keras):
    x = keras.Input((5,), dtype="int32")
    h = keras.layers.Embedding(10, 4, name="emb")(x)
    h = keras.layers.Flatten(name="flat")(h)
    y = keras.layers.Dense(3, name="out")(h)
    return keras.Model(x, y, name="embed_model")


def _masked_lstm(keras):
    x = keras.Input((6,), dtype="int32")
    h = keras.layers.Embedding(9, 4, mask_zero=True, name="emb")(x)
    h = keras.layers.LSTM(5, return_sequences=True, name="lstm1")(h)
    h = keras.layers.GRU(4, name="gru")(h)
    y = keras.layers.Dense(3, name="out")(h)
    return keras.Model(x, y, name="masked_rnn")


def _stacked_lstm(keras):
    return keras.Sequential([keras.Input((7, 4)),
                             keras.layers.LSTM(6, return_sequences=True, name="l1"),
                             keras.layers.Bidirectional(keras.layers.SimpleRNN(3), name="bi"),
                             keras.layers.Dense(2, name="out")], name="stacked")


def _transformer(keras):
    x = keras.Input((6,), dtype="int32")
    e = keras.layers.Embedding(11, 8, mask_zero=True, name="emb")(x)
    a = keras.layers.MultiHeadAttention(2, 4, name="mha")(e, e)
    h = keras.layers.LayerNormalization(name="ln1")(keras.layers.Add(name="res1")([e, a]))
    f = keras.layers.Dense(16, activation="gelu", name="ff1")(h)
    f = keras.layers.Dense(8, name="ff2")(f)
    h = keras.layers.LayerNormalization(name="ln2")(keras.layers.Add(name="res2")([h, f]))
    h = keras.layers.GlobalMaxPooling1D(name="pool")(h)
    y = keras.layers.Dense(3, name="out")(h)
    return keras.Model(x, y, name="transformer")


def _ops(keras):
    ops = keras.ops
    x = keras.Input((4, 6))
    h = keras.layers.Dense(6, name="d1")(x)
    a = ops.multiply(h, ops.sigmoid(h))
    b = ops.divide(ops.add(a, 1.0), ops.add(ops.square(h), 2.0))
    c = ops.maximum(ops.subtract(b, ops.tanh(h)), ops.negative(ops.relu(h)))
    d = ops.reshape(ops.transpose(c, (0, 2, 1)), (-1, 24))
    e = ops.concatenate([d, ops.mean(x, axis=1), ops.sum(ops.exp(ops.multiply(x, 0.1)),
                                                         axis=2)], axis=-1)
    y = keras.layers.Dense(3, name="out")(ops.matmul(ops.expand_dims(e, 1),
                                                     ops.ones((34, 5)))[:, 0])
    return keras.Model(x, y, name="ops_model")


MODELS = [
    G("model_ops", _ops, [(3, 4, 6)]),
    G("model_transformer_masked", _transformer, [(3, 6)], input_kind="padded:11",
      loss="sparse_categorical_crossentropy", target_kind="ids"),
    G("model_masked_rnn", _masked_lstm, [(3, 6)], input_kind="padded:9"),
    G("model_stacked_rnn_mse", _stacked_lstm, [(3, 7, 4)], loss="mse", target_kind="normal"),
    G("model_mlp_cce", _mlp, [(5, 6)], loss="categorical_crossentropy", target_kind="onehot"),
    G("model_mlp_sum", _mlp, [(5, 6)]),
    G("model_cnn_mse_training", _cnn, [(2, 8, 8, 3)], loss="mean_squared_error",
      target_kind="normal", training=True),
    G("model_cnn_inference", _cnn, [(2, 8, 8, 3)]),
    G("model_shared_sparse_logits", _shared, [(4, 5), (4, 5)],
      loss={"module": "keras.losses", "class_name": "SparseCategoricalCrossentropy",
            "config": {"from_logits": True, "reduction": "sum_over_batch_size",
                       "name": "sparse_categorical_crossentropy"},
            "registered_name": None}, target_kind="ids", call="list"),
    G("model_nested_cce_logits_smooth", _nested, [(3, 4)],
      loss={"class_name": "CategoricalCrossentropy",
            "config": {"from_logits": True, "label_smoothing": 0.1}}, target_kind="onehot"),
    G("model_two_outputs", _two_out, [(3, 6)]),
    G("model_embedding_sparse_probs", _embed, [(4, 5)], input_kind="int:10",
      loss="sparse_categorical_crossentropy", target_kind="ids_softmaxed"),
    G("model_mlp_mse", _mlp, [(5, 6)], loss="mse", target_kind="normal"),
]


def _inputs(g: G, rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for shape in g.inputs:
        if g.input_kind.startswith("padded:"):  # ids with trailing padding zeros
            ids = rng.integers(1, int(g.input_kind[7:]), shape)
            for row, n in zip(ids, rng.integers(1, shape[1] + 1, shape[0])):
                row[n:] = 0
            out.append(ids.astype("int32"))
        elif g.input_kind.startswith("int:"):
            out.append(rng.integers(0, int(g.input_kind[4:]), shape).astype("int32"))
        else:
            out.append(rng.standard_normal(shape).astype("float32"))
    return out


def _weights(obj: Any, rng: np.random.Generator) -> list[np.ndarray]:
    ws = []
    for w in obj.weights:
        shape = tuple(int(d) for d in w.shape)
        if "variance" in w.name:
            ws.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        else:
            ws.append((rng.standard_normal(shape) * 0.5).astype("float32"))
    return ws


def _loss_object(keras, loss: Any):
    if isinstance(loss, str):  # a loss function by name: wrapped as Keras's compile() does
        from keras.src.losses.losses import LossFunctionWrapper
        return LossFunctionWrapper(keras.losses.get(loss))
    return keras.losses.deserialize(loss)


def _flat(out: Any) -> list[Any]:
    """The outputs as one flat list (stacked cells return their states per cell)."""
    if not isinstance(out, (list, tuple)):
        return [out]
    return [leaf for o in out for leaf in _flat(o)]


def record(g: G) -> Path:
    import tensorflow as tf
    if g.keras2:
        import tf_keras as keras
    else:
        import keras

    rng = np.random.default_rng(SEED)
    if isinstance(g.build, dict):
        obj = keras.layers.deserialize(g.build if not g.keras2 else
                                       {k: v for k, v in g.build.items() if k != "module"})
    else:
        obj = g.build(keras)
    xs = _inputs(g, rng)
    def run(args, **kw):
        if g.call == "args":
            return obj(*args, **g.extra, **kw)
        if g.call == "states":  # an RNN on x with the other inputs as its initial states
            return obj(args[0], initial_state=list(args[1:]), **g.extra, **kw)
        if g.call == "cell":  # cell(x, states) -> (output, new_states), flattened
            out, states = obj(args[0], list(args[1:]), **kw)
            return [out, *states]
        return obj(args if g.call == "list" else args[0], **g.extra, **kw)

    run(xs)  # builds
    ws = _weights(obj, rng)
    obj.set_weights(ws)
    tx = [tf.constant(x) for x in xs]
    arrays: dict[str, np.ndarray] = {f"x{i}": x for i, x in enumerate(xs)}
    arrays.update({f"w{i}": w for i, w in enumerate(ws)})
    draws, restore = [], None
    if g.setup is not None:
        fixed, draws, restore = g.setup(keras, obj, np.random.default_rng(SEED + 1))
        arrays.update(fixed)
    with tf.GradientTape(persistent=True) as tape:
        for t in tx:
            if t.dtype.is_floating:
                tape.watch(t)
        out = run(tx, training=g.training)
        outs = _flat(out)
        if g.loss is not None:
            y = outs[0].numpy()
            if g.target_kind == "onehot":
                t = np.eye(y.shape[-1], dtype="float32")[rng.integers(0, y.shape[-1],
                                                                      y.shape[:-1])]
            elif g.target_kind.startswith("ids"):
                t = rng.integers(0, y.shape[-1], y.shape[:-1]).astype("int32")
            else:
                t = rng.standard_normal(y.shape).astype("float32")
            arrays["t0"] = t
            total = _loss_object(keras, g.loss)(t, outs[0])
        else:
            cots = [rng.standard_normal(tuple(o.shape)).astype("float32") for o in outs]
            arrays.update({f"c{i}": c for i, c in enumerate(cots)})
            total = tf.add_n([tf.reduce_sum(o * c) for o, c in zip(outs, cots)])
    gx = tape.gradient(total, tx)
    gw = tape.gradient(total, obj.weights)
    if restore is not None:
        restore()
    for i, o in enumerate(outs):
        arrays[f"y{i}"] = np.asarray(o)
    for i, gr in enumerate(gx):
        if gr is not None:
            arrays[f"gx{i}"] = np.asarray(tf.convert_to_tensor(gr))
    for i, (w, gr) in enumerate(zip(obj.weights, gw)):
        arrays[f"gw{i}"] = np.zeros(tuple(w.shape), "float32") if gr is None else \
            np.asarray(tf.convert_to_tensor(gr))  # Embedding's is IndexedSlices
    if g.loss is not None:
        arrays["loss"] = np.asarray(float(total), "float32")
    meta = {
        "case": g.name, "keras_version": keras.__version__, "tensorflow": tf.__version__,
        "serialized": json.loads(json.dumps(
            keras.layers.serialize(obj) if g.keras2 else
            keras.saving.serialize_keras_object(obj))),
        "loss": g.loss, "training": g.training, "call": g.call, "tolerance": g.tolerance,
        "call_kwargs": g.extra,
        "draws": draws,
        "weights": [{"path": getattr(w, "path", w.name), "shape": [int(d) for d in w.shape],
                     "trainable": bool(w.trainable)} for w in obj.weights],
        "n_inputs": len(xs), "n_outputs": len(outs), "seed": SEED, "note": g.note,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{g.name}.npz"
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)
    return path


def main(argv: list[str]) -> int:
    failed = 0
    for g in LAYERS + MODELS:
        if argv and not any(a in g.name for a in argv):
            continue
        try:
            record(g)
            print(f"gradients: {g.name}: written")
        except Exception as e:  # report and go on: one failure must not hide the rest
            failed += 1
            print(f"gradients: {g.name}: FAILED: {type(e).__name__}: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
    sys.exit(main(sys.argv[1:]))
