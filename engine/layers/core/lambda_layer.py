"""Lambda: a function given by name (never code from the config)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ... import registry
from ...errors import ConfigError, UnsafeConfigError, describe
from ...fields import (
    KERAS2,
    KERAS3,
    REQUIRED,
    Field,
    Json,
    Shape,
    Str,
    constant_array,
)
from ..base import Layer, normalize_shape

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
            return constant_array(value["value"], None, "arguments", charge=False)
        if value.get("class_name") == "__numpy__":
            cfg = value.get("config") or {}
            return constant_array(cfg.get("value"), cfg.get("dtype"), "arguments",
                                  charge=False)
    return value
