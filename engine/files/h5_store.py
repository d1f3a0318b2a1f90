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
from .safety import FileError, check_h5, h5_errors, read_bytes


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


def _close_handles(h5file: Any, owner: Any) -> None:
    h5file.close()
    if owner is not None:
        owner.close()


class H5Store:
    """An open ``h5py.File`` whose datasets fill variables lazily.

    Args:
        h5file: the open ``h5py.File``.
        raw: the file object it reads (kept alive while the file is open).
        what: how messages name the file (its path, and the zip member).
        owner: a file object opened for the caller, closed with the store.
    """

    def __init__(self, h5file: Any, raw: Any, what: str, owner: Any = None):
        self.file, self.raw, self.what = h5file, raw, what
        self.pending = 0
        self.reads = 0
        self.read_total = 0  # bytes HDF5 decompressed (or read) so far
        self.heaps_checked = False  # global heaps walked (before a vlen string is read)
        self.closed = False
        self._finalizer = weakref.finalize(self, _close_handles, h5file, owner)

    def check(self) -> None:
        """Refuse links, external storage, unknown filters, compression bombs (nothing is
        read before this)."""
        with h5_errors(self.what):
            check_h5(self.file, self.what)

    def dataset(self, path: str, var: Variable, owner: str) -> Any:
        """The dataset at ``path`` for ``var`` of layer ``owner``, its shape and dtype
        checked (nothing is read)."""

        with h5_errors(self.what):
            return self._dataset(path, var, owner)

    def _dataset(self, path: str, var: Variable, owner: str) -> Any:
        import h5py

        obj = self.file.get(path)
        if obj is None:
            raise FileError(f"{self.what}: missing {path!r}: the file has no value for "
                            f"variable {var.name!r} of layer {owner!r}")
        if not isinstance(obj, h5py.Dataset):
            raise FileError(f"{self.what}: {path!r} is not a dataset")
        if tuple(obj.shape) != tuple(var.shape):
            raise WeightsError(f"{self.what}: layer {owner!r}, variable {var.name!r}: the file "
                               f"has shape {tuple(obj.shape)} at {path!r}, the config implies "
                               f"{tuple(var.shape)}")
        if obj.dtype.kind not in "fiub":
            raise FileError(f"{self.what}: {path!r} has dtype {obj.dtype}, not a number type")
        return obj

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
                dset = self.file[path]
                cost = read_bytes(dset.id)
                if self.read_total + cost > safety.MAX_H5_READ_BYTES:
                    raise FileError(f"{self.what}: reading {path!r} would bring the bytes "
                                    f"decompressed from this file to "
                                    f"{self.read_total + cost:,}, over the limit of "
                                    f"{safety.MAX_H5_READ_BYTES:,} (MAX_H5_READ_BYTES)")
                self.read_total += cost
                arr = np.asarray(dset[()], dtype=dtype)
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
