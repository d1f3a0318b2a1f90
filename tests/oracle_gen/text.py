"""Oracle cases for the text layers (StringLookup, IntegerLookup, TextVectorization,
Hashing, HashedCrossing), recorded from real Keras 3 and tf_keras.

Their inputs are given values (strings, integers), not random arrays, and some outputs are
strings, so they have their own small generator and directory (tests/data/keras/text/<fmt>/,
the case format of tests/oracle.py: ``<fmt>_<name>.json`` + ``.npz``; strings are stored as
NumPy unicode arrays, never pickled). ``ASSET_CASES`` adapt a layer in Keras 3, save it in a
.keras archive and record its asset files and own variables as Keras wrote them
(tests/data/keras/text/k3_assets/). Run from the project root (names limit the run):

    python -m tests.oracle_gen.text

``CASES`` is empty so that ``python -m tests.oracle_gen`` (random-input families) skips this
module.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.oracle_gen.common import _jsonable, _strip_k3_keys

OUT = Path(__file__).resolve().parent.parent / "data" / "keras" / "text"
CASES: list = []  # see TEXT_CASES


@dataclass
class TextSpec:
    name: str
    class_name: str
    config: dict[str, Any]
    inputs: list[Any]
    call: str = "single"  # single | list
    formats: tuple[str, ...] = ("k3", "k2")
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def t(name, class_name, config, *inputs, **kw) -> TextSpec:
    return TextSpec(name, class_name, config, list(inputs), **kw)


S = np.array([["a", "c", "z"], ["d", "", "b"], ["yy", "a", "q"], ["b", "b", "longer oov"]])
S1 = np.array([["a"], ["z"], ["c"], [""]])
V = ["a", "b", "c", "d"]
I = np.array([[12, 36, 7], [1138, 0, -5], [42, 99, 12], [3, 4, 2**40]], np.int64)
IV = [12, 36, 1138, 42]
SENT = np.array([
    "The cat sat on the mat.",
    "ÜBER the\xa0cat, the DOG!",
    "  dog\tand   cat\nsat ",
    "it's a (cat)... [dog]; e-mail@x.y ¿qué?",
    "",
    "mat mat mat the the cat",
])
TV = ["the", "cat", "sat", "on", "mat", "dog", "and", "über", "its", "a", "the cat",
      "cat sat", "mat mat"]
LONG = "x" * 70 + "ü" * 20
HS = np.array([["A"], ["B"], ["C"], ["hello world"], [LONG], [""]])
HI = np.array([[0], [1], [-1], [123456789], [2**40], [7]], np.int64)

TEXT_CASES = [
    # StringLookup
    t("sl_int", "StringLookup", {"vocabulary": V}, S),
    t("sl_mask", "StringLookup", {"vocabulary": V, "mask_token": ""}, S),
    t("sl_multi_oov", "StringLookup", {"vocabulary": V, "num_oov_indices": 3}, S),
    t("sl_oov0", "StringLookup", {"vocabulary": V, "num_oov_indices": 0},
      np.array([["a", "d"], ["c", "b"]])),
    t("sl_specials_given", "StringLookup", {"vocabulary": ["[UNK]"] + V}, S),
    t("sl_invert", "StringLookup", {"vocabulary": V, "invert": True, "mask_token": "[M]"},
      np.array([[0, 1, 2, 3], [4, 5, 6, 40]], np.int64)),
    t("sl_one_hot", "StringLookup", {"vocabulary": V, "output_mode": "one_hot"}, S1),
    t("sl_multi_hot", "StringLookup", {"vocabulary": V, "output_mode": "multi_hot",
                                       "mask_token": ""}, S),
    t("sl_count", "StringLookup", {"vocabulary": V, "output_mode": "count"}, S),
    t("sl_tf_idf", "StringLookup", {"vocabulary": V, "output_mode": "tf_idf",
                                    "idf_weights": [0.5, 1.0, 1.5, 2.25]}, S),
    t("sl_pad_max", "StringLookup", {"vocabulary": V, "output_mode": "count",
                                     "max_tokens": 9, "pad_to_max_tokens": True}, S),
    t("sl_salt", "StringLookup", {"vocabulary": V, "num_oov_indices": 4, "salt": 42}, S,
      formats=("k3",)),
    # IntegerLookup
    t("il_int", "IntegerLookup", {"vocabulary": IV}, I),
    t("il_floormod", "IntegerLookup", {"vocabulary": IV, "num_oov_indices": 3,
                                       "mask_token": 0}, I),
    t("il_farmhash", "IntegerLookup", {"vocabulary": IV, "num_oov_indices": 3,
                                       "oov_method": "farmhash"}, I, formats=("k3",)),
    t("il_farmhash_salt", "IntegerLookup", {"vocabulary": IV, "num_oov_indices": 3,
                                            "oov_method": "farmhash", "salt": [7, 99]}, I,
      formats=("k3",)),
    t("il_invert", "IntegerLookup", {"vocabulary": IV, "invert": True},
      np.array([[0, 1, 2], [3, 4, 9]], np.int64)),
    t("il_count", "IntegerLookup", {"vocabulary": IV, "output_mode": "count"}, I),
    t("il_tf_idf", "IntegerLookup", {"vocabulary": IV, "output_mode": "tf_idf",
                                     "idf_weights": [0.1, 0.2, 0.3, 0.4]}, I),
    # TextVectorization
    t("tv_default", "TextVectorization", {"vocabulary": TV, "output_sequence_length": 8},
      SENT),
    t("tv_longest", "TextVectorization", {"vocabulary": TV}, SENT),
    t("tv_lower", "TextVectorization", {"vocabulary": TV + ["cat,", "dog!"],
                                        "standardize": "lower",
                                        "output_sequence_length": 7}, SENT),
    t("tv_strip", "TextVectorization", {"vocabulary": TV + ["The", "ÜBER"],
                                        "standardize": "strip_punctuation",
                                        "output_sequence_length": 7}, SENT),
    t("tv_no_standardize", "TextVectorization", {"vocabulary": TV, "standardize": None,
                                                 "output_sequence_length": 7}, SENT),
    t("tv_char", "TextVectorization", {"vocabulary": list("thecasü"), "split": "character",
                                       "output_sequence_length": 12}, SENT),
    t("tv_split_none", "TextVectorization", {"vocabulary": ["the cat sat on the mat", "mat"],
                                            "split": None},
      np.array([["The cat sat on the mat."], ["mat"], ["dog"]])),
    t("tv_ngrams2", "TextVectorization", {"vocabulary": TV, "ngrams": 2,
                                          "output_sequence_length": 12}, SENT),
    t("tv_ngrams_tuple", "TextVectorization", {"vocabulary": TV + ["the cat sat"],
                                               "ngrams": [3, 1],
                                               "output_sequence_length": 10}, SENT),
    t("tv_multi_hot", "TextVectorization", {"vocabulary": TV, "output_mode": "multi_hot"},
      SENT),
    t("tv_count", "TextVectorization", {"vocabulary": TV, "output_mode": "count",
                                        "ngrams": 2}, SENT),
    t("tv_tf_idf", "TextVectorization", {"vocabulary": TV[:5], "output_mode": "tf_idf",
                                         "idf_weights": [1.0, 0.5, 2.0, 0.25, 1.5]}, SENT),
    t("tv_pad_max", "TextVectorization", {"vocabulary": TV[:5], "output_mode": "count",
                                          "max_tokens": 12, "pad_to_max_tokens": True}, SENT),
    t("tv_max_tokens", "TextVectorization", {"vocabulary": TV[:6], "max_tokens": 8,
                                             "output_sequence_length": 5}, SENT),
    # Hashing
    t("hash_str", "Hashing", {"num_bins": 7}, HS),
    t("hash_int", "Hashing", {"num_bins": 1000}, HI),
    t("hash_mask_str", "Hashing", {"num_bins": 5, "mask_value": ""}, HS),
    t("hash_mask_int", "Hashing", {"num_bins": 5, "mask_value": 7}, HI),
    t("hash_salt", "Hashing", {"num_bins": 11, "salt": 133}, HS),
    t("hash_salt_pair", "Hashing", {"num_bins": 11, "salt": [5, 2**40]}, HI),
    t("hash_one_hot", "Hashing", {"num_bins": 4, "output_mode": "one_hot"}, HS),
    t("hash_multi_hot", "Hashing", {"num_bins": 6, "output_mode": "multi_hot"},
      np.array([["a", "b", "c"], ["a", "a", "d"]])),
    t("hash_count", "Hashing", {"num_bins": 6, "output_mode": "count"},
      np.array([[1, 2, 3], [1, 1, 4]], np.int64)),
    # HashedCrossing
    t("cross_int_str", "HashedCrossing", {"num_bins": 10},
      np.array([1, 2, -3, 2**40]), np.array(["a", "b", LONG, ""]), call="list"),
    t("cross_col", "HashedCrossing", {"num_bins": 1000},
      np.array([[1], [2], [3]]), np.array([[4], [5], [6]]), call="list"),
    t("cross_one_hot", "HashedCrossing", {"num_bins": 5, "output_mode": "one_hot"},
      np.array(["x", "y", "z"]), np.array([7, 8, 9]), call="list"),
]


def _np(out: Any) -> np.ndarray:
    arr = np.asarray(out)
    if arr.dtype == object or arr.dtype.kind == "S":
        arr = np.array([v.decode("utf-8") if isinstance(v, bytes) else v
                        for v in arr.reshape(-1).tolist()], dtype=str).reshape(arr.shape)
    return arr


#: TextVectorization.from_config reads these keys without defaults
_TV_KEYS = {"standardize": "lower_and_strip_punctuation", "split": "whitespace", "ngrams": None}


def generate(spec: TextSpec, fmt: str) -> Path | None:
    if spec.class_name == "TextVectorization":
        spec.config = {**_TV_KEYS, **spec.config}
    if fmt == "k3":
        import keras

        layer = keras.layers.deserialize({"module": "keras.layers",
                                          "class_name": spec.class_name,
                                          "config": spec.config})
        serialize = keras.layers.serialize
        version = keras.__version__
    else:
        import tf_keras
        from tf_keras.src.saving.legacy import serialization as legacy

        if not hasattr(tf_keras.layers, spec.class_name):
            return None
        layer = tf_keras.layers.deserialize({"class_name": spec.class_name,
                                             "config": spec.config}, use_legacy_format=True)
        serialize = legacy.serialize_keras_object
        version = tf_keras.__version__
    xs = [np.asarray(x) for x in spec.inputs]
    out = layer(list(xs) if spec.call == "list" else xs[0])
    y = _np(out)
    arrays = {f"x{i}": x for i, x in enumerate(xs)}
    arrays["y0"] = y
    vocab = layer.get_vocabulary() if hasattr(layer, "get_vocabulary") else None
    meta = {
        "case": spec.name, "format": fmt, "class_name": spec.class_name,
        "keras_version": version, "call": spec.call, "call_kwargs": {},
        "inputs": [{"shape": list(x.shape), "dtype": str(x.dtype)} for x in xs],
        "mask": None, "weights": [],
        "outputs": [{"shape": list(y.shape), "dtype": str(np.asarray(out).dtype)
                     if y.dtype.kind != "U" else "str"}],
        "has_training_output": False, "seed": 0, "note": spec.note,
        "config": _jsonable(layer.get_config()),
        "serialized": _jsonable(serialize(layer)),
        "vocabulary": _jsonable(vocab) if vocab is not None else None,
        "vocabulary_size": int(layer.vocabulary_size()) if vocab is not None else None,
    }
    if fmt == "k2":
        meta["config"] = _strip_k3_keys(meta["config"])
        meta["serialized"] = _strip_k3_keys(meta["serialized"])
    d = OUT / fmt
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{fmt}_{spec.name}.json"
    path.write_text(json.dumps(meta, indent=1, ensure_ascii=False))
    np.savez_compressed(path.with_suffix(".npz"), **arrays)
    return path


#: adapted layers saved in a .keras archive: their vocabulary lives in the assets
ASSET_CASES = [
    ("assets_string_lookup", "StringLookup", {"num_oov_indices": 2, "mask_token": ""},
     np.array(["a", "b", "b", "c", "c", "c", "ü"]), np.array([["a", "c", "", "zz", "ü"]])),
    ("assets_integer_lookup", "IntegerLookup", {"output_mode": "multi_hot"},
     np.array([5, 5, 9, 12, 12, 12]), np.array([[5, 12, 3], [9, 9, 9]])),
    ("assets_text_tf_idf", "TextVectorization", {"output_mode": "tf_idf"},
     np.array(["the cat sat", "the dog", "a cat, a dog!"]),
     np.array(["The cat", "dog dog bird"])),
    ("assets_text_int", "TextVectorization", {"output_sequence_length": 5, "max_tokens": 6},
     np.array(["the cat sat", "the dog", "a cat, a dog!"]),
     np.array(["The cat", "dog dog bird"])),
]


def generate_assets(name: str, class_name: str, config: dict, data: np.ndarray,
                    x: np.ndarray, fmt: str = "k3") -> Path:
    """Adapt in Keras, save a one-layer model as .keras, record the layer's config, its
    asset files and own variables as Keras wrote them, and its outputs on ``x``."""
    import io
    import tempfile
    import zipfile

    import h5py
    import keras

    layer = getattr(keras.layers, class_name)(**config)
    layer.adapt(data)
    inp = keras.Input(shape=x.shape[1:], dtype="string" if x.dtype.kind == "U" else "int64")
    model = keras.Model(inp, layer(inp))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.keras"
        model.save(path)
        z = zipfile.ZipFile(path)
        cfg = json.loads(z.read("config.json"))["config"]["layers"][1]
        h5 = h5py.File(io.BytesIO(z.read("model.weights.h5")))
        key = next(k for k in h5["layers"] if k != "input_layer")  # the layer's save path
        prefix = f"assets/layers/{key}/"
        assets = {n[len(prefix):]: z.read(n).decode() for n in z.namelist()
                  if n.startswith(prefix)}
        group = h5.get(f"layers/{key}/vars")
        own = {k: np.asarray(v[()]) for k, v in (group.items() if group else [])}
    cfg = {k: v for k, v in cfg.items() if k not in ("inbound_nodes", "name")}
    y = _np(layer(x))
    meta = {"case": name, "format": fmt, "class_name": class_name,
            "keras_version": keras.__version__, "serialized": _jsonable(cfg),
            "assets": assets, "own_variables": sorted(own),
            "vocabulary": _jsonable(layer.get_vocabulary()),
            "outputs": [{"shape": list(y.shape), "dtype": str(y.dtype)}]}
    d = OUT / f"{fmt}_assets"
    d.mkdir(parents=True, exist_ok=True)
    out = d / f"{fmt}_{name}.json"
    out.write_text(json.dumps(meta, indent=1, ensure_ascii=False))
    np.savez_compressed(out.with_suffix(".npz"), x0=x, y0=y,
                        **{f"var_{k}": v for k, v in own.items()})
    return out


def main(names: list[str]) -> int:
    failed = 0
    for name, *args in ASSET_CASES:
        if names and name not in names:
            continue
        try:
            generate_assets(name, *args)
            print(f"text: k3_{name}: written")
        except Exception as e:  # noqa: BLE001 - report and go on
            failed += 1
            print(f"text: k3_{name}: FAILED {type(e).__name__}: {e}")
    for spec in TEXT_CASES:
        if names and spec.name not in names:
            continue
        for fmt in spec.formats:
            try:
                p = generate(spec, fmt)
                print(f"text: {fmt}_{spec.name}: {'written' if p else 'not in ' + fmt}")
            except Exception as e:  # noqa: BLE001 - report and go on
                failed += 1
                print(f"text: {fmt}_{spec.name}: FAILED {type(e).__name__}: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
