"""Keras 3 augmentation layers beyond the oracle cases (Pipeline, RandomShear, RandomHue,
RandomSaturation, RandomColorJitter, RandomGaussianBlur, RandomErasing, RandomPerspective,
Equalization, MixUp, CutMix) and LocallyConnected1D/2D: transformations with chosen
parameters against Keras 3's (tests/data/keras/generated/augmentation_transforms.npz,
written by ``python -m tests.oracle_gen.augmentation``), seeding, shapes, bad configs."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import DATA

import engine
from engine.errors import ConfigError

REFS = np.load(DATA / "generated" / "augmentation_transforms.npz")
IMG = REFS["images"]


def k3(class_name: str, **config):
    return engine.deserialize({"module": "keras.layers", "class_name": class_name,
                               "config": config})


class Draws:
    """A stand-in generator returning chosen values, per method, in call order."""

    def __init__(self, **queues):
        self.queues = {k: list(v) for k, v in queues.items()}

    def _next(self, kind):
        return np.asarray(self.queues[kind].pop(0), np.float64)

    def uniform(self, low=0.0, high=1.0, size=None):
        if not self.queues.get("uniform"):  # a degenerate range: its only value
            return np.full(() if size is None else size, low, np.float64)
        return self._next("uniform")

    def integers(self, low, high=None, size=None):
        return self._next("integers").astype(np.int64)

    def gamma(self, shape, size=None):
        return self._next("gamma")

    def beta(self, a, b, size=None):
        return self._next("beta")

    def permutation(self, n):
        return self._next("permutation").astype(np.int64)

    def standard_normal(self, size=None):
        return self._next("standard_normal")


def _with_draws(layer, **queues):
    layer.__dict__["_rng_generator"] = Draws(**queues)
    return layer


@pytest.mark.parametrize("mode,interp", [("reflect", "bilinear"), ("constant", "nearest")])
def test_shear_matrix_matches_keras(mode, interp):
    layer = _with_draws(k3("RandomShear", x_factor=0.3, y_factor=0.3, fill_mode=mode,
                           interpolation=interp, fill_value=7.0),
                        uniform=[[0.2, 0.9], [-0.2, -0.1], [0.3, 0.25]])
    got = layer(IMG, training=True)
    np.testing.assert_allclose(got, REFS[f"shear_{mode}_{interp}"], atol=2e-3, rtol=1e-5)


@pytest.mark.parametrize("interp", ["bilinear", "nearest"])
def test_perspective_matches_keras(interp):
    layer = _with_draws(k3("RandomPerspective", interpolation=interp, fill_value=2.0),
                        uniform=[[1.0, 1.0], [0.5, 1.0], REFS["perspective_u"]])
    got = layer(IMG, training=True)
    np.testing.assert_allclose(got, REFS[f"perspective_{interp}"], atol=2e-3, rtol=1e-4)


def test_hue_shift_matches_keras():
    f = REFS["hue_factor"]  # +0.13, -0.4 of a turn
    layer = _with_draws(k3("RandomHue", factor=1.0),
                        uniform=[[0.1, 0.9], np.abs(f) * 2])
    np.testing.assert_allclose(layer(IMG, training=True), REFS["hue"], atol=1e-3, rtol=1e-5)


def test_saturation_matches_keras():
    f = REFS["saturation_factor"].astype(np.float64)
    layer = _with_draws(k3("RandomSaturation", factor=1.0), uniform=[f / (1 + f)])
    np.testing.assert_allclose(layer(IMG, training=True), REFS["saturation"], atol=1e-3,
                               rtol=1e-4)


def test_mix_up_matches_keras():
    layer = _with_draws(k3("MixUp"), permutation=[[1, 0]], beta=[REFS["mix_weight"]])
    np.testing.assert_allclose(layer(IMG, training=True), REFS["mix_up"], atol=1e-4)


def test_blur_non_square_kernel_matches_keras():
    layer = _with_draws(k3("RandomGaussianBlur", kernel_size=[3, 5]),
                        uniform=[[1.0, 1.0], [0.0, 0.0], REFS["blur_sigma"] - 1e-6])
    np.testing.assert_allclose(layer(IMG, training=True), REFS["blur_3x5"], atol=1e-3,
                               rtol=1e-5)


def test_erasing_box_and_noise_fill():
    x = np.full((1, 4, 6, 1), 5.0, np.float32)
    layer = _with_draws(k3("RandomErasing", value_range=[0, 10]),
                        uniform=[[[0.25, 0.25]], [0.5], [0.0], [1.0], [0.0]],
                        standard_normal=[np.full(x.shape, 0.5)])
    y = layer(x, training=True)[0, :, :, 0]
    # width: crop 3 from 1.5 (cols 2..4), height: crop 2 from 0 (rows 0..1)
    want = np.full((4, 6), 5.0)
    want[0:2, 2:5] = 5.0 * 1.0  # noise 0.5 * value_range[1] = 5, clipped to [0, 10]
    np.testing.assert_array_equal(y, want)
    layer = _with_draws(k3("RandomErasing", fill_value=9.0, value_range=[0, 10]),
                        uniform=[[[0.25, 0.25]], [0.5], [0.0], [1.0], [0.0]])
    y = layer(x, training=True)[0, :, :, 0]
    want[0:2, 2:5] = 9.0
    np.testing.assert_array_equal(y, want)


def test_cut_mix_pastes_a_box_from_the_permuted_image():
    x = np.stack([np.zeros((4, 4, 1)), np.ones((4, 4, 1))]).astype(np.float32)
    layer = _with_draws(k3("CutMix"), uniform=[0.5, [0.0, 0.0], [0.0, 0.5]],
                        beta=[[0.75, 0.75]], permutation=[[1, 0]])
    y = layer(x, training=True)
    # ratio sqrt(1 - 0.75) = 0.5: a 2x2 box; rows start at 0 (image 0) and 1 (image 1)
    assert y[0, :2, :2].sum() == 4 and y[0].sum() == 4
    assert y[1, 1:3, :2].sum() == 0 and y[1].sum() == 12


AUGMENT = [
    ("RandomShear", {"x_factor": 0.3, "y_factor": 0.2}),
    ("RandomHue", {"factor": 0.5}),
    ("RandomSaturation", {"factor": 0.4}),
    ("RandomColorJitter", {"brightness_factor": 0.2, "contrast_factor": 0.3,
                           "saturation_factor": 0.4, "hue_factor": 0.2}),
    ("RandomGaussianBlur", {"factor": 0.8}),
    ("RandomErasing", {}),
    ("RandomPerspective", {"scale": 0.4}),
    ("MixUp", {}),
    ("CutMix", {}),
]


@pytest.mark.parametrize("name,config", AUGMENT, ids=[a[0] for a in AUGMENT])
def test_seeded_training_and_identity_inference(name, config):
    a, b = k3(name, seed=11, **config), k3(name, seed=11, **config)
    np.testing.assert_array_equal(a(IMG), IMG)
    ya, yb = a(IMG, training=True), b(IMG, training=True)
    assert ya.shape == IMG.shape and ya.dtype == np.float32
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a(IMG, training=True), ya)  # the stream moves on
    assert a.compute_output_shape((None, 5, 6, 3)) == (None, 5, 6, 3)
    single = a(IMG[0], training=True)
    assert single.shape == IMG[0].shape


def test_channels_first_equals_channels_last():
    cf = np.moveaxis(IMG, -1, 1)
    for name, cfg in (("RandomShear", {"x_factor": 0.4}), ("RandomHue", {"factor": 0.5}),
                      ("RandomGaussianBlur", {})):
        last = k3(name, seed=3, **cfg)(IMG, training=True)
        first = k3(name, seed=3, data_format="channels_first", **cfg)(cf, training=True)
        np.testing.assert_allclose(np.moveaxis(first, 1, -1), last, atol=1e-4)


def test_equalization_identity_at_inference_and_flat_channel():
    eq = k3("Equalization")
    np.testing.assert_array_equal(eq(IMG), IMG)
    flat = np.full((1, 3, 3, 1), 7.0, np.float32)
    np.testing.assert_array_equal(eq(flat, training=True), flat)
    y = eq(IMG, training=True)
    assert y.min() == 0 and y.max() == 255


def test_pipeline_chains_layers_and_round_trips():
    cfg = {"layers": [{"module": "keras.layers", "class_name": "Rescaling",
                       "config": {"scale": 2.0}},
                      {"module": "keras.layers", "class_name": "RandomFlip",
                       "config": {"mode": "horizontal", "seed": 1}},
                      {"module": "keras.layers", "class_name": "CenterCrop",
                       "config": {"height": 3, "width": 4}}],
           "name": "aug"}
    p = k3("Pipeline", **cfg)
    assert p(IMG).shape == (2, 3, 4, 3)
    np.testing.assert_allclose(p(IMG), 2 * IMG[:, 1:4, 1:5])
    assert p.compute_output_shape((None, 5, 6, 3)) == (None, 3, 4, 3)
    got = p.get_config()
    assert list(got) == ["layers", "name"] and got["name"] == "aug"
    again = k3("Pipeline", **got)
    assert again.get_config() == got
    t1 = k3("Pipeline", **cfg)(IMG, training=True)
    assert t1.shape == (2, 3, 4, 3)
    with pytest.raises(ValueError):
        engine.serialize(p, format="keras2")


@pytest.mark.parametrize("name,config,field", [
    ("Pipeline", {"layers": 3}, "layers"),
    ("Pipeline", {"layers": [{"class_name": "NoSuchLayer", "config": {}}]}, "layers[0]"),
    ("RandomShear", {"x_factor": 1.5}, "x_factor"),
    ("RandomShear", {"y_factor": [0.1, 0.2, 0.3]}, "y_factor"),
    ("RandomShear", {"fill_mode": "mirror"}, "fill_mode"),
    ("RandomHue", {"factor": 1.5}, "factor"),
    ("RandomHue", {"factor": 0.2, "value_range": [0]}, "value_range"),
    ("RandomSaturation", {"factor": "big"}, "factor"),
    ("RandomColorJitter", {"hue_factor": 2.0}, "hue_factor"),
    ("RandomColorJitter", {"contrast_factor": -0.5}, "contrast_factor"),
    ("RandomGaussianBlur", {"kernel_size": 4}, "kernel_size"),
    ("RandomGaussianBlur", {"sigma": 2.0}, "sigma"),
    ("RandomErasing", {"scale": [0.1, 1.5]}, "scale"),
    ("RandomErasing", {"fill_value": [1, 2]}, "fill_value"),
    ("RandomPerspective", {"scale": 1.5}, "scale"),
    ("RandomPerspective", {"interpolation": "bicubic"}, "interpolation"),
    ("Equalization", {"bins": 0}, "bins"),
    ("MixUp", {"alpha": 0}, "alpha"),
    ("CutMix", {"factor": -0.2}, "factor"),
])
def test_bad_configs_name_the_field(name, config, field):
    with pytest.raises(ConfigError) as err:
        k3(name, **config)
    assert field in str(err.value).split(":")[0]


def test_hue_needs_rgb():
    with pytest.raises(ValueError, match="RGB"):
        k3("RandomHue", factor=0.5)(IMG[..., :2], training=True)
    with pytest.raises(ValueError, match="random_color_jitter"):
        k3("RandomColorJitter", hue_factor=0.5)(IMG[..., :2], training=True)
    with pytest.raises(ValueError, match="RGB channel"):
        k3("RandomErasing", fill_value=[1, 2, 3])(IMG[..., :2], training=True)
    y = k3("RandomColorJitter", brightness_factor=0.5)(IMG[..., :2], training=True)
    assert y.shape == IMG[..., :2].shape


# -- LocallyConnected1D/2D ----------------------------------------------------------------


def k2(class_name: str, **config):
    return engine.deserialize({"class_name": class_name, "config": config})


@pytest.mark.parametrize("name,shape,cfg", [
    ("LocallyConnected1D", (3, 7, 2), {"kernel_size": 3, "strides": 2}),
    ("LocallyConnected1D", (3, 2, 6), {"kernel_size": 2, "data_format": "channels_first"}),
    ("LocallyConnected2D", (2, 5, 6, 2), {"kernel_size": [2, 3], "strides": [2, 1]}),
    ("LocallyConnected2D", (2, 3, 5, 4), {"kernel_size": 2, "data_format": "channels_first"}),
])
def test_locally_connected_implementations_agree(name, shape, cfg):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(np.float32)
    layers = {i: k2(name, filters=3, activation="tanh", implementation=i, **cfg)
              for i in (1, 2, 3)}
    for layer in layers.values():
        layer.build(shape)
    l1 = layers[1]
    l1.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in l1.weights])
    bias = l1.get_weights()[1]
    # the linear map of implementation 1, read off basis inputs (bias removed)
    n_in = int(np.prod(shape[1:]))
    basis = np.eye(n_in, dtype=np.float32).reshape((n_in,) + shape[1:])
    zero = k2(name, filters=3, implementation=1, use_bias=False, **cfg)
    zero.build(shape)
    zero.set_weights([l1.get_weights()[0]])
    m = zero(basis).reshape(n_in, -1)  # (in_flat, out_flat)
    l2 = layers[2]
    l2.set_weights([m.reshape(l2.weights[0].shape), bias])
    l3 = layers[3]
    l3.set_weights([m.reshape(-1)[l3._dense_at], bias])
    y1 = l1(x)
    assert y1.shape[1:] == l1.compute_output_shape((None,) + shape[1:])[1:]
    np.testing.assert_allclose(l2(x), y1, atol=1e-5)
    np.testing.assert_allclose(l3(x), y1, atol=1e-5)


@pytest.mark.parametrize("config,field", [
    ({"filters": 2, "kernel_size": 3, "padding": "same"}, "padding"),
    ({"filters": 0, "kernel_size": 3}, "filters"),
    ({"filters": 2, "kernel_size": 0}, "kernel_size"),
    ({"filters": 2, "kernel_size": 3, "strides": -1}, "strides"),
    ({"filters": 2, "kernel_size": 3, "implementation": 4}, "implementation"),
    ({"filters": 2, "kernel_size": 3, "padding": "causal"}, "padding"),
])
def test_locally_connected_bad_configs(config, field):
    with pytest.raises(ConfigError) as err:
        k2("LocallyConnected1D", **config)
    assert field in str(err.value).split(":")[0]


def test_locally_connected_window_larger_than_input():
    layer = k2("LocallyConnected2D", filters=2, kernel_size=5)
    with pytest.raises(ConfigError, match="kernel_size"):
        layer.build((1, 4, 6, 1))
    assert k2("LocallyConnected2D", filters=2, kernel_size=3, padding="same",
              implementation=2).compute_output_shape((None, 4, 6, 1)) == (None, 4, 6, 2)


def test_locally_connected_is_keras2_only():
    layer = k2("LocallyConnected1D", filters=2, kernel_size=3)
    with pytest.raises(ValueError):
        engine.serialize(layer, format="keras3")


@pytest.mark.parametrize("mode", ["constant", "nearest", "wrap", "reflect"])
@pytest.mark.parametrize("order", [0, 1])
def test_map_coordinates_matches_keras(mode, order):
    from engine.layers.preprocessing import map_coordinates_2d

    plane = IMG[0:1, :, :, 0:1]
    got = map_coordinates_2d(plane, REFS["map_ys"][None], REFS["map_xs"][None], order, mode,
                             3.0)
    np.testing.assert_allclose(got[0, ..., 0], REFS[f"map_{mode}_{order}"], atol=1e-3,
                               rtol=1e-5)


def test_elastic_transform_seeded_and_bounded():
    x = IMG.copy()
    a = k3("RandomElasticTransform", seed=5, value_range=[20, 200])
    b = k3("RandomElasticTransform", seed=5, value_range=[20, 200])
    ya = a(x, training=True)
    np.testing.assert_array_equal(ya, b(x, training=True))
    assert ya.min() >= 20 and ya.max() <= 200 and not np.allclose(ya, np.clip(x, 20, 200))
    np.testing.assert_array_equal(a(x), x)


def test_max_num_bounding_boxes_pads_and_cuts():
    layer = k3("MaxNumBoundingBoxes", max_number=3)
    np.testing.assert_array_equal(layer(IMG, training=True), IMG)
    boxes = np.arange(16, dtype=np.float32).reshape(2, 2, 4)
    b, lab = layer.pad_boxes(boxes, np.ones((2, 2)))
    assert b.shape == (2, 3, 4) and (b[:, 2] == -1).all() and (lab[:, 2] == -1).all()
    b, lab = k3("MaxNumBoundingBoxes", max_number=1).pad_boxes(boxes, np.ones((2, 2)))
    assert b.shape == (2, 1, 4) and lab.shape == (2, 1)
    assert "fill_value" not in k3("MaxNumBoundingBoxes", max_number=2,
                                  fill_value=0).get_config()


@pytest.mark.parametrize("op", range(11))
def test_rand_augment_operations_match_keras(op):
    layer = _with_draws(k3("RandAugment", factor=[0.0, 0.0], num_ops=1), integers=[[op]])
    np.testing.assert_allclose(layer(IMG, training=True), REFS[f"rand_augment_op{op}"],
                               atol=2e-3, rtol=1e-5)


def test_aug_mix_chains_match_keras():
    # operations in Keras's all_ops order: equalization 6, sharpness 10, solarization 4,
    # auto_contrast 5, posterization 3; 11 is "no operation"
    layer = _with_draws(k3("AugMix", factor=[0.0, 0.0], num_chains=3, chain_depth=2,
                           alpha=0.7),
                        gamma=[REFS["aug_mix_weights"]], beta=[0.35],
                        integers=[6, 10, 4, 11, 5, 3])
    np.testing.assert_allclose(layer(IMG, training=True), REFS["aug_mix"], atol=2e-3,
                               rtol=1e-5)


@pytest.mark.parametrize("name,config", [("RandAugment", {"num_ops": 3}),
                                         ("AugMix", {"all_ops": False})])
def test_rand_augment_aug_mix_seeded(name, config):
    a, b = k3(name, seed=9, **config), k3(name, seed=9, **config)
    np.testing.assert_array_equal(a(IMG), IMG)
    ya = a(IMG, training=True)
    np.testing.assert_array_equal(ya, b(IMG, training=True))
    assert ya.shape == IMG.shape and ya.min() >= 0 and ya.max() <= 255


@pytest.mark.parametrize("name,config,field", [
    ("RandAugment", {"factor": 1.5}, "factor"),
    ("RandAugment", {"num_ops": -1}, "num_ops"),
    ("AugMix", {"alpha": 0.0}, "alpha"),
    ("AugMix", {"num_chains": 0}, "num_chains"),
    ("RandomElasticTransform", {"fill_mode": "grid"}, "fill_mode"),
    ("MaxNumBoundingBoxes", {"max_number": 0}, "max_number"),
    ("ContrastLimitedAdaptiveHistogramEqualization", {"tile_grid_size": [0, 2]},
     "tile_grid_size"),
    ("ContrastLimitedAdaptiveHistogramEqualization", {"value_range": 255}, "value_range"),
])
def test_more_bad_configs(name, config, field):
    with pytest.raises(ConfigError) as err:
        k3(name, **config)
    assert field in str(err.value).split(":")[0]


def test_mix_up_and_cut_mix_labels_match_keras():
    labels = REFS["labels"]
    mix = _with_draws(k3("MixUp"), permutation=[[1, 0]], beta=[REFS["mix_weight"]])
    got = mix({"images": IMG, "labels": labels}, training=True)
    np.testing.assert_allclose(got["images"], REFS["mix_up"], atol=1e-4)
    np.testing.assert_allclose(got["labels"], REFS["mix_up_labels"], atol=1e-6)
    r = REFS["cut_mix_ratio"].astype(np.float64)
    cut = _with_draws(k3("CutMix"), uniform=[0.5, [0.5, 0.0], [0.0, 1.0]],
                      beta=[1 - r ** 2], permutation=[[1, 0]])
    got = cut({"images": IMG, "labels": labels}, training=True)
    np.testing.assert_array_equal(got["images"], REFS["cut_mix"])
    np.testing.assert_allclose(got["labels"], REFS["cut_mix_labels"], atol=1e-6)
    same = k3("MixUp")({"images": IMG, "labels": labels})  # inference: unchanged
    np.testing.assert_array_equal(same["labels"], labels)
    np.testing.assert_array_equal(same["images"], IMG)


def test_dict_inputs_through_a_pipeline():
    p = k3("Pipeline", layers=[{"module": "keras.layers", "class_name": "RandomFlip",
                                "config": {"seed": 1}},
                               {"module": "keras.layers", "class_name": "MixUp",
                                "config": {"seed": 2}}])
    labels = np.eye(2, dtype=np.float32)
    out = p({"images": IMG, "labels": labels}, training=True)
    assert out["images"].shape == IMG.shape and out["labels"].shape == (2, 2)
    np.testing.assert_allclose(out["labels"].sum(axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="bounding"):
        k3("RandomFlip")({"images": IMG, "bounding_boxes": {}}, training=True)
