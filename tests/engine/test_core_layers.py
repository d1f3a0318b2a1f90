"""Core, activation, regularization and reshaping layers beyond the generic oracle tests:
training-mode noise, masks, Lambda's safety rules, InputLayer, shapes with None, and a table
of bad configs with the field path each error must name."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from engine import ConfigError, UnsafeConfigError
from engine.layers.activation import PReLU, Softmax
from engine.layers.core import EinsumDense, Embedding, InputLayer, Lambda, Masking
from engine.layers.regularization import (
    AlphaDropout,
    Dropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)
from engine.layers.reshaping import Cropping2D, Flatten, Reshape


def k3(class_name: str, config: dict) -> dict:
    return {"module": "keras.layers", "class_name": class_name, "config": config,
            "registered_name": None}


def k2(class_name: str, config: dict) -> dict:
    return {"class_name": class_name, "config": config}


# -- training mode ------------------------------------------------------------------------


def test_dropout_keeps_one_minus_rate_and_scales():
    x = np.ones((200, 100), "float32")
    y = Dropout(0.4, seed=1)(x, training=True)
    kept = y != 0
    assert abs(kept.mean() - 0.6) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.6, rtol=1e-6)
    assert y.dtype == np.float32


def test_dropout_inference_is_identity_and_rate0_training_too():
    x = np.random.default_rng(0).standard_normal((4, 5)).astype("float32")
    np.testing.assert_array_equal(Dropout(0.5)(x), x)
    np.testing.assert_array_equal(Dropout(0.0)(x, training=True), x)
    for layer in (GaussianNoise(0.3), GaussianDropout(0.3), AlphaDropout(0.3)):
        np.testing.assert_array_equal(layer(x), x)


def test_dropout_noise_shape_broadcasts():
    x = np.ones((50, 6, 4), "float32")
    y = Dropout(0.5, noise_shape=(None, 1, 4), seed=3)(x, training=True)
    assert (y == y[:, :1, :]).all()  # one mask shared along axis 1
    assert 0.3 < (y[:, 0, :] != 0).mean() < 0.7


def test_dropout_noise_shape_that_does_not_fit_is_a_value_error():
    with pytest.raises(ValueError, match="noise_shape"):
        Dropout(0.5, noise_shape=(None, 3))(np.ones((2, 4), "float32"), training=True)


@pytest.mark.parametrize("cls,shape,fmt,channel_axis", [
    (SpatialDropout1D, (40, 7, 6), None, -1),
    (SpatialDropout2D, (40, 3, 4, 6), "channels_last", -1),
    (SpatialDropout2D, (40, 6, 3, 4), "channels_first", 1),
    (SpatialDropout3D, (40, 2, 3, 2, 6), "channels_last", -1),
    (SpatialDropout3D, (40, 6, 2, 3, 2), "channels_first", 1),
])
def test_spatial_dropout_drops_whole_channels(cls, shape, fmt, channel_axis):
    kw = {} if fmt is None else {"data_format": fmt}
    x = np.ones(shape, "float32")
    y = cls(0.5, seed=2, **kw)(x, training=True)
    per_map = np.moveaxis(y, channel_axis, 1).reshape(shape[0], shape[channel_axis], -1)
    assert (per_map == per_map[..., :1]).all()  # each feature map all dropped or all kept
    kept = per_map[..., 0] != 0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(per_map[kept], 2.0)


def test_gaussian_noise_moments():
    x = np.full((400, 250), 3.0, "float32")
    y = GaussianNoise(0.5, seed=4)(x, training=True)
    noise = y - x
    assert abs(noise.mean()) < 0.01
    assert abs(noise.std() - 0.5) < 0.01


def test_gaussian_dropout_moments():
    x = np.full((400, 250), 2.0, "float32")
    y = GaussianDropout(0.2, seed=5)(x, training=True) / 2.0
    assert abs(y.mean() - 1.0) < 0.01
    assert abs(y.std() - np.sqrt(0.2 / 0.8)) < 0.01


def test_alpha_dropout_values_and_moments():
    y = AlphaDropout(0.3, seed=6)(np.zeros((100, 50), "float32"), training=True)
    values = np.unique(np.round(y, 5))
    np.testing.assert_allclose(values, [-1.05955, 0.45409], atol=1e-5)  # FORMAT.md 8.1
    x = np.random.default_rng(1).standard_normal((500, 400)).astype("float32")
    z = AlphaDropout(0.2, seed=7)(x, training=True)
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1.0) < 0.02  # SELU moments kept


def test_alpha_dropout_noise_shape():
    x = np.random.default_rng(2).standard_normal((30, 8)).astype("float32")
    y = AlphaDropout(0.5, noise_shape=(None, 1), seed=8)(x, training=True)
    dropped = np.isclose(y, y[:, :1]).all(axis=1)  # a dropped row is one constant
    assert dropped.any() and not dropped.all()


@pytest.mark.parametrize("make", [
    lambda s: Dropout(0.5, seed=s), lambda s: SpatialDropout1D(0.5, seed=s),
    lambda s: GaussianNoise(0.5, seed=s), lambda s: GaussianDropout(0.5, seed=s),
    lambda s: AlphaDropout(0.5, seed=s),
])
def test_training_noise_is_reproducible_with_a_seed(make):
    x = np.random.default_rng(3).standard_normal((6, 5, 4)).astype("float32")
    a, b, c = make(11), make(11), make(12)
    first = a(x, training=True)
    np.testing.assert_array_equal(first, b(x, training=True))
    assert not np.array_equal(first, c(x, training=True))
    assert not np.array_equal(first, a(x, training=True))  # fresh noise on each call
    unseeded = [make(None)(x, training=True) for _ in range(2)]
    assert not np.array_equal(*unseeded)


def test_activity_regularization_losses():
    layer = engine.deserialize(k3("ActivityRegularization", {"l1": 0.1, "l2": 0.5}))
    x = np.array([[1.0, -2.0]], "float32")
    np.testing.assert_array_equal(layer(x), x)
    assert layer.losses == pytest.approx([0.1 * 3 + 0.5 * 5])
    assert "activity_regularizer" not in layer.get_config()


# -- masks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [
    k3("Activation", {"activation": "relu"}), k3("ReLU", {}), k3("LeakyReLU", {}),
    k3("ELU", {}), k3("PReLU", {}), k3("Softmax", {}), k3("Identity", {}),
    k3("Dropout", {"rate": 0.5}), k3("GaussianNoise", {"stddev": 0.1}),
    k3("GaussianDropout", {"rate": 0.1}), k3("AlphaDropout", {"rate": 0.1}),
    k3("SpatialDropout1D", {"rate": 0.1}), k3("ActivityRegularization", {}),
    k3("Masking", {}),
])
def test_pass_through_layers_support_masking(config):
    layer = engine.deserialize(config)
    assert layer.supports_masking
    if config["class_name"] != "Masking":
        mask = np.array([[True, False, True]])
        x = np.ones((1, 3, 2), "float32")
        layer(x)
        assert layer.compute_mask(x, mask) is mask


@pytest.mark.parametrize("config", [
    k3("Flatten", {}), k3("Reshape", {"target_shape": [6]}), k3("Permute", {"dims": [2, 1]}),
    k3("EinsumDense", {"equation": "abc,cd->abd", "output_shape": [None, 2]}),
])
def test_reshaping_layers_drop_the_mask(config):
    layer = engine.deserialize(config)
    assert not layer.supports_masking
    assert layer.compute_mask(np.ones((1, 3, 2)), np.ones((1, 3), bool)) is None


def test_masking_zeroes_masked_steps_and_gives_the_mask():
    x = np.array([[[1, 2], [0, 0], [3, 0]], [[0, 0], [0, 0], [5, 5]]], "float32")
    layer = Masking(mask_value=0.0)
    y = layer(x)
    want = np.array([[True, False, True], [False, False, True]])
    np.testing.assert_array_equal(layer.compute_mask(x), want)
    np.testing.assert_array_equal(y, x * want[..., None])


def test_embedding_mask_zero():
    layer = Embedding(5, 3, mask_zero=True)
    ids = np.array([[1, 0, 4], [0, 0, 2]])
    out = layer(ids)
    assert out.shape == (2, 3, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0, 2], layer.embeddings.value[4])
    np.testing.assert_array_equal(layer.compute_mask(ids), ids != 0)
    assert layer.supports_masking
    assert Embedding(5, 3).compute_mask(ids) is None


def test_embedding_rejects_out_of_range_ids_and_casts_float_ids():
    layer = Embedding(4, 2)
    with pytest.raises(ValueError, match=r"id 4 is outside \[0, 4\)"):
        layer(np.array([[1, 4]]))
    np.testing.assert_array_equal(layer(np.array([[1.0, 3.0]])), layer(np.array([[1, 3]])))


def test_embedding_keras2_config_records_input_length():
    layer = engine.deserialize(k2("Embedding", {"input_dim": 8, "output_dim": 2,
                                                 "input_length": 5}))
    cfg = layer.get_config("keras2")
    assert cfg["batch_input_shape"] == [None, 5] and cfg["input_length"] == 5
    assert list(cfg)[:4] == ["name", "trainable", "dtype", "batch_input_shape"]
    assert "input_length" not in layer.get_config("keras3")


def test_softmax_mask_gives_zero_to_masked_positions():
    x = np.array([[1.0, 2.0, 3.0, 4.0]], "float32")
    mask = np.array([[True, False, True, False]])
    y = Softmax()(x, mask=mask)
    e = np.exp([1.0, 3.0])
    np.testing.assert_allclose(y, [[e[0] / e.sum(), 0, e[1] / e.sum(), 0]], rtol=1e-6)


# -- Lambda ---------------------------------------------------------------------------------


def scale_by(x, factor=2.0):
    return x * factor


def keep_mask(inputs, mask):
    return mask


LAMBDA_K3 = k3("Lambda", {"name": "lam", "trainable": True, "dtype": "float32",
                          "function": {"module": "builtins", "class_name": "function",
                                       "config": "scale_by", "registered_name": "function"},
                          "arguments": {"factor": 3.0}})


def test_lambda_with_custom_objects_runs_and_round_trips():
    layer = engine.deserialize(LAMBDA_K3, custom_objects={"scale_by": scale_by})
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(layer(x), 3 * x)
    cfg = layer.get_config("keras3")
    assert cfg["function"] == LAMBDA_K3["config"]["function"]
    assert list(cfg) == ["name", "trainable", "dtype", "function", "arguments"]
    k2cfg = layer.get_config("keras2")
    assert list(k2cfg) == ["name", "trainable", "dtype", "function", "function_type", "module",
                           "output_shape", "output_shape_type", "output_shape_module",
                           "arguments"]
    assert k2cfg["function"] == "scale_by" and k2cfg["function_type"] == "function"
    again = engine.deserialize(engine.serialize(layer, "keras2"),
                               custom_objects={"scale_by": scale_by})
    np.testing.assert_allclose(again(x), 3 * x)
    assert layer.compute_output_shape((None, 3)) == (None, 3)  # found by running it


@pytest.mark.parametrize("function", ["scale_by", {"class_name": "function",
                                                   "config": "scale_by"}])
def test_lambda_function_by_plain_name_or_dict(function):
    layer = engine.deserialize(k3("Lambda", {"function": function, "output_shape": [4]}),
                               custom_objects={"scale_by": scale_by})
    assert layer.compute_output_shape((2, 4)) == (2, 4)
    assert layer.get_config()["output_shape"] == [4]


def test_lambda_mask_function():
    layer = Lambda(scale_by, mask=keep_mask)
    m = np.array([[True, False]])
    assert layer.supports_masking and layer.compute_mask(np.ones((1, 2)), m) is m
    assert not Lambda(scale_by).supports_masking


def test_lambda_unknown_function_names_custom_objects():
    with pytest.raises(ConfigError, match="custom_objects") as e:
        engine.deserialize(LAMBDA_K3)
    assert e.value.path == "config.function.config"


LAMBDA_BYTECODE_K3 = k3("Lambda", {"function": {"class_name": "__lambda__", "config": {
    "code": "4wEAAAAAAAAAAAAAAAEAAAADAAAA8w==", "defaults": None, "closure": None}},
    "arguments": {}})
LAMBDA_BYTECODE_K2 = k2("Lambda", {"name": "lambda", "trainable": True, "dtype": "float32",
                                   "function": ["4wEAAAAAAAAAAAAAAAEAAAADAAAA8w==", None, None],
                                   "function_type": "lambda", "module": "__main__",
                                   "output_shape": None, "output_shape_type": "raw",
                                   "output_shape_module": None, "arguments": {}})


@pytest.mark.parametrize("config", [LAMBDA_BYTECODE_K3, LAMBDA_BYTECODE_K2],
                         ids=["keras3", "keras2"])
def test_lambda_bytecode_is_refused(config):
    with pytest.raises(UnsafeConfigError) as e:
        engine.deserialize(config, custom_objects={"scale_by": scale_by})
    msg = str(e.value)
    assert "custom_objects" in msg and "never" in msg


def test_lambda_bytecode_is_refused_by_from_config_too():
    for cfg in (LAMBDA_BYTECODE_K3["config"], LAMBDA_BYTECODE_K2["config"]):
        with pytest.raises(UnsafeConfigError, match="custom_objects"):
            Lambda.from_config(dict(cfg))


# -- InputLayer -----------------------------------------------------------------------------


def test_input_layer_shapes_and_configs():
    layer = InputLayer(shape=(3, 4), batch_size=2, name="inp")
    assert layer.batch_shape == (2, 3, 4) and layer.built
    assert layer.get_config() == {"batch_shape": [2, 3, 4], "dtype": "float32",
                                  "sparse": False, "ragged": False, "name": "inp",
                                  "optional": False}
    assert layer.get_config("keras2") == {"batch_input_shape": [2, 3, 4], "dtype": "float32",
                                          "sparse": False, "ragged": False, "name": "inp",
                                          "optional": False}
    k2layer = engine.deserialize(k2("InputLayer", {"batch_input_shape": [None, 5],
                                                   "dtype": "int32", "name": "ids"}))
    assert k2layer.batch_shape == (None, 5) and k2layer.dtype == "int32"
    assert InputLayer(input_shape=(7,)).batch_shape == (None, 7)
    x = np.ones((3, 5), "int64")
    assert k2layer(x).dtype == np.int32
    with pytest.raises(ValueError, match="expects inputs of shape"):
        k2layer(np.ones((3, 4)))


def test_input_layer_needs_exactly_one_shape():
    with pytest.raises(ConfigError) as e:
        engine.deserialize(k3("InputLayer", {"dtype": "float32"}))
    assert e.value.path == "config.batch_shape"
    with pytest.raises(ConfigError, match="not both"):
        InputLayer(shape=(3,), batch_shape=(None, 3))


# -- shapes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("layer,shape,want", [
    (Reshape((-1, 2)), (None, None, 4), (None, None, 2)),
    (Reshape((-1, 2)), (None, 3, 4), (None, 6, 2)),
    (Flatten(), (None, None, 3), (None, None)),
    (Flatten(), (None, 2, 3), (None, 6)),
    (Cropping2D(((1, 0), (0, 2))), (None, None, 5, 3), (None, None, 3, 3)),
    (EinsumDense("abc,cd->abd", (None, 5)), (None, None, 4), (None, None, 5)),
    (EinsumDense("...b,bc->...c", 3), (None, 7, 4), (None, 7, 3)),
    (Embedding(5, 3), (None, None), (None, None, 3)),
])
def test_compute_output_shape_with_unknown_dims(layer, shape, want):
    assert tuple(layer.compute_output_shape(shape)) == want


def test_einsum_dense_weights_and_fans_from_the_equation():
    layer = EinsumDense("abc,cde->abde", output_shape=(None, 3, 2), bias_axes="de",
                        kernel_initializer={"class_name": "GlorotUniform",
                                            "config": {"seed": 1}})
    layer.build((None, 5, 4))
    assert layer.kernel.shape == (4, 3, 2) and layer.bias.shape == (3, 2)
    limit = np.sqrt(6 / (4 + 6))  # fan_in = c, fan_out = d * e
    k = layer.kernel.value
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.8 * limit
    x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype("float32")
    want = np.einsum("abc,cde->abde", x, k) + layer.bias.value
    np.testing.assert_allclose(layer(x), want, rtol=1e-6)


def test_prelu_shared_axes_beyond_the_input_rank_is_a_config_error():
    layer = PReLU(shared_axes=[3])
    with pytest.raises(ConfigError) as e:
        layer.build((None, 4, 5))
    assert e.value.path == "shared_axes"


@pytest.mark.parametrize("layer,x,match", [
    (Reshape((5,)), np.ones((2, 6)), "cannot reshape"),
    (Cropping2D(2), np.ones((1, 4, 6, 1)), "leaves nothing"),
])
def test_runtime_shape_errors_name_the_layer(layer, x, match):
    with pytest.raises(ValueError, match=match) as e:
        layer(x)
    assert layer.name in str(e.value)


# -- bad configs ----------------------------------------------------------------------------

BAD_CONFIGS = [
    ("Dropout", {"rate": 1.5}, "config.rate"),
    ("Dropout", {"rate": 1.0}, "config.rate"),
    ("Dropout", {"rate": -0.1}, "config.rate"),
    ("Dropout", {"rate": True}, "config.rate"),
    ("Dropout", {"rate": 0.5, "noise_shape": [0, 2]}, "config.noise_shape[0]"),
    ("SpatialDropout2D", {"rate": 1.5}, "config.rate"),
    ("SpatialDropout2D", {"rate": 0.5, "data_format": "channels_middle"},
     "config.data_format"),
    ("GaussianDropout", {"rate": 1}, "config.rate"),
    ("AlphaDropout", {"rate": 2.0}, "config.rate"),
    ("GaussianNoise", {"stddev": -1.0}, "config.stddev"),
    ("Dense", {"units": -1}, "config.units"),
    ("Embedding", {"input_dim": 10, "output_dim": -3}, "config.output_dim"),
    ("Embedding", {"input_dim": 0, "output_dim": 3}, "config.input_dim"),
    ("Embedding", {"input_dim": 10, "output_dim": 3, "mask_zero": "yes"}, "config.mask_zero"),
    ("EinsumDense", {"equation": "ab->c", "output_shape": 3}, "config.equation"),
    ("EinsumDense", {"equation": "ab,bc->ad", "output_shape": 3}, "config.equation"),
    ("EinsumDense", {"equation": "ab,bc->ac", "output_shape": [3, 4]}, "config.output_shape"),
    ("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 3, "bias_axes": "z"},
     "config.bias_axes"),
    ("PReLU", {"shared_axes": 0}, "config.shared_axes[0]"),
    ("PReLU", {"shared_axes": [1, "x"]}, "config.shared_axes[1]"),
    ("ReLU", {"max_value": -1.0}, "config.max_value"),
    ("ReLU", {"negative_slope": -0.5}, "config.negative_slope"),
    ("LeakyReLU", {"negative_slope": -0.1}, "config.negative_slope"),
    ("Softmax", {"axis": "x"}, "config.axis"),
    ("Masking", {"mask_value": "a"}, "config.mask_value"),
    ("Activation", {"activation": "relux"}, "config.activation"),
    ("Reshape", {"target_shape": [-1, -1]}, "config.target_shape"),
    ("Reshape", {"target_shape": [-2, 3]}, "config.target_shape[0]"),
    ("Reshape", {"target_shape": "abc"}, "config.target_shape"),
    ("Permute", {"dims": [1, 3]}, "config.dims"),
    ("RepeatVector", {"n": 0}, "config.n"),
    ("Flatten", {"data_format": "channels_middle"}, "config.data_format"),
    ("Cropping1D", {"cropping": [1, 2, 3]}, "config.cropping"),
    ("Cropping2D", {"cropping": -1}, "config.cropping[0][0]"),
    ("Cropping2D", {"cropping": 1, "data_format": "nhwc"}, "config.data_format"),
    ("Cropping3D", {"cropping": [1, 2]}, "config.cropping"),
    ("ZeroPadding2D", {"padding": [[1, 2], [3]]}, "config.padding[1]"),
    ("ZeroPadding3D", {"padding": 1, "data_format": "channels"}, "config.data_format"),
    ("InputLayer", {"batch_shape": [None, -3]}, "config.batch_shape[1]"),
]


@pytest.mark.parametrize("class_name,config,path", BAD_CONFIGS,
                         ids=[f"{c}-{p.split('.', 1)[1]}-{i}" for i, (c, _, p) in
                              enumerate(BAD_CONFIGS)])
def test_bad_config_names_the_field(class_name, config, path):
    with pytest.raises(ConfigError) as e:
        engine.deserialize(k3(class_name, config))
    assert e.value.path == path, str(e.value)
    assert str(e.value).startswith(path + ":")
