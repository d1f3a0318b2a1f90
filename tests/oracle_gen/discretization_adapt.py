"""Keras 3's ``Discretization(num_bins, epsilon).adapt(data).bin_boundaries``, recorded for
tests/engine/test_norm_merge_preproc.py. Not a layer family (``CASES`` is empty); run it on
its own where Keras is installed:

    $ORACLE_PYTHON -m tests.oracle_gen.discretization_adapt

Writes tests/data/keras/generated/discretization_adapt.json: the data's seed and rounding,
and per case num_bins, epsilon, whether the data is adapted in two batches, and Keras's
boundaries.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from tests.oracle_gen.activations_table import OUT

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CASES: list = []
SEED, SHAPE, DECIMALS = 5, (40, 3), 3
#: (num_bins, epsilon, batched)
SETTINGS = [(4, 0.01, False), (3, 0.2, False), (5, 0.01, False), (4, 0.01, True),
            (2, 0.01, False), (8, 0.05, False)]


def data() -> np.ndarray:
    return np.round(np.random.default_rng(SEED).standard_normal(SHAPE), DECIMALS).astype(
        "float32")


def main(argv: list[str]) -> int:
    import keras
    import tensorflow as tf

    x = data()
    cases = []
    for num_bins, eps, batched in SETTINGS:
        layer = keras.layers.Discretization(num_bins=num_bins, epsilon=eps)
        if batched:
            layer.adapt(tf.data.Dataset.from_tensor_slices(x).batch(25))
        else:
            layer.adapt(x)
        cases.append({"num_bins": num_bins, "epsilon": eps, "batched": batched,
                      "bin_boundaries": [float(b) for b in layer.bin_boundaries]})
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "discretization_adapt.json"
    path.write_text(json.dumps({"keras_version": keras.__version__, "seed": SEED,
                                "shape": list(SHAPE), "decimals": DECIMALS,
                                "batch": 25, "cases": cases}, indent=1))
    print("written", path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
