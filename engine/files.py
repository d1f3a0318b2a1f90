"""Model files: ``.keras`` archives, legacy ``.h5`` models and weights, ``.json`` configs.

A file is untrusted input and only its own bytes are read:

* zip members are looked up by their fixed names (``config.json``, ``metadata.json``,
  ``model.weights.h5``), their declared sizes and compression ratio are checked before
  anything is inflated, and nothing is ever extracted to disk;
* every object of an HDF5 file is visited before any tensor is read: external links, soft
  links, external storage and virtual datasets are refused;
* each tensor's declared shape and dtype are checked against the layer built from the
  config (and so against the size budget) before it is read;
* layer names are HDF5 keys at most, never file-system paths.

Weights are read lazily: :func:`load` returns a model whose variables fetch their value from
the file on first access (a call, ``get_weights()``, ``variable.value``), so opening a large
file and looking at one layer reads only that layer's tensors.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .configurable import to_snake_case
from .errors import ConfigError, WeightsError, describe
from .fields import KERAS2, KERAS3
from .layers import base as _base
from .layers.base import Layer, Variable
from .serialization import DEFAULT_MAX_WEIGHT_ELEMENTS, deserialize

#: the largest JSON member / attribute read (bytes)
MAX_JSON_BYTES = 64 * 2**20
#: the largest weights member accepted (bytes)
MAX_WEIGHTS_BYTES = 16 * 2**30
#: the highest compression ratio accepted for a deflated member
MAX_COMPRESSION_RATIO = 200
#: the most HDF5 objects visited in one file
MAX_H5_OBJECTS = 1_000_000

_ZIP_MAGIC = b"PK\x03\x04"
_H5_MAGIC = b"\x89HDF\r\n\x1a\n"
_KERAS_VERSION = "3.15.1"


class FileError(ValueError):
    """A model file is malformed, truncated or does not fit its config."""


class UnsafeFileError(FileError):
    """A model file asks to read something outside its own bytes (links, external data)."""


# -- public API -----------------------------------------------------------------------


def load(path_or_file: Any, custom_objects: dict[str, Any] | None = None, *,
         max_weight_elements: int = DEFAULT_MAX_WEIGHT_ELEMENTS, lazy: bool = True) -> Any:
    """Open a model file: ``.keras``, legacy ``.h5`` (whole model) or ``.json`` (to_json).

    Args:
        path_or_file: a path, or a binary file object (kept open while weights are read
            lazily: do not close it before the weights are used, or pass ``lazy=False``).
        custom_objects: name -> your own class or function, as in Keras.
        max_weight_elements: the size budget of one layer (see ``engine.deserialize``).
        lazy: read each tensor on first use (default) instead of all at once.

    Returns:
        The model (a :class:`engine.Sequential` or :class:`engine.Functional`).

    Raises:
        FileError / UnsafeFileError: the file is malformed or unsafe (the message names the
            zip member or HDF5 path); ConfigError: the config inside is invalid.
    """
    fh, name, owned = _open(path_or_file)
    try:
        head = _peek(fh, 8)
        owner = fh if owned else None
        if head.startswith(_ZIP_MAGIC) or name.endswith(".keras"):
            model = _load_keras(fh, name, custom_objects, max_weight_elements, owner)
        elif head.startswith(_H5_MAGIC) or name.endswith(".h5") or name.endswith(".hdf5"):
            model = _load_h5(fh, name, custom_objects, max_weight_elements, owner)
        else:
            text = _read_limited(fh, MAX_JSON_BYTES, name)
            model = _from_json(text, name, custom_objects, max_weight_elements)
            if owned:
                fh.close()
            return model
    except BaseException:
        if owned:
            fh.close()
        raise
    if not lazy:
        materialize(model)
    return model


def load_weights(model: Any, path_or_file: Any, *, lazy: bool = False) -> None:
    """Load weights onto a built model: ``.weights.h5`` (Keras 3 layout), a legacy weights
    ``.h5`` (``layer_names`` at the root) or a whole-model file (its ``model_weights``)."""
    import h5py

    fh, name, owned = _open(path_or_file)
    head = _peek(fh, 8)
    if head.startswith(_ZIP_MAGIC):
        store = _keras_weights_store(fh, name)
    else:
        store = _H5Store(h5py.File(fh, "r"), fh, name)
    store.owner = fh if owned else None
    store.check()
    if "layers" in store.file and "layer_names" not in store.file.attrs and \
            "model_weights" not in store.file:
        _attach_keras_weights(model, store)
    else:
        group = store.file["model_weights"] if "model_weights" in store.file else store.file
        _attach_legacy_weights(model, store, group, "model_weights" if group is not
                               store.file else "")
    store.arm()
    if not lazy:
        materialize(model)


def materialize(model: Any) -> None:
    """Read every pending weight now."""
    for w in model.weights:
        _ = w.value


def save(obj: Any, path: Any, *, format: str = KERAS3) -> None:
    """Write ``obj`` (a model, or a built layer) to ``path``.

    ``.keras``: an archive real Keras 3 loads (``keras.models.load_model``) with the same
    outputs. ``.json``: the config (``model.to_json()``) in ``format`` 'keras3' or 'keras2'.
    """
    from .models import Model

    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else \
        str(getattr(path, "name", ""))
    model = obj if isinstance(obj, Model) else _wrap_layer(obj)
    if name.endswith(".json"):
        data = model.to_json(format)
        _write(path, data.encode())
        return
    if not name.endswith(".keras") and name:
        raise ValueError(f"save: {name!r}: use a .keras or .json file name")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        import datetime

        meta = {"keras_version": _KERAS_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
        zf.writestr("metadata.json", json.dumps(meta))
        zf.writestr("config.json", json.dumps(model.keras_serialize(KERAS3)))
        zf.writestr("model.weights.h5", _weights_h5_bytes(model))
    _write(path, buf.getvalue())


def save_weights(model: Any, path: Any) -> None:
    """Write ``model``'s weights as a Keras 3 ``.weights.h5`` file."""
    _write(path, _weights_h5_bytes(model))


# -- opening --------------------------------------------------------------------------


def _open(src: Any) -> tuple[Any, str, bool]:
    if isinstance(src, (str, os.PathLike)):
        name = os.fspath(src)
        try:
            return open(name, "rb"), name.lower(), True
        except OSError as e:
            raise FileError(f"{name}: cannot open: {e.strerror}") from None
    if isinstance(src, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(src)), "", True
    if hasattr(src, "read") and hasattr(src, "seek"):
        return src, str(getattr(src, "name", "") or "").lower(), False
    raise TypeError(f"load: expected a path or a binary file object, got {describe(src)}")


def _peek(fh: Any, n: int) -> bytes:
    pos = fh.tell()
    data = fh.read(n)
    fh.seek(pos)
    return data if isinstance(data, bytes) else bytes(data)


def _read_limited(fh: Any, limit: int, what: str) -> bytes:
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise FileError(f"{what or 'file'}: larger than {limit:,} bytes; refusing to read it")
    return data


def _write(path: Any, data: bytes) -> None:
    if isinstance(path, (str, os.PathLike)):
        with open(path, "wb") as f:
            f.write(data)
    else:
        path.write(data)


def _from_json(text: bytes, what: str, custom_objects: Any, budget: int,
               lazy_weights: bool = False) -> Any:
    try:
        config = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FileError(f"{what or 'config'}: not valid JSON ({e})") from None
    except RecursionError:
        raise FileError(f"{what or 'config'}: JSON nested too deeply") from None
    if not isinstance(config, dict):
        raise FileError(f"{what or 'config'}: expected a JSON object with 'class_name' and "
                        f"'config', got {describe(config)}")
    token = _base._skip_initializers.set(lazy_weights)
    try:
        return deserialize(config, custom_objects, max_weight_elements=budget)
    finally:
        _base._skip_initializers.reset(token)


# -- zip ------------------------------------------------------------------------------


class _Window(io.RawIOBase):
    """A read-only view of ``size`` bytes at ``offset`` of a seekable file (a stored zip
    member), so HDF5 reads only the parts it needs."""

    def __init__(self, fh: Any, offset: int, size: int):
        self._fh, self._off, self._size, self._pos = fh, offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, b: Any) -> int:
        n = max(0, min(len(b), self._size - self._pos))
        if n == 0:
            return 0
        self._fh.seek(self._off + self._pos)
        data = self._fh.read(n)
        b[:len(data)] = data
        self._pos += len(data)
        return len(data)


def _zip(fh: Any, what: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise FileError(f"{what or '.keras file'}: not a valid .keras archive (truncated or "
                        f"corrupt zip: {e})") from None


def _member(zf: zipfile.ZipFile, name: str, limit: int, what: str) -> zipfile.ZipInfo:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise FileError(f"{what or '.keras file'}: the archive has no member {name!r} "
                        f"(members: {zf.namelist()[:10]})") from None
    if info.flag_bits & 0x1:
        raise UnsafeFileError(f"{what}: member {name!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise FileError(f"{what}: member {name!r} uses an unsupported compression "
                        f"({info.compress_type})")
    if info.file_size > limit:
        raise UnsafeFileError(f"{what}: member {name!r} declares {info.file_size:,} bytes, "
                              f"over the limit of {limit:,}")
    if info.compress_type == zipfile.ZIP_DEFLATED and \
            info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1) and \
            info.file_size > 2**20:
        raise UnsafeFileError(f"{what}: member {name!r} inflates {info.compress_size:,} bytes "
                              f"to {info.file_size:,} (ratio over {MAX_COMPRESSION_RATIO}): "
                              f"refusing a zip bomb")
    return info


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, what: str) -> bytes:
    try:
        with zf.open(info) as f:
            data = f.read(info.file_size + 1)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise FileError(f"{what}: member {info.filename!r} cannot be read (truncated or "
                        f"corrupt: {e})") from None
    if len(data) != info.file_size:
        raise FileError(f"{what}: member {info.filename!r} holds {len(data):,} bytes, its "
                        f"header says {info.file_size:,}")
    return data


def _keras_weights_store(fh: Any, what: str, zf: zipfile.ZipFile | None = None) -> _H5Store:
    import h5py

    zf = zf or _zip(fh, what)
    info = _member(zf, "model.weights.h5", MAX_WEIGHTS_BYTES, what)
    if info.compress_type == zipfile.ZIP_STORED:
        fh.seek(info.header_offset)
        header = fh.read(30)
        if len(header) != 30 or header[:4] != _ZIP_MAGIC:
            raise FileError(f"{what}: member 'model.weights.h5' has a bad local header "
                            f"(truncated archive?)")
        nlen = int.from_bytes(header[26:28], "little")
        xlen = int.from_bytes(header[28:30], "little")
        start = info.header_offset + 30 + nlen + xlen
        fh.seek(0, 2)
        if start + info.file_size > fh.tell():
            raise FileError(f"{what}: member 'model.weights.h5' is truncated (needs "
                            f"{start + info.file_size:,} bytes, the file has {fh.tell():,})")
        raw: Any = _Window(fh, start, info.file_size)
    else:
        raw = io.BytesIO(_read_member(zf, info, what))
    try:
        f = h5py.File(raw, "r")
    except OSError as e:
        raise FileError(f"{what}: member 'model.weights.h5' is not a valid HDF5 file "
                        f"({e})") from None
    return _H5Store(f, raw, f"{what}:model.weights.h5" if what else "model.weights.h5")


def _load_keras(fh: Any, what: str, custom_objects: Any, budget: int,
                owner: Any = None) -> Any:
    zf = _zip(fh, what)
    cinfo = _member(zf, "config.json", MAX_JSON_BYTES, what)
    if "metadata.json" in zf.namelist():
        _member(zf, "metadata.json", MAX_JSON_BYTES, what)
    store = _keras_weights_store(fh, what, zf)
    store.owner = owner
    store.check()
    text = _read_member(zf, cinfo, what)
    model = _from_json(text, f"{what}:config.json", custom_objects, budget, lazy_weights=True)
    _attach_keras_weights(model, store)
    store.arm()
    return model


# -- HDF5 -----------------------------------------------------------------------------


class _H5Store:
    """An open HDF5 file whose tensors are read on demand; closed after the last read."""

    def __init__(self, f: Any, raw: Any, what: str):
        self.file, self.raw, self.what = f, raw, what
        self.pending = 0
        self.reads = 0
        self.owner: Any = None  # a file object opened by load(), closed with the store

    def check(self) -> None:
        _check_h5(self.file, self.what)

    def dataset(self, path: str, var: Variable, owner: str) -> Any:
        import h5py

        obj = self.file.get(path)
        if obj is None:
            raise FileError(f"{self.what}: missing {path!r}: the file has no value for "
                            f"variable {var.name!r} of layer {owner!r}")
        if not isinstance(obj, h5py.Dataset):
            raise FileError(f"{self.what}: {path!r} is not a dataset")
        if tuple(obj.shape) != tuple(var.shape):
            raise WeightsError(f"{self.what}: layer {owner!r}, variable {var.name!r}: the file "
                               f"has shape {tuple(obj.shape)} at {path!r}, the config implies "
                               f"{tuple(var.shape)}")
        if obj.dtype.kind not in "fiub":
            raise FileError(f"{self.what}: {path!r} has dtype {obj.dtype}, not a number type")
        return obj

    def loader(self, path: str, var: Variable) -> Callable[[], np.ndarray]:
        self.pending += 1
        shape, dtype = var.shape, var.dtype

        def read() -> np.ndarray:
            ds = self.file[path]
            arr = np.asarray(ds[()], dtype=dtype)
            self.reads += 1
            self.pending -= 1
            if arr.shape != shape:
                raise WeightsError(f"{self.what}: {path!r} read with shape {arr.shape}, "
                                   f"expected {shape}")
            if self.pending <= 0:
                self.close()
            return arr
        return read

    def arm(self) -> None:
        if self.pending <= 0:
            self.close()

    def close(self) -> None:
        try:
            self.file.close()
        except Exception:
            pass
        if self.owner is not None:
            self.owner.close()
            self.owner = None


def _check_h5(f: Any, what: str) -> None:
    """Visit every object without reading data; refuse links and external storage."""
    import h5py

    seen: set[Any] = set()
    stack = [("/", f)]
    count = 0
    while stack:
        gpath, group = stack.pop()
        for key in group.keys():
            count += 1
            if count > MAX_H5_OBJECTS:
                raise UnsafeFileError(f"{what}: more than {MAX_H5_OBJECTS:,} HDF5 objects")
            path = f"{gpath.rstrip('/')}/{key}"
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise UnsafeFileError(f"{what}: {path!r} is an external link (to "
                                      f"{link.filename!r}); refusing to read other files")
            if isinstance(link, h5py.SoftLink):
                raise UnsafeFileError(f"{what}: {path!r} is a soft link (to {link.path!r}); "
                                      f"links are refused")
            if not isinstance(link, h5py.HardLink):
                raise UnsafeFileError(f"{what}: {path!r} is an unsupported link type")
            obj = group[key]
            if isinstance(obj, h5py.Dataset):
                if obj.external:
                    raise UnsafeFileError(f"{what}: dataset {path!r} uses external storage; "
                                          f"only the file's own bytes are read")
                if obj.is_virtual:
                    raise UnsafeFileError(f"{what}: dataset {path!r} is a virtual dataset "
                                          f"(maps other files); refused")
            elif isinstance(obj, h5py.Group):
                ident = hash(obj.id)
                if ident in seen:
                    continue
                seen.add(ident)
                stack.append((path, obj))


#: where Keras stores the sub-layers of some layers, by the sub-layer's Keras name:
#: class -> {sub-layer name: (Keras 3 attribute, Keras 2 attribute)}
KERAS_SUBLAYER_PATHS: dict[str, dict[str, tuple[str, str]]] = {
    "MultiHeadAttention": {
        "query": ("query_dense", "_query_dense"), "key": ("key_dense", "_key_dense"),
        "value": ("value_dense", "_value_dense"),
        "attention_output": ("output_dense", "_output_dense")},
    "GroupedQueryAttention": {
        "query": ("query_dense", "_query_dense"), "key": ("key_dense", "_key_dense"),
        "value": ("value_dense", "_value_dense"),
        "attention_output": ("output_dense", "_output_dense")},
}


def _children(layer: Any, fmt: str = KERAS3) -> list[tuple[str, Any]]:
    """(attribute name, sub-layer) pairs in Keras's order (names sorted, private last).

    A layer class may declare ``keras_save_names = {attribute: (keras3_name, keras2_name)}``
    when its attributes are not named as Keras's."""
    subs = getattr(layer, "_sublayers", None) or []
    if not subs:
        return []
    declared = getattr(layer, "keras_save_names", None)
    table = KERAS_SUBLAYER_PATHS.get(type(layer).__name__)
    if declared or table:
        out = []
        idx = 0 if fmt == KERAS3 else 1
        for attr, value in vars(layer).items():
            if isinstance(value, Layer) and any(value is s for s in subs):
                names = (declared or {}).get(attr) or (table or {}).get(value.name)
                if names:
                    out.append((names[idx], value))
        if len(out) == len(subs):
            return out
    ids = {id(s) for s in subs}
    found: list[tuple[str, Any]] = []
    for attr, value in vars(layer).items():
        if id(value) in ids and isinstance(value, Layer):
            found.append((attr, value))
    found.sort(key=lambda kv: ("~" + kv[0]) if kv[0].startswith("_") else kv[0])
    named = {id(v) for _, v in found}
    for i, s in enumerate(subs):  # sub-layers held only in lists: Keras's container names
        if id(s) not in named:
            found.append((f"layers/{to_snake_case(type(s).__name__)}" if i == 0 else
                          f"layers/{to_snake_case(type(s).__name__)}_{i}", s))
    return found


def _type_key(layer: Any) -> str:
    from .models import _type_name

    return to_snake_case(_type_name(layer))


def _keyed(layers: list[Any]) -> Iterator[tuple[str, Any]]:
    used: dict[str, int] = {}
    for layer in layers:
        base = _type_key(layer)
        n = used.get(base, 0)
        used[base] = n + 1
        yield (base if n == 0 else f"{base}_{n}"), layer


def _own_vars(layer: Any) -> list[Variable]:
    own = list(getattr(layer, "_weights", []))
    return [w for w in own if w.trainable] + [w for w in own if not w.trainable]


def _model_layers(model: Any) -> list[Any]:
    return list(model.layers)


def _attach_keras_weights(model: Any, store: _H5Store) -> None:
    from .models import Model

    if not isinstance(model, Model):
        raise FileError(f"{store.what}: expected a model config, got a "
                        f"{type(model).__name__}")
    visited: set[int] = set()
    problems: list[str] = []
    _attach_saveable(model, "", store, visited, problems, top=True,
                     fmt=getattr(model, "_source_format", KERAS3))
    if problems:
        raise WeightsError(f"{store.what}: weights do not fit the model:\n" +
                           "\n".join(f"  - {p}" for p in problems))


def _attach_saveable(obj: Any, path: str, store: _H5Store, visited: set[int],
                     problems: list[str], top: bool = False, fmt: str = KERAS3) -> None:
    from .models import Model

    if id(obj) in visited:
        return
    visited.add(id(obj))
    own = _own_vars(obj) if not isinstance(obj, Model) else []
    if own and not obj.built:
        problems.append(f"layer {obj.name!r} could not be built from the config")
        return
    if isinstance(obj, Layer) and not obj.built and not isinstance(obj, Model):
        problems.append(f"layer {obj.name!r} ({type(obj).__name__}) could not be built "
                        f"from the config, so its weights cannot be placed")
        return
    vpath = f"{path}/vars" if path else "vars"
    group = store.file.get(vpath)
    n_file = len(group.keys()) if group is not None else 0
    if own and group is None:
        problems.append(f"layer {obj.name!r}: missing group {vpath!r} in the file")
    elif n_file != len(own) and group is not None:
        problems.append(f"layer {obj.name!r}: the file has {n_file} variable(s) at {vpath!r}, "
                        f"the layer has {len(own)} ({', '.join(w.name for w in own) or '-'})")
    else:
        for i, var in enumerate(own):
            try:
                store.dataset(f"{vpath}/{i}", var, obj.name)
            except (FileError, WeightsError) as e:
                problems.append(str(e).split(": ", 1)[-1])
                continue
            var.set_loader(store.loader(f"{vpath}/{i}", var))
    if isinstance(obj, Model):
        prefix = f"{path}/layers" if path else "layers"
        for key, layer in _keyed(_model_layers(obj)):
            _attach_saveable(layer, f"{prefix}/{key}", store, visited, problems, fmt=fmt)
        return
    for attr, sub in _children(obj, fmt):
        _attach_saveable(sub, f"{path}/{attr}", store, visited, problems, fmt=fmt)


def _names_attr(obj: Any, key: str) -> list[str]:
    raw = obj.attrs.get(key)
    if raw is None:
        return []
    return [x.decode("utf8") if isinstance(x, bytes) else str(x) for x in list(raw)]


def _safe_key(name: str, what: str) -> str:
    parts = name.split("/")
    if not name or any(p in ("", ".", "..") for p in parts):
        raise UnsafeFileError(f"{what}: bad HDF5 key {name!r}")
    return name


def _attach_legacy_weights(model: Any, store: _H5Store, group: Any, gpath: str) -> None:
    """Legacy .h5: ``layer_names`` with weights, matched to the model's layers by order."""
    what = store.what
    names = _names_attr(group, "layer_names")
    file_layers = []
    for name in names:
        if "/" in name or name in (".", ".."):
            raise UnsafeFileError(f"{what}: bad layer name {name!r} in layer_names")
        g = group.get(name)
        if g is None:
            raise FileError(f"{what}: layer_names lists {name!r}, but {gpath}/{name} is "
                            f"missing")
        wnames = _names_attr(g, "weight_names")
        if wnames:
            file_layers.append((name, g, wnames))
    layers = [x for x in model.layers if x.weights]
    if len(layers) != len(file_layers):
        raise WeightsError(f"{what}: the file has weights for {len(file_layers)} layer(s) "
                           f"({[n for n, _, _ in file_layers]}), the model has "
                           f"{len(layers)} layer(s) with weights ({[x.name for x in layers]})")
    problems = []
    for layer, (name, _g, wnames) in zip(layers, file_layers):
        variables = list(layer.trainable_weights) + list(layer.non_trainable_weights)
        if not layer.trainable:
            variables = list(layer.weights)
        if len(variables) != len(wnames):
            problems.append(f"layer {layer.name!r} (file group {name!r}): the file has "
                            f"{len(wnames)} weight(s), the layer has {len(variables)}")
            continue
        for var, wname in zip(variables, wnames):
            path = f"{gpath}/{name}/{_safe_key(wname, what)}".lstrip("/")
            try:
                store.dataset(path, var, layer.name)
            except (FileError, WeightsError) as e:
                problems.append(str(e).split(": ", 1)[-1])
                continue
            var.set_loader(store.loader(path, var))
    if problems:
        raise WeightsError(f"{what}: weights do not fit the model:\n" +
                           "\n".join(f"  - {p}" for p in problems))


def _load_h5(fh: Any, what: str, custom_objects: Any, budget: int, owner: Any = None) -> Any:
    import h5py

    try:
        f = h5py.File(fh, "r")
    except OSError as e:
        raise FileError(f"{what or '.h5 file'}: not a valid HDF5 file ({e})") from None
    store = _H5Store(f, fh, what or ".h5 file")
    store.check()
    store.owner = owner
    if "model_config" not in f.attrs:
        store.close()
        raise FileError(f"{store.what}: no 'model_config' attribute: this is a weights-only "
                        f"file; create the model from its config and call "
                        f"model.load_weights(path)")
    size = f.attrs.get_id("model_config").get_storage_size()
    if size > MAX_JSON_BYTES:
        raise UnsafeFileError(f"{store.what}: attribute 'model_config' is {size:,} bytes, over "
                              f"the limit of {MAX_JSON_BYTES:,}")
    raw = f.attrs["model_config"]
    if isinstance(raw, np.ndarray) and raw.shape == () or isinstance(raw, np.generic):
        raw = raw.item()
    if not isinstance(raw, (str, bytes)):
        raise FileError(f"{store.what}: attribute 'model_config' should be JSON text, got "
                        f"{type(raw).__name__}")
    text = raw.encode() if isinstance(raw, str) else raw
    model = _from_json(text, f"{store.what}:model_config", custom_objects, budget,
                       lazy_weights=True)
    if "model_weights" in f:
        _attach_legacy_weights(model, store, f["model_weights"], "model_weights")
    else:
        raise FileError(f"{store.what}: no 'model_weights' group")
    store.arm()
    return model


# -- writing --------------------------------------------------------------------------


def _wrap_layer(layer: Any) -> Any:
    from .models import Sequential

    if not isinstance(layer, Layer) or not layer.built or layer._build_shape is None:
        raise ValueError(f"save: expected a model or a built layer, got {describe(layer)}")
    model = Sequential(name=f"{layer.name}_model")
    model.add(layer)
    model.build(layer._build_shape)
    return model


def _weights_h5_bytes(model: Any) -> bytes:
    import h5py

    from .models import Model

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        visited: set[int] = set()

        def write(obj: Any, path: str) -> None:
            if id(obj) in visited:
                return
            visited.add(id(obj))
            vpath = f"{path}/vars" if path else "vars"
            g = f.require_group(vpath)
            if getattr(obj, "name", None):
                g.attrs["name"] = obj.name
            own = _own_vars(obj) if not isinstance(obj, Model) else []
            for i, var in enumerate(own):
                g.create_dataset(str(i), data=np.asarray(var.value))
            if isinstance(obj, Model):
                prefix = f"{path}/layers" if path else "layers"
                f.require_group(prefix)
                for key, layer in _keyed(_model_layers(obj)):
                    write(layer, f"{prefix}/{key}")
                return
            for attr, sub in _children(obj):
                write(sub, f"{path}/{attr}")

        write(model, "")
    return buf.getvalue()


__all__ = ["load", "save", "load_weights", "save_weights", "materialize", "FileError",
           "UnsafeFileError", "KERAS2"]

_unused = ConfigError
