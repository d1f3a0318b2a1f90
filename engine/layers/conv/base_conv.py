"""What the convolution layers share: the ``padding`` field, the window check, and
:class:`BaseConv` (channel axis, shapes, bias + activation, Keras 2 key order)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ...budget import itemsize
from ...errors import ConfigError
from ...fields import Choice
from ..base import Layer
from ..elementwise import activate
from .geometry import conv_output_length, conv_paddings, dilated


def padding_field(causal: bool = False, name: str = "padding") -> Choice:
    choices = ("valid", "same", "causal") if causal else ("valid", "same")
    doc = "'valid' (no padding), 'same' (output size ceil(in / stride))"
    doc += ", 'causal' (left padding only)." if causal else "."
    return Choice(name, "valid", doc, choices=choices)


def check_window_fits(layer: Layer, sizes: Sequence[int | None], kernel: Sequence[int],
                      dilation: Sequence[int], padding: str, what: str = "kernel_size") -> None:
    """A 'valid' window larger than the input has no output: say so, naming the layer."""
    if padding != "valid":
        return
    for axis, (n, k, d) in enumerate(zip(sizes, kernel, dilation)):
        if n is not None and dilated(k, d) > n:
            eff = f" (dilated to {dilated(k, d)})" if d > 1 else ""
            raise ConfigError(
                layer._path + "." + what if layer._path else what,
                f"{type(layer).__name__} {layer.name!r}: {what} {tuple(kernel)}{eff} is larger "
                f"than the input's spatial size {tuple(sizes)} on spatial axis {axis} with "
                f"padding 'valid'; the output would be empty (use padding='same' or a smaller "
                f"{what})")


class BaseConv(Layer):
    """Shared machinery of the convolution layers (abstract)."""

    abstract = True
    rank: int = 2
    allow_causal = False
    #: Keras refuses strides > 1 together with dilation_rate > 1 for this class
    refuse_strided_dilation = True
    #: the class's own keys beyond Conv's: tf.keras's transposed, depthwise and separable
    #: layers extend Conv's config, so Keras 2 writes these after all the others
    keras2_own_keys: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if cls.keras2_own_keys:
            names = [f.name for f in cls.all_fields()]
            own = [n for n in names if n in cls.keras2_own_keys]
            cls.keras2_order = tuple(n for n in names if n not in own) + tuple(own)

    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def _spatial(self, shape: Sequence[int | None]) -> tuple[int | None, ...]:
        shape = tuple(shape)
        return shape[1:-1] if self.data_format == "channels_last" else shape[2:]

    def _with_spatial(self, batch, spatial, channels) -> tuple:
        if self.data_format == "channels_last":
            return (batch,) + tuple(spatial) + (channels,)
        return (batch, channels) + tuple(spatial)

    def _check_rank(self, shape: Sequence[Any]) -> None:
        if len(shape) != self.rank + 2:
            raise ValueError(f"{type(self).__name__} {self.name!r} expects inputs of rank "
                             f"{self.rank + 2} (batch, {self.rank} spatial axes, channels), "
                             f"got shape {tuple(shape)}")

    def _input_channels(self, shape: Sequence[int | None]) -> int:
        self._check_rank(shape)
        c = shape[self._channel_axis()]
        if c is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the channel dimension of "
                             f"the inputs must be known, got shape {tuple(shape)}")
        return int(c)

    def _check_basics(self) -> None:
        if self.refuse_strided_dilation and max(self.strides) > 1 and \
                max(self.dilation_rate) > 1:
            raise self.config_error(
                "dilation_rate", f"strides > 1 together with dilation_rate > 1 is not "
                f"supported by Keras; got strides={list(self.strides)} and "
                f"dilation_rate={list(self.dilation_rate)}")
        if self.padding == "causal" and not self.allow_causal:
            raise self.config_error("padding", f"'causal' padding is only supported by "
                                    f"Conv1D and SeparableConv1D, not {type(self).__name__}")

    @staticmethod
    def _w(var: Any, x: np.ndarray) -> np.ndarray:
        """A weight in the compute dtype of ``x`` (float16 under mixed_float16)."""
        return var.value.astype(x.dtype, copy=False)

    def _bias_act(self, y: np.ndarray) -> np.ndarray:
        """Add the bias (in place: ``y`` is this call's own buffer) and activate."""
        if self.bias is not None:
            y += self.bias.value
        return activate(self._values["activation"], y, owned=True)

    def call_intermediate_bytes(self, input_shape: Any) -> int:
        """The padded input 'same'/'causal' make: each spatial axis grows by
        (kernel - 1) * dilation (a huge dilation pads a tiny input hugely)."""
        shape = tuple(input_shape) if isinstance(input_shape, tuple) else None
        if shape is None or len(shape) != self.rank + 2 or None in shape or \
                self.padding not in ("same", "causal"):
            return 0
        dilation = getattr(self, "dilation_rate", None) or (1,) * self.rank
        padded = 1
        for n, k, d in zip(self._spatial(shape), self.kernel_size, dilation):
            padded *= n + (k - 1) * d
        return shape[0] * self._input_channels(shape) * padded * itemsize(self.compute_dtype)

    def _windowed_output_shape(self, input_shape, channels_out) -> tuple:
        shape = tuple(input_shape)
        self._check_rank(shape)
        spatial = self._spatial(shape)
        check_window_fits(self, spatial, self.kernel_size, self.dilation_rate, self.padding)
        out = tuple(conv_output_length(n, k, s, d, self.padding) for n, k, s, d in
                    zip(spatial, self.kernel_size, self.strides, self.dilation_rate))
        return self._with_spatial(shape[0], out, channels_out)

    def _pads(self, x_cl: np.ndarray) -> list[tuple[int, int]]:
        # remembered per (sizes, window settings): the key holds every value they depend on
        v = self._values
        key = (x_cl.shape[1:-1], v["kernel_size"], v["strides"], v["dilation_rate"],
               v["padding"])
        memo = self._memo("_pads_memo")
        pads = memo.get(key)
        if pads is None:
            sizes = key[0]
            check_window_fits(self, sizes, self.kernel_size, self.dilation_rate, self.padding)
            pads = conv_paddings(sizes, self.kernel_size, self.strides, self.dilation_rate,
                                 self.padding)
            if len(memo) >= 16:
                memo.clear()
            memo[key] = pads
        return list(pads)
