"""Running one node of a model: inputs checked, masks passed on, shapes inferred.

Errors are not swallowed: a layer that cannot take a shape is a ``ConfigError`` naming the
node; any other failure of a layer's ``build``, ``compute_output_shape`` or ``compute_mask``
is re-raised as a ``ConfigError`` whose path names the node and the layer (the original
exception is its ``__cause__``).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ..budget import active_budget
from ..errors import ConfigError
from ..layers.base import FLOAT_DTYPES, Layer
from ..layers.call_budget import same_values, values_state
from .graph import Node, refs_in
from .ops import Operation
from .summary import format_shape

_F32 = FLOAT_DTYPES["float32"]


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


def call_single(op: Any, node: Node, x: Any, mask: Any, training: bool, owned: Any = None,
                ) -> tuple[list[Any], list[Any]]:
    """:func:`call_node` for a layer (not an operation) called on one tensor ``x`` (or one
    list of tensors, for a layer taking a list) with ``mask``, no other argument and no
    tensor keyword (the functional loop's common case), by :func:`run_layer`; ``owned``
    as there."""
    if isinstance(mask, list) and all(m is None for m in mask):
        mask = None  # as mask_of gives it
    out = run_layer(op, x, training, mask, owned)
    if mask is None and type(op).compute_mask is Layer.compute_mask and \
            "compute_mask" not in op.__dict__ and type(out) is not list and \
            type(out) is not tuple:
        return [out], [None]  # what Layer.compute_mask gives without a mask
    return _with_masks(op, node, out, x, mask)


# -- the run loop's direct calls -----------------------------------------------------------

#: Layer methods a class must not override for :func:`run_layer` to skip them
_PLAIN = ("__call__", "_convert_inputs", "_cast", "_check_inputs", "check_call_budget",
          "_invoke")
_DIRECT: dict[type, bool] = {}
#: input shapes remembered per layer before the memo starts over
MAX_SHAPES = 16


def _direct_class(cls: type) -> bool:
    """Whether :func:`run_layer` may call ``_invoke`` of layers of ``cls`` directly: a
    built-in class whose shapes follow from its config (call_budget.memo_allowed) and that
    keeps Layer's way of checking and calling."""
    ok = _DIRECT.get(cls)
    if ok is None:
        ok = _DIRECT[cls] = bool(cls._budget_memo_ok) and all(
            getattr(cls, name) is getattr(Layer, name) for name in _PLAIN)
    return ok


def _input_key(layer: Any, x: Any, dtype: Any) -> Any:
    """The shape(s) of ``x`` when the layer's cast leaves it as it is (an array, or a list
    of arrays for a layer taking a list, all of ``dtype``); else None."""
    if type(x) is np.ndarray:
        return x.shape if x.dtype is dtype and not layer.multi_input else None
    if type(x) is list and x and layer.multi_input:
        for a in x:
            if type(a) is not np.ndarray or a.dtype is not dtype:
                return None
        return tuple([a.shape for a in x])
    return None


def _state(layer: Any) -> tuple:
    """What the checks of a call depend on besides the input shapes: the config values
    (call_budget.values_state), the input spec (and its content), the budget and its
    limit."""
    spec = layer.input_spec
    spec_state = None if spec is None else (spec, spec.ndim, spec.min_ndim, spec.axes,
                                            dict(spec.axes) if spec.axes else None)
    budget = active_budget() or layer._budget_obj
    return (values_state(layer), spec_state, budget, budget.max_activation_bytes)


def _same_state(layer: Any, state: tuple) -> bool:
    values, spec_state, budget, limit = state
    if not same_values(layer, values):
        return False
    b = active_budget() or layer._budget_obj
    if b is not budget or b.max_activation_bytes != limit:
        return False
    spec = layer.input_spec
    if spec is None:
        return spec_state is None
    # one tuple comparison (identical items compare equal at once; the axes by content)
    return spec_state is not None and (spec, spec.ndim, spec.min_ndim, spec.axes,
                                       spec.axes or None) == spec_state


def _memo_hit(layer: Any, x: Any, shape: Any = None) -> bool:
    """Whether an earlier call of ``layer`` on inputs of ``x``'s shape(s) and dtype passed
    the checks of ``Layer.__call__`` with the state the layer and budget have now (see
    :func:`run_layer`); with ``shape``, for one float32 array of that shape."""
    memo = layer.__dict__.get("_run_memo")
    if memo is None or not layer.built:
        return False
    dtype = memo[1]
    if shape is not None:
        key = shape if dtype is _F32 and not layer.multi_input else None
    elif type(x) is np.ndarray:
        key = x.shape if x.dtype is dtype and not layer.multi_input else None
    else:
        key = _input_key(layer, x, dtype)
    return key is not None and key in memo[2] and _same_state(layer, memo[0])


def run_layer(layer: Any, x: Any, training: bool, mask: Any, owned: Any = None) -> Any:
    """``layer(x, training=training, mask=mask)`` for the models' run loop.

    Once a call of a built-in layer on inputs of these shapes passed the checks of
    ``Layer.__call__`` (input spec, activation budget), a later call whose inputs need no
    cast, with the same config values, input spec, budget and limit, goes straight to
    ``Layer._invoke``: the checks would pass again (a few microseconds per layer, a tenth
    of a small model's forward pass). ``owned`` (True, or one bool per array of a list
    input: see :func:`sole_owner`) lets a layer with ``_call_owned`` write into its input;
    the first call of a shape never does."""
    if _memo_hit(layer, x):
        cls = type(layer)
        kwargs: dict[str, Any] = {}
        if cls._call_training:
            kwargs["training"] = bool(training)
        if cls._call_mask:
            kwargs["mask"] = mask
        if owned is not None and (layer._call_owned is None or "call" in layer.__dict__):
            owned = None
        return layer._invoke(x, (), kwargs, owned)
    if not _direct_class(type(layer)):
        return layer(x, training=training, mask=mask)
    before = _state(layer) if layer.built else None
    out = layer(x, training=training, mask=mask)
    if before is not None and _same_state(layer, before):
        _remember(layer, x, before)
    return out


def run_fused(first: Any, act: Any, x: Any, training: bool, owned: Any) -> Any:
    """``act(first(x))`` in one pass: ``first`` (a BatchNormalization, an element-wise
    merge: ``fused_clip``) clips its own result as ``act`` (a relu layer: ``clip_bounds``)
    would, when both calls' checks are remembered for these shapes (:func:`run_layer`);
    nothing else may read ``first``'s result (the run plan's business). The same bits as
    the two calls; None when not fused (the caller then makes the two calls). ``owned`` as
    for :func:`run_layer`."""
    if not _memo_hit(first, x):
        return None
    shape = first.fused_clip(x, training)
    if shape is None or not _memo_hit(act, None, shape):
        return None
    bounds = act.clip_bounds(_F32)
    if bounds is None:
        return None
    kwargs = {"mask": None, "bounds": bounds}
    if type(first)._call_training:
        kwargs["training"] = bool(training)
    out = first._invoke(x, (), kwargs, False if owned is None else owned)
    if act._activity_losses:  # as its own call without a regularizer would leave them
        act._activity_losses = []
    return out


def _remember(layer: Any, x: Any, state: tuple) -> None:
    # the memo: (state, compute dtype, input keys); the dtype policy is one of the values
    dtype = FLOAT_DTYPES.get(layer._values["dtype"].compute_dtype)
    key = _input_key(layer, x, dtype) if dtype is not None else None
    if key is None:
        return
    memo = layer.__dict__.get("_run_memo")
    if memo is None or memo[1] is not dtype or not _same_state(layer, memo[0]) or \
            len(memo[2]) >= MAX_SHAPES:
        memo = layer.__dict__["_run_memo"] = (state, dtype, set())
    memo[2].add(key)


def _refs_of_a_local(x: Any) -> int:
    return sys.getrefcount(x)


def _refs_of_base(x: Any) -> int:
    base = x.base
    return sys.getrefcount(base)


def _calibrate() -> tuple[int, int] | None:
    """The reference counts :func:`sole_owner` sees for an array held by one local of its
    caller, and for the base of a view held by nothing else; None where counts are not
    exact (not CPython, or CPython 3.14+, whose interpreter may skip counting references
    on its stack)."""
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 14):
        return None
    a = np.empty(2)
    alone = _refs_of_a_local(a)
    b = a
    if _refs_of_a_local(a) != alone + 1:
        return None
    del b
    view = a[:1]
    del a
    return alone, _refs_of_base(view)


_COUNTS = _calibrate()


def sole_owner(x: Any) -> bool:
    """Whether the caller's local variable ``x`` is the only reference to this array and to
    the memory it views: a writeable ``np.ndarray`` that owns its data, or views an
    ndarray that owns its data and that nothing else references. Then writing into it
    changes nothing anyone else can see (no other tensor of the graph, the caller's input,
    a trace, a layer's state).
    False when reference counts are not exact (see :func:`_calibrate`)."""
    if _COUNTS is None or type(x) is not np.ndarray or not x.flags.writeable or \
            _refs_of_a_local(x) != _COUNTS[0] + 1:
        return False
    base = x.base
    if base is None:
        return x.flags.owndata
    # numpy points a view at the array owning the memory, unless that one only wraps
    # someone else's (np.frombuffer of a bytearray, memory from C): then not ours
    ok = type(base) is np.ndarray and base.flags.owndata and base.flags.writeable
    del base
    return ok and _refs_of_base(x) == _COUNTS[1]


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
