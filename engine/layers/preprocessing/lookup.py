"""Vocabulary lookups: StringLookup and IntegerLookup (and their shared base).

A vocabulary is given inline in the config (a list), set with :meth:`set_vocabulary`, or
read from a ``.keras`` archive's assets (``vocabulary.txt``, see :meth:`save_assets`). A
vocabulary given as a file path in a config is refused: a config never opens a file.

Indices, as Keras lays them out: ``[mask] [oov x num_oov_indices] tokens...`` (the mask
index only with ``output_mode="int"``). An out-of-vocabulary value goes to the single OOV
index, or with several OOV indices to ``hash(value) % num_oov_indices`` (TensorFlow's
``to_hash_bucket_fast`` for strings; ``floormod`` for integers unless Keras 3's
``oov_method="farmhash"``, salted with SipHash when ``salt`` is set).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ...errors import BudgetError, ConfigError, InputError, describe
from ...fields import Bool, Choice, Field, Int, Json, Str
from ...fields.objects import Object
from ...fields.ranges import NumberList
from ...formats import KERAS2, KERAS3
from ..base import Layer
from .hash_functions import hash_buckets
from .vocab_adapt import AdaptVocabulary

__all__ = ["IndexLookup", "StringLookup", "IntegerLookup", "Vocabulary", "encode_lookups"]

_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf", "binary", "tf-idf")
_MODE_ALIASES = {"binary": "multi_hot", "tf-idf": "tf_idf"}


class Vocabulary(Field):
    """A vocabulary: a list of strings (or of ints), without repeats. A string here would
    be a file path, which a config never opens."""

    kind = "vocabulary"

    def __init__(self, name: str, default: Any = None, doc: str = "", *, item: str = "str",
                 **kw: Any):
        super().__init__(name, default, doc, optional=True, **kw)
        self.item = item

    def expected(self) -> str:
        return f"a list of {'strings' if self.item == 'str' else 'ints'}"

    def _check(self, value: Any, path: str) -> list:
        if isinstance(value, (str, bytes)):
            raise ConfigError(path, f"a vocabulary file path ({describe(value)}) is not read: "
                              f"a config never opens files. Give the vocabulary inline as "
                              f"{self.expected()}, or load the .keras file that holds it in "
                              f"its assets")
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if not isinstance(value, (list, tuple)):
            raise self._wrong(value, path)
        out = []
        for i, v in enumerate(value):
            if self.item == "str":
                if isinstance(v, bytes):
                    v = v.decode("utf-8")
                if not isinstance(v, str):
                    raise ConfigError(f"{path}[{i}]", f"expected a string, got {describe(v)}")
            else:
                if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                    raise ConfigError(f"{path}[{i}]", f"expected an int, got {describe(v)}")
                v = int(v)
            out.append(v)
        return out


class _Salt(Json):
    """None, an int (used for both key halves) or a list of two ints."""

    def _check(self, value: Any, path: str) -> Any:
        if isinstance(value, bool):
            raise ConfigError(path, f"expected an int or a list of 2 ints, got "
                              f"{describe(value)}")
        if isinstance(value, (int, np.integer)):
            return [int(value), int(value)]
        if isinstance(value, (list, tuple)) and len(value) == 2 and all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
            return [int(v) for v in value]
        raise ConfigError(path, f"expected an int or a list of 2 ints, got {describe(value)}")


class _LenientDType(Object):
    """The layer dtype: Keras writes it but these layers decide their own output dtypes;
    legacy Keras 2 configs write ``"string"``, which is accepted (and ignored)."""

    def validate(self, value: Any, path: str, fmt: str = KERAS3) -> Any:
        if value == "string" or (isinstance(value, dict) and isinstance(
                value.get("config"), dict) and value["config"].get("name") == "string"):
            value = None
        return super().validate(value, path, fmt)


def _vocab_size_field() -> Field:
    # derived from the vocabulary: written to configs, not offered as an editor field
    return Int("frozen_vocabulary_size", None, "Written by Keras: the vocabulary size.", min=0,
               aliases=("vocabulary_size",),
               names={KERAS3: "vocabulary_size", KERAS2: "vocabulary_size"},
               widget={"hidden": True})


def lenient_dtype(default: Any = "float32") -> Object:
    return _LenientDType("dtype", default, "Layer dtype (the output dtype is Keras's).",
                         object_kind="dtype")


def check_budget(layer: Layer, size: int, what: str) -> None:
    """Refuse a vocabulary or output width over the layer's weight budget (elements)."""
    budget = layer._budget
    if size > budget:
        raise BudgetError(layer._path or layer.name, f"{type(layer).__name__} {layer.name!r}: "
                          f"{what} of {size:,} is over the budget of {budget:,} elements. "
                          f"Use a smaller vocabulary, or raise the budget with "
                          f"deserialize(..., max_weight_elements=N).")


def cast_text_input(layer: Layer, x: Any) -> np.ndarray:
    """A text layer's input as an array: numbers, str, bytes, or an object array holding
    only str/bytes (what a TensorFlow string tensor converts to) are kept as they are."""
    try:
        arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    except (ValueError, TypeError) as e:
        raise InputError(layer._where_input(), f"expected an array, got {describe(x)}: "
                         f"{e}") from e
    kind = arr.dtype.kind
    if kind == "O":
        bad = next((v for v in arr.reshape(-1).tolist() if not isinstance(v, (str, bytes))),
                   None)
        if bad is not None:
            raise InputError(layer._where_input(), f"{type(layer).__name__} {layer.name!r} "
                             f"takes strings or integers, got {describe(bad)} in an object "
                             f"array")
    elif kind in "cV":
        raise InputError(layer._where_input(), f"{type(layer).__name__} {layer.name!r} takes "
                         f"strings or integers, got an array of dtype {arr.dtype}")
    return arr


def encode_lookups(idx: np.ndarray, mode: str, depth: int, dtype: Any,
                   idf: np.ndarray | None = None) -> np.ndarray:
    """Keras's one_hot / multi_hot / count / tf_idf encoding of lookup indices; indices
    outside ``[0, depth)`` (the mask) are dropped."""
    idx = np.asarray(idx, np.int64)
    if idx.ndim == 0:
        idx = idx[None]
    if mode == "one_hot":
        if idx.ndim > 1 and idx.shape[-1] == 1:
            idx = idx[..., 0]
        out = np.zeros(idx.shape + (depth,), dtype)
        ok = (idx >= 0) & (idx < depth)
        pos = np.nonzero(ok)
        out[pos + (idx[ok],)] = 1
        return out
    lead = idx.shape[:-1]
    flat = idx.reshape(-1, idx.shape[-1])
    rows = np.repeat(np.arange(flat.shape[0]), flat.shape[1])
    cols = flat.ravel()
    ok = (cols >= 0) & (cols < depth)
    rows, cols = rows[ok], cols[ok]
    counts = np.zeros((flat.shape[0], depth), np.int64)
    if mode == "multi_hot":
        counts[rows, cols] = 1
    else:
        np.add.at(counts, (rows, cols), 1)
    out = counts.reshape(lead + (depth,))
    if mode == "tf_idf":
        return (out.astype(np.float32) * np.asarray(idf, np.float32)).astype(np.float32)
    return out.astype(dtype)


class IndexLookup(AdaptVocabulary, Layer):
    """The shared base of StringLookup and IntegerLookup (Keras's ``IndexLookup``)."""

    abstract = True
    autocast = False
    keras_builds_at_init = True
    _item = "str"

    def __init__(self, *args: Any, _source_format: str = KERAS3, **kwargs: Any):
        self._tokens: list = []
        self._index: dict = {}
        self._bytes_index: dict[bytes, int] | None = None
        self._idf: np.ndarray | None = None
        self._has_vocab = False
        super().__init__(*args, _source_format=_source_format, **kwargs)

    def _cast(self, x: Any) -> np.ndarray:
        return cast_text_input(self, x)

    # -- config checks -------------------------------------------------------------------
    def _post_init(self) -> None:
        mode = _MODE_ALIASES.get(self.output_mode, self.output_mode)
        if mode != self.output_mode:
            self._values["output_mode"] = mode
        if self.sparse:
            raise self.config_error("sparse", "sparse outputs are not supported by layerlab; "
                                    "set it to false (dense outputs hold the same values)")
        if self.pad_to_max_tokens and self.max_tokens is None:
            raise self.config_error("max_tokens", "pad_to_max_tokens=True needs max_tokens")
        if self.invert and mode != "int":
            raise self.config_error("invert", f"invert=True needs output_mode 'int', got "
                                    f"{mode!r}")
        if self.idf_weights is not None and mode != "tf_idf":
            raise self.config_error("idf_weights", f"only used with output_mode 'tf_idf', got "
                                    f"{mode!r}")
        if mode == "tf_idf" and self.vocabulary is not None and self.idf_weights is None:
            raise self.config_error("idf_weights", "output_mode 'tf_idf' with a vocabulary "
                                    "needs idf_weights (one per vocabulary entry)")
        if self.max_tokens is not None:
            check_budget(self, self.max_tokens, "max_tokens")
        self._check_salt()
        if self.vocabulary is not None:
            self._set_vocab(self.vocabulary, self.idf_weights, field="vocabulary")

    def _check_salt(self) -> None:
        pass

    # -- indices ---------------------------------------------------------------------------
    def _oov_start(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self) -> int:
        return self._oov_start() + self.num_oov_indices

    def vocabulary_size(self) -> int:
        """The vocabulary size, mask and OOV indices included."""
        return self._token_start() + len(self._tokens)

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        """The vocabulary: a token's position is its index when ``include_special_tokens``."""
        specials = [self.mask_token] * self._oov_start() + \
            [self.oov_token] * self.num_oov_indices
        return (specials if include_special_tokens else []) + list(self._tokens)

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Replace the vocabulary (and the IDF weights for ``output_mode="tf_idf"``)."""
        if isinstance(vocabulary, (str, bytes)):
            raise ValueError(f"{type(self).__name__} {self.name!r}: a vocabulary file path "
                             f"is not read; pass the vocabulary as a list")
        vocab = self.field("vocabulary").validate(vocabulary, "vocabulary")
        if idf_weights is not None:
            idf_weights = np.asarray(idf_weights, np.float64).reshape(-1).tolist()
        self._set_vocab(vocab, idf_weights, field="vocabulary")

    def _set_vocab(self, vocab: list, idf: list | None, field: str) -> None:
        mode = self.output_mode
        if mode == "tf_idf" and idf is None:
            raise self.config_error("idf_weights", "output_mode 'tf_idf' needs idf_weights "
                                    "with the vocabulary")
        if mode != "tf_idf" and idf is not None:
            raise self.config_error("idf_weights", f"only used with output_mode 'tf_idf', got "
                                    f"{mode!r}")
        if not vocab:
            raise self.config_error(field, "cannot set an empty vocabulary")
        check_budget(self, len(vocab), "a vocabulary")
        start = self._token_start()
        specials = [self.mask_token] * self._oov_start() + [self.oov_token] * \
            self.num_oov_indices
        found = vocab[:start] == specials
        tokens = vocab[start:] if found else list(vocab)
        index = {t: i + start for i, t in enumerate(tokens)}
        if len(index) != len(tokens):
            seen: set = set()
            dup = [t for t in tokens if t in seen or seen.add(t)]
            raise self.config_error(field, f"repeated tokens {sorted(set(dup))[:5]!r}: each "
                                    f"token must appear once")
        if self.mask_token is not None and self.mask_token in index:
            raise self.config_error(field, f"the mask token {self.mask_token!r} is inside the "
                                    f"vocabulary (at index {index[self.mask_token]}); leave it "
                                    f"out, or give the special tokens only at the start, in "
                                    f"this order: {specials!r}")
        if self.invert and self.oov_token is not None and self.oov_token in index:
            raise self.config_error(field, f"the OOV token {self.oov_token!r} is inside the "
                                    f"vocabulary; leave it out, or give the special tokens "
                                    f"only at the start: {specials!r}")
        size = start + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise self.config_error(field, f"the vocabulary has {size} entries (special tokens "
                                    f"included), more than max_tokens={self.max_tokens}")
        weights = None
        if mode == "tf_idf":
            w = np.asarray(idf, np.float64)
            if w.shape != (len(vocab),):
                raise self.config_error("idf_weights", f"needs one weight per vocabulary entry "
                                        f"({len(vocab)}), got {w.size}")
            front = 0 if found else start
            fill = 0.0 if found else float(np.average(w))
            back = self.max_tokens - front - w.size if self.pad_to_max_tokens else 0
            weights = np.concatenate([np.full(front, fill), w, np.zeros(max(back, 0))])
            weights = weights.astype(np.float32)
        self._tokens, self._index, self._idf = tokens, index, weights
        self._bytes_index = None
        self._has_vocab = True
        if mode != "int" and not self.pad_to_max_tokens:
            check_budget(self, size, "an output width")
        self._values["frozen_vocabulary_size"] = size

    # -- calling ---------------------------------------------------------------------------
    def _depth(self) -> int:
        return self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()

    def _require_vocab(self) -> None:
        if not self._has_vocab and self.output_mode != "int" and not self.pad_to_max_tokens:
            raise ValueError(f"{type(self).__name__} {self.name!r}: output_mode "
                             f"{self.output_mode!r} needs a vocabulary; set one "
                             f"(vocabulary=[...] or set_vocabulary())")

    def _raw_lookup(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices of ``x`` (-1 where out of vocabulary) and the mask locations."""
        raise NotImplementedError

    def _oov_buckets(self, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def lookup_indices(self, x: np.ndarray) -> np.ndarray:
        """int64 indices of ``x``; the mask gives 0 in int mode and -1 (dropped) otherwise."""
        idx, mask = self._raw_lookup(x)
        oov = idx < 0
        if mask is not None:
            oov &= ~mask
        if oov.any():
            n = self.num_oov_indices
            if n == 0:
                bad = np.asarray(x)[oov].reshape(-1)[:5].tolist()
                raise InputError(self._where_input(),
                                 f"{type(self).__name__} {self.name!r}: with "
                                 f"num_oov_indices=0 every input must be in the vocabulary; "
                                 f"found {bad!r}. Set num_oov_indices=1")
            if n == 1:
                idx[oov] = self._oov_start()
            else:
                idx[oov] = self._oov_buckets(np.asarray(x)[oov]) + self._oov_start()
        if mask is not None:
            idx[mask] = 0 if self.output_mode == "int" else -1
        return idx

    def _invert(self, x: np.ndarray) -> np.ndarray:
        idx = np.asarray(x).astype(np.int64)
        start = self._token_start()
        table = np.asarray(self._tokens if self._tokens else [self.oov_token], dtype=object)
        pos = idx - start
        ok = (pos >= 0) & (pos < len(self._tokens))
        out = np.full(idx.shape, self.oov_token, dtype=object)
        out[ok] = table[pos[ok]]
        if self.mask_token is not None:
            out[idx == 0] = self.mask_token
        return self._invert_output(out)

    def _invert_output(self, out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _count_dtype(self) -> Any:
        return np.float32 if self.source_format == KERAS2 else np.int64

    def call(self, inputs):
        x = np.asarray(inputs)
        if self.invert:
            return self._invert(x)
        self._require_vocab()
        idx = self.lookup_indices(x)
        if self.output_mode == "int":
            return idx
        return encode_lookups(idx, self.output_mode, self._depth(), self._count_dtype(),
                              self._idf)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self.output_mode == "int":
            return shape
        depth = self._depth() if (self._has_vocab or self.pad_to_max_tokens) else None
        if self.output_mode == "one_hot":
            if len(shape) > 1 and shape[-1] == 1:
                return shape[:-1] + (depth,)
            return shape + (depth,)
        return shape[:-1] + (depth,)

    def get_build_config(self) -> dict[str, Any] | None:
        return {}  # Keras 3 writes an empty build config for lookups

    # -- files -----------------------------------------------------------------------------
    def save_assets(self) -> dict[str, bytes]:
        """The files Keras writes in the archive's assets: ``vocabulary.txt`` (one token a
        line, special tokens included) unless the vocabulary is inline in the config."""
        if self.vocabulary is not None or not self._has_vocab:
            return {}
        return {"vocabulary.txt": "\n".join(str(w) for w in self.get_vocabulary()).encode()}

    def load_assets(self, files: dict[str, bytes]) -> None:
        """Read ``vocabulary.txt`` from the archive's assets (as Keras's ``load_assets``)."""
        if self.vocabulary is not None:
            return
        raw = files.get("vocabulary.txt")
        if raw is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the assets hold no "
                             f"vocabulary.txt")
        lines = raw.decode("utf-8").splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        values: list = lines if self._item == "str" else [int(v) for v in lines]
        vocab = self.field("vocabulary").validate(values, "assets/vocabulary.txt")
        idf = self._idf.tolist() if (self.output_mode == "tf_idf" and self._idf is not None) \
            else None
        self._set_vocab(vocab, idf, field="vocabulary")

    def save_own_variables(self) -> dict[str, np.ndarray]:
        """Keras's own variables of the layer: ``idf_weights`` in tf_idf mode."""
        if self.output_mode == "tf_idf" and self._idf is not None:
            return {"idf_weights": self._idf.copy()}
        return {}

    def load_own_variables(self, store: dict[str, np.ndarray]) -> None:
        if self.output_mode == "tf_idf" and "idf_weights" in store:
            self._idf = np.asarray(store["idf_weights"], np.float32)

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        cfg = super().get_config(format)
        if format == KERAS3:
            cfg["dtype"] = {"module": "keras", "class_name": "DTypePolicy",
                            "config": {"name": "float32"}, "registered_name": None}
        else:
            name = self.dtype_policy.name
            if self.output_mode == "int":
                cfg["dtype"] = name if name in ("int32", "int64") else "int64"
            else:
                cfg["dtype"] = name if name.startswith("float") else "float32"
        return cfg


def _common_fields(item: Field, oov: Field, mask: Field) -> tuple[Field, ...]:
    return (
        lenient_dtype(),
        Bool("invert", False, "Map indices back to tokens."),
        Int("max_tokens", None, "Most vocabulary entries (special tokens included).", min=2),
        Int("num_oov_indices", 1, "Indices for out-of-vocabulary values.", min=0),
        oov,
        mask,
        Choice("output_mode", "int", "Output encoding.", choices=_MODES),
        Bool("sparse", False, "Sparse output (not supported: dense only)."),
        Bool("pad_to_max_tokens", False, "Pad encoded outputs to max_tokens."),
        item,
        NumberList("idf_weights", None, "IDF weights (tf_idf), one per vocabulary entry."),
    )


class StringLookup(IndexLookup):
    """Maps strings to indices from a vocabulary (or, with ``invert``, indices back to
    strings). Inputs are NumPy arrays of str or bytes.

    Input shape: any. Output shape: int: the input shape (int64); one_hot appends the
    vocabulary axis; multi_hot / count / tf_idf replace the last axis by it.

    Example::

        layer = StringLookup(vocabulary=["a", "b", "c"])
        layer(np.array([["a", "c", "z"]]))   # [[1, 3, 0]]
    """

    fields = _common_fields(
        Str("vocabulary_dtype", "string", "Always 'string'.", formats=()),
        Str("oov_token", "[UNK]", "Token for OOV indices (with invert).", optional=True),
        Str("mask_token", None, "Token mapped to index 0 (int mode) or dropped."),
    ) + (
        Vocabulary("vocabulary", None, "The tokens (an inline list; never a file path)."),
        _vocab_size_field(),
        Choice("oov_method", "floormod", "OOV bucketing for integer inputs (Keras 3).",
               choices=("floormod", "farmhash"), formats=(KERAS3,)),
        _Salt("salt", None, "SipHash key for OOV buckets (Keras 3).", formats=(KERAS3,)),
        Str("encoding", "utf-8", "Text encoding of the strings."),
    )

    def _raw_lookup(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if x.dtype.kind not in "USO":
            raise InputError(self._where_input(),
                             f"StringLookup {self.name!r} expects strings, got an array of "
                             f"{x.dtype}")
        enc = self.encoding
        items = x.reshape(-1).tolist()
        if x.dtype.kind == "S":
            index = self.bytes_index()
            mask_key: Any = None if self.mask_token is None else self.mask_token.encode(enc)
        else:
            index = self._index
            mask_key = self.mask_token
            if x.dtype.kind == "O":  # str and bytes mixed: compare as str
                items = [v.decode(enc) if isinstance(v, bytes) else v for v in items]
                if not all(isinstance(v, str) for v in items):
                    raise InputError(self._where_input(),
                                     f"StringLookup {self.name!r} expects strings")
        idx = np.fromiter(map(index.get, items, itertools.repeat(-1)), np.int64, len(items))
        mask = None
        if mask_key is not None:
            mask = np.fromiter((v == mask_key for v in items), bool, len(items))
            mask = mask.reshape(x.shape)
        return idx.reshape(x.shape), mask

    def _oov_buckets(self, values: np.ndarray) -> np.ndarray:
        n = self.num_oov_indices
        key = tuple(self.salt) if self.salt is not None else None
        return hash_buckets([v.encode(self.encoding) if isinstance(v, str) else v
                             for v in values.reshape(-1).tolist()], n, key)

    def bytes_index(self) -> dict[bytes, int]:
        """The vocabulary keyed by encoded bytes (TextVectorization looks up bytes)."""
        if self._bytes_index is None:
            self._bytes_index = {t.encode(self.encoding): i for t, i in self._index.items()}
        return self._bytes_index

    def _invert_output(self, out: np.ndarray) -> np.ndarray:
        return out.astype(str) if out.size else np.zeros(out.shape, "<U1")

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        cfg = super().get_config(format)
        cfg.pop("vocabulary_dtype", None)
        return cfg


class IntegerLookup(IndexLookup):
    """Maps integers to indices from a vocabulary (or, with ``invert``, indices back to
    the integers).

    Input shape: any (integers). Output shape: as StringLookup.

    Example::

        layer = IntegerLookup(vocabulary=[12, 36, 1138])
        layer(np.array([[12, 1138, 7]]))   # [[1, 3, 0]]
    """

    _item = "int"
    fields = _common_fields(
        Choice("vocabulary_dtype", "int64", "Dtype of the vocabulary (int64 only).",
               choices=("int64",)),
        Int("oov_token", -1, "Value for OOV indices (with invert).", optional=True),
        Int("mask_token", None, "Value mapped to index 0 (int mode) or dropped."),
    ) + (
        Vocabulary("vocabulary", None, "The values (an inline list; never a file path).",
                   item="int"),
        _vocab_size_field(),
        Choice("oov_method", "floormod", "OOV bucketing: token % n, or FarmHash (Keras 3).",
               choices=("floormod", "farmhash"), formats=(KERAS3,)),
        _Salt("salt", None, "SipHash key for OOV buckets (oov_method 'farmhash').",
              formats=(KERAS3,)),
    )

    def _check_salt(self) -> None:
        if self.salt is not None and self.oov_method != "farmhash":
            raise self.config_error("salt", "salt needs oov_method='farmhash'")

    def _raw_lookup(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if x.dtype.kind not in "iu" and not (x.dtype.kind == "f" and np.all(np.mod(x, 1) == 0)):
            raise InputError(self._where_input(),
                             f"IntegerLookup {self.name!r} expects integers, got an array of "
                             f"{x.dtype}")
        v = x.astype(np.int64)
        idx = np.full(v.shape, -1, np.int64)
        if self._tokens:
            cached = self.__dict__.get("_sorted")
            if cached is None or cached[0] is not self._tokens:
                keys = np.asarray(self._tokens, np.int64)
                order = np.argsort(keys, kind="stable")
                cached = self.__dict__["_sorted"] = (self._tokens, order, keys[order])
            _, order, sk = cached
            pos = np.clip(np.searchsorted(sk, v), 0, sk.size - 1)
            hit = sk[pos] == v
            idx[hit] = order[pos[hit]] + self._token_start()
        mask = (v == self.mask_token) if self.mask_token is not None else None
        return idx, mask

    def _oov_buckets(self, values: np.ndarray) -> np.ndarray:
        n = self.num_oov_indices
        v = values.astype(np.int64)
        if self.oov_method != "farmhash":
            return np.mod(v, n)
        key = tuple(self.salt) if self.salt is not None else None
        return hash_buckets(v, n, key)

    def _invert_output(self, out: np.ndarray) -> np.ndarray:
        return out.astype(np.int64)

