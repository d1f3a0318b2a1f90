"""What a ``.keras`` archive holds beside the weights: layers' asset files (a lookup layer's
``vocabulary.txt``) and layers' own variables that are not weights (``idf_weights``).

Keras writes a layer's assets at ``assets/<layer path>/<name>`` and its own variables in
``model.weights.h5`` at ``<layer path>/vars/<name>``, where the layer path is the one the
weights use (``layers/string_lookup``). Layers that have them define ``save_assets() ->
{name: bytes}``, ``load_assets({name: bytes})``, ``save_own_variables() -> {name: array}``
and ``load_own_variables({name: array})``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..models import Model
from . import safety
from .layout import layer_paths
from .safety import FileError, checked_member

#: the most elements one own variable may hold (a vocabulary's idf weights)
MAX_OWN_VARIABLE_ELEMENTS = 10**7


def load_assets(model: Model, zf: zipfile.ZipFile, what: str) -> None:
    """Give every layer with ``load_assets`` the files under its ``assets/<path>/``."""
    names = zf.namelist()
    for path, layer in layer_paths(model):
        if not hasattr(layer, "load_assets"):
            continue
        prefix = f"assets/{path}/"
        files = {}
        for name in names:
            if name.startswith(prefix) and not name.endswith("/"):
                info = checked_member(zf, name, safety.MAX_JSON_BYTES, what)
                with zf.open(info) as fh:
                    files[name[len(prefix):]] = safety.read_limited(
                        fh, safety.MAX_JSON_BYTES, f"{what}:{name}")
        if not files:
            continue
        try:
            layer.load_assets(files)
        except (ValueError, UnicodeDecodeError) as e:
            raise FileError(f"{what}:{prefix}: the assets of layer {layer.name!r} cannot be "
                            f"read: {e}") from None


def save_assets(model: Model, zf: zipfile.ZipFile) -> None:
    for path, layer in layer_paths(model):
        if hasattr(layer, "save_assets"):
            for name, data in layer.save_assets().items():
                zf.writestr(f"assets/{path}/{name}", data)


def load_own_variables(model: Model, h5file: Any, what: str) -> None:
    """Give every layer with ``load_own_variables`` the datasets of its ``vars`` group."""
    import h5py

    for path, layer in layer_paths(model):
        if not hasattr(layer, "load_own_variables"):
            continue
        store: dict[str, np.ndarray] = {}
        for vpath in _own_variable_groups(layer, path):
            group = h5file.get(vpath)
            if not isinstance(group, h5py.Group):
                continue
            for name, ds in group.items():
                if not isinstance(ds, h5py.Dataset) or ds.ndim != 1 or \
                        ds.dtype.kind not in "fiu" or ds.size > MAX_OWN_VARIABLE_ELEMENTS:
                    raise FileError(f"{what}:{vpath}/{name}: expected a 1-D numeric tensor of "
                                    f"at most {MAX_OWN_VARIABLE_ELEMENTS:,} elements")
                store.setdefault(name, np.asarray(ds[()]))
        if store:
            try:
                layer.load_own_variables(store)
            except (ValueError, ConfigError) as e:
                raise FileError(f"{what}:{path}/vars: {e}") from None


def own_variable_paths(model: Model) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    """``(vars path, {name: array})`` to write for every layer with own variables."""
    for path, layer in layer_paths(model):
        if hasattr(layer, "save_own_variables"):
            saved = layer.save_own_variables()
            if saved:
                for vpath in _own_variable_groups(layer, path):
                    yield vpath, saved


def has_own_variables(layer: Any) -> bool:
    return hasattr(layer, "load_own_variables")


def _own_variable_groups(layer: Any, path: str) -> list[str]:
    # TextVectorization keeps its lookup's variables under _lookup_layer too (as Keras)
    extra = getattr(layer, "own_variable_subpaths", ())
    return [f"{path}/vars"] + [f"{path}/{sub}/vars" for sub in extra]
