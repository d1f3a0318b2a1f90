"""Load time of big models, and peak memory of a deflated ``.keras`` (issues 12 and 14).

Usage (from the repository root)::

    OPENBLAS_NUM_THREADS=1 python tests/bench/bench_load.py [--layers 3000] [--rounds 3]
        [--base DIR] [--keras PYTHON] [--memory] [--memory-mb 256]

A Sequential and a functional chain of ``--layers`` small Dense layers are written by
layerlab's own ``engine.save`` as ``.keras`` and legacy ``.h5``; each is loaded with
``engine.load(path, lazy=False)`` in a fresh process per round, and ``h5py.File(...)
.visititems`` over the same HDF5 bytes (the ``.h5`` file, or the ``.keras``'s weights
member) is the reference timed in the same round. ``--base DIR`` times another checkout of
the project (``git archive <commit> | tar -x -C DIR``) in the same rounds; ``--keras
PYTHON`` (default: /work/oracle-venv/bin/python when it exists) times real Keras's
``load_model`` on the same files, in the first ``--keras-rounds`` rounds only (Keras takes
minutes for 3,000 layers). Rounds alternate between the contenders; the min and median of
the per-round ratios are printed, with the load average. ``--only`` picks files by name
(``sequential.keras``, ``functional.h5``...).

``--memory``: a model with ``--memory-mb`` of random float32 weights saved as a ``.keras``
whose weights member is deflated; the peak resident memory (VmHWM) of ``engine.load`` lazy
and eager, for this checkout and ``--base``, each in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ORACLE = "/work/oracle-venv/bin/python"

_WORKER = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
kind, path, h5path = sys.argv[2], sys.argv[3], sys.argv[4]
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
if kind == "keras":
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras
    start = time.perf_counter()
    keras.models.load_model(path, compile=False)
    print(json.dumps({"seconds": time.perf_counter() - start}))
    raise SystemExit
import h5py
import engine
start = time.perf_counter()
model = engine.load(path, lazy=False)
load_s = time.perf_counter() - start
start = time.perf_counter()
with h5py.File(h5path, "r") as f:
    f.visititems(lambda name, obj: None)
visit_s = time.perf_counter() - start
print(json.dumps({"seconds": load_s, "visititems": visit_s, "layers": len(model.layers)}))
"""

_MEMORY = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import engine
path, lazy = sys.argv[2], sys.argv[3] == "lazy"
def hwm():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
before = hwm()
model = engine.load(path, lazy=lazy)
model.close()
print(json.dumps({"peak_mb": hwm(), "before_mb": before}))
"""


def _layers(n: int) -> list[dict]:
    return [{"class_name": "Dense", "config": {"units": 4, "name": f"d{i}"}} for i in range(n)]


def build_files(folder: str, n: int) -> dict[str, tuple[str, str]]:
    """name -> (model file, HDF5 file with the same bytes h5py visits)."""
    import engine

    sequential = engine.deserialize({"class_name": "Sequential", "config": {
        "name": "seq", "layers": [{"class_name": "InputLayer", "config": {
            "batch_shape": [None, 4], "name": "x"}}] + _layers(n)}})
    layers = [{"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
               "config": {"batch_input_shape": [None, 4], "name": "x"}}]
    prev = "x"
    for spec in _layers(n):
        name = spec["config"]["name"]
        layers.append({**spec, "name": name, "inbound_nodes": [[[prev, 0, 0, {}]]]})
        prev = name
    functional = engine.deserialize({"class_name": "Functional", "config": {
        "name": "chain", "layers": layers, "input_layers": [["x", 0, 0]],
        "output_layers": [[prev, 0, 0]]}})
    out = {}
    for label, model in (("sequential", sequential), ("functional", functional)):
        for ext in (".keras", ".h5"):
            path = os.path.join(folder, f"{label}{ext}")
            engine.save(model, path)
            h5path = path
            if ext == ".keras":
                h5path = os.path.join(folder, f"{label}.weights.h5")
                with zipfile.ZipFile(path) as zf, open(h5path, "wb") as fh:
                    fh.write(zf.read("model.weights.h5"))
            out[f"{label}{ext}"] = (path, h5path)
    return out


def _run(code: str, *args: str, python: str = sys.executable) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    proc = subprocess.run([python, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=900)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{args}: {proc.stderr[-1500:]}")
    return json.loads(lines[-1])


def _ratios(values: list[float]) -> str:
    return f"min {min(values):.2f}, median {statistics.median(values):.2f}"


def bench_time(args: argparse.Namespace) -> None:
    keras_python = args.keras if args.keras is not None else \
        (ORACLE if os.path.exists(ORACLE) else "")
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, ROOT)
        files = build_files(tmp, args.layers)
        print(f"{args.layers} Dense layers; load average {os.getloadavg()}")
        for name, (path, h5path) in files.items():
            if args.only and name not in args.only.split(","):
                continue
            rows: dict[str, list[float]] = {"this": [], "visit": [], "base": [], "keras": []}
            for round_ in range(args.rounds):
                out = _run(_WORKER, ROOT, "engine", path, h5path)
                rows["this"].append(out["seconds"])
                rows["visit"].append(out["visititems"])
                if args.base:
                    rows["base"].append(_run(_WORKER, args.base, "engine", path,
                                             h5path)["seconds"])
                if keras_python and round_ < args.keras_rounds:
                    try:
                        rows["keras"].append(_run(_WORKER, ROOT, "keras", path, h5path,
                                                  python=keras_python)["seconds"])
                    except RuntimeError as e:  # Keras 3.15 recurses once per layer
                        failed = str(e).strip().splitlines()[-1][:120]
                        print(f"{name}: Keras could not load it ({failed})", flush=True)
                        keras_python = ""
            this = rows["this"]
            line = (f"{name:18s} engine.load {min(this):.2f} s (median "
                    f"{statistics.median(this):.2f}); / visititems: "
                    f"{_ratios([a / b for a, b in zip(this, rows['visit'])])}")
            if rows["base"]:
                line += f"; / base: {_ratios([a / b for a, b in zip(this, rows['base'])])}" \
                        f" (base {min(rows['base']):.2f} s)"
            if rows["keras"]:
                keras = rows["keras"]
                line += f"; / Keras: {_ratios([a / b for a, b in zip(this, keras)])}" \
                        f" (Keras {min(keras):.2f} s, {len(keras)} round(s))"
            print(line, flush=True)
        print(f"load average after: {os.getloadavg()}")


def bench_memory(args: argparse.Namespace) -> None:
    import numpy as np

    sys.path.insert(0, ROOT)
    import engine
    from engine.files.keras3_weights import weights_h5_bytes
    from engine.formats import KERAS3

    side = int((args.memory_mb * 2**20 / 4 / 4) ** 0.5)  # four square kernels
    model = engine.deserialize({"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, side], "name": "x"}}] +
        [{"class_name": "Dense", "config": {"units": side, "name": f"d{i}"}}
         for i in range(4)]}})
    rng = np.random.default_rng(0)
    model.set_weights([rng.standard_normal(w.shape).astype("f4") for w in model.get_weights()])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.keras")
        weights = weights_h5_bytes(model)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("config.json", json.dumps(model.keras_serialize(KERAS3)))
            zf.writestr("model.weights.h5", weights)
        del weights, model
        print(f"deflated .keras: {os.path.getsize(path) / 2**20:.0f} MB on disk, weights "
              f"member {args.memory_mb} MB; load average {os.getloadavg()}")
        for lazy in ("lazy", "eager"):
            peaks: dict[str, list[float]] = {"this": [], "base": []}
            for _ in range(args.rounds):
                peaks["this"].append(_run(_MEMORY, ROOT, path, lazy)["peak_mb"])
                if args.base:
                    peaks["base"].append(_run(_MEMORY, args.base, path, lazy)["peak_mb"])
            line = f"{lazy:5s}: peak {min(peaks['this']):.0f} MB"
            if peaks["base"]:
                line += (f", base {min(peaks['base']):.0f} MB, ratio "
                         f"{min(peaks['this']) / min(peaks['base']):.2f}")
            print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", default="", help="another checkout of the project")
    parser.add_argument("--keras", default=None, help="a Python with Keras 3 ('' to skip)")
    parser.add_argument("--keras-rounds", type=int, default=1)
    parser.add_argument("--only", default="", help="file names, comma-separated")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--memory-mb", type=int, default=256)
    args = parser.parse_args()
    if args.memory:
        bench_memory(args)
    else:
        bench_time(args)


if __name__ == "__main__":
    main()
