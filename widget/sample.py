"""The LayerEditor's sample input: its shape(s), the seeded arrays, and running a layer.

A layer takes one array, or several: a list for merging layers (``Add()([a, b])``) and
attention's ``Attention()([q, v])``, positional arrays for ``MultiHeadAttention(q, v)``.
Everywhere here a *shape spec* is one shape (a tuple, batch first) or a list of shapes,
and a *sample* is one array or a list of arrays.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np

import engine
from engine import ConfigError

from .vocabulary import text_sample

#: batch size used where a shape's batch dimension is None
DEFAULT_BATCH = 16
#: the most values the automatic sample may hold (its batch shrinks to fit)
MAX_SAMPLE_ELEMENTS = 10**6
#: sample shapes (batch excluded) tried, in order, when nothing says what a layer takes
_CANDIDATES: tuple[tuple[int, ...], ...] = (
    (64,), (32, 32, 3), (20, 8), (16, 16, 16, 3), (8, 8, 8, 8, 3))
_HINTS = (("3D", (16, 16, 16, 3)), ("2D", (32, 32, 3)), ("1D", (32, 8)),
          ("Attention", (20, 16)), ("TextVectorization", (1,)), ("Spectrogram", (4096,)),
          ("Spectrogram", (4096, 1)), ("Spectrogram", (1, 4096)))
#: config keys bounding the integer ids a layer fed ids takes (Embedding, CategoryEncoding)
_ID_RANGES = ("input_dim", "num_tokens")


# -- shapes -----------------------------------------------------------------------------------


def _is_dim(d: Any) -> bool:
    return d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool))


def shape_spec(value: Any, what: str = "input_shape") -> Any:
    """A user's shape, list of shapes or ``build_config`` -> a tuple, a list of tuples, or
    None. ``{'input_shape': ...}`` and ``{'shapes_dict': {'query_shape': ..., ...}}`` (in
    the dict's order, as Keras builds) are read too. Raises ConfigError naming ``what``."""
    if value is None:
        return None
    if isinstance(value, dict):
        if value.get("input_shape") is not None:
            return shape_spec(value["input_shape"], f"{what}.input_shape")
        shapes = value.get("shapes_dict")
        if isinstance(shapes, dict) and shapes:
            return [_one_shape(v, f"{what}.shapes_dict.{k}") for k, v in shapes.items()]
        return None
    if isinstance(value, (list, tuple)) and value and \
            all(isinstance(v, (list, tuple)) for v in value):
        return [_one_shape(v, f"{what}[{i}]") for i, v in enumerate(value)]
    return _one_shape(value, what)


def _one_shape(value: Any, what: str) -> tuple[Any, ...]:
    if not isinstance(value, (list, tuple)) or not all(_is_dim(d) for d in value):
        raise ConfigError(what, f"expected a shape such as (None, 64) or a list of shapes "
                          f"such as [(None, 4), (None, 4)], got {value!r}")
    return tuple(None if d is None else int(d) for d in value)


def batched(spec: Any) -> Any:
    """A concrete shape spec: None batch -> DEFAULT_BATCH, other None -> 8, the batch
    shrunk so the sample holds at most MAX_SAMPLE_ELEMENTS values (one batch for every
    input); a BudgetError naming the input when even one example is bigger."""
    shapes = spec if isinstance(spec, list) else [spec]
    dims = [[8 if d is None else int(d) for d in s] for s in shapes]
    if not any(dims):
        return () if not isinstance(spec, list) else [() for _ in shapes]
    batch = min((d[0] for d, s in zip(dims, shapes) if d and s[0] is not None),
                default=DEFAULT_BATCH)
    per_example = sum(math.prod(d[1:]) for d in dims if d)
    if per_example > MAX_SAMPLE_ELEMENTS:
        one = tuple(dims[0][1:]) if len(dims) == 1 else [tuple(d[1:]) for d in dims]
        raise engine.BudgetError("input_shape", f"one example of shape {one} holds "
                                 f"{per_example:,} values, more than the editor's sample bound "
                                 f"of {MAX_SAMPLE_ELEMENTS:,}; give a smaller input_shape=")
    if batch * per_example > MAX_SAMPLE_ELEMENTS:
        batch = max(1, MAX_SAMPLE_ELEMENTS // max(per_example, 1))
    out = [tuple([batch, *d[1:]]) if d else () for d in dims]
    return out if isinstance(spec, list) else out[0]


def shrink_note(spec: Any, shape: Any) -> str:
    """What :func:`batched` did to the batch of ``spec`` to get ``shape``, in words: ''
    when it kept the batch asked for (``DEFAULT_BATCH`` for a None batch)."""
    asked_in = spec if isinstance(spec, list) else [spec]
    got = (shape if isinstance(shape, list) else [shape])[0]
    asked = min((int(s[0]) for s in asked_in if s and s[0] is not None),
                default=DEFAULT_BATCH)
    if not got or got[0] >= asked:
        return ""
    return (f"batch {got[0]}, not {asked}: the sample is kept under "
            f"{MAX_SAMPLE_ELEMENTS:,} values")


def shape_of(x: Any) -> Any:
    """The shape of a sample: a tuple, or a list of tuples for several inputs."""
    if isinstance(x, (list, tuple)):
        return [tuple(np.shape(a)) for a in x]
    return tuple(np.shape(x))


def as_sample(value: Any) -> Any:
    """A user's ``sample=``: one array, or several inputs given as a list (or tuple) of
    arrays, as Keras takes them. Nested Python lists of numbers are one array; a list
    whose items differ in shape is a list of inputs."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and value:
        arrays = all(isinstance(v, np.ndarray) for v in value)
        ragged = all(np.ndim(v) > 0 for v in value) and \
            len({np.shape(v) for v in value}) > 1
        if arrays or ragged:
            return [np.asarray(v) for v in value]
    return np.asarray(value)


def candidate_shapes(config: dict[str, Any]) -> list[tuple[int, ...]]:
    """Sample shapes (batch excluded) to try for a config, most likely first."""
    name = config.get("class_name", "")
    first = [s for tag, s in _HINTS if tag in name]
    for key, value in (config.get("config") or {}).items():  # target_shape, batch_shape...
        if "shape" in key and isinstance(value, list) and value and \
                all(isinstance(d, int) or d is None for d in value):
            dims = tuple(8 if d is None else d for d in value)
            batched_key = key.startswith("batch")
            own = dims[1:] if batched_key else dims
            if own and all(d > 0 for d in own):
                first += [own, (int(np.prod(own)),)]
    shapes = first + [s for s in _CANDIDATES if s not in first]
    if (config.get("config") or {}).get("data_format") == "channels_first":
        shapes = [s if len(s) < 3 else (s[-1], *s[:-1]) for s in shapes]
    return shapes


# -- the arrays and the call ----------------------------------------------------------------


def takes_a_list(layer: Any) -> bool:
    """Whether ``layer`` takes its inputs as one list (merging, Attention)."""
    return bool(getattr(type(layer), "multi_input", False))


def positional_inputs(cls: type) -> int:
    """How many arrays ``call`` takes positionally (1 for most layers, 2 for MHA...)."""
    try:
        params = list(inspect.signature(cls.call).parameters.values())[1:]
    except (TypeError, ValueError):
        return 1
    n = sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            and p.default is inspect.Parameter.empty)
    if len(params) > 1 and params[1].name == "value":  # attention: call(query, value=None)
        n = max(n, 2)
    return max(1, n)


def input_names(cls: type, n: int) -> list[str]:
    """Names of the first ``n`` positional inputs of ``call`` (``query``, ``value``...)."""
    try:
        params = list(inspect.signature(cls.call).parameters.values())[1:]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return (names + [f"input_{i}" for i in range(len(names), n)])[:n]


def make_sample(layer: Any, spec: Any, seed: int) -> Any:
    """A seeded sample for ``layer`` and a shape spec: standard normal floats, integer ids
    below ``input_dim`` for layers fed ids (Embedding), tokens or sentences of the
    vocabulary for the lookups and TextVectorization; a list for a list of shapes,
    and for a layer taking a list given one shape (the shape repeated)."""
    rng = np.random.default_rng(seed)
    vals = layer.values
    ids = next((vals[k] for k in _ID_RANGES if isinstance(vals.get(k), int)), None)
    as_ids = not getattr(type(layer), "autocast", True) and ids

    def one(shape: tuple[int, ...]) -> np.ndarray:
        text = text_sample(layer, shape, seed)  # lookups, TextVectorization: their tokens
        if text is not None:
            return text
        if as_ids:
            return rng.integers(0, ids, size=shape)
        return rng.standard_normal(shape).astype(np.float32)

    if isinstance(spec, list):
        return [one(s) for s in spec]
    x = one(spec)
    if takes_a_list(layer):
        return [x, one(spec)]
    return x


def call_layer(layer: Any, x: Any) -> list[np.ndarray]:
    """Run ``layer`` on the sample ``x``: a list goes whole to a layer taking a list and
    as positional arrays to the others; one array is repeated for a layer that takes
    several positional inputs (self-attention)."""
    if isinstance(x, list) and not takes_a_list(layer):
        out = layer(*x, training=False)
    else:
        n = 1 if takes_a_list(layer) else positional_inputs(type(layer))
        out = layer(x, *([x] * (n - 1)), training=False)
    items = out if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(o) for o in items if o is not None]


def build_config_for(layer: Any, x: Any) -> dict[str, Any]:
    """Keras 3's ``build_config`` for a layer run on ``x`` (batch None): ``input_shape``
    (a list of shapes for a layer taking a list), or ``shapes_dict`` keyed by ``call``'s
    argument names for a layer taking several positional arrays."""
    shape = shape_of(x)
    if isinstance(shape, list) and not takes_a_list(layer):
        names = input_names(type(layer), len(shape))
        return {"shapes_dict": {f"{n}_shape": [None, *s[1:]] for n, s in zip(names, shape)}}
    if isinstance(shape, list):
        return {"input_shape": [[None, *s[1:]] for s in shape]}
    return {"input_shape": [None, *shape[1:]]}


__all__ = ["DEFAULT_BATCH", "MAX_SAMPLE_ELEMENTS", "shape_spec", "batched", "shape_of",
           "as_sample", "candidate_shapes", "takes_a_list", "positional_inputs",
           "input_names", "make_sample", "call_layer", "build_config_for", "shrink_note"]
