"""Core layers: Dense, EinsumDense, Embedding, InputLayer, Identity, Masking, Lambda."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import registry
from ..errors import ConfigError, UnsafeConfigError, describe
from ..fields import (
    KERAS2,
    KERAS3,
    REQUIRED,
    Activation,
    Bool,
    Constraint,
    Field,
    Float,
    Initializer,
    Int,
    Json,
    Object,
    Regularizer,
    Shape,
    Str,
)
from ..initializers import VarianceScaling
from .base import InputSpec, Layer, activity_regularizer_field, kernel_bias_fields, normalize_shape

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


# -- shared field kinds ------------------------------------------------------------------


class PlainDType(Object):
    """A dtype written as a plain string (``'float32'``), not as a DTypePolicy dict.

    Keras 3's InputLayer and SpatialDropout write ``layer.dtype`` (the variable dtype);
    ``keras2_policy=True`` writes the Keras 2 policy form in Keras 2 configs.
    """

    def __init__(self, name: str = "dtype", default: Any = "float32", doc: str = "", *,
                 keras2_policy: bool = False, **kw: Any):
        super().__init__(name, default, doc or "The dtype of the layer's inputs and outputs.",
                         kind="dtype", **kw)
        self.keras2_policy = keras2_policy

    def to_config(self, value: Any, fmt: str) -> Any:
        if value is None:
            return None
        if fmt == KERAS2 and self.keras2_policy:
            return value.serialize(KERAS2)
        return value.variable_dtype


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

    _keras_args = ("equation", "output_shape", "activation", "bias_axes", "kernel_initializer",
                   "bias_initializer", "kernel_regularizer", "bias_regularizer",
                   "kernel_constraint", "bias_constraint")

    def __init__(self, *args: Any, **kwargs: Any):
        # Keras's signature is EinsumDense(equation, output_shape, activation, ...)
        super().__init__(**_positional(type(self).__name__, self._keras_args, args, kwargs))

    def _post_init(self) -> None:
        check_not_quantized(self)
        try:
            in_spec, w_spec, out_spec, elision = parse_einsum(self.equation)
        except ValueError as e:
            raise self.config_error("equation", str(e)) from None
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
    _keras_args = ("input_dim", "output_dim", "tie_weights", "embeddings_initializer",
                   "embeddings_regularizer", "embeddings_constraint", "mask_zero",
                   "reverse_dtype", "logit_soft_cap")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(**_positional(type(self).__name__, self._keras_args, args, kwargs))

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


def _positional(owner: str, names: Sequence[str], args: Sequence[Any],
                kwargs: dict[str, Any]) -> dict[str, Any]:
    """Map positional arguments to Keras's signature order (not the config key order)."""
    if len(args) > len(names):
        raise ConfigError("", f"{owner} takes at most {len(names)} positional arguments, "
                          f"got {len(args)}")
    for name, value in zip(names, args):
        if name in kwargs:
            raise ConfigError(name, "given both by position and by name")
        kwargs[name] = value
    return kwargs


# -- InputLayer ----------------------------------------------------------------------------


class InputLayer(Layer):
    """The entry point of a model: declares the input's shape and dtype; passes data through.

    Accepts ``shape`` (+ ``batch_size``), ``batch_shape``, or Keras 2's ``input_shape`` /
    ``batch_input_shape``. Keras 3 writes ``batch_shape``, Keras 2 ``batch_input_shape``.

    Input/Output shape: ``batch_shape``.

    Example:
        >>> InputLayer(shape=(28, 28, 1)).batch_shape
        (None, 28, 28, 1)
    """

    drop_fields = ("activity_regularizer", "batch_input_shape")
    fields = (
        Shape("batch_shape", REQUIRED, "The input shape, batch first (None = any size).",
              names={KERAS2: "batch_input_shape"}),
        PlainDType("dtype", "float32", "The dtype of the input data."),
        Bool("sparse", False, "Whether the input is a sparse tensor (dense here)."),
        Bool("ragged", False, "Whether the input is a ragged tensor (dense here)."),
        Str("name", None, "The layer's name."),
        Bool("optional", False, "Whether the input may be None."),
        Bool("trainable", True, "Not written by Keras for InputLayer.", formats=()),
    )

    def __init__(self, *args: Any, **kwargs: Any):
        shape = kwargs.pop("shape", None)
        input_shape = kwargs.pop("input_shape", None)
        batch_size = kwargs.pop("batch_size", None)
        if kwargs.get("input_tensor") is not None:
            raise ConfigError("input_tensor", "a symbolic tensor cannot be given to layerlab; "
                              "give shape= or batch_shape= instead")
        kwargs.pop("input_tensor", None)
        if input_shape is not None and shape is None:
            shape = input_shape
        if args:
            if shape is not None:
                raise ConfigError("shape", "given both by position and by name")
            shape, args = args[0], args[1:]
        given = [k for k in ("batch_shape", "batch_input_shape") if kwargs.get(k) is not None]
        if shape is not None:
            if given:
                raise ConfigError("shape", f"give shape or {given[0]}, not both")
            if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
                shape = (shape,)
            if not isinstance(shape, (list, tuple)):
                raise ConfigError("shape", f"expected a list of ints or None, got "
                                  f"{describe(shape)}")
            kwargs["batch_shape"] = [batch_size, *shape]
        elif batch_size is not None and given:
            raise ConfigError("batch_size", f"give batch_size with shape, not with {given[0]}")
        super().__init__(*args, **kwargs)
        self.built = True

    @property
    def batch_shape(self) -> tuple[int | None, ...]:
        return self._values["batch_shape"]

    def call(self, inputs):
        x = np.asarray(inputs)
        want = self.batch_shape
        if x.ndim != len(want) or any(w is not None and w != s for w, s in zip(want, x.shape)):
            raise ValueError(f"InputLayer {self.name!r} expects inputs of shape {want}, got "
                             f"{x.shape}")
        return x.astype(self.dtype, copy=False)

    def _cast(self, x):
        return np.asarray(x)

    def compute_output_shape(self, input_shape=None):
        if input_shape is None:
            return self.batch_shape
        return normalize_shape(input_shape)


# -- Identity, Masking -----------------------------------------------------------------------


class Identity(Layer):
    """Returns its input unchanged (masks pass through).

    Input shape: any. Output shape: the same.
    """

    keras_builds_at_init = True

    supports_masking = True

    def call(self, inputs):
        return inputs


class Masking(Layer):
    """Masks timesteps whose features all equal ``mask_value``.

    The output zeroes the masked steps; ``compute_mask`` gives ``(batch, time)`` booleans
    (True = kept) for the layers downstream.

    Input shape: ``(batch, time, ..., features)``. Output shape: the same.

    Example:
        >>> Masking(mask_value=0.0)
    """

    keras_builds_at_init = True

    supports_masking = True
    fields = (Float("mask_value", 0.0, "Steps whose features all equal this are masked."),)

    def call(self, inputs):
        keep = np.any(inputs != self.mask_value, axis=-1, keepdims=True)
        return np.where(keep, inputs, np.zeros((), dtype=inputs.dtype))

    def compute_mask(self, inputs, mask=None):
        return np.any(np.asarray(inputs) != self.mask_value, axis=-1)


# -- Lambda ----------------------------------------------------------------------------------

_LAMBDA_HELP = ("layerlab never runs code stored in a config (unmarshalling bytecode could do "
                "anything to your machine). Define the function in your own code and pass it "
                "by name: deserialize(config, custom_objects={'my_fn': my_fn}), with the "
                "config's function written as {'class_name': 'function', 'config': 'my_fn'} "
                "(Keras 3) or 'my_fn' with function_type 'function' (Keras 2).")


class NamedFunction:
    """A Python function a Lambda refers to by name (resolved through custom_objects)."""

    def __init__(self, name: str, fn: Callable[..., Any], module: str | None = None):
        self.name, self.fn = name, fn
        self.module = module if module is not None else getattr(fn, "__module__", None)
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}
        self.takes_mask = "mask" in params
        self.takes_training = "training" in params

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def serialize(self, fmt: str) -> Any:
        if self.name == "<lambda>":
            raise ValueError("a Lambda holding an anonymous `lambda` cannot be serialized "
                             "safely; define a named function (def my_fn(x): ...) instead")
        if fmt == KERAS2:
            return self.name
        return {"module": "builtins", "class_name": "function", "config": self.name,
                "registered_name": "function"}

    def __repr__(self) -> str:
        return f"<function {self.name}>"


def _resolve_function(value: Any, path: str) -> NamedFunction:
    if isinstance(value, NamedFunction):
        return value
    if callable(value) and not isinstance(value, (dict, list, str)):
        return NamedFunction(getattr(value, "__name__", type(value).__name__), value)
    if isinstance(value, list):
        raise UnsafeConfigError(path, "this is Python bytecode (a Keras 2 lambda). "
                                + _LAMBDA_HELP)
    name, reg = value, None
    if isinstance(value, dict):
        cls = value.get("class_name")
        if cls == "__lambda__":
            raise UnsafeConfigError(path, "this is a Python lambda stored as bytecode. "
                                    + _LAMBDA_HELP)
        if cls != "function":
            raise ConfigError(f"{path}.class_name", f"expected 'function', got {describe(cls)}")
        name, reg = value.get("config"), value.get("registered_name")
        path = f"{path}.config"
    if not isinstance(name, str):
        raise ConfigError(path, f"expected a function name, got {describe(name)}")
    custom = registry.custom_objects()
    for key in (name, reg, reg.split(">")[-1] if isinstance(reg, str) else None):
        if isinstance(key, str) and key in custom and callable(custom[key]):
            return NamedFunction(name, custom[key], getattr(custom[key], "__module__", None))
    raise ConfigError(path, f"unknown function {name!r}: a Lambda's function must be given in "
                      f"custom_objects, e.g. deserialize(config, custom_objects={{{name!r}: "
                      f"{name}}}); layerlab never imports modules named in a config")


class FunctionField(Field):
    """A Lambda's function (or output_shape / mask function), by name only."""

    kind = "function"

    def expected(self) -> str:
        return "a function name (given in custom_objects)"

    def _check(self, value: Any, path: str) -> Any:
        return _resolve_function(value, path)

    def to_config(self, value: Any, fmt: str) -> Any:
        return None if value is None else value.serialize(fmt)


class _ShapeOrFunction(Field):
    """A Lambda's output_shape: a shape (list, or list of shapes) or a named function."""

    kind = "json"

    def expected(self) -> str:
        return "a shape (list of ints/None), a list of shapes, or a function name"

    def _check(self, value: Any, path: str) -> Any:
        if isinstance(value, dict) or callable(value):
            return _resolve_function(value, path)
        if isinstance(value, (list, tuple)) and value and all(
                isinstance(v, (list, tuple)) for v in value):
            return [Shape(self.name).validate(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str):
            return _resolve_function(value, path)
        return Shape(self.name).validate(value, path)

    def to_config(self, value: Any, fmt: str) -> Any:
        if isinstance(value, NamedFunction):
            return value.serialize(fmt)
        return super().to_config(value, fmt)


class Lambda(Layer):
    """Wraps a Python function of your own: ``function(inputs, **arguments)``.

    The function is found by name in ``custom_objects`` only; a function stored as bytecode
    (a Python ``lambda`` in a Keras file) is refused with ``UnsafeConfigError``.

    Input shape: any. Output shape: ``output_shape`` when given, else found by running the
    function.

    Example:
        >>> def double(x): return 2 * x
        >>> deserialize({'class_name': 'Lambda', 'config': {'function': 'double'}},
        ...             custom_objects={'double': double})
    """

    fields = (
        FunctionField("function", REQUIRED, "Your function, given in custom_objects."),
        Str("function_type", "function", "Keras 2: how the function is stored.",
            formats=(KERAS2,)),
        Str("module", None, "Keras 2: the function's module (recorded, never imported).",
            formats=(KERAS2,)),
        _ShapeOrFunction("output_shape", None, "Output shape without batch, or a function.",
                         omit_default=(KERAS3,)),
        Str("output_shape_type", "raw", "Keras 2: 'raw' (a shape) or 'function'.",
            formats=(KERAS2,)),
        Str("output_shape_module", None, "Keras 2: module of the output_shape function.",
            formats=(KERAS2,)),
        FunctionField("mask", None, "A function (inputs, mask) -> output mask.",
                      omit_default=(KERAS3, KERAS2)),
        Str("mask_type", None, "Keras 2: how the mask function is stored.", formats=(KERAS2,),
            omit_default=(KERAS2,)),
        Str("mask_module", None, "Keras 2: module of the mask function.", formats=(KERAS2,),
            omit_default=(KERAS2,)),
        Json("arguments", None, "Extra keyword arguments for the function."),
    )

    def __init__(self, *args: Any, _config_path: str = "", **kwargs: Any):
        base = f"{_config_path}." if _config_path else ""
        for key in ("function_type", "output_shape_type", "mask_type"):
            if kwargs.get(key) == "lambda":
                field = key[: -len("_type")]
                raise UnsafeConfigError(f"{base}{field}", "this is Python bytecode (a Keras 2 "
                                        "lambda). " + _LAMBDA_HELP)
        if kwargs.get("output_shape_type") == "raw" and isinstance(kwargs.get("output_shape"),
                                                                   str):
            raise ConfigError(f"{base}output_shape", "a raw output_shape must be a list")
        super().__init__(*args, _config_path=_config_path, **kwargs)

    def _post_init(self) -> None:
        v = self._values
        if v["arguments"] is None:
            v["arguments"] = {}
        elif not isinstance(v["arguments"], dict):
            raise self.config_error("arguments", f"expected a dict of keyword arguments, got "
                                    f"{describe(v['arguments'])}")
        self.arguments = v["arguments"]
        v["function_type"] = "function"
        if v["module"] is None:
            v["module"] = self.function.module
        out = v["output_shape"]
        v["output_shape_type"] = "function" if isinstance(out, NamedFunction) else "raw"
        v["output_shape_module"] = out.module if isinstance(out, NamedFunction) else None
        if v["mask"] is not None:
            v["mask_type"], v["mask_module"] = "function", v["mask"].module
        else:
            v["mask_type"] = v["mask_module"] = None

    @property
    def supports_masking(self) -> bool:  # type: ignore[override]
        return self._values["mask"] is not None

    def _kwargs(self, mask: Any, training: bool) -> dict[str, Any]:
        kw = {k: _argument(v) for k, v in self.arguments.items()}
        if self.function.takes_mask:
            kw["mask"] = mask
        if self.function.takes_training:
            kw["training"] = training
        return kw

    def call(self, inputs, mask=None, training=False):
        return self.function(inputs, **self._kwargs(mask, training))

    def compute_mask(self, inputs, mask=None):
        fn = self._values["mask"]
        return None if fn is None else fn(inputs, mask)

    def compute_output_shape(self, input_shape):
        out = self._values["output_shape"]
        shape = normalize_shape(input_shape)
        if isinstance(out, NamedFunction):
            return out(shape)
        if out is not None:
            batch = (shape[0][0] if isinstance(shape, list) else shape[0])
            if isinstance(out, list):
                return [(batch, *o) for o in out]
            return (batch, *out)
        return self._probe_shape(shape)

    def _probe_shape(self, shape: Any) -> Any:
        """Run the function on zeros of two sizes; axes whose size changes are unknown."""
        def run(fill: int) -> list[tuple[int, ...]]:
            def make(s):
                return np.zeros([fill if d is None else d for d in s], self.compute_dtype)
            x = [make(s) for s in shape] if isinstance(shape, list) else make(shape)
            y = self.function(x, **self._kwargs(None, False))
            return [np.shape(o) for o in (y if isinstance(y, (list, tuple)) else [y])]
        try:
            a, b = run(1), run(2)
        except Exception as e:  # the user's function: any failure means "cannot infer"
            raise NotImplementedError(f"Lambda {self.name!r}: could not infer the output "
                                      f"shape ({e}); give output_shape") from e
        outs = [tuple(None if p != q else p for p, q in zip(sa, sb)) for sa, sb in zip(a, b)]
        return outs if len(outs) > 1 else outs[0]


def _argument(value: Any) -> Any:
    """Keras 2 ``{'type': 'ndarray', 'value': ...}`` and Keras 3 ``__numpy__`` dicts -> arrays."""
    if isinstance(value, dict):
        if value.get("type") == "ndarray" and "value" in value:
            return np.array(value["value"])
        if value.get("class_name") == "__numpy__":
            cfg = value.get("config") or {}
            return np.array(cfg.get("value"), dtype=cfg.get("dtype"))
    return value


__all__ = ["Dense", "EinsumDense", "Embedding", "ReversibleEmbedding", "InputLayer", "Identity",
           "Masking", "Lambda", "PlainDType", "NamedFunction", "parse_einsum", "plan_einsum",
           "KERAS2"]
