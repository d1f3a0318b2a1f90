"""What the recurrent layers share: the fields every RNN class declares alike, the fast
float32 activations of the step loop, dropout masks and LSTM's forget-gate bias
initializer."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import activations as _acts
from ...fields import (
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
    Regularizer,
    Seed,
)
from ..base import Layer, activity_regularizer_field

Array = np.ndarray


def _sigmoid32(x: Array) -> Array:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _relu32(x: Array) -> Array:
    return np.maximum(x, 0)


def _identity(x: Array) -> Array:
    return x


def fast_activation(act: Any):
    """A float32-native version of the common activations (the loop's hot path)."""
    fn = getattr(act, "fn", None)
    if getattr(act, "custom", True) or fn is None:
        return act
    table = {id(_acts.tanh): np.tanh, id(_acts.sigmoid): _sigmoid32,
             id(_acts.linear): _identity, id(_acts.relu): _relu32}
    return table.get(id(fn), act)


class ForgetBiasInit:
    """LSTM ``unit_forget_bias``: ``[init(u), ones(u), init(2u)]``."""

    def __init__(self, base: Any, units: int):
        self.base, self.units = base, units

    def __call__(self, shape, dtype="float32"):
        u = self.units
        return np.concatenate([np.asarray(self.base((u,), dtype=dtype)),
                               np.ones((u,), dtype=dtype),
                               np.asarray(self.base((2 * u,), dtype=dtype))]).astype(dtype)


def dropout_masks(rng: np.random.Generator, rate: float, shape: tuple[int, ...], count: int,
                   dtype: str) -> list[Array] | None:
    if not 0.0 < rate < 1.0:
        return None
    return [((rng.random(shape) >= rate) / (1.0 - rate)).astype(dtype) for _ in range(count)]


def check_stateful(layer: Layer) -> None:
    if layer._values.get("stateful"):
        raise layer.config_error(
            "stateful", "stateful=True is not supported: layerlab runs every call on its own "
            "and keeps no state between batches (a stateful RNN feeds its final state into the "
            "next call). Use stateful=False and pass initial_state= explicitly instead; got "
            "True")


# -- fields shared by the recurrent classes ------------------------------------------------

DROPOUT = Float("dropout", 0.0, "Fraction of the inputs dropped in training.", min=0, max=1)
REC_DROPOUT = Float("recurrent_dropout", 0.0, "Fraction of the recurrent state dropped in "
                    "training.", min=0, max=1)
SEED_K3 = Seed("seed", None, "Random seed for dropout.", formats=(KERAS3,))
IMPLEMENTATION = Int("implementation", 2, "Keras 2 only: 1 = per-gate products, 2 = fused "
                     "(same result).", choices=(1, 2), min=1, max=2, formats=(KERAS2,))


def units_field() -> Field:
    return Int("units", REQUIRED, "Dimensionality of the output space (and of the state).",
               min=1)


def initializer_fields() -> tuple[Field, ...]:
    return (
        Initializer("kernel_initializer", "glorot_uniform", "Initializer of the input kernel."),
        Initializer("recurrent_initializer", "orthogonal",
                    "Initializer of the recurrent kernel."),
        Initializer("bias_initializer", "zeros", "Initializer of the bias."),
    )


def regularizer_fields(activity: bool) -> tuple[Field, ...]:
    out = (Regularizer("kernel_regularizer", None, "Penalty on the kernel."),
           Regularizer("recurrent_regularizer", None, "Penalty on the recurrent kernel."),
           Regularizer("bias_regularizer", None, "Penalty on the bias."))
    if activity:
        out += (activity_regularizer_field(keras3_always=True),)
    return out + (
        Constraint("kernel_constraint", None, "Constraint on the kernel."),
        Constraint("recurrent_constraint", None, "Constraint on the recurrent kernel."),
        Constraint("bias_constraint", None, "Constraint on the bias."),
    )


ACTIVATION = Activation("activation", "tanh",
                        "Activation of the candidate/output (None = linear).")
REC_ACTIVATION = Activation("recurrent_activation", "sigmoid", "Activation of the gates.")
USE_BIAS = Bool("use_bias", True, "Whether to add a bias.")
UNIT_FORGET_BIAS = Bool("unit_forget_bias", True, "Initialize the forget-gate bias to ones.")

RNN_FLAGS: tuple[Field, ...] = (
    Bool("return_sequences", False, "Return the whole output sequence, not only the last."),
    Bool("return_state", False, "Also return the final states."),
    Bool("go_backwards", False, "Process the sequence backwards (outputs stay reversed)."),
    Bool("stateful", False, "Not supported: carry states across calls."),
    Bool("unroll", False, "Unroll the loop in Keras (same result here)."),
    Bool("time_major", False, "Keras 2 only: inputs are (time, batch, ...).",
         formats=(KERAS2,)),
    Bool("zero_output_for_mask", False, "Masked steps output zeros instead of repeating the "
         "previous output.", formats=(KERAS3,)),
)
