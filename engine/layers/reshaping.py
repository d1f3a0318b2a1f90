"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, Cropping1D/2D/3D,
ZeroPadding1D/2D/3D. (UpSampling lives in resizing.py.)"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError, describe
from ..fields import KERAS3, REQUIRED, Choice, Field, Int, IntTuple, is_int
from .base import InputSpec, Layer, normalize_shape


class DataFormat(Choice):
    """``channels_last`` (default, also for None as Keras) or ``channels_first``."""

    def __init__(self, name: str = "data_format", doc: str = "", **kw: Any):
        super().__init__(name, "channels_last", doc or "Where the channels axis is: "
                         "'channels_last' (batch, ..., channels) or 'channels_first' "
                         "(batch, channels, ...).",
                         choices=("channels_last", "channels_first"), **kw)

    def validate(self, value: Any, path: str) -> Any:
        return super().validate("channels_last" if value is None else value, path)


class Pairs(Field):
    """Per spatial axis a (before, after) pair: an int, ``n`` ints, or ``n`` pairs."""

    kind = "int_pairs"

    def __init__(self, name: str, default: Any, doc: str = "", *, axes: int, **kw: Any):
        super().__init__(name, default, doc, length=axes, min=0, **kw)

    def expected(self) -> str:
        n = self.length
        return f"an int >= 0, a list of {n} ints >= 0, or a list of {n} pairs of ints >= 0"

    def _check(self, value: Any, path: str) -> tuple[tuple[int, int], ...]:
        n = self.length or 0
        if is_int(value):
            items: list[Any] = [value] * n
        elif isinstance(value, (list, tuple)):
            items = list(value)
            if len(items) != n:
                raise ConfigError(path, f"expected {self.expected()}, got {describe(value)}")
        else:
            raise self._wrong(value, path)
        out = []
        for i, item in enumerate(items):
            pair = IntTuple(self.name, length=2, min=0).validate(item, f"{path}[{i}]")
            out.append(pair)
        return tuple(out)


def _spatial_axes(rank: int, data_format: str) -> list[int]:
    return list(range(2, rank)) if data_format == "channels_first" else list(range(1, rank - 1))


class Flatten(Layer):
    """Flattens every axis but the batch: ``(batch, prod(rest))``.

    With ``data_format='channels_first'`` the channels axis is moved last first, so that the
    result matches a channels-last model's.

    Input shape: ``(batch, ...)``. Output shape: ``(batch, prod(...))``.
    """

    fields = (DataFormat(),)

    def call(self, inputs):
        x = inputs
        if self.data_format == "channels_first" and x.ndim > 2:
            x = np.transpose(x, (0, *range(2, x.ndim), 1))
        return x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(x.shape[0], 1)

    def compute_output_shape(self, input_shape):
        shape = normalize_shape(input_shape)
        rest = shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (shape[0], size)


class Reshape(Layer):
    """Reshapes to ``(batch, *target_shape)``; one entry may be -1 (inferred).

    Input shape: ``(batch, ...)``. Output shape: ``(batch, *target_shape)``.

    Example:
        >>> Reshape((-1, 2))
    """

    keras_builds_at_init = True

    fields = (IntTuple("target_shape", REQUIRED, "Output shape without the batch axis; one "
                       "entry may be -1.", min=-1),)

    def _post_init(self) -> None:
        if list(self.target_shape).count(-1) > 1:
            raise self.config_error("target_shape", f"at most one entry may be -1, got "
                                    f"{list(self.target_shape)}")

    def _resolve(self, shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        target = tuple(self.target_shape)
        if None in shape:
            return tuple(None if d == -1 else d for d in target)
        size = math.prod(shape)
        known = math.prod(d for d in target if d != -1)
        if -1 not in target:
            if known != size:
                raise ValueError(f"Reshape {self.name!r}: cannot reshape {size} values per "
                                 f"sample (shape {shape}) to {target}")
            return target
        if known == 0 or size % known:
            raise ValueError(f"Reshape {self.name!r}: cannot reshape {size} values per sample "
                             f"(shape {shape}) to {target}")
        return tuple(size // known if d == -1 else d for d in target)

    def call(self, inputs):
        return inputs.reshape((inputs.shape[0], *self._resolve(inputs.shape[1:])))

    def compute_output_shape(self, input_shape):
        shape = normalize_shape(input_shape)
        return (shape[0], *self._resolve(tuple(shape[1:])))


class Permute(Layer):
    """Permutes the non-batch axes: ``dims`` is a permutation of 1..n.

    Input shape: ``(batch, d1, ..., dn)``. Output shape: ``(batch, d[dims[0]], ...)``.

    Example:
        >>> Permute((2, 1))  # swaps the two axes after the batch
    """

    fields = (IntTuple("dims", REQUIRED, "A permutation of 1..n (the batch axis is 0)."),)

    def _post_init(self) -> None:
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise self.config_error("dims", f"expected a permutation of 1..{len(self.dims)}, "
                                    f"got {list(self.dims)}")

    def build(self, input_shape):
        self.input_spec = InputSpec(ndim=len(self.dims) + 1)

    def call(self, inputs):
        return np.transpose(inputs, (0, *self.dims))

    def compute_output_shape(self, input_shape):
        shape = normalize_shape(input_shape)
        return (shape[0], *(shape[d] for d in self.dims))


class RepeatVector(Layer):
    """Repeats a vector ``n`` times: ``(batch, features)`` -> ``(batch, n, features)``."""

    fields = (Int("n", REQUIRED, "How many times to repeat.", min=1),)

    def build(self, input_shape):
        self.input_spec = InputSpec(ndim=2)

    def call(self, inputs):
        return np.repeat(inputs[:, None, :], self.n, axis=1)

    def compute_output_shape(self, input_shape):
        shape = normalize_shape(input_shape)
        return (shape[0], self.n, shape[1])


# -- cropping and padding -------------------------------------------------------------------


class _CropPad(Layer):
    """Shared logic of Cropping*/ZeroPadding*: per spatial axis a (before, after) pair."""

    abstract = True
    rank: int = 1
    key: str = "cropping"

    def _pairs(self) -> tuple[tuple[int, int], ...]:
        v = getattr(self, self.key)
        return (tuple(v),) if self.rank == 1 else tuple(v)

    def _axes(self, ndim: int) -> list[int]:
        return _spatial_axes(ndim, getattr(self, "data_format", "channels_last"))

    def build(self, input_shape):
        self.input_spec = InputSpec(ndim=self.rank + 2)


class _Cropping(_CropPad):
    abstract = True

    def _check(self, shape: tuple[int | None, ...]) -> None:
        for ax, (a, b) in zip(self._axes(len(shape)), self._pairs()):
            if shape[ax] is not None and a + b >= shape[ax]:
                raise ValueError(f"{type(self).__name__} {self.name!r}: cropping {a}+{b} "
                                 f"leaves nothing of axis {ax} (size {shape[ax]}) in shape "
                                 f"{shape}")

    def call(self, inputs):
        self._check(inputs.shape)
        index = [slice(None)] * inputs.ndim
        for ax, (a, b) in zip(self._axes(inputs.ndim), self._pairs()):
            index[ax] = slice(a, inputs.shape[ax] - b)
        return inputs[tuple(index)]

    def compute_output_shape(self, input_shape):
        shape = tuple(normalize_shape(input_shape))
        self._check(shape)
        out = list(shape)
        for ax, (a, b) in zip(self._axes(len(shape)), self._pairs()):
            out[ax] = None if shape[ax] is None else shape[ax] - a - b
        return tuple(out)


class _Padding(_CropPad):
    abstract = True
    key = "padding"

    def call(self, inputs):
        widths = [(0, 0)] * inputs.ndim
        for ax, pair in zip(self._axes(inputs.ndim), self._pairs()):
            widths[ax] = pair
        # zeros and one copy of the interior: np.pad costs 1.3-3x as much (measured)
        out = np.zeros(tuple(n + a + b for n, (a, b) in zip(inputs.shape, widths)),
                       dtype=inputs.dtype)
        out[tuple(slice(a, a + n) for n, (a, _) in zip(inputs.shape, widths))] = inputs
        return out

    def compute_output_shape(self, input_shape):
        shape = tuple(normalize_shape(input_shape))
        out = list(shape)
        for ax, (a, b) in zip(self._axes(len(shape)), self._pairs()):
            out[ax] = None if shape[ax] is None else shape[ax] + a + b
        return tuple(out)


class Cropping1D(_Cropping):
    """Crops the time axis: ``cropping`` = (start, end) steps, or one int for both.

    Input shape: ``(batch, steps, features)``. Output: ``(batch, steps - start - end,
    features)``.
    """

    rank = 1
    fields = (IntTuple("cropping", (1, 1), "Steps removed at the start and the end.", length=2,
                       min=0),)


class Cropping2D(_Cropping):
    """Crops rows and columns: ``cropping`` = int, (rows, cols) or ((top, bottom),
    (left, right)).

    Input shape: ``(batch, rows, cols, channels)`` (channels_last) or ``(batch, channels,
    rows, cols)``. Output shape: the cropped sizes.
    """

    rank = 2
    fields = (Pairs("cropping", ((0, 0), (0, 0)), "Rows/columns removed on each side.",
                    axes=2),
              DataFormat())


class Cropping3D(_Cropping):
    """Crops three spatial axes: ``cropping`` = int, 3 ints or 3 (before, after) pairs.

    Input shape: ``(batch, d1, d2, d3, channels)`` (channels_last) or ``(batch, channels,
    d1, d2, d3)``. Output shape: the cropped sizes.
    """

    rank = 3
    fields = (Pairs("cropping", ((1, 1), (1, 1), (1, 1)), "Entries removed on each side.",
                    axes=3),
              DataFormat())


class ZeroPadding1D(_Padding):
    """Pads the time axis with zeros: ``padding`` = int or (start, end).

    Input shape: ``(batch, steps, features)`` (Keras 3 also channels_first). Output:
    ``(batch, steps + start + end, features)``.
    """

    rank = 1
    fields = (IntTuple("padding", (1, 1), "Zeros added at the start and the end.", length=2,
                       min=0),
              DataFormat(formats=(KERAS3,)))


class ZeroPadding2D(_Padding):
    """Pads rows and columns with zeros: ``padding`` = int, (rows, cols) or ((top, bottom),
    (left, right)).

    Input shape: ``(batch, rows, cols, channels)`` or channels_first. Output: padded sizes.
    """

    rank = 2
    fields = (Pairs("padding", ((1, 1), (1, 1)), "Zeros added on each side.", axes=2),
              DataFormat())


class ZeroPadding3D(_Padding):
    """Pads three spatial axes with zeros: ``padding`` = int, 3 ints or 3 pairs.

    Input shape: ``(batch, d1, d2, d3, channels)`` or channels_first. Output: padded sizes.
    """

    rank = 3
    fields = (Pairs("padding", ((1, 1), (1, 1), (1, 1)), "Zeros added on each side.", axes=3),
              DataFormat())


__all__ = ["Flatten", "Reshape", "Permute", "RepeatVector", "Cropping1D", "Cropping2D",
           "Cropping3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "DataFormat",
           "Pairs"]
