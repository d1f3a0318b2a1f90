"""The Keras 3 archive layout: which key each layer of a model has in ``model.weights.h5``
and under ``assets/`` (``layers/<snake_case class name>[_<n>]``, nested models below)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..configurable import to_snake_case
from ..models import Model


def keyed_layers(model: Model) -> Iterator[tuple[str, Any]]:
    """A model's layers with their keys: snake-cased class names, numbered when repeated."""
    used: dict[str, int] = {}
    for layer in model.layers:
        base = to_snake_case(type(layer).__name__)
        n = used.get(base, 0)
        used[base] = n + 1
        yield (base if n == 0 else f"{base}_{n}"), layer



def layer_paths(model: Model, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(path, layer)`` for every layer of ``model``, nested models included, with the
    paths Keras's weights file uses."""
    base = f"{prefix}/layers" if prefix else "layers"
    for key, layer in keyed_layers(model):
        path = f"{base}/{key}"
        yield path, layer
        if isinstance(layer, Model):
            yield from layer_paths(layer, path)
