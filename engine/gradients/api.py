"""``engine.gradients``: the backward pass through a layer or a model, equal to
TensorFlow's ``GradientTape`` on the same Keras model.

>>> g = gradients(model, x)                          # d sum(outputs) / d everything
>>> g = gradients(model, x, loss="mse", targets=y)   # d mean-over-batch loss
>>> g.weights["dense/kernel"], g.inputs[0], g.outputs["dense"]
>>> g = gradients(reversible_embedding, h, call_kwargs={"reverse": True})
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, describe
from . import losses as _losses
from .lookup import vjp_of
from .model import flatten
from .table import Call


@dataclass
class Gradients:
    """What :func:`gradients` returns.

    Attributes:
        value: the forward pass's output (a list for several outputs, nested as the layer
            nests them: the states of stacked cells per cell).
        inputs: one gradient per input (None for integer inputs), then, for an RNN given
            ``call_kwargs={'initial_state': ...}``, one per initial state.
        weights: weight path (``layer.weights[i].path``) -> gradient, for every trainable
            weight (zeros where no gradient reaches it).
        outputs: (models) layer name -> gradient w.r.t. that layer's output(s); a list
            per call for a layer called several times.
        loss: the loss value when ``loss`` was given, else None.
    """

    value: Any
    inputs: list[np.ndarray | None]
    weights: dict[str, np.ndarray]
    outputs: dict[str, Any] = field(default_factory=dict)
    loss: float | None = None


def _is_model(obj: Any) -> bool:
    from ..models.model import Model
    return isinstance(obj, Model)


def _input_list(obj: Any, inputs: Any) -> list[np.ndarray]:
    if isinstance(inputs, dict) and _is_model(obj):
        names = obj.input_names
        missing = [n for n in names if n not in inputs]
        if missing:
            raise ConfigError("inputs", f"missing input(s) {missing}; the model's inputs are "
                              f"{names}")
        inputs = [inputs[n] for n in names]
    if isinstance(inputs, (list, tuple)) and not (
            inputs and all(np.isscalar(v) for v in inputs)):
        arrays = [np.asarray(v) for v in inputs]
    else:
        arrays = [np.asarray(inputs)]
    for i, a in enumerate(arrays):
        if a.dtype.kind not in "fiub":
            raise ConfigError(f"inputs[{i}]", f"expected a numeric array, got "
                              f"{describe(a)}")
    return arrays


def _cotangents(outs: list[np.ndarray], cotangents: Any) -> list[np.ndarray]:
    if cotangents is None:
        return [np.ones_like(o) if np.issubdtype(o.dtype, np.floating) else None for o in outs]
    given = cotangents if isinstance(cotangents, (list, tuple)) and len(outs) > 1 else \
        [cotangents]
    if len(given) != len(outs):
        raise ConfigError("cotangents", f"expected {len(outs)} cotangents (one per output), "
                          f"got {len(given)}")
    result = []
    for i, (o, c) in enumerate(zip(outs, given)):
        where = f"cotangents[{i}]" if len(outs) > 1 else "cotangents"
        c = np.asarray(c)
        if c.dtype.kind not in "fiub":
            raise ConfigError(where, f"expected a numeric array, got {describe(c)}")
        if c.shape != o.shape:
            raise ConfigError(where, f"expected the shape of output {i}, {o.shape}, got "
                              f"{c.shape}")
        if not np.issubdtype(o.dtype, np.floating):
            raise ConfigError(where, f"output {i} is an integer array ({o.dtype}) and has no "
                              f"gradient; pass None for it")
        result.append(c.astype(o.dtype))
    return result


def _call_kwargs(obj: Any, given: Any, xs: list[np.ndarray]) -> tuple[dict[str, Any], Any]:
    """``call_kwargs`` checked against the layer's call signature: (keyword arguments for
    the VJP, the mask). An RNN's ``initial_state`` is moved to the end of ``xs`` (its
    gradients come after the inputs')."""
    if given is None:
        return {}, None
    if _is_model(obj):
        raise ConfigError("call_kwargs", "a model's call arguments are part of its config "
                          "(the inbound nodes); call_kwargs is for a single layer")
    if not isinstance(given, dict) or not all(isinstance(k, str) for k in given):
        raise ConfigError("call_kwargs", f"expected a dict of the layer's call arguments by "
                          f"name, e.g. {{'reverse': True}}, got {describe(given)}")
    kwargs = dict(given)
    accepts = set(getattr(obj, "_call_accepts", ()))
    for key in kwargs:
        if key == "training":
            raise ConfigError("call_kwargs.training", "pass training=True to gradients() "
                              "itself, not in call_kwargs")
        if key in ("inputs", "query", "states") or (
                key in ("value", "key") and "query" in accepts):
            raise ConfigError(f"call_kwargs.{key}", f"{key!r} is an input: pass it in "
                              f"inputs (a list) so that it gets a gradient")
        if key not in accepts and not getattr(obj, "_call_var_kw", False):
            known = sorted(accepts - {"inputs", "training", "query", "value", "key"})
            raise ConfigError(f"call_kwargs.{key}", f"layer {getattr(obj, 'name', '?')!r} "
                              f"({type(obj).__name__}) takes no call argument {key!r}; it "
                              f"takes {known or 'none'}")
    mask = kwargs.pop("mask", None)
    if "initial_state" in kwargs:
        init = kwargs.pop("initial_state")
        if init is not None:
            init = list(init) if isinstance(init, (list, tuple)) else [init]
            for i, s in enumerate(init):
                s = np.asarray(s)
                if s.dtype.kind not in "fiub":
                    raise ConfigError(f"call_kwargs.initial_state[{i}]", f"expected a "
                                      f"numeric array, got {describe(s)}")
                xs.append(s)
    return kwargs, mask


def gradients(model_or_layer: Any, inputs: Any, cotangents: Any = None, *, loss: Any = None,
              targets: Any = None, training: bool = False,
              call_kwargs: dict[str, Any] | None = None) -> Gradients:
    """Gradients of a layer's or a model's output, as TensorFlow's GradientTape gives them.

    Without ``loss`` it is the gradient of ``sum(output * cotangent)`` (cotangents of ones
    when None; one per output for several outputs). With ``loss`` and ``targets`` it is the
    gradient of that loss as Keras's loss object computes it (the mean over the batch).

    Args:
        model_or_layer: a built model, or a layer (built on the inputs if it is not).
        inputs: an array, a list of arrays (several inputs) or a dict by input name.
        cotangents: an array per output, or None.
        loss: a loss name or Keras loss config (see engine.gradients.losses).
        targets: the loss's targets (class ids for the sparse loss).
        training: training behaviour (batch statistics, dropout with its seeded mask).
        call_kwargs: (a layer) the other arguments of its call, by name, as Keras takes
            them: ``{'reverse': True}`` (ReversibleEmbedding),
            ``{'return_attention_scores': True}`` (the scores become a second output,
            with their own cotangent), ``{'use_causal_mask': True}``,
            ``{'attention_mask': m}``, ``{'mask': m}``... Arrays in it are held fixed,
            except an RNN's ``{'initial_state': [h0, ...]}``: the states are appended to
            the inputs, and ``.inputs`` has their gradients after the inputs' (as does
            ``inputs=[x, h0, ...]``). ``training`` is its own argument.

    Raises:
        ConfigError: a layer without a backward pass (naming it), cotangents of the wrong
            shape, a loss without targets, an unknown loss...
    """
    obj = model_or_layer
    xs = _input_list(obj, inputs)
    if not _is_model(obj) and not hasattr(obj, "call"):
        raise ConfigError("model_or_layer", f"expected a layer or a model, got "
                          f"{describe(obj)}")
    kwargs, mask = _call_kwargs(obj, call_kwargs, xs)
    loss_fn = None
    if loss is not None:
        loss_fn = _losses.get(loss)
        if targets is None:
            raise ConfigError("targets", "a loss needs targets: pass targets=... (class ids "
                              "for sparse_categorical_crossentropy)")
        if cotangents is not None:
            raise ConfigError("cotangents", "pass either cotangents or loss, not both")
    elif targets is not None:
        raise ConfigError("loss", "targets were given without a loss; pass loss=...")
    record: dict[str, Any] = {}
    where = getattr(obj, "name", "layer")
    if not getattr(obj, "built", True) and not _is_model(obj):
        # recurrent layers and cells take x, then states: built for x
        single = len(xs) == 1 or hasattr(obj, "state_size") or hasattr(obj, "forward_layer")
        obj.build(xs[0].shape if single else [x.shape for x in xs])
    extra: dict[str, Any] = {"outputs": record}
    if kwargs:
        extra["kwargs"] = kwargs
    y, backward = vjp_of(obj, where)(obj, xs, Call(bool(training), mask, where, extra))
    outs = flatten(y)
    value = None
    if loss_fn is not None:
        ts = targets if isinstance(targets, (list, tuple)) and len(outs) > 1 else [targets]
        if len(ts) != len(outs):
            raise ConfigError("targets", f"expected {len(outs)} targets (one per output), "
                              f"got {len(ts)}")
        value, gys = 0.0, []
        for i, (o, t) in enumerate(zip(outs, ts)):
            v, g = loss_fn(t, o, "targets" if len(outs) == 1 else f"targets[{i}]")
            value += v
            gys.append(g)
    else:
        gys = _cotangents(outs, cotangents)
        gys = [np.zeros_like(o, dtype=np.float32) if g is None else g
               for o, g in zip(outs, gys)]
    gxs, grads = backward(gys[0] if len(gys) == 1 else gys)
    weights = {}
    for w in obj.weights:
        if w.trainable:
            g = grads.get(w.path)
            weights[w.path] = np.zeros(w.shape, w.dtype) if g is None else \
                np.asarray(g, w.dtype).reshape(w.shape)
    ins = [None if not np.issubdtype(x.dtype, np.floating) or g is None  # as TensorFlow:
           else np.asarray(g).reshape(x.shape) for x, g in zip(xs, gxs)]  # no int gradient
    return Gradients(value=y, inputs=ins, weights=weights, outputs=record if _is_model(obj)
                     else {}, loss=value)


class CallableModule(types.ModuleType):
    """The ``engine.gradients`` package, callable as :func:`gradients` (so
    ``engine.gradients(model, x)`` works whether the name resolved to the function or,
    once a submodule was imported, to the package)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Gradients:
        return gradients(*args, **kwargs)
