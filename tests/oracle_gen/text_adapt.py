"""Oracle cases for ``adapt()`` on StringLookup, IntegerLookup and TextVectorization, and
for TextVectorization's ``output_mode="one_hot"``, recorded from real Keras 3 and tf_keras.

Each adapt case builds the layer from its config, adapts it on ``data`` (an array, or
``batches`` fed as an iterator, at most ``steps`` of them), and records the learned
vocabulary, the IDF weights (tf_idf), the config and the outputs on ``x``. A case whose
call Keras refuses records the refusal (``error``) instead of outputs. Files go to
tests/data/keras/text_adapt/<fmt>/ (``<fmt>_<name>.json`` + ``.npz``; strings as NumPy
unicode arrays, never pickled). Run from the project root (names limit the run):

    python -m tests.oracle_gen.text_adapt
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.oracle_gen.common import _jsonable
from tests.oracle_gen.text import _TV_KEYS, _np

OUT = Path(__file__).resolve().parent.parent / "data" / "keras" / "text_adapt"
CASES: list = []  # not a random-input family: see ADAPT_CASES


@dataclass
class AdaptSpec:
    name: str
    class_name: str
    config: dict[str, Any]
    data: Any  # an array, a list of batches (fed as an iterator), or None (no adapt)
    x: np.ndarray
    steps: int | None = None
    formats: tuple[str, ...] = ("k3", "k2")


def a(name, class_name, config, data, x, **kw) -> AdaptSpec:
    return AdaptSpec(name, class_name, config, data, x, **kw)


TIES = np.array(["b", "a", "c", "a", "b", "d", "ü", "u", "Z", "z", "ab"])
TIES_X = np.array([["a", "b", "ü"], ["z", "q", "ab"]])
INTS = np.array([5, 5, 9, 12, 12, 12, -1, 3, 3, 0, 2**40, -7])
INTS_X = np.array([[5, 12, 3], [9, 0, 77], [-1, 2**40, -7]])
DOCS = np.array(["The cat sat on the mat.", "the dog sat", "A cat, a dog!", "b b a",
                 "ÜBER über", "", "mat mat mat the the cat"])
DOCS_X = np.array(["The cat", "dog dog bird über", "a b c d"])
ONE = {"split": None}
GIVEN = {"vocabulary": ["a", "b", "c d", "a b", "b c d"]}
R1 = np.array(["a", "b", "c d", "zz"])

ADAPT_CASES = [
    # StringLookup
    a("sl_ties", "StringLookup", {}, TIES, TIES_X),
    a("sl_max_tokens", "StringLookup", {"max_tokens": 4}, TIES, TIES_X),
    a("sl_mask_oov2", "StringLookup", {"mask_token": "", "num_oov_indices": 2},
      np.array(["a", "", "b", "[UNK]", "b", ""]), np.array([["a", "", "b", "zz"]])),
    a("sl_2d", "StringLookup", {"output_mode": "count"},
      np.array([["x", "y", "x"], ["y", "y", "w"]]), np.array([["x", "w", "v"]])),
    a("sl_tf_idf", "StringLookup", {"output_mode": "tf_idf"},
      np.array([["x", "y", "x"], ["y", "y", "w"], ["x", "v", "v"]]),
      np.array([["x", "w", "v"], ["y", "q", "q"]])),
    a("sl_tf_idf_pad", "StringLookup", {"output_mode": "tf_idf", "max_tokens": 6,
                                        "pad_to_max_tokens": True},
      np.array([["x", "y", "x"], ["y", "y", "w"]]), np.array([["x", "w", "v"]])),
    a("sl_batches", "StringLookup", {"output_mode": "tf_idf"},
      [np.array(["p", "q", "p"]), np.array([["q", "r"], ["r", "r"]]), np.array(["s"])],
      np.array([["p", "q", "r", "s"]]), steps=2, formats=("k3",)),
    a("sl_invert", "StringLookup", {"invert": True}, TIES, np.array([[0, 1, 2, 3, 4, 9]])),
    # IntegerLookup
    a("il_ties", "IntegerLookup", {}, INTS, INTS_X),
    a("il_mask_max", "IntegerLookup", {"mask_token": 0, "max_tokens": 5,
                                       "num_oov_indices": 2}, INTS, INTS_X),
    a("il_multi_hot", "IntegerLookup", {"output_mode": "multi_hot"}, INTS, INTS_X),
    a("il_tf_idf", "IntegerLookup", {"output_mode": "tf_idf"},
      np.array([[1, 2, 2], [2, 3, 3], [4, 4, 4]]), np.array([[1, 2, 3, 4, 5]]),
      formats=("k3",)),  # tf_keras 2.21 fails here (its map_fn dedupe of a dense batch)
    # TextVectorization
    a("tv_default", "TextVectorization", {}, DOCS, DOCS_X),
    a("tv_max_tokens", "TextVectorization", {"max_tokens": 6, "output_sequence_length": 4},
      DOCS, DOCS_X),
    a("tv_ngrams", "TextVectorization", {"ngrams": 2, "max_tokens": 12}, DOCS, DOCS_X),
    a("tv_char", "TextVectorization", {"split": "character", "max_tokens": 8}, DOCS, DOCS_X),
    a("tv_tf_idf", "TextVectorization", {"output_mode": "tf_idf"}, DOCS, DOCS_X),
    a("tv_tf_idf_ngrams_pad", "TextVectorization",
      {"output_mode": "tf_idf", "ngrams": (1, 2), "max_tokens": 20,
       "pad_to_max_tokens": True}, DOCS, DOCS_X),
    a("tv_count_standardize_none", "TextVectorization",
      {"output_mode": "count", "standardize": None}, DOCS, DOCS_X),
    a("tv_multi_hot_split_none", "TextVectorization",
      {"output_mode": "multi_hot", **ONE}, np.array([["x y"], ["x y"], [""], ["z"]]),
      np.array([["x y"], ["z"], ["q"]])),
    a("tv_batches", "TextVectorization", {"output_mode": "tf_idf"},
      [np.array(["a b", "b c"]), np.array([["c c"], ["d"]]), np.array(["e"])],
      DOCS_X, steps=2, formats=("k3",)),  # tf_keras wants batches of one shape
    # TextVectorization one_hot (Keras 3 accepts it; with a split its outputs are ragged)
    a("tv_one_hot_split_none", "TextVectorization", {"output_mode": "one_hot", **ONE},
      np.array(["x y", "x y", "z", "w"]), np.array([["x y"], ["z"], ["q"], [""]])),
    a("tv_one_hot_split_none_2d", "TextVectorization", {"output_mode": "one_hot", **ONE},
      np.array(["x", "y", "y"]), np.array([["x", "q"], ["y", "x"]])),
    a("tv_one_hot_split", "TextVectorization", {"output_mode": "one_hot"},
      np.array(["x y", "z"]), np.array(["x y", "z"])),
    # split=None on a rank-1 batch: one sequence (no adapt: a given vocabulary)
    a("tv_rank1_int_ngrams", "TextVectorization", {**ONE, **GIVEN, "ngrams": 2}, None, R1),
    a("tv_rank1_int_seq_len", "TextVectorization", {**ONE, **GIVEN,
                                                    "output_sequence_length": 5}, None, R1),
    a("tv_rank1_count_ngrams", "TextVectorization", {**ONE, **GIVEN, "ngrams": 2,
                                                     "output_mode": "count"}, None, R1),
    a("tv_rank1_multi_hot", "TextVectorization", {**ONE, **GIVEN,
                                                  "output_mode": "multi_hot"}, None, R1),
    a("tv_one_hot_ngrams_2d", "TextVectorization", {**ONE, **GIVEN, "ngrams": 2,
                                                    "output_mode": "one_hot"}, None,
      np.array([["a", "b"], ["c d", "a"]]), formats=("k3",)),
    a("tv_one_hot_rank1_ngrams", "TextVectorization", {**ONE, **GIVEN, "ngrams": 2,
                                                       "output_mode": "one_hot"}, None, R1,
      formats=("k3",)),
]


def _idf(layer: Any) -> np.ndarray | None:
    inner = getattr(layer, "_lookup_layer", layer)
    w = getattr(inner, "idf_weights", None)
    if w is None or getattr(inner, "output_mode", None) not in ("tf_idf", "tf-idf"):
        return None
    return np.asarray(w.numpy() if hasattr(w, "numpy") else w, np.float32)


def _make(spec: AdaptSpec, fmt: str) -> tuple[Any, str, Any]:
    config = dict(spec.config)
    if spec.class_name == "TextVectorization":
        config = {**_TV_KEYS, **config}
    if fmt == "k3":
        import keras

        return getattr(keras.layers, spec.class_name)(**config), keras.__version__, config
    import tf_keras

    return getattr(tf_keras.layers, spec.class_name)(**config), tf_keras.__version__, config


def _refused(spec: AdaptSpec, fmt: str, e: Exception) -> Path:
    """A config Keras refuses: record the refusal (no layer, no outputs)."""
    meta = {"case": spec.name, "format": fmt, "class_name": spec.class_name,
            "config": _jsonable(spec.config), "refused": f"{type(e).__name__}: {e}"[:300]}
    d = OUT / fmt
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{fmt}_{spec.name}.json"
    path.write_text(json.dumps(meta, indent=1, ensure_ascii=False))
    return path


def generate(spec: AdaptSpec, fmt: str) -> Path:
    try:
        layer, version, config = _make(spec, fmt)
    except ValueError as e:
        return _refused(spec, fmt, e)
    batches = isinstance(spec.data, list)
    if spec.data is not None:
        layer.adapt(iter(spec.data) if batches else spec.data, steps=spec.steps)
    arrays: dict[str, np.ndarray] = {"x0": spec.x}
    if batches:
        arrays.update({f"data{i}": d for i, d in enumerate(spec.data)})
    elif spec.data is not None:
        arrays["data"] = spec.data
    error = None
    try:
        out = layer(spec.x)
        if type(out).__name__ == "RaggedTensor":
            raise ValueError(f"ragged output {out.shape}")
        arrays["y0"] = _np(out)
        out_dtype = str(np.asarray(out).dtype)
    except Exception as e:  # noqa: BLE001 - the refusal is the recorded result
        error, out_dtype = f"{type(e).__name__}: {str(e)[:300]}", None
    idf = _idf(layer)
    if idf is not None:
        arrays["idf"] = idf
    meta = {"case": spec.name, "format": fmt, "class_name": spec.class_name,
            "keras_version": version, "config": _jsonable(config),
            "adapted": spec.data is not None,
            "batches": len(spec.data) if batches else None, "steps": spec.steps,
            "vocabulary": _jsonable([v.decode() if isinstance(v, bytes) else v
                                     for v in layer.get_vocabulary()]),
            "vocabulary_size": int(layer.vocabulary_size()),
            "output_dtype": out_dtype, "error": error}
    d = OUT / fmt
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{fmt}_{spec.name}.json"
    path.write_text(json.dumps(meta, indent=1, ensure_ascii=False))
    np.savez_compressed(path.with_suffix(".npz"), **arrays)
    return path


def main(names: list[str]) -> int:
    failed = 0
    for spec in ADAPT_CASES:
        if names and spec.name not in names:
            continue
        for fmt in spec.formats:
            try:
                generate(spec, fmt)
                print(f"text_adapt: {fmt}_{spec.name}: written")
            except Exception as e:  # noqa: BLE001 - report and go on
                failed += 1
                print(f"text_adapt: {fmt}_{spec.name}: FAILED {type(e).__name__}: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
