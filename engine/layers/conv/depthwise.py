"""Depthwise and depthwise-separable convolutions: DepthwiseConv1D/2D (one set of filters
per input channel) and SeparableConv1D/2D (depthwise, then a 1x1 pointwise convolution)."""

from __future__ import annotations

import math

from ...budget import itemsize
from ...fields import (
    KERAS2,
    REQUIRED,
    Activation,
    Bool,
    Constraint,
    DataFormat,
    Initializer,
    Int,
    IntTuple,
    Regularizer,
)
from ..base import InputSpec, activity_regularizer_field
from .base_conv import BaseConv, padding_field
from .depthwise_kernels import depthwise_conv, intermediate_bytes, output_size
from .geometry import conv_paddings, from_channels_last, to_channels_last


def depthwise_fields(rank: int) -> tuple:
    return (
        Int("depth_multiplier", 1, "Output channels per input channel.", min=1),
        IntTuple("kernel_size", REQUIRED, "Size of the convolution window.", length=rank,
                 min=1),
        IntTuple("strides", 1, "Step of the window along each spatial axis.", length=rank,
                 min=1),
        padding_field(False),
        DataFormat(),
        IntTuple("dilation_rate", 1, "Spacing between kernel taps.", length=rank, min=1),
        Int("groups", 1, "Keras 2 only: written by tf.keras, ignored by its depthwise "
            "convolutions.", min=1, formats=(KERAS2,)),
        Activation("activation", None),
        Bool("use_bias", True, "Whether to add a bias vector."),
        Initializer("depthwise_initializer", "glorot_uniform",
                    "Initializer of the depthwise kernel."),
        Initializer("bias_initializer", "zeros", "Initializer of the bias."),
        Regularizer("depthwise_regularizer", None, "Penalty on the depthwise kernel."),
        Regularizer("bias_regularizer", None, "Penalty on the bias."),
        activity_regularizer_field(keras3_always=True),
        Constraint("depthwise_constraint", None, "Constraint on the depthwise kernel."),
        Constraint("bias_constraint", None, "Constraint on the bias."),
    )


class DepthwiseConv(BaseConv):
    """Depthwise convolution (abstract): each input channel has its own
    ``depth_multiplier`` filters."""

    abstract = True
    keras2_own_keys = ("depth_multiplier", "depthwise_initializer", "depthwise_regularizer",
                       "depthwise_constraint")
    #: Keras 3 computes strided dilated depthwise convolutions (tf.keras 2 refused them)
    refuse_strided_dilation = False

    @classmethod
    def _positional_names(cls) -> list[str]:
        # Keras's signature: (kernel_size, strides, padding, depth_multiplier, ...)
        names = super()._positional_names()
        names.remove("depth_multiplier")
        return names[:3] + ["depth_multiplier"] + names[3:]

    def _post_init(self) -> None:
        self._check_basics()

    def build(self, input_shape):
        chans = self._input_channels(input_shape)
        self._windowed_output_shape(input_shape, chans * self.depth_multiplier)
        self.kernel = self.add_weight(
            "kernel", self.kernel_size + (chans, self.depth_multiplier),
            self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint, field="depthwise_initializer")
        self.bias = self.add_bias((chans * self.depth_multiplier,))
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): chans})

    def call(self, inputs):
        v = self._values  # read once (each field attribute is a descriptor call)
        fmt = v["data_format"]
        x = to_channels_last(inputs, fmt)
        memo = self._memo("_depthwise_memo")
        y = depthwise_conv(x, self._w(self.kernel, x), v["strides"], v["dilation_rate"],
                           self._pads(x), memo)
        return from_channels_last(self._bias_act(y), fmt)

    def call_intermediate_bytes(self, input_shape):
        return _depthwise_bytes(self, input_shape, self.depth_multiplier)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        self._check_rank(shape)
        c = shape[self._channel_axis()]
        return self._windowed_output_shape(shape, None if c is None else
                                           c * self.depth_multiplier)


class DepthwiseConv1D(DepthwiseConv):
    """1-D depthwise convolution.

    Input shape: ``(batch, steps, channels)``.
    Output shape: ``(batch, new_steps, channels * depth_multiplier)``.
    Weights: ``kernel (k, channels, depth_multiplier)``, ``bias (channels * mult,)``.
    """

    rank = 1
    fields = depthwise_fields(1)


class DepthwiseConv2D(DepthwiseConv):
    """2-D depthwise convolution.

    Input shape: ``(batch, rows, cols, channels)``.
    Output shape: ``(batch, new_rows, new_cols, channels * depth_multiplier)``.
    Weights: ``kernel (kh, kw, channels, depth_multiplier)``, ``bias (channels * mult,)``.
    """

    rank = 2
    fields = depthwise_fields(2)


def _depthwise_bytes(layer: BaseConv, input_shape, mult: int, output: bool = False) -> int:
    """The largest array the depthwise kernel makes besides its output (the padded input
    or BaseConv's estimate of it, depthwise_kernels.intermediate_bytes), or with
    ``output`` that output itself when it is larger (SeparableConv's pointwise input)."""
    base = BaseConv.call_intermediate_bytes(layer, input_shape)
    shape = tuple(input_shape) if isinstance(input_shape, tuple) else None
    if shape is None or len(shape) != layer.rank + 2 or None in shape:
        return base
    if layer.data_format == "channels_first":
        shape = (shape[0],) + shape[2:] + (shape[1],)
    kernel = tuple(layer.kernel_size) + (shape[-1], mult)
    pads = conv_paddings(shape[1:-1], layer.kernel_size, layer.strides, layer.dilation_rate,
                         layer.padding)
    out = output_size(shape, kernel, layer.strides, layer.dilation_rate, pads)
    size = itemsize(layer.compute_dtype)
    made = shape[0] * math.prod(max(o, 0) for o in out) * shape[-1] * mult * size
    return max(base, intermediate_bytes(shape, kernel, pads, out, size),
               made if output else 0)


# -- separable ---------------------------------------------------------------------------


def separable_fields(rank: int, causal: bool = False) -> tuple:
    return (
        Int("depth_multiplier", 1, "Depthwise output channels per input channel.", min=1),
        Int("filters", REQUIRED, "Number of output channels.", min=1),
        IntTuple("kernel_size", REQUIRED, "Size of the depthwise window.", length=rank, min=1),
        IntTuple("strides", 1, "Step of the window along each spatial axis.", length=rank,
                 min=1),
        padding_field(causal),
        DataFormat(),
        IntTuple("dilation_rate", 1, "Spacing between kernel taps.", length=rank, min=1),
        Int("groups", 1, "Keras 2 only: written by tf.keras, ignored by its separable "
            "convolutions.", min=1, formats=(KERAS2,)),
        Activation("activation", None),
        Bool("use_bias", True, "Whether to add a bias vector."),
        Initializer("kernel_initializer", "glorot_uniform", "Keras 2 only: written by "
                    "tf.keras, unused.", formats=(KERAS2,)),
        Initializer("depthwise_initializer", "glorot_uniform",
                    "Initializer of the depthwise kernel."),
        Initializer("pointwise_initializer", "glorot_uniform",
                    "Initializer of the pointwise kernel."),
        Initializer("bias_initializer", "zeros", "Initializer of the bias."),
        Regularizer("kernel_regularizer", None, "Keras 2 only: written by tf.keras, unused.",
                    formats=(KERAS2,)),
        Regularizer("depthwise_regularizer", None, "Penalty on the depthwise kernel."),
        Regularizer("pointwise_regularizer", None, "Penalty on the pointwise kernel."),
        Regularizer("bias_regularizer", None, "Penalty on the bias."),
        activity_regularizer_field(keras3_always=True),
        Constraint("kernel_constraint", None, "Keras 2 only: written by tf.keras, unused.",
                   formats=(KERAS2,)),
        Constraint("depthwise_constraint", None, "Constraint on the depthwise kernel."),
        Constraint("pointwise_constraint", None, "Constraint on the pointwise kernel."),
        Constraint("bias_constraint", None, "Constraint on the bias."),
    )


class SeparableConv(BaseConv):
    """Depthwise then pointwise (1x1) convolution (abstract)."""

    abstract = True
    keras2_own_keys = ("depth_multiplier", "depthwise_initializer", "pointwise_initializer",
                       "depthwise_regularizer", "pointwise_regularizer",
                       "depthwise_constraint", "pointwise_constraint")
    refuse_strided_dilation = False

    @classmethod
    def _positional_names(cls) -> list[str]:
        # Keras's signature: (filters, kernel_size, strides, padding, data_format,
        # dilation_rate, depth_multiplier, ...)
        names = super()._positional_names()
        names.remove("depth_multiplier")
        return names[:6] + ["depth_multiplier"] + names[6:]

    def _post_init(self) -> None:
        self._check_basics()

    def build(self, input_shape):
        chans = self._input_channels(input_shape)
        self._windowed_output_shape(input_shape, self.filters)
        mult = self.depth_multiplier
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (chans, mult), self.depthwise_initializer,
            regularizer=self.depthwise_regularizer, constraint=self.depthwise_constraint,
            field="depthwise_initializer")
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1,) * self.rank + (chans * mult, self.filters),
            self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint, field="pointwise_initializer")
        self.bias = self.add_bias((self.filters,))
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): chans})

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        d = depthwise_conv(x, self._w(self.depthwise_kernel, x), self.strides,
                           self.dilation_rate, self._pads(x),
                           self._memo("_depthwise_memo"))
        pw = self._w(self.pointwise_kernel, x)
        y = (d.reshape(-1, d.shape[-1]) @ pw.reshape(pw.shape[-2:])).reshape(
            d.shape[:-1] + pw.shape[-1:])  # one GEMM, not one per row
        return from_channels_last(self._bias_act(y), self.data_format)

    def compute_output_shape(self, input_shape):
        return self._windowed_output_shape(input_shape, self.filters)

    def call_intermediate_bytes(self, input_shape):
        """The depthwise kernel's intermediates, or its output (the pointwise GEMM's
        input)."""
        return _depthwise_bytes(self, input_shape, self.depth_multiplier, output=True)


class SeparableConv1D(SeparableConv):
    """1-D depthwise-separable convolution ('causal' padding as in tf.keras 2).

    Input shape: ``(batch, steps, channels)``. Output shape: ``(batch, new_steps, filters)``.
    Weights: ``depthwise_kernel (k, channels, mult)``,
    ``pointwise_kernel (1, channels * mult, filters)``, ``bias (filters,)``.
    """

    rank = 1
    allow_causal = True
    aliases = ("SeparableConvolution1D",)
    fields = separable_fields(1, causal=True)


class SeparableConv2D(SeparableConv):
    """2-D depthwise-separable convolution.

    Input shape: ``(batch, rows, cols, channels)``.
    Output shape: ``(batch, new_rows, new_cols, filters)``.
    Weights: ``depthwise_kernel (kh, kw, channels, mult)``,
    ``pointwise_kernel (1, 1, channels * mult, filters)``, ``bias (filters,)``.
    """

    rank = 2
    aliases = ("SeparableConvolution2D",)
    fields = separable_fields(2)
