"""Open and write model files: :func:`load`, :func:`load_weights`, :func:`save`,
:func:`save_weights`.

Weights are read lazily: :func:`load` returns a model whose variables fetch their value from
the file on first access (a call, ``get_weights()``, ``variable.value``), so opening a large
file and looking at one layer reads only that layer's tensors. The file stays open until
every weight was read, ``model.close()`` is called (or a ``with`` block ends), or the model
and its layers are garbage; ``lazy=False`` reads everything at once and closes the file.
"""

from __future__ import annotations

import io
import os
from typing import Any

from .. import registry
from ..budget import Budget, make_budget
from ..errors import describe
from ..layers.base import Layer
from ..models import Model, Sequential
from . import safety
from .h5 import attach_legacy_weights, legacy_h5_bytes, load_h5, open_h5
from .h5_store import H5Store, closed_on_error
from .json_config import config_to_model
from .keras3_weights import attach_keras_weights, weights_h5_bytes
from .keras_zip import is_keras_zip, keras_bytes, keras_weights_store, load_keras

_H5_MAGIC = b"\x89HDF\r\n\x1a\n"


def load(path_or_file: Any, custom_objects: dict[str, Any] | None = None, *,
         max_weight_bytes: int | None = None, max_activation_bytes: int | None = None,
         max_layers: int | None = None, max_nodes: int | None = None,
         budget: Budget | None = None, max_weight_elements: int | None = None,
         lazy: bool = True) -> Any:
    """Open a model file: ``.keras``, legacy ``.h5`` (whole model) or ``.json`` (to_json).

    Args:
        path_or_file: a path, or a binary file object (kept open while weights are read
            lazily: do not close it before the weights are used, or pass ``lazy=False``).
        custom_objects: name -> your own class or function, as in Keras.
        max_weight_bytes, max_activation_bytes, max_layers, max_nodes, budget: the
            model's budget, as for ``engine.deserialize`` (defaults: 1 GiB of weights,
            1 GiB per layer output, 10,000 layers and nodes).
        max_weight_elements: deprecated element count for the whole model.
        lazy: read each tensor on first use (default) instead of all at once. A lazy model
            keeps its file open until every weight was read; ``model.close()``, or
            ``with load(path) as model:``, closes it sooner.

    Returns:
        The model (a :class:`engine.Sequential` or :class:`engine.Functional`).

    Raises:
        FileError / UnsafeFileError: the file is malformed or unsafe (the message names the
            zip member or HDF5 path); ConfigError: the config inside is invalid.

    Example:
        >>> with engine.load("model.keras") as model:
        ...     y = model(x)
    """
    the_budget = make_budget(budget, max_weight_bytes=max_weight_bytes,
                             max_activation_bytes=max_activation_bytes, max_layers=max_layers,
                             max_nodes=max_nodes, max_weight_elements=max_weight_elements)
    fh, name, owned = _open(path_or_file)
    owner = fh if owned else None  # a file opened here: closed with the weights' store
    with closed_on_error(owner):
        head = _peek(fh, 8)
        if is_keras_zip(head) or name.endswith(".keras"):
            model, store = load_keras(fh, name, custom_objects, the_budget, owner)
        elif name.endswith((".h5", ".hdf5")) or is_hdf5(fh):
            model, store = load_h5(fh, name, custom_objects, the_budget, owner)
        else:
            text = safety.read_limited(fh, safety.MAX_JSON_BYTES, name)
            if owner is not None:
                owner.close()
            return config_to_model(text, name, custom_objects, the_budget)
    _read_or_keep(model, store, lazy)
    return model


def model_from_json(text: str | bytes, custom_objects: dict[str, Any] | None = None, *,
                    max_weight_bytes: int | None = None,
                    max_activation_bytes: int | None = None, max_layers: int | None = None,
                    max_nodes: int | None = None, budget: Budget | None = None,
                    max_weight_elements: int | None = None) -> Any:
    """``keras.models.model_from_json``: the model (or layer) of ``model.to_json()`` text.

    The text is parsed strictly: ``NaN`` / ``Infinity`` tokens and duplicate keys are
    ConfigErrors naming the key, text nested deeper than ``strict_json.MAX_JSON_DEPTH``
    is a FileError. The model is built with fresh weights; load trained ones with
    ``model.load_weights(path)``. The budget keywords are those of ``engine.deserialize``.

    Example:
        >>> model = engine.model_from_json(open("model.json").read())
        >>> model.load_weights("model.weights.h5")
    """
    if not isinstance(text, (str, bytes, bytearray)):
        raise TypeError(f"model_from_json: expected JSON text (str or bytes), got "
                        f"{describe(text)}")
    if len(text) > safety.MAX_JSON_BYTES:
        raise safety.FileError(f"model_from_json: the text is {len(text):,} characters, over "
                               f"the limit of {safety.MAX_JSON_BYTES:,}")
    the_budget = make_budget(budget, max_weight_bytes=max_weight_bytes,
                             max_activation_bytes=max_activation_bytes, max_layers=max_layers,
                             max_nodes=max_nodes, max_weight_elements=max_weight_elements)
    return config_to_model(bytes(text) if isinstance(text, bytearray) else text, "",
                           custom_objects, the_budget,
                           call="engine.model_from_json(text")


def load_weights(model: Any, path_or_file: Any, *, lazy: bool = False) -> None:
    """Load weights onto a built model: ``.weights.h5`` (Keras 3 layout), a legacy weights
    ``.h5`` (``layer_names`` at the root) or a whole-model file (its ``model_weights``).

    With ``lazy=True`` each tensor is read on first use, and ``model.close()`` closes the
    file sooner.
    """
    fh, name, owned = _open(path_or_file)
    owner = fh if owned else None
    with closed_on_error(owner):
        store = _weights_store(fh, name, owner, getattr(model, "budget", None))
    with closed_on_error(store), safety.h5_errors(store.what):
        f = store.file
        if "layers" in f and "layer_names" not in f.attrs and "layer_names0" not in f.attrs \
                and "model_weights" not in f:
            attach_keras_weights(model, store)
        else:
            group = f["model_weights"] if "model_weights" in f else f
            attach_legacy_weights(model, store, group, "model_weights" if group is not f
                                  else "")
    store.arm()
    _read_or_keep(model, store, lazy)


def _weights_store(fh: Any, name: str, owner: Any, budget: Any) -> H5Store:
    if not is_keras_zip(_peek(fh, 8)):
        return open_h5(fh, name, owner)
    store = keras_weights_store(fh, name, owner=owner, limit=safety.inflate_limit(budget))
    with closed_on_error(store):
        store.check()
    return store


def _read_or_keep(model: Any, store: H5Store, lazy: bool) -> None:
    """Eager: read every weight now and close the file. Lazy: the file stays open for the
    weights not read yet, until ``model.close()`` (or the last read, or garbage)."""
    if lazy:
        model.on_close(store.close)
        return
    try:
        materialize(model)
    finally:
        store.close()


def materialize(model: Any) -> None:
    """Read every pending weight now."""
    for w in model.weights:
        _ = w.value


def save(obj: Any, path: Any, *, format: str | None = None) -> None:
    """Write ``obj`` (a model, or a built layer) to ``path``.

    ``.keras``: an archive real Keras 3 loads (``keras.models.load_model``) with the same
    outputs. ``.h5`` / ``.hdf5``: a legacy whole-model file in tf_keras's layout (the
    Keras 2 config and its weights). ``.json``: the config (``model.to_json()``) in
    ``format`` 'keras3' or 'keras2' (by default the format the model was read in).
    """
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else \
        str(getattr(path, "name", ""))
    model = obj if isinstance(obj, Model) else _wrap_layer(obj)
    if name.endswith(".json"):
        _write(path, model.to_json(format).encode())
        return
    if name.endswith((".h5", ".hdf5")):
        _write(path, legacy_h5_bytes(model))
        return
    if not name.endswith(".keras") and name:
        raise ValueError(f"save: {name!r}: use a .keras, .h5 or .json file name")
    _write(path, keras_bytes(model))


def save_weights(model: Any, path: Any) -> None:
    """Write ``model``'s weights as a Keras 3 ``.weights.h5`` file."""
    _write(path, weights_h5_bytes(model))


def _wrap_layer(layer: Any) -> Sequential:
    if not isinstance(layer, Layer) or not layer.built or layer.build_shape is None:
        raise ValueError(f"save: expected a model or a built layer, got {describe(layer)}")
    model = Sequential(name=f"{layer.name}_model")
    model.add(layer)
    model.build(layer.build_shape)
    return model


def _open(src: Any) -> tuple[Any, str, bool]:
    if isinstance(src, (str, os.PathLike)):
        name = os.fspath(src)
        if isinstance(name, bytes):
            name = os.fsdecode(name)
        return safety.open_regular(name), name.lower(), True
    if isinstance(src, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(src)), "", True
    if hasattr(src, "read") and hasattr(src, "seek"):
        return src, str(getattr(src, "name", "") or "").lower(), False
    raise TypeError(f"load: expected a path or a binary file object, got {describe(src)}")


def is_hdf5(fh: Any) -> bool:
    """Whether ``fh`` is an HDF5 file: its signature at byte 0, or after a user block (at
    512, 1024, 2048... up to the file's size), where libhdf5 looks for it."""
    pos = fh.tell()
    try:
        size = fh.seek(0, 2)
        at = 0
        while at + 8 <= size:
            fh.seek(at)
            if fh.read(8) == _H5_MAGIC:
                return True
            at = 512 if at == 0 else at * 2
        return False
    finally:
        fh.seek(pos)


def _peek(fh: Any, n: int) -> bytes:
    pos = fh.tell()
    data = fh.read(n)
    fh.seek(pos)
    return data if isinstance(data, bytes) else bytes(data)


def _write(path: Any, data: bytes) -> None:
    if isinstance(path, (str, os.PathLike)):
        with open(path, "wb") as f:
            f.write(data)
    else:
        path.write(data)


registry.set_hooks("model_file", load_weights=load_weights, save=save)
