"""``engine.gradients``: the backward pass through a layer or a model, equal to
TensorFlow's ``GradientTape`` on the same Keras model.

>>> g = gradients(model, x)                          # d sum(outputs) / d everything
>>> g = gradients(model, x, loss="mse", targets=y)   # d mean-over-batch loss
>>> g.weights["dense/kernel"], g.inputs[0], g.outputs["dense"]
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
        value: the forward pass's output (a list for several outputs).
        inputs: one gradient per input (None for integer inputs).
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


def gradients(model_or_layer: Any, inputs: Any, cotangents: Any = None, *, loss: Any = None,
              targets: Any = None, training: bool = False) -> Gradients:
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

    Raises:
        ConfigError: a layer without a backward pass (naming it), cotangents of the wrong
            shape, a loss without targets, an unknown loss...
    """
    obj = model_or_layer
    xs = _input_list(obj, inputs)
    if not _is_model(obj) and not hasattr(obj, "call"):
        raise ConfigError("model_or_layer", f"expected a layer or a model, got "
                          f"{describe(obj)}")
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
        obj.build(xs[0].shape if len(xs) == 1 else [x.shape for x in xs])
    y, backward = vjp_of(obj, where)(obj, xs, Call(bool(training), None, where,
                                                    {"outputs": record}))
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
