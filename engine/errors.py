"""Errors raised by the engine.

Every error about user input starts with the path of the offending field, so that
a message reads like ``config.kernel_initializer.config.scale: must be > 0, got -1.0``.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from typing import Any

_EXCERPT = 60


def _reprer() -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxtuple, r.maxdict, r.maxset = 3, 12, 12, 6, 6
    r.maxstring = r.maxother = r.maxlong = _EXCERPT
    return r


_REPR = _reprer()


def excerpt(value: Any, limit: int = _EXCERPT) -> str:
    """A short, safe rendering of a user value for an error message (a huge list is not
    rendered in full first, and a hostile ``__repr__`` cannot hide the real error)."""
    try:
        text = _REPR.repr(value) if isinstance(value, (list, tuple, dict, str)) else repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def key_text(key: Any, limit: int = 40) -> str:
    """A config key or name for a path or message, cut short when it is huge or odd."""
    if isinstance(key, str) and len(key) <= limit and key.isprintable():
        return key
    return excerpt(key, limit)


def article(noun: str) -> str:
    """``an initializer``, ``a layer``."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


_PLAIN = (bool, int, float, str, list, tuple, dict)


def describe(value: Any) -> str:
    """``the str '3'``, ``the bool True``: what was received, for messages."""
    if value is None:
        return "None"
    if isinstance(value, _PLAIN):
        return f"the {type(value).__name__} {excerpt(value)}"
    return f"{article(type(value).__name__)} object {excerpt(value)}"


#: at most this many candidates are compared in full for a "close names" hint
_CLOSE_POOL = 40
#: longest error message (a huge one is cut, saying how much was left out)
MAX_MESSAGE_CHARS = 4000
#: at most this many problems are listed in a MultipleConfigErrors message
MAX_LISTED_ERRORS = 20


def close_names(name: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """Up to ``n`` candidates close to ``name``, for "did you mean" hints.

    Linear in the number of candidates: only those of a similar length that share a
    character with ``name`` are kept (at most 40, the first ones), and only those are
    compared with difflib, so thousands of unknown names against thousands of candidates
    stay fast."""
    if not isinstance(name, str) or not name or len(name) > 100:
        return []
    import difflib  # only when a message needs it (keeps `import engine` light)

    low = name.lower()
    size, chars = len(low), set(low)
    slack = size // 2 + 2
    lowered: dict[str, str] = {}
    for c in candidates:
        if not isinstance(c, str) or abs(len(c) - size) > slack:
            continue
        lc = c.lower()
        if lc[:1] in chars or lc[-1:] in chars:
            lowered.setdefault(lc, c)
            if len(lowered) >= _CLOSE_POOL:
                break
    hits = difflib.get_close_matches(low, list(lowered), n=n, cutoff=0.6)
    return [lowered[h] for h in hits]


def cap_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text``, cut to ``limit`` characters with a note of how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters left out)"


class ConfigError(ValueError):
    """A config (or a value given to a layer) is invalid.

    ``path`` is where in the config the problem is (``config.units``,
    ``layers[3].config.kernel_initializer``); the message always starts with it.
    """

    def __init__(self, path: str, message: str):
        path = cap_message(str(path), 400)
        message = cap_message(str(message))
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}" if path else message)

    def with_prefix(self, prefix: str) -> ConfigError:
        """The same error, re-rooted under ``prefix`` (for nested configs)."""
        path = f"{prefix}.{self.path}" if self.path and prefix else (prefix or self.path)
        err = type(self)(path, self.reason)
        err.__cause__ = self.__cause__
        return err


class UnsafeConfigError(ConfigError):
    """The config asks for code to be run (a Lambda, a function given as bytecode)."""


class BudgetError(ConfigError):
    """Something would take more memory (weights, constants, a layer's output) or time
    than the budget allows (engine.budget); raised before anything is allocated."""


class InputError(ConfigError):
    """The data given to a layer or model does not fit it (wrong rank or sizes, an empty
    axis it cannot reduce, complex or string values where real numbers are expected).
    ``path`` names the layer and the input."""


class WeightsError(ValueError):
    """Weights given to a layer or read from a file do not fit it."""


class MultipleConfigErrors(ConfigError):
    """Several independent problems found in one config (a whole model)."""

    def __init__(self, path: str, errors: list[ConfigError] | str):
        if isinstance(errors, str):  # re-rooting through ConfigError.with_prefix
            super().__init__(path, errors)
            self.errors = []
            return
        self.errors = list(errors)
        shown = self.errors[:MAX_LISTED_ERRORS]
        lines = "\n".join(f"  - {cap_message(str(e), 100)}" for e in shown)
        more = len(self.errors) - len(shown)
        if more:
            lines += f"\n  ... and {more:,} more (see .errors)"
        super().__init__(path, f"{len(self.errors)} problems:\n{lines}")
