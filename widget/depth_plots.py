"""The ModelEditor's overview picture: a whole model's activations by depth, drawn with
matplotlib's Figure API (never pyplot: no global figure registry, nothing piles up).

Rows, sharing the x axis (layers in depth order):

1. ``activations``: each layer's output histogram as one column of a heatmap (y: value on an
   asinh scale so a layer ten times larger still fits, colour: density, log colour on
   request), with the output std line over it;
2. ``std``: the output std by depth (log10), the std each Dense/convolution layer's
   initializer predicts (open circles), and the pinned baseline (dashed);
3. ``weights``: the std of each layer's first weight (its kernel) by depth;
4. ``gradients``: gradient RMS by depth (``grad_rms``), with a note saying the loss, or
   "updating" while the gradients are computed, or why there are none; drawn unless
   ``gradients=None`` (the loss is "off").

A narrow picture (``DepthPicture(narrow=True)``, for pages about 420 px wide) is a smaller
figure (laid out as 320 px at dpi 80, drawn at dpi 100: 400 px) with larger text, fewer
ticks, and the legends in a line over each row. The PNG is written by :func:`png_bytes`
(unfiltered rows, zlib level 1: about half the time of PIL's encoder).

:data:`ROWS` lists the rows in order (name, row class, height ratio). A :class:`DepthPicture`
keeps one figure: it draws everything once, keeps the frame (axes, ticks, labels, legends,
colour bar) as a background and, while the scales still fit the data, redraws only the data
artists over it (blitting); a change of layers, flags, baseline, colour scale or data outside
the axes' ranges draws everything again.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

BINS = 64
#: legends beside the rows, never over the data
OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.005, 1.0), "fontsize": 7,
           "frameon": False, "borderaxespad": 0.0}
FLAG_COLOURS = {"nan": "#7b1fa2", "dead": "#444444", "saturated": "#ef6c00",
                "vanishing": "#1565c0", "exploding": "#c62828", "off theory": "#6d4c41"}
#: fixed margins (figure fractions): constrained layout costs ~1 s on a 150-layer picture
LEFT, RIGHT = 0.085, 0.8
#: a redraw keeps the scales while the data's range stays within them and spans at least
#: this share of them; the colour scale while its p99 density stays within this factor
KEEP_SPAN, KEEP_DENSITY = 0.6, 1.5


def _scale(stats: Sequence[dict[str, Any]]) -> float:
    stds = [s["std"] for s in stats if s["std"] and math.isfinite(s["std"]) and s["std"] > 0]
    return float(np.median(stds)) if stds else 1.0


def _finite_columns(stats: Sequence[dict[str, Any]], s0: float,
                    shared: dict[str, Any] | None = None) -> list[np.ndarray]:
    """Each layer's sampled values on the asinh scale, finite ones only. ``shared``: a dict
    two pictures of the same statistics share, so that the second one reuses the first
    one's columns (same value arrays, same scale)."""
    values = [s.get("values", ()) for s in stats]
    if shared is not None:
        hit = shared.get("columns")
        if hit and hit[1] == s0 and len(hit[0]) == len(values) and all(
                a is b for a, b in zip(hit[0], values)):
            return hit[2]
    us = [np.arcsinh(np.asarray(v, np.float64) / s0) for v in values]
    cols = [u[np.isfinite(u)] for u in us]
    if shared is not None:
        shared["columns"] = (values, s0, cols)
    return cols


def _top(columns: list[np.ndarray]) -> float:
    tops = [float(np.max(np.abs(u))) for u in columns if u.size]
    return max(max(tops, default=1.0), 1e-6) * 1.02


def _grid(columns: list[np.ndarray], top: float) -> np.ndarray:
    """Column j: the histogram of ``columns[j]`` over BINS equal bins on [-top, top] (values
    outside go to the end bins), as shares of the column (one bincount for all)."""
    sizes = np.array([u.size for u in columns])
    if not sizes.sum():
        return np.zeros((BINS, len(columns)))
    u = np.concatenate(columns)
    idx = np.clip(((u + top) * (BINS / (2 * top))).astype(np.int64), 0, BINS - 1)
    idx += np.repeat(np.arange(len(columns)) * BINS, sizes)
    counts = np.bincount(idx, minlength=BINS * len(columns)).reshape(len(columns), BINS)
    return (counts / np.maximum(sizes, 1)[:, None]).T


def _p99(grid: np.ndarray) -> float:
    # the 99th percentile, not the max: a column of exact zeros (ReLU) would wash out the rest
    nonzero = grid[grid > 0]
    return float(np.percentile(nonzero, 99)) if nonzero.size else 1.0


def _positive(values: Sequence[Any]) -> np.ndarray:
    a = np.array([np.nan if v is None else float(v) for v in values], np.float64)
    return np.where(a > 0, a, np.nan)


def _log(values: Sequence[Any]) -> np.ndarray:
    return np.log10(_positive(values))


def _baseline(ctx: dict[str, Any], stats: Sequence[dict[str, Any]], key: str) -> Any:
    base = ctx.get("baseline")
    if not base:
        return None
    by = {b["name"]: b for b in base}
    return _log([by[s["name"]].get(key) if s["name"] in by else None for s in stats])


def _fit(ax: Any, arrays: Sequence[Any]) -> None:
    """y limits around the finite values with room to spare (so that later data still
    fits and only the data artists are redrawn)."""
    vals = np.concatenate([np.asarray(a, np.float64).ravel() for a in arrays if a is not None])
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return
    lo, hi = float(vals.min()), float(vals.max())
    pad = max(0.2 * (hi - lo), 0.3)
    ax.set_ylim(lo - pad, hi + pad)


def _inside(ax: Any, arrays: Sequence[Any]) -> bool:
    lo, hi = ax.get_ylim()
    for a in arrays:
        v = np.asarray(a, np.float64)
        v = v[np.isfinite(v)]
        if v.size and (v.min() < lo or v.max() > hi):
            return False
    return True


class Row:
    """One row of the picture: :meth:`build` makes its artists (the live ones animated),
    :meth:`update` gives them new data and says False when the scales no longer fit."""

    def __init__(self) -> None:
        self.live: list[Any] = []

    def key(self, stats: Sequence[dict[str, Any]], ctx: dict[str, Any]) -> tuple[Any, ...]:
        return ()

    def build(self, ax: Any, stats: Sequence[dict[str, Any]], ctx: dict[str, Any]) -> None:
        raise NotImplementedError

    def update(self, stats: Sequence[dict[str, Any]], ctx: dict[str, Any]) -> bool:
        raise NotImplementedError

    def animated(self, *artists: Any) -> None:
        for a in artists:
            a.set_animated(True)
            self.live.append(a)


class ActivationsRow(Row):
    def key(self, stats, ctx):
        return (bool(ctx.get("log")),)

    def build(self, ax, stats, ctx):
        from matplotlib.colors import LogNorm, Normalize

        self.s0 = _scale(stats)
        cols = _finite_columns(stats, self.s0, ctx.get("shared"))
        self.top = _top(cols)
        grid = _grid(cols, self.top)
        self.log = bool(ctx.get("log"))
        self.density = _p99(grid)
        norm = LogNorm(vmin=1e-4, vmax=1.0) if self.log else Normalize(0, self.density)
        self.image = ax.imshow(self._shown(grid), origin="lower", aspect="auto",
                               cmap="viridis", norm=norm, interpolation="nearest",
                               extent=(-0.5, len(stats) - 0.5, -self.top, self.top))
        x = np.arange(len(stats))
        (self.std_line,) = ax.plot(x, self._std(stats), color="white", lw=1.2, label="std")
        self.animated(self.image, self.std_line)
        ticks = np.linspace(-self.top, self.top, 5)
        ax.set_yticks(ticks)
        ax.set_ylim(-self.top, self.top)
        ax.set_yticklabels([f"{math.sinh(t) * self.s0:.2g}" for t in ticks])
        ax.set_ylabel("value (asinh)")
        ax.legend(loc="upper right", fontsize=ctx["small"], framealpha=0.6)
        box = ax.get_position()
        cax = ax.figure.add_axes((ctx["right"] + 0.01, box.y0, 0.012 * ctx["bar"],
                                  box.height))
        cb = ax.figure.colorbar(self.image, cax=cax)
        cb.set_label(("share" if ctx["bar"] > 1 else "share of the column") +
                     (" (log)" if self.log else ", clipped at p99"), fontsize=ctx["small"])
        cb.ax.tick_params(labelsize=ctx["small"] - 1)

    def _shown(self, grid: np.ndarray) -> np.ndarray:
        return np.where(grid > 0, grid, np.nan) if self.log else grid

    def _std(self, stats):
        std = np.array([s["std"] for s in stats], np.float64)
        return np.arcsinh(std / self.s0)

    def update(self, stats, ctx):
        cols = _finite_columns(stats, self.s0, ctx.get("shared"))
        top = _top(cols)
        if top > self.top or top < KEEP_SPAN * self.top:
            return False
        grid = _grid(cols, self.top)
        if not self.log and not (self.density / KEEP_DENSITY <= _p99(grid)
                                 <= self.density * KEEP_DENSITY):
            return False
        self.image.set_data(self._shown(grid))
        self.std_line.set_ydata(self._std(stats))
        return True


class StdRow(Row):
    def key(self, stats, ctx):
        flags = tuple(f for f in FLAG_COLOURS if any(f in s.get("flags", ()) for s in stats))
        pred = bool(np.isfinite(_log([s.get("predicted_std") for s in stats])).any())
        return flags, pred

    def _data(self, stats):
        live = _log([s["std"] for s in stats])
        pred = _log([s.get("predicted_std") for s in stats])
        return live, pred

    def build(self, ax, stats, ctx):
        # log10 on a linear axis: a log-scale axis would parse mathtext tick labels (slow)
        x = np.arange(len(stats))
        live, pred = self._data(stats)
        (self.line,) = ax.plot(x, live, color="C0", lw=1.2, label="live std")
        (self.pred,) = ax.plot(x, pred, "o", mfc="none", color="C2", ms=4,
                               label="initializer predicts" if np.isfinite(pred).any()
                               else "_pred")
        self.animated(self.line, self.pred)
        base = _baseline(ctx, stats, "std")
        if base is not None:
            ax.plot(x, base, "--", color="C1", lw=1.0, label="pinned baseline")
        self.markers = {}
        for flag, colour in FLAG_COLOURS.items():
            present = any(flag in s.get("flags", ()) for s in stats)
            (m,) = ax.plot([], [], "^", color=colour, ms=4, ls="none",
                           label=flag if present else f"_{flag}")
            self.markers[flag] = m
            self.animated(m)
        self._markers(stats, live)
        _fit(ax, [live, pred, base])
        self.ax = ax
        ax.set_ylabel("log10 output std")
        ax.legend(**ctx["legend"])

    def _markers(self, stats, live):
        low = np.nanmin(live) if np.isfinite(live).any() else 0.0
        for flag, m in self.markers.items():
            xs = [i for i, s in enumerate(stats) if flag in s.get("flags", ())]
            m.set_data(xs, [low] * len(xs))

    def update(self, stats, ctx):
        live, pred = self._data(stats)
        if not _inside(self.ax, [live, pred]):
            return False
        self.line.set_ydata(live)
        self.pred.set_ydata(pred)
        self._markers(stats, live)
        return True


class WeightsRow(Row):
    def key(self, stats, ctx):
        return (bool(np.isfinite(_log([s.get("weight_std") for s in stats])).any()),)

    def build(self, ax, stats, ctx):
        x = np.arange(len(stats))
        w = _log([s.get("weight_std") for s in stats])
        (self.points,) = ax.plot(x, w, "s", color="C4", ms=3, label="kernel std")
        self.animated(self.points)
        base = _baseline(ctx, stats, "weight_std")
        if base is not None:
            ax.plot(x, base, "x", color="C1", ms=4, label="pinned baseline")
        _fit(ax, [w, base])
        self.ax = ax
        ax.set_ylabel("log10 weight std")
        if np.isfinite(w).any():
            ax.legend(**ctx["legend"])

    def update(self, stats, ctx):
        w = _log([s.get("weight_std") for s in stats])
        if not _inside(self.ax, [w]):
            return False
        self.points.set_ydata(w)
        return True


class GradientsRow(Row):
    def build(self, ax, stats, ctx):
        x = np.arange(len(stats))
        g = _log([s.get("grad_rms") for s in stats])
        (self.line,) = ax.plot(x, g, "o-", color="C3", ms=3, lw=1.0, label="gradient RMS")
        # exact zeros (upstream of a dead layer, say) have no log: marked on the bottom edge
        (self.zeros,) = ax.plot([], [], "v", color="C3", mfc="none", ms=4, ls="none",
                                transform=ax.get_xaxis_transform(), clip_on=False)
        self.note = ax.text(0.01, 0.95, "", transform=ax.transAxes, fontsize=ctx["small"] - 1,
                            va="top", ha="left", color="#333333",
                            bbox={"facecolor": "white", "alpha": 0.75, "lw": 0, "pad": 1})
        self.animated(self.line, self.zeros, self.note)
        self._note(ctx, stats)
        # a row still without data gets a span that usual gradient RMS values fit in
        _fit(ax, [g]) if np.isfinite(g).any() else ax.set_ylim(-6.0, 1.0)
        self.ax = ax
        ax.set_ylabel("log10 grad RMS")
        ax.legend(**ctx["legend"])

    def _note(self, ctx, stats):
        xs = [i for i, s in enumerate(stats) if s.get("grad_rms") == 0.0]
        self.zeros.set_data(xs, [0.03] * len(xs))
        note = ctx.get("gradients") or ""
        self.note.set_text(note + (" · ▽ = 0" if xs else ""))

    def update(self, stats, ctx):
        g = _log([s.get("grad_rms") for s in stats])
        if not _inside(self.ax, [g]):
            return False
        self.line.set_ydata(g)
        self._note(ctx, stats)
        return True


#: (row name, row class, height ratio); the gradient row is drawn unless ``gradients`` is
#: None and no statistic carries ``grad_rms``
ROWS: list[tuple[str, type[Row], float]] = [
    ("activations", ActivationsRow, 3.0),
    ("std", StdRow, 1.6),
    ("weights", WeightsRow, 1.2),
    ("gradients", GradientsRow, 1.2),
]


class DepthPicture:
    """The overview, kept between draws (see the module docstring). ``full_draws`` and
    ``blits`` count how each :meth:`png` was made."""

    def __init__(self, width: float = 9.5, dpi: int = 80, narrow: bool = False,
                 shared: dict[str, Any] | None = None):
        self.narrow = narrow
        #: shared with another picture of the same statistics (see _finite_columns)
        self.shared = shared
        # narrow: laid out as 320 px at dpi 80 with larger text, drawn at dpi 100 (400 px):
        # a 420 px page shows it about 1:1, JupyterLab's 300 px output area at 0.75x with
        # its text still about 9 px tall
        self.width, self.dpi = (4.0, 100) if narrow else (width, dpi)
        self.figure: Any = None
        self.full_draws = 0
        self.blits = 0
        self._key: Any = None

    def png(self, stats: Sequence[dict[str, Any]], *, baseline: Any = None,
            selected: str | None = None, log: bool = False,
            gradients: str | None = None) -> bytes:
        """The picture of ``stats`` (ModelEditor statistics with their ``values``) as PNG;
        ``gradients``: the gradient row's note (the loss, "updating", why none), the row
        being drawn when it is given or a statistic carries ``grad_rms``."""
        narrow = self.narrow
        ctx = {"baseline": baseline, "log": log, "gradients": gradients, "shared": self.shared,
               "small": 9 if narrow else 7, "right": 0.8 if narrow else RIGHT,
               "bar": 2.0 if narrow else 1.0,
               # narrow: legends in a line over their row, not over the data
               "legend": {"loc": "lower left", "bbox_to_anchor": (0.0, 1.0), "fontsize": 7,
                          "ncol": 3, "frameon": False, "borderaxespad": 0.1,
                          "handlelength": 1.2, "columnspacing": 0.8}
               if narrow else OUTSIDE}
        rows = [r for r in ROWS if r[0] != "gradients" or gradients is not None or
                any(s.get("grad_rms") is not None for s in stats)]
        key = (tuple(s["name"] for s in stats), tuple(r[0] for r in rows),
               id(baseline) if baseline else None,
               tuple(cls().key(stats, ctx) for _, cls, _ in rows))
        fast = self.figure is not None and key == self._key and \
            all(row.update(stats, ctx) for row in self.rows)
        if fast:
            self.canvas.restore_region(self._background)
            self.blits += 1
        else:
            self._build(stats, ctx, rows)
            self._key = key
            self.full_draws += 1
        self._select(stats, selected)
        for ax, row in zip(self.axes, self.rows):
            for artist in row.live:
                ax.draw_artist(artist)
        for ax, line in zip(self.axes, self.marks):
            ax.draw_artist(line)
        self.axes[0].draw_artist(self.axes[0].title)
        return png_bytes(np.asarray(self.canvas.buffer_rgba())[..., :3])  # opaque: no alpha

    def heatmap_box(self) -> tuple[float, float, float, float]:
        """Where the heatmap's axes are in the picture, as fractions of its width and
        height: (left, top, width, height) (for the clickable columns laid over it)."""
        b = self.axes[0].get_position()
        return b.x0, 1.0 - b.y1, b.x1 - b.x0, b.y1 - b.y0

    def _build(self, stats: Sequence[dict[str, Any]], ctx: dict[str, Any],
               rows: list[tuple[str, type[Row], float]]) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        narrow = self.narrow
        height = 1.3 + (0.95 if narrow else 1.25) * sum(r[2] for r in rows)
        fig = Figure(figsize=(self.width, height), dpi=self.dpi)
        self.canvas = FigureCanvasAgg(fig)
        axes = fig.subplots(len(rows), 1, squeeze=False, gridspec_kw={
            "height_ratios": [r[2] for r in rows], "left": 0.15 if narrow else LEFT,
            "right": ctx["right"],
            "top": 1 - 0.3 / height, "bottom": 0.55 / height,
            "hspace": 0.45 if narrow else 0.08})[:, 0]
        self.figure, self.axes, self.rows = fig, list(axes), [cls() for _, cls, _ in rows]
        for ax, row in zip(axes, self.rows):
            row.build(ax, stats, ctx)
            ax.tick_params(labelsize=ctx["small"])
            ax.yaxis.label.set_size(ctx["small"] + 1)
            ax.set_xlim(-0.5, len(stats) - 0.5)
        for ax in axes[:-1]:  # ticks are costly artists: only the bottom row has them
            ax.set_xticks([])
        # depth numbers, not names: 30 rotated names cost ~0.4 s to draw (the table has names)
        axes[-1].xaxis.set_major_locator(MaxNLocator(6 if narrow else 12, integer=True))
        for ax in axes[1:]:
            ax.yaxis.set_major_locator(MaxNLocator(3 if narrow else 4))
        axes[-1].set_xlabel("layer depth (# in the table)", fontsize=ctx["small"] + 1)
        self.marks = [ax.axvline(0, color="red", lw=1.0, alpha=0.8, animated=True)
                      for ax in axes]
        axes[0].set_title(" ", fontsize=ctx["small"] + 2, animated=True)
        self._title_size = ctx["small"] + 2
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(fig.bbox)

    def _select(self, stats: Sequence[dict[str, Any]], selected: str | None) -> None:
        names = [s["name"] for s in stats]
        title = f"{len(stats)} layers"
        i = names.index(selected) if selected in names else None
        if i is not None:
            title += f" · selected: #{i} {selected} (red line)"
        for line in self.marks:
            line.set_visible(i is not None)
            line.set_xdata([i or 0, i or 0])
        self.axes[0].set_title(title, fontsize=self._title_size, animated=True)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB array (height, width, 3) as PNG: every row unfiltered, zlib level 1.
    About half the time of PIL's encoder at its fastest level (whose per-row filter choice
    costs more than the compression), at about the same size for a plot's flat colours."""
    h, w, _ = rgb.shape
    rows = np.empty((h, 1 + 3 * w), np.uint8)
    rows[:, 0] = 0  # filter type None
    rows[:, 1:] = rgb.reshape(h, 3 * w)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) \
        + _chunk(b"IDAT", zlib.compress(rows.data, 1)) + _chunk(b"IEND", b"")


def depth_figure(stats: Sequence[dict[str, Any]], *, baseline: Any = None,
                 selected: str | None = None, log: bool = False, width: float = 9.5) -> Any:
    """The overview of ``stats`` as a matplotlib Figure (drawn once)."""
    pic = DepthPicture(width)
    pic.png(stats, baseline=baseline, selected=selected, log=log)
    return pic.figure


def depth_png(stats: Sequence[dict[str, Any]], **kwargs: Any) -> bytes:
    """The overview of ``stats`` rendered to PNG bytes (Agg), from a new figure."""
    width = kwargs.pop("width", 9.5)
    return DepthPicture(width).png(stats, **kwargs)
