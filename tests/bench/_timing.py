"""Shared timing helper of the benchmark scripts (not collected by pytest)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def compare(ours: Callable[[], object], theirs: Callable[[], object] | None,
            repeat: int) -> tuple[float, float | None]:
    """Median ms of ``ours`` and of ``theirs`` (Keras; None when absent), interleaved so
    both see the same machine load."""
    ours()
    if theirs is not None:
        theirs()
    a, b = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        ours()
        a.append(time.perf_counter() - t0)
        if theirs is not None:
            t0 = time.perf_counter()
            theirs()
            b.append(time.perf_counter() - t0)
    return statistics.median(a) * 1e3, (statistics.median(b) * 1e3 if b else None)
