"""Oracle cases for Resizing, CenterCrop and UpSampling (every interpolation)."""

from tests.oracle_gen.common import case

_K3 = ("k3",)


def _resize(name, h, w, interp, shape, **extra):
    cfg = {"height": h, "width": w, "interpolation": interp, **extra}
    k3_only = any(k in extra for k in ("pad_to_aspect_ratio", "antialias", "data_format",
                                       "fill_value"))
    return case(name, "Resizing", cfg, [shape], formats=_K3 if k3_only else ("k3", "k2"))


CASES = [
    _resize("resizing_gen_nearest_down", 5, 4, "nearest", (2, 8, 7, 2)),
    _resize("resizing_gen_nearest_up", 7, 9, "nearest", (2, 3, 4, 1)),
    _resize("resizing_gen_bilinear_up", 7, 5, "bilinear", (2, 3, 4, 2)),
    _resize("resizing_gen_bicubic_down", 3, 4, "bicubic", (2, 7, 9, 1)),
    _resize("resizing_gen_area_down", 3, 4, "area", (2, 7, 9, 2)),
    _resize("resizing_gen_area_up", 5, 7, "area", (1, 3, 4, 1)),
    _resize("resizing_gen_lanczos3_up", 7, 6, "lanczos3", (2, 4, 5, 1)),
    _resize("resizing_gen_lanczos3_down", 3, 3, "lanczos3", (2, 8, 7, 1)),
    _resize("resizing_gen_lanczos5_up", 9, 8, "lanczos5", (1, 4, 5, 2)),
    _resize("resizing_gen_crop_aspect_nearest", 3, 6, "nearest", (2, 6, 5, 1),
            crop_to_aspect_ratio=True),
    _resize("resizing_gen_single_image", 4, 3, "bilinear", (5, 6, 2)),
    _resize("resizing_gen_pad_aspect", 4, 4, "bilinear", (2, 3, 6, 1),
            pad_to_aspect_ratio=True, fill_value=0.5),
    _resize("resizing_gen_antialias_down", 3, 4, "bilinear", (1, 9, 8, 1), antialias=True),
    _resize("resizing_gen_antialias_bicubic_down", 3, 3, "bicubic", (1, 8, 8, 1),
            antialias=True),
    _resize("resizing_gen_channels_first", 3, 5, "bilinear", (2, 2, 6, 4),
            data_format="channels_first"),
    case("center_crop_gen_odd", "CenterCrop", {"height": 3, "width": 2}, [(2, 6, 5, 2)]),
    case("center_crop_gen_single_image", "CenterCrop", {"height": 2, "width": 2},
         [(4, 4, 3)]),
    case("center_crop_gen_channels_first", "CenterCrop",
         {"height": 2, "width": 3, "data_format": "channels_first"}, [(2, 2, 4, 5)],
         formats=_K3),
    case("center_crop_gen_mixed_upscale", "CenterCrop", {"height": 6, "width": 3},
         [(1, 4, 5, 1)]),
    case("upsampling1d_gen_size2", "UpSampling1D", {}, [(2, 3, 2)]),
    case("upsampling2d_gen_bilinear_23", "UpSampling2D",
         {"size": [2, 3], "interpolation": "bilinear"}, [(2, 2, 3, 2)]),
    case("upsampling2d_gen_bicubic", "UpSampling2D", {"size": 2, "interpolation": "bicubic"},
         [(1, 3, 3, 1)]),
    case("upsampling2d_gen_area", "UpSampling2D", {"size": [3, 2], "interpolation": "area"},
         [(1, 2, 3, 1)]),
    case("upsampling2d_gen_lanczos3", "UpSampling2D",
         {"size": 2, "interpolation": "lanczos3"}, [(1, 3, 4, 1)]),
    case("upsampling2d_gen_cf_nearest", "UpSampling2D",
         {"size": [1, 2], "data_format": "channels_first"}, [(2, 2, 3, 2)]),
    case("upsampling2d_gen_cf_bilinear", "UpSampling2D",
         {"size": 2, "data_format": "channels_first", "interpolation": "bilinear"},
         [(1, 2, 2, 3)]),
    case("upsampling3d_gen_cf", "UpSampling3D", {"size": [1, 2, 3],
                                                 "data_format": "channels_first"},
         [(1, 2, 2, 2, 2)]),
    case("upsampling2d_gen_gaussian_k2", "UpSampling2D",
         {"size": 2, "interpolation": "gaussian"}, [(1, 3, 4, 1)], formats=("k2",)),
    case("upsampling2d_gen_mitchellcubic_k2", "UpSampling2D",
         {"size": [3, 2], "interpolation": "mitchellcubic"}, [(1, 3, 3, 2)], formats=("k2",)),
    case("upsampling2d_gen_lanczos5", "UpSampling2D",
         {"size": 2, "interpolation": "lanczos5"}, [(1, 3, 4, 1)], formats=_K3),
    case("resizing_gen_int_image", "Resizing", {"height": 3, "width": 5}, [(2, 4, 4, 1)],
         input_kind="int:255", formats=_K3, note="integer images come back rounded ints"),
]
