"""The ModelEditor's layer table: rows of text in a Select (monospace, one line a layer),
filtered by name or class, sorted, flags marked, the pinned baseline's std delta."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from .depth_plots import FLAG_COLOURS

SORTS = {"depth": lambda s: s["depth"], "std": lambda s: -_num(s["std"]),
         "flags": lambda s: (-len(s["flags"]), s["depth"]), "name": lambda s: s["name"],
         "dead units": lambda s: -s["dead_units"],
         "saturated": lambda s: -_num(s["saturated_fraction"])}


def _num(v: Any) -> float:
    return v if isinstance(v, (int, float)) and math.isfinite(v) else -1.0


def _g(v: Any) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3g}"


def table_rows(stats: Sequence[dict[str, Any]], baseline: Any, query: str,
               flagged_only: bool, sort: str) -> tuple[str, str, list[tuple[str, str]]]:
    """The flag summary (HTML), the table's head (HTML) and its rows ``(text, layer)``."""
    base = {b["name"]: b for b in baseline or []}
    flagged = [s for s in stats if s["flags"]]
    summary = "<b>flagged:</b> " + (", ".join(
        f"<span style='color:{FLAG_COLOURS.get(s['flags'][0], '#000')}'>"
        f"{html.escape(s['name'])} ({', '.join(s['flags'])})</span>"
        for s in flagged[:30]) + (" …" if len(flagged) > 30 else "") if flagged else
        "<span style='color:#2e7d32'>none</span>")
    q = query.strip().lower()
    rows = [s for s in stats if not q or q in s["name"].lower()
            or q in s["class_name"].lower()]
    if flagged_only:
        rows = [s for s in rows if s["flags"]]
    rows.sort(key=SORTS[sort])
    width = max([len(s["name"]) for s in rows] + [10])
    head = "<pre style='margin:0'>" + html.escape(
        f"{'#':>4} {'layer':<{width}} {'class':<18} {'std':>8} {'pred':>8} "
        f"{'Δstd' if base else '':>8} {'zeros':>6} {'sat':>6} {'dead':>7}  flags") + "</pre>"
    options = []
    for s in rows:
        b = base.get(s["name"])
        delta = _g(s["std"] - b["std"]) if b else ""
        options.append((f"{s['depth']:>4} {s['name']:<{width}} "
                        f"{s['class_name'][:18]:<18} "
                        f"{_g(s['std']):>8} {_g(s.get('predicted_std')):>8} {delta:>8} "
                        f"{_g(s['zero_fraction']):>6} {_g(s['saturated_fraction']):>6} "
                        f"{s['dead_units']:>3}/{s['units']:<3}  "
                        f"{' '.join('!' + f for f in s['flags'])}", s["name"]))
    return summary, head, options
