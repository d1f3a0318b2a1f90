"""The Keras 3 weights layout (``model.weights.h5`` in a ``.keras`` archive, and
``.weights.h5`` files): where each variable sits, read lazily or written.

Keras 3 stores a layer's own variables at ``<path>/vars/<i>`` (trainable first), a model's
layers at ``layers/<snake_case class name>[_<n>]`` and a layer's sub-layers under their
attribute names.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ..configurable import to_snake_case
from ..errors import WeightsError
from ..formats import KERAS3
from ..layers.base import Layer, Variable
from ..models import Model
from .assets import own_variable_paths
from .h5_store import H5Store
from .layout import keyed_layers
from .safety import FileError, problem_lines

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


def _attributes(layer: Any) -> dict[str, Any]:
    """The layer's attributes, config fields included (a sub-layer given in the config,
    like Bidirectional's ``backward_layer``, is held in the field's value)."""
    out = dict(vars(layer))
    for name, value in getattr(layer, "values", {}).items():
        out.setdefault(name, value)
    return out


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
        for attr, value in _attributes(layer).items():
            if isinstance(value, Layer) and any(value is s for s in subs):
                names = (declared or {}).get(attr) or (table or {}).get(value.name)
                if names:
                    out.append((names[idx], value))
        if len(out) == len(subs):
            return out
    ids = {id(s) for s in subs}
    found: list[tuple[str, Any]] = []
    for attr, value in _attributes(layer).items():
        if id(value) in ids and isinstance(value, Layer):
            found.append((attr, value))
    found.sort(key=lambda kv: ("~" + kv[0]) if kv[0].startswith("_") else kv[0])
    named = {id(v) for _, v in found}
    for i, s in enumerate(subs):  # sub-layers held only in lists: Keras's container names
        if id(s) not in named:
            found.append((f"layers/{to_snake_case(type(s).__name__)}" if i == 0 else
                          f"layers/{to_snake_case(type(s).__name__)}_{i}", s))
    return found


def _own_vars(layer: Any) -> list[Variable]:
    own = list(getattr(layer, "_weights", []))
    return [w for w in own if w.trainable] + [w for w in own if not w.trainable]


def attach_keras_weights(model: Any, store: H5Store) -> None:
    """Point every variable of ``model`` at its dataset in ``store`` (read lazily); every
    mismatch is reported at once."""
    if not isinstance(model, Model):
        raise FileError(f"{store.what}: expected a model config, got a "
                        f"{type(model).__name__}")
    visited: set[int] = set()
    problems: list[str] = []
    _attach_saveable(model, "", store, visited, problems, fmt=model.source_format)
    if problems:
        raise WeightsError(f"{store.what}: weights do not fit the model:\n" +
                           problem_lines(problems))


def _attach_saveable(obj: Any, path: str, store: H5Store, visited: set[int],
                     problems: list[str], fmt: str = KERAS3) -> None:
    if id(obj) in visited:
        return
    visited.add(id(obj))
    is_model = isinstance(obj, Model)
    own = _own_vars(obj) if not is_model else []
    if own and not obj.built:
        problems.append(f"layer {obj.name!r} could not be built from the config")
        return
    if isinstance(obj, Layer) and not obj.built and not is_model:
        if not store.has_datasets(path):
            return  # weightless in the file (Activation, pooling): nothing to place
        problems.append(f"layer {obj.name!r} ({type(obj).__name__}) could not be built "
                        f"from the config, so its weights cannot be placed")
        return
    if own or not hasattr(obj, "load_own_variables"):  # own variables: engine.files.assets
        _attach_vars(obj, own, f"{path}/vars" if path else "vars", store, problems)
    if is_model:
        prefix = f"{path}/layers" if path else "layers"
        for key, layer in keyed_layers(obj):
            _attach_saveable(layer, f"{prefix}/{key}", store, visited, problems, fmt=fmt)
        return
    for attr, sub in _children(obj, fmt):
        _attach_saveable(sub, f"{path}/{attr}", store, visited, problems, fmt=fmt)


def _attach_vars(obj: Any, own: list[Variable], vpath: str, store: H5Store,
                 problems: list[str]) -> None:
    n_group = store.group_size(vpath)
    n_file = n_group or 0
    if own and n_group is None:
        problems.append(f"layer {obj.name!r}: missing group {vpath!r} in the file")
    elif n_file != len(own) and n_group is not None:
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


def weights_h5_bytes(model: Model) -> bytes:
    """``model``'s weights as the bytes of a Keras 3 ``.weights.h5`` file."""
    import h5py

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
                for key, layer in keyed_layers(obj):
                    write(layer, f"{prefix}/{key}")
                return
            for attr, sub in _children(obj):
                write(sub, f"{path}/{attr}")

        write(model, "")
        for vpath, arrays in own_variable_paths(model):
            g = f.require_group(vpath)
            for name, arr in arrays.items():
                g.create_dataset(name, data=np.asarray(arr))
    return buf.getvalue()
