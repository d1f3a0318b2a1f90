"""JSON text parsed strictly: the one parser for ``.json`` model files, the ``config.json``
and ``metadata.json`` of a ``.keras`` archive and the ``model_config`` attribute of a
legacy ``.h5`` file.

Python's ``json`` accepts ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON) and keeps the
last of duplicate keys silently. Here either is a :class:`ConfigError` whose path names the
key (``config.layers[2].config.rate``), so a config means exactly one thing.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import ConfigError, key_text
from .safety import FileError


class _Dup(dict):
    """An object that had a duplicate key (found after parsing, to name its path)."""

    dup: str = ""


class _Bad:
    """A ``NaN`` / ``Infinity`` token, kept until its path is known."""

    __slots__ = ("token",)

    def __init__(self, token: str):
        self.token = token


def parse(text: bytes | str, what: str = "", root: str = "config") -> Any:
    """The value of the JSON ``text``; ``what`` names the source in messages, ``root`` is
    the first part of an error's path.

    Raises:
        FileError: not JSON (syntax, encoding) or nested too deeply.
        ConfigError: a ``NaN`` / ``Infinity`` token, or a duplicate key (the path names it).
    """
    found = [False]

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                d = _Dup(items)
                d.dup = k
                found[0] = True
                return d
            out[k] = v
        return out

    def constant(token: str) -> Any:
        found[0] = True
        return _Bad(token)

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FileError(f"{what or 'config'}: not valid JSON ({e})") from None
    except RecursionError:
        raise FileError(f"{what or 'config'}: JSON nested too deeply") from None
    if found[0]:
        _raise_first(value, root, what)
    return value


def _raise_first(value: Any, root: str, what: str) -> None:
    src = f" (in {what})" if what else ""
    stack: list[tuple[Any, str]] = [(value, root)]
    while stack:
        v, path = stack.pop()
        if isinstance(v, _Bad):
            raise ConfigError(path, f"{v.token} is not valid JSON{src}; a config holds "
                              f"finite numbers only (write a number, or null)")
        if isinstance(v, _Dup):
            raise ConfigError(f"{path}.{key_text(v.dup)}", f"duplicate key {v.dup!r}{src}; "
                              f"a JSON object names each key once (which one was meant is "
                              f"ambiguous)")
        if isinstance(v, dict):
            items = [(x, f"{path}.{key_text(k)}") for k, x in v.items()]
            stack.extend(reversed(items))
        elif isinstance(v, list):
            stack.extend(reversed([(x, f"{path}[{i}]") for i, x in enumerate(v)]))
    raise ConfigError(root, f"invalid JSON{src}")  # not reached: a marker was found
