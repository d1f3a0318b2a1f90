"""From the entries of a model config's ``layers`` list to layers, and back.

What Sequential and Functional share when they are read from a config: every layer is
created (and validated) before any is built, then each is built from its Keras 3
``build_config``; every problem is collected and raised at once. Also the guard against
models nested too deep, and the model-level ``InputLayer`` helpers.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

from .. import registry
from ..errors import ConfigError, MultipleConfigErrors, describe
from ..formats import KERAS2
from ..layers.base import Layer
from ..serialization import deserialize_object, serialize
from .ops import Operation, make_operation

#: the deepest nesting of models in models accepted
MAX_MODEL_NESTING = 64
_nesting: list[int] = [0]


@contextlib.contextmanager
def nested(path: str) -> Iterator[None]:
    """Count one more level of model nesting; refuse a hostile depth."""
    if _nesting[0] >= MAX_MODEL_NESTING:
        raise ConfigError(path, f"models nested more than {MAX_MODEL_NESTING} deep; refusing "
                          f"(a hostile or broken config)")
    _nesting[0] += 1
    try:
        yield
    finally:
        _nesting[0] -= 1


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Building a big graph allocates many objects and no garbage: keep Python's cyclic
    collector from rescanning the growing heap (which made the cost superlinear)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def combine(path: str, problems: list[ConfigError]) -> ConfigError:
    """One error for ``problems``: itself when there is one, else MultipleConfigErrors."""
    flat: list[ConfigError] = []
    for p in problems:
        if isinstance(p, MultipleConfigErrors) and p.errors:
            flat.extend(p.errors)
        else:
            flat.append(p)
    if len(flat) == 1:
        return flat[0]
    return MultipleConfigErrors(path, flat)


def add_problem(problems: list[ConfigError], error: ConfigError, where: str) -> None:
    """Collect ``error`` raised for the entry at ``where`` (re-rooted there if needed)."""
    if isinstance(error, MultipleConfigErrors):
        problems.extend(error.errors or [error])
    else:
        problems.append(error if error.path.startswith(where) else error.with_prefix(where))


def create(entry: dict[str, Any], kind: str, path: str, fmt: str) -> Any:
    """The layer (unbuilt) or operation of one ``layers`` entry read in format ``fmt``."""
    if kind == "op":
        return make_operation(entry, path)
    # created unbuilt: every layer of the model is validated before any is built
    bare = {k: v for k, v in entry.items() if k != "build_config"}
    cls = registry.lookup("layer", entry.get("class_name")) \
        if isinstance(entry.get("class_name"), str) else None
    if entry.get("registered_name") in getattr(cls, "keras_registered_names", ()) and \
            entry.get("registered_name") not in registry.custom_objects():
        # a built-in that Keras registered under its own package name (tf_keras's
        # 'Custom>CustomScaleLayer' of keras.applications)
        bare["registered_name"] = None
    return deserialize_object(bare, kind="layer", path=path, fmt=fmt)


def build_all(items: list[tuple[Any, dict[str, Any], str]], fmt: str) -> list[ConfigError]:
    """Apply each layer's Keras 3 ``build_config`` (after all were created)."""
    problems: list[ConfigError] = []
    for obj, entry, where in items:
        bc = entry.get("build_config") if isinstance(entry, dict) else None
        if bc is None or not isinstance(obj, Layer) or obj.built:
            continue
        try:
            _build_one(obj, bc, where, fmt)
        except ConfigError as e:
            add_problem(problems, e, where)
        except (ValueError, TypeError, IndexError, KeyError, AttributeError) as e:
            problems.append(ConfigError(f"{where}.build_config", f"layer {obj.name!r} cannot "
                                        f"be built: {e}"))
    return problems


def _build_one(layer: Layer, bc: Any, where: str, fmt: str) -> None:
    path = f"{where}.build_config"
    shapes = bc.get("shapes_dict") if isinstance(bc, dict) else None
    if isinstance(shapes, dict) and bc.get("input_shape") is None:
        layer.build_from_config(bc, path)  # Keras 3 layers built with several tensors
        return
    if fmt == KERAS2:  # tf_keras writes build_config too; Keras 2 layers build on call
        return
    if not isinstance(bc, dict):
        raise ConfigError(path, f"expected {{'input_shape': [...]}}, got {describe(bc)}")
    if bc.get("input_shape") is not None:
        layer.build_from_config(bc, path=path)


def layer_entry(layer: Any, fmt: str) -> dict[str, Any]:
    """The entry of ``layer`` (or operation) in a model config's ``layers`` list."""
    if isinstance(layer, Operation):
        return layer.keras_entry(fmt)
    return dict(serialize(layer, fmt))


def input_info(layer: Any) -> tuple[tuple[Any, ...], str]:
    """``(batch_shape, dtype)`` of an InputLayer."""
    shape = getattr(layer, "batch_shape", None)
    dtype = getattr(layer, "dtype", "float32")
    if not isinstance(dtype, str):
        dtype = getattr(dtype, "name", "float32")
    return (tuple(shape) if shape is not None else (None,)), dtype
