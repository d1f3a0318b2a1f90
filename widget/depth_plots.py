"""The ModelEditor's overview picture: a whole model's activations by depth, drawn with
matplotlib's Figure API (never pyplot: no global figure registry, nothing piles up).

Rows, sharing the x axis (layers in depth order):

1. ``activations``: each layer's output histogram as one column of a heatmap (y: value on an
   asinh scale so a layer ten times larger still fits, colour: density, log colour on
   request), with the output std line over it;
2. ``std``: the output std by depth (log10), the std each Dense/convolution layer's
   initializer predicts (open circles), and the pinned baseline (dashed);
3. ``weights``: the std of each layer's first weight (its kernel) by depth.

:data:`ROWS` lists the rows in order; a gradient-RMS row (issue 11) slots in as one more
entry ``("gradients", draw_fn)`` taking the same statistics once they carry ``grad_rms``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

BINS = 64
#: legends beside the rows, never over the data
OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.005, 1.0), "fontsize": 7,
           "frameon": False, "borderaxespad": 0.0}
FLAG_COLOURS = {"nan": "#7b1fa2", "dead": "#444444", "saturated": "#ef6c00",
                "vanishing": "#1565c0", "exploding": "#c62828", "off theory": "#6d4c41"}


def _scale(stats: Sequence[dict[str, Any]]) -> float:
    stds = [s["std"] for s in stats if s["std"] and math.isfinite(s["std"]) and s["std"] > 0]
    return float(np.median(stds)) if stds else 1.0


def _columns(stats: Sequence[dict[str, Any]], s0: float) -> tuple[np.ndarray, float]:
    us = [np.arcsinh(np.asarray(s.get("values", ()), np.float64) / s0) for s in stats]
    finite = [u[np.isfinite(u)] for u in us]
    pool = np.concatenate(finite) if finite else np.zeros(1)
    top = float(np.max(np.abs(pool))) if pool.size else 1.0
    top = max(top, 1e-6) * 1.02
    grid = np.zeros((BINS, len(stats)))
    edges = np.linspace(-top, top, BINS + 1)
    for j, u in enumerate(finite):
        if u.size:
            h, _ = np.histogram(np.clip(u, -top, top), bins=edges)
            grid[:, j] = h / u.size
    return grid, top


def draw_activations(ax: Any, stats: Sequence[dict[str, Any]], ctx: dict[str, Any]) -> None:
    s0 = _scale(stats)
    grid, top = _columns(stats, s0)
    from matplotlib.colors import LogNorm, Normalize

    # the 99th percentile, not the max: a column of exact zeros (ReLU) would wash out the rest
    nonzero = grid[grid > 0]
    top_density = float(np.percentile(nonzero, 99)) if nonzero.size else 1.0
    norm = LogNorm(vmin=1e-4, vmax=1.0) if ctx.get("log") else Normalize(0, top_density)
    shown = np.where(grid > 0, grid, np.nan) if ctx.get("log") else grid
    im = ax.imshow(shown, origin="lower", aspect="auto", cmap="viridis", norm=norm,
                   extent=(-0.5, len(stats) - 0.5, -top, top), interpolation="nearest")
    x = np.arange(len(stats))
    std = np.array([s["std"] for s in stats], np.float64)
    ax.plot(x, np.arcsinh(std / s0), color="white", lw=1.2, label="std")
    ticks = np.linspace(-top, top, 5)
    ax.set_yticks(ticks)
    ax.set_xticks([])
    ax.set_yticklabels([f"{math.sinh(t) * s0:.2g}" for t in ticks])
    ax.set_ylabel("value (asinh)")
    ax.legend(loc="upper right", fontsize=7, framealpha=0.6)
    box = ax.get_position()
    cax = ax.figure.add_axes((0.81, box.y0, 0.012, box.height))
    cb = ax.figure.colorbar(im, cax=cax)
    cb.set_label("share of the column" + (" (log)" if ctx.get("log") else ", clipped at p99"),
                 fontsize=7)
    cb.ax.tick_params(labelsize=6)


def _positive(values: Sequence[Any]) -> np.ndarray:
    a = np.array([np.nan if v is None else float(v) for v in values], np.float64)
    return np.where(a > 0, a, np.nan)


def _log(values: Sequence[Any]) -> np.ndarray:
    return np.log10(_positive(values))


def draw_std(ax: Any, stats: Sequence[dict[str, Any]], ctx: dict[str, Any]) -> None:
    # log10 on a linear axis: a log-scale axis would parse mathtext tick labels (slow)
    x = np.arange(len(stats))
    live = _log([s["std"] for s in stats])
    ax.plot(x, live, color="C0", lw=1.2, label="live std")
    pred = _log([s.get("predicted_std") for s in stats])
    if np.isfinite(pred).any():
        ax.plot(x, pred, "o", mfc="none", color="C2", ms=4, label="initializer predicts")
    base = ctx.get("baseline")
    if base:
        by = {b["name"]: b for b in base}
        ax.plot(x, _log([by[s["name"]]["std"] if s["name"] in by else None for s in stats]),
                "--", color="C1", lw=1.0, label="pinned baseline")
    low = np.nanmin(live) if np.isfinite(live).any() else 0.0
    for flag, colour in FLAG_COLOURS.items():
        xs = [i for i, s in enumerate(stats) if flag in s.get("flags", ())]
        if xs:
            ax.plot(xs, [low] * len(xs), "^", color=colour, ms=4, ls="none", label=flag)
    ax.set_ylabel("log10 output std")
    ax.legend(**OUTSIDE)


def draw_weights(ax: Any, stats: Sequence[dict[str, Any]], ctx: dict[str, Any]) -> None:
    x = np.arange(len(stats))
    w = _log([s.get("weight_std") for s in stats])
    ax.plot(x, w, "s", color="C4", ms=3, label="kernel std")
    base = ctx.get("baseline")
    if base:
        by = {b["name"]: b for b in base}
        ax.plot(x, _log([by[s["name"]].get("weight_std") if s["name"] in by else None
                         for s in stats]), "x", color="C1", ms=4, label="pinned baseline")
    ax.set_ylabel("log10 weight std")
    if np.isfinite(w).any():
        ax.legend(**OUTSIDE)


def draw_gradients(ax: Any, stats: Sequence[dict[str, Any]], ctx: dict[str, Any]) -> None:
    x = np.arange(len(stats))
    g = _log([s.get("grad_rms") for s in stats])
    ax.plot(x, g, "o-", color="C3", ms=3, lw=1.0, label="gradient RMS")
    ax.set_ylabel("log10 grad RMS")
    ax.legend(**OUTSIDE)


#: (row name, draw function, height ratio); the gradient row is drawn only when the
#: statistics carry ``grad_rms`` (ModelEditor.show_gradients)
ROWS: list[tuple[str, Callable[[Any, Sequence[dict[str, Any]], dict[str, Any]], None],
                 float]] = [
    ("activations", draw_activations, 3.0),
    ("std", draw_std, 1.6),
    ("weights", draw_weights, 1.2),
    ("gradients", draw_gradients, 1.2),
]


def depth_figure(stats: Sequence[dict[str, Any]], *, baseline: Any = None,
                 selected: str | None = None, log: bool = False,
                 width: float = 9.5) -> Any:
    """The overview of ``stats`` (ModelEditor statistics with their ``values``)."""
    from matplotlib.figure import Figure

    rows = [r for r in ROWS if r[0] != "gradients" or
            any(s.get("grad_rms") is not None for s in stats)]
    height = 1.3 + 1.25 * sum(r[2] for r in rows)
    fig = Figure(figsize=(width, height), dpi=80)
    # fixed margins: constrained layout costs ~1 s on a 150-layer picture
    axes = fig.subplots(len(rows), 1, gridspec_kw={
        "height_ratios": [r[2] for r in rows], "left": 0.085, "right": 0.8,
        "top": 1 - 0.3 / height, "bottom": 0.55 / height, "hspace": 0.08})
    ctx = {"baseline": baseline, "log": log}
    names = [s["name"] for s in stats]
    for ax, (_, draw, _) in zip(axes, rows):
        draw(ax, stats, ctx)
        ax.tick_params(labelsize=7)
        ax.yaxis.label.set_size(8)
        if selected in names:
            i = names.index(selected)
            ax.axvline(i, color="red", lw=1.0, alpha=0.8)
    for ax in axes:
        ax.set_xlim(-0.5, len(stats) - 0.5)
    for ax in axes[:-1]:  # ticks are costly artists: only the bottom row has them
        ax.set_xticks([])
    # depth numbers, not names: 30 rotated names cost ~0.4 s to draw (the table has names)
    from matplotlib.ticker import MaxNLocator

    axes[-1].xaxis.set_major_locator(MaxNLocator(12, integer=True))
    for ax in axes[1:]:
        ax.yaxis.set_major_locator(MaxNLocator(4))
    axes[-1].set_xlabel("layer depth (# in the table)", fontsize=8)
    title = f"{len(stats)} layers"
    if selected in names:
        title += f" · selected: #{names.index(selected)} {selected} (red line)"
    axes[0].set_title(title, fontsize=9)
    return fig


def depth_png(stats: Sequence[dict[str, Any]], **kwargs: Any) -> bytes:
    """:func:`depth_figure` rendered to PNG bytes (Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = depth_figure(stats, **kwargs)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
