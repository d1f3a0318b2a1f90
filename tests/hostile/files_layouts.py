"""Hostile HDF5 files in the layouts a variable-length attribute can hide in (issue 14):
shared attribute messages (SOHM), committed datatypes, dense attribute storage with nested
indirect blocks or a deep B-tree of huge objects, a filtered fractal heap, a user block and
a superblock whose stored base address lies. Each is a legacy ``.h5`` whose descriptor of a
variable-length string claims 4 GiB (libhdf5 would allocate it before reading the heap), or
a layout Keras and h5py never write; the same layouts written honestly load.

Used by :mod:`tests.hostile.generate` (their cases join the suite's) and by
tests/engine/test_file_safety.py.
"""

from __future__ import annotations

import ctypes
import glob
import io
import json
import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

from tests.hostile import files

#: a claim libhdf5 would allocate before it reads the heap
BOMB = 0xFFFF_FFF0


def _text_config(model: Any, pad: int = 0) -> str:
    text = json.dumps(model.keras_serialize("keras2"))
    return text[:-1] + " " * pad + "}" if pad else text


def _vlen_legacy(model: Any, extra: Callable[[Any], None] | None = None,
                 committed: bool = False, **file_kw: Any) -> tuple[bytes, bytes]:
    """A legacy ``.h5`` of ``model`` with a variable-length ``model_config`` (its type a
    committed datatype if ``committed``), after ``extra(f)`` added more; (bytes, text)."""
    import h5py

    text = _text_config(model)

    def more(f: Any) -> None:
        if extra is not None:
            extra(f)
        del f.attrs["model_config"]
        if committed:
            f["string_type"] = np.dtype(h5py.string_dtype())
            f.attrs.create("model_config", text, dtype=f["string_type"])
        else:
            f.attrs["model_config"] = np.array(text, dtype=h5py.string_dtype())
    return files._legacy_h5(model, extra=more, **file_kw), text.encode()


def _many_attributes(n: int, size: int) -> Callable[[Any], None]:
    def add(f: Any) -> None:
        rng = np.random.default_rng(0)
        for i in range(n):
            f.attrs[f"extra{i}"] = rng.integers(0, 255, size, dtype="u1")
    return add


def nested_heap(model: Any) -> tuple[bytes, bytes]:
    """``model_config`` in dense storage whose fractal heap has indirect blocks below its
    root (more than the root's 512 KB of direct blocks: 560 attributes of 1,000 bytes)."""
    data, text = _vlen_legacy(model, _many_attributes(560, 1000), committed=True,
                              libver="latest")
    assert data.count(b"FHIB") > 1, "no nested indirect block"
    return data, text


def huge_names(model: Any) -> tuple[bytes, bytes]:
    """``layer_names`` as 300 variable-length strings (a 4.8 kB attribute message: a
    huge object of the dense storage) among 40 other huge attributes (a B-tree of huge
    objects with internal nodes); the bytes and the first name."""
    import h5py

    first = model.layers[0].name
    names = [first] + [f"pad{i:05d}" for i in range(299)]

    def add(f: Any) -> None:
        g = f["model_weights"]
        _many_attributes(40, 5000)(g)
        del g.attrs["layer_names"]
        g.attrs["layer_names"] = np.array(names, dtype=h5py.string_dtype())
    data = files._legacy_h5(model, extra=add, libver="latest")
    assert b"BTIN" in data, "the huge objects' B-tree has no internal node"
    return data, first.encode()


def sohm(model: Any) -> bytes:
    """Attribute messages shared in the file's shared-message heap (SOHM): libhdf5 writes
    them only when a file creation property list asks (h5py has no API for it: set here
    through libhdf5's C API)."""
    import h5py
    from h5py import h5f, h5p

    pattern = os.path.join(os.path.dirname(h5py.__file__), os.pardir, "h5py.libs",
                           "libhdf5-*.so*")
    found = glob.glob(pattern)
    lib = ctypes.CDLL(found[0]) if found else ctypes.CDLL(None)
    fcpl = h5p.create(h5p.FILE_CREATE)
    attr_flag = 1 << 0x0C  # H5O_SHMESG_ATTR_FLAG
    assert lib.H5Pset_shared_mesg_nindexes(ctypes.c_int64(fcpl.id), ctypes.c_uint(1)) >= 0
    assert lib.H5Pset_shared_mesg_index(ctypes.c_int64(fcpl.id), ctypes.c_uint(0),
                                        ctypes.c_uint(attr_flag), ctypes.c_uint(1)) >= 0
    fapl = h5p.create(h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5f.LIBVER_LATEST, h5f.LIBVER_LATEST)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sohm.h5")
        f = h5py.File(h5f.create(path.encode(), h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl))
        try:
            files.write_legacy(f, model, attrs={"model_config": np.array(
                _text_config(model), dtype=h5py.string_dtype())})
        finally:
            f.close()
        with open(path, "rb") as fh:
            data = fh.read()
    assert b"SMTB" in data, "no shared-message table"
    return data


def filtered_heap(model: Any) -> tuple[bytes, int]:
    """Dense attribute storage whose fractal heap header declares I/O filters (libhdf5
    never filters the heaps that hold attributes), its checksum recomputed; the bytes and
    the root group's object header address."""
    import h5py

    data, _ = _vlen_legacy(model, _many_attributes(12, 10), libver="latest")
    with h5py.File(io.BytesIO(data), "r") as f:
        addr = h5py.h5o.get_info(f.id).addr
    out = bytearray(data)
    heap = out.index(b"FRHP")
    out[heap + 7:heap + 9] = (24).to_bytes(2, "little")  # I/O filters' encoded length
    out[heap + 142:heap + 146] = files._lookup3(bytes(out[heap:heap + 142])).to_bytes(4,
                                                                                    "little")
    return bytes(out), addr


def layout_files() -> dict[str, Callable[[], bytes]]:
    """file name -> a function making its bytes (see the module docstring)."""
    small = files._dense_model(4, 8)

    def claim(make: Callable[[], tuple[bytes, bytes]], base: int = 0) -> Callable[[], bytes]:
        def bomb() -> bytes:
            data, text = make()
            return files._vlen_claim(data, text, claim=BOMB, base=base)
        return bomb

    def userblock(lie: bool = False) -> tuple[bytes, bytes]:
        data, text = _vlen_legacy(small, userblock_size=512)
        if lie:  # the superblock (version 0) says the base address is 0 (and its end of
            # file address is moved to match): libhdf5 uses the superblock's place, 512
            eof = int.from_bytes(data[512 + 40:512 + 48], "little")
            data = (data[:512 + 24] + bytes(8) + data[512 + 32:512 + 40] +
                    (eof - 512).to_bytes(8, "little") + data[512 + 48:])
        return data, text

    return {
        "layout_committed_bomb.h5": claim(lambda: _vlen_legacy(small, committed=True)),
        "layout_nested_heap.h5": lambda: nested_heap(small)[0],
        "layout_nested_heap_bomb.h5": claim(lambda: nested_heap(small)),
        "layout_huge_btree_bomb.h5": claim(lambda: huge_names(small)),
        "layout_sohm.h5": lambda: sohm(small),
        "layout_filtered_heap.h5": lambda: filtered_heap(small)[0],
        "layout_userblock.model": lambda: userblock()[0],
        "layout_userblock_bomb.h5": claim(userblock, base=512),
        "layout_base_lies_bomb.h5": claim(lambda: userblock(lie=True), base=512),
    }


def layout_cases() -> list[dict]:
    """The cases loading :func:`layout_files`."""
    case = files._case
    whole = "more than the whole file"
    return [
        case("h5_layout_committed_type_bomb", "layout_committed_bomb.h5", match=whole),
        case("h5_layout_nested_heap_loads", "layout_nested_heap.h5", expect=None),
        case("h5_layout_nested_heap_bomb", "layout_nested_heap_bomb.h5", match=whole),
        case("h5_layout_huge_btree_bomb", "layout_huge_btree_bomb.h5", match=whole),
        case("h5_layout_sohm_refused", "layout_sohm.h5", match="(SOHM)"),
        # libhdf5 may fail on the heap's header before the check: a FileError either way
        case("h5_layout_filtered_heap", "layout_filtered_heap.h5"),
        # a user block: recognised as HDF5 by its signature at 512 (no .h5 name)
        case("h5_layout_userblock_loads", "layout_userblock.model", expect=None),
        case("h5_layout_userblock_bomb", "layout_userblock_bomb.h5", match=whole),
        case("h5_layout_base_address_lies", "layout_base_lies_bomb.h5", match=whole),
    ]


def write_layout_files(folder: Any) -> list[Any]:
    """Write every file of :func:`layout_files` into ``folder``; the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in layout_files().items():
        path = folder / name
        path.write_bytes(make())
        paths.append(path)
    return paths
