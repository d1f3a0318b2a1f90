"""Keras's outputs for NaN and +-inf inputs: every activation function, and the layers built
on them (ReLU with its options, LeakyReLU, ELU, Softmax, Activation). Not a layer family
(``CASES`` is empty); run it on its own where Keras is installed:

    $ORACLE_PYTHON -m tests.oracle_gen.activations_nonfinite

It writes tests/data/keras/generated/nonfinite_k3.npz and nonfinite_k2.npz with ``x`` (a
(4, 8) float32 input: NaN, +inf, -inf beside finite values, one row all finite, one row
with a single NaN, for the softmax family's rows), ``act_<name>``, ``layer_<key>``, and a
``meta`` JSON string (versions, names, the layers' configs).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tests.oracle_gen.activations_table import K2_ACTIVATIONS, K3_ACTIVATIONS, OUT

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

CASES: list = []

#: key -> (class name, config)
LAYERS: dict[str, tuple[str, dict[str, Any]]] = {
    "relu": ("ReLU", {}),
    "relu_max6": ("ReLU", {"max_value": 6.0}),
    "relu_slope_threshold": ("ReLU", {"negative_slope": 0.1, "threshold": 0.5}),
    "leaky_relu": ("LeakyReLU", {}),
    "elu": ("ELU", {}),
    "softmax": ("Softmax", {}),
    "activation_tanh": ("Activation", {"activation": "tanh"}),
    "activation_relu": ("Activation", {"activation": "relu"}),
}


def nonfinite_input() -> np.ndarray:
    nan, inf = np.nan, np.inf
    return np.array([
        [nan, inf, -inf, 0.0, 1.5, -1.5, 3.0, -0.5],
        [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8],
        [1.0, 2.0, nan, 0.5, -1.0, 0.0, 0.25, -3.0],
        [inf, 1.0, 0.0, -1.0, -inf, 2.0, 0.5, 4.0],
    ], dtype=np.float32)


def run(fmt: str) -> Path:
    if fmt == "k3":
        import keras

        acts, layers, names = keras.activations, keras.layers, K3_ACTIVATIONS
        version = keras.__version__
        tensor = keras.ops.convert_to_tensor
    else:
        import tensorflow as tf
        import tf_keras

        acts, layers, names = tf_keras.activations, tf_keras.layers, K2_ACTIVATIONS
        version = tf_keras.__version__
        tensor = tf.constant
    x = nonfinite_input()
    arrays: dict[str, np.ndarray] = {"x": x}
    meta: dict[str, Any] = {"format": fmt, "keras_version": version, "activations": [],
                            "layers": {}}
    for name in names:
        out = acts.get(name)(tensor(x))
        arrays[f"act_{name}"] = np.asarray(out).astype(np.float32)
        meta["activations"].append(name)
    for key, (cls, cfg) in LAYERS.items():
        layer = getattr(layers, cls)(**cfg)
        arrays[f"layer_{key}"] = np.asarray(layer(tensor(x))).astype(np.float32)
        meta["layers"][key] = {"class_name": cls, "config": json.loads(json.dumps(
            layer.get_config(), default=lambda o: o.item() if hasattr(o, "item") else str(o)))}
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"nonfinite_{fmt}.npz"
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)
    return path


def main(argv: list[str]) -> int:
    for fmt in argv or ["k3", "k2"]:
        print("written", run(fmt))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
