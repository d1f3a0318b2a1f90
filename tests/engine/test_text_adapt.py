"""adapt() on StringLookup, IntegerLookup and TextVectorization, and TextVectorization's
one_hot and split=None rank-1 behaviour: the vocabularies, IDF weights and outputs Keras 3
and tf_keras recorded (tests/data/keras/text_adapt, written by
``python -m tests.oracle_gen.text_adapt``), and the configs Keras refuses."""

from __future__ import annotations

import json

import numpy as np
import pytest
from oracle import DATA

import engine
from engine.errors import ConfigError
from engine.layers.preprocessing import IntegerLookup, StringLookup, TextVectorization

ROOT = DATA / "text_adapt"
FILES = sorted(p for d in ("k3", "k2") for p in (ROOT / d).glob("*.json"))


def _load(path):
    meta = json.loads(path.read_text())
    npz = path.with_suffix(".npz")
    arrays = {}
    if npz.exists():
        with np.load(npz) as z:
            arrays = {k: z[k] for k in z.files}
    return meta, arrays


CASES = [(p.stem, *_load(p)) for p in FILES]


def _config(meta):
    cfg = {"class_name": meta["class_name"], "config": meta["config"]}
    return {"module": "keras.layers", **cfg} if meta["format"] == "k3" else cfg


def _adapt(layer, meta, arrays):
    if not meta.get("adapted", True):
        return
    if meta["batches"] is not None:
        batches = [arrays[f"data{i}"] for i in range(meta["batches"])]
        layer.adapt(iter(batches), steps=meta["steps"])
    else:
        layer.adapt(arrays["data"])


def test_corpus_is_there():
    assert len(CASES) >= 50
    assert {m["class_name"] for _, m, _ in CASES} == {"StringLookup", "IntegerLookup",
                                                      "TextVectorization"}
    assert sum(1 for _, m, _ in CASES if m.get("refused")) >= 3


@pytest.mark.parametrize("name,meta,arrays", CASES, ids=[c[0] for c in CASES])
def test_adapt_equals_keras(name, meta, arrays):
    if meta.get("refused"):  # tf_keras has no one_hot TextVectorization
        with pytest.raises(ConfigError, match="output_mode"):
            engine.deserialize(_config(meta))
        return
    if meta["error"]:  # Keras's output would be ragged: refused, saying so
        assert "ragged" in meta["error"]
        with pytest.raises(ConfigError, match="ragged"):
            engine.deserialize(_config(meta))
        return
    layer = engine.deserialize(_config(meta))
    _adapt(layer, meta, arrays)
    assert layer.get_vocabulary() == meta["vocabulary"]
    assert layer.vocabulary_size() == meta["vocabulary_size"]
    if "idf" in arrays:
        got = layer.save_own_variables()["idf_weights"]
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, arrays["idf"], rtol=1e-5, atol=1e-5)
    got, want = np.asarray(layer(arrays["x0"])), arrays["y0"]
    assert got.shape == want.shape
    if want.dtype.kind == "U":
        assert got.tolist() == want.tolist()
        return
    assert got.dtype == np.dtype(meta["output_dtype"]), "dtype differs from Keras's"
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_array_equal(got, want)


def test_adapt_then_assets_round_trip():
    """An adapted layer keeps no vocabulary in its config: it goes to the assets (and the
    IDF weights to its own variables), as Keras writes them, and loads back the same."""
    tv = TextVectorization(output_mode="tf_idf", max_tokens=6)
    tv.adapt(np.array(["the cat sat", "the dog", "a cat, a dog!"]))
    assert tv.get_config()["vocabulary"] is None
    assert tv.get_config()["vocabulary_size"] == 6
    files, own = tv.save_assets(), tv.save_own_variables()
    assert files["vocabulary.txt"] == "\n".join(tv.get_vocabulary()).encode()
    again = engine.deserialize(engine.serialize(tv))
    again.load_own_variables(own)
    again.load_assets(files)
    x = np.array(["The cat", "dog dog bird"])
    np.testing.assert_array_equal(again(x), tv(x))


def test_adapt_again_replaces_the_vocabulary():
    sl = StringLookup()
    sl.adapt(np.array(["a", "a", "b"]))
    sl.adapt(np.array(["c"]))
    assert sl.get_vocabulary() == ["[UNK]", "c"]
    sl.set_vocabulary(["x", "y"])
    sl.adapt(np.array(["z", "z"]))  # Keras too: set_vocabulary does not forbid adapt
    assert sl.get_vocabulary() == ["[UNK]", "z"]


def test_adapt_refusals_are_clear():
    with pytest.raises(ValueError, match="given a vocabulary in its config"):
        StringLookup(vocabulary=["a"]).adapt(np.array(["a"]))
    with pytest.raises(ValueError, match="given a vocabulary in its config"):
        TextVectorization(vocabulary=["a"]).adapt(np.array(["a"]))
    with pytest.raises(ValueError, match="steps"):
        IntegerLookup().adapt(np.array([1, 2]), steps=1)
    with pytest.raises(ConfigError, match="expects strings"):
        StringLookup().adapt(np.array([1, 2]))
    with pytest.raises(ConfigError, match="expects integers"):
        IntegerLookup().adapt(np.array(["a"]))
    sl = StringLookup()
    sl.adapt(np.array([], dtype=str))  # nothing seen: no vocabulary, as in Keras
    assert sl.get_vocabulary() == ["[UNK]"]


def test_adapt_respects_the_budget():
    from engine.budget import weight_budget
    from engine.errors import BudgetError

    with weight_budget(50):
        sl = StringLookup()
        with pytest.raises(BudgetError, match="vocabulary"):
            sl.adapt(np.array([f"t{i}" for i in range(100)]))


@pytest.mark.oracle
def test_real_keras_loads_an_adapted_layer_layerlab_saved(tmp_path):
    """Adapt in layerlab, save as .keras (vocabulary in the assets, IDF weights in the
    weights file): real Keras loads it and gives the same outputs."""
    import os
    import subprocess
    import sys

    exe = next((e for e in (sys.executable, os.environ.get("LAYERLAB_ORACLE_PYTHON", ""))
                if e and subprocess.run([e, "-c", "import keras"], capture_output=True)
                .returncode == 0), None)
    if exe is None:
        pytest.skip("real Keras is not installed (set LAYERLAB_ORACLE_PYTHON)")
    x = np.array([["The cat"], ["dog dog bird über"], ["a b c d"]])
    docs = np.array(["The cat sat on the mat.", "the dog sat", "A cat, a dog!", "ÜBER über"])
    for name, cfg in (("tfidf", {"output_mode": "tf_idf", "max_tokens": 7}),
                      ("int", {"output_sequence_length": 5})):
        tv = TextVectorization(**cfg, name="tv")
        tv.adapt(docs)
        model = engine.Sequential([engine.lookup("layer", "InputLayer")(
            shape=(1,), dtype="string"), tv])
        engine.save(model, tmp_path / f"{name}.keras")
        np.save(tmp_path / f"{name}_y.npy", np.asarray(model(x)))
    np.save(tmp_path / "x.npy", x)
    script = (
        "import os, numpy as np; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
        "import keras\n"
        f"d = r'{tmp_path}'\n"
        "x = np.load(os.path.join(d, 'x.npy'))\n"
        "for name in ('tfidf', 'int'):\n"
        "    m = keras.models.load_model(os.path.join(d, name + '.keras'))\n"
        "    y, want = np.asarray(m(x)), np.load(os.path.join(d, name + '_y.npy'))\n"
        "    print(name, float(np.abs(y - want).max()), y.dtype == want.dtype)\n")
    run = subprocess.run([exe, "-c", script], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    got = {n: (float(e), same) for n, e, same in
           (line.split() for line in run.stdout.strip().splitlines())}
    assert set(got) == {"tfidf", "int"}
    assert all(e <= 1e-5 and same == "True" for e, same in got.values()), got
