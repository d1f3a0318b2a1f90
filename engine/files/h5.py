"""Legacy HDF5 files (Keras 2 ``model.save('m.h5')`` and ``save_weights('w.h5')``): the
``model_config`` attribute and ``layer_names`` / ``weight_names`` weights, matched to the
model's layers by order."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import WeightsError
from ..models import Model
from . import safety
from .h5_store import H5Store, closed_on_error
from .json_config import config_to_model
from .safety import FileError, UnsafeFileError, check_layer_name, safe_key


def _names_attr(obj: Any, key: str) -> list[str]:
    raw = obj.attrs.get(key)
    if raw is None:
        return []
    return [x.decode("utf8") if isinstance(x, bytes) else str(x) for x in list(raw)]


def attach_legacy_weights(model: Any, store: H5Store, group: Any, gpath: str) -> None:
    """Point the variables of ``model`` at the legacy weights of ``group`` (at ``gpath``):
    ``layer_names`` with weights, matched to the model's layers with weights, in order."""
    what = store.what
    file_layers = []
    for name in _names_attr(group, "layer_names"):
        check_layer_name(name, what)
        g = group.get(name)
        if g is None:
            raise FileError(f"{what}: layer_names lists {name!r}, but {gpath}/{name} is "
                            f"missing")
        wnames = _names_attr(g, "weight_names")
        if wnames:
            file_layers.append((name, wnames))
    layers = [x for x in model.layers if x.weights]
    if len(layers) != len(file_layers):
        raise WeightsError(f"{what}: the file has weights for {len(file_layers)} layer(s) "
                           f"({[n for n, _ in file_layers]}), the model has "
                           f"{len(layers)} layer(s) with weights ({[x.name for x in layers]})")
    problems = []
    for layer, (name, wnames) in zip(layers, file_layers):
        variables = list(layer.trainable_weights) + list(layer.non_trainable_weights)
        if not layer.trainable:
            variables = list(layer.weights)
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
                           "\n".join(f"  - {p}" for p in problems))


def open_h5(fh: Any, what: str, owner: Any = None) -> H5Store:
    """``fh`` as an HDF5 store, checked (links, external storage) before anything is read."""
    import h5py

    try:
        f = h5py.File(fh, "r")
    except OSError as e:
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
    with closed_on_error(store):
        model = _model_of(store, custom_objects, budget)
        attach_legacy_weights(model, store, store.file["model_weights"], "model_weights")
    store.arm()
    return model, store


def _model_of(store: H5Store, custom_objects: Any, budget: int) -> Model:
    f = store.file
    if "model_config" not in f.attrs:
        raise FileError(f"{store.what}: no 'model_config' attribute: this is a weights-only "
                        f"file; create the model from its config and call "
                        f"model.load_weights(path)")
    size = f.attrs.get_id("model_config").get_storage_size()
    if size > safety.MAX_JSON_BYTES:
        raise UnsafeFileError(f"{store.what}: attribute 'model_config' is {size:,} bytes, over "
                              f"the limit of {safety.MAX_JSON_BYTES:,}")
    raw = f.attrs["model_config"]
    if isinstance(raw, np.ndarray) and raw.shape == () or isinstance(raw, np.generic):
        raw = raw.item()
    if not isinstance(raw, (str, bytes)):
        raise FileError(f"{store.what}: attribute 'model_config' should be JSON text, got "
                        f"{type(raw).__name__}")
    text = raw.encode() if isinstance(raw, str) else raw
    model = config_to_model(text, f"{store.what}:model_config", custom_objects, budget,
                            lazy_weights=True)
    if not isinstance(model, Model):
        raise FileError(f"{store.what}: expected a model config, got a "
                        f"{type(model).__name__}")
    if "model_weights" not in f:
        raise FileError(f"{store.what}: no 'model_weights' group")
    return model

