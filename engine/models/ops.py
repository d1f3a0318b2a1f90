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
from ..fields.constants import numeric_dtype
from ..formats import KERAS2, KERAS3
from . import op_shapes as S
from .op_shapes import Rule


def _key(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


class OpSpec:
    """How to run one Keras operation class: ``fn(*args, **params)``.

    Args:
        fn: the NumPy implementation.
        params: the config keys it takes (besides ``name``).
        required: the keys that must be given.
        shape: its output shape before any data (see :mod:`.op_shapes`); elementwise
            broadcasting by default.
    """

    __slots__ = ("fn", "params", "required", "shape")

    def __init__(self, fn: Callable[..., Any], params: tuple[str, ...] = (),
                 required: tuple[str, ...] = (), shape: Rule = S.elementwise):
        self.fn, self.params, self.required, self.shape = fn, params, required, shape


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
    "Matmul": OpSpec(np.matmul, shape=S.matmul), "LogicalAnd": OpSpec(np.logical_and),
    "LogicalOr": OpSpec(np.logical_or), "LogicalNot": OpSpec(np.logical_not, shape=S.same),
    "Negative": OpSpec(np.negative, shape=S.same), "Abs": OpSpec(np.abs, shape=S.same),
    "Absolute": OpSpec(np.abs, shape=S.same), "Square": OpSpec(np.square, shape=S.same),
    "Sqrt": OpSpec(np.sqrt, shape=S.same), "Exp": OpSpec(np.exp, shape=S.same),
    "Log": OpSpec(np.log, shape=S.same), "Tanh": OpSpec(np.tanh, shape=S.same),
    "Where": OpSpec(np.where, shape=S.where),
    "Any": OpSpec(_reduce(np.any), ("axis", "keepdims"), shape=S.reduce),
    "All": OpSpec(_reduce(np.all), ("axis", "keepdims"), shape=S.reduce),
    "Mean": OpSpec(_reduce(np.mean), ("axis", "keepdims"), shape=S.reduce),
    "Sum": OpSpec(_reduce(np.sum), ("axis", "keepdims"), shape=S.reduce),
    "Max": OpSpec(_reduce(np.max), ("axis", "keepdims", "initial"), shape=S.reduce),
    "Min": OpSpec(_reduce(np.min), ("axis", "keepdims", "initial"), shape=S.reduce),
    "Reshape": OpSpec(lambda x, newshape: np.reshape(x, _key(newshape)), ("newshape",),
                      ("newshape",), shape=S.reshape),
    "Transpose": OpSpec(lambda x, axes=None: np.transpose(x, _key(axes)), ("axes",),
                        shape=S.transpose),
    "ExpandDims": OpSpec(lambda x, axis: np.expand_dims(x, _key(axis)), ("axis",), ("axis",),
                         shape=S.expand_dims),
    "Squeeze": OpSpec(lambda x, axis=None: np.squeeze(x, _key(axis)), ("axis",),
                      shape=S.squeeze),
    "Concatenate": OpSpec(lambda xs, axis=0: np.concatenate(xs, axis=axis), ("axis",),
                          shape=S.concatenate),
    "Stack": OpSpec(lambda xs, axis=0: np.stack(xs, axis=axis), ("axis",), shape=S.stack),
    "Clip": OpSpec(lambda x, x_min, x_max: np.clip(x, x_min, x_max), ("x_min", "x_max"),
                   ("x_min", "x_max"), shape=S.same),
    "Cast": OpSpec(lambda x, dtype: np.asarray(x).astype(dtype), ("dtype",), ("dtype",),
                   shape=S.same),
    "GetItem": OpSpec(lambda x, key: np.asarray(x)[_key(key)], shape=S.getitem),
    "Relu": OpSpec(lambda x: np.maximum(x, 0), shape=S.same),
    "Relu6": OpSpec(lambda x: np.clip(x, 0, 6), shape=S.same),
    "Sigmoid": OpSpec(lambda x: 1.0 / (1.0 + np.exp(-x)), shape=S.same),
    "Silu": OpSpec(lambda x: x / (1.0 + np.exp(-x)), shape=S.same),
    "Softmax": OpSpec(lambda x, axis=-1: _softmax(x, axis), ("axis",), shape=S.same),
}

#: tf_keras ``TFOpLambda`` functions (``config.function``) -> (the OPS entry that runs it,
#: the names of its tensor arguments in order, TF keyword -> OPS param)
TF_FUNCTIONS: dict[str, tuple[str, tuple[str, ...], dict[str, str]]] = {
    "__operators__.add": ("Add", ("x", "y"), {}), "math.add": ("Add", ("x", "y"), {}),
    "math.subtract": ("Subtract", ("x", "y"), {}),
    "math.multiply": ("Multiply", ("x", "y"), {}),
    "math.truediv": ("TrueDivide", ("x", "y"), {}),
    "math.divide": ("TrueDivide", ("x", "y"), {}),
    "math.maximum": ("Maximum", ("x", "y"), {}), "math.minimum": ("Minimum", ("x", "y"), {}),
    "math.pow": ("Power", ("x", "y"), {}), "linalg.matmul": ("Matmul", ("a", "b"), {}),
    "math.negative": ("Negative", ("x",), {}), "math.abs": ("Abs", ("x",), {}),
    "math.square": ("Square", ("x",), {}), "math.sqrt": ("Sqrt", ("x",), {}),
    "math.exp": ("Exp", ("x",), {}), "math.log": ("Log", ("x",), {}),
    "math.tanh": ("Tanh", ("x",), {}), "math.sigmoid": ("Sigmoid", ("x",), {}),
    "nn.relu": ("Relu", ("features",), {}), "nn.relu6": ("Relu6", ("features",), {}),
    "nn.silu": ("Silu", ("features",), {}), "nn.swish": ("Silu", ("features",), {}),
    "nn.softmax": ("Softmax", ("logits",), {"axis": "axis"}),
    "math.reduce_mean": ("Mean", ("input_tensor",), {"axis": "axis", "keepdims": "keepdims"}),
    "math.reduce_sum": ("Sum", ("input_tensor",), {"axis": "axis", "keepdims": "keepdims"}),
    "math.reduce_max": ("Max", ("input_tensor",), {"axis": "axis", "keepdims": "keepdims"}),
    "math.reduce_min": ("Min", ("input_tensor",), {"axis": "axis", "keepdims": "keepdims"}),
    "reshape": ("Reshape", ("tensor",), {"shape": "newshape"}),
    "compat.v1.transpose": ("Transpose", ("a",), {"perm": "axes"}),
    "transpose": ("Transpose", ("a",), {"perm": "axes"}),
    "expand_dims": ("ExpandDims", ("input",), {"axis": "axis"}),
    "concat": ("Concatenate", ("values",), {"axis": "axis"}),
    "stack": ("Stack", ("values",), {"axis": "axis"}),
    "clip_by_value": ("Clip", ("t",), {"clip_value_min": "x_min",
                                        "clip_value_max": "x_max"}),
}
#: keys of a TFOpLambda config
_TF_KEYS = frozenset({"name", "trainable", "dtype", "function"})

#: operations whose output is boolean (the dtype written for their tensors)
BOOL_OPS = frozenset({"NotEqual", "Equal", "Greater", "Less", "GreaterEqual", "LessEqual",
                      "LogicalAnd", "LogicalOr", "LogicalNot", "Any", "All"})


class Operation:
    """A non-layer graph node (a Keras 3 ``keras.src.ops`` operation, or a tf_keras
    ``TFOpLambda``): no weights.

    Args:
        class_name: the operation's Keras class name (a key of :data:`OPS`, or
            ``'TFOpLambda'``).
        module: the ``module`` the config gave (written back as is).
        config: the operation's config (``name`` and the spec's params; a TFOpLambda's
            ``function`` names a key of :data:`TF_FUNCTIONS`).
        spec: how to run it.
        path: where the config is, for errors.
        tf: for a TFOpLambda, the entry of :data:`TF_FUNCTIONS`.
    """

    def __init__(self, class_name: str, module: str | None, config: dict[str, Any],
                 spec: OpSpec, path: str,
                 tf: tuple[str, tuple[str, ...], dict[str, str]] | None = None):
        known = _TF_KEYS if tf else {"name", *spec.params}
        unknown = [k for k in config if k not in known]
        if unknown:
            raise ConfigError(f"{path}.{unknown[0]}", f"unknown key for operation "
                              f"{class_name} (known: {', '.join(sorted(known))})")
        for k in () if tf else spec.required:
            if k not in config:
                raise ConfigError(f"{path}.{k}", f"missing: operation {class_name} needs it")
        self.class_name, self.module, self.spec, self.tf = class_name, module, spec, tf
        self.config = dict(config)
        self.name = str(config.get("name") or class_name.lower())
        self.params = {} if tf else {k: v for k, v in config.items() if k != "name"}
        if "dtype" in self.params and class_name == "Cast":  # numeric dtypes only
            self.params["dtype"] = numeric_dtype(self.params["dtype"], f"{path}.dtype").name
        self.built = True

    def bind(self, args: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """The positional arguments and params of one call (a TFOpLambda's TF keywords
        mapped to the operation's)."""
        kwargs = {k: v for k, v in kwargs.items() if k not in ("training", "mask")}
        if self.tf is None:
            return list(args), {**self.params, **kwargs}
        kwargs.pop("name", None)
        _, names, pmap = self.tf
        pos = list(args)
        for argname in names[len(pos):]:
            if argname not in kwargs:
                raise ValueError(f"{self.config.get('function')}: missing argument "
                                 f"{argname!r}")
            pos.append(kwargs.pop(argname))
        params = {}
        for k, v in kwargs.items():
            if k not in pmap:
                raise ValueError(f"{self.config.get('function')}: argument {k!r} is not "
                                 f"supported (supported: {', '.join([*names, *pmap])})")
            params[pmap[k]] = v
        return pos, params

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        pos, params = self.bind(list(args), kwargs)
        return self.spec.fn(*pos, **params)

    def output_shape(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """The output shape for arguments whose tensors are :class:`Sym`; None when it
        cannot be told before data. Raises ValueError when the shapes cannot work."""
        pos, params = self.bind(args, kwargs)
        return self.spec.shape(pos, params)

    @property
    def weights(self) -> list[Any]:
        return []

    @property
    def output_dtype(self) -> str:
        """The dtype Keras writes for this operation's output tensor."""
        name = self.tf[0] if self.tf else self.class_name
        return "bool" if name in BOOL_OPS else "float32"

    def count_params(self) -> int:
        return 0

    def keras_entry(self, fmt: str) -> dict[str, Any]:
        """The operation's entry in a model config's ``layers`` list."""
        if self.tf:
            return {"module": self.module, "class_name": self.class_name,
                    "config": dict(self.config), "registered_name": self.class_name} \
                if self.module else {"class_name": self.class_name, "config": dict(self.config)}
        if fmt == KERAS2:
            return {"class_name": self.class_name, "config": dict(self.config)}
        return {"module": self.module or "keras.src.ops.numpy", "class_name": self.class_name,
                "config": dict(self.config), "registered_name": self.class_name}

    def __repr__(self) -> str:
        return f"<Operation {self.class_name} name={self.name!r}>"


#: tf_keras operation layers (a TF function recorded by name)
TF_OP_CLASSES = ("TFOpLambda", "SlicingOpLambda")


def is_operation(entry: dict[str, Any], fmt: str | None = None) -> bool:
    """Whether a model config's ``layers`` entry is an operation node (not a layer).

    Keras 3 writes its operations with ``module: keras.src.ops...``; in a legacy ``.h5``
    (``fmt`` KERAS3 nodes, no ``module`` key) an operation's config holds only its name and
    params, where a layer's always has ``trainable`` and ``dtype``.
    """
    cls = entry.get("class_name")
    module = entry.get("module")
    if isinstance(module, str) and module.startswith("keras.src.ops"):
        return True
    if cls in TF_OP_CLASSES and cls not in registry.custom_objects():
        return True
    if cls not in OPS or cls in registry.custom_objects():
        return False
    if registry.lookup("layer", cls) is None:
        return True
    cfg = entry.get("config")
    return fmt == KERAS3 and module is None and isinstance(cfg, dict) and \
        "trainable" not in cfg and "dtype" not in cfg and \
        all(k == "name" or k in OPS[cls].params for k in cfg)


def operation_problem(entry: dict[str, Any]) -> tuple[str, str] | None:
    """Why an operation entry cannot be run: (key, message), or None."""
    cls = entry.get("class_name")
    if cls in TF_OP_CLASSES:
        cfg = entry.get("config")
        fn = cfg.get("function") if isinstance(cfg, dict) else None
        if cls == "TFOpLambda" and isinstance(fn, str) and fn in TF_FUNCTIONS:
            return None
        return "config.function", (f"TF function {fn!r} ({cls}) is not supported by "
                                   f"layerlab (supported: {', '.join(sorted(TF_FUNCTIONS))})")
    if cls not in OPS:
        return "class_name", (f"operation {cls!r} is not supported by layerlab (supported: "
                              f"{', '.join(sorted(OPS))})")
    return None


def make_operation(entry: dict[str, Any], path: str) -> Operation:
    """The :class:`Operation` of a ``layers`` entry that :func:`is_operation` accepted."""
    cfg = entry.get("config") or {}
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}.config", f"expected a dict, got {describe(cfg)}")
    bad = operation_problem(entry)
    if bad:
        raise ConfigError(f"{path}.{bad[0]}", bad[1])
    cls = entry["class_name"]
    if cls in TF_OP_CLASSES:
        tf = TF_FUNCTIONS[cfg["function"]]
        return Operation(cls, entry.get("module"), cfg, OPS[tf[0]], f"{path}.config", tf)
    return Operation(cls, entry.get("module"), cfg, OPS[cls], f"{path}.config")


def type_label(node_op: Any) -> str:
    """The class name shown for a graph node (a layer's class or an operation's)."""
    if isinstance(node_op, Operation):
        return node_op.class_name
    return type(node_op).__name__
