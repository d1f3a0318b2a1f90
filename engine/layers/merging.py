"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot.

Each takes a list of arrays. Element-wise merges broadcast as Keras does: an input of
lower rank gets axes inserted after the batch axis, then NumPy broadcasting applies.

Masks (``mask=[m0, m1, ...]``, one per input or None): a layer read from a Keras 2 config
follows Keras 2 (output mask = AND of the given masks; values untouched); every other
layer follows Keras 3 (output mask = OR of the masks, None when an input has none;
Maximum/Minimum/Multiply ignore masked entries of an input, as Keras 3 does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import describe
from ..fields import KERAS2, REQUIRED, Axis, Bool
from .base import Layer
from .elementwise import clip, stock_call

_F32 = np.dtype(np.float32)

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
           "Dot"]


def _elemwise_shape(s1: tuple | None, s2: tuple | None, who: str) -> tuple | None:
    """Keras's broadcast of two shapes (without batch), right-aligned; None is unknown."""
    if s1 is None or s2 is None:
        return None
    if len(s1) < len(s2):
        s1, s2 = s2, s1
    if not s2:
        return tuple(s1)
    out = list(s1[:len(s1) - len(s2)])
    for i, j in zip(s1[len(s1) - len(s2):], s2):
        if i is None or j is None:
            out.append(None)
        elif i == 1:
            out.append(j)
        elif j == 1 or i == j:
            out.append(i)
        else:
            raise ValueError(f"{who}: inputs have incompatible shapes {s1} and {s2}")
    return tuple(out)


class _Merge(Layer):
    """Base of the element-wise merge layers (not registered)."""

    abstract = True
    multi_input = True
    supports_masking = True
    min_inputs = 1
    max_inputs: int | None = None

    def _post_init(self) -> None:
        self._keras2 = self.source_format == KERAS2

    @property
    def _who(self) -> str:
        return f"{type(self).__name__} {self.name!r}"

    def _check_count(self, n: int) -> None:
        if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
            want = (f"exactly {self.max_inputs}" if self.max_inputs == self.min_inputs else
                    f"at least {self.min_inputs}")
            raise ValueError(f"{self._who} should be called on {want} inputs, got {n}")

    def _shapes(self, input_shape: Any) -> list[tuple]:
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not all(
                isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"{self._who} expects a list of input shapes, got "
                             f"{describe(input_shape)}")
        shapes = [tuple(s) for s in input_shape]
        self._check_count(len(shapes))
        return shapes

    def build(self, input_shape):
        shapes = self._shapes(input_shape)
        batch = {s[0] for s in shapes if s} - {None}
        if len(batch) > 1:
            raise ValueError(f"{self._who}: cannot merge inputs with different batch sizes, "
                             f"got shapes {shapes}")
        self.compute_output_shape(shapes)

    def compute_output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        out = shapes[0][1:]
        for s in shapes[1:]:
            out = _elemwise_shape(out, s[1:], self._who)
        batch = {s[0] for s in shapes} - {None}
        return ((batch.pop() if len(batch) == 1 else None),) + tuple(out)

    # -- call --------------------------------------------------------------------------
    def call(self, inputs, mask=None):
        return self._combine(inputs, mask, None)

    def _call_owned(self, inputs, owned, mask=None, bounds=None):
        # the run loop's: owned[i] says inputs[i] is no one else's (see _buffer);
        # ``bounds``: the clip of the relu layer that alone reads the result (fused_clip)
        out = self._combine(inputs, mask, owned)
        if bounds is not None:
            clip(out, bounds[0], bounds[1], out=out)
        return out

    def fused_clip(self, xs: Any, training: bool) -> tuple | None:
        """The output shape when the run loop may hand this layer's call on ``xs`` and a
        clip to ``bounds`` of the result to ``_call_owned(xs, owned, None, bounds)``
        (calls.run_fused): two or more float32 arrays of one shape merged by the class's
        own in-place merge (its result is a new array or an owned input), no activity
        regularizer; else None."""
        cls = type(self)
        if type(xs) is not list or len(xs) < 2 or not cls.in_place or \
                not stock_call(self, _Merge, "_combine") or \
                self._values["dtype"].compute_dtype != "float32":
            return None
        shape = xs[0].shape
        for x in xs:
            if type(x) is not np.ndarray or x.dtype is not _F32 or x.shape != shape:
                return None
        return shape

    def _combine(self, inputs, mask, owned):
        self._check_count(len(inputs))
        rank = max([x.ndim for x in inputs])
        xs = inputs if all([x.ndim == rank for x in inputs]) else [
            x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:])
            if x.ndim < rank else x for x in inputs]
        masks = self._masks(mask, len(xs))
        if masks is None or self._keras2:
            out = _buffer(xs, owned) if owned and self.in_place else None
            return self._merge(xs) if out is None else self._merge(xs, out)
        return self._merge_masked(xs, masks)

    def _masks(self, mask: Any, n: int) -> list[np.ndarray | None] | None:
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)) or len(mask) != n:
            raise ValueError(f"{self._who}: mask must be a list with one entry per input "
                             f"({n}), got {describe(mask)}")
        return [None if m is None else np.asarray(m, bool) for m in mask]

    #: ``_merge(xs, out)`` can write its result into ``out`` (one of the first two inputs,
    #: of the result's shape and dtype), with the same bits as into a new array; a subclass
    #: with its own ``_merge`` and no ``in_place`` of its own gets False
    in_place = False

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if "_merge" in cls.__dict__ and "in_place" not in cls.__dict__:
            cls.in_place = False

    def _merge(self, xs: list[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def _merge_masked(self, xs: list[np.ndarray], masks: list) -> np.ndarray:
        return self._merge(xs)

    def _apply_masked(self, op: Callable, xs: list[np.ndarray], masks: list) -> np.ndarray:
        """Keras 3's rule for Maximum/Minimum: masked entries of an input do not count."""
        out = out_mask = None
        for x, m in zip(xs, masks):
            if m is not None:
                m = np.broadcast_to(m.reshape(m.shape + (1,) * (x.ndim - m.ndim)), x.shape)
            if out is None:
                out, out_mask = x, m
                continue
            if m is not None:
                x = np.where(m, x, out)
            if out_mask is not None:
                out = np.where(out_mask, out, x)
            out_mask = None if (m is None or out_mask is None) else (out_mask | m)
            out = op(out, x)
        return out

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        masks = self._masks(mask, len(inputs))
        if self._keras2:
            given = [m for m in masks if m is not None]
            return np.logical_and.reduce(given) if given else None
        if any(m is None for m in masks):
            return None
        return np.logical_or.reduce(masks)


def _buffer(xs: list[np.ndarray], owned: tuple[bool, ...]) -> np.ndarray | None:
    """The input a merge may write its result into: one of the first two (both are read
    by the first operation, before anything is written; a later input is read after),
    owned by the caller (the run loop's ``owned`` flags) and already of the result's shape
    and dtype; None when there is none."""
    if len(xs) < 2:
        return None
    shape, dtype = xs[0].shape, xs[0].dtype
    if any(x.shape != shape or x.dtype != dtype for x in xs):  # else the result's own
        shape = np.broadcast_shapes(*[x.shape for x in xs])
        dtype = np.result_type(*xs)
    for x, mine in zip(xs[:2], owned[:2]):
        if mine and x.shape == shape and x.dtype == dtype and x.flags.writeable:
            return x
    return None


def _reduce(ufunc: np.ufunc, xs: list[np.ndarray], out: np.ndarray | None) -> np.ndarray:
    """``ufunc(...ufunc(ufunc(xs[0], xs[1]), xs[2])...)`` into ``out`` (a new array when
    None): the same operations in the same order, so the same bits."""
    if out is None:
        out = xs[0]
        for x in xs[1:]:
            out = ufunc(out, x)
        return out
    ufunc(xs[0], xs[1], out=out)
    for x in xs[2:]:
        ufunc(out, x, out=out)
    return out


class Add(_Merge):
    """Element-wise sum of the inputs (broadcasting as Keras).

    Input shape: a list of shapes. Output shape: their broadcast shape. No weights.
    """

    in_place = True

    def _merge(self, xs, out=None):
        return _reduce(np.add, xs, out)


class Subtract(_Merge):
    """``inputs[0] - inputs[1]``; exactly two inputs.

    Input shape: a list of 2 shapes. Output shape: their broadcast shape. No weights.
    """

    min_inputs = max_inputs = 2

    in_place = True

    def _merge(self, xs, out=None):
        return _reduce(np.subtract, xs, out)


class Multiply(_Merge):
    """Element-wise product. Keras 3 masking: a masked entry counts as 1 and the output is
    0 where every input is masked.

    Input shape: a list of shapes. Output shape: their broadcast shape. No weights.
    """

    in_place = True

    def _merge(self, xs, out=None):
        return _reduce(np.multiply, xs, out)

    def _merge_masked(self, xs, masks):
        full = all(m is not None for m in masks)
        out = out_mask = None
        for x, m in zip(xs, masks):
            if m is not None:
                m = np.broadcast_to(m.reshape(m.shape + (1,) * (x.ndim - m.ndim)), x.shape)
                x = np.where(m, x, np.ones((), x.dtype))
                if full:
                    out_mask = m if out_mask is None else (out_mask | m)
            out = x if out is None else out * x
        if full:
            out = np.where(out_mask, out, np.zeros((), out.dtype))
        return out


class Average(_Merge):
    """Element-wise mean of the inputs.

    Input shape: a list of shapes. Output shape: their broadcast shape. No weights.
    """

    in_place = True

    def _merge(self, xs, out=None):
        total = _reduce(np.add, xs, out)
        n = np.asarray(len(xs), total.dtype)
        return total / n if out is None else np.divide(total, n, out=out)


class Maximum(_Merge):
    """Element-wise maximum (Keras 3: masked entries of an input are ignored).

    Input shape: a list of shapes. Output shape: their broadcast shape. No weights.
    """

    in_place = True

    def _merge(self, xs, out=None):
        return _reduce(np.maximum, xs, out)

    def _merge_masked(self, xs, masks):
        return self._apply_masked(np.maximum, xs, masks)


class Minimum(_Merge):
    """Element-wise minimum (Keras 3: masked entries of an input are ignored).

    Input shape: a list of shapes. Output shape: their broadcast shape. No weights.
    """

    in_place = True

    def _merge(self, xs, out=None):
        return _reduce(np.minimum, xs, out)

    def _merge_masked(self, xs, masks):
        return self._apply_masked(np.minimum, xs, masks)


class Concatenate(_Merge):
    """Concatenates the inputs along ``axis``; every other dimension must match.

    Input shape: a list of shapes of equal rank. Output shape: the same, with the sizes on
    ``axis`` summed (None if one is unknown). No weights.
    """

    fields = (Axis("axis", -1, "Axis along which to concatenate.", multi=False),)

    def _axis(self, rank: int) -> int:
        axis = self._values["axis"]
        if not -rank <= axis < rank:
            raise self.config_error("axis", f"axis {axis} is out of range for inputs of "
                                    f"rank {rank}")
        return axis % rank

    def build(self, input_shape):
        shapes = self._shapes(input_shape)
        self.compute_output_shape(shapes)

    def compute_output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            raise ValueError(f"{self._who}: inputs must have the same rank, got shapes {shapes}")
        ax = self._axis(ranks.pop())
        out = list(shapes[0])
        for s in shapes[1:]:
            for d, (a, b) in enumerate(zip(out, s)):
                if d != ax and a is not None and b is not None and a != b:
                    raise ValueError(f"{self._who} requires matching shapes except on the "
                                     f"concatenation axis {self.axis}, got {shapes}")
                if d != ax and a is None:
                    out[d] = b
        sizes = [s[ax] for s in shapes]
        out[ax] = None if any(v is None for v in sizes) else int(sum(sizes))
        return tuple(out)

    def call(self, inputs, mask=None):
        self._check_count(len(inputs))
        return np.concatenate(inputs, axis=self._axis(inputs[0].ndim))

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        masks = self._masks(mask, len(inputs))
        if all(m is None for m in masks):
            return None
        full = []
        for x, m in zip(inputs, masks):
            x = np.asarray(x)
            if m is None:
                full.append(np.ones(x.shape, bool))
            elif m.ndim < x.ndim:
                full.append(np.broadcast_to(m[..., None], x.shape))
            else:
                full.append(m)
        cat = np.concatenate(full, axis=self._axis(full[0].ndim))
        return cat.all(axis=-1) if self._keras2 else cat.any(axis=-1)


class Dot(_Merge):
    """Batched dot product of two inputs over ``axes`` (batch axis is 0 and cannot be
    used); ``normalize=True`` L2-normalizes both inputs along those axes first (cosine).

    Input shape: two shapes of rank >= 2. Output shape: the first shape without its axis,
    then the second without its batch and axis (``(batch, 1)`` if nothing is left).
    No weights, no output mask.
    """

    supports_masking = True
    min_inputs = max_inputs = 2
    fields = (
        Axis("axes", REQUIRED, "Axis, or pair of axes (one per input), to sum over."),
        Bool("normalize", False, "L2-normalize the inputs along the axes first."),
    )

    def _post_init(self) -> None:
        super()._post_init()
        if isinstance(self.axes, (list, tuple)) and len(self.axes) != 2:
            raise self.config_error("axes", f"expected an int or a list of 2 ints, got "
                                    f"{list(self.axes)}")

    def _pair(self, r1: int, r2: int) -> list[int]:
        axes = [self.axes, self.axes] if isinstance(self.axes, int) else list(self.axes)
        out = []
        for a, r in zip(axes, (r1, r2)):
            if not -r <= a < r:
                raise self.config_error("axes", f"axis {a} is out of range for an input of "
                                        f"rank {r}")
            if a % r == 0:
                raise self.config_error("axes", "cannot take the dot product over the batch "
                                        "axis 0")
            out.append(a % r)
        return out

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        s1, s2 = (list(s) for s in self._shapes(input_shape))
        if len(s1) < 2 or len(s2) < 2:
            raise ValueError(f"{self._who}: inputs must have rank >= 2, got {s1} and {s2}")
        a1, a2 = self._pair(len(s1), len(s2))
        if s1[a1] is not None and s2[a2] is not None and s1[a1] != s2[a2]:
            raise ValueError(f"{self._who}: incompatible sizes {s1[a1]} (axis {a1} of "
                             f"{tuple(s1)}) and {s2[a2]} (axis {a2} of {tuple(s2)})")
        s1.pop(a1)
        s2.pop(a2)
        s2.pop(0)
        out = s1 + s2
        return tuple(out + [1] if len(out) == 1 else out)

    def call(self, inputs, mask=None):
        self._check_count(len(inputs))
        x, y = inputs
        a1, a2 = self._pair(x.ndim, y.ndim)
        if self.normalize:
            x, y = self._l2(x, a1), self._l2(y, a2)
        xm = np.moveaxis(x, a1, -1)
        ym = np.moveaxis(y, a2, 1)
        b, d = x.shape[0], x.shape[a1]
        if y.shape[a2] != d:
            raise ValueError(f"{self._who}: incompatible sizes {d} and {y.shape[a2]} for "
                             f"axes {self.axes}")
        x_rest, y_rest = xm.shape[1:-1], ym.shape[2:]
        out = np.matmul(xm.reshape(b, -1, d), ym.reshape(b, d, -1))
        out = out.reshape((b,) + x_rest + y_rest)
        return out.reshape(b, 1) if out.ndim == 1 else out

    def _l2(self, v: np.ndarray, axis: int) -> np.ndarray:
        sq = np.square(v).sum(axis=axis, keepdims=True)
        if self._keras2:
            return v / np.sqrt(np.maximum(sq, np.asarray(1e-12, v.dtype)))
        with np.errstate(divide="ignore"):
            return v * np.minimum(1.0 / np.sqrt(sq), np.asarray(1e7, v.dtype))

    def compute_mask(self, inputs, mask=None):
        return None

