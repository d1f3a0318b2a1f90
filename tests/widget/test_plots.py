"""The plot helpers: robust ranges, densities that line up with the theory, statistics."""

from __future__ import annotations

import numpy as np
import pytest

import engine
from widget.plots import (
    HistogramPanel,
    caption_html,
    histogram,
    n_bins,
    robust_range,
    statistics,
    theory_pdf,
)

RNG = np.random.default_rng(0)


def test_outliers_do_not_squash_the_range():
    v = np.concatenate([RNG.standard_normal(10_000), [1e6, -1e6]])
    lo, hi = robust_range(v)
    assert -5 < lo < -2 and 2 < hi < 5
    edges, dens, outside = histogram(v, lo, hi, 41)
    assert outside >= 2
    assert abs((dens * np.diff(edges)).sum() - (v.size - outside) / v.size) < 1e-9


@pytest.mark.parametrize("value", [0.0, 1.0, -3.0])
def test_constant_values_get_a_centred_bin(value):
    v = np.full(100, value, np.float32)
    lo, hi = robust_range(v, {"family": "constant", "value": value})
    assert lo < value < hi
    edges, dens, outside = histogram(v, lo, hi, n_bins(v.size))
    i = int(np.argmax(dens))
    assert outside == 0 and edges[i] < value < edges[i + 1]
    assert abs((edges[i] + edges[i + 1]) / 2 - value) < 1e-6


@pytest.mark.parametrize("init,shape", [
    ("glorot_uniform", (64, 32)), ("he_normal", (64, 32)), ("random_normal", (40, 40)),
    ("lecun_uniform", (3, 3, 8, 16)), ("orthogonal", (32, 32)),
    ({"class_name": "VarianceScaling", "config": {"distribution": "untruncated_normal"}},
     (50, 50)),
])
def test_the_theoretical_density_matches_the_histogram(init, shape):
    obj = engine.get_object("initializer", init, "init")
    values = obj(shape)
    theory = obj.theory(shape)
    lo, hi = robust_range(values, theory)
    edges, dens, _ = histogram(values, lo, hi, 31)
    x, y = theory_pdf(theory, lo, hi)
    assert abs(np.trapezoid(y, x) - 1.0) < 0.03  # a density over the shown range
    centres = (edges[:-1] + edges[1:]) / 2
    expected = np.interp(centres, x, y)
    big = expected > 0.3 * expected.max()
    assert np.median(np.abs(dens[big] - expected[big]) / expected[big]) < 0.25


def test_statistics_dead_units():
    y = RNG.standard_normal((8, 5))
    y[:, 2] = 0.0
    y = np.maximum(y, 0)
    s = statistics(y, unit_axis=-1)
    assert s["shape"] == (8, 5) and s["size"] == 40
    assert s["dead"] >= 0.2 and 0.4 < s["zeros"] < 0.8
    assert statistics(np.zeros(0))["size"] == 0


def test_panel_redraws_only_when_the_picture_changes():
    p = HistogramPanel("k")
    v = RNG.standard_normal(1000).astype(np.float32)
    assert p.update(v, None, "a")
    png = bytes(p.image.value)
    assert png.startswith(b"\x89PNG")
    assert not p.update(v.copy(), None, "b")  # same data, new caption: no new bytes
    assert p.caption.value.startswith("b")
    assert p.update(v * 2, None, "b") and bytes(p.image.value) != png
    assert p.update(v * 2, None, "b", log_y=True)
    assert p.ax.get_yscale() == "log"
    assert p.renders == 3


def test_a_caption_wraps_only_between_whole_parts():
    """Issue 15.6: each "label value" part is one unbreakable unit (the style sheet keeps a
    part on one line); separators lead the next part, so none dangles at a line's end."""
    import re

    from widget.view import STYLE

    html = caption_html([("dense/kernel", "(64, 128)"), ("", "GlorotUniform"),
                         ("", "uniform(-0.375, 0.375)", "theory"), ("for input", "(16, <64>)")])
    parts = re.findall(r"<span class='([^']*)' title='([^']*)'>(.*?)</span>(?= |$)", html)
    assert [p[0] for p in parts] == ["part", "part", "part theory", "part"]
    assert parts[0][2] == "<b>dense/kernel</b> (64, 128)"
    assert parts[1][2] == "· GlorotUniform" and parts[3][2] == "· for input (16, &lt;64&gt;)"
    assert parts[3][1] == "for input (16, &lt;64&gt;)"  # the whole part as its tooltip
    assert html.count("</span> <span") == 3  # the only break opportunities
    rule = re.search(r"\.layerlab-caption \.part\{([^}]*)\}", STYLE).group(1)
    assert "white-space:nowrap" in rule and "display:inline-block" in rule
    assert "text-overflow:ellipsis" in rule and "max-width:100%" in rule


def test_small_integers_get_one_bar_each_centred_with_integer_ticks():
    """A lookup's ids (0 = out of vocabulary ... 6): one bar per id, centred on it, and
    whole-number ticks; a wide integer range and floats keep the usual bins."""
    from widget.plots import INT_BINS, HistogramPanel, bins_for

    ids = np.random.default_rng(0).integers(0, 7, size=(16, 8))
    assert bins_for(ids, None, 0.3, 5.7) == (-0.5, 6.5, 7)
    assert bins_for(np.array([True, False]), None, 0, 1) == (-0.5, 1.5, 2)
    wide = np.arange(INT_BINS + 1)
    assert bins_for(wide, None, -1.0, INT_BINS + 1.0)[2] != INT_BINS + 1
    panel = HistogramPanel("out0")
    panel.update(ids, None, "ids")
    assert panel._cur.edges.tolist() == [i - 0.5 for i in range(8)]
    counts = np.bincount(ids.ravel(), minlength=7) / ids.size
    zero = panel._cur.zeros
    assert zero == pytest.approx(counts[0])  # id 0 as its own annotated bar
    assert np.allclose(panel._cur.density[1:], counts[1:])  # bins of width 1: density = share
    ticks = [t for t in panel.ax.get_xticks() if -0.5 <= t <= 6.5]
    assert ticks and all(float(t).is_integer() for t in ticks)
    panel.update(np.random.default_rng(1).standard_normal(500).astype("float32"), None, "x")
    assert not panel.ax.xaxis.get_major_locator()._integer
