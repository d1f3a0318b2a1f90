"""TextVectorization: strings to token indices (or token counts) with Keras's rules.

The text is worked on as UTF-8 bytes, as TensorFlow does: ``lower`` changes ASCII letters
only (``'ÜBER'`` becomes ``'Über'``), ``strip_punctuation`` deletes the 32 ASCII punctuation
characters of Keras's regex, ``whitespace`` splits on ASCII whitespace only (a non-breaking
space does not split), ``character`` splits into Unicode code points. ngrams join tokens
with one space, widths in the order given. The vocabulary lives in an inner
:class:`StringLookup` with mask token ``""`` (index 0 pads int outputs) and one OOV index.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ...errors import ConfigError, InputError, describe
from ...fields import Bool, Choice, Int, Json
from ...fields.ranges import NumberList
from ...formats import KERAS2, KERAS3
from ..base import Layer
from .lookup import (
    StringLookup,
    Vocabulary,
    _vocab_size_field,
    cast_text_input,
    check_budget,
    encode_lookups,
    lenient_dtype,
)
from .vocab_adapt import TokenCounts, adapt_batches

__all__ = ["TextVectorization", "standardize_bytes", "split_bytes", "ngram_tokens"]

_PUNCT = b"!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'"
_MARK = -2  # the index of the sample separator in the one-pass path
_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")


#: the widest n-gram (and the longest list of widths) a config may ask for
MAX_NGRAM_WIDTH = 512


class _NGrams(Json):
    """None, a positive int n (meaning widths 1..n), or a list of positive widths, each at
    most :data:`MAX_NGRAM_WIDTH`."""

    def _check(self, value: Any, path: str) -> Any:
        def ok(v: Any) -> bool:
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1

        def too_wide(v: Any) -> bool:
            return ok(v) and v > MAX_NGRAM_WIDTH

        if too_wide(value) or (isinstance(value, (list, tuple)) and (
                len(value) > MAX_NGRAM_WIDTH or any(too_wide(v) for v in value))):
            raise ConfigError(path, f"n-grams are at most {MAX_NGRAM_WIDTH} tokens wide (and at "
                              f"most {MAX_NGRAM_WIDTH} widths), got {describe(value)[:80]}; "
                              f"use a smaller width")

        if ok(value):
            return int(value)
        if isinstance(value, (list, tuple)) and value and all(ok(v) for v in value):
            return tuple(int(v) for v in value)
        raise ConfigError(path, f"expected None, a positive int or a list of positive ints, got "
                          f"{describe(value)}")


def standardize_bytes(items: list[bytes], mode: str | None) -> list[bytes]:
    """Keras's standardize on UTF-8 bytes (TF lowers ASCII only)."""
    if mode == "lower_and_strip_punctuation":
        return [b.translate(_LOWER, _PUNCT) for b in items]
    if mode == "lower":
        return [b.translate(_LOWER) for b in items]
    if mode == "strip_punctuation":
        return [b.translate(None, _PUNCT) for b in items]
    return items


def split_bytes(items: list[bytes], mode: str) -> list[list[bytes]]:
    """``whitespace``: ASCII whitespace runs (bytes.split); ``character``: code points."""
    if mode == "whitespace":
        return [b.split() for b in items]
    return [[c.encode("utf-8") for c in b.decode("utf-8", "replace")] for b in items]


def ngram_tokens(rows: list[list[bytes]], widths: tuple[int, ...]) -> list[list[bytes]]:
    """``tf.strings.ngrams(separator=" ")``: every width's n-grams, widths in order."""
    out = []
    for row in rows:
        grams: list[bytes] = []
        for w in widths:
            if w == 1:
                grams.extend(row)
            else:
                grams.extend(b" ".join(row[i:i + w]) for i in range(len(row) - w + 1))
        out.append(grams)
    return out


def _ragged_positions(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and position within the row of every element of rows of ``lengths``."""
    total = int(lengths.sum())
    row = np.repeat(np.arange(lengths.size), lengths)
    offs = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return row, offs


def _to_bytes(x: np.ndarray, encoding: str) -> list[bytes]:
    if x.dtype.kind == "S":
        return x.tolist()
    if x.dtype.kind == "U":
        return [s.encode(encoding) for s in x.tolist()]
    out = []
    for s in x.tolist():
        if isinstance(s, bytes):
            out.append(s)
        elif isinstance(s, str):
            out.append(s.encode(encoding))
        else:
            raise ValueError(f"TextVectorization expects strings, got {describe(s)}")
    return out


class TextVectorization(Layer):
    """Standardizes, splits and n-grams strings, then maps tokens to indices.

    Input shape: ``(batch,)`` or ``(batch, 1)`` strings (any shape with ``split=None``).
    Output shape: int: ``(batch, output_sequence_length)`` (or the longest sample),
    0-padded; multi_hot / count / tf_idf: ``(batch, vocabulary size)`` (or max_tokens
    with ``pad_to_max_tokens``). With ``split=None`` the last axis holds the tokens, and,
    as in Keras, a rank-1 batch is one sequence (n-grams span it; multi_hot gives one
    row). one_hot (Keras 3 only, ``split=None``: with a split Keras's output is ragged):
    the tokens' shape plus the vocabulary axis, a last axis of 1 replaced.

    Example::

        tv = TextVectorization(vocabulary=["the", "cat"], output_sequence_length=4)
        tv(np.array(["The cat sat."]))   # [[2, 3, 1, 0]]
    """

    #: own variables (idf_weights) are also written under the inner lookup, as Keras does
    own_variable_subpaths = ("_lookup_layer",)

    autocast = False
    keras_builds_at_init = True
    fields = (
        lenient_dtype(),
        Int("max_tokens", None, "Most vocabulary entries (padding and OOV included).", min=2),
        Choice("standardize", "lower_and_strip_punctuation", "Text standardization.",
               choices=("lower_and_strip_punctuation", "lower", "strip_punctuation"),
               optional=True),
        Choice("split", "whitespace", "How to split into tokens.",
               choices=("whitespace", "character"), optional=True),
        _NGrams("ngrams", None, "n-gram widths: n means 1..n."),
        Choice("output_mode", "int", "Output encoding.",
               choices=("int", "one_hot", "multi_hot", "count", "tf_idf", "binary", "tf-idf")),
        Int("output_sequence_length", None, "Pad or cut int outputs to this length.", min=0),
        Bool("pad_to_max_tokens", False, "Pad encoded outputs to max_tokens."),
        Bool("sparse", False, "Sparse output (not supported: dense only)."),
        Bool("ragged", False, "Ragged output (not supported: padded dense only)."),
        Vocabulary("vocabulary", None, "The tokens (an inline list; never a file path)."),
        NumberList("idf_weights", None, "IDF weights (tf_idf), one per vocabulary entry."),
        Json("encoding", "utf-8", "Text encoding of the strings."),
        _vocab_size_field(),
    )

    def _cast(self, x: Any) -> np.ndarray:
        return cast_text_input(self, x)

    def _post_init(self) -> None:
        mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(self.output_mode,
                                                                self.output_mode)
        self._values["output_mode"] = mode
        if self.ragged:
            raise self.config_error("ragged", "ragged outputs are not supported by layerlab; "
                                    "set it to false (int outputs are 0-padded)")
        if self.sparse:
            raise self.config_error("sparse", "sparse outputs are not supported by layerlab; "
                                    "set it to false")
        if mode == "one_hot" and self.source_format == KERAS2:
            raise self.config_error("output_mode", "Keras 2's TextVectorization has no "
                                    "'one_hot' output_mode (it takes 'int', 'multi_hot', "
                                    "'count', 'tf_idf'); use 'multi_hot'")
        if mode == "one_hot" and self.split is not None:
            raise self.config_error("output_mode", f"'one_hot' with split={self.split!r} gives "
                                    f"Keras a ragged output (one row per token, a different "
                                    f"number per string), and ragged outputs are not "
                                    f"supported; set split=None (each string is one token) "
                                    f"or use output_mode 'multi_hot' or 'count'")
        if mode != "int" and self.output_sequence_length is not None:
            raise self.config_error("output_sequence_length", f"only used with output_mode "
                                    f"'int', got {mode!r}")
        if self.output_sequence_length is not None:
            check_budget(self, self.output_sequence_length, "output_sequence_length")
        ngrams = self.ngrams
        self._widths = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        path = self._path
        self._lookup = StringLookup(
            max_tokens=self.max_tokens, vocabulary=self.vocabulary,
            idf_weights=self.idf_weights, pad_to_max_tokens=self.pad_to_max_tokens,
            mask_token="", output_mode=mode, encoding=self.encoding,
            _config_path=path, _source_format=self.source_format)
        self._values["frozen_vocabulary_size"] = self._lookup.vocabulary_size()

    def get_build_config(self) -> dict[str, Any] | None:
        return {"input_shape": None}  # Keras 3 builds this layer at construction

    # -- vocabulary ------------------------------------------------------------------------
    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        """The vocabulary; with special tokens a token's position is its index."""
        return self._lookup.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        return self._lookup.vocabulary_size()

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Replace the vocabulary (and IDF weights for tf_idf)."""
        self._lookup.set_vocabulary(vocabulary, idf_weights)
        self._values["frozen_vocabulary_size"] = self._lookup.vocabulary_size()

    def adapt(self, data: Any, batch_size: int | None = None, steps: int | None = None) -> None:
        """Learn the vocabulary (and tf_idf's IDF weights) from ``data`` as Keras does: an
        array or list of strings (each one document), or an iterable of batches (at most
        ``steps``); the text is standardized, split and n-grammed as in ``call``. Tokens by
        descending count, ties by descending token, at most ``max_tokens`` entries with
        the padding and OOV ones. ``batch_size`` is accepted and unused, as in Keras."""
        if self.vocabulary is not None:
            raise ValueError(f"TextVectorization {self.name!r}: cannot adapt a layer given a "
                             f"vocabulary in its config")
        counts = TokenCounts(self.output_mode == "tf_idf")
        enc = self.encoding
        for batch, whole in adapt_batches(data, steps):
            x = cast_text_input(self, batch)
            if x.ndim == 0:
                x = x.reshape(1)
            if x.ndim == 1 and (whole or self.split is not None):
                x = x.reshape(-1, 1)  # one document per string
            elif x.ndim == 1:
                x = x.reshape(1, -1)  # a batch of tokens reaching the lookup: one document
            rows, _ = self.tokenize(x)
            counts.update([[t.decode(enc) for t in row] for row in rows])
        self._lookup.learn_vocabulary(counts)
        self._values["frozen_vocabulary_size"] = self._lookup.vocabulary_size()

    def save_assets(self) -> dict[str, bytes]:
        """The asset files Keras writes for this layer, by path under the layer's asset
        directory: ``vocabulary.txt`` and the inner lookup's ``_lookup_layer/vocabulary.txt``
        (the same text); nothing when the vocabulary is inline in the config."""
        files = self._lookup.save_assets()
        return {**files, **{f"_lookup_layer/{k}": v for k, v in files.items()}}

    def load_assets(self, files: dict[str, bytes]) -> None:
        """Read ``vocabulary.txt`` (or ``_lookup_layer/vocabulary.txt``) from the assets."""
        name = "vocabulary.txt"
        if name not in files and f"_lookup_layer/{name}" in files:
            files = {name: files[f"_lookup_layer/{name}"]}
        self._lookup.load_assets(files)
        self._values["frozen_vocabulary_size"] = self._lookup.vocabulary_size()

    def save_own_variables(self) -> dict[str, np.ndarray]:
        return self._lookup.save_own_variables()

    def load_own_variables(self, store: dict[str, np.ndarray]) -> None:
        self._lookup.load_own_variables(store)

    # -- calling ---------------------------------------------------------------------------
    def tokenize(self, inputs: Any) -> tuple[list[list[bytes]], tuple[int, ...]]:
        """Standardized, split and n-grammed tokens per sample, and the samples' shape."""
        x = np.asarray(inputs)
        if x.dtype.kind not in "USO":
            raise InputError(self._where_input(),
                             f"TextVectorization {self.name!r} expects strings, got an array "
                             f"of {x.dtype}")
        if self.split is not None:
            if x.ndim > 1:
                if x.shape[-1] != 1:
                    raise InputError(self._where_input(),
                                     f"TextVectorization {self.name!r}: to split strings the "
                                     f"inputs must have rank 1 or a last axis of 1, got shape "
                                     f"{x.shape}")
                x = x[..., 0]
            if x.ndim != 1:
                raise InputError(self._where_input(),
                                 f"TextVectorization {self.name!r}: expected a batch of "
                                 f"strings, got shape {x.shape}")
        one_row = self.split is None and x.ndim <= 1
        if one_row:  # Keras: a rank-1 batch not split is one sequence of tokens
            x = x.reshape(1, -1)
        shape = x.shape
        items = standardize_bytes(_to_bytes(x.reshape(-1), self.encoding), self.standardize)
        if self.split is not None:
            rows = split_bytes(items, self.split)
        else:
            last = shape[-1] if shape else 1
            rows = [items[i:i + last] for i in range(0, len(items), last)]
            shape = () if one_row else shape[:-1]
        if self._widths is not None:
            rows = ngram_tokens(rows, self._widths)
        return rows, shape

    def _fast_ids(self, inputs: Any, oov: int) -> tuple | None:
        """Whitespace split without ngrams, all samples at once: the standardized text of
        every sample joined around a NUL marker, split and looked up in one pass each.
        Returns (ids, starts, lengths, shape): sample ``i``'s ids are
        ``ids[starts[i]:starts[i] + lengths[i]]``. None when it does not apply (other
        splits, ngrams, NULs in the text)."""
        if self.split != "whitespace" or self._widths is not None:
            return None
        x = np.asarray(inputs)
        if x.ndim == 2 and x.shape[-1] == 1:
            x = x[:, 0]
        if x.ndim != 1 or x.dtype.kind not in "US" or x.size == 0:
            return None
        n = x.shape[0]
        if x.dtype.kind == "U":
            joined = " \x00 ".join(x.tolist()).encode(self.encoding)
        else:
            joined = b" \x00 ".join(x.tolist())
        if joined.count(b"\x00") != n - 1:
            return None
        joined = standardize_bytes([joined], self.standardize)[0]
        tokens = joined.split()
        index = self._marked_index()
        ids = np.fromiter(map(index.get, tokens, itertools.repeat(oov)), np.int64, len(tokens))
        marks = np.flatnonzero(ids == _MARK)
        starts = np.empty(n, np.int64)
        starts[0] = 0
        starts[1:] = marks + 1
        ends = np.empty(n, np.int64)
        ends[:-1] = marks
        ends[-1] = ids.size
        return ids, starts, ends - starts, (n,)

    def _slow_ids(self, inputs: Any, oov: int, mask: int) -> tuple:
        rows, shape = self.tokenize(inputs)
        get = self._lookup.bytes_index().get
        ids = [[get(t, oov) if t else mask for t in row] for row in rows]
        lengths = np.fromiter(map(len, ids), np.int64, len(ids))
        flat = np.fromiter(itertools.chain.from_iterable(ids), np.int64, int(lengths.sum()))
        return flat, np.cumsum(lengths) - lengths, lengths, shape

    def _marked_index(self) -> dict[bytes, int]:
        index = self._lookup.bytes_index()
        cached = self.__dict__.get("_marked")
        if cached is None or cached[0] is not index:
            cached = (index, {**index, b"\x00": _MARK})
            self.__dict__["_marked"] = cached
        return cached[1]

    def call(self, inputs):
        lk = self._lookup
        mode = self.output_mode
        oov, mask = (1, 0) if mode == "int" else (0, -1)
        ids, starts, lengths, shape = self._fast_ids(inputs, oov) or \
            self._slow_ids(inputs, oov, mask)
        nrows = lengths.size
        if mode == "int":
            width = self.output_sequence_length
            if width is None:
                width = int(lengths.max()) if nrows else 0
            take = np.minimum(lengths, width)
            row, offs = _ragged_positions(take)
            out = np.zeros((nrows, width), np.int64)
            out.reshape(-1)[row * width + offs] = ids[starts[row] + offs]
            return out.reshape(tuple(shape) + (width,))
        lk._require_vocab()
        depth = lk._depth()
        row, offs = _ragged_positions(lengths)
        vals = ids[starts[row] + offs]
        if mode == "one_hot":
            idx = vals.reshape(tuple(shape) + (-1,))
            return encode_lookups(idx, "one_hot", depth, lk._count_dtype())
        ok = (vals >= 0) & (vals < depth)
        counts = np.bincount(row[ok] * depth + vals[ok], minlength=nrows * depth)
        counts = counts.reshape(tuple(shape) + (depth,))
        if mode == "multi_hot":
            counts = np.minimum(counts, 1)
        if mode == "tf_idf":
            return (counts.astype(np.float32) * lk._idf).astype(np.float32)
        return counts.astype(lk._count_dtype())

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self.output_mode == "int":
            return (shape[0], self.output_sequence_length)
        if self.split is None:
            if len(shape) <= 1:
                shape = shape + (1,)
        else:
            shape = shape + (None,)
        if self.split is not None and len(shape) > 2 and shape[-2] == 1:
            shape = shape[:-2] + shape[-1:]
        return self._lookup.compute_output_shape(shape)

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        cfg = super().get_config(format)
        if format == KERAS2:
            cfg["dtype"] = "string"
        else:
            cfg["dtype"] = {"module": "keras", "class_name": "DTypePolicy",
                            "config": {"name": "float32"}, "registered_name": None}
        cfg["vocabulary_size"] = self._lookup.vocabulary_size()
        order = ["name", "trainable", "dtype", "max_tokens", "standardize", "split", "ngrams",
                 "output_mode", "output_sequence_length", "pad_to_max_tokens", "sparse",
                 "ragged", "vocabulary", "idf_weights", "encoding", "vocabulary_size"]
        return {k: cfg[k] for k in order if k in cfg} | {k: v for k, v in cfg.items()
                                                          if k not in order}
