"""Regular convolutions: Conv1D, Conv2D, Conv3D (arithmetic in :mod:`.ops`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...fields import REQUIRED, Activation, Bool, DataFormat, Int, IntTuple
from ..base import InputSpec, kernel_bias_fields
from . import winograd
from .base_conv import BaseConv, padding_field
from .geometry import conv_output_length, from_channels_last, to_channels_last
from .ops import conv_nd, im2col_buffer_bytes

#: Keras 3 LoRA keys, accepted and ignored
_LORA = ("lora_rank", "lora_alpha")


def conv_fields(rank: int, causal: bool = False) -> tuple:
    return (
        Int("filters", REQUIRED, "Number of output channels.", min=1),
        IntTuple("kernel_size", REQUIRED, "Size of the convolution window.", length=rank,
                 min=1),
        IntTuple("strides", 1, "Step of the window along each spatial axis.", length=rank,
                 min=1),
        padding_field(causal),
        DataFormat(),
        IntTuple("dilation_rate", 1, "Spacing between kernel taps (atrous convolution).",
                 length=rank, min=1),
        Int("groups", 1, "Channel groups: input and output channels are split into this many "
            "independent convolutions.", min=1),
        Activation("activation", None),
        Bool("use_bias", True, "Whether to add a bias vector."),
        *kernel_bias_fields(keras3_activity_always=True),
    )


class Conv(BaseConv):
    """N-d convolution (abstract; see Conv1D, Conv2D, Conv3D)."""

    abstract = True
    ignored_keys = _LORA

    def _post_init(self) -> None:
        self._check_basics()
        if self.filters % self.groups:
            raise self.config_error("groups", f"filters ({self.filters}) must be divisible "
                                    f"by groups ({self.groups})")

    def build(self, input_shape):
        chans = self._input_channels(input_shape)
        if chans % self.groups:
            raise self.config_error(
                "groups", f"{type(self).__name__} {self.name!r}: the input's {chans} channels "
                f"are not divisible by groups={self.groups} (input shape "
                f"{tuple(input_shape)})")
        self._windowed_output_shape(input_shape, self.filters)
        self.kernel = self.add_weight(
            "kernel", self.kernel_size + (chans // self.groups, self.filters),
            self.kernel_initializer, regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint, field="kernel_initializer")
        self.bias = self.add_bias((self.filters,))
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): chans})

    def call(self, inputs):
        v = self._values  # read once (each field attribute is a descriptor call)
        fmt = v["data_format"]
        x = to_channels_last(inputs, fmt)
        memo = self._memo("_conv_memo")
        y = conv_nd(x, self._w(self.kernel, x), v["strides"], v["dilation_rate"],
                    self._pads(x), v["groups"], memo)
        return from_channels_last(self._bias_act(y), fmt)

    def compute_output_shape(self, input_shape):
        return self._windowed_output_shape(input_shape, self.filters)

    def call_intermediate_bytes(self, input_shape: Any) -> int:
        """The padded input, the window buffer of conv_nd's im2col (:mod:`.im2col`), or
        what Winograd makes (its kernel transform, 16/9 of the kernel, or a block of
        transformed tiles) when conv_nd would run it."""
        base = super().call_intermediate_bytes(input_shape)
        shape = tuple(input_shape) if isinstance(input_shape, tuple) else None
        if shape is not None and len(shape) == self.rank + 2 and None not in shape and \
                self.data_format == "channels_last":
            base = max(base, im2col_buffer_bytes(
                shape, self.kernel_size + (shape[-1] // self.groups, self.filters),
                self.strides, self.dilation_rate, self.padding, self.groups,
                np.result_type(self.compute_dtype, np.float32)))
        if shape is None or len(shape) != 4 or None in shape or \
                tuple(self.kernel_size) != (3, 3):
            return base
        chans = self._input_channels(shape)
        spatial = tuple(conv_output_length(n, 3, s, d, self.padding) for n, s, d in zip(
            self._spatial(shape), self.strides, self.dilation_rate))
        padded = (shape[0],) + tuple(o + 2 for o in spatial) + (chans,)
        dtype = np.result_type(self.compute_dtype, np.float32)
        if not winograd.use_winograd(padded, self.kernel_size + (chans // self.groups,
                                                                 self.filters),
                                     self.strides, self.dilation_rate, spatial, self.groups,
                                     dtype):
            return base
        tiles = shape[0] * math.prod(-(-o // 2) for o in spatial)
        return max(base, winograd.largest_array_bytes(chans, self.filters, tiles,
                                                      dtype.itemsize))


class Conv1D(Conv):
    """1-D convolution (temporal), ``padding`` may be 'causal'.

    Input shape: ``(batch, steps, channels)`` (channels_first: ``(batch, channels, steps)``).
    Output shape: ``(batch, new_steps, filters)``.
    Weights: ``kernel (k, channels // groups, filters)``, ``bias (filters,)``.
    """

    rank = 1
    allow_causal = True
    aliases = ("Convolution1D",)
    fields = conv_fields(1, causal=True)


class Conv2D(Conv):
    """2-D convolution (images).

    Input shape: ``(batch, rows, cols, channels)`` (channels_first: channels at axis 1).
    Output shape: ``(batch, new_rows, new_cols, filters)``.
    Weights: ``kernel (kh, kw, channels // groups, filters)``, ``bias (filters,)``.

    Example:
        >>> Conv2D(64, 3, padding="same").build((None, 32, 32, 3))
    """

    rank = 2
    aliases = ("Convolution2D",)
    fields = conv_fields(2)


class Conv3D(Conv):
    """3-D convolution (volumes).

    Input shape: ``(batch, d1, d2, d3, channels)`` (channels_first: channels at axis 1).
    Output shape: ``(batch, n1, n2, n3, filters)``.
    Weights: ``kernel (k1, k2, k3, channels // groups, filters)``, ``bias (filters,)``.
    """

    rank = 3
    aliases = ("Convolution3D",)
    fields = conv_fields(3)
