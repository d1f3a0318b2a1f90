"""Oracle cases for the activation layers."""

from tests.oracle_gen.common import case

CASES = [
    case("activation_layer_tanh", "Activation", {"activation": "tanh"}, [(2, 3, 4)]),
    case("activation_layer_gelu", "Activation", {"activation": "gelu"}, [(3, 5)]),
    case("relu_max_slope_threshold", "ReLU",
         {"max_value": 2.5, "negative_slope": 0.1, "threshold": 0.5}, [(3, 8)],
         input_kind="uniform4"),
    case("relu_int_max_value", "ReLU", {"max_value": 1}, [(3, 8)], input_kind="uniform4"),
    case("leaky_relu_default", "LeakyReLU", {}, [(3, 8)]),
    case("leaky_relu_slope_0.1", "LeakyReLU", {"negative_slope": 0.1}, [(3, 8)],
         k2_config={"alpha": 0.1}),
    case("prelu_shared_axes_12", "PReLU", {"shared_axes": [1, 2]}, [(2, 3, 4, 5)]),
    case("prelu_shared_axis_int", "PReLU", {"shared_axes": 1}, [(2, 3, 4)]),
    case("prelu_options", "PReLU",
         {"alpha_initializer": {"class_name": "Constant", "config": {"value": 0.25}},
          "alpha_regularizer": {"class_name": "L2", "config": {"l2": 0.01}},
          "alpha_constraint": {"class_name": "NonNeg", "config": {}}}, [(2, 5)]),
    case("elu_default", "ELU", {}, [(3, 8)]),
    case("elu_alpha_2", "ELU", {"alpha": 2.0}, [(2, 3, 4)]),
    case("softmax_default", "Softmax", {}, [(2, 3, 5)]),
    case("softmax_axis_list", "Softmax", {"axis": [1, 2]}, [(2, 3, 4)]),
    case("softmax_axis_single_list", "Softmax", {"axis": [1]}, [(2, 3, 4)]),
    case("softmax_mask", "Softmax", {}, [(2, 3, 5)], mask=(2, 3, 5)),
]

CASES += [
    # Keras 2 only
    case("thresholded_relu_0.5", "ThresholdedReLU", {"theta": 0.5}, [(3, 8)], formats=("k2",)),
]
