"""Running a notebook top to bottom in a real kernel (nbclient), as a user runs it."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"


def run(nb, timeout=180):
    """Execute ``nb`` in place (widget state stored), with the project on the path."""
    import nbclient

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
