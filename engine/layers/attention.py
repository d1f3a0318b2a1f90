"""Attention layers: MultiHeadAttention, GroupedQueryAttention, Attention (dot/concat
scores) and AdditiveAttention (Bahdanau).

Masks follow Keras: a query mask ``(B, T)``, value/key masks ``(B, S)``, an explicit
``attention_mask`` ``(B, T, S)`` and ``use_causal_mask`` are combined with AND; masked
scores get -1e9 before the softmax. Keras 3's softmax path then zeroes masked
probabilities (a fully masked query row attends to nothing) while its fused path (3-D
inputs, no dropout, no returned scores) and Keras 2 leave such a row uniform; both are
reproduced.
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
    Bool,
    Choice,
    Constraint,
    Field,
    Float,
    Initializer,
    Int,
    Regularizer,
    Seed,
    Shape,
)
from .base import Layer, activity_regularizer_field, normalize_shape
from .rnn import set_weight_paths

Array = np.ndarray
_NEG = -1e9


# -- shared math -----------------------------------------------------------------------


def masked_softmax(scores: Array, mask: Array | None, zero_masked: bool) -> Array:
    """Softmax over the last axis; ``mask`` False entries get -1e9 first (and 0 after
    when ``zero_masked``)."""
    if mask is not None:
        scores = np.where(mask, scores, np.asarray(_NEG, dtype=scores.dtype))
    p = scores - scores.max(axis=-1, keepdims=True)  # a new array: in-place from here on
    np.exp(p, out=p)
    p /= p.sum(axis=-1, keepdims=True)
    if mask is not None and zero_masked:
        p = np.where(mask, p, np.asarray(0, dtype=p.dtype))
    return p


def _dropout(rng: np.random.Generator, x: Array, rate: float) -> Array:
    if not 0.0 < rate < 1.0:
        return x
    keep = rng.random(x.shape) >= rate
    return (x * keep / (1.0 - rate)).astype(x.dtype)


def causal_mask(t: int, s: int) -> Array:
    """``(1, T, S)``: query i sees keys j <= i."""
    return (np.arange(t)[:, None] >= np.arange(s)[None, :])[None]


def _sliding_mask(t: int, s: int, window: int) -> Array:
    return (np.abs(np.arange(t)[:, None] - np.arange(s)[None, :]) < window)[None]


def combine_masks(t: int, s: int, *, query_mask=None, value_mask=None, key_mask=None,
                  attention_mask=None, causal: bool = False, window: int | None = None):
    """Keras's ``_compute_attention_mask``: everything ANDed, or None."""
    auto = None

    def _and(a, b):
        return b if a is None else a & b

    if query_mask is not None:
        auto = _and(auto, np.asarray(query_mask).astype(bool)[..., :, None])
    if value_mask is not None:
        auto = _and(auto, np.asarray(value_mask).astype(bool)[..., None, :])
    if key_mask is not None:
        auto = _and(auto, np.asarray(key_mask).astype(bool)[..., None, :])
    if causal:
        auto = _and(auto, causal_mask(t, s))
    if window is not None:
        auto = _and(auto, _sliding_mask(t, s, window))
    if attention_mask is not None:
        am = np.asarray(attention_mask).astype(bool)
        return am if auto is None else am & auto
    return auto


_pool = None


def run_batch_parallel(fn, batch: int, arrays: tuple, flops: float) -> tuple:
    """``fn(*arrays)`` -> a tuple of arrays (or None), computed on slices of the batch in
    the conv module's worker threads when the job is big (NumPy releases the GIL in its
    products; BLAS itself runs one thread). Arrays whose first axis is not the batch are
    passed whole; the results are joined along axis 0."""
    from . import conv as _conv

    global _pool
    n = min(_conv.THREADS, batch)
    if n <= 1 or flops < _conv.PARALLEL_FLOPS:
        return fn(*arrays)
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(_conv.THREADS, thread_name_prefix="layerlab-attention")
    step = -(-batch // n)

    def part(i: int) -> tuple:
        return fn(*(a[i:i + step] if isinstance(a, np.ndarray) and a.ndim >= 3 and
                    a.shape[0] == batch else a for a in arrays))

    results = [f.result() for f in [_pool.submit(part, i) for i in range(0, batch, step)]]
    return tuple(None if r[0] is None else np.concatenate(r, axis=0)
                 for r in zip(*results))


class _Projection(Layer):
    """A kernel (and bias) of an attention projection; run by its parent layer."""

    abstract = True

    def setup(self, kernel_shape: tuple, bias_shape: tuple | None, owner: Layer) -> None:
        self._kshape, self._bshape, self._owner = kernel_shape, bias_shape, owner

    def build(self, input_shape=None):
        o = self._owner
        self.kernel = self.add_weight("kernel", self._kshape, o.kernel_initializer,
                                      regularizer=o.kernel_regularizer,
                                      constraint=o.kernel_constraint,
                                      field="kernel_initializer")
        self.bias = None
        if self._bshape is not None:
            self.bias = self.add_weight("bias", self._bshape, o.bias_initializer,
                                        regularizer=o.bias_regularizer,
                                        constraint=o.bias_constraint,
                                        field="bias_initializer")

    def apply_in(self, x: Array) -> Array:
        """``x (..., dim)`` -> ``(..., *kernel_shape[1:])``."""
        k = self.kernel.value
        y = x.reshape(-1, x.shape[-1]) @ k.reshape(k.shape[0], -1)
        if self.bias is not None:
            y += self.bias.value.reshape(-1)
        return y.reshape(x.shape[:-1] + k.shape[1:])

    def apply_out(self, x: Array, n_in: int) -> Array:
        """``x (..., *kernel_shape[:n_in])`` -> ``(..., *kernel_shape[n_in:])``."""
        k = self.kernel.value
        lead = x.shape[:x.ndim - n_in]
        k2 = k.reshape(math.prod(k.shape[:n_in]), -1)
        y = x.reshape(-1, k2.shape[0]) @ k2
        if self.bias is not None:
            y += self.bias.value.reshape(-1)
        return y.reshape(lead + k.shape[n_in:])


class _OutputShape(Field):
    """MHA ``output_shape``: None, an int or a list of ints."""

    kind = "shape"

    def expected(self):
        return "None, a positive int or a list of positive ints"

    def _check(self, value, path):
        items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(items, (list, tuple)) or not items:
            raise self._wrong(value, path)
        for i, v in enumerate(items):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{path}[{i}]" if items is value else path,
                                  f"expected a positive int, got {describe(v)}")
        return value if isinstance(value, int) else tuple(int(v) for v in value)

    def to_config(self, value, fmt):
        if value is None:
            return None
        if fmt == KERAS3 and isinstance(value, int):
            return [value]
        return list(value) if isinstance(value, tuple) else value


class _Axes(Field):
    """``attention_axes``: None, an int or a list of ints (an int is written as a list)."""

    kind = "axis"

    def expected(self):
        return "None, an int or a list of ints"

    def _check(self, value, path):
        items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(items, (list, tuple)) or not items:
            raise self._wrong(value, path)
        for i, v in enumerate(items):
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"{path}[{i}]", f"expected an int, got {describe(v)}")
        return tuple(int(v) for v in items)


_COMMON_TAIL: tuple[Field, ...] = (
    Initializer("kernel_initializer", "glorot_uniform", "Initializer of the projection "
                "kernels."),
    Initializer("bias_initializer", "zeros", "Initializer of the projection biases."),
    Regularizer("kernel_regularizer", None, "Penalty on the kernels."),
    Regularizer("bias_regularizer", None, "Penalty on the biases."),
    activity_regularizer_field(keras3_always=True),
    Constraint("kernel_constraint", None, "Constraint on the kernels."),
    Constraint("bias_constraint", None, "Constraint on the biases."),
    Seed("seed", None, "Random seed for dropout.", formats=(KERAS3,)),
)


def _split_masks(mask: Any) -> tuple[Any, Any, Any]:
    if mask is None:
        return None, None, None
    if isinstance(mask, (list, tuple)):
        m = list(mask) + [None] * 3
        return m[0], m[1], m[2]
    return mask, None, None


class _HeadsAttention(Layer):
    """What MultiHeadAttention and GroupedQueryAttention share."""

    abstract = True
    supports_masking = True

    def _tolerate_key(self, key, value):
        return key == "flash_attention" or super()._tolerate_key(key, value)

    def _auto_build(self, x, args, kwargs):
        value = args[0] if args else kwargs.get("value")
        if value is None:
            raise ValueError(f"{type(self).__name__} {self.name!r} is called as "
                             f"layer(query, value, key=None, ...); the value is missing")
        key = kwargs.get("key")
        if key is None and len(args) > 1:
            key = args[1]
        self.build(tuple(x.shape), tuple(np.shape(value)),
                   None if key is None else tuple(np.shape(key)))

    def _unpack_shapes(self, query_shape, value_shape, key_shape):
        if value_shape is None and isinstance(query_shape, list):
            shapes = list(query_shape) + [None]
            query_shape, value_shape, key_shape = shapes[0], shapes[1], shapes[2]
        if value_shape is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: build needs the query and "
                             f"value shapes")
        q = tuple(normalize_shape(query_shape))
        v = tuple(normalize_shape(value_shape))
        k = v if key_shape is None else tuple(normalize_shape(key_shape))
        if v[1:-1] != k[1:-1]:
            raise ValueError(f"{type(self).__name__} {self.name!r}: value and key must agree "
                             f"on every axis but the last, got value {v} and key {k}")
        for name, s in (("query", q), ("value", v), ("key", k)):
            if s[-1] is None:
                raise ValueError(f"{type(self).__name__} {self.name!r}: the last axis of the "
                                 f"{name} must be known, got {s}")
        return q, v, k, key_shape is not None

    def _proj(self, name: str, kshape: tuple, bshape: tuple | None) -> _Projection:
        p = _Projection(name=name, dtype=self._values["dtype"])
        p.setup(kshape, bshape if self.use_bias else None, self)
        p.build()
        self._sublayers.append(p)
        return p

    def get_build_config(self):
        if not self.built or self._shapes is None:
            return None
        q, v, k, has_k = self._shapes
        d = {"query_shape": list(q), "value_shape": list(v)}
        if has_k:
            d["key_shape"] = list(k)
        return {"shapes_dict": d}

    def build_from_config(self, build_config, path="build_config"):
        sd = build_config.get("shapes_dict")
        if isinstance(sd, dict):
            self.build(sd.get("query_shape"), sd.get("value_shape"), sd.get("key_shape"))
        elif build_config.get("input_shape") is not None:
            super().build_from_config(build_config, path)

    def _masks(self, query, value, mask, query_mask, value_mask, key_mask, attention_mask,
               use_causal_mask):
        qm, vm, km = _split_masks(mask)
        query_mask = query_mask if query_mask is not None else qm
        value_mask = value_mask if value_mask is not None else vm
        key_mask = key_mask if key_mask is not None else km
        return combine_masks(query.shape[1], value.shape[1], query_mask=query_mask,
                             value_mask=value_mask, key_mask=key_mask,
                             attention_mask=attention_mask, causal=use_causal_mask,
                             window=self._values.get("sliding_window")), query_mask


class MultiHeadAttention(_HeadsAttention):
    """Multi-head scaled dot-product attention (Vaswani et al.).

    Call: ``layer(query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
    attention_mask=None, return_attention_scores=False, training=False,
    use_causal_mask=False)``; ``mask=`` may also give ``[query_mask, value_mask,
    key_mask]``.

    Input shapes: query ``(B, *T, dim_q)``, value ``(B, *S, dim_v)``, key like value.
    Output shape: ``(B, *T, dim_q)`` or ``(B, *T, *output_shape)``; with
    ``return_attention_scores`` also the scores ``(B, H, *T, *S)`` (heads first among
    the non-attention axes).
    Weights: query/key/value kernels ``(dim, heads, key_dim|value_dim)`` and biases
    ``(heads, dim)``, then the output kernel ``(heads, value_dim, *out)`` and bias.
    """

    fields = (
        Int("num_heads", REQUIRED, "Number of attention heads.", min=1),
        Int("key_dim", REQUIRED, "Size of each head for query and key.", min=1),
        Int("value_dim", None, "Size of each head for value (default: key_dim).", min=1,
            optional=True),
        Float("dropout", 0.0, "Dropout on the attention probabilities (training).", min=0,
              max=1),
        Bool("use_bias", True, "Whether the projections have biases."),
        Bool("use_gate", False, "Keras 3: gate the attention output with a sigmoid "
             "projection of the query.", formats=(KERAS3,)),
        _OutputShape("output_shape", None, "Output size(s) of the last axes (default: the "
                     "query's last axis).", optional=True),
        _Axes("attention_axes", None, "Axes attention runs over (default: all but batch, "
              "heads and channels).", optional=True),
        Int("sliding_window", None, "Keras 3: attend only to keys closer than this.", min=1,
            optional=True, formats=(KERAS3,)),
        *_COMMON_TAIL,
        Shape("query_shape", None, "Keras 2: the query shape it was built with.",
              formats=(KERAS2,)),
        Shape("key_shape", None, "Keras 2: the key shape it was built with.",
              formats=(KERAS2,)),
        Shape("value_shape", None, "Keras 2: the value shape it was built with.",
              formats=(KERAS2,)),
        Bool("softmax_robust_masking", False, "Keras 2: mask with where() instead of an "
             "added -1e9 (same result here).", formats=(KERAS2,)),
    )

    def _post_init(self):
        if self._values["value_dim"] is None:
            self._values["value_dim"] = self.value_dim = self.key_dim
        self._keras2 = registry.current_format() == KERAS2
        self._shapes = None
        self._axes: tuple[int, ...] | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        v = self._values
        if v.get("query_shape") is not None and v.get("value_shape") is not None:
            self.build(v["query_shape"], v["value_shape"], v.get("key_shape"))

    def _out_dims(self, query_shape) -> tuple:
        o = self.output_shape
        if o is None:
            return (query_shape[-1],)
        return (o,) if isinstance(o, int) else tuple(o)

    def _norm_axes(self, rank: int) -> tuple[int, ...]:
        """Attention axes of the projected tensors (rank = input rank + 1)."""
        axes = self.attention_axes
        if axes is None:
            return tuple(range(1, rank - 2))
        if self._keras2:
            return tuple(a if a >= 0 else rank + a for a in axes)
        return tuple(a if a >= 0 else (rank - 1) + a for a in axes)

    def build(self, query_shape, value_shape=None, key_shape=None):
        q, v, k, has_k = self._unpack_shapes(query_shape, value_shape, key_shape)
        h, kd, vd = self.num_heads, self.key_dim, self.value_dim
        rank = len(q) + 1
        axes = self._norm_axes(rank)
        for a in axes:
            if not 0 < a < rank - 1:
                raise self.config_error("attention_axes", f"axes must lie between the batch "
                                        f"axis and the last axis of the inputs (rank "
                                        f"{len(q)}), got {list(self.attention_axes)}")
        self._axes = axes
        self._query = self._proj("query", (q[-1], h, kd), (h, kd))
        self._key = self._proj("key", (k[-1], h, kd), (h, kd))
        self._gate = self._proj("gate", (q[-1], h, vd), (h, vd)) if self.use_gate else None
        self._value = self._proj("value", (v[-1], h, vd), (h, vd))
        out = self._out_dims(q)
        self._output = self._proj("attention_output", (h, vd) + out, out)
        self._shapes = (q, v, k, has_k)
        if self._keras2:  # tf_keras records the shapes and fills in only missing axes
            self._values["query_shape"], self._values["value_shape"] = q, v
            self._values["key_shape"] = k
            if self.attention_axes is None:
                self._values["attention_axes"] = self.attention_axes = axes
        else:  # Keras 3 writes the normalized axes once built
            self._values["attention_axes"] = self.attention_axes = axes
        set_weight_paths(self)

    def call(self, query, value=None, key=None, query_mask=None, value_mask=None,
             key_mask=None, attention_mask=None, return_attention_scores=False,
             training=False, use_causal_mask=False, mask=None):
        if value is None:
            raise ValueError(f"MultiHeadAttention {self.name!r}: value is required")
        value = self._cast(value)
        key = value if key is None else self._cast(key)
        am, _ = self._masks(query, value, mask, query_mask, value_mask, key_mask,
                            attention_mask, use_causal_mask)
        fused = not self._keras2 and self.dropout == 0 and not return_attention_scores \
            and query.ndim == 3
        zero = not self._keras2 and not fused

        def forward(query, key, value, am):
            gate = None
            if self._gate is not None:
                gate = 1.0 / (1.0 + np.exp(-self._gate.apply_in(query)))
            q = self._query.apply_in(query)
            k = self._key.apply_in(key)
            v = self._value.apply_in(value)
            out, scores = self._attend(q, k, v, am, training, zero_masked=zero)
            if gate is not None:
                out = out * gate
            y = self._output.apply_out(out, 2).astype(self.compute_dtype)
            return y, (scores if return_attention_scores else None)

        if training and self.dropout > 0:  # one random stream: no threads
            y, scores = forward(query, key, value, am)
        else:
            flops = 4.0 * (query.size + key.size) * self.num_heads * self.key_dim
            y, scores = run_batch_parallel(forward, query.shape[0], (query, key, value, am),
                                           flops)
        if return_attention_scores:
            return [y, scores]
        return y

    def _attend(self, q, k, v, mask, training, zero_masked):
        r = q.ndim
        axes = self._axes if self._axes is not None else self._norm_axes(r)
        batch = [i for i in range(r - 1) if i not in axes]
        perm = batch + list(axes) + [r - 1]
        qt, kt, vt = q.transpose(perm), k.transpose(perm), v.transpose(perm)
        nb = len(batch)
        bshape = qt.shape[:nb]
        qa, ka = qt.shape[nb:-1], kt.shape[nb:-1]
        nq, nk = math.prod(qa), math.prod(ka)
        scale = np.asarray(1.0 / math.sqrt(self.key_dim), dtype=q.dtype)
        q2 = qt.reshape(bshape + (nq, qt.shape[-1])) * scale
        k2 = kt.reshape(kt.shape[:nb] + (nk, kt.shape[-1]))
        v2 = vt.reshape(vt.shape[:nb] + (nk, vt.shape[-1]))
        s = q2 @ np.swapaxes(k2, -1, -2)
        full = bshape + tuple(qa) + tuple(ka)
        m2 = None
        if mask is not None:
            m = np.asarray(mask, dtype=bool)
            while m.ndim < len(full):  # Keras inserts axes before the attention ones
                m = np.expand_dims(m, -2 * len(axes) - 1)
            m2 = np.broadcast_to(m, full).reshape(bshape + (nq, nk))
        p = masked_softmax(s, m2, zero_masked)
        scores = p.reshape(full)
        if training and self.dropout > 0:
            p = _dropout(self._rng, p, self.dropout)
        o = (p @ v2).reshape(bshape + tuple(qa) + (v2.shape[-1],))
        return o.transpose(np.argsort(perm)), scores

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None,
                             return_attention_scores=False):
        if value_shape is None and isinstance(query_shape, list):
            shapes = list(query_shape) + [None]
            query_shape, value_shape, key_shape = shapes[0], shapes[1], shapes[2]
        q = tuple(query_shape)
        v = tuple(value_shape) if value_shape is not None else q
        k = tuple(key_shape) if key_shape is not None else v
        if v[1:-1] != k[1:-1]:
            raise ValueError(f"MultiHeadAttention {self.name!r}: value and key must agree on "
                             f"every axis but the last, got value {v} and key {k}")
        out = q[:-1] + (self._out_dims(q) if self.output_shape is not None else (q[-1],))
        if not return_attention_scores:
            return out
        r = len(q) + 1
        axes = self._norm_axes(r)
        qp = q[:-1] + (self.num_heads,)
        vp = v[:-1] + (self.num_heads,)
        batch = [qp[i] for i in range(r - 1) if i not in axes]
        return [out, tuple(batch) + tuple(qp[a] for a in axes) + tuple(vp[a] for a in axes)]


class GroupedQueryAttention(_HeadsAttention):
    """Grouped-query attention (Keras 3 only): ``num_query_heads`` query heads share
    ``num_key_value_heads`` key/value heads.

    Call: as MultiHeadAttention. Input shapes: query ``(B, T, dim)``, value/key
    ``(B, S, dim_v)``. Output shape: ``(B, T, dim)``; scores ``(B, Hq, T, S)``.
    Weights: query ``(dim, Hq, head_dim)``, key/value ``(dim_v, Hkv, head_dim)``, biases,
    output ``(Hq, head_dim, dim)`` and ``(dim,)``.
    """

    aliases = ("GroupQueryAttention",)
    keras3_class_name = "GroupQueryAttention"
    keras_formats = (KERAS3,)
    fields = (
        Int("head_dim", REQUIRED, "Size of each attention head.", min=1),
        Int("num_query_heads", REQUIRED, "Number of query heads.", min=1),
        Int("num_key_value_heads", REQUIRED, "Number of key/value heads (divides "
            "num_query_heads).", min=1),
        Bool("use_bias", True, "Whether the projections have biases."),
        Bool("use_gate", False, "Gate the attention output with a sigmoid projection of "
             "the query."),
        Int("sliding_window", None, "Attend only to keys closer than this.", min=1,
            optional=True),
        Float("dropout", 0.0, "Dropout on the attention probabilities (training).", min=0,
              max=1),
        *_COMMON_TAIL,
    )

    def _post_init(self):
        if self.num_query_heads % self.num_key_value_heads:
            raise self.config_error(
                "num_key_value_heads", f"must divide num_query_heads "
                f"({self.num_query_heads}), got {self.num_key_value_heads}")
        self._shapes = None

    def build(self, query_shape, value_shape=None, key_shape=None):
        q, v, k, has_k = self._unpack_shapes(query_shape, value_shape, key_shape)
        hq, hkv, hd = self.num_query_heads, self.num_key_value_heads, self.head_dim
        self._query = self._proj("query", (q[-1], hq, hd), (hq, hd))
        self._key = self._proj("key", (k[-1], hkv, hd), (hkv, hd))
        self._gate = self._proj("gate", (q[-1], hq, hd), (hq, hd)) if self.use_gate else None
        self._value = self._proj("value", (v[-1], hkv, hd), (hkv, hd))
        self._output = self._proj("attention_output", (hq, hd, q[-1]), (q[-1],))
        self._shapes = (q, v, k, has_k)
        set_weight_paths(self)

    def call(self, query, value=None, key=None, query_mask=None, value_mask=None,
             key_mask=None, attention_mask=None, return_attention_scores=False,
             training=False, use_causal_mask=False, mask=None):
        if value is None:
            raise ValueError(f"GroupedQueryAttention {self.name!r}: value is required")
        value = self._cast(value)
        key = value if key is None else self._cast(key)
        am, _ = self._masks(query, value, mask, query_mask, value_mask, key_mask,
                            attention_mask, use_causal_mask)
        gate = None
        if self._gate is not None:
            gate = 1.0 / (1.0 + np.exp(-self._gate.apply_in(query)))
        rep = self.num_query_heads // self.num_key_value_heads
        q = self._query.apply_in(query)                          # (B, T, Hq, hd)
        k = np.repeat(self._key.apply_in(key), rep, axis=2)      # (B, S, Hq, hd)
        v = np.repeat(self._value.apply_in(value), rep, axis=2)
        fused = self.dropout == 0 and not return_attention_scores
        scale = np.asarray(1.0 / math.sqrt(self.head_dim), dtype=q.dtype)
        s = np.swapaxes(q, 1, 2) @ np.transpose(k, (0, 2, 3, 1)) * scale   # (B, Hq, T, S)
        m = None
        if am is not None:
            m = np.asarray(am, dtype=bool)
            while m.ndim < 4:
                m = np.expand_dims(m, m.ndim - 2)
        p = masked_softmax(s, m, zero_masked=not fused)
        scores = p
        if training and self.dropout > 0:
            p = _dropout(self._rng, p, self.dropout)
        out = np.swapaxes(p @ np.swapaxes(v, 1, 2), 1, 2)                  # (B, T, Hq, hd)
        if gate is not None:
            out = out * gate
        y = self._output.apply_out(out, 2).astype(self.compute_dtype)
        if return_attention_scores:
            return [y, scores]
        return y

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None,
                             return_attention_scores=False):
        if value_shape is None and isinstance(query_shape, list):
            shapes = list(query_shape) + [None]
            query_shape, value_shape = shapes[0], shapes[1]
        q = tuple(query_shape)
        v = tuple(value_shape) if value_shape is not None else q
        if not return_attention_scores:
            return q
        return [q, (q[0], self.num_query_heads, q[1], v[1])]


# -- Attention / AdditiveAttention -------------------------------------------------------


class _DenseAttention(Layer):
    """Attention over ``[query, value]`` or ``[query, value, key]`` (Luong / Bahdanau)."""

    abstract = True
    multi_input = True
    supports_masking = True

    def _check_list(self, inputs) -> None:
        if not isinstance(inputs, list) or not 2 <= len(inputs) <= 3:
            raise ValueError(f"{type(self).__name__} {self.name!r} is called on a list [query, "
                             f"value] or [query, value, key], got {describe(inputs)}")

    def _post_init(self):
        pass

    def _scores(self, q: Array, k: Array) -> Array:
        raise NotImplementedError

    def call(self, inputs, mask=None, training=False, return_attention_scores=False,
             use_causal_mask=False):
        self._check_list(inputs)
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        q_mask = v_mask = None
        if mask is not None:
            if not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3:
                raise ValueError(f"{type(self).__name__} {self.name!r}: mask must be a list "
                                 f"[query_mask, value_mask], got {describe(mask)}")
            q_mask, v_mask = mask[0], mask[1]
        s = self._scores(q, k)
        sm = None if v_mask is None else np.asarray(v_mask, dtype=bool)[..., None, :]
        if use_causal_mask or self._values.get("causal"):
            c = causal_mask(s.shape[-2], s.shape[-1])
            sm = c if sm is None else sm & c
        p = masked_softmax(s, sm, zero_masked=False)
        w = _dropout(self._rng, p, self.dropout) if training else p
        out = w @ v
        if q_mask is not None:
            out = np.where(np.asarray(q_mask, dtype=bool)[..., None], out, 0)
        out = out.astype(self.compute_dtype)
        if return_attention_scores:
            return [out, p.astype(self.compute_dtype)]
        return out

    def compute_mask(self, inputs, mask=None):
        if mask is None or mask[0] is None:
            return None
        return np.asarray(mask[0])

    def compute_output_shape(self, input_shape, return_attention_scores=False):
        q, v = tuple(input_shape[0]), tuple(input_shape[1])
        k = tuple(input_shape[2]) if len(input_shape) > 2 else v
        out = q[:-1] + (v[-1],)
        if return_attention_scores:
            return [out, q[:-1] + (k[-2],)]
        return out


_DROPOUT_ATT = Float("dropout", 0.0, "Dropout on the attention weights (training).", min=0,
                     max=1)
_CAUSAL_K2 = Bool("causal", False, "Keras 2.9: always apply a causal mask (replaced by the "
                  "use_causal_mask call argument).", formats=())


class Attention(_DenseAttention):
    """Dot-product (Luong) attention: ``softmax(q @ k^T [* scale]) @ v``;
    ``score_mode='concat'``: ``concat_score_weight * sum(tanh([scale *] (q + k)))``.

    Input: ``[query (B, Tq, dim), value (B, Tv, dim)(, key (B, Tv, dim))]``.
    Output shape: ``(B, Tq, dim)`` (+ scores ``(B, Tq, Tv)``).
    Weights: ``scale ()`` if ``use_scale``; ``concat_score_weight ()`` for 'concat'.
    """

    fields = (
        Bool("use_scale", False, "Learn a scalar that multiplies the scores."),
        Choice("score_mode", "dot", "How scores are computed.", choices=("dot", "concat"),
               lower=False),
        _DROPOUT_ATT,
        Seed("seed", None, "Random seed for dropout.", formats=(KERAS3,)),
        _CAUSAL_K2,
    )
    keras2_order = ("name", "trainable", "dtype", "dropout", "use_scale", "score_mode")

    def build(self, input_shape):
        self.scale = self.concat_score_weight = None
        if self.use_scale:
            self.scale = self.add_weight("scale", (), "ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight("concat_score_weight", (), "ones")

    def _scores(self, q, k):
        if self.score_mode == "dot":
            s = q @ np.swapaxes(k, -1, -2)
            return s * self.scale.value if self.scale is not None else s
        x = q[..., :, None, :] + k[..., None, :, :]
        if self.scale is not None:
            x = self.scale.value * x
        return self.concat_score_weight.value * np.tanh(x).sum(-1)


class AdditiveAttention(_DenseAttention):
    """Additive (Bahdanau) attention: ``scores = sum(scale * tanh(q + k), -1)``.

    Input: ``[query (B, Tq, dim), value (B, Tv, dim)(, key)]``. Output shape:
    ``(B, Tq, dim)`` (+ scores ``(B, Tq, Tv)``). Weights: ``scale (dim,)`` if ``use_scale``.
    """

    fields = (
        Bool("use_scale", True, "Learn a per-feature scale of the scores."),
        _DROPOUT_ATT,
        Seed("seed", None, "Random seed for dropout.", formats=(KERAS3,)),
        _CAUSAL_K2,
    )
    keras2_order = ("name", "trainable", "dtype", "dropout", "use_scale")

    def build(self, input_shape):
        self.scale = None
        if self.use_scale:
            self.scale = self.add_weight("scale", (input_shape[0][-1],), "glorot_uniform")

    def _scores(self, q, k):
        t = np.tanh(q[..., :, None, :] + k[..., None, :, :])
        if self.scale is not None:
            t = t * self.scale.value
        return t.sum(-1)


__all__ = ["MultiHeadAttention", "GroupedQueryAttention", "Attention", "AdditiveAttention",
           "masked_softmax", "combine_masks", "causal_mask", "KERAS3"]
