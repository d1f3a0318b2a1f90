"""Real-world models recorded from real Keras: keras.applications architectures and
keras.io-style models, saved by Keras 3 and tf_keras in every format.

Run ``python -m tests.oracle_gen.applications [name ...]`` from the project root with the
oracle venv. For each model and Keras (k3, k2) it builds the model with ``weights=None``,
sets every weight from a NumPy seed (:func:`seeded_array`, keyed by layer name and weight
index, so the tests regenerate the same values without the weights being committed), runs
it on a seeded input, saves it as ``.keras``, legacy ``.h5`` and JSON + weights, and writes
``tests/data/models/real/<fmt>_<name>.json.gz``: the files' text members and the layout of
every HDF5 file (groups, attributes, datasets with the seed key that fills each) from which
the tests rebuild byte-for-byte equivalent files, plus ``<fmt>_<name>.npz`` (input, Keras's
output). Nothing here is imported by the project; only :func:`seeded_array` and
:func:`rebuild_h5` are shared with the tests (NumPy and h5py only).

The tolerance: 1e-5 (atol and rtol, float32), unless Keras's own float32 arithmetic needs
more for a case: the generator runs the same model in float64 (same weights) and records
``tolerance = max(1e-5, 4 * max |y32 - y64| / (1 + |y64|))`` with the measured error, so a
wider tolerance is only ever what Keras itself deviates from exact arithmetic.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "data" / "models" / "real"
SEED = 20261201
TOLERANCE = 1e-5
#: family modules of tests.oracle_gen list CASES for common.generate; these are not layers
CASES: list[Any] = []


# -- shared with the tests (NumPy only) ------------------------------------------------------


def seeded_array(key: str, kind: str, shape: list[int], dtype: str) -> np.ndarray:
    """The weight called ``key`` (``'<layer>/<index>'``) of ``kind`` and ``shape``."""
    rng = np.random.default_rng([SEED, zlib.crc32(key.encode())])
    shape = tuple(int(s) for s in shape)
    if np.issubdtype(np.dtype(dtype), np.integer) or kind == "zeros":
        return np.zeros(shape, dtype)
    if kind == "variance":
        return rng.uniform(0.5, 1.5, shape).astype(dtype)
    if kind == "scale":
        return (1.0 + 0.1 * rng.standard_normal(shape)).astype(dtype)
    if kind == "shift":
        return (0.1 * rng.standard_normal(shape)).astype(dtype)
    fan_in = int(kind.split(":")[1]) if kind.startswith("kernel:") else 1
    return (rng.standard_normal(shape) / np.sqrt(max(fan_in, 1))).astype(dtype)


def weight_kind(name: str, shape: tuple[int, ...]) -> str:
    """How a weight is drawn, from its Keras name and shape."""
    base = name.split("/")[-1].split(":")[0]
    if "variance" in base:
        return "variance"
    if base in ("gamma",) or base.endswith("gamma"):
        return "scale"
    if len(shape) < 2:
        return "shift"
    if "depthwise" in base:
        fan = int(np.prod(shape[:2]))
    elif base == "embeddings":
        fan = 1
    elif len(shape) == 2 and "recurrent" in base:
        fan = shape[0]
    else:
        fan = int(np.prod(shape[:-1]))
    return f"kernel:{fan}"


def _attr_out(v: Any) -> Any:
    if isinstance(v, bytes):
        return {"b": v.decode("utf8")}
    if isinstance(v, str):
        return {"s": v}
    if isinstance(v, np.ndarray):
        if v.dtype.kind in ("S", "O", "U"):
            return {"ab": [x.decode("utf8") if isinstance(x, bytes) else str(x)
                           for x in v.tolist()], "dtype": v.dtype.kind}
        return {"a": v.tolist(), "dtype": str(v.dtype)}
    if isinstance(v, np.generic):
        return {"n": v.item(), "dtype": str(v.dtype)}
    return {"n": v, "dtype": "int64" if isinstance(v, int) else "float64"}


def _attr_in(d: dict[str, Any]) -> Any:
    import h5py

    if "b" in d:
        return np.bytes_(d["b"].encode("utf8"))
    if "s" in d:
        return d["s"]
    if "ab" in d:
        if d["dtype"] == "S":
            return np.array([x.encode("utf8") for x in d["ab"]])
        return np.array(d["ab"], dtype=h5py.string_dtype())
    if "a" in d:
        return np.array(d["a"], dtype=d["dtype"])
    return np.array(d["n"], dtype=d["dtype"])[()]


def rebuild_h5(layout: dict[str, Any], cache: dict[str, np.ndarray] | None = None) -> bytes:
    """The HDF5 file described by ``layout`` (see :func:`h5_layout`), its datasets filled
    from the seed."""
    import h5py

    cache = {} if cache is None else cache
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        _fill(f, layout, cache)
    return buf.getvalue()


def _fill(group: Any, node: dict[str, Any], cache: dict[str, np.ndarray]) -> None:
    for k, v in node.get("attrs", {}).items():
        group.attrs[k] = _attr_in(v)
    for name, child in node.get("children", {}).items():
        if "shape" in child:
            if "value" in child:
                arr = np.array(child["value"], dtype=child["dtype"]).reshape(child["shape"])
            else:
                key, kind = child["gen"]
                ck = f"{key}|{kind}|{child['shape']}|{child['dtype']}"
                if ck not in cache:
                    cache[ck] = seeded_array(key, kind, child["shape"], child["dtype"])
                arr = cache[ck]
            ds = group.create_dataset(name, data=arr)
            for k, v in child.get("attrs", {}).items():
                ds.attrs[k] = _attr_in(v)
        else:
            _fill(group.create_group(name), child, cache)


def rebuild_zip(members: dict[str, Any], cache: dict[str, np.ndarray] | None = None) -> bytes:
    """The .keras archive: text members as recorded, h5 members rebuilt."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, m in members.items():
            data = m.encode("utf8") if isinstance(m, str) else rebuild_h5(m, cache)
            zf.writestr(name, data)
    return buf.getvalue()


# -- recording (real Keras) ------------------------------------------------------------------


def h5_layout(data: bytes, keys: dict[bytes, list[str]]) -> dict[str, Any]:
    """Groups, attributes and datasets of an HDF5 file; each dataset names the seed key
    that made it (found by its bytes), or holds its value when it is tiny."""
    import h5py

    def walk(obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"attrs": {k: _attr_out(obj.attrs[k]) for k in obj.attrs}}
        if isinstance(obj, h5py.Dataset):
            arr = obj[()]
            out.update(shape=list(arr.shape), dtype=str(arr.dtype))
            gen = keys.get(np.ascontiguousarray(arr).tobytes() + str(arr.dtype).encode())
            if gen is not None and arr.size > 8:
                out["gen"] = gen
            elif arr.size <= 64:
                out["value"] = np.asarray(arr).ravel().tolist()
            else:
                raise ValueError(f"dataset {obj.name} of {arr.shape} was not seeded")
            if not out["attrs"]:
                del out["attrs"]
            return out
        out["children"] = {k: walk(obj[k]) for k in obj.keys()}
        return out

    with h5py.File(io.BytesIO(data), "r") as f:
        return walk(f)


def _seed_weights(model: Any) -> dict[bytes, list[str]]:
    keys: dict[bytes, list[str]] = {}
    for layer in model.layers:
        ws = layer.weights
        if not ws:
            continue
        values = []
        for i, w in enumerate(ws):
            shape = tuple(int(d) for d in w.shape)
            dtype = str(np.dtype(w.dtype.name if hasattr(w.dtype, "name") else w.dtype))
            kind = weight_kind(getattr(w, "path", None) or w.name, shape)
            key = f"{layer.name}/{i}"
            arr = seeded_array(key, kind, list(shape), dtype)
            keys[np.ascontiguousarray(arr).tobytes() + dtype.encode()] = [key, kind]
            values.append(arr)
        layer.set_weights(values)
    return keys


def _inputs(spec: dict[str, Any]) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    shape = (spec.get("batch", 2),) + tuple(spec["shape"])
    if spec.get("tokens"):
        return rng.integers(1, spec["tokens"], shape).astype("int32")
    return rng.integers(0, 256, shape).astype("uint8")


def _record(model: Any, fmt: str, spec: dict[str, Any], x: np.ndarray) -> dict[str, Any]:
    keys = _seed_weights(model)
    xin = x.astype("float32") if x.dtype == np.uint8 else x
    y = np.asarray(model.predict(xin, verbose=0, batch_size=len(x)))
    files: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        kpath = os.path.join(tmp, "m.keras")
        model.save(kpath)
        members = {}
        with zipfile.ZipFile(kpath) as zf:
            for name in zf.namelist():
                data = zf.read(name)
                members[name] = h5_layout(data, keys) if name.endswith(".h5") else \
                    data.decode("utf8")
        files["keras"] = members
        hpath = os.path.join(tmp, "m.h5")
        model.save(hpath)
        files["h5"] = h5_layout(Path(hpath).read_bytes(), keys)
        wpath = os.path.join(tmp, "m.weights.h5" if fmt == "k3" else "w.h5")
        model.save_weights(wpath)
        files["json"] = {"config": model.to_json(),
                         "weights": h5_layout(Path(wpath).read_bytes(), keys)}
    return {"y": y, "files": files}


def _float64_error(build: Any, fmt: str, ref: Any, x: np.ndarray, y32: np.ndarray) -> float:
    """Keras's own float32 error: the same model and weights run in float64."""
    if fmt == "k3":
        import keras
        keras.config.set_floatx("float64")
        keras.config.set_dtype_policy("float64")
        try:
            m64 = build()
        finally:
            keras.config.set_floatx("float32")
            keras.config.set_dtype_policy("float32")
    else:
        import tf_keras
        tf_keras.backend.set_floatx("float64")
        try:
            m64 = build()
        finally:
            tf_keras.backend.set_floatx("float32")
    for l32, l64 in zip(ref.layers, m64.layers):
        ws = l32.get_weights()
        if ws:
            l64.set_weights([w.astype("float64") if w.dtype == np.float32 else w for w in ws])
    xin = x.astype("float64") if x.dtype == np.uint8 else x
    y64 = np.asarray(m64.predict(xin, verbose=0, batch_size=len(x)), dtype="float64")
    return float(np.max(np.abs(y32 - y64) / (1.0 + np.abs(y64))))


def _app(name: str, size: int, **kw: Any) -> dict[str, Any]:
    return {"app": name, "shape": [size, size, 3], "kwargs": kw}


#: name -> how to build it. Applications: weights=None, 10 classes, logits out.
MODELS: dict[str, dict[str, Any]] = {
    "mobilenet_v3_small": _app("MobileNetV3Small", 64),
    "mobilenet_v3_large": _app("MobileNetV3Large", 64),
    "convnext_tiny": _app("ConvNeXtTiny", 64),
    "densenet121": _app("DenseNet121", 64),
    "mobilenet_v2": _app("MobileNetV2", 64),
    "mobilenet": _app("MobileNet", 64),
    "resnet50": _app("ResNet50", 64),
    "resnet50_v2": _app("ResNet50V2", 64),
    "efficientnet_b0": _app("EfficientNetB0", 64),
    "efficientnet_v2_b0": _app("EfficientNetV2B0", 64),
    "xception": _app("Xception", 80),
    "inception_v3": _app("InceptionV3", 80),
    "nasnet_mobile": _app("NASNetMobile", 64),
    "vgg16": _app("VGG16", 64, include_top=False, pooling="avg"),
    "text_cnn": {"io": "text_cnn", "shape": [40], "tokens": 200},
    "bilstm": {"io": "bilstm", "shape": [24], "tokens": 200},
    "transformer_block": {"io": "transformer_block", "shape": [16], "tokens": 200},
    "unet": {"io": "unet", "shape": [32, 32, 3]},
    "autoencoder": {"io": "autoencoder", "shape": [28, 28, 1]},
    # the classes keras.applications defines for its own models, in small models
    "scale_blocks": {"io": "scale_blocks", "shape": [16, 16, 3]},
}

#: the slowest models (run in their own worker when the suite is split)
SLOW = ("convnext_tiny", "densenet121", "resnet50", "resnet50_v2", "inception_v3",
        "xception", "nasnet_mobile", "vgg16", "efficientnet_v2_b0")


def _keras_io(kind: str, keras: Any, shape: list[int]) -> Any:
    L = keras.layers
    if kind == "text_cnn":
        inp = keras.Input(shape, dtype="int32")
        x = L.Embedding(200, 16)(inp)
        x = L.Conv1D(32, 5, activation="relu")(x)
        x = L.MaxPooling1D(2)(x)
        x = L.Conv1D(32, 3, activation="relu", padding="same")(x)
        x = L.GlobalMaxPooling1D()(x)
        x = L.Dropout(0.5)(x)
        out = L.Dense(3, activation="softmax")(x)
        return keras.Model(inp, out, name="text_cnn")
    if kind == "bilstm":
        inp = keras.Input(shape, dtype="int32")
        x = L.Embedding(200, 16, mask_zero=True)(inp)
        x = L.Bidirectional(L.LSTM(12, return_sequences=True))(x)
        x = L.Bidirectional(L.GRU(8))(x)
        out = L.Dense(1, activation="sigmoid")(x)
        return keras.Model(inp, out, name="bilstm")
    if kind == "transformer_block":
        inp = keras.Input(shape, dtype="int32")
        tok = L.Embedding(200, 32)(inp)
        pos = L.Dense(32)(L.Embedding(200, 32)(inp))
        x = L.Add()([tok, pos])
        att = L.MultiHeadAttention(num_heads=2, key_dim=16)(x, x)
        x = L.LayerNormalization(epsilon=1e-6)(L.Add()([x, L.Dropout(0.1)(att)]))
        ffn = L.Dense(32)(L.Dense(64, activation="relu")(x))
        x = L.LayerNormalization(epsilon=1e-6)(L.Add()([x, ffn]))
        x = L.GlobalAveragePooling1D()(x)
        out = L.Dense(2, activation="softmax")(L.Dense(20, activation="relu")(x))
        return keras.Model(inp, out, name="transformer_block")
    if kind == "unet":
        inp = keras.Input(shape)
        x = L.Rescaling(1 / 255)(inp)
        c1 = L.Conv2D(8, 3, padding="same", activation="relu")(x)
        p1 = L.MaxPooling2D()(c1)
        c2 = L.Conv2D(16, 3, padding="same", activation="relu")(p1)
        c2 = L.BatchNormalization()(c2)
        p2 = L.MaxPooling2D()(c2)
        b = L.SeparableConv2D(32, 3, padding="same", activation="relu")(p2)
        u2 = L.Conv2DTranspose(16, 3, strides=2, padding="same")(b)
        u2 = L.Concatenate()([u2, c2])
        c3 = L.Conv2D(16, 3, padding="same", activation="relu")(u2)
        u1 = L.UpSampling2D()(c3)
        u1 = L.Concatenate()([u1, c1])
        c4 = L.Conv2D(8, 3, padding="same", activation="relu")(u1)
        out = L.Conv2D(3, 1, activation="softmax")(c4)
        return keras.Model(inp, out, name="unet")
    if kind == "scale_blocks":
        if keras.__name__ == "keras":
            from keras.src.applications import convnext, inception_resnet_v2
        else:
            from tf_keras.src.applications import convnext, inception_resnet_v2
        inp = keras.Input(shape)
        x = L.Conv2D(8, 3, padding="same")(L.Rescaling(1 / 255)(inp))
        r = L.Conv2D(8, 1, activation="relu")(x)
        x = inception_resnet_v2.CustomScaleLayer(0.17)([x, r])
        r = convnext.LayerScale(0.5, 8)(L.Dense(8)(x))
        r = convnext.StochasticDepth(0.3)(r)
        x = L.Add()([x, r])
        out = L.Dense(4)(L.GlobalAveragePooling2D()(x))
        return keras.Model(inp, out, name="scale_blocks")
    if kind == "autoencoder":
        return keras.Sequential([
            keras.Input(shape), L.Rescaling(1 / 255),
            L.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
            L.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
            L.Flatten(), L.Dense(16), L.Dense(7 * 7 * 8, activation="relu"),
            L.Reshape((7, 7, 8)),
            L.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu"),
            L.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"),
            L.Conv2D(1, 3, padding="same", activation="sigmoid"),
        ], name="autoencoder")
    raise KeyError(kind)


def _builder(spec: dict[str, Any], fmt: str) -> Any:
    if fmt == "k3":
        import keras
    else:
        import tf_keras as keras
    if "io" in spec:
        return lambda: _keras_io(spec["io"], keras, spec["shape"])
    fn = getattr(keras.applications, spec["app"], None)
    if fn is None:
        return None
    kw = {"weights": None, "input_shape": tuple(spec["shape"])}
    kw.update(spec.get("kwargs") or {"classes": 10, "classifier_activation": None})
    return lambda: fn(**kw)


def record(name: str, fmt: str) -> Path | None:
    spec = MODELS[name]
    build = _builder(spec, fmt)
    if build is None:
        return None
    model = build()
    x = _inputs(spec)
    rec = _record(model, fmt, spec, x)
    err = _float64_error(build, fmt, model, x, rec["y"])
    version = __import__("keras" if fmt == "k3" else "tf_keras").__version__
    meta = {"name": name, "format": fmt, "keras_version": version, "seed": SEED,
            "spec": spec, "keras_float32_error": err,
            "tolerance": max(TOLERANCE, 4 * err),
            "input": {"shape": list(x.shape), "dtype": str(x.dtype)},
            "output": {"shape": list(rec["y"].shape)},
            "slow": name in SLOW, "files": rec["files"]}
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{fmt}_{name}.json.gz"
    with gzip.open(path, "wt", encoding="utf8", compresslevel=9) as f:
        json.dump(meta, f, separators=(",", ":"))
    np.savez_compressed(OUT / f"{fmt}_{name}.npz", x=x, y=rec["y"])
    return path


def main(argv: list[str]) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    names = [a for a in argv if a not in ("k3", "k2")] or list(MODELS)
    fmts = [a for a in argv if a in ("k3", "k2")] or ["k3", "k2"]
    failed = 0
    for name in names:
        for fmt in fmts:
            try:
                path = record(name, fmt)
                print(f"{fmt}_{name}: {'written' if path else 'not in this Keras'}",
                      flush=True)
            except Exception as e:  # noqa: BLE001 - report and go on with the others
                failed += 1
                print(f"{fmt}_{name}: FAILED {type(e).__name__}: {str(e)[:300]}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
    sys.exit(main(sys.argv[1:]))
