"""Peak memory of opening ResNet50 (224×224, batch 8) in the ModelEditor (not collected by
pytest). Target (issue 10): at most the weights plus 1.5 GB.

    OPENBLAS_NUM_THREADS=1 python tests/bench/bench_model_editor_memory.py

Peak resident memory (ru_maxrss) is measured in a child process per step, against a child
that only imports the same modules (the baseline).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRELUDE = ("import os, sys, resource; sys.path[:0] = [{root!r}, {models!r}];"
           "import numpy as np, engine; from arch_configs import resnet50_config;"
           "from widget.model_editor import ModelEditor; import engine.models\n")
STEPS = {
    "baseline (imports)": "",
    "model built (weights)": "m = engine.deserialize(resnet50_config());"
                             "print(m.count_params() * 4, file=sys.stderr)",
    "ModelEditor opened": "me = ModelEditor(resnet50_config(), sample=np.random.default_rng(0)"
                          ".standard_normal((8, 224, 224, 3)).astype('float32')).run()",
}


def peak(code: str) -> tuple[float, str]:
    prelude = PRELUDE.format(root=str(ROOT), models=str(ROOT / "tests" / "data" / "models"))
    script = prelude + code + "\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"},
                         check=True)
    return int(out.stdout.split()[-1]) / 1024, out.stderr.strip()


def main() -> None:
    base, _ = peak(STEPS["baseline (imports)"])
    built, err = peak(STEPS["model built (weights)"])
    weights = int(err.split()[-1]) / 2**20
    opened, _ = peak(STEPS["ModelEditor opened"])
    print(f"ResNet50 224x224 batch 8: weights {weights:.0f} MB")
    print(f"peak RSS: imports {base:.0f} MB, model built {built:.0f} MB, "
          f"ModelEditor opened {opened:.0f} MB")
    extra = opened - base - weights
    print(f"opened - imports - weights = {extra:.0f} MB (target <= 1536 MB): "
          f"{'ok' if extra <= 1536 else 'OVER'}")


if __name__ == "__main__":
    main()
