"""Oracle cases for the regularization layers (inference identity; stored training outputs
only for deterministic ones)."""

from tests.oracle_gen.common import case

CASES = [
    case("dropout_noise_shape", "Dropout", {"rate": 0.3, "noise_shape": [None, 1, 4], "seed": 3},
         [(2, 3, 4)]),
    case("dropout_rate0_training", "Dropout", {"rate": 0.0}, [(2, 4)], training=True),
    case("spatial_dropout1d_seed", "SpatialDropout1D", {"rate": 0.2, "seed": 7}, [(2, 5, 3)]),
    case("spatial_dropout2d_cf", "SpatialDropout2D",
         {"rate": 0.3, "data_format": "channels_first"}, [(2, 3, 4, 4)]),
    case("spatial_dropout3d_cf", "SpatialDropout3D",
         {"rate": 0.4, "data_format": "channels_first", "seed": 2}, [(2, 2, 3, 3, 3)]),
    case("gaussian_noise_seed", "GaussianNoise", {"stddev": 0.5, "seed": 11}, [(3, 4)]),
    case("gaussian_dropout_seed", "GaussianDropout", {"rate": 0.2, "seed": 5}, [(3, 4)]),
    case("alpha_dropout_noise_shape", "AlphaDropout",
         {"rate": 0.25, "noise_shape": [None, 1], "seed": 4}, [(3, 4)]),
    case("activity_regularization_l1l2", "ActivityRegularization", {"l1": 0.01, "l2": 0.02},
         [(3, 4)], training=True),
]
