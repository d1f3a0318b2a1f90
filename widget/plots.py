"""Histograms of weights and outputs, with the initializer's theoretical density.

Pure functions turn arrays into histogram data (robust range, density, theoretical pdf,
statistics); :class:`HistogramPanel` owns one matplotlib ``Figure`` (Agg, never pyplot)
whose artists are updated in place and rendered to PNG bytes in an ``ipywidgets.Image``.
Nothing is drawn again when neither the data nor the display options changed.

matplotlib is imported when the first panel is made, not with this module, so that
importing the widget package stays light.
"""

from __future__ import annotations

import html
import io
import math
from typing import Any

import ipywidgets as widgets
import numpy as np

#: at most this many values are used to choose the x-range (a strided subsample)
RANGE_SAMPLE = 20_000
BAR_COLOR = "#5b8fc7"
THEORY_COLOR = "#c0392b"
PREV_COLOR = "#555555"
PIN_COLOR = "#e67e00"
ZERO_COLOR = "#2c5d8f"
SIZE = (3.6, 2.0)  # inches, at DPI -> 360 x 200 px
DPI = 100


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


#: integers spanning fewer values than this get one bar per integer
INT_BINS = 61


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


def caption_html(parts: list[tuple[str, ...]]) -> str:
    """A plot caption of ``(label, value)`` parts, e.g. ``[("dense/kernel", "(64, 128)"),
    ("", "GlorotUniform")]``: each part is one unbreakable unit (the line wraps only
    between parts, never inside a label or a value), the first label bold, later parts
    led by a "·". A part too long for the panel ends in "…" (its whole text is its
    tooltip). A third item is a CSS class of the part (``"theory"``: in the theory's
    colour). Text is escaped here; give plain strings."""
    out = []
    for i, (label, value, *cls) in enumerate(parts):
        lab = html.escape(label)
        lab = f"<b>{lab}</b>" if label and i == 0 else lab
        body = " ".join(t for t in (lab, html.escape(value)) if t)
        lead = "" if i == 0 else "· "
        tip = html.escape(" ".join(t for t in (label, value) if t), quote=True)
        names = " ".join(["part", *cls])
        out.append(f"<span class='{names}' title='{tip}'>{lead}{body}</span>")
    return " ".join(out)


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


def stats_table(rows: list[tuple[str, dict[str, Any]]],
                pinned: dict[str, dict[str, Any]] | None = None) -> str:
    """An HTML table of :func:`statistics` rows (scrolls sideways inside itself in a narrow
    column); with ``pinned`` (name -> statistics of the baseline), a "pinned" row under
    each array the baseline has too."""
    g = "{:.4g}".format
    head = ("<tr><th>array</th><th>shape</th><th>params</th><th>mean</th><th>std</th>"
            "<th>min</th><th>max</th><th>zeros</th><th>dead units</th></tr>")
    body = []

    def row(name: str, s: dict[str, Any], label: str, cls: str = "") -> str:
        dead = f"{100 * s['dead']:.1f} %" if "dead" in s else ""
        zeros = "" if math.isnan(s.get("zeros", math.nan)) else f"{100 * s['zeros']:.1f} %"
        params = "" if name.startswith("output") else f"{s['size']:,}"
        return (f"<tr class='{cls}'><td>{label}</td><td>{s['shape']}</td><td>{params}</td>"
                f"<td>{g(s.get('mean', math.nan))}</td><td>{g(s.get('std', math.nan))}</td>"
                f"<td>{g(s.get('min', math.nan))}</td><td>{g(s.get('max', math.nan))}</td>"
                f"<td>{zeros}</td><td>{dead}</td></tr>")

    for name, s in rows:
        body.append(row(name, s, html.escape(name)))
        if pinned is not None and name in pinned:
            body.append(row(name, pinned[name], "&nbsp;&nbsp;pinned", "pinned"))
    style = ("<style>.layerlab-stats table{border-collapse:collapse;font-size:12px}"
             ".layerlab-stats td,.layerlab-stats th{padding:1px 6px;text-align:right;"
             "white-space:nowrap}.layerlab-stats td:first-child,.layerlab-stats "
             "th:first-child{text-align:left}.layerlab-stats tr.pinned td{color:#b35900}"
             "</style>")
    return (f"{style}<div class='layerlab-stats' style='overflow-x:auto;max-width:100%'>"
            f"<table>{head}{''.join(body)}</table></div>")


# -- drawing ----------------------------------------------------------------------------------


def zero_share(values: np.ndarray) -> float:
    """The share of values that are exactly 0 (a ReLU's spike), or 0.0 when it is too
    small to deserve a bar of its own (below 5 %, or every value is 0)."""
    v = np.asarray(values).ravel()
    if v.size < 20:
        return 0.0
    z = float(np.count_nonzero(v == 0)) / v.size
    return z if 0.05 <= z < 1.0 else 0.0


def bins_for(values: np.ndarray, theory: dict[str, Any] | None, lo: float, hi: float
             ) -> tuple[float, float, int]:
    """(lo, hi, bins) for a histogram over about [lo, hi]; a uniform's support lies on bin
    edges, so no bar spills past it; integers spanning at most :data:`INT_BINS` values
    (a lookup's ids, counts) get one bar per integer, centred on it."""
    v = np.asarray(values)
    if v.dtype.kind in "iub" and v.size:
        a, b = int(v.min()), int(v.max())
        if b - a < INT_BINS:
            return a - 0.5, b + 0.5, b - a + 1
    bins = n_bins(v.size)
    if theory and theory.get("family") == "uniform":
        a, b = float(theory["low"]), float(theory["high"])
        if b > a:
            inner = max(8, bins - 4)
            w = (b - a) / inner
            k_lo = max(1, math.ceil((a - lo) / w - 1e-9))
            k_hi = max(1, math.ceil((hi - b) / w - 1e-9))
            if k_lo + k_hi <= 4 * inner:
                return a - k_lo * w, b + k_hi * w, inner + k_lo + k_hi
    return lo, hi, bins


class Hist:
    """One array's histogram over a given grid: bars of the non-zero values (when zeros get
    their own bar), the zero share, and counts below and above the range."""

    def __init__(self, values: np.ndarray, lo: float, hi: float, bins: int):
        v = np.asarray(values).ravel()
        self.zeros = zero_share(v)
        n = v.size
        body = v[v != 0] if self.zeros else v
        edges, dens, _ = histogram(body, lo, hi, bins)
        self.edges, self.density = edges, dens * (body.size / max(n, 1))
        f = body if body.dtype.kind == "f" else body.astype(np.float64)
        self.below = int(np.count_nonzero(f < lo))
        self.above = int(np.count_nonzero(f > hi))

    def digest(self) -> bytes:
        return self.edges.tobytes() + self.density.tobytes() + \
            np.array([self.zeros, self.below, self.above]).tobytes()


class HistogramPanel:
    """One histogram (weights or output) in a reused Figure, shown as an Image widget.

    It draws the values' density (bars), the initializer's theoretical density, the values
    from before the last edit ("overlay previous") and a pinned baseline, with a legend;
    a ReLU's zeros as a bar of their own, labelled with their share; and how many values
    fall outside the x-range."""

    def __init__(self, key: str):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        self.key = key
        self.fig = Figure(figsize=SIZE, dpi=DPI)
        FigureCanvasAgg(self.fig)
        ax = self.ax = self.fig.add_axes((0.08, 0.2, 0.86, 0.68))
        self.bars = ax.stairs([0.0], [0.0, 1.0], fill=True, color=BAR_COLOR, alpha=0.85,
                              label="values")
        self.zero_bar = ax.stairs([0.0], [0.0, 1.0], fill=True, color=ZERO_COLOR,
                                  visible=False)
        self.prev = ax.stairs([0.0], [0.0, 1.0], fill=False, color=PREV_COLOR, lw=1.0,
                              linestyle="--", visible=False, label="before last edit")
        self.pinned = ax.stairs([0.0], [0.0, 1.0], fill=False, color=PIN_COLOR, lw=1.4,
                                visible=False, label="pinned")
        (self.pdf,) = ax.plot([], [], color=THEORY_COLOR, lw=1.4, label="theory")
        small = {"fontsize": 7, "transform": ax.transAxes, "color": "#8a4b00"}
        self.zero_text = ax.text(0, 0.98, "", ha="left", va="top", fontsize=7,
                                 color=ZERO_COLOR, visible=False)
        self.below_text = ax.text(0.0, 1.0, "", ha="left", va="top", **small)
        self.above_text = ax.text(1.0, 1.0, "", ha="right", va="top", **small)
        self._legend: Any = None
        self._hide_y_ticks()
        ax.tick_params(labelsize=7, length=2, pad=1)
        ax.set_ylabel("density", fontsize=7, labelpad=2)
        # x label placed by hand: set_xlabel measures every tick label again on each draw
        self.fig.text(0.99, 0.01, "value", ha="right", va="bottom", fontsize=7,
                      color="#333")
        ax.xaxis._update_label_position = lambda renderer: None  # type: ignore[method-assign]
        ax.xaxis.set_major_locator(MaxNLocator(5))
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        self.caption = widgets.HTML(layout=widgets.Layout(margin="0", width="auto"))
        self.caption.add_class("layerlab-caption")
        self.image = widgets.Image(format="png", layout=widgets.Layout(
            height="auto", width="360px", min_width="0"))
        self.image.add_class("layerlab-plot")
        self.image.add_class(f"layerlab-plot-{key.replace('/', '-')}")
        self.box = widgets.VBox([self.caption, self.image], layout=widgets.Layout(
            min_width="0", margin="0 4px 6px 0"))
        self.box.add_class("layerlab-panel")
        self._last: tuple[Any, ...] | None = None
        self._data: np.ndarray | None = None
        self._base_data: np.ndarray | None = None
        self._cur: Hist | None = None
        self._base: Hist | None = None
        self._before: Hist | None = None
        self._range = (0.0, 1.0)
        self.renders = 0

    def update(self, values: np.ndarray, theory: dict[str, Any] | None, caption: str, *,
               log_y: bool = False, overlay: bool = False,
               baseline: np.ndarray | None = None) -> bool:
        """Show ``values`` (and a pinned ``baseline`` on the same bins); returns False when
        the picture is unchanged (no new bytes). The caption is HTML beside the image, so
        a new caption alone draws nothing."""
        same_data = self._data is not None and self._data.shape == values.shape and \
            np.array_equal(self._data, values)
        same_base = (baseline is None and self._base_data is None) or (
            baseline is not None and self._base_data is not None and
            self._base_data.shape == baseline.shape and np.array_equal(self._base_data,
                                                                       baseline))
        self._before = self._cur  # "before this edit"
        if not (same_data and same_base) or self._cur is None:
            lo, hi = robust_range(values, theory)
            if baseline is not None and baseline.size:
                blo, bhi = robust_range(baseline)
                lo, hi = min(lo, blo), max(hi, bhi)
            lo, hi, bins = bins_for(values, theory, lo, hi)
            self._cur = Hist(values, lo, hi, bins)
            self._base = None if baseline is None else Hist(baseline, lo, hi, bins)
            self._data, self._base_data = values, baseline
            self._range = (lo, hi)
        if self.caption.value != caption:
            self.caption.value = caption
        before = self._before if overlay else None
        key = (self._cur.digest(), None if before is None else before.digest(),
               None if self._base is None else self._base.digest(), repr(theory), log_y)
        if key == self._last:
            return False
        self._last = key
        self._draw(theory, log_y, before)
        return True

    @property
    def outside(self) -> tuple[int, int]:
        """How many values lie below and above the x-range."""
        return (0, 0) if self._cur is None else (self._cur.below, self._cur.above)

    def _draw(self, theory: dict[str, Any] | None, log_y: bool, before: Hist | None) -> None:
        cur = self._cur
        if cur is None:
            return
        lo, hi = self._range
        ax = self.ax
        shown = [h for h in (cur, before, self._base) if h is not None]
        top = max((float(h.density.max()) for h in shown if h.density.size), default=1.0)
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
        top = top or 1.0
        ax.set_xlim(lo, hi)
        whole = lo % 1 == 0.5 and hi % 1 == 0.5 and self._data is not None and \
            np.asarray(self._data).dtype.kind in "iub"  # one bar per integer
        self.ax.xaxis.get_major_locator().set_params(integer=whole)
        if log_y:
            pos = np.concatenate([h.density[h.density > 0] for h in shown])
            bottom = float(pos.min()) * 0.5 if pos.size else 1e-3
            self._yscale("log")
            ceiling = max(top, bottom * 10) * 2.0
        else:
            bottom = 0.0
            self._yscale("linear")
            ceiling = top * 1.18
        ax.set_ylim(bottom, ceiling)
        self.bars.set_data(cur.density, cur.edges, bottom)
        self.prev.set_visible(before is not None)
        if before is not None:
            self.prev.set_data(before.density, before.edges, bottom)
        self.pinned.set_visible(self._base is not None)
        if self._base is not None:
            self.pinned.set_data(self._base.density, self._base.edges, bottom)
        self._zeros(cur, bottom, ceiling)
        for artist, n, fmt in ((self.below_text, cur.below, "◀ {:,} below"),
                               (self.above_text, cur.above, "{:,} above ▶")):
            artist.set_text(fmt.format(n) if n else "")
            artist.set_visible(bool(n))
        self._legend_for(theory is not None and pdf is not None, before is not None)
        self.image.value = self.render()
        self.renders += 1

    def _zeros(self, cur: Hist, bottom: float, ceiling: float) -> None:
        """The zeros' own bar, full height, labelled with their share."""
        base = self._base
        z = cur.zeros
        self.zero_bar.set_visible(bool(z))
        self.zero_text.set_visible(bool(z) or bool(base and base.zeros))
        if not (z or (base and base.zeros)):
            return
        w = (cur.edges[-1] - cur.edges[0]) / max(len(cur.edges) - 1, 1) * 0.6
        if z:
            self.zero_bar.set_data([ceiling], [-w / 2, w / 2], bottom)
        text = f"zeros {100 * z:.1f} %"
        if base is not None:
            text += f" (pinned {100 * base.zeros:.1f} %)"
        self.zero_text.set_text(text)
        self.zero_text.set_x(w)
        self.zero_text.set_y(ceiling * (0.97 if bottom == 0 else 0.7))

    def _legend_for(self, theory: bool, before: bool) -> None:
        handles = [self.bars]
        if theory:
            handles.append(self.pdf)
        if before:
            handles.append(self.prev)
        if self._base is not None:
            handles.append(self.pinned)
        if self._legend is not None:
            self._legend.remove()
            self._legend = None
        if len(handles) > 1:
            self._legend = self.ax.legend(handles=handles, fontsize=7, frameon=False,
                                          loc="lower right", bbox_to_anchor=(1.0, 1.0),
                                          ncol=len(handles), handlelength=1.4,
                                          borderaxespad=0.1, columnspacing=1.0)

    def _yscale(self, scale: str) -> None:
        if self.ax.get_yscale() != scale:  # set_yscale resets the (hidden) y ticks
            self.ax.set_yscale(scale)
            self._hide_y_ticks()

    def _hide_y_ticks(self) -> None:
        from matplotlib.ticker import NullLocator

        self.ax.yaxis.set_major_locator(NullLocator())
        self.ax.yaxis.set_minor_locator(NullLocator())

    def render(self) -> bytes:
        """The figure as PNG bytes (drawn by Agg, encoded with fast compression)."""
        buf = io.BytesIO()
        self.fig.canvas.print_png(buf, metadata={"Software": None},
                                  pil_kwargs={"compress_level": 1})
        return buf.getvalue()


__all__ = ["caption_html", "HistogramPanel", "robust_range", "histogram", "theory_pdf",
           "statistics", "stats_table", "describe_theory", "zero_share", "bins_for", "Hist"]
