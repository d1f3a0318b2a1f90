"""Oracle cases for the merge layers (broadcasting, axes, normalize)."""

from tests.oracle_gen.common import case

CASES = [
    case("add_gen_rank_broadcast", "Add", {}, [(2, 4), (2, 3, 4)], call="list"),
    case("add_gen_size1_broadcast", "Add", {}, [(2, 1, 4), (2, 3, 4), (2, 3, 1)],
         call="list"),
    case("subtract_gen_broadcast", "Subtract", {}, [(2, 3, 4), (2, 1, 4)], call="list"),
    case("multiply_gen_rank_broadcast", "Multiply", {}, [(2, 3, 4), (2, 4)], call="list"),
    case("average_gen_3", "Average", {}, [(2, 3), (2, 3), (2, 3)], call="list"),
    case("maximum_gen_broadcast", "Maximum", {}, [(2, 3, 4), (2, 1, 4)], call="list"),
    case("minimum_gen_3", "Minimum", {}, [(2, 5), (2, 5), (2, 5)], call="list"),
    case("concatenate_gen_last", "Concatenate", {}, [(2, 3), (2, 4), (2, 1)], call="list"),
    case("concatenate_gen_axis2_4d", "Concatenate", {"axis": 2},
         [(2, 3, 2, 4), (2, 3, 1, 4)], call="list"),
    case("concatenate_gen_axis_neg2", "Concatenate", {"axis": -2}, [(2, 2, 3), (2, 4, 3)],
         call="list"),
    case("dot_gen_2d", "Dot", {"axes": -1}, [(3, 4), (3, 4)], call="list"),
    case("dot_gen_2d_normalize", "Dot", {"axes": 1, "normalize": True}, [(3, 4), (3, 4)],
         call="list"),
    case("dot_gen_3d_axes2", "Dot", {"axes": 2}, [(2, 3, 4), (2, 5, 4)], call="list"),
    case("dot_gen_3d_2d", "Dot", {"axes": [2, 1]}, [(2, 3, 4), (2, 4)], call="list"),
    case("dot_gen_4d_3d", "Dot", {"axes": [1, 1]}, [(2, 3, 4, 5), (2, 3, 6)], call="list"),
    case("dot_gen_neg_axes_normalize", "Dot", {"axes": [-2, -1], "normalize": True},
         [(2, 4, 3), (2, 5, 4)], call="list"),
]
