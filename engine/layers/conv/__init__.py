"""Convolution layers: Conv1D/2D/3D (``convolution``), their transposes (``transpose``),
depthwise and separable convolutions (``depthwise``); the shared arithmetic and kernels
are in ``ops`` (with ``winograd``, ``depthwise_ops`` and ``transpose_ops``; the window
arithmetic in ``geometry``), the shared layer base and fields in ``base_conv``."""

from .base_conv import check_window_fits, padding_field
from .convolution import Conv1D, Conv2D, Conv3D
from .depthwise import DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D
from .geometry import (
    conv_output_length,
    conv_paddings,
    from_channels_last,
    pad_spatial,
    to_channels_last,
    transpose_output_length,
)
from .ops import conv_nd, depthwise_conv_nd, tap_reduce
from .transpose import Conv1DTranspose, Conv2DTranspose, Conv3DTranspose
from .transpose_ops import conv_transpose_nd, transpose_pad_before

__all__ = [
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "conv_nd",
    "conv_transpose_nd", "depthwise_conv_nd", "conv_paddings", "conv_output_length",
    "transpose_output_length", "transpose_pad_before", "check_window_fits",
    "from_channels_last", "pad_spatial", "tap_reduce", "to_channels_last",
    "padding_field",
]
