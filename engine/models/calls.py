"""Running one node of a model: inputs checked, masks passed on, shapes inferred.

Errors are not swallowed: a layer that cannot take a shape is a ``ConfigError`` naming the
node; any other failure of a layer's ``build``, ``compute_output_shape`` or ``compute_mask``
is re-raised as a ``ConfigError`` whose path names the node and the layer (the original
exception is its ``__cause__``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..layers.base import Layer
from .graph import Node, refs_in
from .ops import Operation
from .summary import format_shape


def prepare_inputs(model: Any, inputs: Any, specs: list[tuple[tuple, str]],
                   names: list[str]) -> list[np.ndarray]:
    """The model's inputs as arrays, one per input, checked against the InputLayers."""
    if isinstance(inputs, dict):
        missing = [n for n in names if n not in inputs]
        if missing:
            raise ValueError(f"model {model.name!r}: missing input(s) {missing}; inputs are "
                             f"{names}")
        inputs = [inputs[n] for n in names]
    if len(specs) == 1:
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1 and \
                not np.isscalar(inputs[0]) and np.ndim(inputs[0]) >= 1 and \
                isinstance(inputs[0], np.ndarray):
            inputs = inputs[0]
        inputs = [inputs]
    elif not isinstance(inputs, (list, tuple)) or len(inputs) != len(specs):
        got = len(inputs) if isinstance(inputs, (list, tuple)) else 1
        raise ValueError(f"model {model.name!r} expects {len(specs)} inputs {names}, got "
                         f"{got}")
    out = []
    for x, (shape, dtype), name in zip(inputs, specs, names):
        arr = as_input_dtype(np.asarray(x), dtype, f"model {model.name!r}: input {name!r}")
        if len(shape) != arr.ndim or any(s is not None and s != a
                                         for s, a in zip(shape[1:], arr.shape[1:])):
            raise ValueError(f"model {model.name!r}: input {name!r} expects shape "
                             f"{format_shape(shape)}, got {arr.shape}")
        out.append(arr)
    return out


def with_context(error: Exception, where: str) -> Exception:
    """``error`` again, its message prefixed by ``where`` (a ConfigError, which already
    names its path, or an exception type that cannot be made from a message: as is)."""
    if isinstance(error, ConfigError):
        return error
    try:
        return type(error)(f"{where}: {error}")
    except TypeError:
        return error


def output_mask(op: Any, inputs: Any, mask: Any, where: Callable[[], str]) -> Any:
    """``op.compute_mask(inputs, mask)``; None for an object without masks (an operation,
    or a callable of the user's that is not a Layer). A failure names ``where()``."""
    compute_mask = getattr(op, "compute_mask", None)
    if compute_mask is None or isinstance(op, Operation):
        return None
    try:
        return compute_mask(inputs, mask)
    except Exception as e:  # a bug in the layer: re-raised with the layer's path
        raise ConfigError(f"{where()}.compute_mask", f"{type(op).__name__}.compute_mask "
                          f"failed: {type(e).__name__}: {e}") from e


_PARAMS: dict[type, list[str]] = {}


def _call_params(op: Any) -> list[str]:
    cls = type(op)
    if cls not in _PARAMS:
        try:
            params = list(inspect.signature(cls.call).parameters)[1:]
        except (TypeError, ValueError):  # no signature to read (a builtin): no names
            params = []
        _PARAMS[cls] = params
    return _PARAMS[cls]


def _flatten(out: Any) -> list[Any]:
    """A layer's outputs as the graph numbers them: nested lists (the per-cell states of a
    stacked RNN) flattened in order, as Keras's node outputs are."""
    if not isinstance(out, (list, tuple)):
        return [out]
    flat: list[Any] = []
    for o in out:
        flat.extend(_flatten(o) if isinstance(o, (list, tuple)) else [o])
    return flat


def node_label(node: Node) -> str:
    """``config.layers[3] (dense_2)``, with the call index for a layer called again."""
    call = f" call {node.index}" if node.index else ""
    return f"{node.layer_path} ({node.layer_name}{call})"


def call_node(op: Any, node: Node, args: list[Any], kwargs: dict[str, Any],
              mask_of: Callable[[Any], Any], training: bool) -> tuple[list[Any], list[Any]]:
    """Run one node: its outputs (flattened) and their masks."""
    if isinstance(op, Operation):
        out = op(*args, **kwargs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        return outs, [None] * len(outs)
    mask = None
    if kwargs:
        kwargs = dict(kwargs)
        kwargs.pop("training", None)
        mask = kwargs.pop("mask", None)
    first = args[0] if args else None
    prev_mask = mask if mask is not None else (mask_of(node.args[0]) if node.args else None)
    # the tensor arguments (one, in the common case of a single argument and no kwargs)
    several = len(node.args) + len(node.kwargs) > 1
    tensors = [(i, a) for i, a in enumerate(node.args) if refs_in(a)] + \
        [(k, v) for k, v in node.kwargs.items() if k != "mask" and refs_in(v)] \
        if several else []
    if len(tensors) > 1:
        # Keras 3: each tensor argument's mask goes to '<argument>_mask' when call has it
        names = _call_params(op)
        kwargs = dict(kwargs)
        for pos, value in tensors:
            arg = names[pos] if isinstance(pos, int) and pos < len(names) else pos
            key = f"{arg}_mask"
            if isinstance(arg, str) and key in names and kwargs.get(key) is None:
                m = mask_of(value)
                if m is not None:
                    kwargs[key] = m
    elif mask is None:
        mask = prev_mask
    out = op(first, *args[1:], training=training, mask=mask, **kwargs)
    return _with_masks(op, node, out, first, prev_mask)


def call_single(op: Any, node: Node, x: Any, mask: Any, training: bool,
                ) -> tuple[list[Any], list[Any]]:
    """:func:`call_node` for a layer (not an operation) called on one tensor ``x`` with
    ``mask``, no other argument and no tensor keyword (the functional loop's common case)."""
    if isinstance(mask, list) and all(m is None for m in mask):
        mask = None  # as mask_of gives it
    return _with_masks(op, node, op(x, training=training, mask=mask), x, mask)


def _with_masks(op: Any, node: Node, out: Any, first: Any, prev_mask: Any,
                ) -> tuple[list[Any], list[Any]]:
    out_mask = output_mask(op, first, prev_mask, lambda: node_label(node))
    outs = _flatten(out) if isinstance(out, (list, tuple)) else [out]
    if isinstance(out_mask, (list, tuple)):
        out_mask = _flatten(out_mask)
    if isinstance(out_mask, list) and len(out_mask) == len(outs) and len(outs) > 1:
        masks = list(out_mask)
    else:
        masks = [out_mask] + [None] * (len(outs) - 1)
    return outs, masks


# -- shapes, before any data ---------------------------------------------------------------


def known(shape: Any) -> bool:
    """Whether a symbolic shape (or every shape of a list) is known."""
    if isinstance(shape, list):
        return all(known(s) for s in shape)
    return isinstance(shape, tuple)


def check_spec(layer: Any, shape: tuple) -> None:
    """The layer's InputSpec against a symbolic shape (unknown sizes pass)."""
    spec = getattr(layer, "input_spec", None)
    if spec is None or not hasattr(spec, "ndim"):
        return
    if spec.ndim is not None and len(shape) != spec.ndim:
        raise ValueError(f"expects inputs of rank {spec.ndim}, got shape "
                         f"{format_shape(shape)}")
    if spec.min_ndim is not None and len(shape) < spec.min_ndim:
        raise ValueError(f"expects inputs of rank >= {spec.min_ndim}, got shape "
                         f"{format_shape(shape)}")
    for axis, size in (spec.axes or {}).items():
        if -len(shape) <= axis < len(shape) and shape[axis] is not None and \
                shape[axis] != size:
            raise ValueError(f"was built for inputs with size {size} on axis {axis}, got "
                             f"shape {format_shape(shape)}")


def _output_shape(op: Any, *shapes: Any, **kwargs: Any) -> Any:
    try:
        return op.compute_output_shape(*shapes, **kwargs)
    except NotImplementedError:  # the layer cannot tell before it runs: unknown
        return None


def infer_node(op: Any, node: Node, arg_shapes: list[Any]) -> Any:
    """Build ``op`` for the node's input shapes if they are known; its output shape(s), or
    None when unknown.

    Raises:
        ConfigError: the layer refuses the shapes (the path names the node); or any other
            failure of its build or shape inference, wrapped with the node and layer.
    """
    first = arg_shapes[0] if arg_shapes else None
    try:
        return _infer(op, node, arg_shapes, first)
    except ConfigError as e:
        raise e.with_prefix(f"{node.path} (layer {node.layer_name!r})") from e.__cause__
    except (ValueError, TypeError, IndexError) as e:
        raise ConfigError(node.path, f"layer {node.layer_name!r} ({type(op).__name__}) "
                          f"cannot take input shape {format_shape(first)}: {e}") from e
    except Exception as e:  # a bug in the layer: re-raised, naming the node and layer
        raise ConfigError(node.path, f"layer {node.layer_name!r} ({type(op).__name__}): "
                          f"building it for input shape {format_shape(first)} failed: "
                          f"{type(e).__name__}: {e}") from e


def _infer(op: Any, node: Node, arg_shapes: list[Any], first: Any) -> Any:
    if not isinstance(op, Layer):  # a callable of the user's: no shapes before it runs
        return None
    tensor_args = [a for a in node.args if refs_in(a)]
    if not op.built and len(tensor_args) == 1 and len(node.args) == 1 and \
            first is not None and known(first):
        op.build(first)
    elif not op.built and len(tensor_args) == len(node.args) > 1 and \
            all(known(a) for a in arg_shapes):
        op.build(*arg_shapes)  # layers called with several tensors (attention)
    if not op.built or first is None:
        return None
    kw = {"return_attention_scores": True} if \
        node.kwargs.get("return_attention_scores") is True else {}
    if len(node.args) == 1:
        if isinstance(first, tuple):
            check_spec(op, first)
        return _output_shape(op, first, **kw)
    try:
        return _output_shape(op, *arg_shapes, **kw)
    except TypeError:  # its compute_output_shape takes one shape, not one per tensor
        return None


def output_dtype(op: Any) -> str:
    """The dtype written for a node's output tensor in a Keras 3 config."""
    if isinstance(op, Operation):
        return op.output_dtype
    if isinstance(op, Layer):
        return op.compute_dtype
    return "float32"


def as_input_dtype(arr: np.ndarray, dtype: str, where: str) -> np.ndarray:
    """``arr`` in the input's dtype; a 'string' input takes arrays of str or bytes as they
    are (no NumPy dtype is called 'string')."""
    if dtype == "string":
        if arr.dtype.kind not in "USO":
            raise ValueError(f"{where} expects text (an array of str or bytes), got dtype "
                             f"{arr.dtype}")
        return arr
    return arr if arr.dtype == np.dtype(dtype) else arr.astype(dtype)
