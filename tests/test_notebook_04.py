"""Notebook 04 (debug a real architecture with the ModelEditor) runs top to bottom in a real
kernel, finds the planted bugs from the overview and fixes them in place."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from notebook_kernel import NOTEBOOKS, ROOT, STATE, VIEW, run  # noqa: E402

pytestmark = pytest.mark.notebook


def test_planted_model_file_is_small_and_regenerates_identically(tmp_path):
    saved = NOTEBOOKS / "data" / "planted_resnet.keras"
    assert saved.stat().st_size < 1_000_000
    code = ("import sys; sys.path.insert(0, 'tests/data/models'); import gen_planted_resnet as g;"
            "import engine, numpy as np; m = g.build(); s = engine.load(sys.argv[1]);"
            "x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype('float32');"
            "print(np.array_equal(m(x), s(x)))")
    out = subprocess.run([sys.executable, "-c", code, str(saved)], cwd=ROOT, text=True,
                         capture_output=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "True"


def test_notebook_04_finds_and_fixes_the_planted_bugs():
    nb = nbformat.read(NOTEBOOKS / "04_debug_a_real_architecture.ipynb", as_version=4)
    probe = nbformat.v4.new_code_cell(
        "me.select('s1b1_conv1')\n"
        "me.editor.controls['activation'].value = 'tanh'\n"
        "print('probe', me.model.get_layer('s1b1_conv1').get_config()['activation'], "
        "me.error, len(me.undo_stack if hasattr(me, 'undo_stack') else []))")
    nb.cells.append(probe)
    run(nb, timeout=300)
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outs if o.output_type == "error"]
    assert not errors, errors[0].get("evalue")
    views = [o for o in outs if VIEW in o.get("data", {})]
    # the broken model first (an editor never edited), the fixed one at the end
    assert len(views) == 2, "two ModelEditors, each displayed once"
    state = nb.metadata.widgets[STATE]["state"]
    assert all(v["data"][VIEW]["model_id"] in state for v in views)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source.rstrip().endswith("broken") and code[-2].source.strip() == "me"
    sources = "".join(c.source for c in code)
    assert "broken.set(" not in sources and "broken.reinitialize(" not in sources
    assert any(s["model_name"] == "ImageModel" for s in state.values())
    # printed lines, and the Markdown the notebook shows (it wraps between words on a
    # narrow page; a long printed line wraps mid-word)
    text = "".join(o.get("text", "") for o in outs) + \
        "\n".join(o.get("data", {}).get("text/markdown", "") for o in outs)
    assert "| s3b1_conv2_bn |" in text and "| layer | std | predicted |" in text
    assert all(len(line) <= 60 for o in outs if o.output_type == "stream"
               for line in o.get("text", "").splitlines())
    assert "causes: ['s2b2_conv1', 's3b1_conv2_bn']" in text
    assert "gamma and beta are all zero: True" in text
    assert "re-initialized: ['s2b2_conv1']" in text
    assert "applied: True re-initialized: ['s3b1_conv2_bn'] error: None" in text
    assert "flags after the fixes: none" in text
    assert "epsilon = -1 applied: False; the editor says:" in text
    assert "must be > 0, got -1.0" in text
    assert "after redo, same as before: True" in text
    assert "same outputs after reload: True" in text
    assert "probe tanh None" in text
