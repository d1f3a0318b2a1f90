"""The ModelEditor's layer table: rows of text in a Select (monospace, one line a layer),
filtered by name or class, sorted, flags marked, the pinned baseline's std delta."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import engine

from .depth_plots import FLAG_COLOURS
from .editor import LayerEditor
from .model_stats import (
    DEAD_FLAG,
    DEPTH_RATIO,
    SATURATED_FLAG,
    SATURATION_MARGIN,
    THEORY_RATIO,
)

THRESHOLDS = (
    f"Flags: <b>saturated</b> ≥ {SATURATED_FLAG:.0%} of outputs within {SATURATION_MARGIN:.0%} "
    f"of a bound of the activation (tanh, sigmoid, softsign, hard_sigmoid, ReLU6); "
    f"<b>dead</b> ≥ {DEAD_FLAG:.0%} of units zero for every sample (or a constant output); "
    f"<b>vanishing</b>/<b>exploding</b>: std below 1/{DEPTH_RATIO:g} or above {DEPTH_RATIO:g}× "
    f"the first layer's; <b>nan</b>: NaN or inf; <b>off theory</b>: a Dense/conv std outside "
    f"×{THEORY_RATIO:g} of what its initializer predicts.")


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


def open_layer_editor(layer: Any, x: Any, seed: int) -> tuple[Any, str]:
    """A LayerEditor on the layer itself and its real input; else (layers with several
    inputs, which the LayerEditor does not take yet) on its config, seeded weights."""
    try:
        ed = LayerEditor(layer, sample=x, seed=seed)
        if ed.error is not None:  # it opened, but could not run the layer on x
            raise ValueError(ed.error)
        return ed, ""
    except Exception as first:  # noqa: BLE001 - try the fallbacks, then say why
        cfg = engine.serialize(layer)
        cfg = {"class_name": cfg["class_name"], "config": cfg["config"]}
        single = x if not isinstance(x, list) else None
        try:
            return LayerEditor(cfg, sample=single, seed=seed), \
                " <small>(the form shows this layer's config on a seeded sample: the " \
                "editor could not take the layer with its real input: " \
                f"{html.escape(str(first)[:160])})</small>"
        except Exception:  # noqa: BLE001
            raise ValueError(f"select: the LayerEditor cannot open {layer.name!r} "
                             f"({type(layer).__name__}): {first}") from None
