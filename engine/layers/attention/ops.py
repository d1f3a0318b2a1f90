"""The math the attention layers share: masked softmax, dropout, Keras's mask
combination, and the batch-parallel run of a forward pass.

Masks follow Keras: a query mask ``(B, T)``, value/key masks ``(B, S)``, an explicit
``attention_mask`` ``(B, T, S)`` and ``use_causal_mask`` are combined with AND; masked
scores get -1e9 before the softmax.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..conv import ops as conv_ops

Array = np.ndarray
_NEG = -1e9


def masked_softmax(scores: Array, mask: Array | None, zero_masked: bool) -> Array:
    """Softmax over the last axis; ``mask`` False entries get -1e9 first (and 0 after
    when ``zero_masked``)."""
    if mask is not None:
        scores = np.where(mask, scores, np.asarray(_NEG, dtype=scores.dtype))
    p = scores - scores.max(axis=-1, keepdims=True)  # a new array: in-place from here on
    np.exp(p, out=p)
    p /= p.sum(axis=-1, keepdims=True)
    if mask is not None and zero_masked:
        p = np.where(mask, p, np.asarray(0, dtype=p.dtype))
    return p


def dropout(rng: np.random.Generator, x: Array, rate: float) -> Array:
    if not 0.0 < rate < 1.0:
        return x
    keep = rng.random(x.shape) >= rate
    return (x * keep / (1.0 - rate)).astype(x.dtype)


def causal_mask(t: int, s: int) -> Array:
    """``(1, T, S)``: query i sees keys j <= i."""
    return (np.arange(t)[:, None] >= np.arange(s)[None, :])[None]


def _sliding_mask(t: int, s: int, window: int) -> Array:
    return (np.abs(np.arange(t)[:, None] - np.arange(s)[None, :]) < window)[None]


def combine_masks(t: int, s: int, *, query_mask=None, value_mask=None, key_mask=None,
                  attention_mask=None, causal: bool = False, window: int | None = None):
    """Keras's ``_compute_attention_mask``: everything ANDed, or None."""
    auto = None

    def _and(a, b):
        return b if a is None else a & b

    if query_mask is not None:
        auto = _and(auto, np.asarray(query_mask).astype(bool)[..., :, None])
    if value_mask is not None:
        auto = _and(auto, np.asarray(value_mask).astype(bool)[..., None, :])
    if key_mask is not None:
        auto = _and(auto, np.asarray(key_mask).astype(bool)[..., None, :])
    if causal:
        auto = _and(auto, causal_mask(t, s))
    if window is not None:
        auto = _and(auto, _sliding_mask(t, s, window))
    if attention_mask is not None:
        am = np.asarray(attention_mask).astype(bool)
        return am if auto is None else am & auto
    return auto


_pool: ThreadPoolExecutor | None = None


def run_batch_parallel(fn, batch: int, arrays: tuple, flops: float) -> tuple:
    """``fn(*arrays)`` -> a tuple of arrays (or None), computed on slices of the batch in
    the conv module's worker threads when the job is big (NumPy releases the GIL in its
    products; BLAS itself runs one thread). Arrays whose first axis is not the batch are
    passed whole; the results are joined along axis 0."""
    global _pool
    n = min(conv_ops.THREADS, batch)
    if n <= 1 or flops < conv_ops.PARALLEL_FLOPS:
        return fn(*arrays)
    if _pool is None:
        _pool = ThreadPoolExecutor(conv_ops.THREADS, thread_name_prefix="layerlab-attention")
    step = -(-batch // n)

    def part(i: int) -> tuple:
        return fn(*(a[i:i + step] if isinstance(a, np.ndarray) and a.ndim >= 3 and
                    a.shape[0] == batch else a for a in arrays))

    results = [f.result() for f in [_pool.submit(part, i) for i in range(0, batch, step)]]
    return tuple(None if r[0] is None else np.concatenate(r, axis=0)
                 for r in zip(*results))
