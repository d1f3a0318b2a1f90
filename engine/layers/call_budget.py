"""The forward budget check of a layer call, and its memo (tests/bench/bench_applications.py).

Before every call a layer computes its output shape (and its largest intermediate) from the
input shapes and checks the bytes against the activation budget: a few microseconds of
Python per layer, about 5 % of a small model's forward pass. For the built-in layers whose
shapes follow from their config and the input shapes alone (:data:`SHAPE_FROM_CONFIG`), the
answer is remembered per (input shapes, activation limit) and is valid only while every
config value of the layer is the very object it was when the answer was computed (no write
to the layer's :class:`ValueStore` since): a changed field, dtype policy or budget limit
computes and checks again. Layers whose shapes
depend on state outside their config (vocabularies, wrapped layers, models, a user's
subclass) are checked on every call.
"""

from __future__ import annotations

import itertools
from operator import is_
from typing import Any

from ..errors import ConfigError
from .shapes import plain_shapes, shape_text

#: modules whose layer classes compute their shapes from config values and input shapes only
SHAPE_FROM_CONFIG = frozenset({
    "engine.layers.activation", "engine.layers.conv.convolution", "engine.layers.conv.depthwise",
    "engine.layers.conv.transpose", "engine.layers.core.dense", "engine.layers.merging",
    "engine.layers.normalization", "engine.layers.pooling", "engine.layers.reshaping",
    "engine.layers.regularization",
})
#: classes of those modules that wrap another layer (its state is not in their config)
_WRAPPERS = frozenset({"SpectralNormalization"})
#: answers remembered per layer (different input shapes) before the memo starts over
MAX_ENTRIES = 16


def memo_allowed(cls: type) -> bool:
    """Whether the budget answers of layers of ``cls`` may be remembered."""
    return cls.__module__ in SHAPE_FROM_CONFIG and cls.__name__ not in _WRAPPERS


def memo_key(input_shape: Any, extra_shapes: Any, limit: int) -> Any:
    """A hashable key for these shapes and limit, or None (a shape that is not plain)."""
    if type(input_shape) is list:
        input_shape = tuple(input_shape)
    key = (input_shape, tuple(extra_shapes) if extra_shapes else (), limit)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def check(layer: Any, budget: Any, input_shape: Any, extra_shapes: Any) -> int:
    """``Layer.check_call_budget``: refuse a call whose declared intermediate or output would
    pass ``budget``'s activation limit; the output's bytes (0 when unknown)."""
    where = layer._path or layer.name
    nbytes = layer.call_intermediate_bytes(input_shape)
    if nbytes > budget.max_activation_bytes:
        budget.check_bytes(nbytes, where, f"{type(layer).__name__} {layer.name!r}: an "
                           f"intermediate array for inputs of shape {shape_text(input_shape)}")
    try:
        if extra_shapes:
            shape = layer.compute_output_shape(input_shape, *extra_shapes)
        else:
            shape = layer.compute_output_shape(input_shape)
    except ConfigError:
        raise
    except Exception:  # no shape inference for these inputs: the call says what is wrong
        return 0
    return budget.check_output(plain_shapes(shape), layer.compute_dtype, where,
                               lambda: f"{type(layer).__name__} {layer.name!r}: its output")


_STAMPS = itertools.count(1)


class ValueStore(dict):
    """A layer's config values (``layer._values``, made by Layer.__init__): a dict whose
    ``stamp`` is new after every write through any of its methods, so that the memos of
    a layer's checks compare one number instead of every value (:func:`values_state`)."""

    __slots__ = ("stamp",)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.stamp = next(_STAMPS)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.stamp = next(_STAMPS)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        self.stamp = next(_STAMPS)
        dict.__delitem__(self, key)

    def __ior__(self, other: Any) -> Any:
        self.update(other)
        return self

    def __reduce__(self) -> Any:
        return (ValueStore, (dict(self),))

    def __copy__(self) -> ValueStore:
        return ValueStore(self)

    def _changed(name: str) -> Any:  # type: ignore[misc]
        method = getattr(dict, name)

        def changed(self: ValueStore, *args: Any, **kwargs: Any) -> Any:
            self.stamp = next(_STAMPS)
            return method(self, *args, **kwargs)

        changed.__name__ = name
        return changed

    update = _changed("update")
    setdefault = _changed("setdefault")
    pop = _changed("pop")
    popitem = _changed("popitem")
    clear = _changed("clear")
    del _changed


def values_state(layer: Any) -> tuple:
    """What :func:`same_values` compares later: the store and its stamp (a ValueStore),
    else every value."""
    store = layer._values
    if type(store) is ValueStore:
        return (store, store.stamp)
    return (None, tuple(store.values()))


def same_values(layer: Any, state: tuple) -> bool:
    """Whether no config value of the layer was written since :func:`values_state` gave
    ``state`` (no write to its ValueStore; without one, every value is the very object
    it was: a write through a field stores a new value)."""
    store, stamp = state
    if store is not None:
        return store is layer._values and store.stamp == stamp
    now = layer._values.values()
    return len(now) == len(stamp) and all(map(is_, stamp, now))


def remembered(layer: Any, budget: Any, input_shape: Any, extra_shapes: Any) -> int:
    """:func:`check`, remembered (the layer is built and its class is one of
    :func:`memo_allowed`)."""
    values = values_state(layer)
    key = memo_key(input_shape, extra_shapes, budget.max_activation_bytes)
    if key is None:
        return check(layer, budget, input_shape, extra_shapes)
    memo = layer.__dict__.get("_budget_memo")
    if memo is not None and same_values(layer, memo[0]):
        known = memo[1].get(key)
        if known is not None:
            return known
        if len(memo[1]) >= MAX_ENTRIES:
            memo = None
    else:
        memo = None
    nbytes = check(layer, budget, input_shape, extra_shapes)  # raises when over
    if memo is None:
        memo = layer.__dict__["_budget_memo"] = (values, {})
    memo[1][key] = nbytes
    return nbytes
