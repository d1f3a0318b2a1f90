"""Every family's VJPs, registered: the lookup the API (and the tests) go through."""

from __future__ import annotations

from typing import Any

from . import (
    applications,
    attention,
    conv,
    core,
    locally_connected,
    merging,
    model,
    normalization,
    pooling,
    preprocessing,
    rnn,
    shaping,
)
from .table import VJPS, Forward, find

FAMILIES = (core, conv, pooling, normalization, merging, shaping, rnn, attention,
            applications, preprocessing, locally_connected, model)


def vjp_of(layer: Any, where: str = "") -> Forward:
    """The VJP of ``layer``'s class, or a ConfigError naming the layer."""
    return find(layer, where)


def has_vjp(layer: Any) -> bool:
    return type(layer) in VJPS


def registered_classes() -> list[type]:
    """Every layer class with a VJP, by module and name."""
    return sorted(VJPS, key=lambda c: (c.__module__, c.__name__))
