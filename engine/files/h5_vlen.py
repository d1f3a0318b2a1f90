"""Variable-length strings measured on disk, before libhdf5 reads them.

A variable-length string is stored as a descriptor (a 4-byte length, the address of a
global heap collection, the index of an object in it) and libhdf5 allocates the length the
descriptor claims before it looks at the heap: a file that claims 4 GiB costs 4 GiB. So
before a variable-length attribute is read, its descriptors are found in the file's own
bytes, by parsing the object header of the object that owns it (HDF5 file format
specification: superblock versions 0-3, object headers version 1 and 2 with their
continuation blocks, attribute messages version 1-3), and a claimed length past the file's
size or the byte limit, or a heap outside the file, is refused.

The parser is fail-safe: where it meets a layout it does not handle (attributes in dense
storage, shared messages, a header it cannot follow...) it answers ``None`` and the
caller's bounded read (the attribute's storage size, then the text's measured length)
stays the only check; it never refuses a file because it could not parse it.
"""

from __future__ import annotations

import math
from typing import Any

from .safety import UnsafeFileError

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: the most object header blocks (the first and its continuations) followed
MAX_HEADER_BLOCKS = 64
#: the most bytes of object header read for one object
MAX_HEADER_BYTES = 4 * 2**20
_MSG_CONTINUATION, _MSG_ATTRIBUTE, _MSG_ATTRIBUTE_INFO = 0x10, 0x0C, 0x15
_CLASS_VLEN = 9


class _Unknown(Exception):
    """A layout this parser does not handle: the caller falls back, never refuses."""


def _uint(data: bytes, at: int, size: int) -> int:
    if at < 0 or at + size > len(data):
        raise _Unknown("past the end")
    return int.from_bytes(data[at:at + size], "little")


class _File:
    """The file object ``raw`` with its size and superblock (sizes of offsets and
    lengths, base address)."""

    def __init__(self, raw: Any):
        self.raw = raw
        pos = raw.tell()
        try:
            raw.seek(0, 2)
            self.size = raw.tell()
        finally:
            raw.seek(pos)
        at = 0
        while at + 8 <= self.size and self.read(at, 8) != _SIGNATURE:
            at = 512 if at == 0 else at * 2  # a user block: 512, 1024, 2048...
        if at + 8 > self.size:
            raise _Unknown("no superblock")
        head = self.read(at, 64)
        version = _uint(head, 8, 1)
        if version in (0, 1):
            self.offsets, self.lengths = _uint(head, 13, 1), _uint(head, 14, 1)
            base_at = 24 if version == 0 else 28
        elif version in (2, 3):
            self.offsets, self.lengths = _uint(head, 9, 1), _uint(head, 10, 1)
            base_at = 12
        else:
            raise _Unknown(f"superblock version {version}")
        if self.offsets not in (2, 4, 8, 16) or self.lengths not in (2, 4, 8, 16):
            raise _Unknown("odd sizes of offsets or lengths")
        self.base = _uint(head, base_at, self.offsets)
        self.undefined = 2 ** (8 * self.offsets) - 1

    def read(self, at: int, n: int) -> bytes:
        if at < 0 or n < 0 or at + n > self.size:
            raise _Unknown("outside the file")
        pos = self.raw.tell()
        try:
            self.raw.seek(at)
            data = self.raw.read(n)
        finally:
            self.raw.seek(pos)
        if len(data) != n:
            raise _Unknown("short read")
        return data


def _messages(f: _File, addr: int) -> list[tuple[int, int, bytes]]:
    """(type, flags, body) of every message of the object header at ``addr`` (an HDF5
    address, relative to the base address), its continuation blocks followed."""
    at = f.base + addr
    first = f.read(at, min(16 + 64, f.size - at))
    if first[:4] == b"OHDR":
        return _messages_v2(f, at, first)
    if first[:1] == b"\x01":
        return _messages_v1(f, at, first)
    raise _Unknown("object header version")


def _messages_v1(f: _File, at: int, first: bytes) -> list[tuple[int, int, bytes]]:
    blocks = [(at + 16, _uint(first, 8, 4))]
    out: list[tuple[int, int, bytes]] = []
    total = 0
    while blocks:
        start, size = blocks.pop(0)
        total += size
        if total > MAX_HEADER_BYTES or len(out) > 100_000:
            raise _Unknown("header too large")
        data = f.read(start, size)
        p = 0
        while p + 8 <= len(data):
            mtype, msize, mflags = _uint(data, p, 2), _uint(data, p + 2, 2), data[p + 4]
            body = data[p + 8:p + 8 + msize]
            if len(body) != msize:
                raise _Unknown("message past its block")
            out.append((mtype, mflags, body))
            if mtype == _MSG_CONTINUATION:
                blocks.append(_continuation(f, body))
            p += 8 + msize
        if _count_blocks(out) > MAX_HEADER_BLOCKS:
            raise _Unknown("too many continuation blocks")
    return out


def _messages_v2(f: _File, at: int, first: bytes) -> list[tuple[int, int, bytes]]:
    if _uint(first, 4, 1) != 2:
        raise _Unknown("object header v2 version")
    flags = _uint(first, 5, 1)
    p = 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    width = 1 << (flags & 0x03)
    size0 = _uint(first, p, width)
    order = 2 if flags & 0x04 else 0
    blocks = [(at + p + width, size0, False)]
    out: list[tuple[int, int, bytes]] = []
    total = 0
    while blocks:
        start, size, is_ochk = blocks.pop(0)
        total += size
        if total > MAX_HEADER_BYTES:
            raise _Unknown("header too large")
        data = f.read(start, size)
        if is_ochk:
            if data[:4] != b"OCHK":
                raise _Unknown("continuation block signature")
            data = data[4:-4]  # its signature and checksum
        q = 0
        while q + 4 + order <= len(data):
            mtype, msize, mflags = data[q], _uint(data, q + 1, 2), data[q + 3]
            body = data[q + 4 + order:q + 4 + order + msize]
            if len(body) != msize:
                raise _Unknown("message past its block")
            out.append((mtype, mflags, body))
            if mtype == _MSG_CONTINUATION:
                c_at, c_size = _continuation(f, body)
                blocks.append((c_at, c_size, True))
            q += 4 + order + msize
        if _count_blocks(out) > MAX_HEADER_BLOCKS:
            raise _Unknown("too many continuation blocks")
    return out


def _count_blocks(messages: list[tuple[int, int, bytes]]) -> int:
    return 1 + sum(1 for m in messages if m[0] == _MSG_CONTINUATION)


def _continuation(f: _File, body: bytes) -> tuple[int, int]:
    addr, size = _uint(body, 0, f.offsets), _uint(body, f.offsets, f.lengths)
    if addr == f.undefined:
        raise _Unknown("undefined continuation")
    return f.base + addr, size


def _attribute(body: bytes, name: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(datatype, dataspace, data) of the attribute message ``body`` if it is named
    ``name`` (None: another attribute)."""
    version, flags = body[0], body[1]
    nsize, tsize, ssize = _uint(body, 2, 2), _uint(body, 4, 2), _uint(body, 6, 2)
    if version == 1:
        def pad(n: int) -> int:
            return (n + 7) // 8 * 8
        p, fields = 8, (pad(nsize), pad(tsize), pad(ssize))
    elif version in (2, 3):
        p, fields = 8 + (version == 3), (nsize, tsize, ssize)
    else:
        raise _Unknown("attribute message version")
    stored = body[p:p + nsize].split(b"\x00", 1)[0]
    if stored != name:
        return None
    if flags & 0x03:
        raise _Unknown("shared datatype or dataspace")
    t_at = p + fields[0]
    s_at = t_at + fields[1]
    d_at = s_at + fields[2]
    if d_at > len(body):
        raise _Unknown("attribute message too short")
    return body[t_at:t_at + tsize], body[s_at:s_at + ssize], body[d_at:]


def _count(space: bytes, lengths: int) -> int:
    """The number of elements of a dataspace message."""
    version, rank, flags = _uint(space, 0, 1), _uint(space, 1, 1), _uint(space, 2, 1)
    if version == 1:
        dims_at = 8
    elif version == 2:
        if _uint(space, 3, 1) == 2:  # null
            return 0
        dims_at = 4
    else:
        raise _Unknown("dataspace version")
    del flags
    return math.prod(_uint(space, dims_at + i * lengths, lengths) for i in range(rank))


def vlen_descriptors(raw: Any, addr: int, name: str) -> list[tuple[int, int, int]] | None:
    """The (claimed bytes, heap collection address, object index) of every element of the
    variable-length attribute ``name`` of the object whose header is at ``addr``
    (``h5py.h5o.get_info(obj.id).addr``) in the HDF5 file ``raw``; the heap address is a
    byte offset in ``raw``. None where the layout is one this parser does not handle
    (shared messages, a dense storage it cannot walk...); an attribute in dense storage
    lists every copy found in its heap's blocks."""
    try:
        found = _descriptors(_File(raw), addr, name)
    except (_Unknown, IndexError, OSError, ValueError):
        return None
    return None if found is None else [d for group in found[0] for d in group]


def _descriptors(f: _File, addr: int, name: str) -> tuple[list[list[Any]], bool] | None:
    """The descriptors of each attribute message named ``name`` (one list per message),
    and whether they were found by scanning dense storage (a freed copy may be among
    them); None: not found."""
    key = name.encode("utf-8")
    groups: list[list[Any]] = []
    info = None
    for mtype, mflags, body in _messages(f, addr):
        if mtype == _MSG_ATTRIBUTE_INFO:
            info = body
        if mtype != _MSG_ATTRIBUTE:
            continue
        if mflags & 0x02:  # a shared message, stored elsewhere
            raise _Unknown("shared attribute message")
        hit = _attribute(body, key)
        if hit is not None:
            groups.append(_elements(f, *hit))
    if groups:
        return groups, False
    if info is None:
        return None
    groups = [_elements(f, *hit) for hit in _dense_attributes(f, info, key)]
    return (groups, True) if groups else None


def _elements(f: _File, dtype: bytes, space: bytes, data: bytes) -> list[tuple[int, int, int]]:
    if _uint(dtype, 0, 1) & 0x0F != _CLASS_VLEN:
        raise _Unknown("not a variable-length type")
    size = _uint(dtype, 4, 4)
    base_size = _uint(dtype, 8 + 4, 4)  # the base type's datatype message
    if size != 4 + f.offsets + 4 or base_size < 1:
        raise _Unknown("descriptor size")
    count = _count(space, f.lengths)
    if count * size > len(data):
        raise _Unknown("attribute data too short")
    out = []
    for i in range(count):
        at = i * size
        length = _uint(data, at, 4) * base_size
        heap = _uint(data, at + 4, f.offsets)
        index = _uint(data, at + 4 + f.offsets, 4)
        out.append((length, heap if heap == f.undefined else f.base + heap, index))
    return out


def _dense_attributes(f: _File, info: bytes, key: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """The attribute messages named ``key`` in the managed blocks of the fractal heap an
    attribute info message names (found by their bytes: an attribute
    message header with that name) and its huge objects; a heap with filters or more than
    one level of indirect blocks is not walked (``_Unknown``)."""
    p = 2 + (2 if info[1] & 0x01 else 0)
    heap = _uint(info, p, f.offsets)
    if heap == f.undefined:
        return []
    o, n = f.offsets, f.lengths
    head = f.read(f.base + heap, 22 + 3 * o + 12 * n + 8)
    if head[:5] != b"FRHP\x00":
        raise _Unknown("fractal heap header")
    if _uint(head, 7, 2):
        raise _Unknown("a filtered fractal heap")
    huge_tree = _uint(head, 14 + n, o)
    p = 14 + n + o + n + o + 4 * n  # past the managed-space counters: the huge objects'
    huge = _uint(head, p + n, n)
    p += 4 * n
    width, start = _uint(head, p, 2), _uint(head, p + 2, n)
    max_direct, max_heap_bits = _uint(head, p + 2 + n, n), _uint(head, p + 2 + 2 * n, 2)
    root, rows = _uint(head, p + 6 + 2 * n, o), _uint(head, p + 6 + 2 * n + o, 2)
    found = [hit for addr, size in (_huge_objects(f, huge_tree) if huge else [])
             if (hit := _attribute(f.read(f.base + addr, size), key)) is not None]
    if root == f.undefined:
        return found
    if not (0 < start <= max_direct <= 2**26) or width == 0 or width > 1024:
        raise _Unknown("heap geometry")
    if rows == 0:
        blocks = [(root, start)]
    else:
        blocks = _direct_children(f, root, rows, width, start, max_direct, max_heap_bits)
    if sum(size for _, size in blocks) > MAX_HEADER_BYTES * 16:
        raise _Unknown("heap too large to scan")
    pattern = key + b"\x00"
    for addr, size in blocks:
        data = f.read(f.base + addr, size)
        at = data.find(pattern)
        while at >= 0:
            for version, offset in ((3, 9), (2, 8), (1, 8)):
                i = at - offset
                if i >= 0 and data[i] == version and _uint(data, i + 2, 2) == len(pattern):
                    try:
                        hit = _attribute(data[i:], key)
                    except (_Unknown, IndexError):
                        continue  # not an attribute message after all, or a shared one
                    if hit is not None:
                        found.append(hit)
            at = data.find(pattern, at + 1)
    return found


def _huge_objects(f: _File, tree: int) -> list[tuple[int, int]]:
    """(address, size) of the huge objects of a fractal heap, from its v2 B-tree (one
    leaf: the root; records of type 1 or 3, objects not filtered)."""
    o, n = f.offsets, f.lengths
    head = f.read(f.base + tree, 16 + o + 2)
    if head[:5] != b"BTHD\x00" or head[5] not in (1, 3) or _uint(head, 12, 2) != 0:
        raise _Unknown("huge objects' B-tree")
    record, root, count = _uint(head, 10, 2), _uint(head, 16, o), _uint(head, 16 + o, 2)
    if record < o + n:
        raise _Unknown("huge objects' B-tree record")
    leaf = f.read(f.base + root, 6 + record * count)
    if leaf[:5] != b"BTLF\x00":
        raise _Unknown("huge objects' B-tree leaf")
    out = []
    for i in range(count):
        at = 6 + i * record
        addr, size = _uint(leaf, at, o), _uint(leaf, at + o, n)
        if size > MAX_HEADER_BYTES:
            raise _Unknown("a huge object too large to read")
        out.append((addr, size))
    return out


def _direct_children(f: _File, root: int, rows: int, width: int, start: int,
                     max_direct: int, max_heap_bits: int) -> list[tuple[int, int]]:
    """(address, size) of the direct blocks of a root indirect block whose children are
    all direct blocks."""
    if rows > 64:
        raise _Unknown("too many rows")
    max_direct_rows = (max_direct.bit_length() - 1) - (start.bit_length() - 1) + 2
    if rows > max_direct_rows:
        raise _Unknown("indirect children")
    offset_bytes = (max_heap_bits + 7) // 8
    p = 5 + f.offsets + offset_bytes
    block = f.read(f.base + root, p + rows * width * f.offsets)
    if block[:5] != b"FHIB\x00":
        raise _Unknown("indirect block signature")
    out = []
    for r in range(rows):
        size = start if r < 2 else start << (r - 1)
        for c in range(width):
            addr = _uint(block, p + (r * width + c) * f.offsets, f.offsets)
            if addr != f.undefined:
                out.append((addr, size))
    return out


def _heap_objects(f: _File, heap: int) -> dict[int, int] | None:
    """index -> size of the objects of the global heap collection at byte ``heap`` (None:
    not a collection this parser reads)."""
    lengths = f.lengths
    head = f.read(heap, 8 + lengths)
    if head[:5] != b"GCOL\x01":
        return None
    csize = _uint(head, 8, lengths)
    if csize < 16 or csize > f.size - heap or csize > 2**31:
        return None
    data = f.read(heap, csize)
    objects: dict[int, int] = {}
    p = 8 + lengths
    while p + 8 + lengths <= csize:
        idx, osize = _uint(data, p, 2), _uint(data, p + 8, lengths)
        if idx == 0:  # the free space: the rest of the collection
            break
        objects.setdefault(idx, osize)
        p += 8 + lengths + (osize + 7) // 8 * 8
    return objects


def check_vlen_attribute(raw: Any, addr: int, name: str, limit: int, where: str) -> None:
    """Before the variable-length attribute ``name`` (of the object whose header is at
    ``addr``) is read: refuse a value that claims more bytes than the file has or than
    ``limit`` (all its elements together), a heap outside the file, or (an attribute in
    the object header) a length its heap object does not have. A layout the parser does
    not handle passes unchecked."""
    try:
        f = _File(raw)
        found = _descriptors(f, addr, name)
    except (_Unknown, IndexError, OSError, ValueError):
        return
    groups, dense = found if found is not None else ([], False)
    heaps: dict[int, dict[int, int] | None] = {}
    for group in groups:
        total = 0
        for length, heap, index in group:
            if length == 0:
                continue
            total += length
            if length > f.size:
                raise UnsafeFileError(f"{where}: a variable-length value claims {length:,} "
                                      f"bytes, more than the whole file ({f.size:,} "
                                      f"bytes); refused before libhdf5 allocates it")
            if total > limit:
                raise UnsafeFileError(f"{where}: its variable-length values claim "
                                      f"{total:,} bytes, over the limit of {limit:,}; "
                                      f"refused before libhdf5 allocates them")
            if heap == f.undefined or heap + 16 > f.size:
                raise UnsafeFileError(f"{where}: a variable-length value's global heap "
                                      f"lies outside the file (at byte {heap:,} of "
                                      f"{f.size:,}); refused")
            if dense:
                continue  # a freed copy in the heap may name a freed heap object
            if heap not in heaps:
                try:
                    heaps[heap] = _heap_objects(f, heap)
                except (_Unknown, IndexError, OSError, ValueError):
                    heaps[heap] = None
            size = (heaps[heap] or {}).get(index)
            if size is not None and size != length:
                raise UnsafeFileError(f"{where}: a variable-length value claims {length:,} "
                                      f"bytes, its global heap object holds {size:,}; "
                                      f"refused")
