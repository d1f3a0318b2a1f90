"""Hostile model files (issue 14): HDF5 filters, compression bombs, variable-length
attributes, archive members, special files, counts and message lengths, layer and node
caps, JSON depth and errors outside the documented family. The subprocess suite
(tests/hostile) runs the same kinds of files under a memory cap; these tests check the
rules themselves, and that the files Keras and h5py write still load."""

from __future__ import annotations

import io
import json
import os
import signal
import zipfile

import h5py
import numpy as np
import pytest

import engine
from engine.budget import DEFAULT_MAX_LAYERS, DEFAULT_MAX_NODES, Budget
from engine.errors import BudgetError, ConfigError, WeightsError
from engine.files import load_weights, safety
from engine.files.h5_vlen import check_vlen_attribute, vlen_descriptors
from engine.files.safety import FileError, UnsafeFileError
from engine.files.strict_json import MAX_JSON_DEPTH, json_depth, parse
from engine.models.summary import format_shape
from tests.hostile.files import (
    _archive,
    _dense_model,
    _legacy_h5,
    _lzf,
    _member,
    _patch_filter,
    _vlen_claim,
    _weights_h5,
)


@pytest.fixture
def small():
    return _dense_model(4, 8)


@pytest.fixture
def count_reads(monkeypatch):
    """Call it to start counting tensor reads (after the file was made); the list."""
    reads: list[str] = []
    original = h5py.Dataset.__getitem__

    def counting(self, key):
        reads.append(self.name)
        return original(self, key)

    def start() -> list[str]:
        monkeypatch.setattr(h5py.Dataset, "__getitem__", counting)
        return reads
    return start


def _load(data: bytes, **kw):
    return engine.load(data, lazy=False, **kw)


# -- 1. filters -------------------------------------------------------------------------


def test_unknown_filter_refused_before_any_read(count_reads):
    m = _dense_model(64, 64)
    data = _archive(m, _patch_filter(_weights_h5(m, _lzf)))
    reads = count_reads()
    with pytest.raises(UnsafeFileError, match="filter 307"):
        _load(data)
    assert reads == []  # refused by the check, before any tensor was read


def test_unknown_filter_refused_in_legacy_h5():
    m = _dense_model(64, 64)

    def lzf_all(f):
        for layer in m.layers:
            g = f["model_weights"][layer.name]
            for w in layer.weights:
                key = f"{layer.name}/{w.name}:0"
                arr = g[key][()]
                del g[key]
                _lzf(g, key, arr)
    with pytest.raises(UnsafeFileError, match="filter 307"):
        _load(_patch_filter(_legacy_h5(m, extra=lzf_all)))


@pytest.mark.parametrize("kw", [
    {"compression": "gzip", "shuffle": True, "fletcher32": True},
    {"compression": "lzf"},
    {"compression": "gzip", "compression_opts": 9, "chunks": True},
    {"scaleoffset": 0},  # integer-exact for zeros
])
def test_builtin_filters_load(kw):
    m = _dense_model(64, 64)

    def write(g, name, arr):
        g.create_dataset(name, data=arr, **kw)
    loaded = _load(_archive(m, _weights_h5(m, write)))
    for a, b in zip(loaded.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_allowed_filters_are_those_h5py_ships():
    from h5py import h5z
    for fid in safety.ALLOWED_H5_FILTERS:
        assert h5z.filter_avail(fid), fid  # built in: no plugin is searched for them


# -- 2. compression bombs ---------------------------------------------------------------


def test_chunk_larger_than_dataset_refused(small, count_reads):
    def big_chunk(g, name, arr):
        g.create_dataset(name, data=arr, chunks=(2**18,) + arr.shape[1:],
                         maxshape=(None,) + arr.shape[1:], compression="gzip")
    data = _archive(small, _weights_h5(small, big_chunk))
    reads = count_reads()
    with pytest.raises(UnsafeFileError, match="compression bomb"):
        _load(data)
    assert reads == []


def test_small_chunks_larger_than_a_tiny_dataset_load(small):
    # h5py may give a tiny dataset a chunk beyond its shape: fine while the chunk is small
    def chunk(g, name, arr):
        g.create_dataset(name, data=arr, chunks=(64,) + arr.shape[1:],
                         maxshape=(None,) + arr.shape[1:], compression="gzip")
    _load(_archive(small, _weights_h5(small, chunk)))


def test_never_written_datasets_refused(small):
    def empty(g, name, arr):
        g.create_dataset(name, shape=arr.shape, dtype=arr.dtype, fillvalue=1.0)
    with pytest.raises(UnsafeFileError, match="never written"):
        _load(_archive(small, _weights_h5(small, empty)))


def test_partly_written_chunks_refused():
    m = _dense_model(64, 64)

    def half(g, name, arr):
        d = g.create_dataset(name, shape=arr.shape, dtype=arr.dtype,
                             chunks=(8,) + arr.shape[1:], compression="gzip")
        d[:8] = arr[:8]  # one chunk of eight written
    with pytest.raises(UnsafeFileError, match="never written"):
        _load(_archive(m, _weights_h5(m, half)))


def test_total_decompressed_bytes_capped(monkeypatch):
    m = _dense_model(64, 64)
    data = _archive(m, _weights_h5(m, _lzf))
    monkeypatch.setattr(safety, "MAX_H5_READ_BYTES", 64 * 64 * 4 + 100)
    with pytest.raises(FileError, match="MAX_H5_READ_BYTES"):
        _load(data)  # the kernel fits, the bias after it does not
    monkeypatch.setattr(safety, "MAX_H5_READ_BYTES", 64 * 65 * 4)
    _load(data)


def test_inflated_bytes_capped_per_archive(small, monkeypatch):
    data = _archive(small, _weights_h5(small), compress=zipfile.ZIP_DEFLATED)
    _load(data)
    total = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())
    monkeypatch.setattr(safety, "MAX_INFLATED_BYTES", total - 1)
    with pytest.raises(UnsafeFileError, match="inflate"):
        engine.load(data, max_weight_bytes=1000)
    engine.load(data, max_weight_bytes=total)  # twice its weight budget may inflate
    assert safety.inflate_limit(Budget(max_weight_bytes=2**33)) == 2**34


# -- 3. variable-length model_config ----------------------------------------------------


def test_vlen_model_config_measured(small, monkeypatch):
    text = json.dumps(small.keras_serialize("keras2"))
    data = _legacy_h5(small, attrs={"model_config": np.array(
        text[:-1] + " " * 5000 + "}", dtype=h5py.string_dtype())})
    f = h5py.File(io.BytesIO(data), "r")
    assert f.attrs.get_id("model_config").get_storage_size() == 16  # what HDF5 reports
    _load(data)  # tf_keras writes a variable-length model_config: it loads
    monkeypatch.setattr(safety, "MAX_JSON_BYTES", 4000)
    with pytest.raises(UnsafeFileError, match="variable-length"):
        _load(data)


def _vlen_h5(small, dense=False, **file_kw):
    def many(f):  # more than 8 attributes: dense storage (a fractal heap) with v2 headers
        for i in range(12):
            f.attrs[f"extra{i}"] = "x" * i
    text = json.dumps(small.keras_serialize("keras2"))
    data = _legacy_h5(small, attrs={"model_config": np.array(
        text, dtype=h5py.string_dtype())}, extra=many if dense else None, **file_kw)
    return data, text.encode()


@pytest.mark.parametrize("file_kw", [{}, {"libver": "latest"}, {"track_order": True},
                                     {"libver": "latest", "dense": True},
                                     {"track_order": True, "dense": True}])
def test_vlen_length_bomb_refused_before_allocation(small, file_kw, monkeypatch):
    """A descriptor claiming 4 GiB (libhdf5 allocates the claim before it reads the heap:
    2 GB and 8-11 s for the fuzz's example); object headers v1 and v2, attributes in the
    header and in dense storage."""
    data, text = _vlen_h5(small, **file_kw)
    if file_kw.get("dense"):
        assert b"FHDB" in data
    _load(data)  # as written, it loads
    heaps = []
    monkeypatch.setattr(safety, "check_global_heaps", lambda *a: heaps.append(1))
    with pytest.raises(UnsafeFileError, match="4,294,967,280 bytes, more than the whole"):
        _load(_vlen_claim(data, text, claim=0xFFFF_FFF0))
    assert heaps  # the heap walk ran, and then the claim was measured
    wrong = _vlen_claim(data, text, claim=len(text) + 8)  # in the file, but not its size
    with pytest.raises(FileError, match="global heap object holds|does not match"):
        _load(wrong)
    with pytest.raises(UnsafeFileError, match="outside the file"):
        _load(_vlen_claim(data, text, heap=len(data) + 4096))
    monkeypatch.setattr(safety, "MAX_JSON_BYTES", len(text) - 1)
    with pytest.raises(UnsafeFileError, match="over the limit"):
        _load(data)


def test_vlen_names_claims_measured_and_counted_together(small, monkeypatch):
    """``layer_names`` as variable-length strings: each claim is measured, and all of
    them together (many descriptors may name one heap object)."""
    name = small.layers[0].name
    data = _legacy_h5(small, layer_names=np.array([name], dtype=h5py.string_dtype()))
    _load(data)
    with pytest.raises(UnsafeFileError, match="attribute 'layer_names'.*more than the whole"):
        _load(_vlen_claim(data, name.encode(), claim=0x7FFF_FFFF))
    raw = io.BytesIO(data)
    f = h5py.File(raw, "r")
    addr = h5py.h5o.get_info(f["model_weights"].id).addr
    check_vlen_attribute(raw, addr, "layer_names", len(name), "x")
    with pytest.raises(UnsafeFileError, match="over the limit of"):
        check_vlen_attribute(raw, addr, "layer_names", len(name) - 1, "x")


def _vlen_attrs(raw):
    """(object, attribute name) of every variable-length attribute of an HDF5 file."""
    f = h5py.File(raw, "r")
    objs = [f]
    f.visititems(lambda _n, o: objs.append(o))
    return f, [(o, k) for o in objs for k in o.attrs
               if isinstance(o.attrs.get_id(k).get_type(), h5py.h5t.TypeVlenID) or
               getattr(o.attrs.get_id(k).get_type(), "is_variable_str", lambda: False)()]


def _real_h5_files():
    root = os.path.join(os.path.dirname(__file__), "..", "data")
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            if name.endswith(".h5"):
                yield path, io.BytesIO(open(path, "rb").read())
            elif name.endswith(".keras"):
                with zipfile.ZipFile(path) as zf:
                    for member in zf.namelist():
                        if member.endswith(".h5"):
                            yield f"{path}:{member}", io.BytesIO(zf.read(member))


def test_vlen_parser_reads_every_real_file():
    """Every variable-length attribute of every HDF5 file under tests/data (Keras 2 and 3,
    tf_keras): the parser finds its descriptors, and their lengths are the values'."""
    seen = 0
    for label, raw in _real_h5_files():
        f, attrs = _vlen_attrs(raw)
        for obj, key in attrs:
            found = vlen_descriptors(raw, h5py.h5o.get_info(obj.id).addr, key)
            value = obj.attrs[key]
            values = [value] if np.ndim(value) == 0 else list(np.ravel(value))
            lengths = [len(v.encode("utf-8", "surrogateescape") if isinstance(v, str)
                           else v) for v in values]
            assert found is not None and [x[0] for x in found] == lengths, (label, key)
            check_vlen_attribute(raw, h5py.h5o.get_info(obj.id).addr, key,
                                 safety.MAX_JSON_BYTES, label)
            seen += 1
        f.close()
    assert seen >= 300


@pytest.mark.parametrize("file_kw", [
    {"libver": "earliest"}, {"libver": "v110"}, {"libver": "latest"},
    {"track_order": True}, {"userblock_size": 1024, "libver": "latest"},
    {"userblock_size": 512}])
@pytest.mark.parametrize("n_attrs", [2, 12])  # 12: dense storage with v2 headers
def test_vlen_parser_layouts(small, file_kw, n_attrs):
    """Object headers v1 and v2, creation order, continuation blocks, a user block,
    attributes in the header or in dense storage: the descriptors are found."""
    def more(f):
        for i in range(n_attrs):
            f.attrs[f"extra{i}"] = "x" * i
            f["model_weights"].attrs[f"extra{i}"] = np.arange(i)
        f.attrs["late"] = np.array("a late value", dtype=h5py.string_dtype())
    text = json.dumps(small.keras_serialize("keras2"))
    data = _legacy_h5(small, attrs={"model_config": np.array(
        text, dtype=h5py.string_dtype())}, extra=more, **file_kw)
    raw = io.BytesIO(data)
    with h5py.File(raw, "r") as f:
        for key, value in [("model_config", text), ("late", "a late value")]:
            found = vlen_descriptors(raw, h5py.h5o.get_info(f.id).addr, key)
            assert [x[0] for x in found] == [len(value.encode())], (key, found)
    _load(data)


def test_corrupt_global_heap_refused_not_looping(small):
    data = bytearray(_legacy_h5(small))
    at = data.index(b"GCOL") + 16  # the first object of the heap holding model_config
    data[at:at + 16] = bytes(16)  # index 0, size 0: libhdf5 loops forever on it
    old = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("the load hung"))
    signal.alarm(20)
    try:
        with pytest.raises(FileError, match="global heap"):
            _load(bytes(data))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# -- 4. archive members -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["../x", "assets/../../x", "/etc/passwd", "assets\\x",
                                  "C:/x", "a/../../b"])
def test_path_like_members_refused(small, name):
    with pytest.raises(UnsafeFileError, match="named like a path") as e:
        _load(_archive(small, _weights_h5(small), [(_member(name), b"x")]))
    assert repr(name) in str(e.value)


def test_symlink_member_refused(small):
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        _load(_archive(small, _weights_h5(small), [(_member("assets/l", 0o120777), b"/")]))


def test_duplicate_members_refused(small):
    with pytest.warns(UserWarning):
        data = _archive(small, _weights_h5(small), [("model.weights.h5", b"x")])
    with pytest.raises(UnsafeFileError, match="duplicate members.*model.weights.h5"):
        _load(data)
    with pytest.raises(UnsafeFileError, match="duplicate"):
        load_weights(small, io.BytesIO(data))


def test_ordinary_members_accepted(small):
    _load(_archive(small, _weights_h5(small), [(_member("assets/vocab.txt", 0o100644),
                                                 b"a\nb")]))


def test_too_many_members(small, monkeypatch):
    data = _archive(small, _weights_h5(small), [("assets/a", b"x")])
    monkeypatch.setattr(safety, "MAX_ZIP_MEMBERS", 3)
    with pytest.raises(UnsafeFileError, match="declares 4 members"):
        _load(data)  # the end record is read before zipfile parses the directory
    zf = zipfile.ZipFile(io.BytesIO(data))
    with pytest.raises(UnsafeFileError, match="4 members"):
        safety.check_archive(zf, "x")


def test_member_count_read_from_zip64_end_record():
    import struct
    # over 65,535 members the end record says 0xFFFF and the zip64 record has the count
    rec = b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, 70_000, 70_000, 0, 0)
    loc = b"PK\x06\x07" + struct.pack("<IQI", 0, 0, 1)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFF, 0xFFFF, 0, 0, 0)
    with pytest.raises(UnsafeFileError, match="declares 70,000 members"):
        safety.zip_member_count(io.BytesIO(rec + loc + end), "x")
    safety.zip_member_count(io.BytesIO(b"not a zip"), "x")  # left to zipfile


# -- 5. special files -------------------------------------------------------------------


def test_fifo_refused_without_blocking(tmp_path):
    fifo = tmp_path / "m.keras"
    os.mkfifo(fifo)
    old = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("engine.load blocked"))
    signal.alarm(10)
    try:
        with pytest.raises(FileError, match="FIFO"):
            engine.load(fifo)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("path,kind", [("/dev/zero", "device"), (".", "directory")])
def test_device_and_directory_refused(path, kind, small):
    with pytest.raises(FileError, match=kind):
        engine.load(path)
    with pytest.raises(FileError, match=kind):
        load_weights(small, path)


def test_missing_file_is_file_error(tmp_path):
    with pytest.raises(FileError, match="cannot open"):
        engine.load(tmp_path / "nope.keras")


# -- 6. counts, depth and message lengths ------------------------------------------------


def test_layer_names_counted_before_reading(small, monkeypatch):
    data = _legacy_h5(small, layer_names=np.array([f"l{i}".encode() for i in range(50)]))
    monkeypatch.setattr(safety, "MAX_H5_NAMES", 40)
    with pytest.raises(UnsafeFileError, match="50 names"):
        _load(data)


def test_group_depth_and_object_count(small, monkeypatch):
    def nest(f):
        g = f
        for _ in range(safety.MAX_H5_DEPTH + 2):
            g = g.create_group("g")
    with pytest.raises(UnsafeFileError, match="nested more than"):
        _load(_legacy_h5(small, extra=nest, libver="latest"))

    def links(f):
        for i in range(50):
            f[f"l{i}"] = f["model_weights"]
    data = _legacy_h5(small, extra=links)
    _load(data)  # hard links to one group are visited once
    monkeypatch.setattr(safety, "MAX_H5_OBJECTS", 40)
    with pytest.raises(UnsafeFileError, match="MAX_H5_OBJECTS"):
        _load(data)


def test_weights_error_lists_few_names():
    model = _dense_model(2, 2, n=60)
    donor = _dense_model(2, 2, n=1)
    data = _legacy_h5(model)
    with pytest.raises(WeightsError) as e:
        load_weights(donor, io.BytesIO(data))
    text = str(e.value)
    assert "and 50 more" in text and len(text) < 2000


def test_problem_lines_and_listing_are_bounded():
    assert safety.listing(range(25)) == "0, 1, 2, 3, 4, 5, 6, 7, 8, 9 ... and 15 more"
    lines = safety.problem_lines([f"p{i}" * 200 for i in range(100)])
    assert lines.count("\n") == 20 and "and 80 more" in lines and len(lines) < 7000


# -- 7. layer and node caps -------------------------------------------------------------


def _seq(n: int) -> dict:
    return {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 2]}}] + [
        {"class_name": "Dense", "config": {"units": 2, "name": f"d{i}"}} for i in range(n)]}}


def test_layer_cap_defaults_and_keywords():
    assert DEFAULT_MAX_LAYERS == DEFAULT_MAX_NODES == 10_000
    assert Budget().max_layers == 10_000
    with pytest.raises(BudgetError, match="more than the 3 a model may have"):
        engine.deserialize(_seq(3), max_layers=3)  # the InputLayer is listed too
    assert len(engine.deserialize(_seq(3), max_layers=4).layers) == 3
    with pytest.raises(BudgetError, match="max_layers"):
        engine.deserialize(_seq(3), budget=Budget(max_layers=2))
    text = json.dumps(_seq(3))
    with pytest.raises(BudgetError):
        engine.model_from_json(text, max_layers=3)
    engine.model_from_json(text, max_layers=4)


def test_layer_cap_counts_nested_models_and_files(small):
    inner = _seq(2)
    outer = {"class_name": "Sequential", "config": {"name": "o", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 2]}}, inner]}}
    with pytest.raises(BudgetError):
        engine.deserialize(outer, max_layers=4)  # 2 listed by the outer model, 3 inside
    engine.deserialize(outer, max_layers=5)
    data = engine.files.keras_zip.keras_bytes(small)
    with pytest.raises(BudgetError):
        engine.load(data, max_layers=1)
    engine.load(data, max_layers=2)


def test_default_layer_cap_refuses_quickly():
    import time
    start = time.perf_counter()
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"units": 1}}] * 10_001}}
    with pytest.raises(BudgetError, match="10,001 layers"):
        engine.deserialize(cfg)
    assert time.perf_counter() - start < 2


def test_node_cap():
    from tests.hostile.generate import _many_nodes
    with pytest.raises(BudgetError, match="nodes"):
        engine.deserialize(_many_nodes(5), max_nodes=4)
    with pytest.raises(BudgetError, match="10,001 nodes"):
        engine.deserialize(_many_nodes(10_001))


# -- 8. errors outside the documented family --------------------------------------------


def test_json_depth_is_scanned_not_recursed():
    assert MAX_JSON_DEPTH == 128
    assert json_depth(b'{"a": "' + b"[{" * 200 + b'", "b": [1, [2]]}') == 3
    assert json_depth(b'{"a": "\\"' + b"[" * 200 + b'\\"", "b": [1, [2]]}') == 3
    deep = b'{"a": ' + b"[" * 300 + b"]" * 300 + b' , "s": "' + b"[" * 200 + b'"}'
    assert json_depth(deep) == 301
    with pytest.raises(FileError, match="too deeply .100,000 levels"):
        parse(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(FileError, match="MAX_JSON_DEPTH"):
        engine.model_from_json("[" * 129 + "]" * 129)
    # deeper than a config may be but within the text limit: the ConfigError names where
    cfg = {"class_name": "Dense", "config": {"units": 2, "name": "d"}}
    v: object = 1
    for _ in range(100):
        v = [v]
    cfg["config"]["x"] = v
    with pytest.raises(ConfigError, match="config.x"):
        engine.model_from_json(json.dumps(cfg))


def test_truncated_and_corrupt_h5_are_file_errors(small):
    data = _legacy_h5(_dense_model(64, 64))
    for cut in (len(data) // 3, len(data) * 2 // 3, len(data) - 100):
        with pytest.raises(FileError):
            _load(data[:cut])


def test_non_utf8_names_are_file_errors(small):
    with pytest.raises(FileError, match="not UTF-8"):
        _load(_legacy_h5(small, layer_names=np.array([b"\xff\xfe", b"d0"])))


@pytest.mark.parametrize("shape,text", [
    (None, "?"), ((3,), "(3,)"), ((None, 4), "(None, 4)"), ([(1,), (2,)], "[(1,), (2,)]"),
    (3, "3"), ({"a": (1,)}, "{'a': (1,)}"), ("abc", "'abc'"), ([3, (1,)], "[3, (1,)]"),
    ((None, [2, 3]), "(None, [2, 3])"),
])
def test_format_shape_never_raises(shape, text):
    assert format_shape(shape) == text


# -- found by the fuzz runs -------------------------------------------------------------


def test_config_backstops_found_by_fuzzing():
    bad_build = {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2},
                 "registered_name": None, "build_config": {"input_shape": []}}
    with pytest.raises(ConfigError, match="build_config.*cannot be built"):
        engine.deserialize(bad_build)
    dup = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"units": 2, "name": "a"}},
        {"class_name": "Dense", "config": {"units": 2, "name": "a"}}]}}
    with pytest.raises(ConfigError, match=r"layers\[1\].*duplicate layer name 'a'"):
        engine.deserialize(dup)
    # an automatic name that another layer of the config already has
    last = engine.deserialize({"class_name": "Dense", "config": {"units": 1}}).name
    auto = f"dense_{int(last.rsplit('_', 1)[1]) + 1}" if "_" in last else "dense_1"
    dup["config"]["layers"] = [{"class_name": "Dense", "config": {"units": 2}},
                               {"class_name": "Dense", "config": {"units": 2, "name": auto}}]
    with pytest.raises(ConfigError, match=rf"layers\[1\]: duplicate layer name '{auto}'"):
        engine.deserialize(dup)
    listed = {"class_name": "Functional", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 2], "name": "x"}},
        {"class_name": "Dense", "name": "d", "registered_name": ["x"],
         "config": {"units": 1, "name": "d"}, "inbound_nodes": [[["x", 0, 0, {}]]]}],
        "input_layers": [["x", 0, 0]], "output_layers": [["d", 0, 0]]}}
    with pytest.raises(ConfigError, match="registered_name"):
        engine.deserialize(listed)


def test_names_and_config_must_be_text_types(small):
    """``layer_names`` / ``model_config`` of a type other than an HDF5 string are refused
    before they are read (libhdf5 2.0 segfaults reading a variable-length type whose kind
    is corrupt; the hostile case h5_vlen_bad_type_segfault reads one in a subprocess)."""
    def sequences(f):
        names = np.empty(1, dtype=object)
        names[0] = np.frombuffer(small.layers[0].name.encode(), "uint8")
        f["model_weights"].attrs.create("layer_names", names,
                                        dtype=h5py.vlen_dtype(np.dtype("uint8")))
    data = _legacy_h5(small, extra=sequences)
    with pytest.raises(FileError, match="'layer_names'.*expected text.*class 9"):
        _load(data)
    data = _legacy_h5(small, attrs={"model_config": np.int64(3)})
    with pytest.raises(FileError, match="'model_config': expected text"):
        _load(data)

