"""Variable-length strings measured on disk, before libhdf5 reads them.

A variable-length string is stored as a descriptor (a 4-byte length, the address of a
global heap collection, the index of an object in it) and libhdf5 allocates the length the
descriptor claims before it looks at the heap: a file that claims 4 GiB costs 4 GiB. So
before a variable-length attribute is read, its descriptors are found in the file's own
bytes (:mod:`engine.files.h5_format`), where libhdf5 will look for them: in the object
header of the object that owns it (versions 1 and 2, continuation blocks followed), or, when
its attribute info message names a dense storage, in that fractal heap (managed direct
blocks below any depth of indirect blocks, huge objects through their v2 B-tree), with a
committed datatype followed to its own object header. A claimed length past the file's
size or the byte limit, or a heap outside the file, is refused.

The check fails closed: a layout it does not follow (an attribute message shared in the
file's shared-message heap (SOHM), a fractal heap with I/O filters: neither Keras nor h5py
writes them, nor libhdf5 for attributes) or one it cannot parse refuses the attribute,
naming it, before libhdf5 reads it.
"""

from __future__ import annotations

import math
from typing import Any

from .h5_format import MSG_DATATYPE, File, Heap, Unknown, messages, shared_address, uint
from .safety import UnsafeFileError

_MSG_ATTRIBUTE, _MSG_ATTRIBUTE_INFO = 0x0C, 0x15
_CLASS_VLEN = 9


def _attribute(f: File, body: bytes, name: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(datatype, dataspace, data) of the attribute message ``body`` if it is named
    ``name`` (None: another attribute); a committed datatype is read from its own object
    header."""
    version, flags = body[0], body[1]
    nsize, tsize, ssize = uint(body, 2, 2), uint(body, 4, 2), uint(body, 6, 2)
    if version == 1:
        def pad(n: int) -> int:
            return (n + 7) // 8 * 8
        p, fields = 8, (pad(nsize), pad(tsize), pad(ssize))
        flags = 0  # reserved in version 1: libhdf5 ignores it
    elif version in (2, 3):
        p, fields = 8 + (version == 3), (nsize, tsize, ssize)
    else:
        raise Unknown("attribute message version")
    stored = body[p:p + nsize].split(b"\x00", 1)[0]
    if stored != name:
        return None
    t_at = p + fields[0]
    s_at = t_at + fields[1]
    d_at = s_at + fields[2]
    if d_at > len(body):
        raise Unknown("attribute message too short")
    dtype = body[t_at:t_at + tsize]
    if flags & 0x02:
        raise Unknown("a dataspace shared in the shared-message heap (SOHM)")
    if flags & 0x01:  # a committed datatype: the datatype message of another header
        _, found = messages(f, shared_address(f, dtype))
        dtype = next((b for t, _, b in found if t == MSG_DATATYPE), None)
        if dtype is None:
            raise Unknown("a committed datatype without a datatype message")
    return dtype, body[s_at:s_at + ssize], body[d_at:]


def _count(space: bytes, lengths: int) -> int:
    """The number of elements of a dataspace message."""
    version, rank, flags = uint(space, 0, 1), uint(space, 1, 1), uint(space, 2, 1)
    if version == 1:
        dims_at = 8
    elif version == 2:
        if uint(space, 3, 1) == 2:  # null
            return 0
        dims_at = 4
    else:
        raise Unknown("dataspace version")
    del flags
    return math.prod(uint(space, dims_at + i * lengths, lengths) for i in range(rank))


def vlen_descriptors(raw: Any, addr: int, name: str) -> list[tuple[int, int, int]] | None:
    """The (claimed bytes, heap collection address, object index) of every element of the
    variable-length attribute ``name`` of the object whose header is at ``addr``
    (``h5py.h5o.get_info(obj.id).addr``) in the HDF5 file ``raw``; the heap address is a
    byte offset in ``raw``. None where the layout is one this parser does not handle
    (shared messages, a dense storage it cannot walk...); an attribute in dense storage
    lists every copy found in its heap's blocks."""
    try:
        found = _descriptors(File(raw), addr, name)
    except (Unknown, IndexError, OSError, ValueError):
        return None
    return None if found is None else [d for group in found[0] for d in group]


def _descriptors(f: File, addr: int, name: str) -> tuple[list[list[Any]], bool] | None:
    """The descriptors of each attribute message named ``name`` where libhdf5 looks for
    it (one list per message): the dense storage an attribute info message names, else
    the object header (H5O__attr_open_by_name); and whether they were found by scanning
    dense storage (a freed copy may be among them). None: not found."""
    key = name.encode("utf-8")
    version, found = messages(f, addr)
    info = next((b for t, _, b in found if t == _MSG_ATTRIBUTE_INFO), None) \
        if version > 1 else None
    if any(t == _MSG_ATTRIBUTE and flags & 0x02 for t, flags, _ in found):
        raise Unknown("an attribute message shared in the shared-message heap (SOHM)")
    heap = f.undefined
    if info is not None:
        heap = uint(info, 2 + (2 if info[1] & 0x01 else 0), f.offsets)
    if heap != f.undefined:
        groups = [_elements(f, *hit) for hit in _dense_attributes(f, heap, key)]
        return (groups, True) if groups else None
    groups = [_elements(f, *hit) for t, _, body in found if t == _MSG_ATTRIBUTE
              and (hit := _attribute(f, body, key)) is not None]
    return (groups, False) if groups else None


def _elements(f: File, dtype: bytes, space: bytes, data: bytes) -> list[tuple[int, int, int]]:
    if uint(dtype, 0, 1) & 0x0F != _CLASS_VLEN:
        raise Unknown("not a variable-length type")
    size = uint(dtype, 4, 4)
    base_size = uint(dtype, 8 + 4, 4)  # the base type's datatype message
    if size != 4 + f.offsets + 4 or base_size < 1:
        raise Unknown("descriptor size")
    count = _count(space, f.lengths)
    if count * size > len(data):
        raise Unknown("attribute data too short")
    out = []
    for i in range(count):
        at = i * size
        length = uint(data, at, 4) * base_size
        heap = uint(data, at + 4, f.offsets)
        index = uint(data, at + 4 + f.offsets, 4)
        out.append((length, heap if heap == f.undefined else f.base + heap, index))
    return out


def _dense_attributes(f: File, heap_addr: int, key: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """The attribute messages named ``key`` in the fractal heap at ``heap_addr`` (dense
    attribute storage): its huge objects, and the messages found in its managed direct
    blocks by their bytes (an attribute message header with that name)."""
    heap = Heap(f, heap_addr)
    found = [hit for addr, size in heap.huge_objects()
             if (hit := _attribute(f, f.read(f.base + addr, size), key)) is not None]
    pattern = key + b"\x00"
    for addr, size in heap.direct_blocks():
        data = f.read(f.base + addr, size)
        at = data.find(pattern)
        while at >= 0:
            for version, offset in ((3, 9), (2, 8), (1, 8)):
                i = at - offset
                if i >= 0 and data[i] == version and uint(data, i + 2, 2) == len(pattern):
                    try:
                        hit = _attribute(f, data[i:], key)
                    except (Unknown, IndexError):
                        continue  # not an attribute message after all
                    if hit is not None:
                        found.append(hit)
            at = data.find(pattern, at + 1)
    return found


def _heap_objects(f: File, heap: int) -> dict[int, int] | None:
    """index -> size of the objects of the global heap collection at byte ``heap`` (None:
    not a collection this parser reads)."""
    lengths = f.lengths
    head = f.read(heap, 8 + lengths)
    if head[:5] != b"GCOL\x01":
        return None
    csize = uint(head, 8, lengths)
    if csize < 16 or csize > f.size - heap or csize > 2**31:
        return None
    data = f.read(heap, csize)
    objects: dict[int, int] = {}
    p = 8 + lengths
    while p + 8 + lengths <= csize:
        idx, osize = uint(data, p, 2), uint(data, p + 8, lengths)
        if idx == 0:  # the free space: the rest of the collection
            break
        objects.setdefault(idx, osize)
        p += 8 + lengths + (osize + 7) // 8 * 8
    return objects


def check_vlen_attribute(raw: Any, addr: int, name: str, limit: int, where: str) -> None:
    """Before the variable-length attribute ``name`` (of the object whose header is at
    ``addr``) is read: refuse a value that claims more bytes than the file has or than
    ``limit`` (all its elements together), a heap outside the file, or (an attribute in
    the object header) a length its heap object does not have; and refuse an attribute
    whose descriptors cannot be found where libhdf5 will look (a layout the parser does
    not follow, or a corrupt one): it cannot be measured before it is read."""
    try:
        f = File(raw)
        found = _descriptors(f, addr, name)
        if found is None:
            raise Unknown("it is not where libhdf5 looks for it")
    except (Unknown, IndexError, OSError, ValueError) as e:
        reason = str(e)[:200] if isinstance(e, Unknown) else f"{type(e).__name__}: {e}"
        raise UnsafeFileError(f"{where}: its variable-length value is stored in a layout "
                              f"that cannot be measured before libhdf5 reads it ({reason}); "
                              f"Keras and h5py do not write such files; refused") from None
    groups, dense = found
    heaps = f.spent.heaps
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
            if heap not in heaps:  # parsed once per file
                try:
                    heaps[heap] = _heap_objects(f, heap)
                except (Unknown, IndexError, OSError, ValueError):
                    heaps[heap] = None
            size = (heaps[heap] or {}).get(index)
            if size is not None and size != length:
                raise UnsafeFileError(f"{where}: a variable-length value claims {length:,} "
                                      f"bytes, its global heap object holds {size:,}; "
                                      f"refused")
