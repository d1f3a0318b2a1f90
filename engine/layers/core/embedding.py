"""Embedding and ReversibleEmbedding: integer ids -> rows of a table."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...fields import (
    KERAS2,
    KERAS3,
    REQUIRED,
    Bool,
    Constraint,
    Field,
    Float,
    Initializer,
    Int,
    Regularizer,
    Shape,
    Str,
)
from ..base import Layer, activity_regularizer_field, normalize_shape
from .common import QUANTIZATION, check_not_quantized


class _IntOrShape(Field):
    """Keras 2 ``input_length``: None, an int or a list of ints/None, written as given."""

    kind = "json"

    def expected(self) -> str:
        return "an int >= 1, a list of ints, or None"

    def _check(self, value: Any, path: str) -> Any:
        if isinstance(value, (list, tuple)):
            return list(Shape(self.name, min=1).validate(value, path))
        return Int(self.name, min=1).validate(value, path)


def _check_ids(layer: Layer, ids: np.ndarray, high: int) -> np.ndarray:
    if not np.issubdtype(ids.dtype, np.integer):
        if ids.dtype == bool or not np.issubdtype(ids.dtype, np.number):
            raise ValueError(f"{type(layer).__name__} {layer.name!r} expects integer ids, got "
                             f"an array of dtype {ids.dtype}")
        ids = ids.astype(np.int32)  # Keras casts float ids to int32 (truncation)
    if ids.size and (ids.min() < 0 or ids.max() >= high):
        bad = ids[(ids < 0) | (ids >= high)].ravel()[0]
        raise ValueError(f"{type(layer).__name__} {layer.name!r}: id {int(bad)} is outside "
                         f"[0, {high}) (input_dim={high})")
    return ids


# -- Embedding ----------------------------------------------------------------------------


class Embedding(Layer):
    """Maps integer ids to dense vectors: ``embeddings[ids]``.

    ``mask_zero=True`` makes id 0 padding: the output mask is ``ids != 0``.

    Input shape: integer ids ``(batch, ...)``. Output shape: ``(batch, ..., output_dim)``.
    Weights: ``embeddings (input_dim, output_dim)``.

    Example:
        >>> Embedding(1000, 64, mask_zero=True)
    """

    autocast = False
    fields = (
        Int("input_dim", REQUIRED, "Vocabulary size: ids are in [0, input_dim).", min=1),
        Int("output_dim", REQUIRED, "Size of each embedding vector.", min=1),
        Initializer("embeddings_initializer", "uniform", "Initializer of the embeddings."),
        Regularizer("embeddings_regularizer", None, "Penalty on the embeddings."),
        activity_regularizer_field(keras3_always=True),
        Constraint("embeddings_constraint", None, "Constraint on the embeddings."),
        Bool("mask_zero", False, "Whether id 0 is padding (masked)."),
        _IntOrShape("input_length", None, "Keras 2: the fixed sequence length, if any.",
                    formats=(KERAS2,)),
        QUANTIZATION,
    )
    ignored_keys = ("lora_rank", "lora_alpha")

    def _post_init(self) -> None:
        check_not_quantized(self)
        if self._values.get("batch_input_shape") is None:
            # Keras 2 always records the input shape: (None, input_length or None)
            n = self.input_length
            tail = list(n) if isinstance(n, list) else [n]
            self._values["batch_input_shape"] = (None, *tail)

    @property
    def supports_masking(self) -> bool:  # type: ignore[override]
        return self.mask_zero

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            "embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer,
            regularizer=self.embeddings_regularizer, constraint=self.embeddings_constraint,
            field="embeddings_initializer")

    def call(self, inputs):
        ids = _check_ids(self, np.asarray(inputs), self.input_dim)
        out = self.embeddings.value[ids]
        return out.astype(self.compute_dtype, copy=False)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return np.asarray(inputs) != 0

    def compute_output_shape(self, input_shape):
        return tuple(normalize_shape(input_shape)) + (self.output_dim,)


class ReversibleEmbedding(Embedding):
    """Keras 3 only: an Embedding that can also map vectors back to logits over the
    vocabulary: ``layer(x, reverse=True)`` is ``x @ embeddings.T`` (``tie_weights``) or
    ``x @ reverse_embeddings``, optionally soft-capped: ``tanh(logits / cap) * cap``.

    Input shape: ids ``(batch, ...)``, or ``(batch, ..., output_dim)`` with ``reverse=True``.
    Output shape: ``(batch, ..., output_dim)``, or ``(batch, ..., input_dim)`` reversed.
    Weights: ``embeddings (input_dim, output_dim)``; ``reverse_embeddings (output_dim,
    input_dim)`` when ``tie_weights`` is False.
    """

    keras_formats = (KERAS3,)
    fields = (
        Bool("tie_weights", True, "Reverse with the transposed embeddings (no extra weight)."),
        Str("reverse_dtype", None, "dtype of the reverse matmul (None = compute dtype)."),
        Float("logit_soft_cap", None, "Soft cap of the reverse logits (None = no cap).",
              min=0.0, min_open=True),
    )
    positional = ("input_dim", "output_dim", "tie_weights", "embeddings_initializer",
                  "embeddings_regularizer", "embeddings_constraint", "mask_zero",
                  "reverse_dtype", "logit_soft_cap")

    def _post_init(self) -> None:
        super()._post_init()
        if self.reverse_dtype is not None:
            try:
                np.dtype(self.reverse_dtype)
            except TypeError:
                raise self.config_error("reverse_dtype", f"expected a NumPy dtype name such as "
                                        f"'float32', got {self.reverse_dtype!r}") from None

    def build(self, input_shape=None):
        super().build(input_shape)
        self.reverse_embeddings = None
        if not self.tie_weights:
            self.reverse_embeddings = self.add_weight(
                "reverse_embeddings", (self.output_dim, self.input_dim),
                self.embeddings_initializer, field="embeddings_initializer")

    def call(self, inputs, reverse=False):
        if not reverse:
            return super().call(inputs)
        x = np.asarray(inputs)
        kernel = self.embeddings.value.T if self.tie_weights else self.reverse_embeddings.value
        if self.reverse_dtype is not None:
            x, kernel = x.astype(self.reverse_dtype), kernel.astype(self.reverse_dtype)
        logits = x @ kernel
        if self.logit_soft_cap is not None:
            cap = self.logit_soft_cap
            logits = np.tanh(logits / cap) * cap
        return logits

    def compute_output_shape(self, input_shape, reverse=False):
        shape = tuple(normalize_shape(input_shape))
        if reverse:
            return (*shape[:-1], self.input_dim)
        return (*shape, self.output_dim)
