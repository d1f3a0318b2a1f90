"""Attention over ``[query, value(, key)]`` with no projections: Attention (dot-product,
Luong) and AdditiveAttention (Bahdanau)."""

from __future__ import annotations

import numpy as np

from ...errors import describe
from ...fields import KERAS3, Bool, Choice, Float, Seed
from ..base import Layer
from .ops import Array, causal_mask, dropout, masked_softmax


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
        w = dropout(self._rng, p, self.dropout) if training else p
        out = w @ v
        if q_mask is not None:
            out = np.where(np.asarray(q_mask, dtype=bool)[..., None], out, 0)
        out = out.astype(self.compute_dtype)
        if return_attention_scores:
            return [out, w.astype(self.compute_dtype)]  # after dropout, as Keras
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
