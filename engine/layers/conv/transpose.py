"""Transposed convolutions ("deconvolutions"): Conv1DTranspose, Conv2DTranspose,
Conv3DTranspose (output lengths in :mod:`.ops`)."""

from __future__ import annotations

from collections.abc import Sequence

from ...fields import KERAS2, KERAS3, REQUIRED, Activation, Bool, DataFormat, Int, IntTuple
from ..base import InputSpec, kernel_bias_fields
from .base_conv import BaseConv, padding_field
from .geometry import dilated, from_channels_last, to_channels_last, transpose_output_length
from .transpose_ops import conv_transpose_nd, transpose_pad_before


def conv_transpose_fields(rank: int, keras2_dilation: bool = True) -> tuple:
    return (
        Int("filters", REQUIRED, "Number of output channels.", min=1),
        IntTuple("kernel_size", REQUIRED, "Size of the convolution window.", length=rank,
                 min=1),
        IntTuple("strides", 1, "Upsampling step along each spatial axis.", length=rank,
                 min=1),
        padding_field(False),
        IntTuple("output_padding", None, "Extra rows/cols added at the end of each spatial "
                 "axis (each < its stride); None infers it.", length=rank, min=0),
        DataFormat(),
        IntTuple("dilation_rate", 1, "Spacing between kernel taps.", length=rank, min=1,
                 formats=(KERAS3, KERAS2) if keras2_dilation else (KERAS3,)),
        Int("groups", 1, "Keras 2 only: written by tf.keras and ignored by its transposed "
            "convolutions.", min=1, formats=(KERAS2,)),
        Activation("activation", None),
        Bool("use_bias", True, "Whether to add a bias vector."),
        *kernel_bias_fields(keras3_activity_always=True),
    )


class ConvTranspose(BaseConv):
    """Transposed convolution (abstract; see Conv1DTranspose, Conv2DTranspose, ...)."""

    abstract = True
    keras2_own_keys = ("output_padding",)

    def _post_init(self) -> None:
        self._check_basics()
        if self.filters % self.groups:
            raise self.config_error("groups", f"filters ({self.filters}) must be divisible "
                                    f"by groups ({self.groups})")
        if self.output_padding is not None:
            for i, (op, s) in enumerate(zip(self.output_padding, self.strides)):
                if op >= s:
                    raise self.config_error(
                        "output_padding", f"each value must be smaller than the stride; at "
                        f"axis {i} output_padding is {op} and strides is {s} (got "
                        f"output_padding={list(self.output_padding)}, "
                        f"strides={list(self.strides)})")
                dk = dilated(self.kernel_size[i], self.dilation_rate[i])
                if self.padding == "same" and op == 0 and dk % 2 == 0:
                    raise self.config_error(
                        "output_padding", f"0 at axis {i} with padding 'same' and an even "
                        f"(dilated) kernel size {dk} gives an output length TensorFlow's "
                        f"transposed convolution refuses at call time (Keras fails there); "
                        f"use output_padding >= 1 or None")

    def build(self, input_shape):
        chans = self._input_channels(input_shape)
        self.kernel = self.add_weight(
            "kernel", self.kernel_size + (self.filters, chans), self.kernel_initializer,
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
            field="kernel_initializer")
        self.bias = self.add_bias((self.filters,))
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={self._channel_axis(): chans})

    def _out_sizes(self, sizes: Sequence[int | None]) -> tuple[int | None, ...]:
        ops = self.output_padding or (None,) * self.rank
        return tuple(transpose_output_length(n, k, s, d, self.padding, op) for n, k, s, d, op
                     in zip(sizes, self.kernel_size, self.strides, self.dilation_rate, ops))

    def call(self, inputs):
        x = to_channels_last(inputs, self.data_format)
        sizes = x.shape[1:-1]
        out = self._out_sizes(sizes)
        before = transpose_pad_before(sizes, self.kernel_size, self.strides,
                                      self.dilation_rate, out, self.padding)
        y = conv_transpose_nd(x, self._w(self.kernel, x), self.strides, self.dilation_rate, out,
                              before)
        return from_channels_last(self._bias_act(y), self.data_format)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        self._check_rank(shape)
        return self._with_spatial(shape[0], self._out_sizes(self._spatial(shape)),
                                  self.filters)


class Conv1DTranspose(ConvTranspose):
    """1-D transposed convolution.

    Input shape: ``(batch, steps, channels)``. Output shape: ``(batch, new_steps, filters)``
    with ``new_steps`` as in the module docstring.
    Weights: ``kernel (k, filters, channels)``, ``bias (filters,)``.
    """

    rank = 1
    aliases = ("Convolution1DTranspose",)
    fields = conv_transpose_fields(1)


class Conv2DTranspose(ConvTranspose):
    """2-D transposed convolution ("deconvolution").

    Input shape: ``(batch, rows, cols, channels)``.
    Output shape: ``(batch, new_rows, new_cols, filters)``.
    Weights: ``kernel (kh, kw, filters, channels)``, ``bias (filters,)``.
    """

    rank = 2
    aliases = ("Convolution2DTranspose",)
    fields = conv_transpose_fields(2)


class Conv3DTranspose(ConvTranspose):
    """3-D transposed convolution. tf.keras 2 neither writes nor applies ``dilation_rate``
    here; a Keras 2 config therefore runs undilated, as tf.keras does.

    Input shape: ``(batch, d1, d2, d3, channels)``.
    Output shape: ``(batch, n1, n2, n3, filters)``.
    Weights: ``kernel (k1, k2, k3, filters, channels)``, ``bias (filters,)``.
    """

    rank = 3
    aliases = ("Convolution3DTranspose",)
    fields = conv_transpose_fields(3, keras2_dilation=False)

    def _post_init(self) -> None:
        if self.source_format == KERAS2:
            self.dilation_rate = (1, 1, 1)
        super()._post_init()
