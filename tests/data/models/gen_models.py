"""Regenerate the model cases of tests/data/models with real Keras (oracle venv only).

    python tests/data/models/gen_models.py

For each model and format (k3: Keras 3, k2: tf_keras) it writes ``<fmt>_model_<name>``
``.json`` (model_config = to_json, weights, inputs, outputs), ``.npz`` (x*, w*, y*),
``.keras`` and legacy ``.h5``, in the layout of tests/data/keras/corpus.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

OUT = Path(__file__).resolve().parent
SEED = 1234


def _strip(x):
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items()
                if k not in ("module", "registered_name", "build_config")}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


def build(k, name):
    L = k.layers
    if name == "skip":
        x = k.Input((8,), name="x")
        h = L.Dense(8, name="proj")(x)
        h = L.Add(name="residual")([x, h])
        h = L.LayerNormalization(name="ln")(h)
        h = L.Activation("gelu", name="act")(h)
        return k.Model(x, L.Dense(3, name="head")(h), name="skip"), [(3, 8)], "normal"
    if name == "bigru":
        x = k.Input((5, 4), name="seq")
        h = L.Bidirectional(L.GRU(6, return_sequences=True), name="bigru")(x)
        h = L.GlobalMaxPooling1D(name="pool")(h)
        return k.Model(x, L.Dense(2, name="out")(h), name="bigru"), [(3, 5, 4)], "normal"
    if name == "siamese_shared":
        a = k.Input((4,), name="a")
        b = k.Input((4,), name="b")
        shared = L.Dense(5, activation="tanh", name="shared")
        d = L.Subtract(name="diff")([shared(a), shared(b)])
        out = L.Dense(1, name="score")(d)
        return k.Model([a, b], out, name="siamese_shared"), [(3, 4), (3, 4)], "normal"
    if name == "nested":
        xi = k.Input((4,), name="inner_in")
        inner = k.Model(xi, L.Dense(3, activation="relu", name="inner_dense")(xi),
                        name="inner")
        seq = k.Sequential([k.Input((3,)), L.Dense(3, name="seq_dense"),
                            L.BatchNormalization(name="seq_bn")], name="inner_seq")
        x = k.Input((4,), name="x")
        h1 = inner(x)
        h2 = seq(h1)
        out = L.Dense(2, name="out")(L.Concatenate(name="cat")([h1, h2]))
        return k.Model(x, out, name="nested"), [(3, 4)], "normal"
    if name == "masked_mlp":
        x = k.Input((6, 3), name="x")
        h = L.Masking(0.0, name="mask")(x)
        h = L.Dense(4, name="td")(h)
        h = L.GlobalAveragePooling1D(name="gap")(h)
        return k.Model(x, L.Dense(2, name="out")(h), name="masked_mlp"), [(3, 6, 3)], "masked"
    if name == "mha_masked":
        t = k.Input((6,), dtype="int32", name="tokens")
        e = L.Embedding(20, 8, mask_zero=True, name="emb")(t)
        h = L.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(e, e)
        h = L.GlobalAveragePooling1D(name="gap")(h)
        return k.Model(t, L.Dense(2, name="out")(h), name="mha_masked"), [(3, 6)], "tokens"
    raise KeyError(name)


def weights_for(model, rng):
    out = []
    for w in model.weights:
        shape = tuple(int(d) for d in w.shape)
        if "variance" in w.name:
            out.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        else:
            out.append((rng.standard_normal(shape) * 0.5).astype("float32"))
    return out


def generate(fmt: str, name: str) -> None:
    rng = np.random.default_rng(SEED)
    if fmt == "k3":
        import keras as k
    else:
        import tf_keras as k
    k.utils.clear_session() if hasattr(k.utils, "clear_session") else None
    model, shapes, kind = build(k, name)
    xs = []
    for s in shapes:
        if kind == "tokens":
            x = rng.integers(1, 20, s).astype("int32")
            x[:, -2:] = 0
            xs.append(x)
            continue
        x = rng.standard_normal(s).astype("float32")
        if kind == "masked":
            x[:, -2:, :] = 0.0
        xs.append(x)
    ws = weights_for(model, rng)
    model.set_weights(ws)
    ys = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    ys = list(ys) if isinstance(ys, (list, tuple)) else [ys]
    stem = OUT / f"{fmt}_model_{name}"
    model.save(str(stem) + ".keras")
    model.save(str(stem) + ".h5")
    cfg = json.loads(model.to_json())
    if fmt == "k2":
        cfg = _strip(cfg)
    meta = {
        "case": f"model_{name}", "format": fmt, "keras_version": k.__version__,
        "model_config": cfg,
        "inputs": [{"shape": list(x.shape), "dtype": str(x.dtype)} for x in xs],
        "weights": [{"name": w.name, "shape": [int(d) for d in w.shape],
                     "path": getattr(w, "path", w.name)} for w in model.weights],
        "outputs": [{"shape": list(y.shape), "dtype": str(y.dtype)} for y in ys],
        "layer_weight_map": [{"layer": layer.name, "class_name": type(layer).__name__,
                              "weights": [getattr(w, "path", w.name) for w in layer.weights]}
                             for layer in model.layers],
        "seed": SEED,
    }
    stem.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    arrays = {f"x{i}": x for i, x in enumerate(xs)}
    arrays.update({f"w{i}": w for i, w in enumerate(ws)})
    arrays.update({f"y{i}": np.asarray(y) for i, y in enumerate(ys)})
    np.savez_compressed(stem.with_suffix(".npz"), **arrays)
    print("wrote", stem)


if __name__ == "__main__":
    fmts = [a for a in sys.argv[1:] if a in ("k2", "k3")] or ["k3", "k2"]
    names = [a for a in sys.argv[1:] if a not in ("k2", "k3")] or [
        "skip", "bigru", "siamese_shared", "nested", "masked_mlp"]
    for f in fmts:
        for n in names:
            generate(f, n)
