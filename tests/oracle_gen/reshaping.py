"""Oracle cases for the reshaping layers (UpSampling lives in resizing.py)."""

from tests.oracle_gen.common import case

CASES = [
    case("flatten_channels_first", "Flatten", {"data_format": "channels_first"},
         [(2, 3, 4, 5)]),
    case("flatten_2d", "Flatten", {}, [(3, 4)]),
    case("reshape_minus1", "Reshape", {"target_shape": [-1, 2]}, [(2, 3, 4)]),
    case("reshape_to_3d", "Reshape", {"target_shape": [2, 3, 2]}, [(2, 12)]),
    case("permute_312", "Permute", {"dims": [3, 1, 2]}, [(2, 3, 4, 5)]),
    case("repeat_vector_4", "RepeatVector", {"n": 4}, [(2, 3)]),
    case("cropping1d_asym", "Cropping1D", {"cropping": [1, 2]}, [(2, 6, 3)]),
    case("cropping1d_int", "Cropping1D", {"cropping": 2}, [(2, 6, 3)]),
    case("cropping2d_int", "Cropping2D", {"cropping": 1}, [(2, 5, 6, 3)]),
    case("cropping2d_pair", "Cropping2D", {"cropping": [1, 2]}, [(2, 5, 6, 3)]),
    case("cropping2d_pairs_cf", "Cropping2D",
         {"cropping": [[1, 0], [0, 2]], "data_format": "channels_first"}, [(2, 3, 6, 7)]),
    case("cropping3d_pairs_cf", "Cropping3D",
         {"cropping": [[1, 0], [0, 1], [1, 1]], "data_format": "channels_first"},
         [(2, 2, 4, 4, 5)]),
    case("cropping3d_int", "Cropping3D", {"cropping": 1}, [(2, 4, 4, 3, 2)]),
    case("zeropadding1d_asym", "ZeroPadding1D", {"padding": [1, 2]}, [(2, 4, 3)]),
    case("zeropadding1d_cf", "ZeroPadding1D", {"padding": 2, "data_format": "channels_first"},
         [(2, 3, 4)], formats=("k3",)),
    case("zeropadding2d_int", "ZeroPadding2D", {"padding": 2}, [(2, 3, 3, 2)]),
    case("zeropadding2d_pair", "ZeroPadding2D", {"padding": [1, 2]}, [(2, 3, 3, 2)]),
    case("zeropadding2d_pairs_cf", "ZeroPadding2D",
         {"padding": [[1, 0], [2, 1]], "data_format": "channels_first"}, [(2, 2, 3, 3)]),
    case("zeropadding3d_pairs", "ZeroPadding3D", {"padding": [[1, 0], [0, 1], [1, 2]]},
         [(2, 2, 3, 2, 2)]),
    case("zeropadding3d_int_cf", "ZeroPadding3D", {"padding": 1, "data_format": "channels_first"},
         [(2, 2, 2, 3, 2)]),
]
