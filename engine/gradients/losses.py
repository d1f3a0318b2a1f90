"""The losses engine.gradients differentiates, as Keras's loss objects compute them
(reduction ``sum_over_batch_size``: the mean of the per-sample losses).

``loss`` is a name (``'mean_squared_error'``, ``'mse'``, ``'categorical_crossentropy'``,
``'sparse_categorical_crossentropy'``, their class names) or a Keras 2/3 loss config
(``{'class_name': 'CategoricalCrossentropy', 'config': {'from_logits': True}}``, with
``module``/``registered_name`` where Keras 3 writes them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, describe

EPSILON = 1e-7


@dataclass
class Loss:
    """A loss function and its settings; ``(value, gradient w.r.t. y_pred)``."""

    name: str
    fn: Callable[..., tuple[np.ndarray, np.ndarray]]
    options: dict[str, Any]
    reduction: str = "sum_over_batch_size"

    def __call__(self, y_true: Any, y_pred: np.ndarray,
                 where: str = "targets") -> tuple[float, np.ndarray]:
        per, grad = self.fn(y_true, np.asarray(y_pred, np.float64), where, **self.options)
        if self.reduction == "sum":
            scale = 1.0
        else:
            scale = 1.0 / max(per.size, 1)
        value = float(per.sum() * scale)
        return value, (grad * scale).astype(y_pred.dtype)


def _float_targets(y_true: Any, y_pred: np.ndarray, where: str) -> np.ndarray:
    t = np.asarray(y_true)
    if t.dtype.kind not in "fiub":
        raise ConfigError(where, f"expected numeric targets, got {describe(y_true)}")
    t = t.astype(np.float64)
    if t.shape != y_pred.shape:
        try:
            t = np.broadcast_to(t, y_pred.shape)
        except ValueError:
            raise ConfigError(where, f"expected targets of the output's shape {y_pred.shape}, "
                              f"got {t.shape}") from None
    return t


def mean_squared_error(y_true, y_pred, where):
    t = _float_targets(y_true, y_pred, where)
    d = y_pred - t
    n = y_pred.shape[-1] if y_pred.ndim else 1
    return np.mean(d * d, axis=-1), 2.0 * d / n


def _softmax(z, axis):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def categorical_crossentropy(y_true, y_pred, where, from_logits=False, label_smoothing=0.0,
                             axis=-1):
    t = _float_targets(y_true, y_pred, where)
    if label_smoothing:
        k = y_pred.shape[axis]
        t = t * (1.0 - label_smoothing) + label_smoothing / k
    if from_logits:
        p = _softmax(y_pred, axis)
        per = -np.sum(t * np.log(np.maximum(p, 1e-300)), axis=axis)
        return per, p * t.sum(axis=axis, keepdims=True) - t
    s = y_pred.sum(axis=axis, keepdims=True)
    q = y_pred / s
    inside = (q > EPSILON) & (q < 1.0 - EPSILON)
    qc = np.clip(q, EPSILON, 1.0 - EPSILON)
    per = -np.sum(t * np.log(qc), axis=axis)
    gq = np.where(inside, -t / qc, 0.0)
    gp = (gq - np.sum(gq * q, axis=axis, keepdims=True)) / s
    return per, gp


def sparse_categorical_crossentropy(y_true, y_pred, where, from_logits=False, axis=-1,
                                    ignore_class=None):
    if ignore_class is not None:
        raise ConfigError(f"{where}", "ignore_class is not supported by engine.gradients")
    ids = np.asarray(y_true)
    if ids.dtype.kind == "f":
        if not np.all(ids == np.round(ids)):
            raise ConfigError(where, "expected integer class ids as sparse targets")
        ids = ids.astype(np.int64)
    if ids.dtype.kind not in "iu":
        raise ConfigError(where, f"expected integer class ids, got {describe(y_true)}")
    z = np.moveaxis(y_pred, axis, -1)
    if ids.shape == z.shape[:-1] + (1,):
        ids = ids[..., 0]
    if ids.shape != z.shape[:-1]:
        raise ConfigError(where, f"expected class ids of shape {z.shape[:-1]} for outputs of "
                          f"shape {y_pred.shape}, got {ids.shape}")
    k = z.shape[-1]
    if ids.size and (ids.min() < 0 or ids.max() >= k):
        raise ConfigError(where, f"class ids must be in [0, {k}), got values in "
                          f"[{ids.min()}, {ids.max()}]")
    onehot = np.eye(k)[ids]
    if from_logits:
        logits, dlog = z, None
    else:  # Keras (TensorFlow backend): the log of the clipped probabilities as logits
        inside = (z > EPSILON) & (z < 1.0 - EPSILON)
        zc = np.clip(z, EPSILON, 1.0 - EPSILON)
        logits, dlog = np.log(zc), np.where(inside, 1.0 / zc, 0.0)
    p = _softmax(logits, -1)
    per = -np.log(np.maximum(np.sum(p * onehot, axis=-1), 1e-300))
    g = p - onehot
    if dlog is not None:
        g = g * dlog
    return per, np.moveaxis(g, -1, axis)


_BY_NAME = {
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "MSE": mean_squared_error, "MeanSquaredError": mean_squared_error,
    "categorical_crossentropy": categorical_crossentropy,
    "CategoricalCrossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "SparseCategoricalCrossentropy": sparse_categorical_crossentropy,
}
_OPTIONS = {
    mean_squared_error: (),
    categorical_crossentropy: ("from_logits", "label_smoothing", "axis"),
    sparse_categorical_crossentropy: ("from_logits", "axis", "ignore_class"),
}
_IGNORED = ("name", "reduction", "dtype", "fn")
_REDUCTIONS = {"sum_over_batch_size": "sum_over_batch_size", "auto": "sum_over_batch_size",
               None: "sum_over_batch_size", "sum": "sum"}


def get(loss: Any, path: str = "loss") -> Loss:
    """The :class:`Loss` for a name or a Keras 2/3 loss config (a config is data: only
    these names are looked up, nothing is imported)."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        fn = _BY_NAME.get(loss)
        if fn is None:
            raise ConfigError(path, f"unknown loss {loss!r}; expected one of "
                              f"{', '.join(sorted(_BY_NAME))}")
        return Loss(fn.__name__, fn, {})
    if isinstance(loss, dict):
        return _from_config(loss, path)
    raise ConfigError(path, f"expected a loss name or a loss config dict, got "
                      f"{describe(loss)}")


def _from_config(loss: dict[str, Any], path: str) -> Loss:
    name = loss.get("class_name")
    config = loss.get("config", {})
    if name == "function" and isinstance(config, str):  # Keras 3 writes functions so
        return get(config, f"{path}.config")
    if not isinstance(name, str) or name not in _BY_NAME:
        raise ConfigError(f"{path}.class_name", f"unknown loss {name!r}; expected one of "
                          f"{', '.join(sorted(_BY_NAME))}")
    module = loss.get("module")
    if module is not None and module not in ("keras.losses", "keras.src.losses",
                                             "keras.src.losses.losses"):
        raise ConfigError(f"{path}.module", f"expected 'keras.losses', got {module!r}")
    if not isinstance(config, dict):
        raise ConfigError(f"{path}.config", f"expected a dict, got {describe(config)}")
    fn = _BY_NAME[name]
    options = {}
    for k, v in config.items():
        if k in _OPTIONS[fn]:
            options[k] = v
        elif k not in _IGNORED:
            raise ConfigError(f"{path}.config.{k}", f"unknown key for {name}; known keys: "
                              f"{', '.join(_OPTIONS[fn] + _IGNORED)}")
    for k in ("from_logits",):
        if k in options and not isinstance(options[k], bool):
            raise ConfigError(f"{path}.config.{k}", f"expected a bool, got "
                              f"{describe(options[k])}")
    ls = options.get("label_smoothing", 0.0)
    if not isinstance(ls, (int, float)) or isinstance(ls, bool) or not 0 <= ls <= 1:
        raise ConfigError(f"{path}.config.label_smoothing", f"expected a float in [0, 1], "
                          f"got {describe(ls)}")
    if "axis" in options and (not isinstance(options["axis"], int) or
                              isinstance(options["axis"], bool)):
        raise ConfigError(f"{path}.config.axis", f"expected an int, got "
                          f"{describe(options['axis'])}")
    reduction = config.get("reduction")
    if reduction not in _REDUCTIONS:
        raise ConfigError(f"{path}.config.reduction", f"expected one of 'sum_over_batch_size', "
                          f"'auto' or 'sum', got {reduction!r}")
    return Loss(fn.__name__, fn, options, _REDUCTIONS[reduction])
