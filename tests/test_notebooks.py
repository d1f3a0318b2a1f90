"""The notebooks run top to bottom in a real kernel (nbclient), as a user runs them."""

from __future__ import annotations

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from notebook_kernel import NOTEBOOKS, STATE, VIEW, outputs, run  # noqa: E402

pytestmark = pytest.mark.notebook


def test_quickstart_runs_top_to_bottom_with_a_live_editor():
    nb = nbformat.read(NOTEBOOKS / "01_quickstart.ipynb", as_version=4)
    probe = nbformat.v4.new_code_cell(
        "before = editor.plot_bytes\n"
        "editor.controls['units'].value = 7\n"
        "editor.controls['kernel_initializer.class_name'].value = 'LecunUniform'\n"
        "after = editor.plot_bytes\n"
        "print('units', editor.layer.units, 'init', type(editor.layer.kernel.initializer)"
        ".__name__, 'changed', after['w0-kernel'] != before['w0-kernel'], 'error', "
        "editor.error)")
    nb.cells.append(probe)
    run(nb)
    outs = outputs(nb)
    errors = [o for o in outs if o.output_type == "error"]
    assert not errors, errors[0].get("evalue")
    views = [o for o in outs if VIEW in o.get("data", {})]
    assert len(views) == 1, "the editor is displayed once"
    state = nb.metadata.widgets[STATE]["state"]
    assert views[0]["data"][VIEW]["model_id"] in state
    assert any(s["model_name"] == "ImageModel" for s in state.values())
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "units 7 init LecunUniform changed True error None" in text
    tour = "".join(o.get("text", "") for o in outs)
    assert "must be > 0, got -1.0" in tour and "after undo, error: None" in tour


def test_depth_notebook_draws_every_section_and_explores_at_once():
    """Issue 15.13: sharper figures, a deep stack in at most 10 panels, section 3 drawn,
    the explorer drawn without a click and taking any Keras name (a bad one in words)."""
    nb = nbformat.read(NOTEBOOKS / "02_initializers_and_depth.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "panels, _plot = [], plot_depth\n"
        "def plot_depth(stats, **kw):\n"
        "    panels.append(len(stats))\n"
        "    return _plot(stats, **kw)\n"
        "explore('relu', 'he_uniform', 20)\nprint('panels', panels)\n"
        "explore('tanh', 'no_such_init', 3)"))
    run(nb, timeout=300)
    outs = outputs(nb)
    assert not [o for o in outs if o.output_type == "error"]
    assert len([o for o in outs if "image/png" in o.get("data", {})]) >= 7
    # section 1 prints the CS231n lecture's numbers (tests/test_teaching.py), a few a line
    text = " ".join("".join(o.get("text", "") for o in outs if o.output_type == "stream").split())
    assert "std per layer: 0.21, 0.048, 0.011" in text
    # no click needed: interact's Output widget already holds the picture
    state = nb.metadata.widgets[STATE]["state"]
    shown = [o for s in state.values() if s["model_name"] == "OutputModel"
             for o in s["state"].get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in shown), shown
    he = next(c for c in nb.cells if "x30 =" in c.source)
    assert any("image/png" in o.get("data", {}) for o in he.outputs)  # section 3 draws
    grads = [c for c in nb.cells if "engine.gradients(" in c.source]
    assert len(grads) == 2  # Glorot & Bengio's Fig. 7 set-up, He et al.'s RMS by depth
    for cell in grads:
        assert any("image/png" in o.get("data", {}) for o in cell.outputs)
    last = nb.cells[-1].outputs
    text = "".join(o.get("text", "") for o in last)
    assert "20 layers of Dense(500, relu), he_uniform" in text
    assert "Cannot build a stack with activation 'tanh' and initializer 'no_such_init'" in text
    assert "panels [10]" in text  # 20 layers, 10 of them drawn
