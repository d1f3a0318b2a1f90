"""An open HDF5 file whose tensors are read on demand, and closed when no longer needed.

The file is closed after the last pending tensor was read, by :meth:`H5Store.close`
(``model.close()``, the end of a ``with engine.load(path) as model:`` block), or when
nothing can read from it anymore: the store is reachable only through the loaders of unread
weights, so once the model and every layer taken from it are garbage, a
``weakref.finalize`` closes the file.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import WeightsError
from ..layers.base import Variable
from . import safety
from .h5_format import forget
from .safety import FileError, H5Index, check_h5, h5_errors, read_bytes


@contextlib.contextmanager
def closed_on_error(resource: Any) -> Iterator[None]:
    """Close ``resource`` (a store or a file object; None: nothing) if the block raises;
    the error propagates."""
    try:
        yield
    except BaseException:
        if resource is not None:
            resource.close()
        raise


def _close_handles(h5file: Any, owner: Any, raw: Any = None) -> None:
    h5file.close()
    for handle in (raw, owner):
        if handle is not None:
            handle.close()


def _read(h5file: Any, path: str) -> np.ndarray:
    """The whole dataset at ``path``, opened by its path from the root through h5py's
    low-level API (the high-level lookup, group by group, costs more than the read of a
    small tensor)."""
    import h5py
    from h5py import h5d

    return h5py.Dataset(h5d.open(h5file.id, path.encode("utf-8")))[()]


class H5Store:
    """An open ``h5py.File`` whose datasets fill variables lazily.

    Args:
        h5file: the open ``h5py.File``.
        raw: the file object it reads (kept alive while the file is open).
        what: how messages name the file (its path, and the zip member).
        owner: a file object opened for the caller, closed with the store.
        close_raw: close ``raw`` with the store (a temporary file made for it).
    """

    def __init__(self, h5file: Any, raw: Any, what: str, owner: Any = None,
                 close_raw: bool = False):
        self.file, self.raw, self.what = h5file, raw, what
        forget(raw)  # the attribute checks' read budget counts from this load
        self.index: H5Index | None = None  # what the safety walk saw (after check())
        self.pending = 0
        self.reads = 0
        self.read_total = 0  # bytes HDF5 decompressed (or read) so far
        self.heaps_checked = False  # global heaps walked (before a vlen string is read)
        self.closed = False
        self._finalizer = weakref.finalize(self, _close_handles, h5file, owner,
                                           raw if close_raw else None)

    def check(self) -> None:
        """Refuse links, external storage, unknown filters, compression bombs (nothing is
        read before this)."""
        with h5_errors(self.what):
            self.index = check_h5(self.file, self.what)

    def group_size(self, path: str) -> int | None:
        """The number of links of the group at ``path`` (None: no group there)."""
        index = self.index
        if index is not None and (path in index.groups or index.complete):
            return index.groups.get(path)
        import h5py

        with h5_errors(self.what):
            group = self.file.get(path) if path else self.file
            return len(group) if isinstance(group, h5py.Group) else None

    def has_datasets(self, path: str) -> bool:
        """Whether the file holds any tensor at or below ``path``."""
        index = self.index
        if index is not None and index.complete:
            return index.has_datasets(path)
        import h5py

        with h5_errors(self.what):
            group = self.file.get(path) if path else self.file
            if isinstance(group, h5py.Dataset):
                return True
            if not isinstance(group, h5py.Group):
                return False
            return group.visititems(
                lambda _name, obj: True if isinstance(obj, h5py.Dataset) else None) is True

    def dataset(self, path: str, var: Variable, owner: str) -> Any:
        """The dataset at ``path`` for ``var`` of layer ``owner``, its shape and dtype
        checked (nothing is read)."""

        with h5_errors(self.what):
            return self._dataset(path, var, owner)

    def _dataset(self, path: str, var: Variable, owner: str) -> Any:
        info = self._info(path)
        if info is None:
            raise FileError(f"{self.what}: missing {path!r}: the file has no value for "
                            f"variable {var.name!r} of layer {owner!r}")
        if info is False:
            raise FileError(f"{self.what}: {path!r} is not a dataset")
        shape, dtype, _ = info
        if shape is None or tuple(shape) != tuple(var.shape):
            raise WeightsError(f"{self.what}: layer {owner!r}, variable {var.name!r}: the file "
                               f"has shape {None if shape is None else tuple(shape)} at "
                               f"{path!r}, the config implies {tuple(var.shape)}")
        if dtype is None or dtype.kind not in "fiub":
            raise FileError(f"{self.what}: {path!r} has dtype {dtype}, not a number type")
        return info

    def _info(self, path: str) -> Any:
        """(shape, dtype, read cost) of the dataset at ``path``; False: something else is
        there; None: nothing."""
        index = self.index
        if index is not None:
            if path in index.datasets:
                return index.datasets[path]
            if path in index.groups:
                return False
            if index.complete:
                return None
        import h5py

        obj = self.file.get(path)
        if obj is None:
            return None
        if not isinstance(obj, h5py.Dataset):
            return False
        return obj.shape, obj.dtype, read_bytes(obj.id)

    def loader(self, path: str, var: Variable) -> Callable[[], np.ndarray]:
        """A function that reads ``var``'s value from ``path`` (once it is called)."""
        self.pending += 1
        shape, dtype, name = var.shape, var.dtype, var.path

        def read() -> np.ndarray:
            if self.closed:
                raise WeightsError(
                    f"{self.what}: the file was closed (model.close() or the end of a 'with' "
                    f"block) before weight {name!r} was read. Read the weights you need "
                    f"before closing, or load every weight at once with "
                    f"engine.load(path, lazy=False)")
            with h5_errors(self.what):
                info = self._info(path)
                if not info:
                    raise FileError(f"{self.what}: {path!r} is not a dataset")
                cost = info[2]
                if self.read_total + cost > safety.MAX_H5_READ_BYTES:
                    raise FileError(f"{self.what}: reading {path!r} would bring the bytes "
                                    f"decompressed from this file to "
                                    f"{self.read_total + cost:,}, over the limit of "
                                    f"{safety.MAX_H5_READ_BYTES:,} (MAX_H5_READ_BYTES)")
                self.read_total += cost
                arr = np.asarray(_read(self.file, path), dtype=dtype)
            self.reads += 1
            self.pending -= 1
            if arr.shape != shape:
                raise WeightsError(f"{self.what}: {path!r} read with shape {arr.shape}, "
                                   f"expected {shape}")
            if self.pending <= 0:
                self.close()
            return arr
        return read

    def arm(self) -> None:
        """Every loader is set: close now if there is nothing to read."""
        if self.pending <= 0:
            self.close()

    def close(self) -> None:
        """Close the file (and the file object opened for it). Idempotent."""
        self.closed = True
        self._finalizer()
