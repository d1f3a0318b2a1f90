"""Normalization / resizing speed; the issue's case is BatchNormalization inference on
(256, 1024) float32, no slower than real Keras 3 (TensorFlow backend).

Run: ``$ORACLE_PYTHON tests/bench/bench_norm.py`` (Keras is measured in the
same run when ``import keras`` works; otherwise only the engine numbers are printed). The
engine and Keras calls alternate, so both see the same machine load; medians in ms and the
ratio engine / Keras are printed, and the outputs are checked to agree.
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

CASES = [
    ("BatchNormalization", {}, (256, 1024), 200),
    ("BatchNormalization", {}, (8, 32, 32, 64), 50),
    ("LayerNormalization", {}, (256, 1024), 100),
    ("GroupNormalization", {"groups": 8}, (8, 32, 32, 64), 30),
    ("Resizing", {"height": 64, "width": 64, "interpolation": "bilinear"}, (8, 32, 32, 3),
     30),
    ("UpSampling2D", {"size": 2, "interpolation": "bilinear"}, (8, 32, 32, 16), 30),
]


def main() -> None:
    try:
        import keras  # noqa: F401
    except ImportError:
        keras = None
    rng = np.random.default_rng(0)
    print(f"{'case':52s} {'engine ms':>10s} {'keras ms':>10s} {'ratio':>7s}")
    for name, cfg, shape, repeat in CASES:
        x = rng.standard_normal(shape).astype("float32")
        ours = engine.deserialize({"module": "keras.layers", "class_name": name,
                                   "config": cfg})
        ours(x)
        if ours.weights:
            ws = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in ours.weights]
            ours.set_weights(ws)
        theirs_fn = None
        if keras is not None:
            theirs = keras.layers.deserialize({"module": "keras.layers", "class_name": name,
                                               "config": cfg})
            theirs(x)
            if ours.weights:
                theirs.set_weights(ws)
            np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), atol=1e-4, rtol=1e-4)

            def theirs_fn(layer=theirs, x=x):
                np.asarray(layer(x))  # eager call, result brought back as NumPy

        def ours_fn(layer=ours, x=x):
            layer(x)

        ms, kms = compare(ours_fn, theirs_fn, repeat)
        label = f"{name}({', '.join(f'{k}={v}' for k, v in cfg.items())}) {shape}"
        ratio = f"{ms / kms:7.2f}" if kms else "      -"
        kcol = f"{kms:10.3f}" if kms else "         -"
        print(f"{label:52s} {ms:10.3f} {kcol} {ratio}")


if __name__ == "__main__":
    main()
