"""What MultiHeadAttention and GroupedQueryAttention share: the projection sublayers
(query, key, value, gate, output), their config keys, the build from shapes and the
combination of masks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...fields import KERAS3, Constraint, Field, Initializer, Regularizer, Seed
from ..base import Layer, activity_regularizer_field, normalize_shape
from .ops import Array, combine_masks


class Projection(Layer):
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


PROJECTION_FIELDS: tuple[Field, ...] = (
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


class HeadsAttention(Layer):
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

    def _proj(self, name: str, kshape: tuple, bshape: tuple | None) -> Projection:
        p = Projection(name=name, dtype=self._values["dtype"])
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
