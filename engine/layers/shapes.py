"""Shapes for layers: :class:`InputSpec`, normalized shapes, shapes in build configs and
in messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, describe, excerpt
from ..fields import Shape

ShapeT = tuple[int | None, ...]


@dataclass
class InputSpec:
    """What a layer accepts: exact rank, minimum rank, fixed sizes of some axes."""

    ndim: int | None = None
    min_ndim: int | None = None
    axes: dict[int, int] | None = None


def normalize_shape(shape: Any, path: str = "input_shape") -> ShapeT | list[ShapeT]:
    """A shape, or a list of shapes for multi-input layers, as tuples."""
    if type(shape) is tuple and all(d is None or type(d) is int and d >= 0 for d in shape):
        return shape  # already normal (the common case): what the checks below would return
    if hasattr(shape, "shape") and not isinstance(shape, (list, tuple)):
        return tuple(shape.shape)
    if isinstance(shape, (list, tuple)) and shape and all(
            isinstance(s, (list, tuple)) for s in shape):
        return [normalize_shape(s, f"{path}[{i}]") for i, s in enumerate(shape)]
    return _INPUT_SHAPE.validate(shape, path)


_INPUT_SHAPE = Shape("input_shape", optional=False)


def shapes_of(x: Any) -> Any:
    if isinstance(x, list):
        return [tuple(np.shape(i)) for i in x]
    return tuple(np.shape(x))


def plain_shapes(shape: Any) -> Any:
    """compute_output_shape's answer as tuples of ints/None (or a list of them)."""
    if type(shape) is tuple and (not shape or type(shape[-1]) is int):
        return shape  # the common case: one shape
    if isinstance(shape, dict):
        return [plain_shapes(s) for s in shape.values()]
    if isinstance(shape, (list, tuple)) and shape and all(
            isinstance(s, (list, tuple, dict)) or s is None for s in shape):
        out: list[Any] = []
        for s in shape:
            p = plain_shapes(s)
            out.extend(p if isinstance(p, list) else [p])
        return out
    if isinstance(shape, (list, tuple)):
        return tuple(shape)
    return None


def shape_text(x: Any) -> str:
    shapes = shapes_of(x) if not isinstance(x, tuple) else x
    return excerpt(shapes, 80)


def dtype_text(x: Any) -> str:
    if isinstance(x, list):
        return ", ".join(str(getattr(i, "dtype", "?")) for i in x[:4])
    return str(getattr(x, "dtype", "?"))


def shape_from_json(shape: Any, path: str) -> Any:
    if isinstance(shape, (list, tuple)) and shape and all(
            isinstance(s, (list, tuple)) for s in shape):
        return [shape_from_json(s, f"{path}[{i}]") for i, s in enumerate(shape)]
    if isinstance(shape, dict):
        raise ConfigError(path, f"expected a shape list, got {describe(shape)}")
    return Shape("input_shape").validate(shape, path)


def shape_to_json(shape: Any) -> Any:
    if isinstance(shape, list):
        return [shape_to_json(s) for s in shape]
    return list(shape)
