"""StringLookup, IntegerLookup, TextVectorization, Hashing and HashedCrossing: Keras's
recorded cases (tests/data/keras/text, written by ``python -m tests.oracle_gen.text``) give
the same outputs exactly, with Keras's dtypes, configs and vocabularies; bad configs are
ConfigErrors naming the field."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import DATA, json_roundtrip, load_case

import engine
from engine.budget import weight_budget
from engine.errors import BudgetError, ConfigError
from engine.layers.preprocessing import (
    HashedCrossing,
    Hashing,
    IntegerLookup,
    StringLookup,
    TextVectorization,
)
from engine.layers.preprocessing.hash_functions import fingerprint64, siphash24

TEXT = DATA / "text"
CASES = [load_case(p) for d in ("k3", "k2") for p in sorted((TEXT / d).glob("*.json"))]
FMT = {"k3": "keras3", "k2": "keras2"}


def _cfg(case, form: str):
    if form == "serialized":
        return case.meta["serialized"]
    cfg = {"class_name": case.class_name, "config": case.meta["config"]}
    return {"module": "keras.layers", **cfg} if case.fmt == "k3" else cfg


def _run(layer, case):
    xs = case.inputs
    return layer(list(xs) if case.meta["call"] == "list" else xs[0])


def test_corpus_is_there():
    classes = {c.class_name for c in CASES}
    assert classes == {"StringLookup", "IntegerLookup", "TextVectorization", "Hashing",
                       "HashedCrossing"}
    assert len(CASES) >= 80


@pytest.mark.parametrize("form", ["serialized", "config"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_outputs_equal_keras_exactly(case, form):
    layer = engine.deserialize(_cfg(case, form))
    got = np.asarray(_run(layer, case))
    want = case.outputs[0]
    assert got.shape == want.shape
    if want.dtype.kind == "U":
        assert got.dtype.kind == "U"
        assert got.tolist() == want.tolist()
        return
    assert got.dtype == np.dtype(case.meta["outputs"][0]["dtype"]), "dtype differs from Keras's"
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_config_equals_keras_key_for_key(case):
    layer = engine.deserialize(_cfg(case, "serialized"))
    got = json_roundtrip(layer.get_config(FMT[case.fmt]))
    want = case.meta["config"]
    assert list(got) == list(want), "key order differs from Keras's"
    assert got == want


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_serialize_equals_keras(case):
    layer = engine.deserialize(_cfg(case, "serialized"))
    _run(layer, case)
    got = json_roundtrip(engine.serialize(layer, format=FMT[case.fmt]))
    want = dict(case.meta["serialized"])
    assert got == want
    again = engine.deserialize(got)
    assert json_roundtrip(again.get_config(FMT[case.fmt])) == json_roundtrip(
        layer.get_config(FMT[case.fmt]))


@pytest.mark.parametrize("case", [c for c in CASES if c.meta.get("vocabulary") is not None],
                         ids=lambda c: c.id)
def test_vocabulary_equals_keras(case):
    layer = engine.deserialize(_cfg(case, "serialized"))
    assert layer.get_vocabulary() == case.meta["vocabulary"]
    assert layer.vocabulary_size() == case.meta["vocabulary_size"]


@pytest.mark.parametrize("case", [c for c in CASES if c.meta["call"] == "single"],
                         ids=lambda c: c.id)
def test_compute_output_shape(case):
    layer = engine.deserialize(_cfg(case, "serialized"))
    shape = tuple(case.meta["inputs"][0]["shape"])
    got = tuple(layer.compute_output_shape(shape))
    want = tuple(case.meta["outputs"][0]["shape"])
    if case.class_name == "TextVectorization" and case.meta["config"]["output_mode"] == "int" \
            and case.meta["config"]["output_sequence_length"] is None:
        want = want[:-1] + (None,)  # the longest sample: known only from the data
    assert got == want


# -- the hashes ---------------------------------------------------------------------------
def test_fingerprint64_reference_values():
    # FarmHash Fingerprint64 values (farmhash's own test vectors' inputs, TF's outputs)
    assert fingerprint64(b"") == 0x9AE16A3B2F90404F
    h = {n: fingerprint64(bytes(range(n))) for n in (3, 7, 15, 31, 63, 64, 65, 200)}
    assert len(set(h.values())) == len(h)


def test_siphash_reference_vector():
    # the SipHash-2-4 paper's test vector: key 00..0f, message 00..0e
    key = (int.from_bytes(bytes(range(8)), "little"), int.from_bytes(bytes(range(8, 16)),
                                                                     "little"))
    assert siphash24(key, bytes(range(15))) == 0xA129CA6149BE45E5


# -- text rules -----------------------------------------------------------------------------
def test_standardize_lowers_ascii_only_and_splits_on_ascii_whitespace():
    tv = TextVectorization(vocabulary=["über", "Über", "a\xa0b", "x"], standardize="lower")
    out = tv(np.array(["ÜBER a\xa0b\tx"]))
    assert out.tolist() == [[3, 4, 5]]


def test_set_vocabulary_and_assets_round_trip():
    sl = StringLookup()
    sl.set_vocabulary(["x", "y"])
    assert sl.get_vocabulary() == ["[UNK]", "x", "y"] and sl.vocabulary_size() == 3
    files = sl.save_assets()
    assert files == {"vocabulary.txt": b"[UNK]\nx\ny"}
    other = StringLookup()
    other.load_assets(files)
    assert other.get_vocabulary() == sl.get_vocabulary()
    assert StringLookup(vocabulary=["x"]).save_assets() == {}  # inline: in the config
    tv = TextVectorization()
    tv.load_assets({"vocabulary.txt": b"\n[UNK]\nthe\ncat\n"})
    assert tv(np.array(["the cat dog"])).tolist() == [[2, 3, 1]]
    il = IntegerLookup()
    il.load_assets({"vocabulary.txt": b"-1\n5\n9"})
    assert il(np.array([9, 5, 4])).tolist() == [2, 1, 0]


@pytest.mark.parametrize("cls,config,field", [
    ("StringLookup", {"vocabulary": "/etc/passwd"}, "vocabulary"),
    ("StringLookup", {"vocabulary": ["a", "b", "a"]}, "vocabulary"),
    ("StringLookup", {"vocabulary": ["a", ""], "mask_token": ""}, "vocabulary"),
    ("StringLookup", {"vocabulary": ["a", 3]}, "vocabulary[1]"),
    ("StringLookup", {"sparse": True, "output_mode": "count"}, "sparse"),
    ("StringLookup", {"invert": True, "output_mode": "count"}, "invert"),
    ("StringLookup", {"vocabulary": ["a"], "output_mode": "tf_idf"}, "idf_weights"),
    ("StringLookup", {"vocabulary": ["a", "b", "c"], "max_tokens": 3}, "vocabulary"),
    ("IntegerLookup", {"vocabulary": [1, 2, 1]}, "vocabulary"),
    ("IntegerLookup", {"vocabulary": ["a"]}, "vocabulary[0]"),
    ("IntegerLookup", {"vocabulary": [1], "salt": 3}, "salt"),
    ("TextVectorization", {"ragged": True}, "ragged"),
    ("TextVectorization", {"vocabulary": "vocab.txt"}, "vocabulary"),
    ("TextVectorization", {"output_mode": "count", "output_sequence_length": 3},
     "output_sequence_length"),
    ("TextVectorization", {"ngrams": [0]}, "ngrams"),
    ("Hashing", {"num_bins": 0}, "num_bins"),
    ("Hashing", {"num_bins": 3, "salt": "abc"}, "salt"),
    ("Hashing", {"num_bins": 3, "sparse": True, "output_mode": "count"}, "sparse"),
    ("HashedCrossing", {"num_bins": 3, "sparse": True, "output_mode": "one_hot"}, "sparse"),
])
def test_bad_configs_name_the_field(cls, config, field):
    with pytest.raises(ConfigError) as e:
        engine.deserialize({"class_name": cls, "config": config})
    assert e.value.path == f"config.{field}", str(e.value)


def test_budget_counts_vocabulary_and_widths():
    with weight_budget(100):
        with pytest.raises(BudgetError):
            StringLookup(vocabulary=[str(i) for i in range(200)])
        with pytest.raises(BudgetError):
            TextVectorization(max_tokens=1000)
        with pytest.raises(BudgetError):
            Hashing(num_bins=1000, output_mode="count")
        Hashing(num_bins=1000)  # int output: no width
        with pytest.raises(BudgetError):
            TextVectorization(output_sequence_length=10**6)


def test_num_oov_zero_refuses_unknown_values():
    sl = StringLookup(vocabulary=["a"], num_oov_indices=0)
    with pytest.raises(ValueError, match="num_oov_indices=0"):
        sl(np.array(["b"]))


def test_hashed_crossing_checks_inputs():
    hc = HashedCrossing(num_bins=4)
    with pytest.raises(ValueError, match="at least two"):
        hc([np.array([1])])
    with pytest.raises(ValueError, match="same shape"):
        hc([np.array([1, 2]), np.array([1])])


def test_bytes_inputs_equal_str_inputs():
    sl = StringLookup(vocabulary=["ü", "b"])
    assert sl(np.array(["ü", "b", "c"])).tolist() == sl(
        np.array(["ü".encode(), b"b", b"c"])).tolist()
    h = Hashing(num_bins=97)
    assert h(np.array(["ü", "b"])).tolist() == h(np.array(["ü".encode(), b"b"])).tolist()


def test_one_pass_path_equals_per_sample_path():
    """The joined one-pass tokenizer (str/bytes arrays) and the per-sample one (object
    arrays, text holding NULs) give the same ids."""
    vocab = ["the", "cat", "sat", "a\x00b", "dog"]
    text = np.array(["The cat sat.", "", "  dog\tdog  the ", "Cat, CAT! cat?", "a\x00b cat"])
    for mode in ("int", "count", "multi_hot"):
        tv = TextVectorization(vocabulary=vocab, output_mode=mode)
        fast = tv(text[:4])
        slow = tv(text[:4].astype(object))
        np.testing.assert_array_equal(fast, slow)
        np.testing.assert_array_equal(tv(text[:4].astype("S")), slow)
        assert tv._fast_ids(text, 1) is None  # a NUL in the text: per-sample path
        with_nul = tv(text)
        np.testing.assert_array_equal(with_nul[:4, :fast.shape[-1]] if mode == "int"
                                      else with_nul[:4], fast)
    assert TextVectorization(vocabulary=vocab)(text)[4].tolist()[:2] == [5, 3]


def test_vectorised_fingerprint_equals_scalar():
    from engine.layers.preprocessing.hash_functions import fingerprint64_short, hash_buckets

    rng = np.random.default_rng(3)
    items = [bytes(rng.integers(1, 256, n, dtype=np.uint8)) for n in range(17)
             for _ in range(20)]
    got = fingerprint64_short(np.array(items, dtype="S"))
    assert [int(g) for g in got] == [fingerprint64(b) for b in items]
    mixed = items + [b"x" * 40, b"ab\x00", b"\x00", "é" * 9]
    want = [fingerprint64(b if isinstance(b, bytes) else b.encode()) % 1009 for b in mixed]
    assert hash_buckets(np.array(mixed, dtype=object), 1009).tolist() == want
    ints = np.array([0, -1, 7, 2**62, -2**63], np.int64)
    assert hash_buckets(ints, 1009).tolist() == [fingerprint64(str(v).encode()) % 1009
                                                 for v in ints.tolist()]


ASSET_CASES = [load_case(p) for p in sorted((TEXT / "k3_assets").glob("*.json"))]


@pytest.mark.parametrize("case", ASSET_CASES, ids=lambda c: c.id)
def test_vocabulary_from_keras_assets(case):
    """Layers adapted in Keras and saved as .keras: the config has no vocabulary; the
    assets (and own variables) Keras wrote give it, and saving writes them back alike."""
    assert len(ASSET_CASES) == 4
    layer = engine.deserialize(case.meta["serialized"])
    own = {k: case.arrays[f"var_{k}"] for k in case.meta["own_variables"]}
    layer.load_own_variables(own)
    layer.load_assets({k: v.encode() for k, v in case.meta["assets"].items()})
    assert layer.get_vocabulary() == case.meta["vocabulary"]
    got, want = np.asarray(layer(case.arrays["x0"])), case.arrays["y0"]
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert layer.save_assets() == {k: v.encode() for k, v in case.meta["assets"].items()}
    saved = layer.save_own_variables()
    assert sorted(saved) == sorted(own)
    for k in own:
        np.testing.assert_array_equal(saved[k], own[k])


def test_mask_and_oov_buckets_same_for_str_bytes_and_object_inputs():
    sl = StringLookup(vocabulary=["ü", "b"], mask_token="", num_oov_indices=3)
    text = ["ü", "", "zz", "b", "qq"]
    want = sl(np.array(text)).tolist()
    assert want[1] == 0 and want[0] == 4
    assert sl(np.array([t.encode() for t in text])).tolist() == want
    assert sl(np.array(["ü", b"", "zz", b"b", "qq"], dtype=object)).tolist() == want
    with pytest.raises(ConfigError, match="got the int 3"):
        sl(np.array(["a", 3], dtype=object))
    with pytest.raises(ConfigError, match="expects strings"):
        sl(np.array([1, 2]))


def test_keras_archive_carries_vocabulary_assets_and_idf_weights(tmp_path):
    """engine.save writes the vocabulary under assets/<layer path>/ and tf-idf weights in
    model.weights.h5, where Keras writes them (checked against Keras 3.15.1 by hand: real
    Keras loads this file with the same outputs); engine.load reads them back."""
    import zipfile

    sl = StringLookup(output_mode="tf_idf", name="lookup")
    sl.set_vocabulary(["a", "b", "c"], idf_weights=[0.5, 1.0, 1.5])
    model = engine.Sequential([engine.lookup("layer", "InputLayer")(shape=(4,),
                                                                     dtype="string"), sl])
    x = np.array([["a", "b", "zz", "c"]])
    want = model(x)
    path = tmp_path / "text.keras"
    engine.save(model, path)
    with zipfile.ZipFile(path) as zf:
        assert zf.read("assets/layers/string_lookup/vocabulary.txt") == b"[UNK]\na\nb\nc"
    again = engine.load(path)
    assert again.layers[-1].get_vocabulary() == ["[UNK]", "a", "b", "c"]
    np.testing.assert_array_equal(again(x), want)
    with pytest.raises(ValueError, match="text"):
        again(np.zeros((1, 4)))
