"""notebooks/03_debug_saved_model.ipynb runs top to bottom in a real kernel and finds both
planted bugs of data/debug_mlp.keras (a dead ReLU layer, a saturated tanh layer)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import engine

ROOT = Path(__file__).parent.parent
NOTEBOOK = ROOT / "notebooks" / "03_debug_saved_model.ipynb"
MODEL = ROOT / "notebooks" / "data" / "debug_mlp.keras"


def test_planted_bugs_are_there():
    model = engine.load(MODEL)
    x = np.random.default_rng(0).standard_normal((64, 32)).astype("float32")
    outs = model.intermediate_outputs(x)
    assert np.all(outs["hidden_2"] == 0)  # every ReLU unit dead
    np.testing.assert_allclose(model(x), 0.1, atol=1e-6)  # uniform predictions


@pytest.mark.notebook
def test_debug_notebook_runs_and_finds_the_bugs():
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    from notebook_kernel import client  # its shell channel cannot miss a reply

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client(nb, timeout=300, resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    # printed lines, and the Markdown the notebook shows (it wraps between words on a
    # narrow page; a long printed line wraps mid-word)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream") + \
        "\n".join(o.get("data", {}).get("text/markdown", "") for o in outputs)
    assert "| hidden_2 | 0.000 | 1.00 | 64/64 |" in text  # the table, before the fix
    assert all(len(line) <= 60 for o in outputs if o.output_type == "stream"
               for line in o.get("text", "").splitlines())
    assert "dead units after the fix: 0 of 64" in text
    sat = re.search(r"saturated outputs: ([\d.]+) with N\(0, 1\) weights, ([\d.]+) with", text)
    assert sat and float(sat.group(1)) > 0.5 and float(sat.group(2)) < 0.05
    assert "predictions now differ between inputs: True" in text
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    # issue 15.13 / 10: the first editor is never edited, so after Run All it still shows
    # the broken model; the last one shows the fixed model with the saved one pinned
    assert len(views) == 2
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = next(c for c in code if any(
        "application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in c.outputs))
    assert first.source.rstrip().endswith("broken")
    sources = "".join(c.source for c in code)
    assert "broken.set(" not in sources and "broken.reinitialize(" not in sources
    assert sources.count(".pin()") == 2
    # outputs have words: no bare dict or tuple printed
    assert "hidden_1: output std" in text and "as saved" in text
    assert not re.search(r"^[{(]", text, re.M)
