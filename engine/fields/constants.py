"""Dtypes and constant arrays named in a config (``__numpy__`` values, a Cast's dtype).

Only numeric dtypes (bool, int, uint, float) are taken: a string dtype such as
``'U200000000'`` makes a 6 GB array of two elements, ``'V'`` and ``object`` are not
numbers. A constant's size is counted from its nested lists without building anything,
checked against the budget and charged to it, and only then made.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..budget import current_budget, nested_size
from ..errors import ConfigError, describe, excerpt

#: dtypes a config may name for data (kind letters: bool, signed, unsigned, float)
NUMERIC_KINDS = "biuf"


def numeric_dtype(value: Any, path: str, *, allow_none: bool = False) -> np.dtype | None:
    """``value`` (a dtype name such as ``'float32'``) as a NumPy dtype, or a ConfigError
    naming ``path`` for anything that is not a plain numeric dtype."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or len(value) > 32:
        raise ConfigError(path, f"expected a numeric dtype name such as 'float32', got "
                          f"{describe(value)}")
    try:
        dt = np.dtype(value)
    except (TypeError, ValueError) as e:
        raise ConfigError(path, f"unknown dtype {excerpt(value)}: {e}") from None
    if dt.kind not in NUMERIC_KINDS or dt.fields is not None or dt.subdtype is not None:
        raise ConfigError(path, f"expected a numeric dtype (bool, int, uint or float), got "
                          f"{excerpt(value)}")
    return dt


def constant_array(value: Any, dtype: Any, path: str, *, charge: bool = True) -> np.ndarray:
    """A constant from a config (the ``value`` and ``dtype`` of a ``__numpy__`` dict):
    numeric dtype only, its size charged to the active budget before it is made
    (``charge=False``: checked against the activation budget instead, for a constant made
    anew on every call).

    Raises:
        ConfigError: a non-numeric dtype, a value that is not numbers in nested lists.
        BudgetError: the constant would pass the budget.
    """
    dt = numeric_dtype(dtype, f"{path}.dtype", allow_none=True)
    budget = current_budget()
    leaves, _ = nested_size(value, f"{path}.value", budget.max_weight_bytes)
    size = (dt.itemsize if dt is not None else 8) * leaves
    if charge:
        budget.charge(size, path, f"a constant of {leaves:,} values")
    else:
        budget.check_bytes(size, path, f"a constant of {leaves:,} values")
        size = 0
    try:
        arr = np.asarray(value, dtype=dt)
    except (TypeError, ValueError, OverflowError) as e:
        budget.refund(size)
        raise ConfigError(f"{path}.value", f"expected numbers (in nested lists) of dtype "
                          f"{dt or 'float'}, got {describe(value)}: {e}") from None
    if arr.dtype.kind not in NUMERIC_KINDS:
        budget.refund(size)
        raise ConfigError(f"{path}.value", f"expected numbers, got values of dtype "
                          f"{arr.dtype}")
    return arr
