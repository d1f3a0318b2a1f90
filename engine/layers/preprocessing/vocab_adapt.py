"""``adapt()`` for the vocabulary layers: Keras's ``IndexLookup`` counting, in Python.

Keras's rules (``keras/src/layers/preprocessing/index_lookup.py``, ``update_state`` and
``finalize_state``):

* ``adapt(array)``: one batch; a rank-1 array becomes a column (each value one document).
  ``adapt(iterable)``: each item is a batch (at most ``steps`` of them); a rank-1 batch
  reaching the lookup is one document.
* Every token of every batch is counted; for ``output_mode="tf_idf"`` each document (a row
  of the batch) also counts once per distinct token, and the documents are counted.
* The mask and OOV tokens are dropped from the counts; the vocabulary is the tokens by
  descending count, ties by descending token (``np.lexsort((tokens, counts))[::-1]``), cut
  to ``max_tokens`` minus the special indices.
* ``idf = log(1 + documents / (1 + document_count))`` (float64, then float32); the special
  indices in front get the mean of those weights, and ``pad_to_max_tokens`` pads the back
  with zeros.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

__all__ = ["AdaptVocabulary", "TokenCounts", "adapt_batches", "idf_weights", "ranked_tokens"]


def adapt_batches(data: Any, steps: int | None = None) -> Iterator[tuple[Any, bool]]:
    """The batches ``adapt(data, steps)`` feeds, each with whether it came from an array
    given whole (then a rank-1 array is a column of one-token documents)."""
    if isinstance(data, (list, tuple, np.ndarray, str, bytes)) or not isinstance(
            data, Iterable):
        if steps is not None:
            raise ValueError("adapt(): `steps` is only used with an iterable of batches, "
                             "not with an array or a list")
        yield data, True
        return
    for i, batch in enumerate(data):
        if steps is not None and i >= steps:
            break
        yield batch, False


class TokenCounts:
    """Token counts over the batches seen (and document counts for tf_idf)."""

    def __init__(self, tf_idf: bool):
        self.counts: Counter = Counter()
        self.tf_idf = tf_idf
        self.doc_counts: Counter = Counter()
        self.documents = 0

    def update(self, rows: list[list[Any]]) -> None:
        """Count the tokens of ``rows`` (one list of tokens per document)."""
        self.counts.update(itertools.chain.from_iterable(rows))
        if self.tf_idf:
            self.doc_counts.update(itertools.chain.from_iterable(set(r) for r in rows))
            self.documents += len(rows)

    def __bool__(self) -> bool:
        return bool(self.counts)


def ranked_tokens(counts: TokenCounts, drop: tuple[Any, ...], limit: int | None) -> list:
    """The tokens by descending count, ties by descending token, without ``drop`` (the
    special tokens), at most ``limit`` of them."""
    items = [(c, t) for t, c in counts.counts.items() if t not in drop]
    items.sort(reverse=True)
    tokens = [t for _, t in items]
    return tokens if limit is None else tokens[:max(limit, 0)]


def idf_weights(counts: TokenCounts, tokens: list, front: int) -> list[float]:
    """Keras's IDF weights of ``tokens``, with ``front`` leading entries (the special
    indices) holding their mean (a float32 mean, as ``tf.reduce_mean``)."""
    df = np.fromiter((counts.doc_counts.get(t, 0) for t in tokens), np.float64, len(tokens))
    w = np.log(1.0 + counts.documents / (1.0 + df)).astype(np.float32)
    mean = np.mean(w, dtype=np.float32) if w.size else np.float32(np.nan)
    return np.concatenate([np.full(front, mean, np.float32), w]).tolist()


class AdaptVocabulary:
    """``adapt()`` for StringLookup and IntegerLookup (mixed into ``IndexLookup``, whose
    ``_cast``, ``_raw_lookup``, ``_token_start`` and ``_set_vocab`` it uses)."""

    def adapt(self, data: Any, steps: int | None = None) -> None:
        """Learn the vocabulary (and tf_idf's IDF weights) from ``data``: an array or list
        (a rank-1 one is one value per document), or an iterable of batches (at most
        ``steps``). Keras's order: by descending count, ties by descending value; at most
        ``max_tokens`` entries with the special ones (see :mod:`.vocab_adapt`)."""
        if self.vocabulary is not None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: cannot adapt a layer "
                             f"given a vocabulary in its config")
        counts = TokenCounts(self.output_mode == "tf_idf")
        for batch, whole in adapt_batches(data, steps):
            counts.update(self.adapt_rows(batch, whole))
        self.learn_vocabulary(counts)

    def adapt_rows(self, batch: Any, whole: bool) -> list[list]:
        """A batch of ``adapt`` as documents (lists of values)."""
        x = self._cast(batch)
        self._raw_lookup(x.reshape(-1)[:0])  # the lookup's own check of the input's type
        x = x.reshape(-1, 1) if (whole and x.ndim == 1) else x
        rows = x.reshape(1, -1) if x.ndim < 2 else x.reshape(x.shape[0], -1 if x.size else 0)
        if self._item == "int":
            return rows.astype(np.int64).tolist()
        return [[v.decode(self.encoding) if isinstance(v, bytes) else v for v in r]
                for r in rows.tolist()]

    def learn_vocabulary(self, counts: TokenCounts) -> None:
        """Set the vocabulary adapt() learned from ``counts`` (nothing when it is empty)."""
        if not counts:
            return
        start = self._token_start()
        limit = None if self.max_tokens is None else self.max_tokens - start
        tokens = ranked_tokens(counts, (self.mask_token, self.oov_token), limit)
        specials = self.get_vocabulary()[:start]
        idf = idf_weights(counts, tokens, start) if counts.tf_idf else None
        self._set_vocab(specials + tokens, idf, field="vocabulary")

