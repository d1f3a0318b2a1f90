"""Preprocessing layers without external state: Rescaling, Normalization,
CategoryEncoding, Discretization, and the random image augmentation layers.

Augmentation layers are the identity at inference (``training=False``, Keras's default for
a direct call), except Keras 2's RandomCrop, which smart-resizes to its target (a layer
read from a Keras 2 config does that; others follow Keras 3 and return the input).
With ``training=True`` they draw their random parameters from ``self._rng`` (seeded by
``seed``): the same seed gives the same sequence of outputs, but the random streams are
not Keras's. Given the same drawn parameters the transformations are Keras 3's (affine
matrices, TensorFlow's fill and interpolation rules, colour formulas): the oracle cases
check this with single-value ranges, where Keras's draw is deterministic.

Keras 3's later set is here too: Pipeline (nested layers applied in order), the geometric
RandomShear, RandomPerspective and RandomElasticTransform, the colour layers RandomHue,
RandomSaturation, RandomColorJitter, RandomGaussianBlur, RandomErasing, the deterministic
Equalization (training only, as Keras 3) and ContrastLimitedAdaptiveHistogramEqualization
(always), the batch mixers MixUp and CutMix, the composite RandAugment and AugMix, and
MaxNumBoundingBoxes. The augmentation layers also take Keras 3's dict form
``{"images": ..., "labels": ...}``: labels pass through, except that MixUp and CutMix mix
them with the weights they used for the images.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import registry
from ..errors import ConfigError, describe
from ..fields import (
    KERAS2,
    KERAS3,
    REQUIRED,
    Axis,
    Bool,
    Choice,
    Field,
    Float,
    Int,
    IntTuple,
    Json,
    Seed,
)
from .base import Layer
from .resizing import DataFormat, crop_to_aspect, resize_images

__all__ = ["Rescaling", "Normalization", "CategoryEncoding", "Discretization", "RandomFlip",
           "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
           "RandomCrop", "RandomBrightness", "RandomHeight", "RandomWidth", "AutoContrast",
           "RandomGrayscale", "RandomInvert", "Solarization", "RandomPosterization",
           "RandomColorDegeneration", "RandomSharpness"]

_EPS = np.float32(1e-7)


def _from_keras2() -> bool:
    return registry.current_format() == KERAS2


def _numbers(layer: Layer, field: str, value: Any, *, allow_list: bool = True) -> Any:
    """A number or (if allowed) a nested list of numbers, else a ConfigError."""
    want = "a number or a list of numbers" if allow_list else "a number"
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise layer.config_error(field, f"expected {want}, got {describe(value)}") from None
    if isinstance(value, bool) or arr.dtype == object or (arr.ndim and not allow_list) or \
            not np.all(np.isfinite(arr)):
        raise layer.config_error(field, f"expected finite numbers, got {describe(value)}")
    return value


class Rescaling(Layer):
    """``inputs * scale + offset`` (scale and offset may be per-channel lists).

    Input shape: any. Output shape: the input shape. No weights.
    """

    supports_masking = True
    fields = (
        Json("scale", REQUIRED, "Multiplier (e.g. 1/255)."),
        Json("offset", 0.0, "Added after scaling."),
    )

    def _post_init(self) -> None:
        _numbers(self, "scale", self.scale)
        _numbers(self, "offset", self.offset)

    def call(self, inputs):
        dt = np.dtype(self.compute_dtype)
        x = inputs.astype(dt, copy=False)
        return (x * np.asarray(self.scale, dt) + np.asarray(self.offset, dt)).astype(dt)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


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

    supports_masking = True
    fields = (
        Axis("axis", -1, "Axes with separate statistics (None: a single mean).",
             optional=True),
        Bool("invert", False, "Undo the normalization instead of applying it."),
        Json("mean", None, "Mean to use (else the adapted weight).", optional=True),
        Json("variance", None, "Variance to use (else the adapted weight).", optional=True),
    )

    def _post_init(self) -> None:
        self._keras2 = _from_keras2()
        axis = self.axis
        axis = [] if axis is None else [axis] if isinstance(axis, int) else list(axis)
        self._values["axis"] = self.axis = axis
        if (self.mean is None) != (self.variance is None):
            raise self.config_error("variance" if self.variance is None else "mean",
                                    "mean and variance must be given together (or neither, "
                                    "to adapt them)")
        if self.mean is not None:
            _numbers(self, "mean", self.mean)
            _numbers(self, "variance", self.variance)
            if np.shape(self.mean) != np.shape(self.variance):
                raise self.config_error("variance", f"must have the shape of mean "
                                        f"{np.shape(self.mean)}, got {np.shape(self.variance)}")
            if len(np.shape(self.mean)) > len(self.axis):
                raise self.config_error("mean", f"rank {len(np.shape(self.mean))} is more than "
                                        f"the number of axes ({len(self.axis)})")
            if np.any(np.asarray(self.variance, np.float64) < 0):
                raise self.config_error("variance", "must be >= 0")

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
                                   not self._keras2) else None
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


# -- categorical encoding -------------------------------------------------------------


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
            self._values["output_mode"] = self.output_mode = "multi_hot"
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
        Json("bin_boundaries", None, "Sorted bucket boundaries.", optional=True),
        Int("num_bins", None, "Number of buckets to adapt (needs adapt()).", min=0),
        Float("epsilon", 0.01, "Adapt error tolerance.", min=0, min_open=True),
        Choice("output_mode", "int", "Output encoding.",
               choices=("int", "one_hot", "multi_hot", "count")),
        Bool("sparse", False, "Sparse output (not supported: dense only)."),
    )

    def __init__(self, *args: Any, **kwargs: Any):
        if kwargs.get("dtype") is None and _from_keras2():
            kwargs["dtype"] = "int64"  # Keras 2's default dtype for this layer
        super().__init__(*args, **kwargs)

    def _post_init(self) -> None:
        self._keras2 = _from_keras2()
        if self.bin_boundaries is None and self.num_bins is None:
            raise self.config_error("bin_boundaries", "set bin_boundaries (or num_bins and "
                                    "adapt the layer)")
        if self.bin_boundaries is not None:
            b = self.bin_boundaries
            if not isinstance(b, list) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in b):
                raise self.config_error("bin_boundaries", f"expected a list of numbers, got "
                                        f"{describe(b)}")
            if any(b2 < b1 for b1, b2 in zip(b, b[1:])):
                raise self.config_error("bin_boundaries", f"must be sorted ascending, got {b}")
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
        self._values["bin_boundaries"] = self.bin_boundaries = [float(b) for b in bins]

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
            return idx.astype(np.int64 if self._keras2 else np.int32)
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
        if format in (KERAS2, "k2", "2"):
            order = ["name", "trainable", "dtype", *own]
        else:
            order = [*own, "name", "dtype"]
        return {k: cfg[k] for k in order if k in cfg}


# -- image augmentation ---------------------------------------------------------------

_RNG_TYPE = Choice("rng_type", "stateful", "Keras 2 random generator kind.",
                   choices=("stateful", "stateless", "legacy"), formats=(KERAS2,))
_FILL_MODES = ("reflect", "wrap", "constant", "nearest")


def _factor_pair(layer: Layer, field: str, value: Any, lo: float, hi: float) -> tuple:
    """Keras 3's ``_set_factor``: a number f gives ``(max(-|f|, lo), |f|)``; a pair is
    sorted; both must lie within ``[lo, hi]``."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                      for v in value):
            raise layer.config_error(field, f"expected a number or a list of two numbers, got "
                                     f"{describe(value)}")
        a, b = sorted(float(v) for v in value)
        if a < lo or b > hi:
            raise layer.config_error(field, f"values must be in [{lo}, {hi}], got {value}")
        return (a, b)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise layer.config_error(field, f"expected a number or a list of two numbers, got "
                                 f"{describe(value)}")
    if not lo <= value <= hi:
        raise layer.config_error(field, f"must be in [{lo}, {hi}], got {value}")
    f = abs(float(value))
    return (max(-f, lo), f)


def _keras_number(v: float) -> Any:
    return int(v) if float(v).is_integer() and not isinstance(v, float) else v


class _RandomImage(Layer):
    """Base of the augmentation layers (not registered): identity at inference, a seeded
    random transformation in training, on ``(batch, H, W, C)`` or ``(H, W, C)`` images."""

    abstract = True
    #: fields whose Keras 3 config is the normalized [lower, upper] pair, with bounds
    k3_factor_fields: dict[str, tuple[float, float]] = {}

    def _post_init(self) -> None:
        self._keras2 = _from_keras2()
        self._pairs = {name: _factor_pair(self, name, self._values[name], *bounds)
                       for name, bounds in self.k3_factor_fields.items()
                       if self._values.get(name) is not None}

    def __call__(self, inputs: Any, *args: Any, training: bool = False, **kwargs: Any) -> Any:
        """Images, or Keras 3's dict form ``{"images": ..., "labels": ...}`` (labels pass
        through, except MixUp and CutMix, which mix them as they mix the images)."""
        if not isinstance(inputs, dict):
            return super().__call__(inputs, *args, training=training, **kwargs)
        return _call_on_dict(self, inputs, training, lambda x: super(_RandomImage, self)
                             .__call__(x, *args, training=training, **kwargs))

    def _labels(self, labels: np.ndarray) -> np.ndarray:
        """Labels after the last training call (most layers leave them unchanged)."""
        return labels

    def call(self, inputs, training=False):
        x = inputs
        if x.ndim not in (3, 4):
            raise ValueError(f"{type(self).__name__} {self.name!r} expects images of rank 3 or "
                             f"4, got shape {x.shape}")
        if not training:
            return self._inference(x)
        single = x.ndim == 3
        batch = x[None] if single else x
        if getattr(self, "data_format", "channels_last") == "channels_first":
            out = np.moveaxis(self._augment(np.moveaxis(batch, 1, -1)), -1, 1)
        else:
            out = self._augment(batch)
        out = out.astype(self.compute_dtype, copy=False)
        return out[0] if single else out

    def _inference(self, x: np.ndarray) -> np.ndarray:
        return x

    def _augment(self, x: np.ndarray) -> np.ndarray:
        """``x``: ``(batch, H, W, C)`` channels last."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        cfg = super().get_config(format)
        if format not in (KERAS2, "k2", "2"):
            for name, pair in self._pairs.items():
                cfg[name] = [_keras_number(v) for v in pair]
        return cfg


def _call_on_dict(layer: Layer, data: dict, training: bool, run: Any) -> dict:
    """Run ``run`` on ``data["images"]`` and the layer's label rule on ``data["labels"]``;
    other keys (bounding boxes, segmentation masks) are not supported."""
    other = sorted(set(data) - {"images", "labels"})
    if "images" not in data or other:
        raise ValueError(f"{type(layer).__name__} {layer.name!r}: a dict input takes "
                         f"'images' and optionally 'labels', got keys {sorted(data)}"
                         + (" (bounding boxes and segmentation masks are not supported)"
                            if other else ""))
    out = dict(data)
    out["images"] = run(data["images"])
    if "labels" in data:
        labels = np.asarray(data["labels"])
        out["labels"] = layer._labels(labels) if training else labels
    return out


def affine_transform(images: np.ndarray, matrix: np.ndarray, interpolation: str = "bilinear",
                     fill_mode: str = "reflect", fill_value: float = 0.0) -> np.ndarray:
    """Samples ``images`` (B, H, W, C) at ``matrix @ [x, y, 1]`` per output pixel.

    ``matrix``: (B, 2, 3) maps output (x=col, y=row) to input coordinates; a (B, 3, 3)
    matrix is projective (the result is divided by its third row). Fill modes as
    TensorFlow's ImageProjectiveTransform: reflect (d c b a | a b c d | d c b a), wrap,
    nearest (edge), constant (``fill_value``).
    """
    b, h, w, c = images.shape
    ys = np.arange(h, dtype=np.float64)[None, :, None]
    xs = np.arange(w, dtype=np.float64)[None, None, :]
    m = np.asarray(matrix, np.float64)[:, :, :, None, None]  # (B, rows, 3, 1, 1)
    sx, sy = (m[:, r, 0] * xs + m[:, r, 1] * ys + m[:, r, 2] for r in (0, 1))
    if m.shape[1] == 3:  # projective: divide by the third coordinate
        k = m[:, 2, 0] * xs + m[:, 2, 1] * ys + m[:, 2, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            sx, sy = sx / k, sy / k
        sx = np.where(np.isfinite(sx), sx, -1.0e9)  # k == 0: outside the image
        sy = np.where(np.isfinite(sy), sy, -1.0e9)
    sx = _map_coord(sx, w, fill_mode)
    sy = _map_coord(sy, h, fill_mode)
    flat = images.reshape(b * h * w, c)
    base = (np.arange(b) * (h * w))[:, None, None]

    def read(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        vals = np.take(flat, base + np.clip(yy, 0, h - 1) * w + np.clip(xx, 0, w - 1),
                       axis=0)
        if fill_mode != "constant":
            return vals
        return np.where(inside[..., None], vals, np.asarray(fill_value, images.dtype))

    if interpolation == "nearest":
        return read(_round_half_away(sy), _round_half_away(sx))
    y0, x0 = np.floor(sy), np.floor(sx)
    wt = images.dtype if images.dtype == np.float32 else np.float64  # TF blends in float32
    dy, dx = (sy - y0)[..., None].astype(wt), (sx - x0)[..., None].astype(wt)
    y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
    top = read(y0, x0) * (1 - dx) + read(y0, x0 + 1) * dx
    bottom = read(y0 + 1, x0) * (1 - dx) + read(y0 + 1, x0 + 1) * dx
    return (top * (1 - dy) + bottom * dy).astype(images.dtype)


def _map_coord(c: np.ndarray, size: int, mode: str) -> np.ndarray:
    """TensorFlow's ImageProjectiveTransform coordinate rules per fill mode."""
    if mode == "constant":
        return c
    if size <= 1:
        return np.zeros_like(c)
    if mode == "reflect":
        m = np.mod(c, 2 * size)
        c = np.where(m >= size, 2 * size - m - 1, m)
    elif mode == "wrap":
        sz = size - 1
        c = np.where(c < 0, c + size * (np.trunc(-c / sz) + 1),
                     np.where(c > sz, c - size * np.trunc(c / sz), c))
    return np.clip(c, 0, size - 1)


def _round_half_away(c: np.ndarray) -> np.ndarray:
    return np.trunc(c + np.copysign(0.5, c)).astype(np.int64)


def _centered(mats: np.ndarray, h: int, w: int) -> np.ndarray:
    """Turn (B, 2, 2) linear maps about the image centre into (B, 2, 3) affine maps."""
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    shift = c - np.einsum("bij,j->bi", mats, c)
    return np.concatenate([mats, shift[..., None]], axis=-1)


_INTERP2 = Choice("interpolation", "bilinear", "Interpolation of sampled pixels.",
                  choices=("nearest", "bilinear"))


def _fill_fields() -> tuple:
    return (Choice("fill_mode", "reflect", "How points outside the input are filled.",
                   choices=_FILL_MODES),
            Float("fill_value", 0.0, "Value used by fill_mode='constant'."))


class RandomFlip(_RandomImage):
    """Training: flips each image (probability 0.5) horizontally and/or vertically per
    ``mode`` (with ``horizontal_and_vertical`` one draw decides both, as in Keras 3).

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    fields = (
        _RNG_TYPE,
        DataFormat(formats=(KERAS3,)),
        Seed(),
        Choice("mode", "horizontal_and_vertical", "Which flips to apply.",
               choices=("horizontal", "vertical", "horizontal_and_vertical")),
    )
    keras2_order = ("name", "trainable", "dtype", "rng_type", "mode", "seed")

    def _augment(self, x):
        flips = self._rng.uniform(size=(x.shape[0], 1, 1, 1)) <= 0.5
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            x = np.where(flips, x[:, :, ::-1], x)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            x = np.where(flips, x[:, ::-1], x)
        return x


class RandomRotation(_RandomImage):
    """Training: rotates each image by a random angle in ``factor * 2 pi`` about its
    centre, filling per ``fill_mode`` (Keras 3's affine matrix and fill rules).

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    k3_factor_fields = {"factor": (-1.0, 1.0)}
    fields = (
        _RNG_TYPE,
        DataFormat(formats=(KERAS3,)),
        Json("factor", REQUIRED, "Fraction of a full turn: f for [-f, f], or [lower, upper]."),
        *_fill_fields(),
        _INTERP2,
        Seed(),
    )

    def _augment(self, x):
        lo, hi = self._pairs["factor"]
        theta = self._rng.uniform(lo, hi, size=x.shape[0]) * 2 * np.pi
        cos, sin = np.cos(theta), np.sin(theta)
        mats = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], axis=1)
        return affine_transform(x, _centered(mats, x.shape[1], x.shape[2]), self.interpolation,
                                self.fill_mode, self.fill_value)


def _zoom_translate_fields() -> tuple:
    return (
        _RNG_TYPE,
        DataFormat(formats=(KERAS3,)),
        Json("height_factor", REQUIRED, "Vertical range: f for [-f, f], or [lower, upper]."),
        Json("width_factor", None, "Horizontal range (None: same as height).", optional=True),
        Choice("fill_mode", "reflect", "How points outside the input are filled.",
               choices=_FILL_MODES),
        _INTERP2,
        Seed(),
        Float("fill_value", 0.0, "Value used by fill_mode='constant'."),
    )


_ZT_K2_ORDER = ("name", "trainable", "dtype", "rng_type", "height_factor", "width_factor",
                "fill_mode", "fill_value", "interpolation", "seed")


class RandomZoom(_RandomImage):
    """Training: zooms each image by ``1 + u`` with u drawn from the factor ranges
    (positive: zoom out, negative: zoom in); ``width_factor=None`` keeps the aspect.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    fields = _zoom_translate_fields()
    keras2_order = _ZT_K2_ORDER

    def _post_init(self) -> None:
        super()._post_init()
        self._h = _factor_pair(self, "height_factor", self.height_factor, -1.0, math.inf)
        self._w = None if self.width_factor is None else _factor_pair(
            self, "width_factor", self.width_factor, -1.0, math.inf)

    def _augment(self, x):
        n = x.shape[0]
        zy = 1.0 + self._rng.uniform(*self._h, size=n)
        zx = zy if self._w is None else 1.0 + self._rng.uniform(*self._w, size=n)
        zero = np.zeros(n)
        mats = np.stack([np.stack([zx, zero], -1), np.stack([zero, zy], -1)], axis=1)
        return affine_transform(x, _centered(mats, x.shape[1], x.shape[2]), self.interpolation,
                                self.fill_mode, self.fill_value)


class RandomTranslation(_RandomImage):
    """Training: shifts each image by fractions of its height and width drawn from the
    factor ranges, filling per ``fill_mode``.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    fields = tuple(Json("width_factor", REQUIRED, "Horizontal range: f for [-f, f], or "
                        "[lower, upper].") if f.name == "width_factor" else f
                   for f in _zoom_translate_fields())
    keras2_order = _ZT_K2_ORDER

    def _post_init(self) -> None:
        super()._post_init()
        self._h = _factor_pair(self, "height_factor", self.height_factor, -1.0, 1.0)
        self._w = _factor_pair(self, "width_factor", self.width_factor, -1.0, 1.0)

    def _augment(self, x):
        n, h, w = x.shape[:3]
        dy = self._rng.uniform(*self._h, size=n) * h
        dx = self._rng.uniform(*self._w, size=n) * w
        one, zero = np.ones(n), np.zeros(n)
        mats = np.stack([np.stack([one, zero, -dx], -1), np.stack([zero, one, -dy], -1)], 1)
        return affine_transform(x, mats, self.interpolation, self.fill_mode, self.fill_value)


def _value_range(layer: Layer, value: Any) -> list:
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise layer.config_error("value_range", f"expected a list of two numbers, got "
                                 f"{describe(value)}")
    return sorted(value)


class RandomContrast(_RandomImage):
    """Training: ``(x - mean) * c + mean`` per image and channel (mean over H, W), c drawn
    from ``[1 - lower, 1 + upper]``, clipped to ``value_range`` (Keras 3; a Keras 2 config
    draws c from ``[1 - f, 1 + f]``).

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    k3_factor_fields = {"factor": (0.0, 1.0)}
    fields = (
        _RNG_TYPE,
        DataFormat(formats=(KERAS3,)),
        Json("factor", REQUIRED, "Contrast range: f, or [lower, upper] in [0, 1]."),
        Json("value_range", [0, 255], "Range to clip the output to.", formats=(KERAS3,)),
        Seed(),
    )

    def _post_init(self) -> None:
        super()._post_init()
        self._values["value_range"] = self.value_range = _value_range(self, self.value_range)

    def _augment(self, x):
        lo, hi = self._pairs["factor"]
        if self._keras2 and not isinstance(self.factor, (list, tuple)):
            lo = hi = abs(float(self.factor))
        c = self._rng.uniform(1 - lo, 1 + hi, size=(x.shape[0], 1, 1, 1))
        mean = x.mean(axis=(1, 2), keepdims=True)
        out = (x - mean) * c + mean
        return np.clip(out, *self.value_range)


class RandomBrightness(_RandomImage):
    """Training: adds ``u * (value_range[1] - value_range[0])`` per image, u drawn from
    the factor range, and clips to ``value_range``.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    k3_factor_fields = {"factor": (-1.0, 1.0)}
    fields = (
        _RNG_TYPE,
        DataFormat(formats=(KERAS3,)),
        Json("factor", REQUIRED, "Brightness range: f for [-f, f], or [lower, upper]."),
        Json("value_range", [0, 255], "Range of the pixel values."),
        Seed(),
    )

    def _post_init(self) -> None:
        super()._post_init()
        self._values["value_range"] = self.value_range = _value_range(self, self.value_range)

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        cfg = super().get_config(format)
        cfg["factor"] = [_keras_number(v) for v in self._pairs["factor"]]  # both formats
        return cfg

    def _augment(self, x):
        lo, hi = self._pairs["factor"]
        vr = self.value_range
        delta = self._rng.uniform(lo, hi, size=(x.shape[0], 1, 1, 1)) * (vr[1] - vr[0])
        return np.clip(x + delta, vr[0], vr[1])


class RandomCrop(_RandomImage):
    """Training: a random ``(height, width)`` window of each batch (one offset per call,
    as Keras); an input not larger than the target is centre-cropped to the target aspect
    and resized. Inference: Keras 3 returns the input unchanged; Keras 2 (a layer read from
    a Keras 2 config) centre-crops to the target aspect and resizes (bilinear).

    A target larger than the input is refused (ConfigError naming height or width).
    Input shape: ``(batch, H, W, C)`` or ``(H, W, C)``. Output shape: the input shape at
    Keras 3 inference, else ``H, W = height, width``. No weights.
    """

    fields = (
        _RNG_TYPE,
        DataFormat(formats=(KERAS3,)),
        Int("height", REQUIRED, "Crop height.", min=1),
        Int("width", REQUIRED, "Crop width.", min=1),
        Seed(),
    )

    def _post_init(self) -> None:
        super()._post_init()
        if self.seed is None and not self._keras2:
            # Keras 3 draws and records a seed when none is given
            seed = int(np.random.default_rng().integers(1, 10**9))
            self._values["seed"] = self.seed = seed

    def _hw(self, ndim: int) -> tuple[int, int]:
        if self.data_format == "channels_first":
            return ndim - 2, ndim - 1
        return ndim - 3, ndim - 2

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) not in (3, 4):
            raise ValueError(f"RandomCrop {self.name!r} expects images of rank 3 or 4, got "
                             f"shape {shape}")
        h, w = self._hw(len(shape))
        for field, ax in (("height", h), ("width", w)):
            size = shape[ax]
            if size is not None and getattr(self, field) > size:
                raise self.config_error(field, f"the crop ({getattr(self, field)}) is larger "
                                        f"than the input's {field} ({size}); use Resizing or "
                                        f"CenterCrop to upscale")

    def _inference(self, x):
        if not self._keras2:
            return x
        return resize_images(x, (self.height, self.width), "bilinear",
                             data_format=self.data_format, crop_to_aspect_ratio=True)

    def _augment(self, x):
        _, h, w, _ = x.shape
        bigger = (h >= self.height and w >= self.width) if self._keras2 else \
            (h > self.height and w > self.width)
        if not bigger:
            return resize_images(crop_to_aspect(x, (self.height, self.width)),
                                 (self.height, self.width), "bilinear")
        hs = int(self._rng.integers(0, h - self.height + 1))
        ws = int(self._rng.integers(0, w - self.width + 1))
        return x[:, hs:hs + self.height, ws:ws + self.width]

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        if self._keras2:
            h, w = self._hw(len(shape))
            shape[h], shape[w] = self.height, self.width
        return tuple(shape)


class _RandomSide(_RandomImage):
    """Keras 2's RandomHeight / RandomWidth (not registered)."""

    abstract = True
    keras_formats = (KERAS2,)
    axis = 1
    fields = (
        _RNG_TYPE,
        Json("factor", REQUIRED, "Range: f for [-f, f], or [lower, upper] (lower > -1)."),
        Choice("interpolation", "bilinear", "Resize interpolation.",
               choices=("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5",
                        "gaussian", "mitchellcubic")),
        Seed(),
    )

    def _post_init(self) -> None:
        super()._post_init()
        self._range = _factor_pair(self, "factor", self.factor, -1.0, math.inf)
        if self._range[0] <= -1.0:
            raise self.config_error("factor", "the lower bound must be > -1")

    def _augment(self, x):
        size = [x.shape[1], x.shape[2]]
        size[self.axis - 1] = max(int(round(size[self.axis - 1] *
                                            (1 + self._rng.uniform(*self._range)))), 1)
        return resize_images(x, tuple(size), self.interpolation)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class RandomHeight(_RandomSide):
    """Keras 2 only. Training: resizes the height by ``1 + u``, u drawn from the factor
    range. Inference: identity.

    Input shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    axis = 1


class RandomWidth(_RandomSide):
    """Keras 2 only. Training: resizes the width by ``1 + u``, u drawn from the factor
    range. Inference: identity.

    Input shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    axis = 2



# -- Keras 3 colour layers --------------------------------------------------------------


def _to_range(x: np.ndarray, src: Any, dst: Any) -> np.ndarray:
    """Keras's ``_transform_value_range``: map ``[src0, src1]`` linearly onto ``[dst0,
    dst1]`` (float32)."""
    if src[0] == dst[0] and src[1] == dst[1]:
        return x
    x = x.astype(np.float32, copy=False)
    s0, s1, d0, d1 = (np.float32(v) for v in (*src, *dst))
    return (x - s0) / (s1 - s0) * (d1 - d0) + d0


def _grayscale(x: np.ndarray) -> np.ndarray:
    if x.shape[-1] != 3:
        raise ValueError(f"expected RGB images (3 channels), got shape {x.shape}")
    w = np.asarray([0.2989, 0.5870, 0.1140], x.dtype)
    return np.tensordot(x, w, axes=([-1], [0]))[..., None]


class _ColorLayer(_RandomImage):
    """Keras 3-only colour augmentation (not registered)."""

    abstract = True
    keras_formats = (KERAS3,)

    def _post_init(self) -> None:
        super()._post_init()
        vr = self._values.get("value_range")
        if vr is not None:
            self._values["value_range"] = self.value_range = _value_range(self, vr)


class AutoContrast(_ColorLayer):
    """Stretches each image's channels to the full ``value_range`` (per image and channel:
    ``(x - min) / (max - min)``); a flat channel is left unchanged. Deterministic: it
    applies at inference too, as in Keras 3.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    fields = (
        DataFormat(),
        Json("value_range", [0, 255], "Range of the pixel values."),
    )

    def _inference(self, x):
        batch = x[None] if x.ndim == 3 else x
        if self.data_format == "channels_first":
            batch = np.moveaxis(batch, 1, -1)
        out = self._augment(batch)
        if self.data_format == "channels_first":
            out = np.moveaxis(out, -1, 1)
        out = out.astype(self.compute_dtype, copy=False)
        return out[0] if x.ndim == 3 else out

    def _augment(self, x):
        orig = x
        img = _to_range(x, self.value_range, (0, 255)).astype(np.float32, copy=False)
        low = img.min(axis=(1, 2), keepdims=True)
        high = img.max(axis=(1, 2), keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.float32(255.0) / (high - low)
            out = np.clip(img * scale + (-low * scale), 0.0, 255.0)
        out = _to_range(out, (0, 255), self.value_range)
        return np.where(np.isnan(out), orig, out)


class RandomGrayscale(_ColorLayer):
    """Training: turns each RGB image to grayscale (``0.2989 R + 0.587 G + 0.114 B`` in
    every channel) with probability ``factor``. Inference: identity.

    Input/output shape: ``(batch, H, W, 3)`` or ``(H, W, 3)``. No weights.
    """

    fields = (
        DataFormat(),
        Float("factor", 0.5, "Probability of converting an image.", min=0, max=1),
        Seed(formats=()),
    )

    def _augment(self, x):
        apply = self._rng.uniform(size=(x.shape[0], 1, 1, 1)) < self.factor
        return np.where(apply, _grayscale(x), x)


class RandomInvert(_ColorLayer):
    """Training: replaces an image by ``value_range[1] - x`` with a probability drawn from
    ``factor``. Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    k3_factor_fields = {"factor": (0.0, 1.0)}
    fields = (
        DataFormat(),
        Json("factor", 1.0, "Probability range: f for [0, f], or [lower, upper]."),
        Json("value_range", [0, 255], "Range of the pixel values."),
        Seed(),
    )

    def _post_init(self) -> None:
        _RandomImage._post_init(self)
        _value_range(self, self.value_range)
        self._values["value_range"] = self.value_range = list(self.value_range)

    def _augment(self, x):
        n = x.shape[0]
        prob = self._rng.uniform(*self._pairs["factor"], size=n)
        apply = (self._rng.uniform(size=n) < prob)[:, None, None, None]
        return np.where(apply, np.float32(self.value_range[1]) - x, x)


def _unit_pair(layer: Layer, field: str, value: Any) -> tuple:
    """Solarization's factors: a number f gives [0, f], a pair is sorted; all in [0, 1]."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise layer.config_error(field, f"expected a number or two numbers in [0, 1], got "
                                     f"{describe(value)}")
        items = list(value)
    else:
        items = [value]
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise layer.config_error(field, f"expected numbers in [0, 1], got "
                                     f"{describe(value)}")
    return tuple(sorted(items)) if len(items) == 2 else (0, value)


class Solarization(_ColorLayer):
    """Training (values mapped to 0..255): adds a random amount (``addition_factor``),
    clips, and inverts pixels above a random threshold (``threshold_factor``), as Keras 3.
    Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    fields = (
        DataFormat(),
        Json("value_range", [0, 255], "Range of the pixel values."),
        Json("addition_factor", 0.0, "Added amount (fraction of 255): f or [lower, upper]."),
        Json("threshold_factor", 0.0, "Inversion threshold (fraction of 255)."),
        Seed(),
    )

    def _post_init(self) -> None:
        super()._post_init()
        self._add = _unit_pair(self, "addition_factor", self.addition_factor)
        self._thr = _unit_pair(self, "threshold_factor", self.threshold_factor)

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        cfg = super().get_config(format)
        cfg["addition_factor"], cfg["threshold_factor"] = list(self._add), list(self._thr)
        return cfg

    def _augment(self, x):
        shape = (x.shape[0], 1, 1, 1)
        add = self._rng.uniform(self._add[0], self._add[1] * 255, size=shape)
        thr = self._rng.uniform(self._thr[0], self._thr[1] * 255, size=shape)
        img = np.clip(_to_range(x, self.value_range, (0, 255)) + add.astype(np.float32), 0, 255)
        img = np.where(img < thr, img, 255 - img)
        return _to_range(img.astype(np.float32), (0, 255), self.value_range)


class RandomPosterization(_ColorLayer):
    """Training: keeps the top ``b`` bits of each 0..255 value, ``b`` drawn per image from
    ``factor`` (1..8). Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    k3_factor_fields = {"factor": (1.0, 8.0)}
    fields = (
        DataFormat(),
        Json("factor", REQUIRED, "Bits to keep: b for [1, b], or [lower, upper] in 1..8."),
        Json("value_range", [0, 255], "Range of the pixel values."),
        Seed(),
    )

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        cfg = super().get_config(format)
        cfg["factor"] = [int(v) if float(v).is_integer() else v for v in self._pairs["factor"]]
        return cfg

    def _augment(self, x):
        lo, hi = (int(v) for v in self._pairs["factor"])
        n = x.shape[0]
        bits = self._rng.integers(lo, hi, size=n) if lo != hi else np.full(n, lo)
        shift = (8 - bits).astype(np.uint8)[:, None, None, None]
        img = _to_range(x, self.value_range, (0, 255))
        img = np.clip(img, 0, 255).astype(np.uint8)
        img = np.left_shift(np.right_shift(img, shift), shift).astype(np.float32)
        return _to_range(img, (0, 255), self.value_range)


class RandomColorDegeneration(_ColorLayer):
    """Training: blends each RGB image towards its grayscale version, ``x + f * (gray -
    x)`` with f drawn from the factor range, clipped to ``value_range``. Inference:
    identity.

    Input/output shape: ``(batch, H, W, 3)`` or ``(H, W, 3)``. No weights.
    """

    k3_factor_fields = {"factor": (-1.0, 1.0)}
    fields = (
        DataFormat(),
        Json("factor", REQUIRED, "Blend range: f for [-f, f], or [lower, upper]."),
        Json("value_range", [0, 255], "Range of the pixel values."),
        Seed(),
    )

    def _augment(self, x):
        f = self._rng.uniform(*self._pairs["factor"], size=(x.shape[0], 1, 1, 1))
        out = x + f.astype(np.float32) * (_grayscale(x) - x)
        return np.clip(out, *self.value_range)


class RandomSharpness(_ColorLayer):
    """Training: ``x + (1 - 2 f) * (smooth(x) - x)`` with the 3x3 smoothing kernel
    ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13`` (zero padded), f drawn from the factor
    range, clipped to ``value_range`` (Keras 3's formula). Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    k3_factor_fields = {"factor": (0.0, 1.0)}
    fields = (
        DataFormat(),
        Json("factor", REQUIRED, "Sharpness range: f for [0, f], or [lower, upper]."),
        Json("value_range", [0, 255], "Range of the pixel values."),
        Seed(),
    )

    def _augment(self, x):
        f = self._rng.uniform(*self._pairs["factor"], size=(x.shape[0], 1, 1, 1)) * 2
        h, w = x.shape[1:3]
        padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        smooth = np.zeros_like(x)
        for dy in range(3):  # the nine taps of the 3x3 kernel
            for dx in range(3):
                weight = np.float32(5.0 / 13.0 if dy == dx == 1 else 1.0 / 13.0)
                smooth += weight * padded[:, dy:dy + h, dx:dx + w]
        out = x + (1.0 - f.astype(np.float32)) * (smooth - x)
        return np.clip(out, *self.value_range)


# -- Keras 3 augmentation layers added with the colour ones -----------------------------


class _LayerConfigs(Field):
    """A non-empty list of nested layer configs (Pipeline.layers)."""

    kind = "layer_list"

    def expected(self) -> str:
        return "a list of layer configs"

    def _check(self, value: Any, path: str) -> list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(path, f"expected a list of layer configs, got {describe(value)}")
        out = []
        for i, item in enumerate(value):
            layer = registry.get_object("layer", item, f"{path}[{i}]")
            if not isinstance(layer, Layer):
                raise ConfigError(f"{path}[{i}]", f"expected a layer, got {describe(layer)}")
            out.append(layer)
        return out

    def to_config(self, value: Any, fmt: str) -> Any:
        from ..serialization import serialize

        return [serialize(v, format=fmt) for v in value]


def _nested_weight_paths(layer: Layer, prefix: str = "") -> None:
    base = f"{prefix}{layer.name}"
    for w in layer._weights:
        w.path = f"{base}/{w.name}"
    for sub in layer._sublayers:
        _nested_weight_paths(sub, base + "/")


class Pipeline(Layer):
    """Applies ``layers`` one after the other (each one's output feeds the next), passing
    ``training`` on; masks pass through layers that take one. Keras 3 only. Its config has
    only ``layers`` and ``name``.

    Input shape: the first layer's. Output shape: the last layer's. Weights: those of the
    nested layers, in order.
    """

    keras_formats = (KERAS3,)
    fields = (_LayerConfigs("layers", REQUIRED, "The layers to apply, first to last."),)

    def _post_init(self) -> None:
        self._sublayers = list(self.layers)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            shape = tuple(layer.compute_output_shape(shape))
        _nested_weight_paths(self)  # Keras 3: pipeline/<layer>/<weight>

    def __call__(self, inputs: Any, *args: Any, training: bool = False, **kwargs: Any) -> Any:
        if isinstance(inputs, dict):  # Keras 3's {"images", "labels"} form, layer by layer
            for layer in self.layers:
                inputs = layer(inputs, training=training)
            return inputs
        return super().__call__(inputs, *args, training=training, **kwargs)

    def call(self, inputs, training=False, mask=None):
        x = inputs
        for layer in self.layers:
            kw: dict[str, Any] = {"training": training}
            if mask is not None and ("mask" in layer._call_accepts or layer._call_var_kw):
                kw["mask"] = mask
            x = layer(x, **kw)
            mask = layer.compute_mask(x, mask) if mask is not None else None
        return x

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = tuple(layer.compute_output_shape(shape))
        return shape

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        cfg = super().get_config(format)
        return {"layers": cfg["layers"], "name": cfg["name"]}


def _unit_factor(layer: Layer, field: str, value: Any) -> tuple:
    """RandomShear's factors: f in [0, 1] gives (-f, f); a pair of values in [-1, 1] is
    sorted (the number types are kept for the config)."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(items) not in (1, 2) or (isinstance(value, (list, tuple)) and len(items) != 2):
        raise layer.config_error(field, f"expected a number or two numbers in [0, 1], got "
                                 f"{describe(value)}")
    low = -1 if len(items) == 2 else 0  # Keras writes [-f, f]: read it back
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not low <= v <= 1:
            raise layer.config_error(field, f"expected numbers in [{low}, 1], got "
                                     f"{describe(value)}")
    if len(items) == 2:
        return tuple(sorted(items))
    f = abs(items[0])
    return (-f, f)


class RandomShear(_ColorLayer):
    """Training: shears each image about the top-left corner: the output pixel ``(x, y)``
    reads the input at ``(x + sx * y, sy * x + y)``, with ``sx``, ``sy`` drawn from the
    factor ranges and one random sign per image (Keras 3's matrix), filled per
    ``fill_mode``. Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    fields = (
        DataFormat(),
        Json("x_factor", 0.0, "Horizontal shear: f in [0, 1] for [-f, f], or [lower, upper]."),
        Json("y_factor", 0.0, "Vertical shear: f in [0, 1] for [-f, f], or [lower, upper]."),
        Choice("fill_mode", "reflect", "How points outside the input are filled.",
               choices=_FILL_MODES),
        _INTERP2,
        Seed(),
        Float("fill_value", 0.0, "Value used by fill_mode='constant'."),
    )

    def _post_init(self) -> None:
        super()._post_init()
        self._shear = {f: _unit_factor(self, f, self._values[f]) for f in ("x_factor",
                                                                         "y_factor")}

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        cfg = super().get_config(format)
        for f, pair in self._shear.items():
            cfg[f] = list(pair)
        return cfg

    def _augment(self, x):
        n = x.shape[0]
        sign = np.where(self._rng.uniform(size=n) > 0.5, -1.0, 1.0)
        sy = self._rng.uniform(*self._shear["y_factor"], size=n).astype(np.float32) * sign
        sx = self._rng.uniform(*self._shear["x_factor"], size=n).astype(np.float32) * sign
        one, zero = np.ones(n), np.zeros(n)
        mats = np.stack([np.stack([one, sx, zero], -1), np.stack([sy, one, zero], -1)], 1)
        return affine_transform(x, mats, self.interpolation, self.fill_mode, self.fill_value)


def rgb_to_hsv(x: np.ndarray) -> np.ndarray:
    """RGB (last axis) to HSV with hue in [0, 1) (Keras's / TensorFlow's formula)."""
    x = np.where(np.abs(x) < np.finfo(x.dtype).eps, 0, x).astype(x.dtype, copy=False)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    value = np.maximum(np.maximum(r, g), b)
    rng = value - np.minimum(np.minimum(r, g), b)
    one = np.ones((), x.dtype)
    sat = np.where(value > 0, rng / np.where(value > 0, value, one), 0)
    norm = one / (6 * np.where(rng > 0, rng, one))
    hue = np.where(value == g, norm * (b - r) + np.float32(2.0 / 6.0),
                   norm * (r - g) + np.float32(4.0 / 6.0))
    hue = np.where(value == r, norm * (g - b), hue)
    hue = np.where(rng > 0, hue, 0) + (hue < 0).astype(x.dtype)
    return np.stack([hue, sat, value], axis=-1).astype(x.dtype, copy=False)


def hsv_to_rgb(x: np.ndarray) -> np.ndarray:
    """HSV (last axis, hue in [0, 1)) to RGB (Keras's / TensorFlow's formula)."""
    h, s, v = x[..., 0], x[..., 1], x[..., 2]
    dh = np.mod(h, 1.0) * 6
    planes = [np.clip(np.abs(dh - 3) - 1, 0, 1), np.clip(2 - np.abs(dh - 2), 0, 1),
              np.clip(2 - np.abs(dh - 4), 0, 1)]
    return np.stack([v * ((1 - s) + s * d) for d in planes], axis=-1).astype(x.dtype)


class RandomHue(_ColorLayer):
    """Training (RGB): shifts the hue by ``±u / 2`` of a turn (u drawn from the factor
    range, a random sign per image), in HSV space with the values mapped to [0, 1] and
    the result clipped. Inference: identity.

    Input/output shape: ``(batch, H, W, 3)`` or ``(H, W, 3)``. No weights.
    """

    k3_factor_fields = {"factor": (0.0, 1.0)}
    fields = (
        DataFormat(),
        Json("factor", REQUIRED, "Hue shift range: f for [0, f], or [lower, upper] in [0, 1]."),
        Json("value_range", [0, 255], "Range of the pixel values."),
        Seed(),
    )

    def _shift(self, x: np.ndarray, lo: float, hi: float) -> np.ndarray:
        n = x.shape[0]
        sign = np.where(self._rng.uniform(size=n) > 0.5, -1.0, 1.0)
        shift = (sign * self._rng.uniform(lo, hi, size=n) * 0.5).astype(np.float32)
        img = _to_range(x.astype(np.float32, copy=False), self.value_range, (0, 1))
        hsv = rgb_to_hsv(_check_rgb(self, img))
        h = hsv[..., 0] + shift[:, None, None]
        h = np.where(h > 1, h - 1, h)
        h = np.where(h < 0, h + 1, h)
        hsv = np.stack([h, hsv[..., 1], hsv[..., 2]], axis=-1)
        out = np.clip(hsv_to_rgb(hsv), 0, 1)
        return _to_range(out, (0, 1), self.value_range)

    def _augment(self, x):
        return self._shift(x, *self._pairs["factor"])


def _check_rgb(layer: Layer, x: np.ndarray) -> np.ndarray:
    if x.shape[-1] != 3:
        raise ValueError(f"{type(layer).__name__} {layer.name!r} expects RGB images (3 "
                         f"channels), got {x.shape[-1]} channels")
    return x


class RandomSaturation(_ColorLayer):
    """Training (RGB): multiplies the HSV saturation by ``u / (1 - u + 1e-7)`` (u drawn
    from the factor range; 0.5 keeps the image), clips it to ``value_range`` (as Keras 3
    does) and converts back. Inference: identity.

    Input/output shape: ``(batch, H, W, 3)`` or ``(H, W, 3)``. No weights.
    """

    k3_factor_fields = {"factor": (-1.0, 1.0)}
    fields = (
        DataFormat(),
        Json("factor", REQUIRED, "Range: f for [-f, f], or [lower, upper] (0.5: no change)."),
        Json("value_range", [0, 255], "Range of the pixel values."),
        Seed(),
    )

    def _scale(self, x: np.ndarray, lo: float, hi: float) -> np.ndarray:
        u = self._rng.uniform(lo, hi, size=x.shape[0]).astype(np.float32)
        f = (u / (1 - u + _EPS))[:, None, None]
        hsv = rgb_to_hsv(_check_rgb(self, x.astype(np.float32, copy=False)))
        s = np.clip(hsv[..., 1] * f, *self.value_range)
        return hsv_to_rgb(np.stack([hsv[..., 0], s, hsv[..., 2]], axis=-1))

    def _augment(self, x):
        return self._scale(x, *self._pairs["factor"])


class RandomColorJitter(_ColorLayer):
    """Training: applies, in this order and each only when its factor is set, Keras 3's
    RandomBrightness, RandomContrast, RandomSaturation and RandomHue with ``value_range``
    (all drawing from this layer's generator). Inference: identity.

    Input/output shape: ``(batch, H, W, 3)`` or ``(H, W, 3)`` (any channels without
    saturation and hue). No weights.
    """

    fields = (
        DataFormat(),
        Json("value_range", [0, 255], "Range of the pixel values."),
        Json("brightness_factor", None, "RandomBrightness factor (None: off).", optional=True),
        Json("contrast_factor", None, "RandomContrast factor (None: off).", optional=True),
        Json("saturation_factor", None, "RandomSaturation factor (None: off).", optional=True),
        Json("hue_factor", None, "RandomHue factor (None: off).", optional=True),
        Seed(),
    )

    def _post_init(self) -> None:
        super()._post_init()
        self._steps: list[_RandomImage] = []
        kinds = (("brightness_factor", RandomBrightness), ("contrast_factor", RandomContrast),
                 ("saturation_factor", RandomSaturation), ("hue_factor", RandomHue))
        for field, cls in kinds:
            value = self._values[field]
            if value is None:
                continue
            try:
                step = cls(factor=value, value_range=list(self.value_range))
            except ConfigError as e:
                raise self.config_error(field, e.reason) from None
            self._steps.append(step)

    def _augment(self, x):
        if x.shape[-1] != 3 and any(isinstance(st, (RandomHue, RandomSaturation))
                                    for st in self._steps):
            _check_rgb(self, x)
        for step in self._steps:
            step.__dict__["_rng_generator"] = self._rng  # one stream for the whole jitter
            x = step._augment(x.astype(np.float32, copy=False))
        return x


def _odd_sizes(layer: Layer, field: str, value: Any) -> tuple[int, int]:
    items = list(value) if isinstance(value, (list, tuple)) else [value, value]
    if len(items) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                  and v % 2 == 1 for v in items):
        raise layer.config_error(field, f"expected an odd positive int or two of them, got "
                                 f"{describe(value)}")
    return items[0], items[1]


def gaussian_kernel(size: tuple[int, int], sigma: Any) -> np.ndarray:
    """TensorFlow's Keras 3 gaussian_blur kernel: ``outer(k(size[1], sigma[1]),
    k(size[0], sigma[0]))`` laid out as ``(size[0], size[1])`` (rows: height)."""
    def k1d(n: int, s: np.float32) -> np.ndarray:
        t = np.arange(n, dtype=np.float32) - np.float32((n - 1) / 2)
        k = np.exp(np.float32(-0.5) * (t / s) ** 2)
        return k / k.sum()

    s = np.asarray(sigma, np.float32)
    return np.outer(k1d(size[1], s[1]), k1d(size[0], s[0])).reshape(size).astype(np.float32)


def depthwise_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlates each channel of ``x`` (B, H, W, C) with ``kernel`` (kh, kw), zero
    padded to the same size (TensorFlow's SAME split)."""
    kh, kw = kernel.shape
    h, w = x.shape[1:3]
    top, left = (kh - 1) // 2, (kw - 1) // 2
    padded = np.pad(x, ((0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))
    out = np.zeros(x.shape, np.float32)
    for i in range(kh):  # loops over the kernel taps only
        for j in range(kw):
            out += kernel[i, j] * padded[:, i:i + h, j:j + w]
    return out


class RandomGaussianBlur(_ColorLayer):
    """Training: blurs an image with probability drawn from ``factor``, with a Gaussian
    kernel of ``kernel_size`` and standard deviations drawn from ``sigma`` (one pair per
    call, as Keras 3), zero padded; the result is clipped to ``value_range``. Inference:
    identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    k3_factor_fields = {"factor": (0.0, 1.0), "sigma": (0.0, 1.0)}
    fields = (
        DataFormat(),
        Json("factor", 1.0, "Blur probability: f for [0, f], or [lower, upper]."),
        Json("kernel_size", 3, "Odd kernel size, or [size0, size1]."),
        Json("sigma", 1.0, "Standard deviation range: f for [0, f], or [lower, upper]."),
        Json("value_range", [0, 255], "Range of the pixel values."),
        Seed(),
    )

    def _post_init(self) -> None:
        super()._post_init()
        self._ksize = _odd_sizes(self, "kernel_size", self.kernel_size)

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        cfg = super().get_config(format)
        cfg["kernel_size"] = list(self._ksize)
        return cfg

    def _augment(self, x):
        n = x.shape[0]
        prob = self._rng.uniform(*self._pairs["factor"], size=n)
        apply = self._rng.uniform(size=n) < prob
        sigma = self._rng.uniform(*self._pairs["sigma"], size=2).astype(np.float32) + \
            np.float32(1e-6)
        blurred = depthwise_same(x.astype(np.float32, copy=False),
                                 gaussian_kernel(self._ksize, sigma))
        out = np.where(apply[:, None, None, None], blurred, x)
        return np.clip(out, *self.value_range)


def _box_bounds(rng: np.random.Generator, length: int, ratio: np.ndarray) -> tuple:
    crop = (ratio * length).astype(np.float32)
    start = rng.uniform(size=ratio.shape).astype(np.float32) * (length - crop)
    return start, start + crop


def _box_mask(h: int, w: int, x0, x1, y0, y1) -> np.ndarray:
    """(B, H, W, 1) mask of ``x0 <= col < x1`` and ``y0 <= row < y1`` per image."""
    gy = np.arange(h, dtype=np.float32)[None, :, None, None]
    gx = np.arange(w, dtype=np.float32)[None, None, :, None]
    col = (slice(None), None, None, None)
    return (gx >= x0[col]) & (gx < x1[col]) & (gy >= y0[col]) & (gy < y1[col])


class RandomErasing(_ColorLayer):
    """Training: with a probability drawn from ``factor``, replaces a random box of each
    image (side fractions ``sqrt(u)``, u drawn from ``scale``) by ``fill_value`` (a number
    or one per RGB channel; None: Gaussian noise times ``value_range[1]``), clipped to
    ``value_range``. Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    k3_factor_fields = {"factor": (0.0, 1.0), "scale": (0.0, 1.0)}
    fields = (
        DataFormat(),
        Json("factor", 1.0, "Erasing probability: f for [0, f], or [lower, upper]."),
        Json("scale", [0.02, 0.33], "Erased area fraction: f for [0, f], or [lower, upper]."),
        Json("fill_value", None, "Fill: a number, three numbers, or None for noise.",
             optional=True),
        Json("value_range", [0, 255], "Range of the pixel values."),
        Seed(),
    )

    def _post_init(self) -> None:
        super()._post_init()
        fill = self.fill_value
        ok = fill is None or (isinstance(fill, (int, float)) and not isinstance(fill, bool)) or (
            isinstance(fill, (list, tuple)) and len(fill) == 3 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in fill))
        if not ok:
            raise self.config_error("fill_value", f"expected a number, a list of three numbers "
                                    f"or None, got {describe(fill)}")

    def _augment(self, x):
        n, h, w = x.shape[:3]
        weight = np.sqrt(self._rng.uniform(*self._pairs["scale"], size=(n, 2)))
        x0, x1 = _box_bounds(self._rng, w, weight[:, 0])
        y0, y1 = _box_bounds(self._rng, h, weight[:, 1])
        mask = _box_mask(h, w, x0, x1, y0, y1)
        prob = self._rng.uniform(*self._pairs["factor"], size=n)
        apply = (self._rng.uniform(size=n) < prob)[:, None, None, None]
        if self.fill_value is None:
            fill = self._rng.standard_normal(x.shape).astype(np.float32) * \
                np.float32(self.value_range[1])
        else:
            fill = np.asarray(self.fill_value, np.float32)
            if fill.ndim and x.shape[-1] != 3:
                raise ValueError(f"RandomErasing {self.name!r}: fill_value has 3 values (one "
                                 f"per RGB channel), the images have {x.shape[-1]} channels")
            fill = np.broadcast_to(fill, x.shape)
        fill = np.clip(fill, *self.value_range)
        return np.where(mask & apply, fill, x)


def homography(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(B, 3, 3) projective maps taking each of the four ``end`` points (B, 4, 2) to the
    matching ``start`` point (output pixel -> input pixel, as Keras 3)."""
    b = start.shape[0]
    ex, ey = end[..., 0], end[..., 1]
    sx, sy = start[..., 0], start[..., 1]
    one, zero = np.ones_like(ex), np.zeros_like(ex)
    rows_x = np.stack([ex, ey, one, zero, zero, zero, -ex * sx, -ey * sx], -1)
    rows_y = np.stack([zero, zero, zero, ex, ey, one, -ex * sy, -ey * sy], -1)
    a = np.concatenate([rows_x, rows_y], axis=1)  # (B, 8, 8)
    rhs = np.concatenate([sx, sy], axis=1)[..., None]
    coef = np.linalg.solve(a, rhs)[..., 0]
    return np.concatenate([coef, np.ones((b, 1))], axis=1).reshape(b, 3, 3)


class RandomPerspective(_ColorLayer):
    """Training: with a probability drawn from ``factor``, moves each image corner by up
    to ``scale / 2`` of its coordinates (Keras 3: ``end = start * (1 + u)``, u in ``[-scale
    / 2, scale / 2]``) and warps the image by that homography, filling with
    ``fill_value``. Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    k3_factor_fields = {"factor": (0.0, 1.0)}
    fields = (
        DataFormat(),
        Json("factor", 1.0, "Probability: f for [0, f], or [lower, upper]."),
        Float("scale", 1.0, "Largest corner displacement (fraction).", min=0, max=1),
        _INTERP2,
        Float("fill_value", 0.0, "Value of points outside the input."),
        Seed(),
    )

    def _augment(self, x):
        n, h, w = x.shape[:3]
        prob = self._rng.uniform(*self._pairs["factor"], size=n)
        apply = self._rng.uniform(size=n) < prob
        half = 0.5 * self.scale
        u = self._rng.uniform(-half, half, size=(n, 4, 2)).astype(np.float32)
        start = np.broadcast_to(np.asarray([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]],
                                           np.float32), (n, 4, 2))
        end = start + start * u
        mats = homography(start.astype(np.float64), end.astype(np.float64))
        mats = mats.astype(np.float32).astype(np.float64)  # TF casts the transform
        out = affine_transform(x, mats, self.interpolation, "constant", self.fill_value)
        return np.where(apply[:, None, None, None], out, x)


class Equalization(_ColorLayer):
    """Histogram equalization per channel (statistics over the whole batch, as Keras 3):
    values mapped to 0..255 are binned into ``bins`` buckets and replaced through the
    rounded, rescaled cumulative histogram; a channel with a single occupied bin is left
    unchanged. Training only: identity at inference, as Keras 3.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    fields = (
        DataFormat(),
        Int("bins", 256, "Number of histogram bins.", min=1),
        Json("value_range", [0, 255], "Range of the pixel values."),
    )

    def _augment(self, x):
        x = x.astype(np.float32, copy=False)
        chans = np.moveaxis(x, -1, 0)
        return np.stack([self._equalize(c) for c in chans], axis=-1)  # loop over channels

    def _equalize(self, channel: np.ndarray) -> np.ndarray:
        lo, hi = (float(v) for v in self.value_range)
        f255 = np.float32(255.0)
        scale = 255.0 / (hi - lo)
        c = channel * np.float32(scale) + np.float32(-lo * scale)
        nb = self.bins
        idx = np.clip((c * np.float32(nb - 1) / f255).astype(np.int32), 0, nb - 1)
        hist = np.bincount(idx.ravel(), minlength=nb)
        if np.count_nonzero(hist) <= 1:
            eq = c
        else:
            cdf = np.cumsum(hist)
            cmin = cdf[np.nonzero(cdf)[0][0]]
            den = cdf[-1] - cmin
            den = den if den != 0 else 1
            table = np.clip(np.round(((cdf - cmin) * 255).astype(np.float32) /
                                     np.float32(den)), 0, 255)
            pos = np.clip((c / f255) * np.float32(nb - 1), 0, nb - 1).astype(np.int32)
            eq = table[pos]
        scale = (hi - lo) / 255.0
        return (eq * np.float32(scale) + np.float32(lo)).astype(np.float32)


class MixUp(_ColorLayer):
    """Training: ``w * x + (1 - w) * x[perm]`` per image, with a random permutation of the
    batch and ``w`` drawn from Beta(alpha, alpha) per image (images only: labels are not
    taken). Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    fields = (
        DataFormat(),
        Float("alpha", 0.2, "Beta distribution parameter.", min=0, min_open=True),
        Seed(),
    )

    def _augment(self, x):
        n = x.shape[0]
        perm = self._rng.permutation(n)
        w = self._rng.beta(self.alpha, self.alpha, size=n).astype(np.float32)
        self._last = (perm, w)
        w = w[:, None, None, None]
        return w * x + (1 - w) * x[perm]

    def _labels(self, labels):
        perm, w = self._last
        w = w.reshape(-1, 1)
        labels = labels.astype(np.float32, copy=False)
        return w * labels + (1 - w) * labels[perm]


class CutMix(_ColorLayer):
    """Training (batches only): pastes into each image a box cut from another image of
    the batch (random permutation); the box's side fraction is ``sqrt(1 - w)``, ``w`` from
    Beta(a, a) with ``a`` drawn from ``factor`` (images only: labels are not taken).
    Inference, and a single unbatched image: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    k3_factor_fields = {"factor": (0.0, 1.0)}
    fields = (
        DataFormat(),
        Json("factor", 1.0, "Beta parameter range: f for [0, f], or [lower, upper]."),
        Seed(),
    )

    def call(self, inputs, training=False):
        if inputs.ndim == 3:
            self._last = None
            return inputs
        return super().call(inputs, training=training)

    def _augment(self, x):
        n, h, w = x.shape[:3]
        a = self._rng.uniform(*self._pairs["factor"]) + 1e-6
        ratio = np.sqrt(1.0 - self._rng.beta(a, a, size=n)).astype(np.float32)
        x0, x1 = _box_bounds(self._rng, w, ratio)
        y0, y1 = _box_bounds(self._rng, h, ratio)
        perm = self._rng.permutation(n)
        self._last = (perm, 1.0 - (x1 - x0) * (y1 - y0) / np.float32(w * h))
        return np.where(_box_mask(h, w, x0, x1, y0, y1), x[perm], x)

    def _labels(self, labels):
        if getattr(self, "_last", None) is None:  # an unbatched image: unchanged
            return labels
        perm, keep = self._last
        keep = keep.reshape(-1, 1).astype(np.float32)
        labels = labels.astype(np.float32, copy=False)
        return keep * labels + (1 - keep) * labels[perm]


__all__ += ["Pipeline", "RandomShear", "RandomHue", "RandomSaturation", "RandomColorJitter",
            "RandomGaussianBlur", "RandomErasing", "RandomPerspective", "Equalization",
            "MixUp", "CutMix", "affine_transform", "homography", "rgb_to_hsv", "hsv_to_rgb",
            "gaussian_kernel", "depthwise_same"]


class MaxNumBoundingBoxes(_ColorLayer):
    """Keras 3's bounding-box padder: images pass through unchanged (inference and
    training). :meth:`pad_boxes` gives its bounding-box transformation: keep the first
    ``max_number`` boxes and labels, padding with ``fill_value`` (-1; not written to the
    config, as Keras 3).

    Input/output shape: any image batch. No weights.
    """

    fields = (
        DataFormat(),
        Int("max_number", REQUIRED, "Number of boxes kept (or padded to).", min=1),
        Int("fill_value", -1, "Value of padded boxes and labels.", formats=()),
    )

    def call(self, inputs, training=False):
        return inputs

    def pad_boxes(self, boxes: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
        """``boxes (batch, n, 4)`` and ``labels (batch, n)`` cut or padded to
        ``max_number`` entries."""
        boxes, labels = np.asarray(boxes), np.asarray(labels)
        m, pad = self.max_number, max(self.max_number - boxes.shape[1], 0)
        boxes = np.pad(boxes[:, :m], ((0, 0), (0, pad), (0, 0)),
                       constant_values=self.fill_value)
        labels = np.pad(labels[:, :m], ((0, 0), (0, pad)), constant_values=self.fill_value)
        return boxes, labels


_MAP_FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


def _fix_index(idx: np.ndarray, size: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Keras 3's (TensorFlow backend) ``map_coordinates`` index rules per fill mode:
    the index to read and whether it is inside (constant mode only)."""
    if mode == "constant":
        return np.clip(idx, 0, size - 1), (idx >= 0) & (idx < size)
    if mode == "nearest":
        idx = np.clip(idx, 0, size - 1)
    elif mode in ("mirror", "reflect"):
        mod = np.mod(np.abs(idx), 2 * size)
        over = mod >= size
        idx = np.where(over, 2 * size - mod - (1 if mode == "reflect" else 0), mod)
        idx = np.clip(idx, 0, size - 1)
    else:
        idx = np.mod(idx, size)
    return idx, np.ones(idx.shape, bool)


def map_coordinates_2d(images: np.ndarray, ys: np.ndarray, xs: np.ndarray, order: int,
                       fill_mode: str, fill_value: float) -> np.ndarray:
    """Samples ``images`` (B, H, W, C) at the (B, H, W) coordinates ``ys``, ``xs`` with
    nearest (order 0, round half to even) or linear (order 1) interpolation."""
    b, h, w, _ = images.shape
    bidx = np.arange(b)[:, None, None]

    def nodes(c: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        if order == 0:
            return [(np.round(c).astype(np.int64), np.ones_like(c))]
        low = np.floor(c)
        up = c - low
        return [(low.astype(np.int64), 1 - up), (low.astype(np.int64) + 1, up)]

    out = np.zeros(images.shape, np.float32)
    fill = np.float32(fill_value)
    for iy, wy in nodes(ys):
        yy, vy = _fix_index(iy, h, fill_mode)
        for ix, wx in nodes(xs):
            xx, vx = _fix_index(ix, w, fill_mode)
            vals = images[bidx, yy, xx]
            if fill_mode == "constant":
                vals = np.where((vy & vx)[..., None], vals, fill)
            out += (wy * wx).astype(np.float32)[..., None] * vals
    return out


class RandomElasticTransform(_ColorLayer):
    """Training: with a probability drawn from ``factor``, displaces every pixel by a
    Gaussian-smoothed random field, as Keras 3: ``d = blur(normal * sigma)`` with ``sigma =
    0.05 * s * min(H, W)`` and the kernel ``6 * int(sigma) | 1``, moved by ``alpha = 0.1 * s
    * max(H, W)`` (``s`` drawn from ``scale``; Keras 3 uses the same field for both axes,
    and so does layerlab), resampled per ``fill_mode`` and clipped to ``value_range``.
    Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    k3_factor_fields = {"factor": (0.0, 1.0), "scale": (0.0, 1.0)}
    fields = (
        DataFormat(),
        Json("factor", 1.0, "Probability: f for [0, f], or [lower, upper]."),
        Json("scale", 1.0, "Distortion strength: f for [0, f], or [lower, upper]."),
        _INTERP2,
        Choice("fill_mode", "reflect", "How points outside the input are filled.",
               choices=_MAP_FILL_MODES),
        Float("fill_value", 0.0, "Value used by fill_mode='constant'."),
        Json("value_range", [0, 255], "Range of the pixel values."),
        Seed(),
    )

    def _augment(self, x):
        if self._pairs["scale"][1] == 0 or self._pairs["factor"][1] == 0:
            return x
        n, h, w = x.shape[:3]
        prob = self._rng.uniform(*self._pairs["factor"], size=n)
        apply = self._rng.uniform(size=n) < prob
        s = np.float32(self._rng.uniform(*self._pairs["scale"]))
        alpha = np.float32(max(h, w) * (0.1 * s))
        sigma = np.float32(min(h, w) * (0.05 * s))
        k = 6 * int(sigma) | 1
        field = self._rng.standard_normal((n, h, w, 1)).astype(np.float32) * sigma
        d = depthwise_same(field, gaussian_kernel((k, k), (sigma, sigma)))[..., 0]
        gy, gx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32),
                             indexing="ij")
        order = 0 if self.interpolation == "nearest" else 1
        out = map_coordinates_2d(x.astype(np.float32, copy=False), gy + alpha * d,
                                 gx + alpha * d, order, self.fill_mode, self.fill_value)
        out = np.where(apply[:, None, None, None], out, x)
        return np.clip(out, *self.value_range)


__all__ += ["MaxNumBoundingBoxes", "RandomElasticTransform", "map_coordinates_2d"]


def _op_layers(layer: Layer, names: tuple[str, ...]) -> list[_RandomImage]:
    """RandAugment's / AugMix's sub-layers, configured from ``factor`` as Keras 3 does
    (their draws come from the parent's generator)."""
    lo, hi = layer._pairs["factor"]
    pair, vr, interp = [lo, hi], list(layer.value_range), layer.interpolation
    make = {
        "random_shear": lambda: RandomShear(x_factor=pair, y_factor=pair,
                                            interpolation=interp),
        "random_translation": lambda: RandomTranslation(height_factor=pair, width_factor=pair,
                                                        interpolation=interp),
        "random_rotation": lambda: RandomRotation(factor=pair, interpolation=interp),
        "random_brightness": lambda: RandomBrightness(factor=pair, value_range=vr),
        "random_color_degeneration": lambda: RandomColorDegeneration(factor=pair,
                                                                     value_range=vr),
        "random_contrast": lambda: RandomContrast(factor=pair, value_range=vr),
        "random_sharpness": lambda: RandomSharpness(factor=pair, value_range=vr),
        "random_posterization": lambda: RandomPosterization(factor=max(1, int(8 * hi)),
                                                            value_range=vr),
        "solarization": lambda: Solarization(addition_factor=pair, threshold_factor=pair,
                                             value_range=vr),
        "auto_contrast": lambda: AutoContrast(value_range=vr),
        "equalization": lambda: Equalization(value_range=vr),
    }
    try:
        return [make[name]() for name in names]
    except ConfigError as e:
        raise layer.config_error("factor", e.reason) from None


def _apply_op(layer: Layer, op: _RandomImage, x: np.ndarray) -> np.ndarray:
    op.__dict__["_rng_generator"] = layer._rng
    return op._augment(x.astype(np.float32, copy=False)).astype(np.float32, copy=False)


_RAND_AUGMENT_OPS = ("random_shear", "random_translation", "random_rotation",
                     "random_brightness", "random_color_degeneration", "random_contrast",
                     "random_sharpness", "random_posterization", "solarization",
                     "auto_contrast", "equalization")
_AUG_MIX_OPS = ("random_shear", "random_translation", "random_rotation",
                "random_posterization", "solarization", "auto_contrast", "equalization",
                "random_brightness", "random_color_degeneration", "random_contrast",
                "random_sharpness")


class RandAugment(_ColorLayer):
    """Training: applies ``num_ops`` operations one after the other, each picked at random
    (the same for the whole batch) among Keras 3's eleven: RandomShear, RandomTranslation,
    RandomRotation, RandomBrightness, RandomColorDegeneration, RandomContrast,
    RandomSharpness, RandomPosterization, Solarization, AutoContrast, Equalization, each
    configured from ``factor`` as Keras 3 does. Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)`` (RGB for colour
    degeneration). No weights.
    """

    k3_factor_fields = {"factor": (0.0, 1.0)}
    fields = (
        DataFormat(),
        Json("value_range", [0, 255], "Range of the pixel values."),
        Int("num_ops", 2, "Number of operations applied.", min=0),
        Json("factor", 0.5, "Strength: f for [0, f], or [lower, upper] in [0, 1]."),
        _INTERP2,
        Seed(),
    )

    def _post_init(self) -> None:
        super()._post_init()
        self._ops = _op_layers(self, _RAND_AUGMENT_OPS)

    def _augment(self, x):
        picks = self._rng.integers(0, len(self._ops), size=self.num_ops)
        for i in np.atleast_1d(picks):
            x = _apply_op(self, self._ops[int(i)], x)
        return x


class AugMix(_ColorLayer):
    """Training: ``w * x + (1 - w) * sum_i m_i chain_i(x)``, clipped to ``value_range``:
    ``num_chains`` chains of up to ``chain_depth`` random operations (each step picks one
    of the operations or none), chain weights ``m`` from Dirichlet(alpha) and ``w`` from
    Beta(alpha, alpha), as Keras 3. ``all_ops=False`` leaves out the colour operations
    (brightness, colour degeneration, contrast, sharpness). Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)`` (RGB for colour
    degeneration). No weights.
    """

    k3_factor_fields = {"factor": (0.0, 1.0)}
    fields = (
        DataFormat(),
        Json("value_range", [0, 255], "Range of the pixel values."),
        Int("num_chains", 3, "Number of augmentation chains.", min=1),
        Int("chain_depth", 3, "Largest number of operations in a chain.", min=0),
        Json("factor", 0.3, "Strength: f for [0, f], or [lower, upper] in [0, 1]."),
        Float("alpha", 1.0, "Dirichlet and Beta parameter.", min=0, min_open=True),
        Bool("all_ops", True, "Also use the colour operations."),
        _INTERP2,
        Seed(),
    )

    def _post_init(self) -> None:
        super()._post_init()
        self._ops = _op_layers(self, _AUG_MIX_OPS if self.all_ops else _AUG_MIX_OPS[:7])

    def _augment(self, x):
        gam = np.asarray(self._rng.gamma(self.alpha, size=self.num_chains), np.float64)
        mix = (gam / gam.sum()).astype(np.float32)
        w = np.float32(self._rng.beta(self.alpha, self.alpha))
        x = x.astype(np.float32, copy=False)
        total = np.zeros_like(x)
        for c in range(self.num_chains):  # loops over chains and their steps only
            img = x.copy()
            for _ in range(self.chain_depth):
                pick = int(self._rng.integers(0, len(self._ops) + 1))
                if pick < len(self._ops):
                    img = _apply_op(self, self._ops[pick], img)
            total += img * mix[c]
        return np.clip(w * x + (1 - w) * total, *self.value_range)


__all__ += ["RandAugment", "AugMix"]


class ContrastLimitedAdaptiveHistogramEqualization(_ColorLayer):
    """CLAHE as Keras 3 computes it, at inference and in training (deterministic): values
    mapped to 0..255, the image padded (symmetric) to a whole number of
    ``tile_grid_size`` tiles, a 256-bin histogram per tile and channel clipped at
    ``clip_limit * tile_pixels / 256`` with the excess spread evenly, each tile's
    normalized CDF as a lookup table, and the tables of the four nearest tile centres
    blended bilinearly per pixel.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    fields = (
        DataFormat(),
        Json("value_range", [0, 255], "Range of the pixel values."),
        Float("clip_limit", 4.0, "Histogram clip factor (<= 0: no clipping)."),
        IntTuple("tile_grid_size", (8, 8), "Tiles along height and width.", length=2, min=1),
    )

    def _inference(self, x):
        return _RandomImage.call(self, x, training=True)

    def _augment(self, x):
        img = _to_range(x.astype(np.float32, copy=False), self.value_range, (0, 255))
        out = self._clahe(img.astype(np.float32, copy=False))
        return _to_range(out, (0, 255), self.value_range)

    def _clahe(self, img: np.ndarray) -> np.ndarray:
        b, h, w, c = img.shape
        gh, gw = self.tile_grid_size
        th, tw = -(-h // gh), -(-w // gw)
        padded = np.pad(img, ((0, 0), (0, th * gh - h), (0, tw * gw - w), (0, 0)),
                        mode="symmetric")
        pix = np.clip(padded.astype(np.int32), 0, 255)  # (B, Hp, Wp, C)
        tiles = pix.reshape(b, gh, th, gw, tw, c).transpose(0, 1, 3, 5, 2, 4)
        tile_id = np.arange(b * gh * gw * c).reshape(b, gh, gw, c, 1, 1)
        hists = np.bincount((tile_id * 256 + tiles).ravel(), minlength=b * gh * gw * c * 256)
        hists = hists.reshape(b, gh, gw, c, 256).astype(np.float32)
        n = np.float32(th * tw)
        if self.clip_limit > 0:
            limit = np.float32(self.clip_limit * (th * tw) / 256.0)
            clipped = np.minimum(hists, limit)
            excess = (hists - clipped).sum(axis=-1, keepdims=True)
            hists = clipped + excess / np.float32(256.0)
        cdf = np.cumsum(hists, axis=-1, dtype=np.float32)
        cmin = cdf.min(axis=-1, keepdims=True)
        den = n - cmin
        den = np.where(den == 0, np.float32(1), den)
        table = np.clip((cdf - cmin) * np.float32(255.0) / den, 0, 255)
        table = np.pad(table, ((0, 0), (1, 1), (1, 1), (0, 0), (0, 0)), mode="edge")

        def axis_nodes(size: int, t: int, g: int) -> tuple:
            grid = (np.arange(size, dtype=np.float32) - np.float32(t / 2.0)) / np.float32(t)
            grid = grid + np.float32(1.0)
            lo = np.floor(grid)
            wgt = grid - lo
            return (np.clip(lo, 0, g + 1).astype(np.int64),
                    np.clip(lo + 1, 0, g + 1).astype(np.int64), wgt)

        y0, y1, wy = axis_nodes(th * gh, th, gh)
        x0, x1, wx = axis_nodes(tw * gw, tw, gw)
        bi = np.arange(b)[:, None, None, None]
        ci = np.arange(c)[None, None, None, :]
        yy0, yy1, wy = y0[None, :, None, None], y1[None, :, None, None], wy[None, :, None,
                                                                            None]
        xx0, xx1, wx = x0[None, None, :, None], x1[None, None, :, None], wx[None, None, :,
                                                                            None]
        nw, ne = table[bi, yy0, xx0, ci, pix], table[bi, yy0, xx1, ci, pix]
        sw, se = table[bi, yy1, xx0, ci, pix], table[bi, yy1, xx1, ci, pix]
        top = nw * (1 - wx) + ne * wx
        bottom = sw * (1 - wx) + se * wx
        return (top * (1 - wy) + bottom * wy)[:, :h, :w].astype(np.float32)


__all__ += ["ContrastLimitedAdaptiveHistogramEqualization"]
