"""One pass over an HDF5 file (issue 12's load time of big models): the safety walk records
every dataset's shape, dtype and read cost and every group's size, and the reader asks
that index instead of the file; a file the index cannot describe whole (an object reached
by two hard links) falls back to the file. Also legacy ``.h5`` files written by
``engine.save``, and the read budget counted from the index."""

from __future__ import annotations

import io

import h5py
import numpy as np
import pytest

import engine
from engine.errors import WeightsError
from engine.files import safety
from engine.files.h5_store import H5Store
from engine.files.safety import FileError, check_h5
from tests.hostile.files import _archive, _dense_model, _weights_h5


def _model(n: int = 3, units: int = 4):
    m = _dense_model(units, 8, n=n)
    rng = np.random.default_rng(1)
    m.set_weights([rng.standard_normal(w.shape).astype("f4") for w in m.get_weights()])
    return m


def test_index_describes_every_dataset_and_group():
    m = _model()
    f = h5py.File(io.BytesIO(_weights_h5(m)), "r")
    index = check_h5(f, "x")
    found = {}
    f.visititems(lambda name, obj: found.__setitem__(name, obj))
    datasets = {k: v for k, v in found.items() if isinstance(v, h5py.Dataset)}
    assert set(index.datasets) == set(datasets)
    for name, ds in datasets.items():
        shape, dtype, cost = index.datasets[name]
        assert (shape, dtype, cost) == (ds.shape, ds.dtype, ds.size * ds.dtype.itemsize)
    groups = {k: len(v) for k, v in found.items() if isinstance(v, h5py.Group)}
    assert {k: index.groups[k] for k in groups} == groups and index.groups[""] == len(f)
    assert index.complete
    assert index.has_datasets("layers/dense_1") and not index.has_datasets("nothing")


def test_reader_asks_the_index_not_the_file(monkeypatch):
    """Once the walk ran, looking weights up does not open groups through h5py's
    high-level API (the per-object cost that made a 3,000-layer load take seconds)."""
    m = _model()
    data = _archive(m, _weights_h5(m))
    calls = []
    original = h5py.Group.get

    def counting(self, *a, **kw):
        calls.append(a[0] if a else None)
        return original(self, *a, **kw)

    monkeypatch.setattr(h5py.Group, "get", counting)
    model = engine.load(data, lazy=False)
    assert calls == []
    for a, b in zip(model.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_hard_link_alias_falls_back_to_the_file():
    """A group reached through two hard links: the index is incomplete and the reader
    looks the second path up in the file; datasets linked twice share their entry."""
    m = _model(n=1)
    f = h5py.File(io.BytesIO(_weights_h5(m)), "r+")
    f["zalias"] = f["layers"]  # a second hard link to the layers group
    f["layers/dense/vars/again"] = f["layers/dense/vars/0"]
    store = H5Store(f, None, "x")
    store.check()
    assert not store.index.complete
    assert store.index.datasets["layers/dense/vars/again"] == \
        store.index.datasets["layers/dense/vars/0"]
    assert "zalias/dense/vars/0" not in store.index.datasets
    var = m.layers[0].weights[0]
    assert store._info("zalias/dense/vars/0")[0] == var.shape  # found in the file
    assert store.group_size("zalias/dense/vars") == 3
    assert store.has_datasets("zalias/dense")
    with pytest.raises(FileError, match="missing"):
        store.dataset("zalias/dense/vars/9", var, "dense")
    with pytest.raises(FileError, match="not a dataset"):
        store.dataset("zalias/dense/vars", var, "dense")
    with pytest.raises(WeightsError, match="shape"):
        store.dataset("layers/dense/vars/1", var, "dense")


def test_read_budget_counted_from_the_index(monkeypatch):
    m = _model(n=2, units=64)
    data = _archive(m, _weights_h5(m))
    total = sum(w.size * 4 for w in m.get_weights())
    monkeypatch.setattr(safety, "MAX_H5_READ_BYTES", total - 1)
    with pytest.raises(FileError, match="MAX_H5_READ_BYTES"):
        engine.load(data, lazy=False)
    monkeypatch.setattr(safety, "MAX_H5_READ_BYTES", total)
    engine.load(data, lazy=False)


@pytest.mark.parametrize("trainable", [True, False])
def test_save_legacy_h5_round_trip(tmp_path, trainable):
    """``engine.save(model, 'm.h5')`` writes tf_keras's layout (checked by hand with
    tf_keras 2.21 and Keras 3.15: both load it with equal outputs); it loads back whole."""
    m = engine.deserialize({"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 4], "name": "x"}},
        {"class_name": "Dense", "config": {"units": 3, "name": "d"}},
        {"class_name": "BatchNormalization", "config": {"name": "bn",
                                                        "trainable": trainable}}]}})
    rng = np.random.default_rng(2)
    m.set_weights([rng.random(w.shape).astype("f4") + 0.5 for w in m.get_weights()])
    path = tmp_path / "m.h5"
    engine.save(m, path)
    with h5py.File(path, "r") as f:
        assert [n.decode() for n in f["model_weights"].attrs["layer_names"]] == ["d", "bn"]
        names = [n.decode() for n in f["model_weights/bn"].attrs["weight_names"]]
        assert names[-2:] == ["bn/moving_mean:0", "bn/moving_variance:0"]
    x = rng.random((5, 4)).astype("f4")
    np.testing.assert_array_equal(engine.load(path, lazy=False)(x), m(x))
    with pytest.raises(ValueError, match=".keras, .h5 or .json"):
        engine.save(m, tmp_path / "m.bin")


def test_names_not_utf8_are_left_out_of_the_index():
    """A link name that is not UTF-8 cannot be asked for by a model (its names are UTF-8
    text): it is kept out of the index (no stand-in like U+FFFD that another name could
    match), which then falls back to the file for paths it does not list."""
    m = _model(n=1)
    f = h5py.File(io.BytesIO(_weights_h5(m)), "r+")
    f.create_group(b"odd\xff").create_dataset("x", data=np.zeros(3, "f4"))
    f.create_dataset("odd\ufffd", data=np.zeros(5, "f4"))
    index = check_h5(f, "x")
    assert not index.complete
    assert index.datasets["odd\ufffd"][0] == (5,)
    assert not any("odd\ufffd/" in k for k in index.datasets)
