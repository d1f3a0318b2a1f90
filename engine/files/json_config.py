"""A model's config as JSON text (a ``.json`` file, ``config.json`` of a ``.keras`` archive,
the ``model_config`` attribute of a legacy ``.h5``) -> the model, parsed strictly
(:mod:`.strict_json`)."""

from __future__ import annotations

import contextlib
from typing import Any

from ..budget import Budget
from ..errors import ConfigError, MultipleConfigErrors, describe
from ..layers.base import build_without_initializers
from ..serialization import deserialize
from .safety import FileError
from .strict_json import parse

_DESERIALIZE_HINT = "deserialize(config, custom_objects="


def config_to_model(text: bytes | str, what: str, custom_objects: Any, budget: Budget,
                    lazy_weights: bool = False, call: str = "engine.load(path") -> Any:
    """Parse ``text`` and deserialize it.

    Args:
        text: the JSON text.
        what: how messages name the source.
        custom_objects: name -> the caller's own class or function.
        budget: the model's :class:`engine.budget.Budget` (weights, activations, layers).
        lazy_weights: build the layers without running their initializers (the caller
            fills every weight from the file).
        call: the call an unknown-class hint tells the user to repeat with custom_objects.
    """
    config = parse(text, what)
    if not isinstance(config, dict):
        raise FileError(f"{what or 'config'}: expected a JSON object with 'class_name' and "
                        f"'config', got {describe(config)}")
    building = build_without_initializers() if lazy_weights else contextlib.nullcontext()
    try:
        with building:
            return deserialize(config, custom_objects, budget=budget)
    except ConfigError as e:
        again = with_hint(e, call)
        if again is e:
            raise
        raise again from e.__cause__


def with_hint(error: ConfigError, call: str) -> ConfigError:
    """``error`` with its custom_objects hints naming ``call`` (``engine.load(path``)
    instead of ``deserialize(config``, the function the user did not call."""
    if _DESERIALIZE_HINT not in str(error):
        return error
    new = f"{call}, custom_objects="
    if isinstance(error, MultipleConfigErrors) and error.errors:
        fixed = [with_hint(e, call) for e in error.errors]
        return MultipleConfigErrors(error.path, fixed)
    return type(error)(error.path, error.reason.replace(_DESERIALIZE_HINT, new))
