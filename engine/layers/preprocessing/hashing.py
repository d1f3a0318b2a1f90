"""Hashing and HashedCrossing: values to bins with TensorFlow's exact hashes.

Strings hash as their UTF-8 bytes, integers as their decimal string (``tf.as_string``);
unsalted bins are FarmHash ``Fingerprint64 % bins``, salted ones keyed SipHash-2-4.
HashedCrossing combines its features' fingerprints (integers as themselves) with
``FingerprintCat64``, as ``tf.sparse.cross_hashed`` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import InputError
from ...fields import REQUIRED, Bool, Choice, Int, Json
from ...formats import KERAS2, KERAS3
from ..base import Layer
from .hash_functions import CROSS_HASH_KEY, fingerprint64, fingerprint_cat64, hash_buckets
from .lookup import _Salt, cast_text_input, check_budget, encode_lookups

__all__ = ["Hashing", "HashedCrossing"]

_M = 0xFFFFFFFFFFFFFFFF


def _encode(idx: np.ndarray, mode: str, depth: int, dtype: Any) -> np.ndarray:
    if mode == "int":
        return idx.astype(dtype)
    return encode_lookups(idx, mode, depth, dtype)


def _default_dtype(kwargs: dict[str, Any]) -> None:
    if kwargs.get("dtype") is None:
        kwargs["dtype"] = "int64" if kwargs.get("output_mode", "int") == "int" else "float32"


class Hashing(Layer):
    """Hashes each value into one of ``num_bins`` bins. With ``mask_value`` set, bin 0 is
    kept for that value and the others hash into ``1 .. num_bins-1``. ``salt`` (an int or
    two) switches to TensorFlow's keyed SipHash.

    Input shape: any (str, bytes or integers; floats are truncated to integers in Keras 3).
    Output shape: int: the input shape; one_hot / multi_hot / count as CategoryEncoding.

    Example::

        Hashing(num_bins=3)(np.array([["A"], ["B"], ["C"]]))
    """

    autocast = False
    keras_builds_at_init = True
    fields = (
        Int("num_bins", REQUIRED, "Number of bins (including the mask bin).", min=1),
        _Salt("salt", None, "SipHash key: an int or a list of two (None: FarmHash)."),
        Json("mask_value", None, "Value sent to bin 0 (None: no mask bin)."),
        Choice("output_mode", "int", "Output encoding.",
               choices=("int", "one_hot", "multi_hot", "count")),
        Bool("sparse", False, "Sparse output (not supported: dense only)."),
    )

    def __init__(self, *args: Any, **kwargs: Any):
        _default_dtype(kwargs)
        super().__init__(*args, **kwargs)

    def _cast(self, x: Any) -> np.ndarray:
        return cast_text_input(self, x)

    def _post_init(self) -> None:
        if self.sparse:
            raise self.config_error("sparse", "sparse outputs are not supported by layerlab; "
                                    "set it to false")
        if self.output_mode == "int" and self.dtype_policy.name not in ("int32", "int64"):
            if self.source_format == KERAS2:
                self._values["dtype"] = type(self).field("dtype").validate(
                    "int64", "dtype", KERAS2)
            else:
                raise self.config_error("dtype", f"output_mode 'int' needs dtype int32 or "
                                        f"int64, got {self.dtype_policy.name!r}")
        if self.mask_value is not None and not isinstance(self.mask_value, (str, int)):
            raise self.config_error("mask_value", "expected a string or an int")
        if self.output_mode != "int":
            check_budget(self, self.num_bins, "an output width (num_bins)")

    def get_build_config(self) -> dict[str, Any] | None:
        return {"input_shape": None}  # Keras 3 builds this layer at construction

    def hash_bins(self, values: Any) -> np.ndarray:
        """The int64 bin of every value."""
        x = np.asarray(values)
        if x.dtype.kind == "f" and self.source_format != KERAS2:
            x = x.astype(np.int64)
        if x.dtype.kind not in "iuUSO":
            raise InputError(self._where_input(),
                             f"Hashing {self.name!r} expects strings or integers, got an "
                             f"array of {x.dtype}")
        bins = self.num_bins
        mask = None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            mv = self.mask_value
            if x.dtype.kind == "S" and isinstance(mv, str):
                mv = mv.encode()
            mask = x == mv
        key = tuple(self.salt) if self.salt is not None else None
        out = hash_buckets(x, bins, key)
        if mask is not None:
            out = np.where(mask, 0, out + 1)
        return out.astype(np.int64)

    def call(self, inputs):
        x = np.asarray(inputs)
        if self.output_mode == "one_hot" and x.ndim and x.shape[-1] == 1:
            x = x[..., 0]
        idx = self.hash_bins(x)
        return _encode(idx, self.output_mode, self.num_bins, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self.output_mode == "int":
            return shape
        if self.output_mode == "one_hot" and shape and shape[-1] == 1:
            return shape[:-1] + (self.num_bins,)
        if self.output_mode == "one_hot":
            return shape + (self.num_bins,)
        return shape[:-1] + (self.num_bins,) if shape else (self.num_bins,)


def _feature_hash(v: Any) -> int:
    if isinstance(v, bytes):
        return fingerprint64(v)
    if isinstance(v, str):
        return fingerprint64(v.encode("utf-8"))
    return int(v) & _M


class HashedCrossing(Layer):
    """Crosses two or more features into ``num_bins`` bins: ``cross_hashed`` of the
    features of each sample (strings by FarmHash fingerprint, integers as themselves,
    combined with ``FingerprintCat64`` from TensorFlow's default key).

    Input: a list of arrays of shape ``()``, ``(batch,)`` or ``(batch, 1)``, all the same.
    Output shape: int: the inputs' shape; one_hot appends ``num_bins`` (replacing a last
    axis of 1).
    """

    autocast = False
    multi_input = True
    keras_builds_at_init = True
    fields = (
        Int("num_bins", REQUIRED, "Number of bins.", min=1),
        Choice("output_mode", "int", "Output encoding.", choices=("int", "one_hot")),
        Bool("sparse", False, "Sparse output (not supported: dense only)."),
    )

    def __init__(self, *args: Any, **kwargs: Any):
        _default_dtype(kwargs)
        super().__init__(*args, **kwargs)

    def _post_init(self) -> None:
        if self.sparse:
            raise self.config_error("sparse", "sparse outputs are not supported by layerlab; "
                                    "set it to false")
        if self.output_mode != "int":
            check_budget(self, self.num_bins, "an output width (num_bins)")

    def get_build_config(self) -> dict[str, Any] | None:
        return {"input_shape": None}  # Keras 3 builds this layer at construction

    def _convert_inputs(self, inputs: Any) -> Any:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise InputError(self._where_input(),
                             f"HashedCrossing {self.name!r} expects a list of at least two "
                             f"inputs")
        xs = [cast_text_input(self, i) for i in inputs]
        first = xs[0].shape
        if len(first) > 2 or (len(first) == 2 and first[-1] != 1):
            raise InputError(self._where_input(),
                             f"HashedCrossing {self.name!r}: inputs must have shape (), "
                             f"(batch,) or (batch, 1), got {first}")
        for x in xs:
            if x.shape != first:
                raise InputError(self._where_input(),
                                 f"HashedCrossing {self.name!r}: all inputs must have the same "
                                 f"shape, got {[i.shape for i in xs]}")
            if x.dtype.kind not in "iuUSO":
                raise InputError(self._where_input(),
                                 f"HashedCrossing {self.name!r}: inputs must be integers or "
                                 f"strings, got {x.dtype}")
        return xs

    def call(self, inputs):
        shape = inputs[0].shape
        cols = [x.reshape(-1).tolist() for x in inputs]
        out = np.empty(len(cols[0]), np.int64)
        for i, feats in enumerate(zip(*cols)):
            h = CROSS_HASH_KEY
            for v in feats:
                h = fingerprint_cat64(h, _feature_hash(v))
            out[i] = h % self.num_bins
        idx = out.reshape(shape)
        if self.output_mode == "int":
            return idx.astype(self.compute_dtype)
        return encode_lookups(idx, "one_hot", self.num_bins, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        first = tuple(input_shape[0])
        if self.output_mode == "int":
            return first
        if first and first[-1] == 1:
            return first[:-1] + (self.num_bins,)
        return first + (self.num_bins,)

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        cfg = super().get_config(format)
        if format == KERAS3:
            order = ["num_bins", "output_mode", "sparse", "name", "dtype"]
            cfg["dtype"] = self.dtype_policy.name
            return {k: cfg[k] for k in order}
        return cfg
