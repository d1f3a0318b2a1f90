"""Speed of the Keras 3 augmentation layers added with issue 3's second set and of Keras
2's LocallyConnected2D, against real Keras in the same run.

Run: ``$ORACLE_PYTHON tests/bench/bench_augmentation.py``. Augmentation
layers are timed in training mode with single-value ranges (deterministic in Keras, so
the outputs are checked to agree); LocallyConnected2D against tf_keras with the same
weights. Engine and Keras calls alternate; medians in ms and the ratio engine / Keras.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from _timing import compare  # noqa: E402

import engine  # noqa: E402

IMAGES = (8, 64, 64, 3)
AUGMENT = [
    ("Equalization", {}),
    ("ContrastLimitedAdaptiveHistogramEqualization", {}),
    ("RandomGaussianBlur", {"factor": [1.0, 1.0], "sigma": [0.7, 0.7], "kernel_size": 5}),
    ("RandomHue", {"factor": [1.0, 1.0]}),
    ("RandomSaturation", {"factor": [0.7, 0.7]}),
    ("RandomErasing", {"factor": [1.0, 1.0], "scale": [1.0, 1.0], "fill_value": 3.0}),
    ("RandomPerspective", {"factor": [1.0, 1.0], "scale": 0.0}),
    ("RandomShear", {"x_factor": [0.0, 0.0]}),
]
LOCAL = [({"filters": 16, "kernel_size": 3, "implementation": i}, (8, 32, 32, 8))
         for i in (1, 2, 3)]


def _row(label: str, ms: float, kms: float | None) -> None:
    ratio = f"{ms / kms:7.2f}" if kms else "      -"
    kcol = f"{kms:10.3f}" if kms else "         -"
    print(f"{label:64s} {ms:10.3f} {kcol} {ratio}")


def main() -> None:
    try:
        import keras
        import tf_keras
    except ImportError:
        keras = tf_keras = None
    rng = np.random.default_rng(0)
    print(f"{'case':64s} {'engine ms':>10s} {'keras ms':>10s} {'ratio':>7s}")
    x = rng.uniform(0, 255, IMAGES).astype("float32")
    for name, cfg in AUGMENT:
        spec = {"module": "keras.layers", "class_name": name, "config": cfg}
        ours = engine.deserialize(spec)
        theirs_fn = None
        if keras is not None:
            theirs = keras.layers.deserialize(spec)
            np.testing.assert_allclose(ours(x, training=True),
                                       np.asarray(theirs(x, training=True)), atol=2e-3,
                                       rtol=1e-4)

            def theirs_fn(layer=theirs):
                np.asarray(layer(x, training=True))

        ms, kms = compare(lambda layer=ours: layer(x, training=True), theirs_fn, 10)
        _row(f"{name} train {IMAGES}", ms, kms)
    for cfg, shape in LOCAL:
        xi = rng.standard_normal(shape).astype("float32")
        spec = {"class_name": "LocallyConnected2D", "config": cfg}
        ours = engine.deserialize(spec)
        ours(xi)
        ws = [rng.standard_normal(w.shape).astype("float32") * 0.1 for w in ours.weights]
        ours.set_weights(ws)
        theirs_fn = None
        if tf_keras is not None:
            theirs = tf_keras.layers.deserialize(spec, use_legacy_format=True)
            theirs(xi)
            theirs.set_weights(ws)
            np.testing.assert_allclose(ours(xi), np.asarray(theirs(xi)), atol=1e-4,
                                       rtol=1e-4)

            def theirs_fn(layer=theirs, xi=xi):
                np.asarray(layer(xi))

        ms, kms = compare(lambda layer=ours, xi=xi: layer(xi), theirs_fn, 10)
        _row(f"LocallyConnected2D(16, 3, impl={cfg['implementation']}) {shape}", ms, kms)


if __name__ == "__main__":
    main()
