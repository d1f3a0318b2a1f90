"""JSON text parsed strictly: the one parser for ``.json`` model files, the ``config.json``
and ``metadata.json`` of a ``.keras`` archive and the ``model_config`` attribute of a
legacy ``.h5`` file.

Python's ``json`` accepts ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON) and keeps the
last of duplicate keys silently. Here either is a :class:`ConfigError` whose path names the
key (``config.layers[2].config.rate``), so a config means exactly one thing.

Text nested deeper than :data:`MAX_JSON_DEPTH` (128) is a :class:`FileError`, found by a
scan of the brackets before parsing (not by the parser running out of stack); a config
nested deeper than ``MAX_CONFIG_DEPTH`` (64) is then refused by ``deserialize`` with a
ConfigError naming where.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from ..errors import ConfigError, key_text
from .safety import FileError

#: the deepest nesting of lists and objects in JSON text
MAX_JSON_DEPTH = 128
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")


def json_depth(data: bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` in the JSON text ``data`` (brackets inside
    strings do not count), computed without recursion; when the text has at most
    ``MAX_JSON_DEPTH`` brackets, their count (an upper bound) is returned."""
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return data.count(b"[") + data.count(b"{")
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    deepest, level, step = 0, 0, 1 << 20
    for start in range(0, len(brackets), step):
        piece = np.frombuffer(brackets, np.uint8, min(step, len(brackets) - start), start)
        depth = np.cumsum(np.where((piece == 91) | (piece == 123), 1, -1), dtype=np.int64)
        deepest = max(deepest, level + int(depth.max()))
        level += int(depth[-1])
    return deepest


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
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise FileError(f"{what or 'config'}: JSON nested too deeply ({depth:,} levels; the "
                        f"most is {MAX_JSON_DEPTH}, MAX_JSON_DEPTH)")
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
