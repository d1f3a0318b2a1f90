"""Oracle cases for the normalization layers (BatchNormalization with training outputs)."""

from tests.oracle_gen.common import case

_K3 = ("k3",)
_K2 = ("k2",)

CASES = [
    # BatchNormalization: inference on moving stats, y_training0 on batch stats
    case("bn_gen_2d_train", "BatchNormalization", {}, [(6, 5)], training=True),
    case("bn_gen_3d_axis1_train", "BatchNormalization", {"axis": 1, "momentum": 0.9,
                                                         "epsilon": 0.01},
         [(4, 3, 5)], training=True),
    case("bn_gen_4d_last_train", "BatchNormalization", {"axis": 3}, [(2, 3, 4, 5)],
         training=True),
    case("bn_gen_4d_cf_train", "BatchNormalization", {"axis": 1, "center": False},
         [(2, 3, 4, 4)], training=True),
    case("bn_gen_noscale_train", "BatchNormalization", {"scale": False}, [(5, 4)],
         training=True),
    case("bn_gen_5d_train", "BatchNormalization", {"axis": -1}, [(2, 2, 3, 2, 3)],
         training=True),
    case("bn_gen_frozen_train", "BatchNormalization", {"trainable": False}, [(6, 5)],
         training=True, formats=_K2,
         note="trainable=False: inference even with training=True (k3: Keras 3 reports every "
              "variable of a frozen layer as non-trainable, a base-layer matter)"),
    case("bn_gen_renorm_train", "BatchNormalization",
         {"renorm": True, "renorm_clipping": {"rmax": 1.5, "rmin": 0.5, "dmax": 0.3},
          "renorm_momentum": 0.9}, [(6, 4)], training=True, formats=_K3,
         note="tf_keras keeps renorm_clipping as a tracked DictWrapper (not JSON)"),
    case("bn_gen_reg_init", "BatchNormalization",
         {"gamma_regularizer": {"class_name": "L2", "config": {"l2": 0.01}},
          "beta_constraint": {"class_name": "NonNeg", "config": {}},
          "moving_variance_initializer": {"class_name": "Constant", "config": {"value": 2.0}}},
         [(3, 4)]),
    case("bn_gen_multi_axis_k2", "BatchNormalization", {"axis": [1, 2]}, [(3, 2, 4, 2)],
         formats=_K2, training=True, note="Keras 3 BatchNormalization takes one int axis"),
    # LayerNormalization
    case("ln_gen_axis1_of3", "LayerNormalization", {"axis": 1}, [(2, 4, 3)]),
    case("ln_gen_axes_neg", "LayerNormalization", {"axis": [-2, -1]}, [(2, 3, 4, 2)]),
    case("ln_gen_no_center", "LayerNormalization", {"center": False, "epsilon": 1e-5},
         [(3, 6)]),
    case("ln_gen_no_scale", "LayerNormalization", {"scale": False}, [(3, 6)]),
    case("ln_gen_plain", "LayerNormalization", {"scale": False, "center": False}, [(2, 3, 5)]),
    case("ln_gen_rms_scaling", "LayerNormalization", {"rms_scaling": True}, [(3, 6)],
         formats=_K3),
    # GroupNormalization
    case("gn_gen_groups2", "GroupNormalization", {"groups": 2}, [(2, 3, 3, 4)]),
    case("gn_gen_instance", "GroupNormalization", {"groups": -1}, [(2, 5, 3)]),
    case("gn_gen_one_group_nocenter", "GroupNormalization",
         {"groups": 1, "center": False, "epsilon": 1e-4}, [(2, 4, 6)]),
    case("gn_gen_axis1_noscale", "GroupNormalization", {"groups": 2, "axis": 1,
                                                        "scale": False}, [(2, 4, 3, 3)]),
    # UnitNormalization, RMSNormalization
    case("unitnorm_gen_last", "UnitNormalization", {}, [(3, 5)]),
    case("unitnorm_gen_axis1", "UnitNormalization", {"axis": 1}, [(2, 4, 3)]),
    case("rmsnorm_gen_default", "RMSNormalization", {}, [(2, 3, 6)], formats=_K3),
    case("rmsnorm_gen_axes", "RMSNormalization", {"axis": [1, 2], "epsilon": 1e-3},
         [(2, 3, 4)], formats=_K3),
    # SpectralNormalization (tf_keras 2.21 cannot build it: a recorded failure)
    case("spectral_gen_dense_train", "SpectralNormalization",
         {"layer": {"module": "keras.layers", "class_name": "Dense",
                    "config": {"units": 3}}}, [(4, 5)], formats=_K3, training=True),
    case("spectral_gen_conv_iter3_train", "SpectralNormalization",
         {"layer": {"module": "keras.layers", "class_name": "Conv2D",
                    "config": {"filters": 2, "kernel_size": 3}}, "power_iterations": 3},
         [(2, 5, 5, 3)], formats=_K3, training=True),
    case("spectral_gen_embedding", "SpectralNormalization",
         {"layer": {"module": "keras.layers", "class_name": "Embedding",
                    "config": {"input_dim": 10, "output_dim": 3}}}, [(2, 4)], formats=_K3,
         input_kind="int:10"),
    case("spectral_gen_dense_nobias", "SpectralNormalization",
         {"layer": {"module": "keras.layers", "class_name": "Dense",
                    "config": {"units": 2, "use_bias": False}}}, [(3, 4)], formats=_K3),
]
