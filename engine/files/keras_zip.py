"""``.keras`` archives (Keras 3 ``model.save``): a zip of ``metadata.json``,
``config.json`` and ``model.weights.h5``, read without extracting anything.

A stored (uncompressed) weights member is read in place through a window on the archive,
so HDF5 reads only the parts it needs; a deflated one, after its declared size was checked,
is inflated piece by piece into an anonymous temporary file (deleted when the weights'
store closes), never whole into memory. The members inflated from one archive are capped
together (``safety.MAX_INFLATED_BYTES``, or twice the model's weight budget when larger).
"""

from __future__ import annotations

import datetime
import io
import json
import os
import zipfile
from typing import Any

from ..formats import KERAS3
from ..models import Model
from . import safety
from .assets import load_assets, load_own_variables, save_assets
from .h5_store import H5Store, closed_on_error
from .json_config import config_to_model
from .keras3_weights import attach_keras_weights, weights_h5_bytes
from .safety import FileError, checked_member
from .strict_json import parse

_ZIP_MAGIC = b"PK\x03\x04"
#: the Keras version written in metadata.json
KERAS_VERSION = "3.15.1"


class _Window(io.RawIOBase):
    """A read-only view of ``size`` bytes at ``offset`` of a seekable file (a stored zip
    member), so HDF5 reads only the parts it needs (a file with a descriptor is read with
    ``os.pread``: one call, no seek)."""

    def __init__(self, fh: Any, offset: int, size: int):
        self._fh, self._off, self._size, self._pos = fh, offset, size, 0
        try:
            self._fd = fh.fileno() if hasattr(os, "preadv") else None
        except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
            self._fd = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, b: Any) -> int:
        n = max(0, min(len(b), self._size - self._pos))
        if n == 0:
            return 0
        if self._fd is not None:
            got = os.preadv(self._fd, [memoryview(b)[:n]], self._off + self._pos)
        else:
            self._fh.seek(self._off + self._pos)
            data = self._fh.read(n)
            got = len(data)
            b[:got] = data
        self._pos += got
        return got


def is_keras_zip(head: bytes) -> bool:
    """Whether the first bytes of a file are a zip archive's."""
    return head.startswith(_ZIP_MAGIC)


def open_zip(fh: Any, what: str, limit: int | None = None) -> zipfile.ZipFile:
    """The archive ``fh``, its members checked (names, symlinks, duplicates, the bytes its
    deflated members would inflate to: at most ``limit``)."""
    safety.zip_member_count(fh, what)
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, *safety.CORRUPT_FILE_ERRORS) as e:
        raise FileError(f"{what or '.keras file'}: not a valid .keras archive (truncated or "
                        f"corrupt zip: {str(e)[:300]})") from None
    safety.check_archive(zf, what, limit)
    return zf


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, what: str) -> bytes:
    try:
        with zf.open(info) as f:
            data = f.read(info.file_size + 1)
    except (zipfile.BadZipFile, *safety.CORRUPT_FILE_ERRORS) as e:
        raise FileError(f"{what}: member {info.filename!r} cannot be read (truncated or "
                        f"corrupt: {e})") from None
    if len(data) != info.file_size:
        raise FileError(f"{what}: member {info.filename!r} holds {len(data):,} bytes, its "
                        f"header says {info.file_size:,}")
    return data


def keras_weights_store(fh: Any, what: str, zf: zipfile.ZipFile | None = None,
                        owner: Any = None, limit: int | None = None) -> H5Store:
    """The ``model.weights.h5`` member of the archive ``fh`` as an (unchecked) store."""
    import h5py

    zf = zf or open_zip(fh, what, limit)
    info = checked_member(zf, "model.weights.h5", safety.MAX_WEIGHTS_BYTES, what)
    stored = info.compress_type == zipfile.ZIP_STORED
    raw = _Window(fh, _member_start(fh, info, what), info.file_size) if stored else \
        _inflated(zf, info, what)
    try:
        f = h5py.File(raw, "r")
    except safety.CORRUPT_FILE_ERRORS as e:
        if not stored:
            raw.close()
        raise FileError(f"{what}: member 'model.weights.h5' is not a valid HDF5 file "
                        f"({e})") from None
    return H5Store(f, raw, f"{what}:model.weights.h5" if what else "model.weights.h5", owner,
                   close_raw=not stored)


#: the piece a deflated member is inflated by (bytes)
INFLATE_PIECE = 2**18


def _inflated(zf: zipfile.ZipFile, info: zipfile.ZipInfo, what: str) -> Any:
    """A deflated member inflated, piece by piece, into an anonymous temporary file (no
    name on disk where the platform allows it; deleted when closed), so memory holds one
    piece at a time; at most its declared size, which the archive's checks capped."""
    import tempfile

    try:
        tmp = tempfile.TemporaryFile(prefix="layerlab-weights-")
    except OSError as e:
        raise FileError(f"{what}: member {info.filename!r} is deflated and no temporary file "
                        f"could be made to inflate it into ({e.strerror}); store it "
                        f"uncompressed, or set TMPDIR") from None
    try:
        total = 0
        with zf.open(info) as src:
            while True:
                piece = src.read(min(INFLATE_PIECE, info.file_size + 1 - total))
                if not piece:
                    break
                total += len(piece)
                if total > info.file_size:
                    break
                tmp.write(piece)
        if total != info.file_size:
            raise FileError(f"{what}: member {info.filename!r} inflates to "
                            f"{'more than ' if total > info.file_size else ''}{total:,} "
                            f"bytes, its header says {info.file_size:,}")
        tmp.seek(0)
        return tmp
    except (zipfile.BadZipFile, *safety.CORRUPT_FILE_ERRORS) as e:
        tmp.close()
        if isinstance(e, FileError):
            raise
        raise FileError(f"{what}: member {info.filename!r} cannot be inflated (truncated "
                        f"or corrupt, or the disk is full: {str(e)[:300]})") from None
    except BaseException:
        tmp.close()
        raise


def _member_start(fh: Any, info: zipfile.ZipInfo, what: str) -> int:
    """Where a stored member's bytes start (after its local header), checked to fit."""
    fh.seek(info.header_offset)
    header = fh.read(30)
    if len(header) != 30 or header[:4] != _ZIP_MAGIC:
        raise FileError(f"{what}: member 'model.weights.h5' has a bad local header "
                        f"(truncated archive?)")
    nlen = int.from_bytes(header[26:28], "little")
    xlen = int.from_bytes(header[28:30], "little")
    start = info.header_offset + 30 + nlen + xlen
    fh.seek(0, 2)
    if start + info.file_size > fh.tell():
        raise FileError(f"{what}: member 'model.weights.h5' is truncated (needs "
                        f"{start + info.file_size:,} bytes, the file has {fh.tell():,})")
    return start


def load_keras(fh: Any, what: str, custom_objects: Any, budget: Any,
               owner: Any = None) -> tuple[Model, H5Store]:
    """A model from a ``.keras`` archive and the store its weights are read from
    (lazily); ``budget`` is the model's :class:`engine.budget.Budget`."""
    zf = open_zip(fh, what, safety.inflate_limit(budget))
    cinfo = checked_member(zf, "config.json", safety.MAX_JSON_BYTES, what)
    if "metadata.json" in zf.namelist():
        minfo = checked_member(zf, "metadata.json", safety.MAX_JSON_BYTES, what)
        meta = parse(_read_member(zf, minfo, what), f"{what}:metadata.json", "metadata")
        if not isinstance(meta, dict):
            raise FileError(f"{what}:metadata.json: expected a JSON object, got "
                            f"{type(meta).__name__}")
    store = keras_weights_store(fh, what, zf, owner)
    with closed_on_error(store), safety.h5_errors(store.what):
        store.check()
        text = _read_member(zf, cinfo, what)
        model = config_to_model(text, f"{what}:config.json", custom_objects, budget,
                                lazy_weights=True)
        attach_keras_weights(model, store)
        load_own_variables(model, store.file, f"{what}:model.weights.h5")
        load_assets(model, zf, what)
    store.arm()
    return model, store


def keras_bytes(model: Model) -> bytes:
    """``model`` as the bytes of a ``.keras`` archive that Keras 3 loads."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        meta = {"keras_version": KERAS_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
        zf.writestr("metadata.json", json.dumps(meta))
        zf.writestr("config.json", json.dumps(model.keras_serialize(KERAS3)))
        zf.writestr("model.weights.h5", weights_h5_bytes(model))
        save_assets(model, zf)
    return buf.getvalue()
