"""Write saved_by_layerlab.keras with engine.save and check it with real Keras 3.

    python tests/data/models/make_saved_by_layerlab.py

saved_by_layerlab.json holds the input, layerlab's output and the output of
``keras.models.load_model`` on the file written by layerlab.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent.parent))

import numpy as np  # noqa: E402

import engine  # noqa: E402

src = HERE / "k3_model_skip.keras"
model = engine.load(src)
x = np.load(src.with_suffix(".npz"))["x0"]
out = HERE / "saved_by_layerlab.keras"
engine.save(model, out)
y = model(x)

import keras  # noqa: E402

km = keras.models.load_model(out)
yk = np.asarray(km.predict(x, verbose=0))
err = float(np.abs(yk - y).max())
(HERE / "saved_by_layerlab.json").write_text(json.dumps({
    "source": src.name, "keras_version": keras.__version__, "x": x.tolist(),
    "y_layerlab": y.tolist(), "y_keras": yk.tolist(), "max_abs_diff": err}, indent=1))
print("max |keras - layerlab| =", err)
