"""LayerEditor logic as a user drives it: set control values, read config, plots, errors.

No kernel and no browser: ipywidgets observers fire synchronously when a control's value
is assigned, exactly as when the frontend sends the new value.
"""

from __future__ import annotations

import ast
import gc
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

import engine
from engine import registry
from widget import LayerEditor
from widget.controls import NestedControl

SEED = {"class_name": "Dense", "config": {"units": 32, "activation": "relu",
                                          "kernel_initializer": {"class_name": "GlorotUniform",
                                                                 "config": {"seed": None}}}}
DEFAULTS = json.loads((Path(__file__).parents[1] / "data" / "keras" / "configs_k3.json")
                      .read_text())["layers"]


@pytest.fixture
def ed():
    return LayerEditor(SEED)


def kernel_plot(editor):
    return editor.plot_bytes["w0-kernel"]


# -- the form ----------------------------------------------------------------------------


def expected_paths(cls, cfg, fmt, prefix=""):
    out = []
    for f in cls.all_fields():
        if fmt not in f.formats or f.widget.get("hidden"):
            continue
        path = prefix + f.name
        out.append(path)
        value = cfg.get(f.key_for(fmt), cfg.get(f.name))
        kind = getattr(f, "object_kind", f.kind)  # an object field's registry kind
        if kind in ("initializer", "regularizer", "constraint", "layer"):
            out.append(path + ".class_name")
            if isinstance(value, dict):
                sub = registry.lookup(kind, value["class_name"])
                out += expected_paths(sub, value.get("config") or {}, fmt, path + ".config.")
    return out


def test_seed_config_opens_with_a_control_per_field(ed):
    cls = registry.lookup("layer", "Dense")
    assert set(expected_paths(cls, ed.config["config"], "keras2")) <= set(ed.controls)
    assert "kernel_initializer.config.seed" in ed.controls
    assert ed.layer.units == 32 and ed.layer.kernel.shape == (64, 32)  # inferred (batch, 64)
    assert ed.error is None
    assert ed.controls["units"].doc == "Dimensionality of the output space."
    assert ed.controls["units"].text.tooltip == "Dimensionality of the output space."
    # issue 15.1: a number box never clamps; its bounds are a hint, the engine judges
    assert type(ed.controls["units"]).__name__ == "NumberBox"
    assert ed.controls["units"].min == 1 and ed.controls["units"].text.placeholder == "≥ 1"
    assert type(ed.controls["activation"]).__name__ == "Dropdown"
    assert type(ed.controls["use_bias"]).__name__ == "Checkbox"


LAYER_CASES = [n for n in ("Dense", "Conv2D", "Conv1D", "LSTM", "BatchNormalization",
                           "Embedding", "Dropout", "MultiHeadAttention", "Bidirectional",
                           "DepthwiseConv2D", "LayerNormalization", "Add")
               if registry.lookup("layer", n) is not None]


@pytest.mark.parametrize("name", LAYER_CASES)
def test_controls_for_every_field_of_a_layer_class(name):
    entry = DEFAULTS[name]
    ed = LayerEditor({"class_name": name, "config": entry["config"]})
    cls = registry.lookup("layer", name)
    want = expected_paths(cls, ed.config["config"], "keras3")
    assert set(want) <= set(ed.controls), set(want) - set(ed.controls)
    for path in want:
        ctl = ed.controls[path]  # the field's doc is its tooltip (boxes: on their parts)
        assert ctl.tooltip or getattr(ctl, "doc", None), path
    assert ed.error is None, ed.error
    assert ed.plot_bytes  # at least the output histogram


def test_every_registered_layer_opens_without_raising():
    failures = []
    for name in registry.names("layer"):
        entry = DEFAULTS.get(name)
        if entry is None:
            continue
        try:
            ed = LayerEditor({"class_name": name, "config": entry["config"]})
        except engine.ConfigError:
            continue  # a config the engine refuses: raising at construction is the contract
        except Exception as e:  # noqa: BLE001
            failures.append(f"{name}: {type(e).__name__}: {e}")
            continue
        if ed.error is None and not ed.plot_bytes:
            failures.append(f"{name}: no plots and no error")
    assert not failures, "\n".join(failures)


def test_tuple_fields_are_rows_of_boxes_when_conv_exists():
    if registry.lookup("layer", "Conv2D") is None:
        pytest.skip("Conv2D not in the engine yet")
    ed = LayerEditor({"class_name": "Conv2D", "config": {"filters": 8, "kernel_size": 3}})
    assert ed.sample.shape == (16, 32, 32, 3)
    ks = ed.controls["kernel_size"]
    assert ks.value == (3, 3) and len(ks.children) == 2
    ks.children[1].value = 5  # one box, as in the page
    assert ed.config["config"]["kernel_size"] == [3, 5]
    assert ed.layer.kernel.shape == (3, 5, 3, 8)
    ed.controls["padding"].value = "same"
    assert ed.outputs[0].shape == (16, 32, 32, 8)


def test_a_change_rebuilds_and_changes_the_plot(ed):
    before = dict(ed.plot_bytes)
    ed.controls["units"].value = 48
    assert ed.layer.units == 48 and ed.layer.kernel.shape == (64, 48)
    assert ed.outputs[0].shape == (16, 48)
    assert kernel_plot(ed) != before["w0-kernel"]
    assert ed.plot_bytes["out0"] != before["out0"]
    # an activation change leaves the (seeded) kernel and its picture alone
    kernel = ed.plot_bytes["w0-kernel"]
    ed.controls["activation"].value = "tanh"
    assert ed.plot_bytes["w0-kernel"] == kernel
    assert ed.layer.activation.name == "tanh"


def test_switching_the_initializer_shows_its_fields_and_density(ed):
    ed.controls["kernel_initializer.class_name"].value = "VarianceScaling"
    assert {"kernel_initializer.config.scale", "kernel_initializer.config.mode",
            "kernel_initializer.config.distribution"} <= set(ed.controls)
    ed.controls["kernel_initializer.config.distribution"].value = "uniform"
    ed.controls["kernel_initializer.config.scale"].value = 3.0
    limit = np.sqrt(3 * 3.0 / 64)
    assert abs(np.abs(ed.layer.kernel.value).max() - limit) < 0.02
    ed.controls["kernel_initializer.class_name"].value = "HeNormal"
    assert "kernel_initializer.config.scale" not in ed.controls
    assert ed.config["config"]["kernel_initializer"]["class_name"] == "HeNormal"
    panel = ed._panels["w0-kernel"]
    x, y = panel.pdf.get_data()
    assert len(x) > 10 and max(y) > 0  # the theoretical density is drawn
    assert "truncated normal" in panel.caption.value


def test_set_takes_aliases_and_whole_configs(ed):
    assert ed.set("kernel_initializer", "he_normal")
    assert ed.config["config"]["kernel_initializer"]["class_name"] == "HeNormal"
    assert ed.set("kernel_initializer", {"class_name": "RandomNormal",
                                         "config": {"stddev": 0.5, "seed": 3}})
    assert ed.controls["kernel_initializer.config.stddev"].value == 0.5
    assert ed.controls["kernel_initializer.config.seed"].value == 3
    assert ed.set("kernel_initializer.config.stddev", 0.25)
    assert abs(ed.layer.kernel.value.std() - 0.25) < 0.02


def test_regularizer_none_toggle_and_fields(ed):
    ed.controls["kernel_regularizer.class_name"].value = "L1L2"
    assert ed.config["config"]["kernel_regularizer"]["class_name"] == "L1L2"
    ed.controls["kernel_regularizer.config.l2"].value = 0.5
    assert ed.layer.losses and ed.layer.losses[0] > 0
    ed.controls["kernel_regularizer.class_name"].value = "None"
    assert ed.config["config"]["kernel_regularizer"] is None
    assert "kernel_regularizer.config.l2" not in ed.controls


def test_optional_seed_toggle(ed):
    seed = ed.controls["kernel_initializer.config.seed"]
    assert seed.value is None and seed.none.value
    seed.none.value = False  # untick "None" in the page
    assert ed.config["config"]["kernel_initializer"]["config"]["seed"] == seed.inner.value
    seed.inner.value = 7
    assert ed.config["config"]["kernel_initializer"]["config"]["seed"] == 7


@pytest.mark.parametrize("path,value,where", [
    ("kernel_initializer.config.stddev", -1.0, "kernel_initializer.config.stddev"),
    ("units", -3, "units"),
    ("units", "3", "units"),
])
def test_bad_value_shows_error_and_keeps_last_good_state(ed, path, value, where):
    if path.startswith("kernel_initializer.config.stddev"):
        ed.set("kernel_initializer", "random_normal")
    good, layer, plots = ed.config, ed.layer, ed.plot_bytes
    assert ed.set(path, value) is False  # nothing raised
    assert ed.error and ed.error.startswith("config." + where)
    row = ed._form.rows[where]
    assert "color:#c62828" in row.error.value and row.error.layout.display != "none"
    assert ed.config == good and ed.layer is layer and ed.plot_bytes == plots
    # fixing it clears the message
    ed.undo()
    assert ed.error is None and row.error.layout.display == "none"
    assert ed.config == good


def test_bad_value_typed_in_a_float_box(ed):
    ed.set("kernel_initializer", "variance_scaling")
    good = ed.config
    ed.controls["kernel_initializer.config.scale"].value = -1.0
    assert "must be > 0" in ed.error and ed.config == good
    assert ed.controls["kernel_initializer.config.scale"].value == -1.0  # as typed
    ed.set("kernel_initializer.config.scale", -5.0)
    assert ed.controls["kernel_initializer.config.scale"].value == -5.0
    ed.set("units", -3)  # issue 15.1: no box clamps; it shows -3 beside the engine's message
    assert ed.controls["units"].value == -3 and "units" in ed.error
    assert ed.layer.units == 32

    ed.controls["kernel_initializer.config.scale"].value = 2.0
    assert "units" in ed.error  # the draft still holds the bad units
    ed.controls["units"].value = 32
    assert ed.error is None and ed.config["config"]["kernel_initializer"]["config"]["scale"] == 2


def test_refused_class_switch_keeps_the_settings(ed):
    ed.set("kernel_initializer.config.seed", 5)
    assert not ed.set("kernel_initializer.class_name", "Nope")
    assert ed.controls["kernel_initializer.class_name"].value == "GlorotUniform"
    assert ed.set("units", 6)
    assert ed.config["config"]["kernel_initializer"]["config"]["seed"] == 5


def test_refused_class_keeps_the_good_class_in_the_form(ed):
    assert not ed.set("kernel_initializer", {"class_name": "Nope", "config": {}})
    assert "unknown initializer 'Nope'" in ed.error
    assert ed.controls["kernel_initializer.class_name"].value == "GlorotUniform"
    assert ed.set("units", 5) and ed.error is None  # the draft did not keep the bad class


def test_conflicting_combination_points_at_the_engine_field(ed):
    ed.set("kernel_initializer", {"class_name": "RandomUniform",
                                  "config": {"minval": -0.1, "maxval": 0.1}})
    ed.controls["kernel_initializer.config.minval"].value = 0.5
    assert "maxval" in ed.error
    assert ed._form.rows["kernel_initializer.config.maxval"].error.value
    ed.controls["kernel_initializer.config.maxval"].value = 0.9  # fixes the draft
    assert ed.error is None
    assert ed.config["config"]["kernel_initializer"]["config"] == {
        "minval": 0.5, "maxval": 0.9, "seed": None}


def test_undo_redo_reset(ed):
    ed.set("units", 10)
    ed.set("activation", "tanh")
    assert ed.undo() and ed.config["config"]["activation"] == "relu"
    assert ed.controls["activation"].value == "relu"
    assert ed.undo() and ed.config["config"]["units"] == 32
    assert ed.controls["units"].value == 32
    assert not ed.undo()
    assert ed.redo() and ed.config["config"]["units"] == 10
    assert ed.redo() and ed.config["config"]["activation"] == "tanh"
    assert not ed.redo()
    ed.undo_button.click()
    assert ed.config["config"]["activation"] == "relu"
    ed.reset_button.click()
    assert ed.config["config"]["units"] == 32
    assert ed.undo() and ed.config["config"]["units"] == 10


def test_layer_class_switch_carries_settings():
    ed = LayerEditor(SEED)
    ed.set("kernel_initializer", "he_normal")
    target = "Conv2D" if registry.lookup("layer", "Conv2D") else "EinsumDense"
    ed.class_select.value = target
    assert ed.config["class_name"] == target, ed.error
    cfg = ed.config["config"]
    assert cfg["activation"] == "relu"
    assert cfg["kernel_initializer"]["class_name"] == "HeNormal"
    assert "units" not in ed.controls
    assert ed.outputs and ed.error is None
    ed.undo()
    assert ed.config["class_name"] == "Dense" and "units" in ed.controls


def test_export_round_trips(ed):
    ed.set("units", 12)
    ed.set("kernel_initializer", {"class_name": "VarianceScaling", "config": {"scale": 2.0}})
    ed.set("kernel_regularizer", "l2")
    want = engine.deserialize(ed.config)
    for fmt in ("keras3", "keras2"):
        layer = engine.deserialize(json.loads(ed.export(fmt)))
        assert type(layer) is type(want)
        assert layer.get_config(fmt) == want.get_config(fmt)
        assert layer.get_config(fmt)["kernel_initializer"]["config"]["scale"] == 2.0
    k3 = json.loads(ed.export("keras3"))
    assert k3["module"] == "keras.layers" and k3["build_config"]["input_shape"] == [None, 64]


def test_python_snippet_has_only_non_default_args(ed):
    ed.set("units", 12)
    ed.set("use_bias", False)
    ed.set("kernel_initializer", {"class_name": "VarianceScaling",
                                  "config": {"scale": 2.0, "seed": 1}})
    code = ed.export("python")
    assert code.startswith("keras.layers.Dense(units=12, activation='relu', use_bias=False")
    assert "bias_initializer" not in code and "name=" not in code
    # the snippet is plain keyword calls: read it back without running it
    layer = engine.deserialize(_snippet_to_config(ast.parse(code, mode="eval").body))
    assert layer.get_config() == engine.deserialize(ed.config).get_config() | {
        "name": layer.name}


def _snippet_to_config(node):
    if isinstance(node, ast.Call):
        return {"class_name": node.func.attr,
                "config": {k.arg: _snippet_to_config(k.value) for k in node.keywords}}
    return ast.literal_eval(node)


def test_export_buttons_fill_the_text_area(ed):
    for cls in ("layerlab-export-keras3", "layerlab-export-keras2", "layerlab-export-python"):
        button = next(b for b in _all_widgets(ed) if cls in b._dom_classes)
        button.click()
        assert ed.export_panel.layout.display != "none" and ed.export_box.value
        assert button.description and not button.icon  # text buttons


def test_accepts_json_text_keras3_form_and_layers():
    k3 = engine.serialize(engine.deserialize(SEED), format="keras3")
    k3["build_config"] = {"input_shape": [None, 20]}
    a = LayerEditor(json.dumps(k3))
    assert a.sample.shape == (16, 20) and a.layer.kernel.shape == (20, 32)
    assert isinstance(a.config["config"]["dtype"], dict)  # stays in Keras 3 form
    layer = engine.deserialize(SEED)
    layer.build((None, 5))
    b = LayerEditor(layer)
    assert b.layer is layer and b.sample.shape == (16, 5)
    c = LayerEditor(SEED, input_shape=(None, 7))
    assert c.sample.shape == (16, 7)
    x = np.ones((3, 9), np.float32)
    d = LayerEditor(SEED, sample=x)
    assert d.outputs[0].shape == (3, 32)
    with pytest.raises(engine.ConfigError):
        LayerEditor({"class_name": "Dense", "config": {"units": -1}})


def test_fixed_seed_keeps_weights_comparable():
    a = LayerEditor(SEED, seed=5)
    k1 = a.layer.kernel.value.copy()
    a.set("activation", "tanh")
    assert np.array_equal(k1, a.layer.kernel.value)
    assert a.config["config"]["kernel_initializer"]["config"]["seed"] is None  # not exported
    b = LayerEditor(SEED, seed=None)
    assert not b.fixed_seed.value
    k2 = b.layer.kernel.value.copy()
    b.set("activation", "tanh")
    assert not np.array_equal(k2, b.layer.kernel.value)
    b.fixed_seed.value = True
    k3 = b.layer.kernel.value.copy()
    b.set("activation", "relu")
    assert np.array_equal(k3, b.layer.kernel.value)


def test_log_y_and_overlay_redraw_in_place(ed):
    before = ed.plot_bytes
    images = [p.image for p in ed._panels.values()]
    ed.log_y.value = True
    assert ed.plot_bytes["out0"] != before["out0"]
    ed.overlay.value = True
    ed.set("units", 40)
    panel = ed._panels["out0"]
    assert panel.prev.get_visible()
    assert [p.image for p in ed._panels.values()][:1] == images[:1]  # same widgets reused
    assert len(ed.plots_box.children) == len(ed._panels) == 3


def test_input_shape_box(ed):
    ed.shape_box.value = "(4, 10)"
    assert ed.sample.shape == (4, 10) and ed.layer.kernel.shape == (10, 32)
    ed.shape_box.value = "nonsense"
    assert ed.error and ed.sample.shape == (4, 10)


def test_on_change_callback(ed):
    events = []
    ed.on_change(events.append)
    ed.set("units", 3)
    ed.set("units", 0)
    assert [e["type"] for e in events] == ["change", "error"]
    assert events[0]["config"]["config"]["units"] == 3 and events[1]["error"]


def test_nested_controls_are_composites_with_values(ed):
    ki = ed.controls["kernel_initializer"]
    assert isinstance(ki, NestedControl)
    assert ki.value["class_name"] == "GlorotUniform"
    ki.value = {"class_name": "Orthogonal", "config": {"gain": 2.0}}
    assert ed.config["config"]["kernel_initializer"]["class_name"] == "Orthogonal"
    assert ed.controls["kernel_initializer.config.gain"].value == 2.0


def _live_figures() -> int:
    """matplotlib Figures alive in the process (the widget never uses pyplot, so pyplot's
    registry would stay empty even if figures leaked: count the objects themselves)."""
    gc.collect()
    return sum(isinstance(o, Figure) for o in gc.get_objects())


def test_no_figure_leak_and_bounded_history():
    ed = LayerEditor(SEED)
    ed.set("units", 9)
    before = _live_figures()
    assert before >= 3  # the editor's own panels
    for i in range(100):
        ed.set("units", 8 + i % 5)
        if i % 10 == 0:
            ed.set("kernel_initializer", ["he_normal", "glorot_uniform"][i % 20 // 10])
    assert _live_figures() <= before
    assert plt.get_fignums() == []
    assert len(ed._panels) == 3 and len(ed.plots_box.children) == 3
    assert len(ed._state.undo_stack) <= 100


def test_displays_as_a_widget(ed):
    bundle = ed._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_text_and_slider_controls_do_not_flood_the_kernel():
    names = ["Dense"] + [n for n in ("Conv2D", "Dropout") if registry.lookup("layer", n)]
    for name in names:
        ed = LayerEditor({"class_name": name, "config": DEFAULTS[name]["config"]})
        boxes = [w for w in _all_widgets(ed.view) if hasattr(w, "continuous_update")
                 and "layerlab-class-search" not in w._dom_classes]  # filters as you type
        assert boxes and all(not w.continuous_update for w in boxes), name


def _all_widgets(w):
    yield w
    for c in getattr(w, "children", ()):
        yield from _all_widgets(c)


def test_user_input_shape_is_kept_for_the_class_and_inferred_for_another():
    if registry.lookup("layer", "Conv2D") is None:
        pytest.skip("Conv2D not in the engine yet")
    ed = LayerEditor(SEED, input_shape=(None, 10))
    assert ed.sample.shape == (16, 10)
    assert ed.set("class_name", "Conv2D"), ed.error
    assert ed.sample.shape == (16, 32, 32, 3)


def test_keras2_keys_are_the_paths_of_a_keras2_config():
    if registry.lookup("layer", "LeakyReLU") is None:
        pytest.skip("LeakyReLU not in the engine yet")
    ed = LayerEditor({"class_name": "LeakyReLU", "config": {"alpha": 0.1}})
    assert "alpha" in ed.controls and "negative_slope" not in ed.controls
    ed.controls["alpha"].value = 0.5
    assert ed.error is None and ed.config["config"]["alpha"] == 0.5
    assert ed.set("config.alpha", 0.25) and ed.layer.values["negative_slope"] == 0.25
