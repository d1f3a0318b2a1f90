"""Histograms of weights and outputs, with the initializer's theoretical density.

Pure functions turn arrays into histogram data (robust range, density, theoretical pdf,
statistics); :class:`HistogramPanel` owns one matplotlib ``Figure`` (Agg, never pyplot)
whose artists are updated in place and rendered to PNG bytes in an ``ipywidgets.Image``.
Nothing is drawn again when neither the data nor the display options changed.
"""

from __future__ import annotations

import html
import io
import math
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullLocator
from PIL import Image

#: at most this many values are used to choose the x-range (a strided subsample)
RANGE_SAMPLE = 20_000
BAR_COLOR = "#5b8fc7"
THEORY_COLOR = "#c0392b"
PREV_COLOR = "#555555"
SIZE = (4.0, 2.1)  # inches, at DPI -> 320 x 168 px
DPI = 80


# -- data -------------------------------------------------------------------------------------


def _subsample(v: np.ndarray) -> np.ndarray:
    step = max(1, v.size // RANGE_SAMPLE)
    return v[::step]


def robust_range(values: np.ndarray, theory: dict[str, Any] | None = None
                 ) -> tuple[float, float]:
    """An x-range holding the bulk of ``values`` (0.5 %-99.5 % quantiles, widened) and the
    core of the theoretical distribution, so that a few outliers do not squash the plot."""
    v = np.asarray(values).ravel()
    v = v[np.isfinite(v)] if v.dtype.kind == "f" else v.astype(np.float64)
    if v.size:
        s = _subsample(v)
        lo, hi = (float(q) for q in np.quantile(s, [0.005, 0.995]))
        lo, hi = min(lo, float(s.min())) if s.size < 200 else lo, \
            max(hi, float(s.max())) if s.size < 200 else hi
    else:
        lo, hi = 0.0, 0.0
    core = theory_support(theory)
    if core is not None:
        lo, hi = (min(lo, core[0]), max(hi, core[1])) if v.size else core
    if not hi > lo:
        pad = max(abs(lo) * 0.5, 0.5)
        return lo - pad, hi + pad
    pad = 0.06 * (hi - lo)
    return lo - pad, hi + pad


def theory_support(theory: dict[str, Any] | None) -> tuple[float, float] | None:
    if not theory:
        return None
    fam = theory.get("family")
    if fam in ("uniform", "truncated_normal"):
        return float(theory["low"]), float(theory["high"])
    if fam in ("normal", "orthogonal"):
        m, s = float(theory.get("mean", 0.0)), float(theory["std"])
        return m - 3.5 * s, m + 3.5 * s
    return None


def histogram(values: np.ndarray, lo: float, hi: float, bins: int
              ) -> tuple[np.ndarray, np.ndarray, int]:
    """(edges, density, values outside [lo, hi]); the density is over all values, so the
    visible area is the visible fraction and a pdf drawn over it lines up."""
    v = np.asarray(values).ravel()
    if v.dtype.kind != "f":
        v = v.astype(np.float64)
    n = v.size
    width = (hi - lo) / bins
    idx = np.floor((v - lo) * (1.0 / width)).astype(np.int64) if n else np.zeros(0, np.int64)
    idx[v == hi] = bins - 1
    inside = (idx >= 0) & (idx < bins)
    counts = np.bincount(idx[inside], minlength=bins)[:bins]
    edges = lo + width * np.arange(bins + 1)
    density = counts / (max(n, 1) * width)
    return edges, density, int(n - inside.sum())


def n_bins(size: int) -> int:
    """Odd, so that a constant's bin is centred on it."""
    return int(min(60, max(8, math.sqrt(max(size, 1))))) | 1


def theory_pdf(theory: dict[str, Any] | None, lo: float, hi: float
               ) -> tuple[np.ndarray, np.ndarray] | None:
    """x and pdf(x) of the theoretical distribution over [lo, hi] (None if it has none)."""
    if not theory:
        return None
    fam = theory.get("family")
    if fam == "uniform":
        a, b = float(theory["low"]), float(theory["high"])
        if not b > a:
            return np.array([a, a]), np.array([0.0, 1.0])
        h = 1.0 / (b - a)
        return np.array([lo, a, a, b, b, hi]), np.array([0, 0, h, h, 0, 0], float)
    if fam in ("normal", "orthogonal", "truncated_normal"):
        m, s = float(theory.get("mean", 0.0)), float(theory["std"])
        if not s > 0:
            return np.array([m, m]), np.array([0.0, 1.0])
        x = np.linspace(lo, hi, 200)
        y = np.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))
        if fam == "truncated_normal":
            a, b = float(theory["low"]), float(theory["high"])
            r2 = s * math.sqrt(2)
            z = 0.5 * (math.erf((b - m) / r2) - math.erf((a - m) / r2))
            y = np.where((x >= a) & (x <= b), y / max(z, 1e-12), 0.0)
        return x, y
    if fam == "constant":
        v = float(theory["value"])
        return np.array([v, v]), np.array([0.0, np.inf])
    return None


def describe_theory(theory: dict[str, Any] | None) -> str:
    if not theory:
        return ""
    fam = theory.get("family")
    g = "{:.3g}".format
    if fam == "uniform":
        return f"uniform({g(theory['low'])}, {g(theory['high'])})"
    if fam == "normal":
        return f"normal(mean {g(theory['mean'])}, std {g(theory['std'])})"
    if fam == "truncated_normal":
        return f"truncated normal(std {g(theory['std'])}, within ±2 std)"
    if fam == "constant":
        return f"constant {g(theory['value'])}"
    if fam == "orthogonal":
        return f"orthogonal (gain {g(theory['gain'])}; entries ~ normal std {g(theory['std'])})"
    if fam == "identity":
        return f"identity × {g(theory['gain'])}"
    return str(fam)


def statistics(values: np.ndarray, unit_axis: int | None = None) -> dict[str, Any]:
    """Shape, size, mean, std, min, max, fraction of zeros and (with ``unit_axis``) of dead
    units: units that are zero for every sample."""
    v = np.asarray(values)
    f = v if v.dtype.kind == "f" else v.astype(np.float64)
    out: dict[str, Any] = {"shape": tuple(v.shape), "size": int(v.size)}
    if v.size == 0:
        return out | {"mean": math.nan, "std": math.nan, "min": math.nan, "max": math.nan,
                      "zeros": math.nan}
    out.update(mean=float(f.mean(dtype=np.float64)), std=float(f.std(dtype=np.float64)),
               min=float(f.min()), max=float(f.max()), zeros=float(np.count_nonzero(f == 0)
                                                                   / f.size))
    if unit_axis is not None and v.ndim >= 2:
        axes = tuple(i for i in range(v.ndim) if i != unit_axis % v.ndim)
        out["dead"] = float(np.mean(np.all(f == 0, axis=axes)))
    return out


def stats_table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """An HTML table of :func:`statistics` rows (scrolls sideways in a narrow column)."""
    g = "{:.4g}".format
    head = ("<tr><th>array</th><th>shape</th><th>params</th><th>mean</th><th>std</th>"
            "<th>min</th><th>max</th><th>zeros</th><th>dead units</th></tr>")
    body = []
    for name, s in rows:
        dead = f"{100 * s['dead']:.1f} %" if "dead" in s else ""
        zeros = "" if math.isnan(s.get("zeros", math.nan)) else f"{100 * s['zeros']:.1f} %"
        params = "" if name.startswith("output") else f"{s['size']:,}"
        body.append(
            f"<tr><td>{html.escape(name)}</td><td>{s['shape']}</td><td>{params}</td>"
            f"<td>{g(s.get('mean', math.nan))}</td><td>{g(s.get('std', math.nan))}</td>"
            f"<td>{g(s.get('min', math.nan))}</td><td>{g(s.get('max', math.nan))}</td>"
            f"<td>{zeros}</td><td>{dead}</td></tr>")
    style = ("<style>.layerlab-stats table{border-collapse:collapse;font-size:12px}"
             ".layerlab-stats td,.layerlab-stats th{padding:1px 6px;text-align:right;"
             "white-space:nowrap}.layerlab-stats td:first-child,.layerlab-stats "
             "th:first-child{text-align:left}</style>")
    return (f"{style}<div class='layerlab-stats' style='overflow-x:auto;max-width:100%'>"
            f"<table>{head}{''.join(body)}</table></div>")


# -- drawing ----------------------------------------------------------------------------------


class HistogramPanel:
    """One histogram (weights or output) in a reused Figure, shown as an Image widget."""

    def __init__(self, key: str):
        self.key = key
        self.fig = Figure(figsize=SIZE, dpi=DPI)
        FigureCanvasAgg(self.fig)
        ax = self.ax = self.fig.add_axes((0.03, 0.13, 0.94, 0.84))
        self.bars = ax.stairs([0.0], [0.0, 1.0], fill=True, color=BAR_COLOR, alpha=0.85)
        self.prev = ax.stairs([0.0], [0.0, 1.0], fill=False, color=PREV_COLOR, lw=1.0,
                              linestyle="--", visible=False)
        (self.pdf,) = ax.plot([], [], color=THEORY_COLOR, lw=1.4)
        ax.yaxis.set_major_locator(NullLocator())
        ax.yaxis.set_minor_locator(NullLocator())
        ax.tick_params(labelsize=8, length=2, pad=1)
        ax.yaxis.set_visible(False)
        # No axis label is drawn, so skip placing it (it measures every tick label again).
        ax.xaxis._update_label_position = lambda renderer: None  # type: ignore[method-assign]
        ax.xaxis.set_major_locator(MaxNLocator(4))
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        self.caption = widgets.HTML(layout=widgets.Layout(margin="0", width="auto"))
        self.image = widgets.Image(format="png", layout=widgets.Layout(
            max_width="100%", height="auto", width="320px", min_width="200px"))
        self.image.add_class("layerlab-plot")
        self.image.add_class(f"layerlab-plot-{key.replace('/', '-')}")
        self.box = widgets.VBox([self.caption, self.image], layout=widgets.Layout(
            flex="1 1 320px", min_width="200px", max_width="420px", margin="0 4px 6px 0"))
        self._last: tuple[Any, ...] | None = None
        self._outside = 0
        self._values: np.ndarray | None = None
        self._cur: tuple[np.ndarray, np.ndarray] | None = None
        self._before: tuple[np.ndarray, np.ndarray] | None = None
        self.renders = 0

    def update(self, values: np.ndarray, theory: dict[str, Any] | None, caption: str, *,
               log_y: bool = False, overlay: bool = False) -> bool:
        """Show ``values``; returns False when the picture is unchanged (no new bytes).

        The caption is HTML beside the image, so a new caption alone draws nothing."""
        same_data = self._values is not None and self._values.shape == values.shape and \
            np.array_equal(self._values, values)
        self._before = self._cur  # "before this edit"
        if not same_data:
            lo, hi = robust_range(values, theory)
            edges, dens, outside = histogram(values, lo, hi, n_bins(values.size))
            self._cur = (edges, dens)
            self._outside = outside
            self._values = values
            self._range = (lo, hi)
        note = (f" <span style='color:#a60'>({self._outside:,} beyond the x-range)</span>"
                if self._outside else "")
        if self.caption.value != caption + note:
            self.caption.value = caption + note
        key = (_digest(self._cur), _digest(self._before) if overlay else None, repr(theory),
               log_y)
        if key == self._last:
            return False
        self._last = key
        self._draw(theory, log_y, overlay)
        return True

    def _draw(self, theory: dict[str, Any] | None, log_y: bool, overlay: bool) -> None:
        if self._cur is None:
            return
        edges, dens = self._cur
        lo, hi = self._range
        ax = self.ax
        top = float(dens.max()) if dens.size else 1.0
        before = self._before if overlay else None
        self.prev.set_visible(before is not None)
        if before is not None:
            top = max(top, float(before[1].max()) if before[1].size else 0.0)
        pdf = theory_pdf(theory, lo, hi)
        if pdf is not None:
            x, y = pdf
            finite = y[np.isfinite(y)]
            if np.isinf(y).any():  # a constant: a spike at the value
                y = np.where(np.isinf(y), max(top, 1e-12) * 1.05, y)
            elif finite.size:
                top = max(top, float(finite.max()))
            self.pdf.set_data(x, y)
        else:
            self.pdf.set_data([], [])
        ax.set_xlim(lo, hi)
        if log_y:
            pos = dens[dens > 0]
            bottom = float(pos.min()) * 0.5 if pos.size else 1e-3
            self._yscale("log")
            ax.set_ylim(bottom, max(top, bottom * 10) * 2.0)
        else:
            bottom = 0.0
            self._yscale("linear")
            ax.set_ylim(0.0, (top or 1.0) * 1.08)
        self.bars.set_data(dens, edges, bottom)
        if before is not None:
            self.prev.set_data(before[1], before[0], bottom)
        self.image.value = self.render()
        self.renders += 1

    def _yscale(self, scale: str) -> None:
        if self.ax.get_yscale() != scale:  # set_yscale resets the (hidden) y ticks
            self.ax.set_yscale(scale)
            self.ax.yaxis.set_major_locator(NullLocator())
            self.ax.yaxis.set_minor_locator(NullLocator())

    def render(self) -> bytes:
        """The figure as PNG bytes (Agg buffer encoded with fast compression)."""
        canvas = self.fig.canvas
        canvas.draw()
        w, h = canvas.get_width_height()
        img = Image.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        buf = io.BytesIO()
        img.convert("RGB").save(buf, format="png", compress_level=1)
        return buf.getvalue()


def _digest(hist: tuple[np.ndarray, np.ndarray] | None) -> bytes | None:
    return None if hist is None else hist[0].tobytes() + hist[1].tobytes()


__all__ = ["HistogramPanel", "robust_range", "histogram", "theory_pdf", "statistics",
           "stats_table", "describe_theory"]
