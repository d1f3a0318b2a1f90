"""Issue 15: the LayerEditor as a user meets it (no kernel, no browser).

Every registered layer class opens with several input shapes and with every optional field
set to None; bad values in every kind of box are reported beside their field, never
clamped; undo/redo keep their entries when a rebuild fails; float32 values show short;
the export follows edits; a pinned baseline is overlaid; the editor is a widget.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import pytest

import engine
from widget import LayerEditor
from widget.composites import JsonControl, NumberBox, OptionalControl, short_float
from widget.picker import group_of, grouped_layers

DEFAULTS = json.loads((Path(__file__).parents[1] / "data" / "keras" / "configs_k3.json")
                      .read_text())["layers"]
SHAPES = [(None, 8), (None, 10, 6), (None, 12, 12, 3)]


def _open(config, **kw):
    """Open an editor; a ConfigError naming a field is the one allowed way to refuse."""
    try:
        return LayerEditor(config, **kw), None
    except engine.ConfigError as e:
        assert str(e).startswith(("config", "class_name")), str(e)  # names the field
        return None, str(e)


def _all_none(name):
    cls = engine.lookup("layer", name)
    cfg = dict((DEFAULTS.get(name) or {}).get("config") or {})
    for f in cls.all_fields():
        if f.optional and f.name != "name":
            cfg[f.key_for("keras3")] = None
    return cfg


# -- 14: a crash on open --------------------------------------------------------------------


def test_batch_normalization_with_an_empty_config_opens():
    ed = LayerEditor({"class_name": "BatchNormalization", "config": {}}, input_shape=(None, 8))
    assert ed.error is None and ed.outputs[0].shape == (16, 8)
    assert ed.controls["beta_regularizer"].value is None


def test_every_layer_class_opens_with_several_shapes_and_optional_fields_none():
    failures, refused, opened = [], [], 0
    start = time.monotonic()
    for i, name in enumerate(engine.names("layer")):
        base = (DEFAULTS.get(name) or {}).get("config") or {}
        cases = [({"class_name": name, "config": base}, {"input_shape": SHAPES[i % 3]}),
                 ({"class_name": name, "config": _all_none(name)},
                  {"input_shape": SHAPES[(i + 1) % 3]} if i % 2 else {})]
        for config, kw in cases:
            try:
                ed, why = _open(config, **kw)
            except Exception as e:  # noqa: BLE001 - the point of the test
                failures.append(f"{name} {kw}: {type(e).__name__}: {e}")
                continue
            if ed is None:
                refused.append(f"{name}: {why}")
                continue
            opened += 1
            if ed.error is None and not ed.plot_bytes:
                failures.append(f"{name} {kw}: no plots and no error")
            if ed.error is not None:  # shown in the editor, beside a field or on top
                assert ed.error_box.layout.display != "none", name
    assert not failures, "\n".join(failures)
    assert opened > 1.5 * len(engine.names("layer")), refused[:20]
    assert time.monotonic() - start < 400


def test_a_layer_class_switch_to_every_class_never_raises():
    ed = LayerEditor({"class_name": "Dense", "config": {"units": 4}}, input_shape=(None, 8))
    for name in engine.names("layer")[::7]:
        ed.controls["class_name"].value = name  # as picked in the page
        assert ed.config["class_name"] in (name, ed.config["class_name"])
        assert (ed.error is None) == (ed.config["class_name"] == name) or ed.error


# -- 1: bad values are reported, never clamped ------------------------------------------------


@pytest.mark.parametrize("path,typed", [
    ("units", "-3"), ("units", "0"), ("units", "abc"), ("units", "2.5"),
])
def test_a_bad_number_typed_in_the_page_is_reported_beside_its_field(path, typed):
    ed = LayerEditor({"class_name": "Dense", "config": {"units": 32}})
    layer, good = ed.layer, ed.config
    box = ed.controls[path]
    assert isinstance(box, NumberBox)
    box.text.value = typed  # what the page sends after typing and Enter
    assert box.text.value == typed  # not clamped, not rewritten
    assert ed.error and ed.error.startswith(f"config.{path}")
    row = ed._form.rows[path]
    assert row.error.layout.display != "none" and "units" in row.error.value
    assert ed.layer is layer and ed.config == good
    box.text.value = "7"
    assert ed.error is None and ed.layer.units == 7


def test_a_bad_value_set_from_python_is_reported_not_clamped():
    ed = LayerEditor({"class_name": "Dense", "config": {"units": 32}})
    ed.controls["units"].value = -3
    assert ed.controls["units"].value == -3 and ed.controls["units"].text.value == "-3"
    assert "must be &gt;= 1" in ed._form.rows["units"].error.value
    assert ed.layer.units == 32


def test_bad_values_in_every_kind_of_box():
    ed = LayerEditor({"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3}},
                     input_shape=(None, 12, 12, 3))
    layer = ed.layer
    cases = [
        (lambda: setattr(ed.controls["kernel_size"].boxes[0].text, "value", "-2"),
         "kernel_size"),
        (lambda: setattr(ed.controls["kernel_size"].boxes[0].text, "value", "x"),
         "kernel_size"),
        (lambda: setattr(ed.controls["filters"].text, "value", "1e9"), "filters"),
        (lambda: ed.set("kernel_initializer", "random_normal") and
         setattr(ed.controls["kernel_initializer.config.stddev"].text, "value", "-1"),
         "kernel_initializer.config.stddev"),
    ]
    for act, where in cases:
        act()
        assert ed.error, where
        assert ed._form.rows[where].error.layout.display != "none", (where, ed.error)
        assert ed.undo() and ed.error is None
    assert ed.layer.kernel.shape[:2] == layer.kernel.shape[:2]
    # a JSON box
    ed2 = LayerEditor({"class_name": "Reshape", "config": {"target_shape": [4, 2]}},
                      input_shape=(None, 8))
    ctl = ed2.controls["target_shape"]
    assert isinstance(ctl, JsonControl)
    ctl.text.value = "[3, x"
    assert ed2.error and ed2._form.rows["target_shape"].error.layout.display != "none"
    assert ed2.outputs[0].shape == (16, 4, 2)


# -- 3: every field an error concerns is marked ------------------------------------------------


def test_an_error_marks_every_field_it_concerns():
    ed = LayerEditor({"class_name": "Dense", "config": {"units": 4, "kernel_initializer": {
        "class_name": "RandomUniform", "config": {"minval": -0.1, "maxval": 0.5}}}})
    ed.controls["kernel_initializer.config.minval"].text.value = "2"
    rows = ed._form.rows
    for f in ("minval", "maxval"):
        row = rows[f"kernel_initializer.config.{f}"]
        assert row.error.layout.display != "none" and "minval" in row.error.value, f
    assert rows["units"].error.layout.display == "none"
    assert ed.controls["kernel_initializer.config.minval"].value == 2
    ed.controls["kernel_initializer.config.maxval"].text.value = "3"
    assert ed.error is None and ed.errors == {}
    assert ed.config["config"]["kernel_initializer"]["config"]["minval"] == 2


# -- 11: the editor is a widget ---------------------------------------------------------------


def test_the_editor_is_a_container_widget():
    ed = LayerEditor({"class_name": "Dense", "config": {"units": 4}})
    assert isinstance(ed, widgets.VBox) and ed.view is ed
    assert "layerlab-editor" in ed._dom_classes
    tab = widgets.Tab([ed, widgets.HBox([LayerEditor({"class_name": "Dropout",
                                                      "config": {"rate": 0.5}})])])
    assert tab.children[0] is ed
    bundle = widgets.HBox([ed])._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    widgets.AppLayout(center=ed)


# -- 12: undo/redo keep their entries when a rebuild fails -----------------------------------


def test_undo_and_redo_keep_an_entry_whose_rebuild_fails():
    ed = LayerEditor({"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3}},
                     input_shape=(None, 12, 12, 3))
    ed.set("kernel_size", [7, 7])
    ed.set("kernel_size", [3, 3])
    ed.shape_box.value = "(2, 5, 5, 3)"
    assert ed.error is None and ed.sample.shape == (2, 5, 5, 3)
    assert not ed.undo()  # 7x7 does not fit a 5x5 input: said, and kept
    assert "kernel_size" in ed.error and ed.config["config"]["kernel_size"] == [3, 3]
    ed.shape_box.value = "(2, 12, 12, 3)"
    assert ed.undo() and ed.config["config"]["kernel_size"] == [7, 7]
    ed.shape_box.value = "(2, 5, 5, 3)"  # now redo (to 3) must also survive a failure...
    assert ed.error and ed.config["config"]["kernel_size"] == [7, 7]
    ed.shape_box.value = "(2, 12, 12, 3)"
    assert ed.redo() and ed.config["config"]["kernel_size"] == [3, 3]
    assert ed.undo() and ed.undo() and ed.config["config"]["kernel_size"] == [3, 3]
    assert ed.redo() and ed.config["config"]["kernel_size"] == [7, 7]


def test_a_failed_redo_keeps_its_entry():
    ed = LayerEditor({"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3}},
                     input_shape=(None, 12, 12, 3))
    ed.set("kernel_size", [7, 7])
    assert ed.undo() and ed.config["config"]["kernel_size"] == [3, 3]
    ed.shape_box.value = "(2, 5, 5, 3)"
    assert not ed.redo() and ed.can_redo
    ed.shape_box.value = "(2, 12, 12, 3)"
    assert ed.redo() and ed.config["config"]["kernel_size"] == [7, 7]


# -- 2: the export stays live -----------------------------------------------------------------


def test_the_open_export_follows_every_edit():
    ed = LayerEditor({"class_name": "Dense", "config": {"units": 32}})
    ed._show_export("python")
    assert "units=32" in ed.export_box.value
    ed.controls["units"].value = 48
    assert "units=48" in ed.export_box.value
    ed.controls["class_name"].value = "Dropout"
    assert ed.export_box.value.startswith("keras.layers.Dropout(")
    ed._show_export("keras3")
    ed.undo()
    assert json.loads(ed.export_box.value)["class_name"] == "Dense"
    assert "layerlab-copy" in repr([c.value for c in ed.export_panel.children[0].children
                                    if isinstance(c, widgets.HTML)])
    ed._hide_export()
    ed.controls["units"].value = 5
    assert ed.export_panel.layout.display == "none"


# -- 5: values ----------------------------------------------------------------------------------


def test_float32_values_show_their_shortest_repr():
    assert short_float(float(np.float32(0.01))) == "0.01"
    assert short_float(0.1) == "0.1" and short_float(1e-7) == "1e-07"
    ed = LayerEditor({"class_name": "Dense", "config": {
        "units": 4, "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.01}}}})
    assert ed.controls["kernel_regularizer.config.l2"].text.value == "0.01"
    assert "L2(l2=0.01)" in ed.export("python")


def test_optional_fields_get_none_toggles_not_null_text():
    ed = LayerEditor({"class_name": "Dense", "config": {"units": 4}})
    bis = ed.controls["batch_input_shape"]
    assert isinstance(bis, OptionalControl) and bis.none.value
    bis.none.value = False
    assert ed.error is None or "batch_input_shape" in ed.error
    ed2 = LayerEditor({"class_name": "EinsumDense", "config": {
        "equation": "ab,bc->ac", "output_shape": 4}}, input_shape=(None, 8)) \
        if engine.lookup("layer", "EinsumDense") else None
    if ed2 is not None:
        ed2.set("kernel_initializer", "variance_scaling")
        for key in ("input_axes", "output_axes"):
            path = f"kernel_initializer.config.{key}"
            if path in ed2.controls:
                assert isinstance(ed2.controls[path], OptionalControl), path


# -- 10: pin a baseline ----------------------------------------------------------------------


def test_pin_overlays_the_baseline_and_the_table_shows_both():
    ed = LayerEditor({"class_name": "Dense", "config": {"units": 32, "activation": "relu"}})
    ed.pin()
    assert ed.pinned["config"]["units"] == 32
    ed.controls["kernel_initializer.class_name"].value = "RandomNormal"
    ed.set("kernel_initializer.config.stddev", 0.5)
    panel = ed._panels["w0-kernel"]
    assert panel.pinned.get_visible()
    labels = [t.get_text() for t in panel._legend.get_texts()]
    assert "pinned" in labels and "values" in labels
    assert ed.stats.value.count("pinned") >= 3  # kernel, bias, output
    assert "Re-pin" == ed.pin_button.description
    ed.unpin()
    assert ed.pinned is None and "pinned</td>" not in ed.stats.value
    assert not panel.pinned.get_visible()


# -- 7: a busy state during a rebuild ---------------------------------------------------------


def test_a_rebuild_shows_a_busy_state_in_the_editor():
    ed = LayerEditor({"class_name": "Dense", "config": {"units": 8}})
    seen = []
    ed.observe(lambda c: seen.append("layerlab-busy" in c["new"]), "_dom_classes")
    ed.controls["units"].value = 9
    assert seen == [True, False]  # sent to the page before the work, cleared after
    assert "layerlab-busy" not in ed._dom_classes
    ed.controls["units"].value = -1  # a failed rebuild clears it too
    assert seen[-2:] == [True, False]
    from widget.view import STYLE
    assert ".layerlab-busy .layerlab-plots img{opacity" in STYLE  # stale plots grey
    assert ".layerlab-busy .layerlab-status{visibility:visible" in STYLE


# -- 8: a searchable picker grouped by family ----------------------------------------------


def test_the_layer_picker_groups_by_family_then_class_and_filters_as_you_type():
    ed = LayerEditor({"class_name": "Dense", "config": {"units": 8}})
    picker = ed.picker
    assert picker.family.value == "Core"  # opened on the current class's family
    assert [n for _, n in picker.dropdown.options] == sorted(
        [n for g, n in grouped_layers() if g == "Core"], key=str.lower)
    fams = [v for _, v in picker.family.options]
    assert fams[0] == "" and fams[1:4] == ["Core", "Convolution", "Pooling"]
    picker.family.value = "Pooling"  # the second level lists that family only
    names = [n for _, n in picker.dropdown.options]
    assert names[0] == "Dense" and all(group_of(n) == "Pooling" for n in names[1:])
    assert ed.config["class_name"] == "Dense"  # choosing a family changes nothing
    picker.search.value = "conv2d"  # a search looks in every family
    assert picker.family.value == ""
    labels = [lbl for lbl, _ in picker.dropdown.options]
    assert "Convolution › Conv2D" in labels and "Dense (current)" in labels
    assert not [lbl for lbl in labels if "LSTM" in lbl]
    assert [lbl for lbl, _ in picker.family.options] == ["all families (4)",
                                                         "Convolution (4)"]
    picker.dropdown.value = "Conv2D"
    assert ed.config["class_name"] == "Conv2D" and ed.error is None
    picker.search.value = ""  # cleared: the current class's family again
    assert picker.family.value == "Convolution" and picker.dropdown.value == "Conv2D"
    ed.controls["class_name"].value = "LSTM"  # any class, from Python: the family follows
    assert ed.config["class_name"] == "LSTM" and picker.family.value == "Recurrent"
    assert ed.undo() and picker.value == "Conv2D" and picker.family.value == "Convolution"
    ed.controls["class_name"].value = "NoSuchLayer"  # refused: the picker shows the class
    assert ed.error and "NoSuchLayer" in ed.error and picker.value == "Conv2D"
    assert ed.config["class_name"] == "Conv2D"


def test_every_layer_class_is_in_its_keras_family_group():
    """The groups are read from names (no import); each must match the module the class
    lives in, so a new class that lands in the wrong group (or in "Other") fails here."""
    by_module = {"core": {"Core"}, "conv": {"Convolution"}, "locally_connected":
                 {"Convolution"}, "pooling": {"Pooling"}, "rnn": {"Recurrent"},
                 "attention": {"Attention"}, "normalization": {"Normalization"},
                 "regularization": {"Regularization"}, "activation": {"Activation"},
                 "reshaping": {"Reshaping"}, "merging": {"Merging"},
                 "preprocessing": {"Preprocessing", "Reshaping"},
                 "applications": {"Application blocks"}}
    listed = dict((n, g) for g, n in grouped_layers())
    wrong = []
    for name in engine.names("layer"):
        module = engine.lookup("layer", name).__module__.split(".")
        if module[1] == "models":
            assert name not in listed  # the LayerEditor edits one layer, not a model
            continue
        if listed.get(name) not in by_module[module[2]]:
            wrong.append((name, module[2], listed.get(name)))
    assert wrong == []
    assert group_of("UpSampling2D") == "Reshaping" and group_of("Normalization") == \
        "Preprocessing" and group_of("Whatever") == "Other"


def test_opening_an_editor_imports_only_the_family_it_shows():
    code = ("import sys\nfrom widget import LayerEditor\n"
            "ed = LayerEditor({'class_name': 'Dense', 'config': {'units': 4}})\n"
            "before = sorted(m for m in sys.modules if m.startswith('engine.layers.'))\n"
            "ed.controls['class_name'].value = 'Conv2D'\n"
            "after = sorted(m for m in sys.modules if m.startswith('engine.layers.'))\n"
            "import json; print(json.dumps([before, after, ed.error]))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parents[2], timeout=120,
                         env={**os.environ, "MPLBACKEND": "Agg"})
    assert res.returncode == 0, res.stderr
    before, after, error = json.loads(res.stdout.strip().splitlines()[-1])
    helpers = {"base", "shapes", "weights", "elementwise", "linalg", "call_budget"}  # shared
    families = {m.split(".")[2] for m in before} - helpers
    assert families == {"core"} and error is None
    assert "engine.layers.conv.convolution" in after
    assert not [m for m in after if m.startswith(("engine.layers.preprocessing",
                                                  "engine.layers.pooling"))]


# -- 9: docs as text on demand ------------------------------------------------------------------


def test_the_help_toggle_shows_each_fields_doc_as_text():
    ed = LayerEditor({"class_name": "Dense", "config": {"units": 8}})
    row = ed._form.rows["units"]
    assert row.help is None or row.help.layout.display == "none"
    ed.help_toggle.value = True
    assert row.help.layout.display != "none" and "Dimensionality" in row.help.value
    ed.controls["kernel_initializer.class_name"].value = "RandomNormal"  # new rows too
    sub = ed._form.rows["kernel_initializer.config.stddev"]
    assert sub.help is not None and sub.help.layout.display != "none"
    ed.help_toggle.value = False
    assert row.help.layout.display == "none"


# -- 6: readable plots ----------------------------------------------------------------------------


def test_plots_have_labels_a_legend_aligned_bins_and_a_zero_bar():
    ed = LayerEditor({"class_name": "Dense", "config": {"units": 64, "activation": "relu"}})
    kernel = ed._panels["w0-kernel"]
    assert kernel.ax.get_ylabel() == "density"
    assert any(t.get_text() == "value" for t in kernel.fig.texts)
    assert [t.get_text() for t in kernel._legend.get_texts()] == ["values", "theory"]
    limit = float(np.sqrt(6 / (64 + 64)))  # GlorotUniform: support on bin edges
    edges = kernel._cur.edges
    assert np.min(np.abs(edges - limit)) < 1e-6 and np.min(np.abs(edges + limit)) < 1e-6
    out = ed._panels["out0"]
    assert 0.3 < out._cur.zeros < 0.7 and out.zero_bar.get_visible()
    assert "zeros" in out.zero_text.get_text()
    top = out.ax.get_ylim()[1]
    assert out._cur.density.max() > 0.3 * top  # the spike does not flatten the rest
    ed.set("kernel_initializer", {"class_name": "RandomNormal", "config": {"stddev": 3.0}})
    below, above = ed._panels["out0"].outside
    text = ed._panels["out0"].above_text.get_text()
    assert (above == 0 and text == "") or f"{above:,} above" in text
