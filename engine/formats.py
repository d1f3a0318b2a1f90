"""The two config formats Keras writes, and the one place their names are normalized."""

from __future__ import annotations

from typing import Any

KERAS3 = "keras3"
KERAS2 = "keras2"
FORMATS = (KERAS3, KERAS2)

_ALIASES = {"keras3": KERAS3, "k3": KERAS3, "3": KERAS3,
            "keras2": KERAS2, "k2": KERAS2, "2": KERAS2}


def normalize_format(fmt: Any) -> str:
    """``'keras3'``, ``'K3'``, ``'3'`` or ``3`` -> ``KERAS3`` (and the same for Keras 2).

    Raises:
        ValueError: for anything else.
    """
    if fmt is KERAS3 or fmt is KERAS2:
        return fmt
    out = _ALIASES.get(str(fmt).strip().lower()) if isinstance(fmt, (str, int)) and \
        not isinstance(fmt, bool) else None
    if out is None:
        raise ValueError(f"format: expected 'keras3' or 'keras2', got {fmt!r}")
    return out
