"""Oracle cases for the attention layers (tests/engine/test_oracle_layers.py runs them)."""

import copy

from tests.oracle_gen.common import case as _case


def case(name, class_name, config, inputs, **kw):
    """Each format gets its own copy; tf_keras's MHA.from_config needs the shape keys."""
    k2 = copy.deepcopy(config)
    if class_name == "MultiHeadAttention":
        k2 = {**k2, "query_shape": None, "key_shape": None, "value_shape": None}
    k2.pop("seed", None)  # tf_keras's attention layers take no seed
    kw.setdefault("k2_config", k2)
    return _case(name, class_name, copy.deepcopy(config), inputs, **kw)

_QV = [(2, 4, 6), (2, 5, 6)]
_QVK = [(2, 4, 6), (2, 5, 3), (2, 5, 7)]
_SCORES = {"return_attention_scores": True}
_CAUSAL = {"use_causal_mask": True}

CASES = [
    # MultiHeadAttention
    case("mha_self_basic", "MultiHeadAttention", {"num_heads": 2, "key_dim": 3},
         [(2, 4, 6), (2, 4, 6)], call="args"),
    case("mha_qvk_dims", "MultiHeadAttention", {"num_heads": 3, "key_dim": 2}, _QVK,
         call="args"),
    case("mha_value_dim_output_int", "MultiHeadAttention",
         {"num_heads": 2, "key_dim": 3, "value_dim": 5, "output_shape": 4}, _QV, call="args"),
    case("mha_output_shape_list_nobias", "MultiHeadAttention",
         {"num_heads": 2, "key_dim": 2, "output_shape": [2, 3], "use_bias": False}, _QV,
         call="args"),
    case("mha_causal", "MultiHeadAttention", {"num_heads": 2, "key_dim": 3},
         [(2, 5, 6), (2, 5, 6)], call="args", call_kwargs=_CAUSAL),
    case("mha_scores", "MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, _QV,
         call="args", call_kwargs=_SCORES),
    case("mha_scores_causal_key", "MultiHeadAttention", {"num_heads": 2, "key_dim": 2},
         [(2, 5, 6), (2, 5, 4), (2, 5, 3)], call="args",
         call_kwargs={**_SCORES, **_CAUSAL}),
    case("mha_axes_neg2_4d_scores", "MultiHeadAttention",
         {"num_heads": 2, "key_dim": 2, "attention_axes": -2}, [(2, 3, 4, 5), (2, 3, 4, 5)],
         call="args", call_kwargs=_SCORES),
    case("mha_axes_1_4d", "MultiHeadAttention",
         {"num_heads": 2, "key_dim": 2, "attention_axes": [1]}, [(2, 3, 4, 5), (2, 3, 4, 5)],
         call="args"),
    case("mha_axes_default_5d_scores", "MultiHeadAttention", {"num_heads": 2, "key_dim": 2},
         [(1, 2, 3, 2, 4), (1, 2, 3, 2, 4)], call="args", call_kwargs=_SCORES),
    case("mha_dropout_inference", "MultiHeadAttention",
         {"num_heads": 2, "key_dim": 3, "dropout": 0.3, "seed": 3}, _QV, call="args"),
    case("mha_gate", "MultiHeadAttention", {"num_heads": 2, "key_dim": 3, "use_gate": True},
         _QV, call="args", formats=("k3",)),
    case("mha_sliding_window_scores", "MultiHeadAttention",
         {"num_heads": 2, "key_dim": 3, "sliding_window": 2}, [(2, 5, 6), (2, 5, 6)],
         call="args", call_kwargs=_SCORES, formats=("k3",)),
    case("mha_sliding_window_causal", "MultiHeadAttention",
         {"num_heads": 2, "key_dim": 3, "sliding_window": 2}, [(2, 5, 6), (2, 5, 6)],
         call="args", call_kwargs=_CAUSAL, formats=("k3",)),
    # GroupedQueryAttention (Keras 3 only)
    case("gqa_basic", "GroupQueryAttention",
         {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2}, _QV, call="args",
         formats=("k3",)),
    case("gqa_key_scores_causal", "GroupQueryAttention",
         {"head_dim": 2, "num_query_heads": 2, "num_key_value_heads": 1},
         [(2, 5, 6), (2, 5, 6), (2, 5, 4)], call="args",
         call_kwargs={**_SCORES, **_CAUSAL}, formats=("k3",)),
    case("gqa_gate_nobias_window", "GroupQueryAttention",
         {"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 4, "use_gate": True,
          "use_bias": False, "sliding_window": 2}, [(2, 5, 6), (2, 5, 6)], call="args",
         formats=("k3",)),
    # Attention / AdditiveAttention
    case("attention_causal", "Attention", {}, [(2, 5, 6), (2, 5, 6)], call="list",
         call_kwargs=_CAUSAL),
    case("attention_scores", "Attention", {"use_scale": True}, _QV, call="list",
         call_kwargs=_SCORES),
    case("attention_concat_scale_qvk", "Attention", {"use_scale": True,
                                                     "score_mode": "concat"},
         [(2, 4, 6), (2, 5, 6), (2, 5, 6)], call="list"),
    case("attention_dropout_inference", "Attention", {"dropout": 0.4, "seed": 1}, _QV,
         call="list", formats=("k3",)),
    case("additive_attention_scale", "AdditiveAttention", {}, _QV, call="list"),
    case("additive_attention_qvk_causal_scores", "AdditiveAttention", {},
         [(2, 5, 6), (2, 5, 6), (2, 5, 6)], call="list",
         call_kwargs={**_SCORES, **_CAUSAL}),
]


# -- masked attention references (python -m tests.oracle_gen.attention) -------------------
# The generic cases cannot pass query/value masks to attention layers; these references are
# written to tests/data/keras/generated_extra/ and checked by tests/engine/test_rnn_attention.

MASK_REFS = [
    # name, class, config, call kind, which masks
    ("mha_value_mask", "MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, "mha", "v"),
    ("mha_query_value_mask", "MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, "mha",
     "qv"),
    ("mha_query_value_mask_scores", "MultiHeadAttention", {"num_heads": 2, "key_dim": 3},
     "mha_scores", "qv"),
    ("mha_attention_mask_causal", "MultiHeadAttention", {"num_heads": 2, "key_dim": 3},
     "mha_causal", "a"),
    ("mha_key_mask", "MultiHeadAttention", {"num_heads": 2, "key_dim": 2}, "mha_key", "qvk"),
    ("mha_dropout_query_mask", "MultiHeadAttention",
     {"num_heads": 2, "key_dim": 3, "dropout": 0.2}, "mha", "qv"),
    ("gqa_query_value_mask", "GroupQueryAttention",
     {"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2}, "mha", "qv"),
    ("attention_masks", "Attention", {"use_scale": True}, "list", "qv"),
    ("attention_masks_causal_scores", "Attention", {}, "list_scores_causal", "qv"),
    ("additive_attention_masks", "AdditiveAttention", {}, "list", "qv"),
]


def generate_mask_refs() -> None:
    import json
    import os
    from pathlib import Path

    import numpy as np

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf
    import tf_keras
    from keras.src import backend as kb

    out = Path(__file__).resolve().parent.parent / "data" / "keras" / "generated_extra"
    out.mkdir(parents=True, exist_ok=True)
    for fmt in ("k3", "k2"):
        rng = np.random.default_rng(99)
        arrays: dict[str, np.ndarray] = {}
        meta: dict[str, dict] = {}
        for name, cls, cfg, kind, which in MASK_REFS:
            if fmt == "k2" and cls == "GroupQueryAttention":
                continue
            q = rng.standard_normal((2, 4, 6)).astype("float32")
            v = rng.standard_normal((2, 5, 6)).astype("float32")
            k = rng.standard_normal((2, 5, 3)).astype("float32")
            qm = np.array([[1, 1, 0, 1], [1, 0, 0, 1]], bool)
            vm = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], bool)
            km = np.array([[1, 0, 1, 1, 1], [1, 1, 1, 1, 0]], bool)
            am = rng.uniform(size=(2, 4, 5)) > 0.4
            am[0, 1] = False  # one fully masked row
            c = copy.deepcopy(cfg)
            if fmt == "k3":
                layer = keras.layers.deserialize({"module": "keras.layers", "class_name": cls,
                                                  "config": c})
                ser = keras.layers.serialize(layer)
            else:
                if cls == "MultiHeadAttention":
                    c.update(query_shape=None, key_shape=None, value_shape=None)
                layer = tf_keras.layers.deserialize({"class_name": cls, "config": c},
                                                    use_legacy_format=True)
                ser = None

            def run(layer=layer, q=q, v=v, k=k, qm=qm, vm=vm, km=km, am=am, kind=kind,
                    which=which, cls=cls, fmt=fmt):
                if kind.startswith("list"):
                    kw = {"return_attention_scores": "scores" in kind,
                          "use_causal_mask": "causal" in kind}
                    return layer([q, v], mask=[qm, vm], **kw)
                tq, tv, tk = tf.constant(q), tf.constant(v), tf.constant(k)
                kw = {}
                if "q" in which:
                    if cls == "GroupQueryAttention":
                        kw["query_mask"] = qm
                    elif fmt == "k3":
                        kb.set_keras_mask(tq, tf.constant(qm))
                    else:
                        tq._keras_mask = tf.constant(qm)
                if "v" in which:
                    if fmt == "k3":
                        kw["value_mask"] = vm
                    else:
                        tv._keras_mask = tf.constant(vm)
                if "k" in which:
                    if fmt == "k3":
                        kw["key_mask"] = km
                    else:
                        tk._keras_mask = tf.constant(km)
                if "a" in which:
                    kw["attention_mask"] = am
                if "scores" in kind:
                    kw["return_attention_scores"] = True
                if "causal" in kind:
                    kw["use_causal_mask"] = True
                if "key" in kind:
                    return layer(tq, tv, key=tk, **kw)
                return layer(tq, tv, **kw)

            run()
            ws = [(rng.standard_normal(tuple(w.shape)) * 0.5).astype("float32")
                  for w in layer.weights]
            layer.set_weights(ws)
            ys = run()
            ys = list(ys) if isinstance(ys, (list, tuple)) else [ys]
            for key, val in {"q": q, "v": v, "k": k, "qm": qm, "vm": vm, "km": km,
                             "am": am}.items():
                arrays[f"{name}__{key}"] = val
            for i, w in enumerate(ws):
                arrays[f"{name}__w{i}"] = w
            for i, y in enumerate(ys):
                arrays[f"{name}__y{i}"] = np.asarray(y)
            config = json.loads(json.dumps(layer.get_config(), default=lambda o: (
                o.as_list() if hasattr(o, "as_list") else dict(o) if hasattr(o, "keys")
                else list(o) if isinstance(o, tuple) else str(o))))
            if fmt == "k3":
                config = ser["config"]
            meta[name] = {"class_name": cls, "config": config, "kind": kind, "which": which,
                          "n_weights": len(ws), "n_outputs": len(ys)}
        np.savez_compressed(out / f"attention_masks_{fmt}.npz", **arrays)
        (out / f"attention_masks_{fmt}.json").write_text(json.dumps(meta, indent=1,
                                                                    default=str))
        print(f"wrote {out}/attention_masks_{fmt}.*")


if __name__ == "__main__":
    generate_mask_refs()
