"""Reading the HDF5 file format from a file's own bytes (HDF5 File Format Specification
version 3): the superblock, object headers (versions 1 and 2, continuation blocks
followed), shared messages, fractal heaps (managed direct and indirect blocks, huge
objects) and version 2 B-trees. Only what :mod:`engine.files.h5_vlen` needs to find an
attribute's bytes before libhdf5 reads it; every read is bounded, and anything this module
does not follow raises :class:`Unknown`.
"""

from __future__ import annotations

import weakref
from typing import Any

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: the most object header blocks (the first and its continuations) followed
MAX_HEADER_BLOCKS = 64
#: the most bytes of object header read for one object
MAX_HEADER_BYTES = 4 * 2**20
MSG_DATATYPE, MSG_CONTINUATION = 0x03, 0x10
#: the most blocks of a fractal heap, and of a v2 B-tree's nodes, visited for one lookup
MAX_BLOCKS = 10_000
#: the most bytes of a fractal heap's managed blocks read for one lookup
MAX_HEAP_BYTES = 64 * 2**20


#: the bytes the parser may read from one file over all its lookups, in multiples of the
#: file's size (at least ``MAX_HEAP_BYTES``): a hostile file whose objects share one big
#: heap cannot make every lookup read it again
READ_FACTOR = 8


class _Spent:
    """What the parser read from one file object so far, and the global heap collections
    it parsed (shared by every :class:`File` made on that object)."""

    def __init__(self) -> None:
        self.bytes = 0
        self.heaps: dict[int, Any] = {}


_SPENT: weakref.WeakKeyDictionary[Any, _Spent] = weakref.WeakKeyDictionary()


def forget(raw: Any) -> None:
    """Start counting the bytes read from ``raw`` afresh (a new load of the file)."""
    try:
        _SPENT.pop(raw, None)
    except TypeError:
        pass


class Unknown(Exception):
    """A layout this parser does not handle (or a corrupt one): the caller refuses the
    value, since it cannot be measured before libhdf5 reads it."""


def uint(data: bytes, at: int, size: int) -> int:
    if at < 0 or at + size > len(data):
        raise Unknown("past the end")
    return int.from_bytes(data[at:at + size], "little")


class File:
    """The file object ``raw`` with its size and superblock (sizes of offsets and
    lengths, base address)."""

    def __init__(self, raw: Any):
        self.raw = raw
        try:
            self.spent = _SPENT.setdefault(raw, _Spent())
        except TypeError:  # a file object without weak references
            self.spent = _Spent()
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
            raise Unknown("no superblock")
        self.budget = max(MAX_HEAP_BYTES, READ_FACTOR * self.size)
        head = self.read(at, 64)
        version = uint(head, 8, 1)
        if version in (0, 1):
            self.offsets, self.lengths = uint(head, 13, 1), uint(head, 14, 1)
        elif version in (2, 3):
            self.offsets, self.lengths = uint(head, 9, 1), uint(head, 10, 1)
        else:
            raise Unknown(f"superblock version {version}")
        if self.offsets not in (2, 4, 8, 16) or self.lengths not in (2, 4, 8, 16):
            raise Unknown("odd sizes of offsets or lengths")
        # addresses are relative to the superblock, wherever it is: libhdf5 takes its
        # position as the base address, not the stored one (H5F__super_read)
        self.base = at
        self.undefined = 2 ** (8 * self.offsets) - 1

    def read(self, at: int, n: int) -> bytes:
        if at < 0 or n < 0 or at + n > self.size:
            raise Unknown("outside the file")
        self.spent.bytes += n
        if self.spent.bytes > getattr(self, "budget", MAX_HEAP_BYTES):
            raise Unknown(f"measuring this file's attributes would read more than "
                          f"{READ_FACTOR} times its size")
        pos = self.raw.tell()
        try:
            self.raw.seek(at)
            data = self.raw.read(n)
        finally:
            self.raw.seek(pos)
        if len(data) != n:
            raise Unknown("short read")
        return data


def messages(f: File, addr: int) -> tuple[int, list[tuple[int, int, bytes]]]:
    """The version of the object header at ``addr`` (an HDF5 address, relative to the
    base address) and the (type, flags, body) of every message in it, its continuation
    blocks followed in the order libhdf5 loads them."""
    at = f.base + addr
    first = f.read(at, min(16 + 64, f.size - at))
    if first[:4] == b"OHDR":
        return 2, _messages_v2(f, at, first)
    if first[:1] == b"\x01":
        return 1, _messages_v1(f, at, first)
    raise Unknown("object header version")


def _messages_v1(f: File, at: int, first: bytes) -> list[tuple[int, int, bytes]]:
    blocks = [(at + 16, uint(first, 8, 4))]
    out: list[tuple[int, int, bytes]] = []
    total = 0
    while blocks:
        start, size = blocks.pop(0)
        total += size
        if total > MAX_HEADER_BYTES or len(out) > 100_000:
            raise Unknown("header too large")
        data = f.read(start, size)
        p = 0
        while p + 8 <= len(data):
            mtype, msize, mflags = uint(data, p, 2), uint(data, p + 2, 2), data[p + 4]
            body = data[p + 8:p + 8 + msize]
            if len(body) != msize:
                raise Unknown("message past its block")
            out.append((mtype, mflags, body))
            if mtype == MSG_CONTINUATION:
                blocks.append(_continuation(f, body))
            p += 8 + msize
        if _count_blocks(out) > MAX_HEADER_BLOCKS:
            raise Unknown("too many continuation blocks")
    return out


def _messages_v2(f: File, at: int, first: bytes) -> list[tuple[int, int, bytes]]:
    if uint(first, 4, 1) != 2:
        raise Unknown("object header v2 version")
    flags = uint(first, 5, 1)
    p = 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    width = 1 << (flags & 0x03)
    size0 = uint(first, p, width)
    order = 2 if flags & 0x04 else 0
    blocks = [(at + p + width, size0, False)]
    out: list[tuple[int, int, bytes]] = []
    total = 0
    while blocks:
        start, size, is_ochk = blocks.pop(0)
        total += size
        if total > MAX_HEADER_BYTES:
            raise Unknown("header too large")
        data = f.read(start, size)
        if is_ochk:
            if data[:4] != b"OCHK":
                raise Unknown("continuation block signature")
            data = data[4:-4]  # its signature and checksum
        q = 0
        while q + 4 + order <= len(data):
            mtype, msize, mflags = data[q], uint(data, q + 1, 2), data[q + 3]
            body = data[q + 4 + order:q + 4 + order + msize]
            if len(body) != msize:
                raise Unknown("message past its block")
            out.append((mtype, mflags, body))
            if mtype == MSG_CONTINUATION:
                c_at, c_size = _continuation(f, body)
                blocks.append((c_at, c_size, True))
            q += 4 + order + msize
        if _count_blocks(out) > MAX_HEADER_BLOCKS:
            raise Unknown("too many continuation blocks")
    return out


def _count_blocks(messages: list[tuple[int, int, bytes]]) -> int:
    return 1 + sum(1 for m in messages if m[0] == MSG_CONTINUATION)


def _continuation(f: File, body: bytes) -> tuple[int, int]:
    addr, size = uint(body, 0, f.offsets), uint(body, f.offsets, f.lengths)
    if addr == f.undefined:
        raise Unknown("undefined continuation")
    return f.base + addr, size




def shared_address(f: File, body: bytes) -> int:
    """The object header address a shared message (a committed datatype) points at;
    a message shared in the file's shared-message heap (SOHM, which neither Keras nor
    h5py writes) is :class:`Unknown` (libhdf5 H5O__shared_decode)."""
    version = uint(body, 0, 1)
    if version == 1:
        return uint(body, 8 + f.lengths, f.offsets)  # past the reserved bytes and a size
    if version in (2, 3):
        if uint(body, 1, 1) == 1:
            raise Unknown("a message shared in the shared-message heap (SOHM)")
        return uint(body, 2, f.offsets)
    raise Unknown("shared message version")


def _enc_size(n: int) -> int:
    """Bytes to store numbers up to ``n`` (libhdf5 H5VM_limit_enc_size)."""
    return (max(n, 1).bit_length() - 1) // 8 + 1


def btree_records(f: File, addr: int, types: tuple[int, ...]) -> list[bytes]:
    """Every record of the version 2 B-tree whose header is at ``addr`` (one of the
    record ``types``), its internal nodes followed (libhdf5 H5B2hdr.c, H5B2cache.c)."""
    o, n = f.offsets, f.lengths
    head = f.read(f.base + addr, 18 + o + n)
    if head[:5] != b"BTHD\x00" or head[5] not in types:
        raise Unknown("v2 B-tree header")
    node_size, record, depth = uint(head, 6, 4), uint(head, 10, 2), uint(head, 12, 2)
    root, root_count = uint(head, 16, o), uint(head, 16 + o, 2)
    if not (16 <= node_size <= 2**20 and 0 < record <= node_size and depth <= 16):
        raise Unknown("v2 B-tree geometry")
    prefix = 10  # signature, version, type, checksum
    max_nrec = [(node_size - prefix) // record]
    cum, cum_size = [max_nrec[0]], [0]
    count_size = _enc_size(max_nrec[0])
    for d in range(1, depth + 1):
        pointer = o + count_size + (cum_size[d - 1] if d > 1 else 0)
        max_nrec.append((node_size - (prefix + pointer)) // (record + pointer))
        cum.append((max_nrec[d] + 1) * cum[d - 1] + max_nrec[d])
        cum_size.append(_enc_size(cum[d]))
    out: list[bytes] = []
    stack = [(root, root_count, depth)] if root != f.undefined else []
    visits = 0
    while stack:
        node, count, d = stack.pop()
        visits += 1
        if visits > MAX_BLOCKS or count > max_nrec[d]:
            raise Unknown("v2 B-tree too large")
        data = f.read(f.base + node, node_size)
        if data[:5] != (b"BTLF\x00" if d == 0 else b"BTIN\x00"):
            raise Unknown("v2 B-tree node")
        out.extend(data[6 + i * record:6 + (i + 1) * record] for i in range(count))
        if d == 0:
            continue
        p = 6 + count * record
        pointer = o + count_size + (cum_size[d - 1] if d > 1 else 0)
        for i in range(count + 1):
            at = p + i * pointer
            stack.append((uint(data, at, o), uint(data, at + o, count_size), d - 1))
    return out


class Heap:
    """A fractal heap (HDF5 File Format Specification III.G): its managed direct
    blocks, found through the root indirect block and the indirect blocks below it, and
    its huge objects. A heap with I/O filters (libhdf5 never filters the heaps that hold
    attributes) is :class:`Unknown`."""

    def __init__(self, f: File, addr: int):
        o, n = f.offsets, f.lengths
        head = f.read(f.base + addr, 22 + 3 * o + 12 * n + 8)
        if head[:5] != b"FRHP\x00":
            raise Unknown("fractal heap header")
        if uint(head, 7, 2):
            raise Unknown("a fractal heap with I/O filters")
        self.f = f
        self.huge_tree = uint(head, 14 + n, o)
        p = 14 + n + o + n + o + 4 * n  # past the managed-space counters: the huge objects'
        self.huge_count = uint(head, p + n, n)
        p += 4 * n
        self.width, self.start = uint(head, p, 2), uint(head, p + 2, n)
        self.max_direct = uint(head, p + 2 + n, n)
        max_heap_bits = uint(head, p + 2 + 2 * n, 2)
        self.root, self.rows = uint(head, p + 6 + 2 * n, o), uint(head, p + 6 + 2 * n + o, 2)
        self.offset_bytes = (max_heap_bits + 7) // 8
        start, top = self.start, self.max_direct
        if self.root != f.undefined and not (
                0 < start <= top <= 2**26 and start & (start - 1) == 0 and
                top & (top - 1) == 0 and 0 < self.width <= 1024 and 0 < max_heap_bits <= 64):
            raise Unknown("fractal heap geometry")
        # rows of direct blocks an indirect block may have before its indirect ones
        self.direct_rows = (top.bit_length() - start.bit_length()) + 2

    def row_size(self, row: int) -> int:
        return self.start if row < 2 else self.start << (row - 1)

    def direct_blocks(self) -> list[tuple[int, int]]:
        """(address, size) of every managed direct block."""
        if self.root == self.f.undefined:
            return []
        if self.rows == 0:
            return [(self.root, self.start)]
        out: list[tuple[int, int]] = []
        stack = [(self.root, self.rows)]
        seen: set[int] = set()
        total = 0
        while stack:
            addr, rows = stack.pop()
            if addr in seen or len(seen) > MAX_BLOCKS or rows > 64:
                raise Unknown("fractal heap indirect blocks")
            seen.add(addr)
            for child, size, is_direct in self._children(addr, rows):
                if is_direct:
                    if child in seen:
                        raise Unknown("a fractal heap block listed twice")
                    seen.add(child)
                    total += size
                    if total > MAX_HEAP_BYTES or len(out) >= MAX_BLOCKS:
                        raise Unknown("fractal heap too large to scan")
                    out.append((child, size))
                else:  # an indirect block of this row's size: fewer rows than its parent
                    child_rows = (size.bit_length() - 1) - \
                        ((self.start * self.width).bit_length() - 1) + 1
                    if not 0 < child_rows < rows:
                        raise Unknown("fractal heap indirect block rows")
                    stack.append((child, child_rows))
        return out

    def _children(self, addr: int, rows: int) -> list[tuple[int, int, bool]]:
        f, o = self.f, self.f.offsets
        p = 5 + o + self.offset_bytes
        block = f.read(f.base + addr, p + rows * self.width * o)
        if block[:5] != b"FHIB\x00":
            raise Unknown("fractal heap indirect block")
        out = []
        for r in range(rows):
            for c in range(self.width):
                child = uint(block, p + (r * self.width + c) * o, o)
                if child != f.undefined:
                    out.append((child, self.row_size(r), r < self.direct_rows))
        return out

    def huge_objects(self) -> list[tuple[int, int]]:
        """(address, size) of the huge objects (records of type 1 or 3: not filtered)."""
        if not self.huge_count or self.huge_tree == self.f.undefined:
            return []
        o, n = self.f.offsets, self.f.lengths
        out = []
        for rec in btree_records(self.f, self.huge_tree, (1, 3)):
            addr, size = uint(rec, 0, o), uint(rec, o, n)
            if size > MAX_HEADER_BYTES:
                raise Unknown("a huge object too large to read")
            out.append((addr, size))
        return out
