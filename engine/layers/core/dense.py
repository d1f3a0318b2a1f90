"""Dense and EinsumDense: a kernel (and bias) applied along the last axes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...fields import (
    REQUIRED,
    Activation,
    Bool,
    Int,
    Shape,
    Str,
)
from ...initializers import VarianceScaling
from ..base import InputSpec, Layer, kernel_bias_fields, normalize_shape
from ..elementwise import activate
from ..linalg import matmul_rows
from .common import QUANTIZATION, check_not_quantized


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
        *kernel_bias_fields(keras3_activity_always=False),
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
        self.bias = self.add_bias((self.units,))
        self.input_spec = InputSpec(min_ndim=2, axes={-1: in_dim})

    def call(self, inputs):
        y = matmul_rows(inputs, self.kernel.value)
        if self.bias is not None:
            y = y + self.bias.value
        return activate(self.activation, y, owned=True)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)


# -- EinsumDense ---------------------------------------------------------------------------

_PLAIN = re.compile(r"^([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$")
_LEFT = re.compile(r"^\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)$")
_RIGHT = re.compile(r"^([a-zA-Z]{2,})\.\.\.,([a-zA-Z]+)->([a-zA-Z]+)\.\.\.$")


@dataclass
class EinsumPlan:
    """What an EinsumDense equation means for an input shape."""

    kernel_shape: tuple[int | None, ...]
    bias_shape: tuple[int | None, ...] | None
    output_shape: tuple[int | None, ...]
    input_axes: list[int]
    output_axes: list[int]


def parse_einsum(equation: str) -> tuple[str, str, str, str]:
    """``(input_spec, weight_spec, output_spec, elision)``; elision is '', 'left' or 'right'.

    Raises:
        ValueError: the equation is not one of Keras's three supported forms.
    """
    eq = equation.replace(" ", "")
    for pattern, kind in ((_PLAIN, ""), (_LEFT, "left"), (_RIGHT, "right")):
        m = pattern.match(eq)
        if m:
            return m.group(1), m.group(2), m.group(3), kind
    raise ValueError(f"expected an equation of the form 'ab,bc->ac', '...b,bc->...c' or "
                     f"'ab...,bc->ac...', got {equation!r}")


def plan_einsum(equation: str, bias_axes: str | None, input_shape: Sequence[int | None],
                partial_output: Sequence[int | None]) -> EinsumPlan:
    """Kernel, bias and output shapes of an EinsumDense (Keras's rules).

    Raises:
        ValueError: the input's rank or sizes do not fit the equation.
    """
    in_spec, w_spec, out_spec, elision = parse_einsum(equation)
    shape = list(input_shape)
    elided = len(shape) - len(in_spec)
    if elided < 0 or (elision == "" and elided != 0):
        raise ValueError(f"the equation {equation!r} expects inputs of rank "
                         f"{len(in_spec)}{' or more' if elision else ''}, got shape "
                         f"{tuple(input_shape)}")
    out = [shape[0], *partial_output]
    if elision == "left":
        out[1:1] = shape[1:elided]
        in_map = {d: i + elided - len(shape) for i, d in enumerate(in_spec)}
        out_map = {d: i + elided for i, d in enumerate(out_spec)}
    else:
        if elision == "right":
            out.extend(shape[len(shape) - elided:])
        in_map = {d: i for i, d in enumerate(in_spec)}
        out_map = {d: i for i, d in enumerate(out_spec)}
    for d in in_spec:
        if d in out_map:
            have, want = shape[in_map[d]], out[out_map[d]]
            if want is not None and have is not None and want != have:
                raise ValueError(f"dimension {d!r} of {equation!r} is {have} in the input "
                                 f"shape {tuple(input_shape)} but {want} in output_shape")
            if want is None:
                out[out_map[d]] = have
    kernel: list[int | None] = []
    in_axes, out_axes = [], []
    for i, d in enumerate(w_spec):
        if d in out_map:
            kernel.append(out[out_map[d]])
            out_axes.append(i)
        else:
            kernel.append(shape[in_map[d]])
            in_axes.append(i)
    bias = None
    if bias_axes:
        offset = elided if elision == "left" else 0
        sizes = {d: out[i + offset] for i, d in enumerate(out_spec)}
        first = min(out_spec.index(c) for c in bias_axes)
        bias = [sizes[d] if d in bias_axes else 1 for d in out_spec[first:]]
        if elision != "left":
            bias += [1] * elided
        bias = tuple(bias)
    return EinsumPlan(tuple(kernel), bias, tuple(out), in_axes, out_axes)


class EinsumDense(Layer):
    """A dense layer written as an einsum: ``activation(einsum(equation, x, kernel) + bias)``.

    The kernel's shape follows from the equation: each weight letter takes its size from
    ``output_shape`` (letters of the output) or from the input. ``bias_axes`` names the output
    letters the bias varies along.

    Input shape: as the equation's first operand (``...`` for any leading/trailing axes).
    Output shape: ``(batch, *output_shape)`` with ``None`` filled from the input.
    Weights: ``kernel`` (from the equation), ``bias`` (when ``bias_axes`` is set).

    Example:
        >>> EinsumDense("abc,cde->abde", output_shape=(None, 4, 8), bias_axes="de")
    """

    supports_masking = False
    fields = (
        Shape("output_shape", REQUIRED, "Output shape without the batch axis; None = as input.",
              min=0),
        Str("equation", REQUIRED, "The einsum equation, e.g. 'ab,bc->ac'."),
        Activation("activation", None),
        Str("bias_axes", None, "Output letters the bias varies along (None = no bias)."),
        *kernel_bias_fields(keras3_activity_always=True),
        QUANTIZATION,
    )
    ignored_keys = ("lora_rank", "lora_alpha", "gptq_unpacked_column_size")

    # Keras's signature is EinsumDense(equation, output_shape, activation, ...)
    positional = ("equation", "output_shape", "activation", "bias_axes", "kernel_initializer",
                  "bias_initializer", "kernel_regularizer", "bias_regularizer",
                  "kernel_constraint", "bias_constraint")

    def _post_init(self) -> None:
        check_not_quantized(self)
        try:
            in_spec, w_spec, out_spec, elision = parse_einsum(self.equation)
        except ValueError as e:
            raise self.config_error("equation", str(e)) from None
        repeated = sorted({d for d in out_spec if out_spec.count(d) > 1})
        if repeated:
            raise self.config_error("equation", f"output letter {repeated[0]!r} appears more "
                                    f"than once in {self.equation!r}; each output letter "
                                    f"must appear once (as einsum requires)")
        for d in out_spec:
            if d not in in_spec and d not in w_spec:
                raise self.config_error("equation", f"output letter {d!r} of "
                                        f"{self.equation!r} is in neither the input nor the "
                                        f"weight spec")
        for d in w_spec:
            if d not in in_spec and d not in out_spec:
                raise self.config_error("equation", f"weight letter {d!r} of {self.equation!r} "
                                        f"is in neither the input nor the output spec")
        want = len(out_spec) - (0 if elision == "left" else 1)
        if len(self.output_shape) != want:
            raise self.config_error("output_shape", f"the equation {self.equation!r} needs "
                                    f"{want} output dimensions (batch excluded), got "
                                    f"{list(self.output_shape)}")
        for c in self.bias_axes or "":
            if c not in out_spec:
                raise self.config_error("bias_axes", f"letter {c!r} is not in the output spec "
                                        f"{out_spec!r} of {self.equation!r}")

    def _plan(self, input_shape) -> EinsumPlan:
        try:
            return plan_einsum(self.equation, self.bias_axes, input_shape, self.output_shape)
        except ValueError as e:
            raise ValueError(f"EinsumDense {self.name!r}: {e}") from None

    def build(self, input_shape):
        plan = self._plan(input_shape)
        for label, shape in (("kernel", plan.kernel_shape), ("bias", plan.bias_shape)):
            if shape is not None and any(s is None for s in shape):
                raise ValueError(f"EinsumDense {self.name!r}: the {label} shape {shape} needs "
                                 f"input dimensions that are unknown in {input_shape}")
        init = self.kernel_initializer
        if isinstance(init, VarianceScaling) and (init.input_axes is None or
                                                  init.output_axes is None):
            # Keras 3 computes the fans over the equation's input and output axes.
            init = type(init)(**{**init.values, "input_axes": plan.input_axes,
                                 "output_axes": plan.output_axes})
        self.kernel = self.add_weight("kernel", plan.kernel_shape, init,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint,
                                      field="kernel_initializer")
        self.bias = None
        if plan.bias_shape is not None:
            self.bias = self.add_weight("bias", plan.bias_shape, self.bias_initializer,
                                        regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint,
                                        field="bias_initializer")
        self.input_spec = InputSpec(ndim=len(input_shape))

    def call(self, inputs):
        y = np.einsum(self.equation, inputs, self.kernel.value, optimize=True)
        if self.bias is not None:
            y = y + self.bias.value
        return self.activation(y).astype(inputs.dtype, copy=False)

    def compute_output_shape(self, input_shape):
        return self._plan(normalize_shape(input_shape)).output_shape
