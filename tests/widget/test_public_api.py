"""The widget's house rules: a light ``import widget``, one table from field kind to
control, and controls for the typed preprocessing settings (factors, value ranges)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import engine
from engine.fields import Field, Int
from widget import LayerEditor
from widget.composites import JsonControl, OptionalControl, RangeControl, TupleControl
from widget.controls import CONTROLS, NestedControl, make_control
from widget.state import kind_of

ROOT = Path(__file__).parents[2]
HEAVY = ("matplotlib", "PIL", "ipywidgets", "IPython")


def _loaded_after(code: str) -> list[str]:
    """Top-level packages and engine modules loaded by ``code`` in a fresh interpreter."""
    probe = (f"import sys\n{code}\nimport json\n"
             "print(json.dumps(sorted(m for m in sys.modules if '.' not in m or "
             "m.startswith(('engine.', 'matplotlib.')))))")
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, timeout=120, env={**os.environ, "MPLBACKEND": "Agg"})
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_import_widget_loads_no_plotting_nor_widgets():
    loaded = _loaded_after("import widget")
    assert not [m for m in loaded if m.split(".")[0] in HEAVY]
    assert not [m for m in loaded if m.startswith("engine.layers")]


def test_the_editor_class_loads_matplotlib_only_to_draw():
    loaded = _loaded_after("from widget import LayerEditor")
    assert "ipywidgets" in loaded
    assert not [m for m in loaded if m.split(".")[0] in ("matplotlib", "PIL")]
    loaded = _loaded_after("from widget import LayerEditor\n"
                           "LayerEditor({'class_name': 'Dense', 'config': {'units': 4}})")
    assert "matplotlib" in loaded
    assert "matplotlib.pyplot" not in loaded


def test_teaching_helpers_load_matplotlib_only_to_plot():
    loaded = _loaded_after("import widget.teaching")
    assert "matplotlib" not in loaded


# -- one table from field kind to control -----------------------------------------------------


def test_a_fields_kind_names_its_control():
    dense = engine.lookup("layer", "Dense")
    assert kind_of(dense.field("units")) == "int"
    assert kind_of(dense.field("kernel_initializer")) == "initializer"
    assert kind_of(dense.field("activation")) == "activation"
    assert kind_of(dense.field("dtype")) == "dtype"
    assert dense.field("kernel_initializer").kind == "object"


@pytest.mark.parametrize("kind", ["int", "seed", "float", "bool", "choice", "activation",
                                  "dtype", "str", "int_tuple", "odd_sizes", "factor",
                                  "value_range", "initializer", "regularizer", "constraint",
                                  "layer"])
def test_every_typed_kind_has_a_builder(kind):
    assert kind in CONTROLS


def test_an_unknown_kind_gets_json_text():
    class Mystery(Field):
        kind = "mystery"

    ctl, to_config = make_control(Mystery("thing", [1, {"a": 2}]), [1, {"a": 2}])
    assert isinstance(ctl, JsonControl) and ctl.value == [1, {"a": 2}]
    ctl.text.value = '{"b": 3}'
    assert to_config(ctl.value) == {"b": 3}


def test_a_bounded_int_outside_a_form():
    ctl, _ = make_control(Int("units", 8, min=1), 8)
    # issue 15.1: a text box that never clamps; its bounds are a hint
    assert type(ctl).__name__ == "NumberBox" and ctl.min == 1 and ctl.value == 8
    ctl.value = -3
    assert ctl.value == -3 and ctl.text.value == "-3"


def test_a_nested_kind_needs_its_form():
    f = engine.lookup("layer", "Dense").field("kernel_initializer")
    with pytest.raises(ValueError, match="needs its form"):
        make_control(f, "glorot_uniform")


# -- the typed preprocessing settings -------------------------------------------------------


def _layer(name: str) -> str:
    if engine.lookup("layer", name) is None:
        pytest.skip(f"no {name} in the engine")
    return name


def test_a_factor_is_a_number_or_a_range_within_its_bounds():
    ed = LayerEditor({"class_name": _layer("RandomRotation"), "config": {"factor": 0.2}})
    ctl = ed.controls["factor"]
    assert isinstance(ctl, RangeControl) and ctl.value == 0.2
    assert (ctl.number.min, ctl.number.max) == (-1, 1)
    assert (ctl.lower.min, ctl.upper.max) == (-1, 1)
    ctl.pair.value = True  # "range": the range 0.2 means, in two boxes
    assert ctl.value == (-0.2, 0.2) and ed.config["config"]["factor"] == [-0.2, 0.2]
    ctl.upper.value = 0.4
    assert ed.config["config"]["factor"] == [-0.2, 0.4] and ed.error is None
    assert ed.layer.factor == (-0.2, 0.4)
    ctl.pair.value = False
    assert ed.config["config"]["factor"] == 0.4 and ed.layer.factor == (-0.4, 0.4)


def test_a_refused_factor_keeps_the_last_good_one():
    ed = LayerEditor({"class_name": _layer("RandomBrightness"), "config": {"factor": 0.2}})
    assert not ed.set("factor", 5)
    assert "factor" in ed.error and ed.config["config"]["factor"] == [-0.2, 0.2]
    assert ed.controls["factor"].value == 5  # issue 15.1: shown as typed, beside the error
    assert ed.layer.factor == (-0.2, 0.2) and ed._form.rows["factor"].error.value
    assert ed.undo() and ed.error is None and ed.controls["factor"].value == (-0.2, 0.2)


def test_a_value_range_is_two_float_boxes():
    ed = LayerEditor({"class_name": _layer("RandomBrightness"), "config": {"factor": 0.2}})
    ctl = ed.controls["value_range"]
    assert isinstance(ctl, RangeControl) and ctl.pair is None and ctl.value == (0, 255)
    ctl.upper.value = 1.0
    assert ed.config["config"]["value_range"] == [0, 1] and ed.error is None
    ed.set("value_range", [0, 2])
    assert ctl.value == (0, 2)


def test_an_optional_factor_has_a_none_toggle():
    ed = LayerEditor({"class_name": _layer("RandomColorJitter"), "config": {}})
    ctl = ed.controls["brightness_factor"]
    assert isinstance(ctl, OptionalControl) and ctl.value is None
    assert isinstance(ctl.inner, RangeControl) and ctl.inner.number.disabled
    ctl.none.value = False
    assert ed.config["config"]["brightness_factor"] == ctl.inner.value and ed.error is None
    ctl.inner.number.value = 0.3
    assert ed.config["config"]["brightness_factor"] == 0.3
    ctl.none.value = True
    assert ed.config["config"]["brightness_factor"] is None and ctl.inner.number.disabled


def test_odd_sizes_are_a_row_of_int_boxes():
    ed = LayerEditor({"class_name": _layer("RandomGaussianBlur"),
                      "config": {"factor": 0.5, "kernel_size": 5}})
    ctl = ed.controls["kernel_size"]
    assert isinstance(ctl, TupleControl) and ctl.value == (5, 5)
    ctl.children[1].value = 3
    assert ed.config["config"]["kernel_size"] == [5, 3] and ed.error is None


def test_nested_fields_still_get_sub_forms():
    ed = LayerEditor({"class_name": "Dense", "config": {"units": 4}})
    assert isinstance(ed.controls["kernel_initializer"], NestedControl)
    assert "kernel_initializer.config.seed" in ed.controls
