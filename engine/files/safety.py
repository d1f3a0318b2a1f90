"""What a model file may ask for: limits, and the checks that refuse malformed or unsafe
files before anything large is read.

A file is untrusted input and only its own bytes are read:

* zip members are looked up by their fixed names, their declared sizes and compression
  ratio are checked before anything is inflated, and nothing is ever extracted to disk;
* every object of an HDF5 file is visited before any tensor is read: external links, soft
  links, external storage and virtual datasets are refused;
* layer and weight names are HDF5 keys at most, never file-system paths.

The limits are module attributes (tests and callers may lower them). h5py is imported
where it is used: it costs more to import than the rest of the engine.
"""

from __future__ import annotations

import zipfile
from typing import Any

#: the largest JSON member / attribute read (bytes)
MAX_JSON_BYTES = 64 * 2**20
#: the largest weights member accepted (bytes)
MAX_WEIGHTS_BYTES = 16 * 2**30
#: the highest compression ratio accepted for a deflated member
MAX_COMPRESSION_RATIO = 200
#: the most HDF5 objects visited in one file
MAX_H5_OBJECTS = 1_000_000


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


def check_h5(f: Any, what: str) -> None:
    """Visit every object of the open ``h5py.File`` without reading data; refuse links and
    external storage."""
    import h5py

    seen: set[Any] = set()
    stack = [("/", f)]
    count = 0
    while stack:
        gpath, group = stack.pop()
        for key in group.keys():
            count += 1
            if count > MAX_H5_OBJECTS:
                raise UnsafeFileError(f"{what}: more than {MAX_H5_OBJECTS:,} HDF5 objects")
            path = f"{gpath.rstrip('/')}/{key}"
            _check_link(group.get(key, getlink=True), path, what)
            obj = group[key]
            if isinstance(obj, h5py.Dataset):
                _check_dataset(obj, path, what)
            elif isinstance(obj, h5py.Group):
                ident = hash(obj.id)
                if ident in seen:
                    continue
                seen.add(ident)
                stack.append((path, obj))


def _check_link(link: Any, path: str, what: str) -> None:
    import h5py

    if isinstance(link, h5py.ExternalLink):
        raise UnsafeFileError(f"{what}: {path!r} is an external link (to "
                              f"{link.filename!r}); refusing to read other files")
    if isinstance(link, h5py.SoftLink):
        raise UnsafeFileError(f"{what}: {path!r} is a soft link (to {link.path!r}); "
                              f"links are refused")
    if not isinstance(link, h5py.HardLink):
        raise UnsafeFileError(f"{what}: {path!r} is an unsupported link type")


def _check_dataset(obj: Any, path: str, what: str) -> None:
    if obj.external:
        raise UnsafeFileError(f"{what}: dataset {path!r} uses external storage; "
                              f"only the file's own bytes are read")
    if obj.is_virtual:
        raise UnsafeFileError(f"{what}: dataset {path!r} is a virtual dataset "
                              f"(maps other files); refused")


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
