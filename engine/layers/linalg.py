"""Matrix products of the inference path (tests/bench/bench_applications.py measures them).

``x @ w`` with two or three rows and a large weight matrix (VGG16's 4608x4096 classifier at
batch 2) is a memory-bound GEMM in which OpenBLAS packs the whole of ``w`` before using it:
one vector-matrix product per row streams ``w`` once per row and takes about half the
time (measured: 7 ms against 13.5 ms at batch 2; from four rows on the GEMM is as fast or
faster).
"""

from __future__ import annotations

import numpy as np

__all__ = ["matmul_rows"]

#: row counts for which one vector-matrix product per row beats the GEMM (measured)
GEMV_ROWS = (2, 3)
#: weight elements from which the GEMM's packing of ``w`` dominates (about 4 MB float32)
GEMV_MIN_WEIGHTS = 1 << 20


def matmul_rows(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w`` for ``x`` (..., K) and a 2-D ``w`` (K, N): a new array (..., N), one
    vector-matrix product per row when that is faster (few rows, large ``w``)."""
    rows = x.size // x.shape[-1] if x.ndim and x.shape[-1] else 0
    if rows not in GEMV_ROWS or w.size < GEMV_MIN_WEIGHTS or w.ndim != 2 or \
            x.dtype != w.dtype or x.dtype.kind != "f":
        return x @ w
    flat = x.reshape(rows, x.shape[-1])
    out = np.empty((rows, w.shape[1]), dtype=x.dtype)
    for i in range(rows):
        np.matmul(flat[i], w, out=out[i])
    return out.reshape(x.shape[:-1] + (w.shape[1],))
