"""Grouped-query attention (Keras 3 only): GroupedQueryAttention, registered also as
Keras's GroupQueryAttention."""

from __future__ import annotations

import math

import numpy as np

from ...fields import KERAS3, REQUIRED, Bool, Float, Int
from .base_heads import PROJECTION_FIELDS, HeadsAttention
from .ops import dropout, masked_softmax


class GroupedQueryAttention(HeadsAttention):
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
        *PROJECTION_FIELDS,
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
        self.set_weight_paths()

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
            p = dropout(self._rng, p, self.dropout)
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
