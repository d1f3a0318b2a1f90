"""engine.gradients: every VJP against central finite differences in float64 (a generic
test over the VJP table), against TensorFlow's GradientTape (recorded by
tests/oracle_gen/gradients.py) within 1e-5, and the API's errors."""

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
from tests.engine.grad_helpers import fd_check, install_draws, perturb_weights

DATA = Path(__file__).resolve().parents[1] / "data" / "keras" / "generated" / "gradients"
TOL = 1e-5  # atol and rtol, float32 (a case may record a wider one only with a reason)

# -- finite differences over the table -------------------------------------------------------

#: class -> (config, input shapes, input kind, training); one or more per registered class
FD_CASES: list[tuple[str, dict, list[tuple[int, ...]], str, bool]] = [
    ("Dense", {"units": 3, "activation": "tanh"}, [(2, 4)], "normal", False),
    ("Dense", {"units": 3, "activation": "softmax"}, [(2, 3, 4)], "normal", False),
    ("EinsumDense", {"equation": "abc,cde->abde", "output_shape": [None, 2, 3],
                     "bias_axes": "de", "activation": "gelu"}, [(2, 3, 4)], "normal", False),
    ("Embedding", {"input_dim": 5, "output_dim": 3}, [(2, 4)], "int:5", False),
    ("Activation", {"activation": "selu"}, [(3, 4)], "normal", False),
    ("Activation", {"activation": "glu"}, [(3, 4)], "normal", False),
    ("Activation", {"activation": "log_softmax"}, [(3, 4)], "normal", False),
    ("ReLU", {"max_value": 1.0, "negative_slope": 0.1, "threshold": 0.3}, [(3, 5)], "normal",
     False),
    ("LeakyReLU", {"negative_slope": 0.2}, [(3, 5)], "normal", False),
    ("ELU", {"alpha": 0.5}, [(3, 5)], "normal", False),
    ("ThresholdedReLU", {"theta": 0.5}, [(3, 5)], "normal", False),
    ("PReLU", {"shared_axes": [1], "alpha_initializer": "random_normal"}, [(2, 3, 4)],
     "normal", False),
    ("Softmax", {"axis": 1}, [(2, 3, 4)], "normal", False),
    ("Identity", {}, [(2, 3)], "normal", False),
    ("Rescaling", {"scale": [0.5, 2.0, -1.0], "offset": -1.0}, [(2, 4, 3)], "normal", False),
    ("Normalization", {"mean": [0.5, -1.0], "variance": [4.0, 0.25]}, [(3, 2)], "normal",
     False),
    ("Normalization", {"mean": 1.0, "variance": 9.0, "invert": True}, [(3, 2)], "normal",
     False),
    ("LayerScale", {"init_values": 0.5, "projection_dim": 3}, [(2, 4, 3)], "normal", False),
    ("StochasticDepth", {"drop_path_rate": 0.3}, [(2, 3)], "normal", False),
    ("CustomScaleLayer", {"scale": 0.2}, [(2, 3), (2, 3)], "normal", False),
    ("ActivityRegularization", {"l1": 0.1}, [(2, 3)], "normal", False),
    ("Masking", {"mask_value": 0.0}, [(2, 3, 2)], "normal", False),
    ("Dropout", {"rate": 0.4, "seed": 3}, [(3, 5)], "normal", True),
    ("SpatialDropout1D", {"rate": 0.5, "seed": 3}, [(2, 4, 3)], "normal", True),
    ("SpatialDropout2D", {"rate": 0.5, "seed": 3}, [(2, 3, 3, 3)], "normal", True),
    ("SpatialDropout3D", {"rate": 0.5, "seed": 3}, [(2, 2, 2, 2, 3)], "normal", True),
    ("GaussianNoise", {"stddev": 0.3, "seed": 1}, [(3, 4)], "normal", True),
    ("GaussianDropout", {"rate": 0.3, "seed": 1}, [(3, 4)], "normal", True),
    ("AlphaDropout", {"rate": 0.3, "seed": 1}, [(3, 4)], "normal", True),
    ("Conv1D", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},
     [(2, 7, 2)], "normal", False),
    ("Conv1D", {"filters": 2, "kernel_size": 2, "dilation_rate": 2, "padding": "causal",
                "activation": "swish"}, [(2, 6, 2)], "normal", False),
    ("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 2, "data_format": "channels_first"},
     [(2, 4, 5, 5)], "normal", False),
    ("Conv2D", {"filters": 2, "kernel_size": [2, 3], "strides": [2, 1], "padding": "same"},
     [(1, 5, 6, 3)], "normal", False),
    ("Conv3D", {"filters": 2, "kernel_size": 2, "dilation_rate": 1}, [(1, 3, 3, 3, 2)],
     "normal", False),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2}, [(2, 4, 3)], "normal",
     False),
    ("Conv2DTranspose", {"filters": 3, "kernel_size": [3, 2], "strides": [2, 1],
                         "padding": "same", "data_format": "channels_first"}, [(1, 2, 3, 3)],
     "normal", False),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "dilation_rate": 2,
                         "output_padding": None}, [(1, 3, 3, 2)], "normal", False),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 2, "strides": 2, "padding": "same"},
     [(1, 2, 2, 2, 1)], "normal", False),
    ("DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"},
     [(2, 5, 2)], "normal", False),
    ("DepthwiseConv2D", {"kernel_size": 2, "strides": 2, "depth_multiplier": 1},
     [(2, 4, 4, 3)], "normal", False),
    ("SeparableConv1D", {"filters": 3, "kernel_size": 2, "depth_multiplier": 2},
     [(2, 5, 2)], "normal", False),
    ("SeparableConv2D", {"filters": 2, "kernel_size": 3, "padding": "same",
                         "activation": "elu"}, [(1, 4, 4, 2)], "normal", False),
    ("MaxPooling1D", {"pool_size": 2, "strides": 1}, [(2, 5, 2)], "normal", False),
    ("MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, [(1, 5, 5, 2)],
     "normal", False),
    ("MaxPooling3D", {"pool_size": 2}, [(1, 4, 2, 2, 1)], "normal", False),
    ("AveragePooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, [(2, 6, 2)],
     "normal", False),
    ("AveragePooling2D", {"pool_size": 2, "data_format": "channels_first"}, [(1, 2, 4, 4)],
     "normal", False),
    ("AveragePooling3D", {"pool_size": 2, "padding": "same"}, [(1, 3, 3, 2, 1)], "normal",
     False),
    ("AdaptiveMaxPooling1D", {"output_size": 3}, [(2, 7, 2)], "normal", False),
    ("AdaptiveMaxPooling2D", {"output_size": [2, 3], "data_format": "channels_first"},
     [(1, 2, 5, 4)], "normal", False),
    ("AdaptiveMaxPooling3D", {"output_size": 2}, [(1, 3, 4, 3, 1)], "normal", False),
    ("AdaptiveAveragePooling1D", {"output_size": 4}, [(2, 6, 2)], "normal", False),
    ("AdaptiveAveragePooling2D", {"output_size": [3, 2]}, [(1, 7, 5, 2)], "normal", False),
    ("AdaptiveAveragePooling3D", {"output_size": [2, 1, 2]}, [(1, 3, 2, 5, 1)], "normal",
     False),
    ("GlobalMaxPooling1D", {}, [(2, 4, 3)], "normal", False),
    ("GlobalMaxPooling2D", {"keepdims": True}, [(2, 3, 3, 2)], "normal", False),
    ("GlobalMaxPooling3D", {}, [(1, 2, 2, 2, 2)], "normal", False),
    ("GlobalAveragePooling1D", {}, [(2, 4, 3)], "normal", False),
    ("GlobalAveragePooling2D", {"data_format": "channels_first"}, [(2, 3, 2, 2)], "normal",
     False),
    ("GlobalAveragePooling3D", {"keepdims": True}, [(1, 2, 2, 2, 2)], "normal", False),
    ("BatchNormalization", {"moving_variance_initializer": "ones"}, [(4, 3)], "normal",
     False),
    ("BatchNormalization", {"axis": 1}, [(3, 2, 2, 2)], "normal", True),
    ("LayerNormalization", {"axis": [1, 2]}, [(2, 3, 2)], "normal", False),
    ("LayerNormalization", {"rms_scaling": True}, [(2, 4)], "normal", False),
    ("GroupNormalization", {"groups": 2}, [(2, 3, 4)], "normal", False),
    ("RMSNormalization", {}, [(2, 5)], "normal", False),
    ("UnitNormalization", {"axis": [1, 2]}, [(2, 2, 3)], "normal", False),
    ("SpectralNormalization", {"layer": {"class_name": "Dense", "config": {
        "units": 3, "activation": "tanh", "dtype": "float64"}}}, [(2, 4)], "normal", False),
    ("SpectralNormalization", {"power_iterations": 2, "layer": {
        "class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 2,
                                           "dtype": "float64"}}}, [(1, 3, 3, 2)], "normal",
     False),  # training differentiates at kernel/sigma, not through it: TF oracle case
    ("Flatten", {}, [(2, 2, 3)], "normal", False),
    ("Reshape", {"target_shape": [3, 2]}, [(2, 6)], "normal", False),
    ("Permute", {"dims": [2, 1]}, [(2, 3, 2)], "normal", False),
    ("RepeatVector", {"n": 2}, [(2, 3)], "normal", False),
    ("Cropping1D", {"cropping": [1, 1]}, [(2, 4, 2)], "normal", False),
    ("Cropping2D", {"cropping": [[0, 1], [1, 0]]}, [(1, 3, 3, 2)], "normal", False),
    ("Cropping3D", {"cropping": 1}, [(1, 3, 3, 3, 1)], "normal", False),
    ("ZeroPadding1D", {"padding": 1}, [(2, 3, 2)], "normal", False),
    ("ZeroPadding2D", {"padding": [1, 0]}, [(1, 2, 2, 2)], "normal", False),
    ("ZeroPadding3D", {"padding": 1}, [(1, 2, 2, 1, 1)], "normal", False),
    ("UpSampling1D", {"size": 2}, [(2, 3, 2)], "normal", False),
    ("UpSampling2D", {"size": 2}, [(1, 2, 2, 2)], "normal", False),
    ("UpSampling3D", {"size": 2}, [(1, 2, 1, 2, 1)], "normal", False),
    ("Add", {}, [(2, 3), (2, 3)], "normal", False),
    ("Subtract", {}, [(2, 3), (2, 3)], "normal", False),
    ("Multiply", {}, [(2, 3), (2, 1, 3), (2, 1, 3)], "normal", False),
    ("Average", {}, [(2, 3), (2, 3), (2, 3)], "normal", False),
    ("Maximum", {}, [(2, 3), (2, 3), (2, 3)], "normal", False),
    ("Minimum", {}, [(2, 3), (2, 3)], "normal", False),
    ("Concatenate", {"axis": -1}, [(2, 2), (2, 3)], "normal", False),
    ("Dot", {"axes": 1}, [(2, 3), (2, 3)], "normal", False),
    ("Dot", {"axes": [1, 2]}, [(2, 3, 2), (2, 4, 3)], "normal", False),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, [(2, 4, 5), (2, 3, 5)], "normal",
     False),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 2, "value_dim": 3, "output_shape": 4,
                            "attention_axes": [1, 2]}, [(1, 2, 3, 4), (1, 2, 2, 4),
                                                        (1, 2, 2, 3)], "normal", False),
    ("GroupedQueryAttention", {"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2,
                               "use_gate": True}, [(2, 3, 5), (2, 4, 5)], "normal", False),
    ("GroupedQueryAttention", {"head_dim": 3, "num_query_heads": 2, "num_key_value_heads": 1},
     [(1, 3, 4), (1, 2, 4), (1, 2, 3)], "normal", False),
    ("Attention", {"use_scale": True}, [(2, 3, 4), (2, 5, 4)], "normal", False),
    ("Attention", {"score_mode": "concat", "use_scale": True}, [(2, 3, 4), (2, 2, 4),
                                                               (2, 2, 4)], "normal", False),
    ("AdditiveAttention", {"use_scale": True}, [(2, 3, 4), (2, 2, 4)], "normal", False),
    ("SimpleRNN", {"units": 3, "return_sequences": True}, [(2, 4, 2)], "normal", False),
    ("SimpleRNN", {"units": 2, "activation": "relu", "go_backwards": True}, [(2, 3, 2)],
     "normal", False),
    ("LSTM", {"units": 3}, [(2, 4, 2)], "normal", False),
    ("LSTM", {"units": 2, "return_sequences": True, "return_state": True,
              "activation": "elu", "recurrent_activation": "hard_sigmoid"}, [(2, 3, 2)],
     "normal", False),
    ("GRU", {"units": 3, "return_sequences": True}, [(2, 4, 2)], "normal", False),
    ("GRU", {"units": 2, "reset_after": False, "return_state": True, "go_backwards": True},
     [(2, 3, 3)], "normal", False),
    ("RNN", {"cell": {"class_name": "LSTMCell", "config": {"units": 2, "dtype": "float64"}},
             "return_sequences": True, "go_backwards": True}, [(2, 3, 2)], "normal", False),
    ("SimpleRNNCell", {"units": 3}, [(2, 4), (2, 3)], "normal", False),
    ("LSTMCell", {"units": 2}, [(2, 3), (2, 2), (2, 2)], "normal", False),
    ("GRUCell", {"units": 2, "reset_after": False}, [(2, 3), (2, 2)], "normal", False),
    ("Bidirectional", {"layer": {"class_name": "LSTM", "config": {
        "units": 2, "return_sequences": True, "dtype": "float64"}}, "merge_mode": "concat"},
     [(2, 3, 2)], "normal", False),
    ("Bidirectional", {"layer": {"class_name": "GRU", "config": {
        "units": 2, "dtype": "float64"}}, "merge_mode": "mul"}, [(2, 3, 2)], "normal", False),
    ("TimeDistributed", {"layer": {"class_name": "Dense", "config": {
        "units": 2, "activation": "tanh", "dtype": "float64"}}}, [(2, 3, 4)], "normal",
     False),
]
MODEL_CLASSES = {"Functional", "Sequential"}  # covered by the model tests below
# every registered class has a case here or in test_gradients_coverage.py (checked there)


def _make_inputs(shapes, kind, rng):
    if kind.startswith("int:"):
        return [rng.integers(0, int(kind[4:]), s) for s in shapes]
    return [rng.standard_normal(s) for s in shapes]


@pytest.mark.parametrize("class_name,config,shapes,kind,training", FD_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FD_CASES)])
def test_vjp_matches_finite_differences_float64(class_name, config, shapes, kind, training):
    rng = np.random.default_rng(11)
    layer = engine.deserialize({"class_name": class_name,
                                "config": {**config, "dtype": "float64"}})
    xs = _make_inputs(shapes, kind, rng)
    cell = class_name.endswith("Cell")  # called on [x, *states], built for x
    layer.build(shapes[0] if len(shapes) == 1 or cell else [tuple(s) for s in shapes])
    perturb_weights(layer, rng)
    fd_check(layer, xs, training, rng)


INFERENCE_CASES = [c for c in FD_CASES if not c[4]]  # noise draws: see the dropout test


@pytest.mark.parametrize("class_name,config,shapes,kind,training", INFERENCE_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(INFERENCE_CASES)])
def test_vjp_forward_equals_the_layer(class_name, config, shapes, kind, training):
    """The forward pass the VJP keeps is the layer's own (float32, inference)."""
    rng = np.random.default_rng(5)
    layer = engine.deserialize({"class_name": class_name, "config": config})
    xs = [x.astype("float32") if x.dtype.kind == "f" else x
          for x in _make_inputs(shapes, kind, rng)]
    if class_name in ("MultiHeadAttention", "GroupedQueryAttention"):
        want = layer(*xs)
    elif class_name.endswith("Cell"):
        out, states = layer(xs[0], states=xs[1:])
        want = [out, *states]
    else:
        want = layer(xs if len(xs) > 1 else xs[0])
    got, _ = vjp_of(layer, layer.name)(layer, xs, Call())
    if isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
    for a, b in zip(got if isinstance(got, list) else [got],
                    want if isinstance(want, list) else [want]):
        np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL)


def test_every_activation_function_matches_finite_differences():
    from engine.activations import BUILTINS
    from engine.gradients.activations import activation_vjp, differentiable_names
    rng = np.random.default_rng(2)
    names = differentiable_names()
    assert sorted(names) == sorted(BUILTINS)  # every Keras activation, sparsemax included
    for name in names:
        act = engine.activations.get(name)
        z = rng.standard_normal((3, 6)) * 2
        z[np.abs(z) < 1e-3] += 0.1
        g = rng.standard_normal(act(z).shape)
        got = activation_vjp(act, z, act(z), g)
        h = 1e-6
        fd = np.zeros_like(z)
        for idx in np.ndindex(z.shape):
            zp, zm = z.copy(), z.copy()
            zp[idx] += h
            zm[idx] -= h
            fd[idx] = (np.sum(act(zp) * g) - np.sum(act(zm) * g)) / (2 * h)
        # gelu's forward uses a 1.2e-7 erf approximation: its slope is the exact one's
        tol = 1e-5 if name == "gelu" else 1e-6
        np.testing.assert_allclose(got, fd, rtol=tol, atol=tol, err_msg=name)


# -- TensorFlow's gradients ---------------------------------------------------------------------

ORACLE = sorted(DATA.glob("*.npz"))


def _load(path):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(str(arrays.pop("meta"))), arrays


def _oracle_run(path):
    meta, z = _load(path)
    obj = engine.deserialize(meta["serialized"])
    xs = [z[f"x{i}"] for i in range(meta["n_inputs"])]
    if not obj.built:
        obj.build(xs[0].shape if meta["call"] in ("single", "cell", "states") else
                  [x.shape for x in xs])
    obj.set_weights([z[f"w{i}"] for i in range(len(meta["weights"]))])
    replays = install_draws(obj, meta, z)
    cots = [z[f"c{i}"] for i in range(meta["n_outputs"])] if "c0" in z else None
    g = gradients(obj, xs if meta["call"] in ("list", "args", "cell", "states") else xs[0],
                  None if cots is None else (cots if len(cots) > 1 else cots[0]),
                  loss=meta["loss"], targets=z.get("t0"), training=meta["training"],
                  call_kwargs=meta.get("call_kwargs") or None)  # use_causal_mask, reverse...
    for where, replay in replays:
        assert replay.at == len(replay.draws), f"{where}: recorded draws left unused"
    pairs = []
    for i, w in enumerate(obj.weights):
        if w.trainable:
            pairs.append((w.path, g.weights[w.path], z[f"gw{i}"]))
    for i in range(meta["n_inputs"]):
        if f"gx{i}" in z:
            pairs.append((f"inputs[{i}]", g.inputs[i], z[f"gx{i}"]))
        else:
            assert g.inputs[i] is None, "TensorFlow has no gradient for an integer input"
    for i, v in enumerate(flatten(g.value)):  # stacked cells' states: a list per cell
        pairs.append((f"value[{i}]", v, z[f"y{i}"]))
    if "loss" in z:
        pairs.append(("loss", np.float32(g.loss), z["loss"]))
    return meta, pairs


def test_oracle_cases_are_there():
    assert len(ORACLE) >= 90
    names = {p.stem for p in ORACLE}
    assert {"model_cnn_mse_training", "model_shared_sparse_logits", "conv2d_groups",
            "batchnorm_training_4d"} <= names


@pytest.mark.parametrize("path", ORACLE, ids=[p.stem for p in ORACLE])
def test_gradients_equal_tensorflow(path):
    meta, pairs = _oracle_run(path)
    tol = meta["tolerance"]
    assert tol == TOL, "a wider tolerance needs a recorded reason (none does so far)"
    for what, got, want in pairs:
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=f"{path.stem}: {what}")


# -- models ---------------------------------------------------------------------------------------


def _f64_mlp():
    return engine.Sequential([
        engine.deserialize({"class_name": "Dense", "config": {
            "units": 5, "activation": "tanh", "dtype": "float64"}}),
        engine.deserialize({"class_name": "BatchNormalization", "config": {
            "dtype": "float64"}}),
        engine.deserialize({"class_name": "Dense", "config": {
            "units": 3, "activation": "softmax", "dtype": "float64"}}),
    ])


@pytest.mark.parametrize("loss", ["mse", "categorical_crossentropy"])
def test_model_loss_gradients_match_finite_differences(loss):
    rng = np.random.default_rng(0)
    model = _f64_mlp()
    model.build((None, 4))
    x = rng.standard_normal((6, 4))
    t = np.eye(3)[rng.integers(0, 3, 6)]
    g = gradients(model, x, loss=loss, targets=t, training=True)

    def value():
        return gradients(model, x, loss=loss, targets=t, training=True).loss

    h = 1e-6
    for w in model.weights:
        if not w.trainable:
            continue
        for idx in list(np.ndindex(w.shape))[:6]:
            old = w.value[idx]
            w.value[idx] = old + h
            up = value()
            w.value[idx] = old - h
            down = value()
            w.value[idx] = old
            assert g.weights[w.path][idx] == pytest.approx((up - down) / (2 * h), rel=1e-5,
                                                           abs=1e-8)


def test_training_batchnorm_leaves_the_moving_statistics_alone():
    model = _f64_mlp()
    model.build((None, 4))
    before = [w.numpy() for w in model.weights]
    gradients(model, np.random.default_rng(1).standard_normal((5, 4)), training=True)
    for a, b in zip(before, model.weights):
        np.testing.assert_array_equal(a, b.numpy())


def _shared_model():
    cfg = {"class_name": "Functional", "config": {
        "name": "m", "layers": [
            {"class_name": "InputLayer", "name": "a", "config": {"batch_shape": [None, 3],
                                                                   "name": "a"},
             "inbound_nodes": []},
            {"class_name": "InputLayer", "name": "b", "config": {"batch_shape": [None, 3],
                                                                   "name": "b"},
             "inbound_nodes": []},
            {"class_name": "Dense", "name": "d", "config": {"units": 2, "name": "d"},
             "inbound_nodes": [[["a", 0, 0, {}]], [["b", 0, 0, {}]]]},
            {"class_name": "Add", "name": "add", "config": {"name": "add"},
             "inbound_nodes": [[["d", 0, 0, {}], ["d", 1, 0, {}]]]},
        ],
        "input_layers": [["a", 0, 0], ["b", 0, 0]], "output_layers": [["add", 0, 0]]}}
    return engine.deserialize(cfg)


def test_shared_layer_gradients_add_up_and_outputs_are_per_call():
    model = _shared_model()
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    c = rng.standard_normal((4, 2)).astype("float32")
    g = gradients(model, [a, b], c)
    kernel = model.get_layer("d").kernel.value
    np.testing.assert_allclose(g.weights["d/kernel"], (a + b).T @ c, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(g.inputs[0], c @ kernel.T, rtol=1e-5, atol=1e-5)
    assert isinstance(g.outputs["d"], list) and len(g.outputs["d"]) == 2
    np.testing.assert_allclose(g.outputs["add"], c)
    np.testing.assert_allclose(g.value, model([a, b]), rtol=1e-6)


def test_outputs_hold_the_gradient_at_each_layer():
    model = _f64_mlp()
    model.build((None, 4))
    x = np.random.default_rng(4).standard_normal((3, 4))
    g = gradients(model, x)
    names = [layer.name for layer in model.layers]
    np.testing.assert_array_equal(g.outputs[names[-1]], np.ones((3, 3)))
    assert g.outputs[names[0]].shape == (3, 5)
    # the gradient at the first layer's output, pushed through its kernel, is the input's
    d0 = model.layers[0]
    z = x @ d0.kernel.value + d0.bias.value
    np.testing.assert_allclose(g.inputs[0], (g.outputs[names[0]] * (1 - np.tanh(z) ** 2))
                               @ d0.kernel.value.T, rtol=1e-10)


def test_dropout_training_uses_the_seeded_mask():
    layer = engine.deserialize({"class_name": "Dropout", "config": {"rate": 0.5, "seed": 9}})
    x = np.random.default_rng(0).standard_normal((4, 6)).astype("float32")
    g = gradients(layer, x, training=True)
    y = np.asarray(g.value)
    kept = y != 0
    np.testing.assert_allclose(g.inputs[0], np.where(kept, 2.0, 0.0))
    assert 0 < kept.sum() < kept.size
    again = engine.deserialize({"class_name": "Dropout", "config": {"rate": 0.5, "seed": 9}})
    np.testing.assert_array_equal(again(x, training=True), y)  # the layer's own draw
    assert np.array_equal(gradients(layer, x).inputs[0], np.ones_like(x))  # inference


# -- errors ---------------------------------------------------------------------------------------


def test_layers_without_a_backward_pass_are_refused_by_name():
    layer = engine.deserialize({"class_name": "RandomFlip", "config": {"name": "flip"}})
    with pytest.raises(ConfigError, match="'flip' \\(RandomFlip\\) has no backward pass"):
        gradients(layer, np.zeros((1, 4, 4, 3), "float32"))


def test_a_refused_layer_inside_a_model_is_named_with_its_place():
    model = engine.Sequential([
        engine.deserialize({"class_name": "RandomFlip", "config": {"name": "flip_me"}}),
        engine.deserialize({"class_name": "Dense", "config": {"units": 2}})])
    model.build((None, 4, 4, 3))
    with pytest.raises(ConfigError, match=r"layers\[0\] \(flip_me\).*no backward pass"):
        gradients(model, np.ones((2, 4, 4, 3), "float32"))


def test_wrong_cotangent_shape_says_what_was_expected():
    layer = engine.deserialize({"class_name": "Dense", "config": {"units": 3}})
    with pytest.raises(ConfigError, match=r"cotangents: expected the shape of output 0, "
                                          r"\(2, 3\), got \(2, 4\)"):
        gradients(layer, np.ones((2, 5), "float32"), np.ones((2, 4)))
    meta, z = _load(DATA / "model_two_outputs.npz")
    model = engine.deserialize(meta["serialized"])
    with pytest.raises(ConfigError, match="expected 2 cotangents .one per output., got 3"):
        gradients(model, z["x0"], [z["c0"], z["c1"], z["c1"]])
    with pytest.raises(ConfigError, match=r"cotangents\[1\]: expected the shape of output 1"):
        gradients(model, z["x0"], [z["c0"], z["c0"]])


def test_integer_inputs_have_no_gradient_and_cannot_take_a_cotangent():
    layer = engine.deserialize({"class_name": "Embedding",
                                "config": {"input_dim": 4, "output_dim": 2}})
    ids = np.array([[0, 3, 3]])
    g = gradients(layer, ids)
    assert g.inputs == [None]
    np.testing.assert_array_equal(g.weights[layer.embeddings.path],
                                  [[1, 1], [0, 0], [0, 0], [2, 2]])
    argmax = engine.deserialize({"class_name": "Identity", "config": {"dtype": "int32"}})
    with pytest.raises(ConfigError, match="integer array .* has no gradient"):
        gradients(argmax, np.array([[1, 2]], "int32"), np.ones((1, 2)))


def test_loss_errors():
    layer = engine.deserialize({"class_name": "Dense", "config": {"units": 3}})
    x = np.ones((2, 4), "float32")
    with pytest.raises(ConfigError, match="targets: a loss needs targets"):
        gradients(layer, x, loss="mse")
    with pytest.raises(ConfigError, match="unknown loss 'hinge'"):
        gradients(layer, x, loss="hinge", targets=np.zeros((2, 3)))
    with pytest.raises(ConfigError, match=r"loss.config.from_logit: unknown key"):
        gradients(layer, x, loss={"class_name": "CategoricalCrossentropy",
                                  "config": {"from_logit": True}}, targets=np.zeros((2, 3)))
    with pytest.raises(ConfigError, match=r"class ids must be in \[0, 3\)"):
        gradients(layer, x, loss="sparse_categorical_crossentropy", targets=np.array([0, 5]))
    with pytest.raises(ConfigError, match="expected targets of the output's shape"):
        gradients(layer, x, loss="mse", targets=np.zeros((2, 4)))


@pytest.mark.parametrize("loss", ["mse", "MSE", "mean_squared_error", "MeanSquaredError",
                                  {"class_name": "MeanSquaredError", "config": {
                                      "reduction": "auto", "name": "mean_squared_error"}},
                                  {"module": "keras.losses", "class_name": "MeanSquaredError",
                                   "config": {"reduction": "sum_over_batch_size",
                                              "name": "mse", "dtype": None},
                                   "registered_name": None}])
def test_loss_aliases_and_configs_give_the_same_mean_over_the_batch(loss):
    layer = engine.deserialize({"class_name": "Dense", "config": {"units": 2}})
    x = np.random.default_rng(0).standard_normal((4, 3)).astype("float32")
    t = np.zeros((4, 2), "float32")
    g = gradients(layer, x, loss=loss, targets=t)
    y = np.asarray(g.value, np.float64)
    assert g.loss == pytest.approx(float(np.mean(y ** 2)), rel=1e-6)
    np.testing.assert_allclose(g.weights[layer.kernel.path], x.T @ (2 * y / y.size),
                               rtol=1e-5, atol=1e-6)


def test_engine_exposes_gradients():
    assert "gradients" in engine.__all__
    layer = engine.deserialize({"class_name": "Dense", "config": {"units": 1}})
    assert engine.gradients(layer, np.ones((1, 2), "float32")).weights
    from engine import gradients as fn
    assert callable(fn)


def test_integer_arrays_fed_to_a_float_layer_get_no_gradient_as_in_tensorflow():
    layer = engine.deserialize({"class_name": "Dense", "config": {"units": 2}})
    g = gradients(layer, np.array([[1, 2, 3]]))
    assert g.inputs == [None]
    np.testing.assert_allclose(g.weights[layer.kernel.path], [[1, 1], [2, 2], [3, 3]])


def test_model_inputs_by_name_and_rnn_initial_state_input():
    meta, z = _load(DATA / "model_shared_sparse_logits.npz")
    model = engine.deserialize(meta["serialized"])
    model.set_weights([z[f"w{i}"] for i in range(len(meta["weights"]))])
    by_list = gradients(model, [z["x0"], z["x1"]])
    by_name = gradients(model, {"a": z["x0"], "b": z["x1"]})
    np.testing.assert_array_equal(by_list.inputs[1], by_name.inputs[1])
    with pytest.raises(ConfigError, match=r"missing input\(s\) \['b'\]"):
        gradients(model, {"a": z["x0"]})
    def t(name, shape):
        return {"class_name": "__keras_tensor__", "config": {
            "shape": shape, "dtype": "float32", "keras_history": [name, 0, 0]}}

    cfg = {"module": "keras", "class_name": "Functional", "config": {
        "name": "m", "layers": [
            {"module": "keras.layers", "class_name": "InputLayer", "name": "x",
             "config": {"batch_shape": [None, 3, 2], "name": "x"}, "inbound_nodes": []},
            {"module": "keras.layers", "class_name": "InputLayer", "name": "h0",
             "config": {"batch_shape": [None, 4], "name": "h0"}, "inbound_nodes": []},
            {"module": "keras.layers", "class_name": "GRU", "name": "gru",
             "config": {"units": 4, "name": "gru"},
             "inbound_nodes": [{"args": [t("x", [None, 3, 2])],
                                "kwargs": {"initial_state": t("h0", [None, 4])}}]}],
        "input_layers": [["x", 0, 0], ["h0", 0, 0]], "output_layers": [["gru", 0, 0]]}}
    model = engine.deserialize(cfg)
    x, h0 = np.ones((1, 3, 2), "float32"), np.zeros((1, 4), "float32")
    g = gradients(model, [x, h0])  # the state is an input of the GRU node: it has a gradient
    assert g.inputs[1].shape == (1, 4) and np.abs(g.inputs[1]).sum() > 0
    np.testing.assert_allclose(g.value, model([x, h0]), rtol=1e-6)
    # finite differences: tests/engine/test_gradients_states.py


def test_training_spectral_normalization_leaves_the_kernel_alone():
    meta, z = _load(DATA / "spectral_norm_conv_training.npz")
    layer = engine.deserialize(meta["serialized"])
    layer.build(z["x0"].shape)
    layer.set_weights([z[f"w{i}"] for i in range(len(meta["weights"]))])
    before = [w.numpy() for w in layer.weights]
    g = gradients(layer, z["x0"], z["c0"], training=True)
    for a, w in zip(before, layer.weights):
        np.testing.assert_array_equal(a, w.numpy())
    np.testing.assert_allclose(g.value, z["y0"], rtol=TOL, atol=TOL)
