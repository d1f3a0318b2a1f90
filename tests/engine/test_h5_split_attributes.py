"""Legacy ``.h5`` files whose ``layer_names`` / ``weight_names`` Keras 2 split into parts
``layer_names0``, ``layer_names1``, ... (tf_keras ``save_attributes_to_hdf5_group``: an
attribute over HDF5's 64 KB object-header limit is cut with ``np.array_split``)."""

from __future__ import annotations

import io

import h5py
import numpy as np
import pytest

from engine.errors import WeightsError
from engine.files import load_weights, safety
from engine.files.safety import FileError, UnsafeFileError
from tests.hostile.files import _dense_model


def _split(group, name, data, parts):
    """``data`` written as tf_keras writes an attribute it had to split."""
    for i, chunk in enumerate(np.array_split(np.asarray(data), parts)):
        group.attrs[f"{name}{i}"] = chunk


def _weights_file(model, parts=3, weight_parts=1, edit=None):
    """A tf_keras ``save_weights('w.h5')`` file for ``model`` (random values), its
    ``layer_names`` split into ``parts``, the first layer's ``weight_names`` into
    ``weight_parts``; the file and the values by weight path."""
    rng = np.random.default_rng(0)
    values = {}
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        _split(f, "layer_names", [x.name.encode() for x in model.layers], parts)
        for i, layer in enumerate(model.layers):
            g = f.create_group(layer.name)
            wn = [f"{layer.name}/{w.name}:0".encode() for w in layer.weights]
            if i == 0 and weight_parts > 1:
                _split(g, "weight_names", wn, weight_parts)
            else:
                g.attrs["weight_names"] = np.array(wn, dtype="S")
            for w, n in zip(layer.weights, wn):
                values[n.decode()] = rng.standard_normal(np.shape(w.value)).astype("float32")
                g.create_dataset(n.decode(), data=values[n.decode()])
        if edit is not None:
            edit(f)
    return buf.getvalue(), values


def _check_loaded(model, values):
    for layer in model.layers:
        for w in layer.weights:
            np.testing.assert_array_equal(np.asarray(w.value),
                                          values[f"{layer.name}/{w.name}:0"])


def test_split_layer_names_load_in_order():
    model = _dense_model(3, 2, n=7)
    data, values = _weights_file(model, parts=3)
    with h5py.File(io.BytesIO(data), "r") as f:
        assert sorted(k for k in f.attrs) == ["layer_names0", "layer_names1", "layer_names2"]
        assert [len(f.attrs[f"layer_names{i}"]) for i in range(3)] == [3, 2, 2]
    load_weights(model, data)
    _check_loaded(model, values)


def test_split_weight_names_load_in_order():
    model = _dense_model(3, 2, n=2)
    data, values = _weights_file(model, parts=2, weight_parts=2)
    with h5py.File(io.BytesIO(data), "r") as f:
        assert "weight_names1" in f["d0"].attrs and "weight_names" not in f["d0"].attrs
    load_weights(model, data)
    _check_loaded(model, values)


def test_whole_attribute_wins_over_parts():
    """tf_keras reads ``layer_names`` when it exists and looks for parts only otherwise."""
    model = _dense_model(3, 2, n=4)

    def stray_part(f):
        f.attrs["layer_names"] = np.array([x.name.encode() for x in model.layers])
        f.attrs["layer_names0"] = np.array([b"nope"])
    data, values = _weights_file(model, parts=1, edit=stray_part)
    load_weights(model, data)
    _check_loaded(model, values)


def test_parts_stop_at_first_missing_index():
    model = _dense_model(3, 2, n=6)

    def gap(f):
        del f.attrs["layer_names1"]  # layer_names2 is then never read, as in tf_keras
    data, _ = _weights_file(model, parts=3, edit=gap)
    with pytest.raises(WeightsError, match="weights for 2 layer"):
        load_weights(model, data)


def test_split_names_counted_together_before_any_part_is_read(monkeypatch):
    model = _dense_model(3, 2, n=7)
    data, _ = _weights_file(model, parts=3)
    monkeypatch.setattr(safety, "MAX_H5_NAMES", 6)  # each part (3, 2, 2) is under it
    read = []
    original = h5py.AttributeManager.__getitem__

    def counting(self, name):
        read.append(name)
        return original(self, name)
    monkeypatch.setattr(h5py.AttributeManager, "__getitem__", counting)
    with pytest.raises(UnsafeFileError, match=r"7 names.*MAX_H5_NAMES"):
        load_weights(model, data)
    assert not [x for x in read if x.startswith("layer_names")]
    monkeypatch.setattr(safety, "MAX_H5_NAMES", 7)
    load_weights(model, data)


def test_too_many_parts_refused(monkeypatch):
    model = _dense_model(3, 2, n=7)
    data, _ = _weights_file(model, parts=7)
    monkeypatch.setattr(safety, "MAX_H5_NAMES", 5)
    with pytest.raises(UnsafeFileError, match="more than 5 parts"):
        load_weights(model, data)


def test_each_part_is_checked_as_text():
    model = _dense_model(3, 2, n=4)

    def numbers(f):
        f.attrs["layer_names1"] = np.array([1, 2])
    data, _ = _weights_file(model, parts=2, edit=numbers)
    with pytest.raises(FileError, match="'layer_names1'.*expected text"):
        load_weights(model, data)


def _long_named_model(n, length):
    import engine

    layers = [{"class_name": "InputLayer", "config": {"batch_shape": [None, 2], "name": "x"}}]
    layers += [{"class_name": "Dense", "config": {"units": 3, "name": f"d{i}".ljust(length, "_")}}
               for i in range(n)]
    return engine.deserialize({"class_name": "Sequential", "config": {"name": "m",
                                                                      "layers": layers}})


def test_vlen_parts_measured_against_what_remains(monkeypatch):
    """Variable-length parts: each part's claims are measured, before it is read, against
    the bytes left after the parts before it."""
    model = _long_named_model(4, 100)
    names = [x.name for x in model.layers]

    def vlen(f):
        for i, chunk in enumerate(np.array_split(np.array(names, dtype=object), 2)):
            del f.attrs[f"layer_names{i}"]
            f.attrs.create(f"layer_names{i}", chunk, dtype=h5py.string_dtype())
    data, values = _weights_file(model, parts=2, edit=vlen)
    load_weights(model, data)
    _check_loaded(model, values)
    monkeypatch.setattr(safety, "MAX_JSON_BYTES", 300)  # part 0: 200 bytes, part 1: 200
    with pytest.raises(UnsafeFileError, match=r"'layer_names1'.*claim 200 bytes, over the "
                       r"limit of 100; refused before"):
        load_weights(model, data)
