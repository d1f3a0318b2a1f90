"""Variable-length attributes in every layout libhdf5 may find them in (issue 14): a
committed datatype, dense attribute storage with nested indirect blocks and a B-tree of
huge objects, shared messages (SOHM) and filtered heaps (refused), a user block; the checks'
read budget; and deflated weights streamed to a temporary file instead of memory. The
subprocess suite (tests/hostile, ``h5_layout_*``) loads the same files under a memory cap."""

from __future__ import annotations

import io
import json
import zipfile

import h5py
import numpy as np
import pytest

import engine
from engine.files.h5_vlen import check_vlen_attribute, vlen_descriptors
from engine.files.safety import FileError, UnsafeFileError
from tests.hostile import files_layouts
from tests.hostile.files import _archive, _dense_model, _vlen_claim, _weights_h5


@pytest.fixture
def small():
    return _dense_model(4, 8)


def _load(data: bytes, **kw):
    return engine.load(data, lazy=False, **kw)


def _vlen_h5(small, **file_kw):
    return files_layouts._vlen_legacy(small, **file_kw)


@pytest.mark.parametrize("file_kw", [{}, {"libver": "latest"}])
def test_vlen_committed_datatype_followed(small, file_kw):
    """A committed string type (a shared datatype message): followed to the datatype's own
    object header; the file loads, and a claim there is measured."""
    data, text = files_layouts._vlen_legacy(small, committed=True, **file_kw)
    raw = io.BytesIO(data)
    with h5py.File(raw, "r") as f:
        assert f.attrs.get_id("model_config").get_type().committed()
        found = vlen_descriptors(raw, h5py.h5o.get_info(f.id).addr, "model_config")
    assert [x[0] for x in found] == [len(text)]
    _load(data)
    with pytest.raises(UnsafeFileError, match="more than the whole file"):
        _load(_vlen_claim(data, text, claim=files_layouts.BOMB))


def test_vlen_dense_storage_nested_and_huge(small):
    """Dense attribute storage as h5py writes it for many or big attributes: indirect
    blocks below the heap's root, huge objects in a B-tree with internal nodes."""
    data, text = files_layouts.nested_heap(small)
    raw = io.BytesIO(data)
    with h5py.File(raw, "r") as f:
        found = vlen_descriptors(raw, h5py.h5o.get_info(f.id).addr, "model_config")
    assert [x[0] for x in found] == [len(text)]
    _load(data)
    data, first = files_layouts.huge_names(small)
    raw = io.BytesIO(data)
    with h5py.File(raw, "r") as f:
        g = f["model_weights"]
        found = vlen_descriptors(raw, h5py.h5o.get_info(g.id).addr, "layer_names")
        assert [x[0] for x in found] == [len(n.encode()) for n in g.attrs["layer_names"]]
    with pytest.raises(UnsafeFileError, match="more than the whole file"):
        _load(_vlen_claim(data, first, claim=files_layouts.BOMB))


def test_vlen_layouts_not_followed_are_refused(small):
    """Shared attribute messages (SOHM) and a filtered fractal heap (neither Keras nor
    h5py writes them; libhdf5 never filters attribute heaps): refused naming the
    attribute, before libhdf5 reads it; so is a header the parser cannot follow."""
    data = files_layouts.sohm(small)
    with h5py.File(io.BytesIO(data), "r") as f:  # h5py reads it
        assert json.loads(f.attrs["model_config"])
    with pytest.raises(UnsafeFileError, match=r"attribute 'model_config'.*\(SOHM\)"):
        _load(data)
    data, addr = files_layouts.filtered_heap(small)
    with pytest.raises(UnsafeFileError, match="model_config.*I/O filters"):
        check_vlen_attribute(io.BytesIO(data), addr, "model_config", 2**20, "model_config")
    data, _ = _vlen_h5(small)
    raw = io.BytesIO(data)
    with h5py.File(raw, "r") as f:
        addr = h5py.h5o.get_info(f.id).addr
    broken = bytearray(data)
    broken[addr] = 7  # not an object header version the parser (or libhdf5) knows
    with pytest.raises(UnsafeFileError, match="cannot be measured"):
        check_vlen_attribute(io.BytesIO(bytes(broken)), addr, "model_config", 2**20, "x")
    with pytest.raises(UnsafeFileError, match="not where libhdf5 looks"):
        check_vlen_attribute(raw, addr, "no_such_attribute", 2**20, "x")


@pytest.mark.parametrize("size", [512, 1024, 4096])
def test_user_block_recognised_and_parsed(small, size, tmp_path):
    """A user block before the superblock: sniffed as HDF5 (bytes, file objects, paths
    without a .h5 name), and addresses read relative to the superblock - where it is,
    not where its stored base address says (libhdf5 does the same)."""
    data, text = files_layouts._vlen_legacy(small, userblock_size=size)
    assert data[size:size + 4] == b"\x89HDF"
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    for src in (data, io.BytesIO(data), path):
        _load(src)
    with pytest.raises(UnsafeFileError, match="more than the whole file"):
        _load(_vlen_claim(data, text, claim=files_layouts.BOMB, base=size))


def test_deflated_weights_streamed_not_inflated_in_memory(small, tmp_path):
    """A deflated model.weights.h5 is inflated piece by piece into a temporary file
    (deleted when the store closes): the load's peak Python memory stays far below the
    member's size; a member that inflates to other than its declared size is refused."""
    import tracemalloc

    import engine
    from engine.files import keras_zip

    m = _dense_model(1024, 1024, n=4)  # 4 x 4 MiB kernels
    rng = np.random.default_rng(0)
    m.set_weights([rng.standard_normal(w.shape).astype("f4") for w in m.get_weights()])
    weights = _weights_h5(m)
    data = _archive(m, weights, compress=zipfile.ZIP_DEFLATED)
    tracemalloc.start()
    model = engine.load(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < len(weights) / 4, (peak, len(weights))
    np.testing.assert_array_equal(model.get_weights()[0], m.get_weights()[0])
    model.close()
    opened = []
    real = keras_zip._inflated

    def spy(*a):
        tmp = real(*a)
        opened.append(tmp)
        return tmp
    import unittest.mock
    with unittest.mock.patch.object(keras_zip, "_inflated", spy):
        model = engine.load(data)
        assert not opened[0].closed
        model.close()
    assert opened[0].closed  # the anonymous temporary file is gone with the store
    short = bytearray(data)
    at = short.index(b"model.weights.h5", short.index(b"PK\x01\x02"))  # central entry
    entry = short.rindex(b"PK\x01\x02", 0, at)
    size = int.from_bytes(short[entry + 24:entry + 28], "little")
    short[entry + 24:entry + 28] = (size - 1000).to_bytes(4, "little")
    with pytest.raises(FileError, match="model.weights.h5"):
        engine.load(bytes(short))


def test_vlen_checks_read_a_bounded_share_of_the_file(small, monkeypatch):
    """Every lookup reads the object's header (and its dense storage) again, so the bytes
    the checks read from one file are capped (READ_FACTOR times its size, at least
    MAX_HEAP_BYTES): objects sharing one big heap cannot make each check rescan it. A new
    load counts afresh; a block listed twice in a heap is refused."""
    from engine.files import h5_format

    data, _ = files_layouts.nested_heap(small)
    raw = io.BytesIO(data)
    with h5py.File(raw, "r") as f:
        addr = h5py.h5o.get_info(f.id).addr
    monkeypatch.setattr(h5_format, "MAX_HEAP_BYTES", 4 * len(data))
    monkeypatch.setattr(h5_format, "READ_FACTOR", 4)
    checks = 0
    with pytest.raises(UnsafeFileError, match="more than 4 times its size"):
        for checks in range(1, 100):  # noqa: B007 (counted)
            check_vlen_attribute(raw, addr, "model_config", 2**20, "model_config")
    assert 2 <= checks <= 8
    h5_format.forget(raw)
    check_vlen_attribute(raw, addr, "model_config", 2**20, "model_config")
    _load(data)  # each load has its own count
    _load(data)
