"""Core layers: Dense, EinsumDense, Embedding, InputLayer, Identity, Masking, Lambda."""

from __future__ import annotations

from ..fields import (
    KERAS2,
    KERAS3,
    REQUIRED,
    Activation,
    Bool,
    Constraint,
    Initializer,
    Int,
    Json,
    Regularizer,
)
from .base import InputSpec, Layer, activity_regularizer_field

#: Keras 3 writes quantization_config (None); quantized layers are not supported.
QUANTIZATION = Json("quantization_config", None, "Keras 3 quantization; only None is supported.",
                    formats=(KERAS3,), max=None)


def check_not_quantized(layer: Layer) -> None:
    if layer._values.get("quantization_config") is not None:
        raise layer.config_error("quantization_config", "quantized layers are not supported by "
                                 "layerlab; remove the key or set it to None")


class Dense(Layer):
    """``activation(inputs @ kernel + bias)``, on the last axis.

    Input shape: ``(batch, ..., input_dim)``. Output shape: ``(batch, ..., units)``.
    Weights: ``kernel (input_dim, units)``, ``bias (units,)``.

    Example:
        >>> Dense(32, activation="relu").build((None, 64))
    """

    supports_masking = True
    fields = (
        Int("units", REQUIRED, "Dimensionality of the output space.", min=1),
        Activation("activation", None),
        Bool("use_bias", True, "Whether to add a bias vector."),
        Initializer("kernel_initializer", "glorot_uniform", "Initializer of the kernel."),
        Initializer("bias_initializer", "zeros", "Initializer of the bias."),
        Regularizer("kernel_regularizer", None, "Penalty on the kernel."),
        Regularizer("bias_regularizer", None, "Penalty on the bias."),
        activity_regularizer_field(keras3_always=False),
        Constraint("kernel_constraint", None, "Constraint on the kernel."),
        Constraint("bias_constraint", None, "Constraint on the bias."),
        QUANTIZATION,
    )
    ignored_keys = ("lora_rank", "lora_alpha")

    def _post_init(self):
        check_not_quantized(self)

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(f"Dense {self.name!r}: the last dimension of the input must be "
                             f"known, got shape {input_shape}")
        self.kernel = self.add_weight("kernel", (in_dim, self.units), self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint,
                                      field="kernel_initializer")
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint, field="bias_initializer")
        self.input_spec = InputSpec(min_ndim=2, axes={-1: in_dim})

    def call(self, inputs):
        y = inputs @ self.kernel.value
        if self.bias is not None:
            y = y + self.bias.value
        return self.activation(y)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)


__all__ = ["Dense", "KERAS2"]
