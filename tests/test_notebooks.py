"""The notebooks run top to bottom in a real kernel (nbclient), as a user runs them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"

pytestmark = pytest.mark.notebook


def run(nb, timeout=180):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=timeout,
                                     store_widget_state=True,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env=env)
    return nb


def outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


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
