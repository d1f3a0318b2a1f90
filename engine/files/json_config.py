"""A model's config as JSON text (a ``.json`` file, ``config.json`` of a ``.keras`` archive,
the ``model_config`` attribute of a legacy ``.h5``) -> the model."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from ..errors import describe
from ..layers.base import build_without_initializers
from ..serialization import deserialize
from .safety import FileError


def model_from_json(text: bytes, what: str, custom_objects: Any, budget: int,
                    lazy_weights: bool = False) -> Any:
    """Parse ``text`` and deserialize it.

    Args:
        text: the JSON bytes.
        what: how messages name the source.
        custom_objects: name -> the caller's own class or function.
        budget: the size budget of one layer (``max_weight_elements``).
        lazy_weights: build the layers without running their initializers (the caller
            fills every weight from the file).
    """
    try:
        config = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FileError(f"{what or 'config'}: not valid JSON ({e})") from None
    except RecursionError:
        raise FileError(f"{what or 'config'}: JSON nested too deeply") from None
    if not isinstance(config, dict):
        raise FileError(f"{what or 'config'}: expected a JSON object with 'class_name' and "
                        f"'config', got {describe(config)}")
    building = build_without_initializers() if lazy_weights else contextlib.nullcontext()
    with building:
        return deserialize(config, custom_objects, max_weight_elements=budget)
