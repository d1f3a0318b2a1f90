"""``model.summary()``: Keras's table of layers, output shapes and parameter counts."""

from __future__ import annotations

import shutil
import textwrap
from typing import Any

import numpy as np


def format_shape(shape: Any) -> str:
    """A shape as Keras prints it: ``(None, 26, 26, 8)``, ``(3,)``, ``?`` when unknown.

    Shapes come from configs too, so anything else (a dict of shapes, a bare number, text)
    is shown, never an error: a dict as ``{name: shape}``, other values by their repr (cut
    to 40 characters)."""
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{k!r}: {format_shape(v)}" for k, v in shape.items()) + "}"
    if not isinstance(shape, tuple):
        text = repr(shape)
        return text if len(text) <= 40 else f"{text[:37]}..."
    if len(shape) == 1:
        return f"({_dim(shape[0])},)"
    return "(" + ", ".join(_dim(d) for d in shape) + ")"


def _dim(d: Any) -> str:
    if d is None:
        return "None"
    if isinstance(d, (tuple, list, dict)):
        return format_shape(d)
    text = str(d)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _memory(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n / 1024 < 1:
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} PB"


def summary_text(model: Any, rows: list[list[str]], sequential: bool,
                 line_length: int | None) -> str:
    """The whole summary of ``model`` for its ``rows`` (one per layer).

    Args:
        model: the model (its name and weights are read).
        rows: per layer ``[name (type), output shape, params]`` and, for a functional
            model that is not a plain stack, ``connected to``.
        sequential: print three columns (a plain stack) instead of four.
        line_length: the table width; by default Keras's (88 or 108, or the terminal's).
    """
    if sequential:
        header = ["Layer (type)", "Output Shape", "Param #"]
        positions, default, align = [0.45, 0.80, 1.0], 88, "<<>"
    else:
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        positions, default, align = [0.3, 0.56, 0.74, 1.0], 108, "<<><"
    if line_length is None:
        line_length = min(default, shutil.get_terminal_size((default + 4, 24)).columns - 4)
    text = _table(f'Model: "{model.name}"', header, align, positions, line_length,
                  [r[:len(header)] for r in rows])
    tw, nw = list(model.trainable_weights), list(model.non_trainable_weights)
    tc, nc = sum(w.size for w in tw), sum(w.size for w in nw)
    tm = sum(w.size * np.dtype(w.dtype).itemsize for w in tw)
    nm = sum(w.size * np.dtype(w.dtype).itemsize for w in nw)
    return text + (f"\n Total params: {tc + nc:,} ({_memory(tm + nm)})\n"
                   f" Trainable params: {tc:,} ({_memory(tm)})\n"
                   f" Non-trainable params: {nc:,} ({_memory(nm)})\n")


def _table(title: str, header: list[str], align: str, positions: list[float],
           line_length: int, rows: list[list[str]]) -> str:
    widths, cur = [], 0
    for p in positions:
        w = int(p * line_length) - cur
        widths.append(w)
        cur += w
    inner = [max(1, w - 3) for w in widths]  # one border + two padding spaces per column
    inner[-1] = max(1, inner[-1] - 1)

    def line(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (w + 2) for w in inner) + right

    def cells(values: list[str], sep: str) -> list[str]:
        wrapped = [textwrap.wrap(v, w, break_long_words=True) or [""]
                   for v, w in zip(values, inner)]
        out = []
        for i in range(max(len(c) for c in wrapped)):
            parts = []
            for c, w, a in zip(wrapped, inner, align):
                s = c[i] if i < len(c) else ""
                parts.append(" " + (s.rjust(w) if a == ">" else s.ljust(w)) + " ")
            out.append(sep + sep.join(parts) + sep)
        return out

    lines = [title, line("┏", "━", "┳", "┓")]
    lines += cells(header, "┃")
    lines.append(line("┡", "━", "╇", "┩"))
    for i, r in enumerate(rows):
        if i:
            lines.append(line("├", "─", "┼", "┤"))
        lines += cells(r, "│")
    lines.append(line("└", "─", "┴", "┘"))
    return "\n".join(lines)
