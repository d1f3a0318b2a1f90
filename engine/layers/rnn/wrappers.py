"""Layer wrappers: Bidirectional (an RNN forwards and a copy backwards, merged) and
TimeDistributed (a layer applied to every time step)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ...fields import KERAS2, KERAS3, REQUIRED, Choice, NestedLayer
from ...serialization import serialize
from ..base import Layer
from .common import Array
from .recurrent import BaseRNN, first_shape, split_states


def _fresh_copy(layer: Layer) -> Layer:
    """A copy of ``layer`` with weights of its own, as Keras 3 makes each direction from the
    layer's serialized config: a layer built from a nested ``build_config`` (inside
    deserialize, its initialization pending until the whole model is counted) is copied
    unbuilt, then built again with the same input shape, so each direction initializes its
    own weights instead of sharing the original's pending ones."""
    out = copy.deepcopy(layer)
    shape = layer._build_shape if layer.built else None
    stack = [out]
    while stack:
        sub = stack.pop()
        if sub.built:
            sub.built = False
            sub._weights = []
            sub._build_shape = None
        stack.extend(sub._sublayers)
    if shape is not None:
        out.build(shape)
    return out


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name



def merge_directions(mode: str | None, y: Array, yr: Array) -> Any:
    """Bidirectional's ``merge_mode``: the forward and (time-aligned) backward outputs
    concatenated, summed, averaged, multiplied, or kept as a pair (None)."""
    if mode == "concat":
        return np.concatenate([y, yr], axis=-1)
    if mode == "sum":
        return y + yr
    if mode == "ave":
        return (y + yr) / 2
    if mode == "mul":
        return y * yr
    return [y, yr]

class Bidirectional(Layer):
    """Runs an RNN forwards and a copy of it backwards and merges the two outputs.

    ``merge_mode``: 'concat' (default), 'sum', 'mul', 'ave', or None (a list
    ``[forward, backward]``). The backward outputs are flipped back in time before merging.
    With ``return_state``: ``[output(s), *forward_states, *backward_states]``.

    Input shape: ``(batch, time, features)``. Output shape: the wrapped layer's, last axis
    doubled for 'concat'. Weights: the forward layer's, then the backward layer's.
    """

    supports_masking = True
    fields = (
        Choice("merge_mode", "concat", "How forward and backward outputs are combined "
               "(None = return both).", choices=("sum", "mul", "ave", "concat"),
               optional=True, lower=False),
        NestedLayer("layer", REQUIRED, "The recurrent layer to run in both directions."),
        NestedLayer("backward_layer", None, "The backward layer (default: a copy of `layer` "
                    "with go_backwards flipped).", optional=True, formats=(KERAS3,)),
    )
    keras2_order = ("name", "trainable", "dtype", "layer", "merge_mode", "backward_layer")

    def _post_init(self):
        layer = self._values["layer"]
        if not isinstance(layer, BaseRNN):
            raise self.config_error("layer", f"expected a recurrent layer (RNN, LSTM, GRU, "
                                    f"SimpleRNN, ConvLSTM*D), got {type(layer).__name__}")
        k2 = self.source_format == KERAS2
        fwd = _fresh_copy(layer)
        fwd.name = ("forward_" + layer.name) if k2 else \
            "forward_" + _strip(layer.name, "forward_")
        given = self._values.get("backward_layer")
        self._backward_given = given is not None
        if given is None:
            bwd = _fresh_copy(layer)
            _set_flag(bwd, "go_backwards", not layer.go_backwards)
            bwd.name = ("backward_" + layer.name) if k2 else \
                "backward_" + _strip(layer.name, "backward_")
        else:
            if not isinstance(given, BaseRNN):
                raise self.config_error("backward_layer", f"expected a recurrent layer, got "
                                        f"{type(given).__name__}")
            bwd = given
            self._backward_name = given.name
            if k2:
                bwd.name = "backward_" + given.name
        if fwd.go_backwards == bwd.go_backwards:
            raise self.config_error("backward_layer", f"the forward and backward layers must "
                                    f"have different go_backwards, both are "
                                    f"{fwd.go_backwards}")
        for a in ("stateful", "return_sequences", "return_state"):
            if getattr(fwd, a) != getattr(bwd, a):
                raise self.config_error("backward_layer", f"{a} must equal the forward "
                                        f"layer's ({getattr(fwd, a)}), got {getattr(bwd, a)}")
        for sub in (fwd, bwd):
            if "zero_output_for_mask" in sub._values:
                _set_flag(sub, "zero_output_for_mask", bool(sub.return_sequences))
        self.forward_layer = fwd
        self.backward_layer = bwd  # the layer run backwards, given or made
        self._sublayers = [fwd, bwd]
        self.return_sequences = fwd.return_sequences
        self.return_state = fwd.return_state

    def get_config(self, format=KERAS3):
        cfg = super().get_config(format)
        if format == KERAS3:
            cfg["layer"] = serialize(self.forward_layer, format=format)
            cfg["backward_layer"] = serialize(self.backward_layer, format=format)
        elif self._backward_given:
            bw = serialize(self.backward_layer, format=format)
            bw["config"]["name"] = self._backward_name
            cfg["backward_layer"] = bw
        return cfg

    def build(self, input_shape, initial_state_shape=None):
        input_shape = first_shape(input_shape)
        for sub in (self.forward_layer, self.backward_layer):
            if not sub.built:
                sub.build(input_shape)
        self.set_weight_paths()

    def call(self, inputs, initial_state=None, mask=None, training=False):
        inputs, initial_state = split_states(inputs, initial_state)
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        fs = bs = None
        if initial_state is not None:
            half = len(initial_state) // 2
            fs, bs = list(initial_state[:half]), list(initial_state[half:])
        y = self.forward_layer(inputs, initial_state=fs, mask=mask, training=training)
        yr = self.backward_layer(inputs, initial_state=bs, mask=mask, training=training)
        states: list[Array] = []
        if self.return_state:
            states = list(y[1:]) + list(yr[1:])
            y, yr = y[0], yr[0]
        if self.return_sequences:  # the time axis: 0 for tf_keras's time_major layers
            yr = np.flip(yr, axis=0 if self.forward_layer._time_major() else 1)
        out = merge_directions(self.merge_mode, y, yr)
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + states
        return out

    def compute_output_shape(self, input_shape, initial_state_shape=None):
        input_shape = first_shape(input_shape)
        shape = self.forward_layer.compute_output_shape(input_shape)
        bshape = self.backward_layer.compute_output_shape(input_shape)
        states: list = []
        if self.return_state:
            states = list(shape[1:]) + list(bshape[1:])
            shape, bshape = shape[0], bshape[0]
        shape, bshape = tuple(shape), tuple(bshape)
        if self.merge_mode == "concat":
            last = None if shape[-1] is None or bshape[-1] is None else shape[-1] + bshape[-1]
            shape = shape[:-1] + (last,)
        outs = [shape, bshape] if self.merge_mode is None else [shape]
        if self.return_state:
            return outs + states
        return outs if self.merge_mode is None else outs[0]

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        out: Any
        if self.return_sequences:
            out = [mask, mask] if self.merge_mode is None else mask
        else:
            out = [None, None] if self.merge_mode is None else None
        if self.return_state:
            n = self.forward_layer.cell._n_states() * 2
            return (out if isinstance(out, list) else [out]) + [None] * n
        return out


def _set_flag(layer: Layer, name: str, value: Any) -> None:
    """Change a flag of a (possibly built) recurrent layer: its weights do not depend on it."""
    layer._values[name] = value


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step: ``(batch, time, ...)`` is folded into
    ``(batch * time, ...)``, run once, and unfolded.

    Input shape: ``(batch, time, *inner)``. Output shape: ``(batch, time, *layer_output)``.
    Weights: the wrapped layer's.
    """

    supports_masking = True
    fields = (NestedLayer("layer", REQUIRED, "The layer applied to each time step."),)

    def _post_init(self):
        if not isinstance(self._values["layer"], Layer):
            raise self.config_error("layer", "expected a layer")
        self._sublayers = [self.layer]

    def _child(self, input_shape) -> tuple:
        if len(input_shape) < 3:
            raise ValueError(f"TimeDistributed {self.name!r} expects inputs of rank >= 3 "
                             f"(batch, time, ...), got shape {tuple(input_shape)}")
        return (input_shape[0],) + tuple(input_shape[2:])

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(self._child(input_shape))
        self.set_weight_paths()

    def call(self, inputs, mask=None, training=False):
        b, t = inputs.shape[:2]
        flat = inputs.reshape((b * t,) + inputs.shape[2:])
        kw: dict[str, Any] = {"training": training}
        inner = self.layer
        if mask is not None and ("mask" in inner._call_accepts or inner._call_var_kw):
            m = np.asarray(mask)
            kw["mask"] = m.reshape((b * t,) + m.shape[2:])
        y = inner(flat, **kw)
        if isinstance(y, (list, tuple)):
            return [o.reshape((b, t) + o.shape[1:]) for o in y]
        return y.reshape((b, t) + y.shape[1:])

    def compute_output_shape(self, input_shape):
        child = self.layer.compute_output_shape(self._child(input_shape))
        return (child[0], input_shape[1]) + tuple(child[1:])
