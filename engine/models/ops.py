"""Non-layer graph nodes: the Keras 3 operations a functional model may record.

Keras 3 writes some tensor operations as nodes of the graph (``keras.src.ops.numpy.NotEqual``
for ``Embedding(mask_zero=True)``, arithmetic on tensors, ...). :data:`OPS` is the table of
those layerlab runs, looked up by class name; no module named in a config is ever imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import registry
from ..errors import ConfigError, describe
from ..formats import KERAS2


def _key(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


class OpSpec:
    """How to run one Keras operation class: ``fn(*args, **params)``.

    Args:
        fn: the NumPy implementation.
        params: the config keys it takes (besides ``name``).
        required: the keys that must be given.
    """

    __slots__ = ("fn", "params", "required")

    def __init__(self, fn: Callable[..., Any], params: tuple[str, ...] = (),
                 required: tuple[str, ...] = ()):
        self.fn, self.params, self.required = fn, params, required


def _reduce(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(x: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> Any:
        return fn(x, axis=_key(axis), keepdims=keepdims, **{k: v for k, v in kw.items()
                                                           if v is not None})
    return run


def _softmax(x: np.ndarray, axis: Any) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=_key(axis), keepdims=True))
    return e / np.sum(e, axis=_key(axis), keepdims=True)


#: Keras 3 operation class name -> numpy implementation (resolved by name only)
OPS: dict[str, OpSpec] = {
    "NotEqual": OpSpec(np.not_equal), "Equal": OpSpec(np.equal),
    "Greater": OpSpec(np.greater), "GreaterEqual": OpSpec(np.greater_equal),
    "Less": OpSpec(np.less), "LessEqual": OpSpec(np.less_equal),
    "Add": OpSpec(np.add), "Subtract": OpSpec(np.subtract), "Multiply": OpSpec(np.multiply),
    "Divide": OpSpec(np.true_divide), "TrueDivide": OpSpec(np.true_divide),
    "Maximum": OpSpec(np.maximum), "Minimum": OpSpec(np.minimum), "Power": OpSpec(np.power),
    "Matmul": OpSpec(np.matmul), "LogicalAnd": OpSpec(np.logical_and),
    "LogicalOr": OpSpec(np.logical_or), "LogicalNot": OpSpec(np.logical_not),
    "Negative": OpSpec(np.negative), "Abs": OpSpec(np.abs), "Absolute": OpSpec(np.abs),
    "Square": OpSpec(np.square), "Sqrt": OpSpec(np.sqrt), "Exp": OpSpec(np.exp),
    "Log": OpSpec(np.log), "Tanh": OpSpec(np.tanh),
    "Where": OpSpec(np.where),
    "Any": OpSpec(_reduce(np.any), ("axis", "keepdims")),
    "All": OpSpec(_reduce(np.all), ("axis", "keepdims")),
    "Mean": OpSpec(_reduce(np.mean), ("axis", "keepdims")),
    "Sum": OpSpec(_reduce(np.sum), ("axis", "keepdims")),
    "Max": OpSpec(_reduce(np.max), ("axis", "keepdims", "initial")),
    "Min": OpSpec(_reduce(np.min), ("axis", "keepdims", "initial")),
    "Reshape": OpSpec(lambda x, newshape: np.reshape(x, _key(newshape)), ("newshape",),
                      ("newshape",)),
    "Transpose": OpSpec(lambda x, axes=None: np.transpose(x, _key(axes)), ("axes",)),
    "ExpandDims": OpSpec(lambda x, axis: np.expand_dims(x, _key(axis)), ("axis",), ("axis",)),
    "Squeeze": OpSpec(lambda x, axis=None: np.squeeze(x, _key(axis)), ("axis",)),
    "Concatenate": OpSpec(lambda xs, axis=0: np.concatenate(xs, axis=axis), ("axis",)),
    "Stack": OpSpec(lambda xs, axis=0: np.stack(xs, axis=axis), ("axis",)),
    "Clip": OpSpec(lambda x, x_min, x_max: np.clip(x, x_min, x_max), ("x_min", "x_max"),
                   ("x_min", "x_max")),
    "Cast": OpSpec(lambda x, dtype: np.asarray(x).astype(dtype), ("dtype",), ("dtype",)),
    "GetItem": OpSpec(lambda x, key: np.asarray(x)[_key(key)]),
    "Relu": OpSpec(lambda x: np.maximum(x, 0)),
    "Sigmoid": OpSpec(lambda x: 1.0 / (1.0 + np.exp(-x))),
    "Softmax": OpSpec(lambda x, axis=-1: _softmax(x, axis), ("axis",)),
}

#: operations whose output is boolean (the dtype written for their tensors)
BOOL_OPS = frozenset({"NotEqual", "Equal", "Greater", "Less", "GreaterEqual", "LessEqual",
                      "LogicalAnd", "LogicalOr", "LogicalNot", "Any", "All"})


class Operation:
    """A non-layer graph node (a Keras 3 ``keras.src.ops`` operation): no weights.

    Args:
        class_name: the operation's Keras class name (a key of :data:`OPS`).
        module: the ``module`` the config gave (written back as is).
        config: the operation's config (``name`` and the spec's params).
        spec: how to run it.
        path: where the config is, for errors.
    """

    def __init__(self, class_name: str, module: str | None, config: dict[str, Any],
                 spec: OpSpec, path: str):
        unknown = [k for k in config if k != "name" and k not in spec.params]
        if unknown:
            raise ConfigError(f"{path}.{unknown[0]}", f"unknown key for operation "
                              f"{class_name} (known: name, {', '.join(spec.params)})")
        for k in spec.required:
            if k not in config:
                raise ConfigError(f"{path}.{k}", f"missing: operation {class_name} needs it")
        self.class_name, self.module, self.spec = class_name, module, spec
        self.config = dict(config)
        self.name = str(config.get("name") or class_name.lower())
        self.params = {k: v for k, v in config.items() if k != "name"}
        self.built = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("training", None)
        kwargs.pop("mask", None)
        return self.spec.fn(*args, **self.params, **kwargs)

    @property
    def weights(self) -> list[Any]:
        return []

    @property
    def output_dtype(self) -> str:
        """The dtype Keras writes for this operation's output tensor."""
        return "bool" if self.class_name in BOOL_OPS else "float32"

    def count_params(self) -> int:
        return 0

    def keras_entry(self, fmt: str) -> dict[str, Any]:
        """The operation's entry in a model config's ``layers`` list."""
        if fmt == KERAS2:
            return {"class_name": self.class_name, "config": dict(self.config)}
        return {"module": self.module or "keras.src.ops.numpy", "class_name": self.class_name,
                "config": dict(self.config), "registered_name": self.class_name}

    def __repr__(self) -> str:
        return f"<Operation {self.class_name} name={self.name!r}>"


def is_operation(entry: dict[str, Any]) -> bool:
    """Whether a model config's ``layers`` entry is an operation node (not a layer)."""
    cls = entry.get("class_name")
    module = entry.get("module")
    if isinstance(module, str) and module.startswith("keras.src.ops"):
        return True
    return cls in OPS and registry.lookup("layer", cls) is None and \
        cls not in registry.custom_objects()


def make_operation(entry: dict[str, Any], path: str) -> Operation:
    """The :class:`Operation` of a ``layers`` entry that :func:`is_operation` accepted."""
    cfg = entry.get("config") or {}
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}.config", f"expected a dict, got {describe(cfg)}")
    return Operation(entry["class_name"], entry.get("module"), cfg, OPS[entry["class_name"]],
                     f"{path}.config")


def type_label(node_op: Any) -> str:
    """The class name shown for a graph node (a layer's class or an operation's)."""
    if isinstance(node_op, Operation):
        return node_op.class_name
    return type(node_op).__name__
