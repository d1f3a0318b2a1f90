"""ModelEditor's view and speed paths: clicking a heatmap column picks its layer, the progress
bar of the first pass, the kept picture (data redrawn over the kept frame equals a drawing
from scratch), the kept downstream part for repeated edits of one layer, and statistics from
a bounded sample."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

import engine
from widget import model_stats
from widget.depth_plots import DepthPicture
from widget.model_editor import ModelEditor

DATA = Path(__file__).parents[1] / "data" / "models"
sys.path.insert(0, str(DATA))
from arch_configs import resnet_config  # noqa: E402


@pytest.fixture(scope="module")
def small_resnet():
    return resnet_config(size=16, widths=(4, 8), blocks=1, name="tiny_resnet")


def pixels(png: bytes) -> np.ndarray:
    return imread(io.BytesIO(bytes(png)))


# -- heatmap columns ----------------------------------------------------------------------------


def test_clicking_a_heatmap_column_picks_its_layer(small_resnet):
    me = ModelEditor(small_resnet).run()
    stats = me.statistics()
    cols = me.columns.buttons
    # one column per layer, in depth order, each named in its tooltip
    assert list(cols.options) == [(str(s["depth"]), s["name"]) for s in stats]
    assert all(t.startswith(f"#{s['depth']} {s['name']}")
               for t, s in zip(cols.tooltips, stats))
    me.select("s1b1_conv1")
    assert me.reinitialize("zeros")  # flags show in the tooltips, kept current
    conv = next(s for s in me.statistics() if s["name"] == "s1b1_conv1")
    assert "dead" in conv["flags"] and "dead" in cols.tooltips[conv["depth"]]
    me.select(stats[0]["name"])
    target = stats[len(stats) // 2]["name"]
    before = bytes(me.picture.value)
    cols.value = target  # what a click on that column does in the browser
    assert me.selected == target and me.editor is not None
    assert me.table.value == target and me.search.value == target
    assert bytes(me.picture.value) != before  # the red line moved
    # picking in the table marks the column, without a second pick
    me.table.value = stats[1]["name"]
    assert cols.value == stats[1]["name"] == me.selected


def test_columns_lie_over_the_heatmap_axes(small_resnet):
    me = ModelEditor(small_resnet, gradient_loss="off").run()
    lay = me.columns.buttons.layout
    left, top, width, height = (float(v.rstrip("%")) / 100 for v in
                                (lay.left, lay.top, lay.width, lay.height))
    # the heatmap's axes, found from the picture itself: the image's columns are where
    # viridis colours are, between the axes' black frame lines
    img = pixels(me.picture.value)[..., :3]
    h, w = img.shape[:2]
    coloured = (img.max(axis=2) - img.min(axis=2)) > 0.15  # viridis, not white or grey
    row = np.where(coloured[int((top + height / 2) * h), : int(0.81 * w)])[0]
    assert abs(row.min() / w - left) < 0.01
    assert abs((row.max() + 1) / w - (left + width)) < 0.01
    col = np.where(coloured[:, int((left + width / 3) * w)])[0]
    col = col[col < (top + height + 0.05) * h]
    assert abs(col.min() / h - top) < 0.01
    assert abs((col.max() + 1) / h - (top + height)) < 0.01
    # a gradient row added below keeps them over the heatmap (the box is placed again)
    assert me.show_gradients()
    assert float(me.columns.buttons.layout.height.rstrip("%")) / 100 < height


def test_a_column_pick_of_an_unknown_layer_is_refused_not_raised(small_resnet):
    me = ModelEditor(small_resnet).run()
    me._safe_select("nope")
    assert "no layer 'nope'" in me.error and me.selected is None


# -- progress and the first pass ----------------------------------------------------------------


def test_first_pass_waits_for_display_and_fills_the_progress_bar(small_resnet):
    me = ModelEditor(small_resnet)
    assert me.children == (me.progress,) and me.progress.value == 0.0
    assert me._view_count == 0  # the frontend reports views: the first one starts the pass
    seen = []
    me.progress.observe(lambda c: seen.append((c["new"], me.progress.description)), "value")
    me._view_count = 1  # as the frontend sets it when it shows the editor
    values = [v for v, _ in seen]
    assert values == sorted(values) and values[-1] == 1.0
    # the forward pass, then each layer's statistics, told one by one
    n = len(me.statistics())
    said = [d for _, d in seen]
    assert said[0] == "forward pass"
    assert sum(d.startswith("statistics ") for d in said) >= n
    assert me.progress.layout.display == "none" and me.progress not in me.children
    assert me.picture.value and me.table.options


def test_the_programmatic_api_runs_the_first_pass_itself(small_resnet):
    me = ModelEditor(small_resnet)
    assert me.statistics()  # synchronously, without a display
    again = ModelEditor(small_resnet)
    again.select("s1b1_conv1")
    assert again.selected == "s1b1_conv1"
    assert ModelEditor(small_resnet).export().startswith("{")


def test_ipython_display_shows_the_widget_then_runs(small_resnet, monkeypatch):
    import IPython.display

    shown = []

    def fake_display(obj, raw=False):
        shown.append((obj, raw, me.progress.value))

    monkeypatch.setattr(IPython.display, "display", fake_display)
    me = ModelEditor(small_resnet)
    me._ipython_display_()
    (bundle, raw, progress_then), = shown
    assert raw and bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == \
        me.model_id
    assert progress_then == 0.0 and me.progress.value == 1.0  # shown first, then run
    assert me.statistics()


# -- the kept picture ---------------------------------------------------------------------------


def test_picture_redraws_data_only_and_equals_a_fresh_drawing(small_resnet):
    me = ModelEditor(small_resnet, gradient_loss="off").run()
    pic = me.pictures.drawers["wide"]
    full = pic.full_draws
    me.select("s2b1_conv2")  # the selection line and title only
    assert pic.full_draws == full and pic.blits >= 1
    assert me.set("kernel_initializer", "he_uniform")
    stats = [me._state.stats[n] for n in me._state.order]
    fresh = DepthPicture().png(stats, selected=me.selected)
    if pic.full_draws == full:  # the scales still fit: only the data were redrawn
        assert np.abs(pixels(me.picture.value) - pixels(fresh)).max() < 1e-6
    # a ten times larger kernel leaves the scales: everything is drawn again
    assert me.set("kernel_initializer", {"class_name": "RandomNormal",
                                         "config": {"stddev": 30.0, "seed": 1}})
    assert pic.full_draws > full
    stats = [me._state.stats[n] for n in me._state.order]
    np.testing.assert_allclose(pixels(me.picture.value),
                               pixels(DepthPicture().png(stats, selected=me.selected)))
    me.pin()  # a baseline changes the frame (legend, dashed lines): drawn again
    n = pic.full_draws
    me.select("s1b1_conv1")
    assert pic.full_draws == n


# -- the kept downstream part -------------------------------------------------------------------


def _like_a_full_pass(me):
    fresh = ModelEditor(me.model, sample=me.sample)
    for a, b in zip(me.statistics(), fresh.statistics()):
        assert a["name"] == b["name"]
        assert a["std"] == pytest.approx(b["std"], rel=1e-6, abs=1e-12)
        assert a["dead_units"] == b["dead_units"] and a["flags"] == b["flags"]


def test_repeated_edits_of_one_layer_reuse_the_downstream_part(small_resnet):
    me = ModelEditor(small_resnet).run()
    state = me._state
    me.select("s1b1_conv2")
    assert me.set("kernel_initializer", "he_uniform")
    kept = state._rest[1]
    assert me.set("activation", "tanh")
    assert state._rest[1] is kept  # not built again
    _like_a_full_pass(me)
    assert me.set("kernel_initializer", "glorot_normal")
    assert state._rest[1] is kept
    _like_a_full_pass(me)
    assert not me.set("filters", 6)  # the residual Add refuses it: nothing changes
    assert state._rest[1] is kept
    assert me.set("use_bias", False)
    _like_a_full_pass(me)
    # another layer, then undo/redo: nothing stale is reused
    me.select("s2b1_conv1")
    assert me.set("kernel_initializer", "zeros")
    _like_a_full_pass(me)
    assert me.undo() and me.undo()
    me.select("s1b1_conv2")
    assert me.set("activation", "relu")
    _like_a_full_pass(me)
    assert me.redo() is False  # a new edit dropped the redo history
    assert me.undo() and me.redo()
    _like_a_full_pass(me)


def test_a_refused_edit_leaves_the_kept_part_usable(small_resnet):
    me = ModelEditor(small_resnet).run()
    me.select("s1b1_conv2")
    assert me.set("kernel_initializer", "he_uniform")
    stats = me.statistics()
    assert not me.set("filters", 6)  # the residual Add cannot take it
    assert me.statistics() == stats
    assert me.set("kernel_initializer", "glorot_uniform")
    _like_a_full_pass(me)


# -- bounded statistics -------------------------------------------------------------------------


def test_statistics_use_a_bounded_sample_that_visits_every_channel(monkeypatch):
    monkeypatch.setattr(model_stats, "MAX_STAT_ELEMENTS", 1000)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 10, 10, 16)).astype(np.float32)
    x[..., 3] *= 100.0  # one loud channel: a stride of 16 would miss it or see only it
    st = model_stats.layer_stats(x)
    assert st["std"] == pytest.approx(float(x.astype(np.float64).std()), rel=0.15)
    sub = model_stats._subset(x)
    assert 500 < sub.size <= 1000
    idx = np.arange(x.size).reshape(x.shape)[..., 3].ravel()
    assert np.isin(np.arange(x.size)[::x.size // sub.size + 1], idx).any()


def test_nan_anywhere_is_flagged_even_outside_the_sample(monkeypatch):
    monkeypatch.setattr(model_stats, "MAX_STAT_ELEMENTS", 100)
    x = np.ones((10, 10, 10, 3), np.float32)
    x[9, 9, 9, 2] = np.nan  # the last element: not in a strided subset from 0
    st = model_stats.layer_stats(x)
    assert st["finite"] is False and st["std"] == pytest.approx(0.0)
    y = np.full((4, 4), 3e38, np.float32)  # its float32 sum overflows, yet all are finite
    assert model_stats.layer_stats(y)["finite"] is True


def test_dead_units_count_the_whole_output(monkeypatch):
    monkeypatch.setattr(model_stats, "MAX_STAT_ELEMENTS", 64)
    x = np.zeros((50, 8), np.float32)
    x[49, 5] = 1.0  # unit 5 alive in one sample only
    assert model_stats.layer_stats(x)["dead_units"] == 7


def test_whole_output_checks_equal_the_plain_computations():
    """Dead units and finiteness come from per-unit sums (one pass), looked at again where
    a sum is 0 or not finite: the same answers as comparing every element."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5, 7)).astype(np.float32)
    x[..., 0] = 0.0  # dead
    x[..., 1] = 0.0
    x[0, 0, 1], x[1, 0, 1] = 2.0, -2.0  # its sum is 0, yet alive
    x[..., 2] = -0.0  # dead (negative zeros)
    x[..., 3] = 3e38  # finite, its sum overflows: alive
    x[2, 2, 4] = np.nan  # alive, not finite
    with np.errstate(over="ignore"):  # 3e38 is infinite in float16
        half = x.astype(np.float16)
    cases = [x, np.where(x == x, 0.0, x), x[..., :3], half,
             np.zeros((4, 3), np.int32), np.array([[1, -1], [0, 0]], np.int8),
             np.zeros((5, 2), bool), np.array([0.0, np.inf], np.float32), np.zeros(3)]
    for a in cases:
        with np.errstate(all="ignore"):
            st = model_stats.layer_stats(a)
            units = a.shape[-1] if a.ndim >= 2 else 1
            dead = int((~np.any(a.reshape(-1, units) != 0, axis=0)).sum()) if a.ndim >= 2 \
                else int(not np.any(a != 0))
            finite = a.dtype.kind != "f" or bool(np.isfinite(a).all())
        assert (st["dead_units"], st["units"], st["finite"]) == (dead, units, finite), a
    st = model_stats.layer_stats(x)
    assert st["dead_units"] == 2 and st["finite"] is False


def test_engine_models_given_directly_are_not_changed(small_resnet):
    model = engine.deserialize(small_resnet)
    weights = [w.copy() for w in model.get_layer("s1b1_conv2").get_weights()]
    me = ModelEditor(model).run()
    me.select("s1b1_conv2")
    assert me.set("kernel_initializer", "he_uniform")
    for a, b in zip(model.get_layer("s1b1_conv2").get_weights(), weights):
        np.testing.assert_array_equal(a, b)


def test_a_shape_change_builds_the_downstream_part_again():
    dense = [{"class_name": "Dense", "config": {"name": n, "units": 12, "activation": "relu"}}
             for n in ("d1", "d2", "d3", "d4")]
    me = ModelEditor({"class_name": "Sequential", "config": {"name": "chain", "layers": [
        {"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, 6]}},
        *dense]}}).run()
    me.select("d2")
    assert me.set("kernel_initializer", "he_uniform")
    kept = me._state._rest[1]
    assert me.set("activation", "tanh") and me._state._rest[1] is kept
    assert me.set("units", 7)  # d3's kernel changes shape: re-initialized, built again
    assert me._state._rest[1] is not kept and me.reinitialized == ["d2", "d3"]
    _like_a_full_pass(me)
    assert me.set("units", 9) and me.reinitialized == ["d2", "d3"]
    _like_a_full_pass(me)


def test_a_first_pass_that_fails_when_shown_says_why_in_the_widget():
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, 4]}},
        {"class_name": "Dense", "config": {"name": "d", "units": 3}}]}}
    me = ModelEditor(cfg, sample=np.zeros((2, 5), np.float32))  # the wrong width
    me._view_count = 1  # shown: no cell to raise into
    assert me.error and "first pass failed" in me.error
    assert any("first pass failed" in str(getattr(c, "value", "")) for c in me.children)
    with pytest.raises(ValueError):  # the programmatic API raises it (an InputError)
        me.statistics()


def test_a_narrow_picture_for_a_narrow_page(small_resnet):
    """At about 420 px the wide picture (760 px) is scaled down until its text is unreadable:
    the narrow one is 400 px wide, taller per row, with larger text; a menu chooses."""
    me = ModelEditor(small_resnet, narrow=True).run()
    narrow = pixels(me.narrow_picture.value)
    assert narrow.shape[1] == 400 and me.picture.value == b""  # only the one shown is drawn
    assert me.pictures.drawers["narrow"].axes[0].yaxis.label.get_size() >= 10
    assert "layerlab-picture-narrow" in me._dom_classes
    lay = me.narrow_columns.buttons.layout  # the clickable columns follow the narrow layout
    assert float(lay.left.rstrip("%")) > 12
    me.picture_size.value = "wide"
    wide = pixels(me.picture.value)
    assert wide.shape[1] == 760 and me.pictures.drawers["wide"].axes[0].yaxis.label.get_size() < 10
    assert float(me.columns.buttons.layout.left.rstrip("%")) < 10
    assert me._dom_classes.count("layerlab-picture-wide") == 1 and \
        "layerlab-picture-narrow" not in me._dom_classes


def test_the_picture_is_chosen_by_the_editors_width_by_default(small_resnet):
    """By default both pictures are kept current and a CSS container query on the editor
    shows the narrow one below NARROW_BELOW px (no code in the page, nothing sent when the
    page is resized); the browser test checks it at 1400 and 420 px."""
    from widget.model_columns import NARROW_BELOW, STYLE
    me = ModelEditor(small_resnet).run()
    assert me.pictures.mode == "auto" and "layerlab-picture-auto" in me._dom_classes
    assert me.columns.box in me.children and me.narrow_columns.box in me.children
    assert "layerlab-depth-wide" in me.columns.box._dom_classes
    assert "layerlab-depth-narrow" in me.narrow_columns.box._dom_classes
    assert "container-type: inline-size" in STYLE
    assert f"@container layerlab-model-editor (max-width: {NARROW_BELOW}px)" in STYLE
    assert me.columns.style.value == STYLE
    wide, narrow = pixels(me.picture.value), pixels(me.narrow_picture.value)
    assert wide.shape[1] == 760 and narrow.shape[1] == 400
    me.select("s2b1_conv2")
    assert me.set("kernel_initializer", {"class_name": "RandomNormal",
                                         "config": {"stddev": 3.0, "seed": 1}})
    # an edit redraws both: each equals a drawing from scratch of its size
    stats = [me._state.stats[n] for n in me._state.order]
    label = me.gradient_label()
    for image, narrow in ((me.picture, False), (me.narrow_picture, True)):
        fresh = DepthPicture(narrow=narrow).png(stats, selected=me.selected,
                                                gradients=label)
        np.testing.assert_allclose(pixels(image.value), pixels(fresh), atol=1e-6)
    assert me.columns.buttons.value == me.narrow_columns.buttons.value == "s2b1_conv2"
    me.narrow_columns.buttons.value = "s1b1_conv1"  # a click on the narrow heatmap
    assert me.selected == "s1b1_conv1"


def test_the_two_pictures_compute_their_heatmap_columns_once(small_resnet):
    from widget import depth_plots
    me = ModelEditor(small_resnet, gradient_loss="off").run()
    wide, narrow = me.pictures.drawers["wide"], me.pictures.drawers["narrow"]
    assert wide.shared is narrow.shared and "columns" in wide.shared
    stats = [me._state.stats[n] for n in me._state.order]
    s0 = wide.rows[0].s0
    first = depth_plots._finite_columns(stats, s0, wide.shared)
    assert depth_plots._finite_columns(stats, s0, wide.shared) is first  # reused
    me.select("s2b1_conv2")
    assert me.set("kernel_initializer", "he_uniform")  # new values downstream: new columns
    stats = [me._state.stats[n] for n in me._state.order]
    again = depth_plots._finite_columns(stats, s0, wide.shared)
    assert again is not first
    fresh = depth_plots._finite_columns(stats, s0)  # computed without the shared dict
    assert all(np.array_equal(a, b) for a, b in zip(again, fresh))


def test_png_bytes_is_a_lossless_png():
    from PIL import Image

    from widget.depth_plots import png_bytes
    rgb = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    back = np.asarray(Image.open(io.BytesIO(png_bytes(rgb))).convert("RGB"))
    assert np.array_equal(back, rgb)
    view = np.zeros((5, 7, 4), np.uint8)[..., :3]  # a strided view, as from buffer_rgba()
    view[2, 3] = (9, 8, 7)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(view)))), view)
