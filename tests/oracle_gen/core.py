"""Oracle cases for the core layers."""

from tests.oracle_gen.common import case

CASES = [
    case("dense_gen_linear_4d", "Dense", {"units": 5, "use_bias": True}, [(2, 3, 4, 6)]),
]
