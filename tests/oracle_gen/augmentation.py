"""Oracle cases for the Keras 3 augmentation layers added after the first preprocessing
set (Pipeline, RandomShear, RandomHue, ... CutMix) and Keras 2's LocallyConnected1D/2D.

Random layers are the identity at inference; ``training=True`` cases use ranges where
Keras's draw is deterministic (a single value, a probability of 1, a batch of one).
"""

from tests.oracle_gen.common import case

_K3 = ("k3",)
_K2 = ("k2",)


def _k3(class_name: str, config: dict) -> dict:
    return {"module": "keras.layers", "class_name": class_name, "config": config}


CASES = [
    # Pipeline
    case("pipeline_gen_rescale_dense", "Pipeline",
         {"layers": [_k3("Rescaling", {"scale": 0.5, "offset": 1.0}),
                     _k3("Dense", {"units": 3, "name": "inner_dense"})]}, [(2, 4)],
         formats=_K3),
    case("pipeline_gen_augment", "Pipeline",
         {"layers": [_k3("RandomFlip", {"seed": 1}), _k3("RandomRotation", {"factor": 0.2}),
                     _k3("AutoContrast", {})]}, [(2, 4, 5, 3)], formats=_K3,
         input_kind="image"),
    case("pipeline_gen_augment_train", "Pipeline",
         {"layers": [_k3("RandomBrightness", {"factor": [0.1, 0.1], "value_range": [0, 1]}),
                     _k3("RandomRotation", {"factor": [0.25, 0.25],
                                            "fill_mode": "constant"})]},
         [(2, 4, 5, 2)], formats=_K3, training=True),
    # RandomShear
    case("random_shear_gen", "RandomShear", {"x_factor": 0.3, "y_factor": [0.1, 0.2],
                                             "fill_mode": "constant", "seed": 2},
         [(2, 4, 5, 3)], formats=_K3),
    case("random_shear_gen_zero_train", "RandomShear",
         {"x_factor": [0, 0], "interpolation": "nearest"}, [(2, 4, 5, 1)], formats=_K3,
         training=True),
    # RandomHue / RandomSaturation / RandomColorJitter
    case("random_hue_gen", "RandomHue", {"factor": [0.2, 0.6], "seed": 4}, [(2, 3, 4, 3)],
         formats=_K3, input_kind="image"),
    case("random_hue_gen_half_train", "RandomHue", {"factor": [1.0, 1.0]}, [(2, 3, 4, 3)],
         formats=_K3, input_kind="image", training=True),
    case("random_hue_gen_zero_unit_train", "RandomHue",
         {"factor": [0.0, 0.0], "value_range": [0, 1]}, [(2, 3, 4, 3)], formats=_K3,
         input_kind="uniform4", training=True),
    case("random_saturation_gen", "RandomSaturation", {"factor": 0.4}, [(2, 3, 3, 3)],
         formats=_K3, input_kind="image"),
    case("random_saturation_gen_train", "RandomSaturation", {"factor": [0.7, 0.7],
                                                             "value_range": [0, 1]},
         [(2, 3, 4, 3)], formats=_K3, input_kind="image", training=True),
    case("random_saturation_gen_gray_train", "RandomSaturation", {"factor": [0.0, 0.0]},
         [(1, 3, 4, 3)], formats=_K3, input_kind="image", training=True),
    case("random_color_jitter_gen", "RandomColorJitter",
         {"brightness_factor": 0.2, "contrast_factor": [0.1, 0.3], "saturation_factor": 0.5,
          "hue_factor": 0.1, "seed": 3}, [(2, 3, 3, 3)], formats=_K3, input_kind="image"),
    case("random_color_jitter_gen_train", "RandomColorJitter",
         {"value_range": [0, 1], "brightness_factor": [0.1, 0.1], "contrast_factor": [0, 0],
          "saturation_factor": [0.6, 0.6], "hue_factor": [1.0, 1.0]}, [(2, 3, 4, 3)],
         formats=_K3, input_kind="uniform4", training=True),
    # RandomGaussianBlur
    case("random_gaussian_blur_gen", "RandomGaussianBlur",
         {"factor": 0.5, "kernel_size": 5, "sigma": [0.2, 0.9]}, [(2, 5, 5, 2)],
         formats=_K3, input_kind="image"),
    case("random_gaussian_blur_gen_train", "RandomGaussianBlur",
         {"factor": [1.0, 1.0], "kernel_size": 3, "sigma": [0.8, 0.8]}, [(2, 5, 6, 2)],
         formats=_K3, input_kind="image", training=True),
    case("random_gaussian_blur_gen_5x5_train", "RandomGaussianBlur",
         {"factor": [1.0, 1.0], "kernel_size": [5, 5], "sigma": [0.5, 0.5],
          "value_range": [-1, 1]}, [(1, 6, 5, 3)], formats=_K3, training=True),
    # RandomErasing
    case("random_erasing_gen", "RandomErasing", {"factor": 0.7, "scale": [0.1, 0.4],
                                                 "fill_value": 3.0}, [(2, 4, 4, 3)],
         formats=_K3, input_kind="image"),
    case("random_erasing_gen_full_train", "RandomErasing",
         {"factor": [1.0, 1.0], "scale": [1.0, 1.0], "fill_value": [10.0, 300.0, -5.0]},
         [(2, 3, 4, 3)], formats=_K3, input_kind="image", training=True),
    case("random_erasing_gen_never_train", "RandomErasing", {"factor": [0.0, 0.0]},
         [(2, 3, 4, 3)], formats=_K3, input_kind="image", training=True),
    # RandomPerspective
    case("random_perspective_gen", "RandomPerspective",
         {"factor": [0.3, 0.8], "scale": 0.5, "interpolation": "nearest", "fill_value": 1.0},
         [(2, 4, 5, 2)], formats=_K3),
    case("random_perspective_gen_still_train", "RandomPerspective",
         {"factor": [1.0, 1.0], "scale": 0.0}, [(2, 4, 5, 2)], formats=_K3, training=True),
    # Equalization (training applies it deterministically)
    case("equalization_gen", "Equalization", {}, [(2, 5, 6, 3)], formats=_K3,
         input_kind="image", training=True),
    case("equalization_gen_bins_range_train", "Equalization",
         {"bins": 16, "value_range": [-4, 4]}, [(2, 6, 5, 2)], formats=_K3,
         input_kind="uniform4", training=True),
    case("equalization_gen_channels_first_train", "Equalization",
         {"data_format": "channels_first", "bins": 64}, [(1, 2, 5, 6)], formats=_K3,
         input_kind="image", training=True),
    # MixUp / CutMix (a batch of one mixes with itself)
    case("mix_up_gen", "MixUp", {"alpha": 0.4, "seed": 2}, [(3, 3, 3, 2)], formats=_K3),
    case("mix_up_gen_single_train", "MixUp", {}, [(1, 3, 4, 2)], formats=_K3,
         training=True),
    case("cut_mix_gen", "CutMix", {"factor": [0.2, 0.9]}, [(3, 3, 3, 2)], formats=_K3),
    case("cut_mix_gen_single_train", "CutMix", {}, [(1, 4, 4, 2)], formats=_K3,
         training=True),
    # RandomElasticTransform / MaxNumBoundingBoxes
    case("random_elastic_transform_gen", "RandomElasticTransform",
         {"factor": 0.5, "scale": [0.2, 0.6], "fill_mode": "mirror",
          "interpolation": "nearest"}, [(2, 5, 5, 2)], formats=_K3, input_kind="image"),
    case("random_elastic_transform_gen_still_train", "RandomElasticTransform",
         {"scale": [0.0, 0.0], "value_range": [0, 1]}, [(2, 4, 5, 2)], formats=_K3,
         training=True),
    case("max_num_bounding_boxes_gen", "MaxNumBoundingBoxes", {"max_number": 4},
         [(2, 3, 3, 3)], formats=_K3, training=True),
    # RandAugment / AugMix: inference, and no operation at all in training
    case("rand_augment_gen", "RandAugment", {"num_ops": 3, "factor": [0.1, 0.4],
                                             "interpolation": "nearest", "seed": 4},
         [(2, 4, 4, 3)], formats=_K3, input_kind="image"),
    case("rand_augment_gen_no_ops_train", "RandAugment", {"num_ops": 0},
         [(2, 4, 4, 3)], formats=_K3, input_kind="image", training=True),
    case("aug_mix_gen", "AugMix", {"num_chains": 2, "chain_depth": 4, "factor": 0.5,
                                   "alpha": 0.5, "all_ops": False}, [(2, 4, 4, 3)],
         formats=_K3, input_kind="image"),
    case("clahe_gen", "ContrastLimitedAdaptiveHistogramEqualization",
         {"tile_grid_size": [2, 3]}, [(2, 7, 8, 3)], formats=_K3, input_kind="image",
         training=True),
    case("clahe_gen_unit_no_clip", "ContrastLimitedAdaptiveHistogramEqualization",
         {"value_range": [0, 1], "clip_limit": 0.0, "tile_grid_size": [3, 2]},
         [(1, 6, 6, 2)], formats=_K3, training=True),
    case("clahe_gen_channels_first_single", "ContrastLimitedAdaptiveHistogramEqualization",
         {"data_format": "channels_first", "clip_limit": 2.0, "tile_grid_size": [2, 2]},
         [(2, 5, 7)], formats=_K3, input_kind="image", training=True),
    case("aug_mix_gen_no_ops_train", "AugMix", {"chain_depth": 0, "value_range": [0, 1]},
         [(2, 4, 4, 3)], formats=_K3, input_kind="uniform4", training=True),
]

# Keras 2's LocallyConnected1D/2D, every implementation (weights are random per layout)
for _impl in (1, 2, 3):
    _pads = ("valid",) if _impl == 1 else ("valid", "same")
    for _pad in _pads:
        CASES += [
            case(f"locally_connected1d_gen_impl{_impl}_{_pad}", "LocallyConnected1D",
                 {"filters": 3, "kernel_size": 3, "strides": 2, "padding": _pad,
                  "activation": "relu", "implementation": _impl}, [(2, 7, 2)], formats=_K2),
            case(f"locally_connected1d_gen_impl{_impl}_{_pad}_cf", "LocallyConnected1D",
                 {"filters": 2, "kernel_size": 2, "padding": _pad,
                  "data_format": "channels_first", "implementation": _impl}, [(2, 3, 5)],
                 formats=_K2),
            case(f"locally_connected2d_gen_impl{_impl}_{_pad}", "LocallyConnected2D",
                 {"filters": 3, "kernel_size": [2, 3], "strides": [1, 2], "padding": _pad,
                  "implementation": _impl}, [(2, 4, 5, 2)], formats=_K2),
            case(f"locally_connected2d_gen_impl{_impl}_{_pad}_cf", "LocallyConnected2D",
                 {"filters": 2, "kernel_size": 3, "strides": 2, "padding": _pad,
                  "data_format": "channels_first", "use_bias": _impl != 2,
                  "implementation": _impl}, [(2, 3, 5, 6)], formats=_K2),
        ]


# -- transformations with chosen parameters --------------------------------------------
# Keras's random draws cannot be reproduced, so these references call Keras 3's
# ``transform_images`` with hand-picked parameters; tests/engine/test_augmentation.py feeds
# the same parameters to the engine through a stub generator.
# Run: $ORACLE_PYTHON -m tests.oracle_gen.augmentation


def write_transform_refs() -> None:
    import keras
    import numpy as np

    from tests.oracle_gen.common import OUT

    rng = np.random.default_rng(7)
    img = rng.uniform(0, 255, (2, 5, 6, 3)).astype("float32")
    out: dict[str, np.ndarray] = {"images": img}
    L = keras.layers
    shear = np.array([[0.3, -0.2], [-0.25, 0.1]], "float32")
    for mode, interp in (("reflect", "bilinear"), ("constant", "nearest")):
        layer = L.RandomShear(x_factor=0.3, y_factor=0.3, fill_mode=mode,
                              interpolation=interp, fill_value=7.0)
        y = layer.transform_images(img, {"shear_factor": shear, "input_shape": img.shape})
        out[f"shear_{mode}_{interp}"] = np.asarray(y)
    out["shear_factor"] = shear
    start = np.array([[0, 0], [5, 0], [0, 4], [5, 4]], "float32")[None].repeat(2, 0)
    u = rng.uniform(-0.3, 0.3, (2, 4, 2)).astype("float32")
    end = start + start * u
    for interp in ("bilinear", "nearest"):
        layer = L.RandomPerspective(interpolation=interp, fill_value=2.0)
        y = layer.transform_images(img, {"apply_perspective": np.array([True, False]),
                                         "start_points": start, "end_points": end,
                                         "input_shape": img.shape})
        out[f"perspective_{interp}"] = np.asarray(y)
    out["perspective_u"] = u
    hue = np.array([0.13, -0.4], "float32")
    out["hue_factor"] = hue
    out["hue"] = np.asarray(L.RandomHue(0.5).transform_images(img, {"factor": hue}))
    sat = np.array([0.3, 2.5], "float32")
    out["saturation_factor"] = sat
    out["saturation"] = np.asarray(L.RandomSaturation(0.5).transform_images(
        img, {"factor": sat}))
    perm = np.array([1, 0])
    w = np.array([0.3, 0.8], "float32")
    out["mix_up"] = np.asarray(L.MixUp().transform_images(
        img, {"mix_weight": w, "permutation_order": perm}))
    out["mix_weight"] = w
    labels = np.array([[1, 0, 0], [0, 0.5, 0.5]], "float32")
    out["labels"] = labels
    out["mix_up_labels"] = np.asarray(L.MixUp().transform_labels(
        labels, {"mix_weight": w, "permutation_order": perm}))
    cut = L.CutMix()
    ratio = np.array([0.5, 0.4], "float32")  # box sides: ratio * (W, H)
    sx, sy = ratio * np.float32(6), ratio * np.float32(5)
    x0 = np.array([0.5, 0.0], "float32") * (np.float32(6) - sx)
    y0 = np.array([0.0, 1.0], "float32") * (np.float32(5) - sy)
    out["cut_mix_ratio"] = ratio
    masks, keep = cut._generate_batch_mask(img.shape, (x0, x0 + sx, y0, y0 + sy))
    out["cut_mix"] = np.asarray(cut.transform_images(
        img, {"permutation_order": perm, "batch_masks": masks, "mix_weight": keep}))
    out["cut_mix_labels"] = np.asarray(cut.transform_labels(
        labels, {"permutation_order": perm, "mix_weight": keep}))
    blur = L.RandomGaussianBlur(kernel_size=[3, 5])
    sigma = np.array([0.5, 1.2], "float32")
    out["blur_sigma"] = sigma
    out["blur_3x5"] = np.asarray(blur.transform_images(
        img, {"should_apply_blur": np.array([True, True]), "blur_factor": sigma}))
    plane = img[0, :, :, 0]
    ys = rng.uniform(-4, 9, (5, 6)).astype("float32")
    xs = rng.uniform(-4, 10, (5, 6)).astype("float32")
    out["map_ys"], out["map_xs"] = ys, xs
    for mode in ("constant", "nearest", "wrap", "reflect"):  # mirror: Keras fails (gather)
        for order in (0, 1):
            out[f"map_{mode}_{order}"] = np.asarray(keras.ops.image.map_coordinates(
                plane, [ys, xs], order, fill_mode=mode, fill_value=3.0))
    # RandAugment / AugMix at factor 0 (every operation deterministic): one output per op
    ra = L.RandAugment(factor=[0.0, 0.0], num_ops=1)
    names = ra._AUGMENT_LAYERS
    trans = {n: getattr(ra, n).get_random_transformation(img, training=True)
             for n in names}
    for i in range(len(names)):
        out[f"rand_augment_op{i}"] = np.asarray(ra.transform_images(
            img, {"transforms": trans, "layer_idxes": np.array([i])}))
    am = L.AugMix(factor=[0.0, 0.0], num_chains=3, chain_depth=2, alpha=0.7)
    chains = [["equalization", "random_sharpness"], ["solarization"],
              ["auto_contrast", "random_posterization"]]
    chain_transforms = [[{"layer_name": n, "transformation": getattr(am, n)
                          .get_random_transformation(img, training=True)} for n in chain]
                        for chain in chains]
    mix = np.array([0.2, 0.5, 0.3], "float32")
    out["aug_mix_weights"] = mix
    out["aug_mix"] = np.asarray(am.transform_images(
        img, {"chain_mixing_weights": mix, "weight_sample": np.float32(0.35),
              "chain_transforms": chain_transforms}))
    np.savez_compressed(OUT / "augmentation_transforms.npz", **out)
    print("wrote", OUT / "augmentation_transforms.npz")


if __name__ == "__main__":
    write_transform_refs()
