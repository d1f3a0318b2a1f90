"""The budget: how many bytes a model may allocate, and how much time it may spend.

One :class:`Budget` covers everything made by one ``deserialize`` (or ``engine.load``)
call: the weights of every layer and sub-layer together, and the constants read from the
config, counted in bytes of their dtype (float64 counts twice float32). Its second limit
is the forward pass: before a layer runs, its output size is computed from the input
shapes, and a call whose output (or a large intermediate it declares) would pass
``max_activation_bytes`` is refused. Everything is checked before anything is allocated,
and a refusal is a :class:`~engine.errors.BudgetError` naming the layer.

It also caps how many layers and nodes (layer calls) the configs of one model may list
(``max_layers``, ``max_nodes``, 10,000 each by default): counted before any layer is made,
so a config listing a million layers is refused at once.

The defaults (``DEFAULT_MAX_WEIGHT_BYTES``, ``DEFAULT_MAX_ACTIVATION_BYTES``,
``DEFAULT_MAX_INIT_FLOPS``, ``DEFAULT_MAX_LAYERS``, ``DEFAULT_MAX_NODES``) are module
constants; ``deserialize(..., max_weight_bytes=N, max_activation_bytes=N, max_layers=N,
max_nodes=N)`` (and the same keywords of ``engine.load`` and ``engine.model_from_json``) or
``deserialize(..., budget=Budget(...))`` change them.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .errors import BudgetError, describe

#: default: the most bytes all the weights and constants of one model may take (1 GiB)
DEFAULT_MAX_WEIGHT_BYTES = 2**30
#: default: the most bytes one layer call's output (or intermediate) may take (1 GiB)
DEFAULT_MAX_ACTIVATION_BYTES = 2**30
#: default: the most floating-point operations one initializer may spend (Orthogonal's QR)
DEFAULT_MAX_INIT_FLOPS = 2 * 10**10
#: default: the most layers the configs of one model may list (nested models included)
DEFAULT_MAX_LAYERS = 10_000
#: default: the most nodes (layer calls, ``inbound_nodes`` entries) of one model's configs
DEFAULT_MAX_NODES = 10_000
#: deprecated element budget (``max_weight_elements``): what the byte default was in elements
DEFAULT_MAX_WEIGHT_ELEMENTS = 2**28
#: how deeply lists and dicts may nest in a config, and layers inside layers
MAX_CONFIG_DEPTH = 64
MAX_LAYER_DEPTH = 16


def human_bytes(n: int) -> str:
    """``1.07 GB`` (decimal units, as the issue and most tools report memory)."""
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            return f"{n / size:,.2f} {unit}"
    return f"{n:,} bytes"


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {describe(value)}")
    return value


def itemsize(dtype: Any) -> int:
    """Bytes per element of ``dtype`` (a name, np.dtype or policy); 4 when unknown."""
    import numpy as np  # numpy is always there; imported here to keep this module a leaf

    try:
        return int(np.dtype(getattr(dtype, "compute_dtype", dtype)).itemsize) or 1
    except (TypeError, ValueError):
        return 4


_ITEMSIZE = {"float16": 2, "float32": 4, "float64": 8, "int32": 4, "int64": 8, "uint8": 1,
             "bool": 1}


def shape_size(shape: Any) -> int | None:
    """Elements in ``shape`` (a tuple of ints; None when a size is unknown)."""
    if not isinstance(shape, (tuple, list)) or None in shape:
        return None
    try:
        return math.prod(shape)
    except TypeError:  # not all ints
        return None


class Budget:
    """Limits for one model: weight bytes (a running total), activation bytes (per call),
    initializer flops (per weight).

    Args:
        max_weight_bytes: every weight and constant of the model together, in bytes.
        max_activation_bytes: one layer call's output (or declared intermediate), in bytes.
        max_init_flops: the cost of one weight's initializer (Orthogonal: a QR).
        max_weight_elements: deprecated element count for the whole model; when given, it
            is checked as well as the bytes.
        max_layers: how many layers the model's configs may list, nested models and their
            layers included (``DEFAULT_MAX_LAYERS``, 10,000).
        max_nodes: how many nodes (calls of layers in functional configs) they may list
            (``DEFAULT_MAX_NODES``, 10,000).

    The models and files code calls :meth:`charge` for whatever it allocates from a config
    or a file, and :meth:`check_output` before running something whose output size it knows.
    """

    __slots__ = ("max_weight_bytes", "max_activation_bytes", "max_init_flops",
                 "max_weight_elements", "weight_bytes", "weight_elements", "_deferred",
                 "max_layers", "max_nodes", "layers", "nodes")

    def __init__(self, max_weight_bytes: int = DEFAULT_MAX_WEIGHT_BYTES,
                 max_activation_bytes: int = DEFAULT_MAX_ACTIVATION_BYTES,
                 max_init_flops: int = DEFAULT_MAX_INIT_FLOPS,
                 max_weight_elements: int | None = None,
                 max_layers: int = DEFAULT_MAX_LAYERS, max_nodes: int = DEFAULT_MAX_NODES):
        self.max_weight_bytes = _positive("max_weight_bytes", max_weight_bytes)
        self.max_activation_bytes = _positive("max_activation_bytes", max_activation_bytes)
        self.max_init_flops = _positive("max_init_flops", max_init_flops)
        self.max_weight_elements = None if max_weight_elements is None else \
            _positive("max_weight_elements", max_weight_elements)
        self.max_layers = _positive("max_layers", max_layers)
        self.max_nodes = _positive("max_nodes", max_nodes)
        self.weight_bytes = 0
        self.weight_elements = 0
        self.layers = 0
        self.nodes = 0
        self._deferred: list[Callable[[], None]] | None = None

    @property
    def element_limit(self) -> int:
        """An element count for code that counts elements (lookup tables, filter banks)."""
        if self.max_weight_elements is not None:
            return self.max_weight_elements
        return self.max_weight_bytes // 4

    def remaining_bytes(self) -> int:
        return max(0, self.max_weight_bytes - self.weight_bytes)

    def charge(self, nbytes: int, where: str, what: Any = "", elements: int | None = None,
               ) -> None:
        """Count ``nbytes`` (and ``elements``) more against the model's total, or raise a
        BudgetError naming ``where`` (nothing is counted then). Call it before allocating.
        ``what`` (a string, or a function making one) is used only in the message."""
        nbytes = int(nbytes)
        total = self.weight_bytes + nbytes
        over = total > self.max_weight_bytes or (
            elements is not None and self.max_weight_elements is not None and
            self.weight_elements + elements > self.max_weight_elements)
        if not over:  # the common case: no message is built
            self.weight_bytes = total
            if elements is not None:
                self.weight_elements += elements
            return
        if callable(what):
            what = what()
        what = what or f"{nbytes:,} bytes"
        if total > self.max_weight_bytes:
            before = (f" (the model's weights so far take {human_bytes(self.weight_bytes)})"
                      if self.weight_bytes else "")
            raise BudgetError(where, f"{what} would take {human_bytes(nbytes)}{before}, over "
                              f"the weight budget of {human_bytes(self.max_weight_bytes)} "
                              f"for the whole model. Use smaller sizes, or raise the budget "
                              f"with deserialize(..., max_weight_bytes=N) or engine.load"
                              f"(..., max_weight_bytes=N) (max_weight_elements=N, "
                              f"deprecated, counts elements).")
        if elements is not None and self.max_weight_elements is not None and \
                self.weight_elements + elements > self.max_weight_elements:
            raise BudgetError(where, f"{what} would allocate {elements:,} weight elements, "
                              f"over the budget of {self.max_weight_elements:,} "
                              f"(max_weight_elements, deprecated: use max_weight_bytes).")
        self.weight_bytes = total
        if elements is not None:
            self.weight_elements += elements

    def refund(self, nbytes: int, elements: int = 0) -> None:
        """Give back what :meth:`charge` counted (a build that failed after charging)."""
        self.weight_bytes = max(0, self.weight_bytes - int(nbytes))
        self.weight_elements = max(0, self.weight_elements - int(elements))

    def count_layers(self, n: int, where: str) -> None:
        """Count ``n`` more layers listed by a config (before any is made), or raise a
        BudgetError naming ``where``."""
        if self.layers + n > self.max_layers:
            raise BudgetError(where, f"{n:,} layers (with the {self.layers:,} counted before) "
                              f"are more than the {self.max_layers:,} a model may have. "
                              f"Raise the cap with deserialize(..., max_layers=N) or "
                              f"engine.load(..., max_layers=N).")
        self.layers += n

    def count_nodes(self, n: int, where: str) -> None:
        """Count ``n`` more nodes (layer calls) listed by a config, or raise a
        BudgetError naming ``where``."""
        if self.nodes + n > self.max_nodes:
            raise BudgetError(where, f"{n:,} nodes (layer calls; with the {self.nodes:,} "
                              f"counted before) are more than the {self.max_nodes:,} a model "
                              f"may have. Raise the cap with deserialize(..., max_nodes=N) or "
                              f"engine.load(..., max_nodes=N).")
        self.nodes += n

    def check_bytes(self, nbytes: int, where: str, what: str) -> None:
        """A transient allocation of ``nbytes`` (an output, an intermediate) against the
        activation budget; nothing is counted."""
        if nbytes > self.max_activation_bytes:
            raise BudgetError(where, f"{what} would take {human_bytes(nbytes)}, over the "
                              f"activation budget of {human_bytes(self.max_activation_bytes)} "
                              f"per layer call. Use smaller inputs or sizes, or raise it with "
                              f"deserialize(..., max_activation_bytes=N).")

    def check_output(self, shape: Any, dtype: Any, where: str, what: Any = "its output",
                     ) -> int:
        """Refuse an array of ``shape`` and ``dtype`` over the activation budget; its
        bytes (0 when a size is unknown). ``shape`` may be a list of shapes; ``what`` (a
        string, or a function giving one) is only rendered for the error."""
        shapes = shape if isinstance(shape, list) else [shape]
        size = _ITEMSIZE.get(dtype) or itemsize(dtype)
        nbytes = 0
        for s in shapes:
            n = shape_size(s)
            if n is not None:
                nbytes += n * size
        if nbytes > self.max_activation_bytes:
            shown = " and ".join(str(tuple(s)) for s in shapes if isinstance(s, (tuple, list)))
            label = what() if callable(what) else what
            self.check_bytes(nbytes, where, f"{label} of shape {shown}")
        return nbytes

    def check_flops(self, flops: int, where: str, what: str) -> None:
        """Refuse a computation of about ``flops`` operations over ``max_init_flops``."""
        if flops > self.max_init_flops:
            raise BudgetError(where, f"{what} would cost about {flops:.2g} operations, over "
                              f"the time budget of {self.max_init_flops:.2g} "
                              f"(max_init_flops; about 10 s). Use a smaller layer or a "
                              f"cheaper initializer, or raise it with "
                              f"deserialize(..., budget=Budget(max_init_flops=N)).")

    # -- allocating after everything was counted ------------------------------------
    @contextlib.contextmanager
    def deferring(self) -> Iterator[Budget]:
        """Inside the block, layers only declare and charge their weights; the arrays are
        filled when the block ends without error (so a model over the budget is refused
        before any of its weights exists). Nested blocks join the outer one."""
        if self._deferred is not None:
            yield self
            return
        self._deferred = []
        try:
            yield self
            while self._deferred:
                jobs, self._deferred = self._deferred, []
                for job in jobs:
                    job()
        finally:
            self._deferred = None

    def defer(self, job: Callable[[], None]) -> bool:
        """Run ``job`` (an allocation) at the end of :meth:`deferring`; False (not taken)
        outside such a block."""
        if self._deferred is None:
            return False
        self._deferred.append(job)
        return True

    def __repr__(self) -> str:
        return (f"Budget(max_weight_bytes={self.max_weight_bytes}, max_activation_bytes="
                f"{self.max_activation_bytes}, used={self.weight_bytes})")


#: the budget of the deserialize/load/build in progress (None: each layer has its own)
_active: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "layerlab_budget", default=None)


def make_budget(budget: Budget | None = None, *, max_weight_bytes: int | None = None,
                max_activation_bytes: int | None = None,
                max_weight_elements: int | None = None, max_layers: int | None = None,
                max_nodes: int | None = None) -> Budget:
    """The budget for one deserialize/load call from its keywords (a given ``budget``
    object is used as is, and the keywords must then be left out)."""
    given = (max_weight_bytes, max_activation_bytes, max_weight_elements, max_layers,
             max_nodes)
    if budget is None and given == (None,) * len(given) and _active.get() is not None:
        return _active.get()  # a deserialize inside another one shares its budget
    if budget is not None:
        if not isinstance(budget, Budget):
            raise ValueError(f"budget: expected an engine.budget.Budget, got "
                             f"{describe(budget)}")
        if given != (None,) * len(given):
            raise ValueError("budget: give either a Budget or the max_* keywords, not both")
        return budget
    kw: dict[str, int] = {}
    for key, value in (("max_weight_bytes", max_weight_bytes), ("max_layers", max_layers),
                       ("max_activation_bytes", max_activation_bytes),
                       ("max_nodes", max_nodes)):
        if value is not None:
            kw[key] = value
    if max_weight_elements is not None:
        _positive("max_weight_elements", max_weight_elements)
        kw["max_weight_elements"] = max_weight_elements
        kw.setdefault("max_weight_bytes", max(
            DEFAULT_MAX_WEIGHT_BYTES, max_weight_elements * 4))
    return Budget(**kw)


@contextlib.contextmanager
def using_budget(budget: Budget) -> Iterator[Budget]:
    """Everything created or built inside the block counts against ``budget``."""
    token = _active.set(budget)
    try:
        yield budget
    finally:
        _active.reset(token)


@contextlib.contextmanager
def weight_budget(max_weight_elements: int) -> Iterator[None]:
    """Deprecated: layers made inside the block share a budget of this many weight
    elements (use ``using_budget(Budget(max_weight_bytes=N))``)."""
    check_budget_value(max_weight_elements)
    with using_budget(make_budget(max_weight_elements=max_weight_elements)):
        yield


def check_budget_value(max_weight_elements: Any) -> None:
    _positive("max_weight_elements", max_weight_elements)


def set_budget(budget: Budget) -> contextvars.Token:
    """Make ``budget`` active; undo with ``reset_budget(token)`` (deserialize's hot path)."""
    return _active.set(budget)


def reset_budget(token: contextvars.Token) -> None:
    _active.reset(token)


def active_budget() -> Budget | None:
    """The budget of the deserialize/load/build in progress, or None."""
    return _active.get()


def current_budget() -> Budget:
    """The active budget, or a new default one (a layer made in Python has its own)."""
    budget = _active.get()
    return budget if budget is not None else Budget()


def nested_size(value: Any, path: str, limit: int) -> tuple[int, int]:
    """(number of scalar leaves, depth) of nested lists/tuples ``value``, counted without
    recursion and without allocating; refused over ``limit`` leaves or MAX_CONFIG_DEPTH."""
    from .errors import ConfigError

    leaves, depth = 0, 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, d = stack.pop()
        if isinstance(item, (list, tuple)):
            if d >= MAX_CONFIG_DEPTH:
                raise ConfigError(path, f"lists nested deeper than {MAX_CONFIG_DEPTH}")
            depth = max(depth, d + 1)
            stack.extend((x, d + 1) for x in item)
        else:
            leaves += 1
            if leaves > limit:
                raise BudgetError(path, f"more than {limit:,} values, over the budget")
    return leaves, depth


def total_bytes(shapes_and_dtypes: Iterable[tuple[Any, Any]]) -> int:
    """Bytes of arrays of these (shape, dtype) pairs (unknown sizes count 0)."""
    return sum((shape_size(s) or 0) * itemsize(d) for s, d in shapes_and_dtypes)
