"""Multi-head scaled dot-product attention (Vaswani et al.): MultiHeadAttention.

Keras 3's softmax path zeroes masked probabilities (a fully masked query row attends to
nothing) while its fused path (3-D inputs, no dropout, no returned scores) and Keras 2
leave such a row uniform; both are reproduced.
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import ConfigError, describe
from ...fields import KERAS2, KERAS3, REQUIRED, Bool, Field, Float, Int, Shape
from .base_heads import PROJECTION_FIELDS, HeadsAttention
from .ops import dropout, masked_softmax, run_batch_parallel


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


class MultiHeadAttention(HeadsAttention):
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
        *PROJECTION_FIELDS,
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
            self.value_dim = self.key_dim
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
        if self.source_format == KERAS2:
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
        if self.source_format == KERAS2:
            # tf_keras records the shapes and fills in only missing axes
            self._values["query_shape"], self._values["value_shape"] = q, v
            self._values["key_shape"] = k
            if self.attention_axes is None:
                self.attention_axes = axes
        else:  # Keras 3 writes the normalized axes once built
            self.attention_axes = axes
        self.set_weight_paths()

    def call(self, query, value=None, key=None, query_mask=None, value_mask=None,
             key_mask=None, attention_mask=None, return_attention_scores=False,
             training=False, use_causal_mask=False, mask=None):
        if value is None:
            raise ValueError(f"MultiHeadAttention {self.name!r}: value is required")
        value = self._cast(value)
        key = value if key is None else self._cast(key)
        am, _ = self._masks(query, value, mask, query_mask, value_mask, key_mask,
                            attention_mask, use_causal_mask)
        keras2 = self.source_format == KERAS2
        fused = not keras2 and self.dropout == 0 and not return_attention_scores \
            and query.ndim == 3
        zero = not keras2 and not fused

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
            p = dropout(self._rng, p, self.dropout)
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
