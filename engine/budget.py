"""The size budget: how many weight elements one layer may allocate."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from .errors import describe

#: default size budget: the most weight elements one layer may allocate
DEFAULT_MAX_WEIGHT_ELEMENTS = 2**28

_budget: contextvars.ContextVar[int] = contextvars.ContextVar(
    "max_weight_elements", default=DEFAULT_MAX_WEIGHT_ELEMENTS)


def check_budget_value(max_weight_elements: Any) -> None:
    if isinstance(max_weight_elements, bool) or not isinstance(max_weight_elements, int) or \
            max_weight_elements < 1:
        raise ValueError(f"max_weight_elements: expected a positive int, got "
                         f"{describe(max_weight_elements)}")


@contextlib.contextmanager
def weight_budget(max_weight_elements: int) -> Iterator[None]:
    """Layers created inside the block may allocate at most this many weight elements."""
    check_budget_value(max_weight_elements)
    token = _budget.set(max_weight_elements)
    try:
        yield
    finally:
        _budget.reset(token)


def set_budget(max_weight_elements: int) -> contextvars.Token:
    """Set the budget; undo with ``reset_budget(token)`` (the hot path of deserialize)."""
    return _budget.set(max_weight_elements)


def reset_budget(token: contextvars.Token) -> None:
    _budget.reset(token)


def current_budget() -> int:
    return _budget.get()
