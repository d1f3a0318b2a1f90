"""What a model file may ask for: limits, and the checks that refuse malformed or unsafe
files before anything large is read.

A file is untrusted input and only its own bytes are read:

* only regular files are opened (a FIFO, a device or a directory is refused, without
  blocking on it);
* zip members are looked up by their fixed names; members named like paths that leave the
  archive ('..', absolute, backslashes, drive letters), symlinks and duplicate names are
  refused; declared sizes and compression ratio are checked before anything is inflated,
  the members inflated from one archive are capped in total, and nothing is ever extracted
  to disk;
* every object of an HDF5 file is visited before any tensor is read, without reading data:
  external links, soft links, external storage and virtual datasets are refused, and so
  are compression filters other than those built into libhdf5 and h5py (so libhdf5 never
  loads a filter plugin), chunks that decompress to more than their dataset, datasets that
  were never written (fill values only), and files with too many objects or too deep;
* attributes are measured before they are read (lists of names by their count, JSON text by
  its size);
* layer and weight names are HDF5 keys at most, never file-system paths.

The limits are module attributes (tests and callers may lower them). h5py is imported
where it is used: it costs more to import than the rest of the engine.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import zipfile
from collections import Counter
from collections.abc import Iterator
from typing import Any

from ..errors import ConfigError, WeightsError

#: the largest JSON member / attribute read (bytes)
MAX_JSON_BYTES = 64 * 2**20
#: the largest weights member accepted (bytes)
MAX_WEIGHTS_BYTES = 16 * 2**30
#: the highest compression ratio accepted for a deflated member
MAX_COMPRESSION_RATIO = 200
#: the most bytes inflated (into memory) from the deflated members of one archive; a
#: model whose weight budget is larger may inflate twice its budget
MAX_INFLATED_BYTES = 2 * 2**30
#: the most members an archive may have
MAX_ZIP_MEMBERS = 10_000
#: the most HDF5 links visited in one file (groups, datasets and every hard link to them)
MAX_H5_OBJECTS = 200_000
#: the deepest group nesting of an HDF5 file
MAX_H5_DEPTH = 64
#: the most names a ``layer_names`` / ``weight_names`` attribute may list
MAX_H5_NAMES = 10_000
#: HDF5 filters accepted (those built into libhdf5 and h5py): any other id is refused
#: before a read, so libhdf5 never searches its plugin path
ALLOWED_H5_FILTERS = {1: "gzip (deflate)", 2: "shuffle", 3: "fletcher32", 4: "szip",
                      5: "nbit", 6: "scaleoffset", 32000: "lzf"}
#: a chunk may be larger than its dataset in some dimension only up to this size (bytes)
MAX_H5_SMALL_CHUNK_BYTES = 2**20
#: the most chunks one dataset may be split into
MAX_H5_CHUNKS = 100_000
#: the most bytes HDF5 may decompress (or read) from one file, over all its tensors
MAX_H5_READ_BYTES = 4 * 2**30
#: the most items listed in an error message ("... and N more")
MAX_LISTED = 10


class FileError(ValueError):
    """A model file is malformed, truncated or does not fit its config."""


class UnsafeFileError(FileError):
    """A model file asks to read something outside its own bytes (links, external data)."""


def read_limited(fh: Any, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes of ``fh``; a longer file is refused."""
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise FileError(f"{what or 'file'}: larger than {limit:,} bytes; refusing to read it")
    return data


def checked_member(zf: zipfile.ZipFile, name: str, limit: int, what: str) -> zipfile.ZipInfo:
    """The zip member ``name``, refused when encrypted, oddly compressed, declared over
    ``limit`` bytes, or inflating like a zip bomb (checked before anything is read)."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise FileError(f"{what or '.keras file'}: the archive has no member {name!r} "
                        f"(members: {zf.namelist()[:10]})") from None
    if info.flag_bits & 0x1:
        raise UnsafeFileError(f"{what}: member {name!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise FileError(f"{what}: member {name!r} uses an unsupported compression "
                        f"({info.compress_type})")
    if info.file_size > limit:
        raise UnsafeFileError(f"{what}: member {name!r} declares {info.file_size:,} bytes, "
                              f"over the limit of {limit:,}")
    if info.compress_type == zipfile.ZIP_DEFLATED and \
            info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1) and \
            info.file_size > 2**20:
        raise UnsafeFileError(f"{what}: member {name!r} inflates {info.compress_size:,} bytes "
                              f"to {info.file_size:,} (ratio over {MAX_COMPRESSION_RATIO}): "
                              f"refusing a zip bomb")
    return info


def listing(items: Any, limit: int | None = None) -> str:
    """``a, b, c ... and N more``: at most ``limit`` (``MAX_LISTED``) items of a message."""
    limit = MAX_LISTED if limit is None else limit
    items = list(items)
    shown = ", ".join(_short(x) for x in items[:limit])
    more = len(items) - limit
    return f"{shown} ... and {more:,} more" if more > 0 else shown


def problem_lines(problems: list[str], limit: int = 20) -> str:
    """``  - problem`` lines, at most ``limit`` of them (each cut to 300 characters)."""
    lines = [f"  - {p if len(p) <= 300 else p[:297] + '...'}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit:,} more")
    return "\n".join(lines)


def _short(x: Any, n: int = 80) -> str:
    text = repr(x)
    return text if len(text) <= n else f"{text[:n - 5]}...{text[-2:]}"


def open_regular(name: str) -> Any:
    """``name`` opened for binary reading if it is a regular file; a FIFO, socket, device
    or directory is a FileError (opened without blocking, so a FIFO cannot hang)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(name, flags)
    except OSError as e:
        raise FileError(f"{name}: cannot open: {e.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO (named pipe)"
                    if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or
                    stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else
                    "not a regular file")
            raise FileError(f"{name}: is {kind}; only regular files are read")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


#: what h5py (or zipfile) raises on a corrupt file: turned into a FileError
CORRUPT_FILE_ERRORS = (OSError, KeyError, UnicodeError, RuntimeError, OverflowError,
                       ValueError, TypeError, NotImplementedError, EOFError)


@contextlib.contextmanager
def h5_errors(what: str) -> Iterator[None]:
    """Errors h5py raises on a corrupt or truncated file (OSError, KeyError, a name that
    is not UTF-8, a number type NumPy lacks...) as a FileError naming the file; the
    engine's own errors (FileError, ConfigError, WeightsError) pass unchanged."""
    try:
        yield
    except (FileError, ConfigError, WeightsError):
        raise
    except CORRUPT_FILE_ERRORS as e:
        text = str(e)
        text = text if len(text) <= 300 else f"{text[:300]}..."
        raise FileError(f"{what or 'HDF5 file'}: corrupt or truncated HDF5 file "
                        f"({type(e).__name__}: {text})") from None


def zip_member_count(fh: Any, what: str) -> None:
    """Refuse an archive whose end record declares more than ``MAX_ZIP_MEMBERS`` members,
    before ``zipfile`` reads its whole central directory (a million entries take seconds
    and hundreds of MB). An archive without a readable end record is left to ``zipfile``."""
    pos = fh.tell()
    try:
        fh.seek(0, 2)
        size = fh.tell()
        tail_at = max(0, size - 22 - 65535)
        fh.seek(tail_at)
        tail = fh.read(size - tail_at)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + 22 > len(tail):
            return
        count = int.from_bytes(tail[at + 10:at + 12], "little")
        loc = tail.rfind(b"PK\x06\x07", 0, at)
        if count == 0xFFFF and loc >= 0 and at - loc == 20:  # zip64: the real count
            fh.seek(int.from_bytes(tail[loc + 8:loc + 16], "little"))
            rec = fh.read(56)
            if rec[:4] == b"PK\x06\x06" and len(rec) == 56:
                count = int.from_bytes(rec[32:40], "little")
    finally:
        fh.seek(pos)
    if count > MAX_ZIP_MEMBERS:
        raise UnsafeFileError(f"{what or '.keras file'}: the archive declares {count:,} "
                              f"members, more than {MAX_ZIP_MEMBERS:,} (MAX_ZIP_MEMBERS)")


def check_archive(zf: zipfile.ZipFile, what: str, limit: int | None = None) -> None:
    """Refuse an archive with too many members, members named like paths that leave it,
    symlinks, duplicate names, or deflated members declaring more than ``limit``
    (``MAX_INFLATED_BYTES``) together (nothing is read)."""
    what = what or ".keras file"
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise UnsafeFileError(f"{what}: the archive has {len(infos):,} members, more than "
                              f"{MAX_ZIP_MEMBERS:,}")
    for info in infos:
        name = info.orig_filename
        parts = name.replace("\\", "/").split("/")
        if "\\" in name or name.startswith("/") or ".." in parts or "\x00" in name or \
                (len(name) > 1 and name[1] == ":"):
            raise UnsafeFileError(f"{what}: member {_short(name)} is named like a path "
                                  f"outside the archive ('..', absolute, a drive or "
                                  f"backslashes); refused")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeFileError(f"{what}: member {_short(name)} is a symbolic link; "
                                  f"refused")
    dups = [n for n, c in Counter(i.filename for i in infos).items() if c > 1]
    if dups:
        raise UnsafeFileError(f"{what}: the archive has duplicate members "
                              f"({listing(dups)}); which one is meant is ambiguous")
    limit = MAX_INFLATED_BYTES if limit is None else limit
    inflated = sum(i.file_size for i in infos if i.compress_type != zipfile.ZIP_STORED)
    if inflated > limit:
        raise UnsafeFileError(f"{what}: its compressed members would inflate to "
                              f"{inflated:,} bytes, over the limit of {limit:,} "
                              f"(MAX_INFLATED_BYTES, or the model's weight budget)")


def inflate_limit(budget: Any) -> int:
    """The bytes an archive may inflate for a model with this budget."""
    wb = getattr(budget, "max_weight_bytes", 0) or 0
    return max(MAX_INFLATED_BYTES, 2 * wb)


class H5Index:
    """What the safety walk learnt of an HDF5 file, for the reader: every dataset's
    shape, dtype and read cost, every group's number of links (paths without a leading
    '/'). ``complete`` is False when an object is reached by more than one hard link (the
    paths below a second link are not listed) or a name is not UTF-8 (no lookup can name
    it): a path missing here must then be looked up in the file."""

    def __init__(self) -> None:
        self.datasets: dict[str, tuple[Any, Any, int]] = {}
        self.groups: dict[str, int] = {"": 0}
        self.complete = True
        self._with_data: set[str] | None = None

    def has_datasets(self, path: str) -> bool:
        """Whether a dataset lies at or below ``path`` (a complete index only)."""
        if self._with_data is None:
            found = {""}
            for p in self.datasets:
                parts = p.split("/")
                found.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
            self._with_data = found
        return path in self._with_data


def check_h5(f: Any, what: str) -> H5Index:
    """Visit every link of the open ``h5py.File`` without reading data: refuse soft and
    external links, too many objects, too deep nesting, and datasets that would reach
    outside the file, load a filter plugin, or decompress to more than they hold. The
    index of what was seen (one pass: the reader asks it, not the file)."""
    from h5py import h5d, h5g, h5l, h5o

    what = what or "HDF5 file"
    index = H5Index()
    seen: dict[int, str] = {}
    # (path for messages, group id, depth, key in the index: None below a name that is
    # not UTF-8, which no lookup can ask for)
    stack: list[tuple[str, Any, int, str | None]] = [("", f.id, 0, "")]
    count = 0
    object_type = _object_type()
    group_type, dataset_type = h5o.TYPE_GROUP, h5o.TYPE_DATASET
    while stack:
        gpath, gid, depth, gkey = stack.pop()
        links = _links(gid, MAX_H5_OBJECTS - count)
        count += len(links)
        if gkey is not None:
            index.groups[gkey] = len(links)
        if count > MAX_H5_OBJECTS:
            raise UnsafeFileError(f"{what}: more than {MAX_H5_OBJECTS:,} HDF5 objects "
                                  f"(links); refused (MAX_H5_OBJECTS)")
        prefix = f"{gpath}/" if gpath else ""
        for raw, kind, addr in links:
            try:
                name = raw.decode("utf-8")
                key = None if gkey is None else f"{gkey}/{name}" if gkey else name
            except UnicodeDecodeError:
                name, key = raw.decode("utf-8", "replace"), None
                index.complete = False
            path = prefix + name
            if kind != h5l.TYPE_HARD:
                _bad_link(gid, raw, kind, path, what)
            if addr in seen:  # another hard link to an object already checked
                first = seen[addr]
                if first in index.datasets and key is not None:
                    index.datasets[key] = index.datasets[first]
                else:
                    index.complete = False
                continue
            otype = object_type(gid, raw)
            seen[addr] = key if key is not None else "\x00"
            if otype == dataset_type:
                info = _check_dataset(h5d.open(gid, raw), path, what)
                if key is not None:
                    index.datasets[key] = info
            elif otype == group_type:
                if depth + 1 >= MAX_H5_DEPTH:
                    raise UnsafeFileError(f"{what}: groups nested more than {MAX_H5_DEPTH} "
                                          f"deep at {_short('/' + path)} (MAX_H5_DEPTH)")
                stack.append((path, h5g.open(gid, raw), depth + 1, key))
            elif otype != h5o.TYPE_NAMED_DATATYPE:
                index.complete = False  # an object of a kind the index does not list
    return index


def _object_type() -> Any:
    """``type(group_id, name)``: the h5o type of the object a hard link names, by the
    cheapest call this h5py has (``H5Gget_objinfo`` reads less than ``H5Oget_info``)."""
    from h5py import h5g, h5o

    if not hasattr(h5g, "get_objinfo"):
        return lambda gid, name: h5o.get_info(gid, name).type
    types = {h5g.GROUP: h5o.TYPE_GROUP, h5g.DATASET: h5o.TYPE_DATASET,
             h5g.TYPE: h5o.TYPE_NAMED_DATATYPE}
    return lambda gid, name: types.get(h5g.get_objinfo(gid, name, 0).type, -1)


def _bad_link(gid: Any, raw: bytes, kind: int, path: str, what: str) -> None:
    from h5py import h5l

    path = "/" + path
    if kind == h5l.TYPE_EXTERNAL:
        raise UnsafeFileError(f"{what}: {_short(path)} is an external link; "
                              f"refusing to read other files")
    if kind == h5l.TYPE_SOFT:
        raise UnsafeFileError(f"{what}: {_short(path)} is a soft link (to "
                              f"{_short(gid.links.get_val(raw))}); links are refused")
    raise UnsafeFileError(f"{what}: {_short(path)} is an unsupported link type")


def _links(gid: Any, room: int) -> list[tuple[bytes, int, int]]:
    """(name, link type, target address of a hard link) of the group ``gid``'s links, in
    one pass; it stops after ``room + 1``."""
    links: list[tuple[bytes, int, int]] = []

    def collect(name: bytes, info: Any) -> Any:
        links.append((name, info.type, info.u))
        return True if len(links) > room else None

    gid.links.iterate(collect, info=True)
    return links


def _check_dataset(dsid: Any, path: str, what: str) -> tuple[Any, Any, int]:
    """One dataset (its low-level id): storage in the file, known filters, chunks that fit
    its shape, written data (nothing is read). Its (shape, dtype, bytes a read costs)."""
    from h5py import h5d

    plist = dsid.get_create_plist()
    where = f"{what}: dataset {_short('/' + path)}"
    if plist.get_external_count() > 0:
        raise UnsafeFileError(f"{where} uses external storage; only the file's own bytes "
                              f"are read")
    layout = plist.get_layout()
    if layout == getattr(h5d, "VIRTUAL", -1):
        raise UnsafeFileError(f"{where} is a virtual dataset (maps other files); refused")
    for i in range(plist.get_nfilters()):
        fid = plist.get_filter(i)[0]
        if fid not in ALLOWED_H5_FILTERS:
            raise UnsafeFileError(f"{where} uses HDF5 filter {fid}, which is not one of "
                                  f"the filters built into libhdf5 and h5py "
                                  f"({listing(sorted(ALLOWED_H5_FILTERS))}); refused before "
                                  f"any read, so no filter plugin is loaded")
    shape = dsid.shape
    tid = dsid.get_type()
    try:
        dtype = tid.dtype
    except CORRUPT_FILE_ERRORS:
        dtype = None  # a type NumPy lacks: refused when a weight is looked up here
    if shape is None:  # a null dataspace: no data at all
        return None, dtype, 0
    itemsize = tid.get_size()
    nbytes = math.prod(shape) * itemsize
    stored = dsid.get_storage_size()
    if nbytes > 0 and stored == 0:
        raise UnsafeFileError(f"{where} was never written (it holds only its fill value); "
                              f"refused")
    if layout != h5d.CHUNKED:
        if layout == h5d.CONTIGUOUS and 0 < stored < nbytes:
            raise FileError(f"{where} stores {stored:,} bytes for {nbytes:,} (truncated)")
        return shape, dtype, nbytes
    chunk = plist.get_chunk()
    chunk_bytes = math.prod(chunk) * itemsize
    if chunk_bytes > MAX_H5_SMALL_CHUNK_BYTES and any(c > max(s, 1)
                                                      for c, s in zip(chunk, shape)):
        raise UnsafeFileError(f"{where}: its chunks {tuple(chunk)} ({chunk_bytes:,} bytes "
                              f"each) are larger than its shape {tuple(shape)}: reading it "
                              f"would decompress far more than it holds (a compression "
                              f"bomb); refused")
    covering = math.prod(-(-s // c) for s, c in zip(shape, chunk))
    if covering > MAX_H5_CHUNKS:
        raise UnsafeFileError(f"{where} is split into {covering:,} chunks, more than "
                              f"{MAX_H5_CHUNKS:,} (MAX_H5_CHUNKS)")
    if nbytes > 0 and dsid.get_num_chunks() < covering:
        raise UnsafeFileError(f"{where} has chunks that were never written (fill values "
                              f"only); refused")
    return shape, dtype, covering * chunk_bytes


_GCOL = b"GCOL\x01\x00\x00\x00"


def check_global_heaps(raw: Any, what: str) -> None:
    """Before a variable-length string attribute is read: walk every global heap
    collection of the HDF5 file ``raw`` (a binary file object) as libhdf5 will, and refuse
    one it would loop on forever (a free space of size 0: libhdf5 2.0 does not check it).
    The file is read in pieces (8 MiB)."""
    pos = raw.tell()
    try:
        raw.seek(0, 2)
        size = raw.tell()
        starts: list[int] = []
        block = 8 * 2**20
        for offset in range(0, size, block):
            raw.seek(offset)
            data = raw.read(block + len(_GCOL) - 1)
            i = data.find(_GCOL)
            while 0 <= i < block:
                starts.append(offset + i)
                i = data.find(_GCOL, i + 1)
        for start in starts:
            raw.seek(start + 8)
            csize = int.from_bytes(raw.read(8), "little")
            if csize < 16 or start + csize > size:
                continue  # not a collection libhdf5 would load whole; it checks the rest
            raw.seek(start)
            _walk_heap(raw.read(csize), start, what)
    finally:
        raw.seek(pos)


def _walk_heap(heap: bytes, start: int, what: str) -> None:
    """Walk one collection's objects as libhdf5 does; refuse one it would not get past."""
    p, end = 16, len(heap)
    while p < end:
        if p + 16 > end:
            break
        idx = int.from_bytes(heap[p:p + 2], "little")
        size = int.from_bytes(heap[p + 8:p + 16], "little")
        need = 16 + (size + 7) // 8 * 8 if idx > 0 else size
        if need == 0:
            raise FileError(f"{what}: corrupt HDF5 global heap at byte {start + p:,} (a free "
                            f"space of size 0); refusing to read it")
        p += need


def read_bytes(dsid: Any) -> int:
    """The bytes HDF5 decompresses (or reads) to read the whole dataset ``dsid``."""
    from h5py import h5d

    itemsize = dsid.get_type().get_size()
    shape = dsid.shape or ()  # None: a null dataspace (no data)
    plist = dsid.get_create_plist()
    if plist.get_layout() != h5d.CHUNKED:
        return math.prod(shape) * itemsize
    chunk = plist.get_chunk()
    return math.prod(-(-s // c) for s, c in zip(shape, chunk)) * math.prod(chunk) * itemsize


def safe_key(name: str, what: str) -> str:
    """``name`` as an HDF5 key below a group: no empty, ``.`` or ``..`` part."""
    parts = name.split("/")
    if not name or any(p in ("", ".", "..") for p in parts):
        raise UnsafeFileError(f"{what}: bad HDF5 key {name!r}")
    return name


def check_layer_name(name: str, what: str) -> None:
    """A legacy ``layer_names`` entry: an HDF5 key below the weights group, never a
    file-system path. tf_keras writes names with '/' (DenseNet's ``conv1/conv``) as nested
    groups, which are accepted; an empty, ``.`` or ``..`` part (``/abs``, ``a//b``,
    ``../x``) is refused, as for every key (:func:`safe_key`)."""
    parts = name.split("/") if isinstance(name, str) else [""]
    if not name or any(p in ("", ".", "..") for p in parts):
        raise UnsafeFileError(f"{what}: bad layer name {name!r} in layer_names (an empty, "
                              f"'.' or '..' part)")
