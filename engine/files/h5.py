"""Legacy HDF5 files (Keras 2 ``model.save('m.h5')`` and ``save_weights('w.h5')``): the
``model_config`` attribute and ``layer_names`` / ``weight_names`` weights, matched to the
model's layers by order."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import WeightsError
from ..models import Model
from . import safety
from .h5_store import H5Store, closed_on_error
from .h5_vlen import check_vlen_attribute
from .json_config import config_to_model
from .safety import (
    FileError,
    UnsafeFileError,
    check_layer_name,
    problem_lines,
    safe_key,
)


def _text_ready(store: H5Store, obj: Any, key: str, aid: Any, where: str,
                limit: int = safety.MAX_JSON_BYTES) -> None:
    """Before a text attribute is read: it is text (an HDF5 string type: libhdf5 crashes
    reading some corrupt variable-length sequence types), and if variable-length, its
    file's global heaps are checked (once) and the lengths its descriptors claim measured
    in the file's bytes and against ``limit`` (libhdf5 allocates them before it reads the
    heap)."""
    import h5py

    vtype = aid.get_type()
    if vtype.get_class() != h5py.h5t.STRING:
        raise FileError(f"{where}: expected text (an HDF5 string type), got HDF5 type "
                        f"class {vtype.get_class()}")
    if not vtype.is_variable_str():
        return
    if not store.heaps_checked:
        safety.check_global_heaps(store.raw, store.what)
        store.heaps_checked = True
    check_vlen_attribute(store.raw, h5py.h5o.get_info(obj.id).addr, key, limit, where)


def _name_keys(obj: Any, key: str, where: str) -> list[str]:
    """The attributes holding the names of ``key``, as Keras 2 wrote them
    (``save_attributes_to_hdf5_group``): ``key`` itself, or, for a list over HDF5's 64 KB
    object-header limit, its parts ``key0``, ``key1``, ... (up to the first missing
    index)."""
    from h5py import h5a

    oid = obj.id
    if h5a.exists(oid, key.encode("utf-8")):
        return [key]
    keys: list[str] = []
    while h5a.exists(oid, f"{key}{len(keys)}".encode()):
        if len(keys) >= safety.MAX_H5_NAMES:
            raise UnsafeFileError(f"{where} is split into more than {safety.MAX_H5_NAMES:,} "
                                  f"parts (MAX_H5_NAMES)")
        keys.append(f"{key}{len(keys)}")
    return keys


def _attr_value(aid: Any, where: str) -> np.ndarray:
    """The value of the open attribute ``aid`` as an array (text as bytes), read through
    h5py's low-level API (its high-level attribute access reopens the attribute and
    builds objects per call: seconds over thousands of layers)."""
    from h5py import h5t

    if aid.shape is None:
        raise FileError(f"{where}: holds no value (a null dataspace)")
    dtype = aid.dtype
    out = np.zeros(aid.shape, dtype=dtype)
    if out.size:
        aid.read(out, mtype=h5t.py_create(dtype))
    return out


def _names_attr(obj: Any, key: str, store: H5Store) -> list[str]:
    """The names listed by attribute ``key`` of ``obj`` (or by its parts ``key0``,
    ``key1``, ... in a file Keras 2 split), counted and measured, all parts together,
    before any is read (at most ``safety.MAX_H5_NAMES`` names, ``safety.MAX_JSON_BYTES``
    bytes)."""
    from h5py import h5a

    what = store.what
    oname = obj.name
    where = f"{what}: attribute {key!r} of {oname!r}"
    keys = _name_keys(obj, key, where)
    if not keys:
        return []
    if len(keys) > 1:
        where += f" (split into {keys[0]!r}..{keys[-1]!r})"
    parts = []
    count = size = 0
    for k in keys:
        aid = h5a.open(obj.id, k.encode("utf-8"))
        n = math.prod(aid.shape) if aid.shape else 1
        if n:  # (an empty attribute has no storage size to ask for)
            count += n
            size += aid.get_storage_size()
            parts.append((k, aid))
    if count > safety.MAX_H5_NAMES:
        raise UnsafeFileError(f"{where} lists {count:,} names, more than the "
                              f"{safety.MAX_H5_NAMES:,} a file may (MAX_H5_NAMES)")
    if size > safety.MAX_JSON_BYTES:
        raise UnsafeFileError(f"{where} is {size:,} bytes, over the limit "
                              f"of {safety.MAX_JSON_BYTES:,}")
    names: list[str] = []
    used = 0
    for k, aid in parts:
        part = where if k == key else f"{what}: attribute {k!r} of {oname!r}"
        _text_ready(store, obj, k, aid, part, safety.MAX_JSON_BYTES - used)
        raw = list(np.ravel(_attr_value(aid, part)))
        used += sum(len(x) for x in raw if isinstance(x, (str, bytes)))
        if used > safety.MAX_JSON_BYTES:
            raise UnsafeFileError(f"{where}: its names take more than "
                                  f"{safety.MAX_JSON_BYTES:,} bytes")
        try:
            names += [x.decode("utf8") if isinstance(x, bytes) else str(x) for x in raw]
        except UnicodeError:
            raise FileError(f"{part}: a name is not UTF-8 text") from None
    try:
        for x in names:
            x.encode("utf8")  # no lone surrogates (h5py's escapes of bad bytes)
    except UnicodeError:
        raise FileError(f"{where}: a name is not UTF-8 text") from None
    return names


def attach_legacy_weights(model: Any, store: H5Store, group: Any, gpath: str) -> None:
    """Point the variables of ``model`` at the legacy weights of ``group`` (at ``gpath``):
    ``layer_names`` with weights, matched to the model's layers with weights, in order."""
    what = store.what
    file_layers = []
    names = _names_attr(group, "layer_names", store)
    for name in names:
        check_layer_name(name, what)
        g = group.get(name)
        if g is None:
            raise FileError(f"{what}: layer_names lists {name[:200]!r}, but "
                            f"{gpath}/{name[:200]} is missing")
        wnames = _names_attr(g, "weight_names", store)
        if wnames:
            file_layers.append((name, wnames))
    layers = [x for x in model.layers if x.weights]
    if len(layers) != len(file_layers):
        raise WeightsError(f"{what}: the file has weights for {len(file_layers)} layer(s) "
                           f"({safety.listing(n for n, _ in file_layers)}), the model has "
                           f"{len(layers)} layer(s) with weights "
                           f"({safety.listing(x.name for x in layers)})")
    problems = []
    for layer, (name, wnames) in zip(layers, file_layers):
        variables = _legacy_variables(layer)
        if len(variables) != len(wnames):
            problems.append(f"layer {layer.name!r} (file group {name!r}): the file has "
                            f"{len(wnames)} weight(s), the layer has {len(variables)}")
            continue
        for var, wname in zip(variables, wnames):
            path = f"{gpath}/{name}/{safe_key(wname, what)}".lstrip("/")
            try:
                store.dataset(path, var, layer.name)
            except (FileError, WeightsError) as e:
                problems.append(str(e).split(": ", 1)[-1])
                continue
            var.set_loader(store.loader(path, var))
    if problems:
        raise WeightsError(f"{what}: weights do not fit the model:\n" +
                           problem_lines(problems))


def open_h5(fh: Any, what: str, owner: Any = None) -> H5Store:
    """``fh`` as an HDF5 store, checked (links, external storage) before anything is read."""
    import h5py

    try:
        f = h5py.File(fh, "r")
    except safety.CORRUPT_FILE_ERRORS as e:
        raise FileError(f"{what or '.h5 file'}: not a valid HDF5 file ({e})") from None
    store = H5Store(f, fh, what or ".h5 file", owner)
    with closed_on_error(store):
        store.check()
    return store


def load_h5(fh: Any, what: str, custom_objects: Any, budget: int,
            owner: Any = None) -> tuple[Model, H5Store]:
    """A whole model from a legacy ``.h5`` file and the store its weights are read from
    (lazily)."""
    store = open_h5(fh, what, owner)
    with closed_on_error(store), safety.h5_errors(store.what):
        model = _model_of(store, _config_text(store), custom_objects, budget)
        attach_legacy_weights(model, store, store.file["model_weights"], "model_weights")
    store.arm()
    return model, store


def _config_text(store: H5Store) -> bytes:
    """The ``model_config`` attribute, measured: a fixed-size one before it is read; a
    variable-length string (HDF5 tells its size only by reading it; it lies in the file,
    so it is at most the file's size) is read and then measured."""
    f = store.file
    if "model_config" not in f.attrs:
        raise FileError(f"{store.what}: no 'model_config' attribute: this is a weights-only "
                        f"file; create the model from its config and call "
                        f"model.load_weights(path)")
    aid = f.attrs.get_id("model_config")
    if aid.shape not in ((), (1,)):
        raise FileError(f"{store.what}: attribute 'model_config' should be one JSON text, "
                        f"got an array of shape {aid.shape}")
    size = aid.get_storage_size()
    if size > safety.MAX_JSON_BYTES:
        raise UnsafeFileError(f"{store.what}: attribute 'model_config' is {size:,} bytes, over "
                              f"the limit of {safety.MAX_JSON_BYTES:,}")
    _text_ready(store, f, "model_config", aid, f"{store.what}: attribute 'model_config'")
    raw = f.attrs["model_config"]
    if isinstance(raw, np.ndarray) and raw.size == 1 or isinstance(raw, np.generic):
        raw = raw.ravel()[0] if isinstance(raw, np.ndarray) else raw.item()
    if not isinstance(raw, (str, bytes)):
        raise FileError(f"{store.what}: attribute 'model_config' should be JSON text, got "
                        f"{type(raw).__name__}")
    if len(raw) > safety.MAX_JSON_BYTES:
        raise UnsafeFileError(f"{store.what}: attribute 'model_config' (a variable-length "
                              f"string) is {len(raw):,} bytes, over the limit of "
                              f"{safety.MAX_JSON_BYTES:,}")
    return raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw


#: the Keras version a legacy ``.h5`` says wrote it (tf_keras's layout)
LEGACY_KERAS_VERSION = "2.21.0"


def _legacy_variables(layer: Any) -> list[Any]:
    """The variables of ``layer`` in the order a legacy file lists them (tf_keras
    ``_legacy_weights``: trainable first), as :func:`attach_legacy_weights` matches them."""
    if not layer.trainable:
        return list(layer.weights)
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def legacy_h5_bytes(model: Model) -> bytes:
    """``model`` as the bytes of a legacy whole-model ``.h5`` (tf_keras
    ``model.save('m.h5')``): ``model_config`` (the Keras 2 config), and ``model_weights``
    with ``layer_names``, each layer's ``weight_names`` and its tensors."""
    import io
    import json

    import h5py

    from ..formats import KERAS2

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["keras_version"] = LEGACY_KERAS_VERSION.encode()
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(model.keras_serialize(KERAS2)).encode()
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([x.name.encode() for x in model.layers], "S")
        mw.attrs["backend"] = b"tensorflow"
        mw.attrs["keras_version"] = LEGACY_KERAS_VERSION.encode()
        for layer in model.layers:
            g = mw.create_group(layer.name)
            variables = _legacy_variables(layer)
            names = [f"{layer.name}/{v.name}:0" if v.path == f"{layer.name}/{v.name}" else
                     f"{v.path}:0" for v in variables]
            g.attrs["weight_names"] = np.array([n.encode() for n in names], "S") \
                if names else np.zeros(0, "S1")
            for var, name in zip(variables, names):
                g.create_dataset(name, data=np.asarray(var.value))
    return buf.getvalue()


def _model_of(store: H5Store, text: bytes, custom_objects: Any, budget: Any) -> Model:
    f = store.file
    model = config_to_model(text, f"{store.what}:model_config", custom_objects, budget,
                            lazy_weights=True)
    if not isinstance(model, Model):
        raise FileError(f"{store.what}: expected a model config, got a "
                        f"{type(model).__name__}")
    if "model_weights" not in f:
        raise FileError(f"{store.what}: no 'model_weights' group")
    return model

