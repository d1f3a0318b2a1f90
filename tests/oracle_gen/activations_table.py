"""Keras's own outputs for every activation, regularizer and constraint, as tables.

Not a layer family (``CASES`` is empty, so ``python -m tests.oracle_gen`` skips it); run it
on its own where Keras is installed:

    $ORACLE_PYTHON -m tests.oracle_gen.activations_table

It writes tests/data/keras/generated/activations_k3.npz and activations_k2.npz with

* ``x``: the fixed float32 input (a (6, 16) grid that includes the kinks at 0, +-0.5, +-1),
* ``act_<name>``: Keras's ``activations.get(name)(x)``,
* ``w2`` (5, 4), ``w3`` (3, 4, 2): weights for the regularizers and constraints,
* ``reg_<key>`` / ``con_<key>``: Keras's penalty / projected weights,
* ``meta``: a JSON string with versions, the activation names, ``serialize(get(name))`` for
  each, and every regularizer's / constraint's ``get_config()`` and class name.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

CASES: list = []  # no layer cases: this module writes tables (see main())

OUT = Path(__file__).resolve().parent.parent / "data" / "keras" / "generated"

K3_ACTIVATIONS = [
    "linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "softplus", "softsign",
    "exponential", "elu", "selu", "gelu", "silu", "swish", "mish", "relu6", "leaky_relu",
    "hard_sigmoid", "hard_silu", "hard_swish", "celu", "glu", "hard_tanh", "hard_shrink",
    "soft_shrink", "tanh_shrink", "log_sigmoid", "sparse_plus", "sparse_sigmoid",
    "squareplus", "sparsemax",
]
K2_ACTIVATIONS = [
    "elu", "exponential", "gelu", "hard_sigmoid", "linear", "mish", "relu", "selu", "sigmoid",
    "softmax", "softplus", "softsign", "swish", "tanh", "leaky_relu", "relu6", "log_softmax",
    "silu",
]

#: key -> (class name, config); the same table is used for both formats
REGULARIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "l1_default": ("L1", {}),
    "l1_0.3": ("L1", {"l1": 0.3}),
    "l2_default": ("L2", {}),
    "l2_1e-4": ("L2", {"l2": 1e-4}),
    "l2_0.7": ("L2", {"l2": 0.7}),
    "l1l2_default": ("L1L2", {}),
    "l1l2_0.01_0.02": ("L1L2", {"l1": 0.01, "l2": 0.02}),
    "orth_default": ("OrthogonalRegularizer", {}),
    "orth_rows_0.1": ("OrthogonalRegularizer", {"factor": 0.1, "mode": "rows"}),
    "orth_columns_0.3": ("OrthogonalRegularizer", {"factor": 0.3, "mode": "columns"}),
}
#: key -> (class name, config, weight key)
CONSTRAINTS: dict[str, tuple[str, dict[str, Any], str]] = {
    "maxnorm_default": ("MaxNorm", {}, "w2"),
    "maxnorm_0.5_axis1": ("MaxNorm", {"max_value": 0.5, "axis": 1}, "w2"),
    "maxnorm_1_axes01": ("MaxNorm", {"max_value": 1.0, "axis": [0, 1]}, "w3"),
    "nonneg": ("NonNeg", {}, "w2"),
    "unitnorm_default": ("UnitNorm", {}, "w2"),
    "unitnorm_axis1": ("UnitNorm", {"axis": 1}, "w2"),
    "unitnorm_axis_last_3d": ("UnitNorm", {"axis": -1}, "w3"),
    "minmaxnorm_default": ("MinMaxNorm", {}, "w2"),
    "minmaxnorm_0.8_1.2_rate0.6": ("MinMaxNorm", {"min_value": 0.8, "max_value": 1.2,
                                                  "rate": 0.6, "axis": 0}, "w2"),
    "minmaxnorm_axis1": ("MinMaxNorm", {"min_value": 0.3, "max_value": 0.6, "axis": 1}, "w2"),
}
#: string identifiers: Keras's get(name) -> class and config
REGULARIZER_STRINGS = ["l1", "l2", "l1l2", "l1_l2", "L1", "L2", "L1L2",
                       "orthogonal_regularizer", "OrthogonalRegularizer"]
CONSTRAINT_STRINGS = ["max_norm", "MaxNorm", "maxnorm", "non_neg", "NonNeg", "nonneg",
                      "unit_norm", "UnitNorm", "unitnorm", "min_max_norm", "MinMaxNorm"]


def fixed_input() -> np.ndarray:
    rng = np.random.default_rng(20261123)
    kinks = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 6.0, -6.0, 3.0, -3.0, 0.25,
                      -0.25, 1e-4, -1e-4, 8.0], dtype=np.float32)
    rand = rng.uniform(-5, 5, (5, 16)).astype(np.float32)
    return np.concatenate([kinks[None], rand], axis=0)


def fixed_weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {"w2": rng.normal(0, 0.8, (5, 4)).astype(np.float32),
            "w3": rng.normal(0, 0.8, (3, 4, 2)).astype(np.float32)}


def _np(x: Any) -> np.ndarray:
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def _json(x: Any) -> Any:
    return json.loads(json.dumps(x, default=lambda o: o.item() if hasattr(o, "item") else
                                 list(o) if isinstance(o, tuple) else str(o)))


def _try(fn):
    try:
        return {"ok": fn()}
    except Exception as e:  # record Keras's refusal too
        return {"error": f"{type(e).__name__}: {str(e)[:200]}"}


def run(fmt: str) -> Path:
    if fmt == "k3":
        import keras

        acts, regs, cons = keras.activations, keras.regularizers, keras.constraints
        version = keras.__version__
        names = K3_ACTIVATIONS
        tensor = keras.ops.convert_to_tensor

        def ser(obj):
            return keras.saving.serialize_keras_object(obj)
    else:
        import tensorflow as tf
        import tf_keras
        from tf_keras.src.saving.legacy import serialization as legacy

        acts, regs, cons = tf_keras.activations, tf_keras.regularizers, tf_keras.constraints
        version = tf_keras.__version__
        names = K2_ACTIVATIONS
        tensor = tf.constant

        def ser(obj):
            return legacy.serialize_keras_object(obj)

    x = fixed_input()
    ws = fixed_weights()
    arrays: dict[str, np.ndarray] = {"x": x, **ws}
    meta: dict[str, Any] = {"format": fmt, "keras_version": version, "activations": names,
                            "activation_serialize": {}, "regularizers": {}, "constraints": {},
                            "regularizer_strings": {}, "constraint_strings": {}}
    for name in names:
        fn = acts.get(name)
        arrays[f"act_{name}"] = _np(fn(tensor(x))).astype(np.float32)
        meta["activation_serialize"][name] = _json(acts.serialize(fn))
    for key, (cls, cfg) in REGULARIZERS.items():
        reg = getattr(regs, cls)(**cfg)
        arrays[f"reg_{key}"] = np.float64(_np(reg(tensor(ws["w2"]))))
        meta["regularizers"][key] = {"class_name": cls, "args": cfg,
                                     "config": _json(reg.get_config()),
                                     "serialized": _json(ser(reg))}
    for key, (cls, cfg, wkey) in CONSTRAINTS.items():
        con = getattr(cons, cls)(**cfg)
        arrays[f"con_{key}"] = _np(con(tensor(ws[wkey]))).astype(np.float32)
        meta["constraints"][key] = {"class_name": cls, "args": cfg, "weight": wkey,
                                    "config": _json(con.get_config()),
                                    "serialized": _json(ser(con))}
    for s in REGULARIZER_STRINGS:
        meta["regularizer_strings"][s] = _try(
            lambda s=s: [type(regs.get(s)).__name__, _json(regs.get(s).get_config())])
    for s in CONSTRAINT_STRINGS:
        meta["constraint_strings"][s] = _try(
            lambda s=s: [type(cons.get(s)).__name__, _json(cons.get(s).get_config())])
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"activations_{fmt}.npz"
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)
    return path


def main(argv: list[str]) -> int:
    for fmt in argv or ["k3", "k2"]:
        print("written", run(fmt))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
