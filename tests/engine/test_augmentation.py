"""Keras 3 augmentation layers beyond the oracle cases (Pipeline, RandomShear, RandomHue,
RandomSaturation, RandomColorJitter, RandomGaussianBlur, RandomErasing, RandomPerspective,
Equalization, MixUp, CutMix) and LocallyConnected1D/2D: transformations with chosen
parameters against Keras 3's (tests/data/keras/generated/augmentation_transforms.npz,
written by ``python -m tests.oracle_gen.augmentation``), seeding, shapes, bad configs;
the typed fields of the preprocessing layers (engine.fields.ranges) and the Keras 2 <->
Keras 3 conversions they carry."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import DATA

import engine
from engine.errors import ConfigError
from engine.fields import Json
from engine.fields.ranges import (
    ContrastFactor,
    Factor,
    FactorRange,
    NumberList,
    NumberOrList,
    OddSizes,
    ValueRange,
)

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


# -- typed fields of the preprocessing layers (engine.fields.ranges) ------------------------

GOOD_FIELDS = [
    # field, value given, value held, written for Keras 3, written for Keras 2
    (Factor("f"), 0.2, (-0.2, 0.2), [-0.2, 0.2], 0.2),
    (Factor("f"), -0.2, (-0.2, 0.2), [-0.2, 0.2], -0.2),
    (Factor("f"), [0.3, -0.1], (-0.1, 0.3), [-0.1, 0.3], [0.3, -0.1]),
    (Factor("f", min=0), 0.5, (0, 0.5), [0, 0.5], 0.5),
    (Factor("f", min=0), 0.0, (-0.0, 0.0), [-0.0, 0.0], 0.0),
    (Factor("f", min=0, number="from_zero"), 0.0, (0, 0.0), [0, 0.0], 0.0),
    (Factor("f", writes_pair=()), [-0.2, 0.2], (-0.2, 0.2), [-0.2, 0.2], [-0.2, 0.2]),
    (Factor("f", writes_pair=()), 0.1, (-0.1, 0.1), 0.1, 0.1),
    (Factor("f", max=float("inf")), 2.5, (-1, 2.5), [-1, 2.5], 2.5),
    (Factor("f", min=1, max=8, integers=True), 6.0, (1, 6.0), [1, 6], 6.0),
    (Factor("f", min=1, max=8, integers=True), [2, 5], (2, 5), [2, 5], [2, 5]),
    (Factor("f", number_min=0), [-0.5, 0.5], (-0.5, 0.5), [-0.5, 0.5], [-0.5, 0.5]),
    (ContrastFactor("f"), 0.1, (0, 0.1), [0, 0.1], [0, 0.1]),
    (ContrastFactor("f"), [0.1, 0.4], (0.1, 0.4), [0.1, 0.4], [0.1, 0.4]),
    (ValueRange(), [0, 255], (0, 255), [0, 255], [0, 255]),
    (ValueRange(), (1.0, -1.0), (-1.0, 1.0), [-1.0, 1.0], [-1.0, 1.0]),
    (ValueRange(sort=False), [255, 0], (255, 0), [255, 0], [255, 0]),
    (OddSizes("k"), 3, (3, 3), [3, 3], [3, 3]),
    (OddSizes("k"), [1, 5], (1, 5), [1, 5], [1, 5]),
    (NumberOrList("s"), 0.5, 0.5, 0.5, 0.5),
    (NumberOrList("s"), [[1, 2], [3, 4.5]], [[1, 2], [3, 4.5]], [[1, 2], [3, 4.5]],
     [[1, 2], [3, 4.5]]),
    (NumberOrList("s", length=3), [1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3]),
    (NumberOrList("s"), np.array([0.5, 2.0]), [0.5, 2.0], [0.5, 2.0], [0.5, 2.0]),
    (NumberOrList("v", min=0), [0, 2.0], [0, 2.0], [0, 2.0], [0, 2.0]),
    (NumberList("b", ascending=True), (0, 1.5, 1.5), [0, 1.5, 1.5], [0, 1.5, 1.5],
     [0, 1.5, 1.5]),
]


@pytest.mark.parametrize("field,value,held,k3_out,k2_out", GOOD_FIELDS,
                         ids=[f"{type(g[0]).__name__}-{i}" for i, g in enumerate(GOOD_FIELDS)])
def test_range_fields_read_and_write_keras_forms(field, value, held, k3_out, k2_out):
    got = field.validate(value, f"config.{field.name}")
    assert got == held and type(got) is type(held) or isinstance(got, FactorRange)
    assert field.to_config(got, "keras3") == k3_out
    assert field.to_config(got, "keras2") == k2_out
    # the number types Keras writes (0 for a bound, 0.0 for a float given)
    assert repr(field.to_config(got, "keras3")) == repr(k3_out)
    assert field.validate(got, "x") == got  # a held value reads back as itself


BAD_FIELDS = [
    (Factor("factor"), 1.5, "must be in [-1, 1], got 1.5"),
    (Factor("factor"), [0.1, 2], "values must be in [-1, 1]"),
    (Factor("factor"), [0.1, 0.2, 0.3], "expected a number in [-1, 1] or a list of two"),
    (Factor("factor"), "big", "got the str 'big'"),
    (Factor("factor"), True, "got the bool True"),
    (Factor("factor"), float("nan"), "expected a number"),
    (Factor("factor", min=0), -0.5, "must be in [0, 1], got -0.5"),
    (Factor("x_factor", number_min=0), -0.5, "must be in [0, 1], got -0.5"),
    (Factor("factor", max=float("inf"), lower_open=True), 1.0, "lower bound must be > -1"),
    (ContrastFactor("factor"), [-0.1, 0.5], "values must be in [0, 1]"),
    (ValueRange(), [0], "expected a list of two numbers [low, high], got the list [0]"),
    (ValueRange(), 255, "expected a list of two numbers"),
    (ValueRange(), [0, float("inf")], "expected a list of two numbers"),
    (OddSizes("kernel_size"), 4, "expected an odd positive int or a list of 2 of them"),
    (OddSizes("kernel_size"), [3, 3, 3], "expected an odd positive int"),
    (OddSizes("kernel_size"), [3.0, 3], "expected an odd positive int"),
    (OddSizes("kernel_size"), -1, "expected an odd positive int"),
    (NumberOrList("scale"), "1/255", "expected a number or a list of numbers, got the str"),
    (NumberOrList("scale"), [1, None], "expected a number or a list of numbers"),
    (NumberOrList("scale"), [1, float("inf")], "expected finite numbers"),
    (NumberOrList("scale"), [[1, 2], [3]], "expected a number or a list of numbers"),
    (NumberOrList("fill_value", length=3), [1, 2], "a list of 3 numbers"),
    (NumberOrList("variance", min=0), [1, -1], "must be >= 0"),
    (NumberList("bin_boundaries", ascending=True), [1, 0], "must be sorted ascending"),
    (NumberList("bin_boundaries"), 3, "expected a list of numbers, got the int 3"),
]


@pytest.mark.parametrize("field,value,message", BAD_FIELDS,
                         ids=[f"{g[0].name}-{i}" for i, g in enumerate(BAD_FIELDS)])
def test_range_fields_refuse_bad_values_naming_the_field(field, value, message):
    with pytest.raises(ConfigError) as err:
        field.validate(value, f"config.{field.name}")
    assert str(err.value).startswith(f"config.{field.name}: "), str(err.value)
    assert message in str(err.value)


def test_range_fields_have_their_own_control_kinds():
    kinds = {type(f).__name__: f.kind for f, *_ in GOOD_FIELDS}
    assert kinds == {"Factor": "factor", "ContrastFactor": "factor",
                     "ValueRange": "value_range", "OddSizes": "odd_sizes",
                     "NumberOrList": "number_or_list", "NumberList": "number_list"}
    for cls in (engine.layers.preprocessing.RandomContrast,
                engine.layers.preprocessing.RandomGaussianBlur,
                engine.layers.preprocessing.RandomErasing,
                engine.layers.preprocessing.Rescaling):
        assert not [f.name for f in cls.all_fields() if isinstance(f, Json)], cls.__name__


class Bounds:
    """A stand-in generator recording the bounds of each uniform draw."""

    def __init__(self):
        self.calls = []

    def uniform(self, low=0.0, high=1.0, size=None):
        self.calls.append((float(low), float(high)))
        return np.full(() if size is None else size, low, np.float64)


def _contrast_range(layer):
    rng = Bounds()
    layer.__dict__["_rng_generator"] = rng
    layer(IMG, training=True)
    return rng.calls[0]


@pytest.mark.parametrize("factor,want", [(0.2, (0.8, 1.2)), ([0.1, 0.4], (0.9, 1.4)),
                                         (0.0, (1.0, 1.0))])
def test_keras2_contrast_keeps_its_range_when_written_for_keras3(factor, want):
    k2_layer = k2("RandomContrast", factor=factor, seed=1)
    np.testing.assert_allclose(_contrast_range(k2_layer), want)
    as_k3 = engine.serialize(k2_layer, "keras3")
    k3_layer = engine.deserialize(as_k3)
    np.testing.assert_allclose(_contrast_range(k3_layer), want)  # not [1.0, 1.2]
    assert engine.serialize(k2_layer, "keras2")["config"]["factor"] == factor
    # and back: the Keras 3 layer written for Keras 2 still draws from the same range
    again = engine.deserialize(engine.serialize(k3_layer, "keras2"))
    np.testing.assert_allclose(_contrast_range(again), want)


def test_keras3_contrast_keeps_its_range_when_written_for_keras2():
    layer = k3("RandomContrast", factor=0.2)
    np.testing.assert_allclose(_contrast_range(layer), (1.0, 1.2))
    out = engine.serialize(layer, "keras2")
    assert out["config"]["factor"] == [0, 0.2]
    np.testing.assert_allclose(_contrast_range(engine.deserialize(out)), (1.0, 1.2))


def test_format_differences_without_an_equivalent_are_refused_on_export():
    unsorted = k2("RandomContrast", factor=[0.3, 0.1])
    np.testing.assert_allclose(_contrast_range(unsorted), (0.7, 1.1))
    assert engine.serialize(unsorted, "keras2")["config"]["factor"] == [0.3, 0.1]
    with pytest.raises(ConfigError, match=r"^config.factor: .*\[0\.7, 1\.1\].*Keras 3"):
        engine.serialize(unsorted, "keras3")
    clipped = k3("RandomContrast", factor=0.2, value_range=[0, 1])
    with pytest.raises(ConfigError, match=r"value_range: Keras 2's RandomContrast always "
                                          r"clips to \[0, 255\]"):
        engine.serialize(clipped, "keras2")
    for make, other in ((k2, "keras3"), (k3, "keras2")):
        # the flips' random stream differs in training only: the export is allowed
        assert engine.serialize(make("RandomFlip"), other)["config"]["mode"] == \
            "horizontal_and_vertical"
        with pytest.raises(ConfigError, match="height: at inference"):
            engine.serialize(make("RandomCrop", height=2, width=2), other)


def test_keras2_flip_draws_each_axis_on_its_own():
    x = np.arange(4, dtype=np.float32).reshape(1, 2, 2, 1)
    seen = {tuple(k2("RandomFlip", seed=s)(x, training=True).ravel()) for s in range(40)}
    assert len(seen) == 4  # none, horizontal, vertical, both
    seen = {tuple(k3("RandomFlip", seed=s)(x, training=True).ravel()) for s in range(40)}
    assert len(seen) == 2  # none or both


def test_positional_arguments_follow_keras():
    pp = engine.layers.preprocessing
    assert pp.RandomContrast(0.2).factor == (0, 0.2)
    assert pp.RandomFlip("vertical", 3).seed == 3
    assert (pp.Resizing(3, 4).height, pp.Resizing(3, 4).width) == (3, 4)
    assert pp.Solarization(0.1, 0.2).threshold_factor == (0, 0.2)
