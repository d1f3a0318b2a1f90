"""Preprocessing layers for numbers: Rescaling, Normalization, CategoryEncoding and
Discretization."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...fields import REQUIRED, Axis, Bool, Choice, Float, Int
from ...fields.ranges import NumberList, NumberOrList
from ...formats import KERAS2, KERAS3, normalize_format
from ..base import Layer

__all__ = ["Rescaling", "Normalization", "CategoryEncoding", "Discretization",
           "encode_categorical"]


_EPS = np.float32(1e-7)


class Rescaling(Layer):
    """``inputs * scale + offset`` (scale and offset may be per-channel lists).

    Input shape: any. Output shape: the input shape. No weights.
    """

    supports_masking = True
    fields = (
        NumberOrList("scale", REQUIRED, "Multiplier (e.g. 1/255), or one per channel."),
        NumberOrList("offset", 0.0, "Added after scaling, or one per channel."),
    )

    def call(self, inputs):
        dt = np.dtype(self.compute_dtype)
        x = inputs.astype(dt, copy=False)
        y = np.multiply(x, np.asarray(self.scale, dt))
        offset = np.asarray(self.offset, dt)
        if np.broadcast_shapes(y.shape, offset.shape) != y.shape:
            return y + offset     # an offset that broadcasts the output bigger
        y += offset               # into the product's own buffer: the same sum, no copy
        return y

    def compute_output_shape(self, input_shape):
        """The input shape broadcast with the shapes of ``scale`` and ``offset`` (nested
        lists broadcast as NumPy does, and can make the output far bigger)."""
        shape = tuple(input_shape)
        known = tuple(1 if d is None else d for d in shape)
        try:
            out = np.broadcast_shapes(known, np.shape(self.scale), np.shape(self.offset))
        except ValueError as e:
            raise self.config_error("scale", f"scale {np.shape(self.scale)} and offset "
                                    f"{np.shape(self.offset)} do not broadcast with inputs of "
                                    f"shape {shape}: {e}") from None
        lead = len(out) - len(shape)
        return tuple(None if i >= lead and shape[i - lead] is None and d == 1 else d
                     for i, d in enumerate(out))


class Normalization(Layer):
    """Feature-wise standardization: ``(x - mean) / max(sqrt(variance), 1e-7)``, or with
    ``invert=True`` ``mean + x * max(sqrt(variance), 1e-7)``. ``axis`` lists the axes that
    keep their own statistics (None: one mean and variance for everything).

    ``mean``/``variance`` given in the config are used as is (no weights); otherwise the
    layer has non-trainable weights ``mean``, ``variance`` (the shape of the kept axes) and
    ``count`` (int64 scalar), set with :meth:`adapt` or loaded from a file. Keras 3 quirk,
    reproduced: ``set_weights`` alone does not change the statistics in use (Keras 3 only
    refreshes them in ``adapt`` and when loading a file, through ``finalize_state``); call
    :meth:`finalize_state` after ``set_weights`` to use the new values. A layer read from a
    Keras 2 config always uses its current weights, as Keras 2 does.

    Input shape: any (kept axes known). Output shape: the input shape.
    """

    #: Keras's constructor order
    positional = ("axis", "mean", "variance", "invert")

    supports_masking = True
    fields = (
        Axis("axis", -1, "Axes with separate statistics (None: a single mean).",
             optional=True),
        Bool("invert", False, "Undo the normalization instead of applying it."),
        NumberOrList("mean", None, "Mean to use (else the adapted weight)."),
        NumberOrList("variance", None, "Variance to use (else the adapted weight).", min=0),
    )

    def _post_init(self) -> None:
        axis = self.axis
        axis = [] if axis is None else [axis] if isinstance(axis, int) else list(axis)
        self.axis = axis
        if (self.mean is None) != (self.variance is None):
            raise self.config_error("variance" if self.variance is None else "mean",
                                    "mean and variance must be given together (or neither, "
                                    "to adapt them)")
        if self.mean is not None:
            if np.shape(self.mean) != np.shape(self.variance):
                raise self.config_error("variance", f"must have the shape of mean "
                                        f"{np.shape(self.mean)}, got {np.shape(self.variance)}")
            if len(np.shape(self.mean)) > len(self.axis):
                raise self.config_error("mean", f"rank {len(np.shape(self.mean))} is more than "
                                        f"the number of axes ({len(self.axis)})")

    def build(self, input_shape):
        shape = tuple(input_shape)
        ndim = len(shape)
        for a in self.axis:
            if not -ndim <= a < ndim:
                raise self.config_error("axis", f"axis {a} is out of range for inputs of rank "
                                        f"{ndim}, got axis={self.axis}")
        keep = sorted(a % ndim for a in self.axis)
        for d in keep:
            if shape[d] is None:
                raise ValueError(f"Normalization {self.name!r}: kept axis {d} must be known, "
                                 f"got shape {shape}")
        self._keep = keep
        self._reduce = tuple(d for d in range(ndim) if d not in keep)
        self._bcast = [shape[d] if d in keep else 1 for d in range(ndim)]
        stat_shape = tuple(shape[d] for d in keep)
        self._fixed: tuple[np.ndarray, np.ndarray] | None = None
        if self.mean is None:
            self.adapt_mean = self.add_weight("mean", stat_shape, "zeros", trainable=False)
            self.adapt_variance = self.add_weight("variance", stat_shape, "ones",
                                                  trainable=False)
            self.count = self.add_weight("count", (), "zeros", trainable=False, dtype="int64")
            self._stats: tuple[np.ndarray, np.ndarray] | None = None  # None: the weights
        else:
            self._fixed = (self._expand(self.mean, ndim), self._expand(self.variance, ndim))

    def _expand(self, value: Any, ndim: int) -> np.ndarray:
        arr = np.asarray(value, np.float32)
        full = [1] * ndim
        for i in range(1, arr.ndim + 1):
            full[self._keep[-i]] = arr.shape[-i]
        try:
            return np.broadcast_to(arr.reshape(full), self._bcast)
        except ValueError:
            raise self.config_error("mean", f"shape {arr.shape} does not fit the kept axes "
                                    f"{tuple(self._bcast)}") from None

    def adapt(self, data: Any) -> None:
        """Set mean and variance (and count) from ``data``, as Keras's ``adapt``."""
        x = np.asarray(data, np.float64)
        if not self.built:
            self.build(x.shape)
        if self._fixed is not None:
            raise ValueError(f"Normalization {self.name!r}: mean and variance were given in "
                             f"the config; adapt() needs them left out")
        self.adapt_mean.value = x.mean(axis=self._reduce).astype(np.float32)
        self.adapt_variance.value = x.var(axis=self._reduce).astype(np.float32)
        n = math.prod(x.shape[d] for d in self._reduce)
        self.count.value = np.asarray(n, np.int64)
        self.finalize_state()

    def finalize_state(self) -> None:
        """Use the current ``mean``/``variance`` weights (Keras 3 does this in adapt and
        when loading a file; ``set_weights`` alone does not)."""
        self._stats = None

    def _current(self) -> tuple[np.ndarray, np.ndarray]:
        if self._stats is not None:
            return self._stats
        return (np.asarray(self.adapt_mean.value, np.float32).reshape(self._bcast),
                np.asarray(self.adapt_variance.value, np.float32).reshape(self._bcast))

    def set_weights(self, weights) -> None:
        keep = self._current() if (self.built and self._fixed is None and
                                   self.source_format != KERAS2) else None
        super().set_weights(weights)
        if keep is not None:
            self._stats = keep  # Keras 3: the statistics in use do not change

    def call(self, inputs):
        x = inputs.astype(np.float32, copy=False)
        mean, var = self._fixed if self._fixed is not None else self._current()
        std = np.maximum(np.sqrt(var), _EPS)
        out = mean + x * std if self.invert else (x - mean) / std
        return out.astype(self.compute_dtype, copy=False)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


def encode_categorical(idx: np.ndarray, mode: str, depth: int, dtype: Any,
                       weights: np.ndarray | None = None, who: str = "") -> np.ndarray:
    """Keras's ``one_hot`` / ``multi_hot`` / ``count`` encoding of integer ids.

    A rank-0 or rank-1 input is one sample for multi_hot and count (output ``(depth,)``);
    one_hot drops a trailing axis of size 1. Ids outside ``[0, depth)`` are an error.
    """
    idx = np.asarray(idx)
    if idx.ndim == 0:
        idx = idx[None]
    if idx.size and (idx.min() < 0 or idx.max() >= depth):
        raise ValueError(f"{who}: ids must be in [0, {depth}), got values in "
                         f"[{idx.min()}, {idx.max()}]")
    idx = idx.astype(np.int64)
    if mode == "one_hot":
        if idx.ndim > 1 and idx.shape[-1] == 1:
            idx = idx[..., 0]
        out = np.zeros(idx.shape + (depth,), dtype)
        np.put_along_axis(out, idx[..., None], 1, axis=-1)
        return out
    lead = idx.shape[:-1]
    flat = idx.reshape(-1, idx.shape[-1])
    rows = np.repeat(np.arange(flat.shape[0]), flat.shape[1])
    out = np.zeros((flat.shape[0], depth), np.float64)
    if mode == "multi_hot":
        out[rows, flat.ravel()] = 1
    else:
        w = np.ones(flat.size) if weights is None else np.broadcast_to(
            np.asarray(weights, np.float64), idx.shape).reshape(-1)
        np.add.at(out, (rows, flat.ravel()), w)
    return out.reshape(lead + (depth,)).astype(dtype)


def _encoded_shape(shape: tuple, mode: str, depth: int) -> tuple:
    if len(shape) == 0:
        return (depth,)
    if mode == "one_hot":
        if shape[-1] == 1 and len(shape) > 1:
            return shape[:-1] + (depth,)
        return shape + (depth,)
    return shape[:-1] + (depth,)


class CategoryEncoding(Layer):
    """Encodes integer ids in ``[0, num_tokens)``: ``one_hot`` (a vector per id),
    ``multi_hot`` (1 for each id present in a sample's last axis) or ``count``
    (occurrences; ``count_weights=`` weights them). Dense output only.

    Input shape: ``(batch, ids)`` (or ``(batch,)`` for one_hot). Output shape: ``(batch,
    num_tokens)``; one_hot of ``(batch, ids)`` is ``(batch, ids, num_tokens)``.
    """

    autocast = False
    fields = (
        Int("num_tokens", None, "Number of ids (ids are 0 .. num_tokens-1).", min=1),
        Choice("output_mode", "multi_hot", "Encoding.",
               choices=("one_hot", "multi_hot", "count", "binary")),
        Bool("sparse", False, "Sparse output (not supported: dense only).",
             formats=(KERAS2,)),
    )

    def _post_init(self) -> None:
        if self.num_tokens is None:
            raise self.config_error("num_tokens", "required: the number of ids (a positive "
                                    "int)")
        if self.output_mode == "binary":
            self.output_mode = "multi_hot"
        if self.sparse:
            raise self.config_error("sparse", "sparse outputs are not supported by layerlab; "
                                    "set it to false")

    def call(self, inputs, count_weights=None):
        if count_weights is not None and self.output_mode != "count":
            raise ValueError(f"CategoryEncoding {self.name!r}: count_weights only applies to "
                             f"output_mode='count'")
        x = np.asarray(inputs)
        if np.issubdtype(x.dtype, np.floating):
            if not np.all(np.mod(x, 1) == 0):
                raise ValueError(f"CategoryEncoding {self.name!r} expects integer ids, got "
                                 f"non-integer values")
        return encode_categorical(x, self.output_mode, self.num_tokens, self.compute_dtype,
                                  count_weights, f"CategoryEncoding {self.name!r}")

    def compute_output_shape(self, input_shape):
        return _encoded_shape(tuple(input_shape), self.output_mode, self.num_tokens)


def _quantile_summary(values: np.ndarray, epsilon: float) -> np.ndarray:
    """Every ``step``-th sorted value with weight ``step`` (Keras's ``summarize``)."""
    values = np.sort(values.reshape(-1))
    step = max(values.size / (1.0 / epsilon), 1)
    kept = values[int(step - 1)::int(step)]
    return np.stack([kept, np.full(kept.shape, step, kept.dtype)])


def _compress_summary(summary: np.ndarray, epsilon: float) -> np.ndarray:
    """Resample a (values, weights) summary at the ``epsilon`` quantile grid (Keras's
    ``compress_summary``)."""
    if summary.shape[1] * epsilon < 1:
        return summary
    grid = epsilon + np.arange(0.0, 1.0, epsilon)
    cum = summary[1].cumsum()
    frac = cum / cum[-1]
    values = np.interp(grid, frac, summary[0])
    cum_at = np.interp(grid, frac, cum)
    weights = cum_at - np.concatenate([[0.0], cum_at[:-1]])
    return np.stack([values, weights]).astype(np.float32)


class Discretization(Layer):
    """Buckets numbers by ``bin_boundaries``: bucket ``i`` holds ``bins[i-1] <= x <
    bins[i]``; ``output_mode`` int gives the bucket index, one_hot / multi_hot / count
    encode it over ``len(bin_boundaries) + 1`` buckets. ``num_bins`` without boundaries
    needs :meth:`adapt` (Keras's approximate quantiles, tolerance ``epsilon``).

    Input shape: any. Output shape: int: the input shape; otherwise encoded as
    CategoryEncoding. No weights.
    """

    autocast = False
    fields = (
        NumberList("bin_boundaries", None, "Bucket boundaries, ascending.", ascending=True),
        Int("num_bins", None, "Number of buckets to adapt (needs adapt()).", min=0),
        Float("epsilon", 0.01, "Adapt error tolerance.", min=0, min_open=True),
        Choice("output_mode", "int", "Output encoding.",
               choices=("int", "one_hot", "multi_hot", "count")),
        Bool("sparse", False, "Sparse output (not supported: dense only)."),
    )

    mutable_when_built = frozenset({"bin_boundaries"})  # adapt() sets them

    def __init__(self, *args: Any, _source_format: str = KERAS3, **kwargs: Any):
        if kwargs.get("dtype") is None and normalize_format(_source_format) == KERAS2:
            kwargs["dtype"] = "int64"  # Keras 2's default dtype for this layer
        super().__init__(*args, _source_format=_source_format, **kwargs)

    def _post_init(self) -> None:
        if self.bin_boundaries is None and self.num_bins is None:
            raise self.config_error("bin_boundaries", "set bin_boundaries (or num_bins and "
                                    "adapt the layer)")
        if self.sparse:
            raise self.config_error("sparse", "sparse outputs are not supported by layerlab; "
                                    "set it to false")

    def adapt(self, data: Any) -> None:
        """Compute ``num_bins - 1`` boundaries as approximate quantiles of ``data`` (an
        array, or an iterable of arrays), with Keras's summary algorithm."""
        if self.num_bins is None:
            raise ValueError(f"Discretization {self.name!r}: adapt() needs num_bins "
                             f"(bin_boundaries were given)")
        if isinstance(data, (list, tuple)) and data and all(
                isinstance(b, np.ndarray) for b in data):
            batches = list(data)
        else:
            batches = [np.asarray(data)]
        summary = np.zeros((2, 0), np.float32)
        for batch in batches:
            part = _quantile_summary(np.asarray(batch, np.float32), self.epsilon)
            merged = np.concatenate([part, summary], axis=1)
            merged = merged[:, np.argsort(merged[0], kind="stable")]
            summary = _compress_summary(merged, self.epsilon)
        bins = _compress_summary(summary, 1.0 / self.num_bins)[0, :-1]
        self.bin_boundaries = [float(b) for b in bins]

    def _depth(self) -> int:
        return len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else \
            int(self.num_bins)

    def call(self, inputs):
        if self.bin_boundaries is None:
            raise ValueError(f"Discretization {self.name!r} has num_bins but no "
                             f"bin_boundaries; it must be adapted first (set bin_boundaries)")
        x = np.asarray(inputs, np.float32)
        bins = np.asarray(self.bin_boundaries, np.float32)
        idx = np.digitize(x, bins) if bins.size else np.zeros(x.shape, np.int64)
        if self.output_mode == "int":
            return idx.astype(np.int64 if self.source_format == KERAS2 else np.int32)
        dt = self.compute_dtype if np.issubdtype(np.dtype(self.compute_dtype), np.floating) \
            else np.float32
        return encode_categorical(idx, self.output_mode, self._depth(), dt,
                                  who=f"Discretization {self.name!r}")

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self.output_mode == "int":
            return shape
        return _encoded_shape(shape, self.output_mode, self._depth())

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        cfg = super().get_config(format)
        cfg["dtype"] = self.dtype_policy.name
        own = ["bin_boundaries", "num_bins", "epsilon", "output_mode", "sparse"]
        if format == KERAS2:
            order = ["name", "trainable", "dtype", *own]
        else:
            order = [*own, "name", "dtype"]
        return {k: cfg[k] for k in order if k in cfg}
