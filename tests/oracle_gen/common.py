"""Write oracle cases from a real Keras, in the corpus format of tests/oracle.py.

Runs only where Keras is installed (``pip install -e ".[oracle]"``); the tests never need
it. A family module (tests/oracle_gen/<family>.py) lists its cases as
``CASES = [case("conv2d_valid", "Conv2D", {"filters": 4, "kernel_size": 3}, [(2, 8, 8, 3)]),
...]`` and ``python -m tests.oracle_gen`` (or ``python tests/oracle_gen/__main__.py``)
regenerates every case into tests/data/keras/generated/<fmt>/ for Keras 3 and, where the
layer exists there, tf_keras (Keras 2).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

OUT = Path(__file__).resolve().parent.parent / "data" / "keras" / "generated"
SEED = 1234


@dataclass
class Spec:
    name: str
    class_name: str
    config: dict[str, Any]
    inputs: list[tuple[int, ...]]
    call: str = "single"  # single | list | args
    call_kwargs: dict[str, Any] = field(default_factory=dict)
    mask: tuple[int, ...] | None = None  # shape of a random boolean mask (batch, time)
    input_kind: str = "normal"  # normal | uniform4 | image | int:<high>
    formats: tuple[str, ...] = ("k3", "k2")
    k2_config: dict[str, Any] | None = None  # when Keras 2 spells the config differently
    training: bool = False  # also store y_training0 (deterministic layers only)
    note: str = ""


def case(name: str, class_name: str, config: dict[str, Any], inputs, **kw: Any) -> Spec:
    return Spec(name, class_name, config, [tuple(s) for s in inputs], **kw)


def _inputs(spec: Spec, rng: np.random.Generator) -> list[np.ndarray]:
    out = []
    for shape in spec.inputs:
        if spec.input_kind == "uniform4":
            out.append(rng.uniform(-4, 4, shape).astype("float32"))
        elif spec.input_kind == "image":
            out.append(rng.uniform(0, 255, shape).astype("float32"))
        elif spec.input_kind.startswith("int:"):
            out.append(rng.integers(0, int(spec.input_kind[4:]), shape).astype("int32"))
        else:
            out.append(rng.standard_normal(shape).astype("float32"))
    return out


def _weights(layer: Any, rng: np.random.Generator) -> list[np.ndarray]:
    ws = []
    for w in layer.weights:
        shape = tuple(int(d) for d in w.shape)
        name = w.name if hasattr(w, "path") else w.name
        if "variance" in name:
            ws.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        else:
            ws.append((rng.standard_normal(shape) * 0.5).astype("float32"))
    return ws


def _call(layer: Any, xs: list[Any], spec: Spec, mask: Any, training: bool) -> list[np.ndarray]:
    kw = dict(spec.call_kwargs)
    if mask is not None:
        kw["mask"] = mask
    if spec.call == "list":
        out = layer(xs, training=training, **kw)
    elif spec.call == "args":
        if len(xs) == 3:
            out = layer(xs[0], xs[1], key=xs[2], training=training, **kw)
        else:
            out = layer(*xs, training=training, **kw)
    else:
        out = layer(xs[0], training=training, **kw)
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(o) for o in outs]


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=lambda o: o.item() if hasattr(o, "item") else
                                 list(o) if isinstance(o, tuple) else
                                 dict(o) if hasattr(o, "keys") else
                                 o.as_list() if hasattr(o, "as_list") else str(o)))


def _strip_k3_keys(x: Any) -> Any:
    """tf_keras 2.21 adds module/registered_name to nested dicts; the 2.9 form has none."""
    if isinstance(x, dict):
        return {k: _strip_k3_keys(v) for k, v in x.items()
                if k not in ("module", "registered_name", "build_config")}
    if isinstance(x, list):
        return [_strip_k3_keys(v) for v in x]
    return x


def generate(spec: Spec, fmt: str) -> Path | None:
    """Build the layer in real Keras, run it, write <fmt>_<name>.json/.npz; None if the
    Keras of that format has no such layer."""
    rng = np.random.default_rng(SEED)
    if fmt == "k3":
        import keras

        layers = keras.layers
        cfg = {"module": "keras.layers", "class_name": spec.class_name, "config": spec.config}
        layer = layers.deserialize(cfg)
        serialize = layers.serialize
        version = keras.__version__
    else:
        import tf_keras
        from tf_keras.src.saving.legacy import serialization as legacy

        layers = tf_keras.layers
        if not hasattr(layers, spec.class_name):
            return None
        cfg = {"class_name": spec.class_name, "config": spec.k2_config or spec.config}
        layer = layers.deserialize(cfg, use_legacy_format=True)
        serialize = legacy.serialize_keras_object
        version = tf_keras.__version__
    xs = _inputs(spec, rng)
    mask = None
    if spec.mask is not None:
        mask = rng.uniform(size=spec.mask) > 0.3
        mask[:, 0] = True
    _call(layer, xs, spec, mask, False)  # builds
    ws = _weights(layer, rng)
    if ws:
        layer.set_weights(ws)
    ys = _call(layer, xs, spec, mask, False)
    arrays = {f"x{i}": x for i, x in enumerate(xs)}
    arrays.update({f"w{i}": w for i, w in enumerate(ws)})
    arrays.update({f"y{i}": y for i, y in enumerate(ys)})
    if mask is not None:
        arrays["mask0"] = mask
    if spec.training:
        arrays["y_training0"] = _call(layer, xs, spec, mask, True)[0]
        if ws:
            layer.set_weights(ws)
    if hasattr(layer, "compute_mask") and spec.class_name in ("Masking", "Embedding"):
        m = layer.compute_mask(xs[0], None)
        if m is not None:
            arrays["mask_out"] = np.asarray(m)
    weights_meta = []
    for w in layer.weights:
        item = {"name": w.name, "shape": [int(d) for d in w.shape],
                "trainable": bool(w.trainable), "dtype": str(np.dtype(w.dtype.name if
                                                                  hasattr(w.dtype, "name")
                                                                  else w.dtype))}
        if fmt == "k3":
            item["path"] = w.path
        weights_meta.append(item)
    meta = {
        "case": spec.name, "format": fmt, "class_name": spec.class_name,
        "keras_version": version, "call": spec.call, "call_kwargs": spec.call_kwargs,
        "inputs": [{"shape": list(x.shape), "dtype": str(x.dtype)} for x in xs],
        "mask": list(spec.mask) if spec.mask else None,
        "weights": weights_meta,
        "outputs": [{"shape": list(y.shape), "dtype": str(y.dtype)} for y in ys],
        "has_training_output": spec.training, "seed": SEED, "note": spec.note,
        "config": _jsonable(layer.get_config()),
        "serialized": _jsonable(serialize(layer)),
    }
    if fmt == "k2":
        meta["config"] = _strip_k3_keys(meta["config"])
        meta["serialized"] = _strip_k3_keys(meta["serialized"])
    out_dir = OUT / fmt
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{fmt}_{spec.name}.json"
    path.write_text(json.dumps(meta, indent=1))
    np.savez_compressed(path.with_suffix(".npz"), **arrays)
    return path
