"""Benchmark of the engine foundation (not collected by pytest).

    python tests/bench/bench_engine.py            # the engine alone
    $ORACLE_PYTHON tests/bench/bench_engine.py   # also real Keras, and ratios

Measures
  (a) what ``import engine`` adds to ``import numpy``: wall time of fresh interpreters
      (``python -c "import numpy"`` vs ``python -c "import numpy, engine"``), medians, and
      the in-process increment (time of ``import engine`` right after ``import numpy``);
      target <= 30 ms (issue 9);
  (b) deserialize + build of the seed example (the tf.keras 2.9 docs Dense(32, relu)) on
      input (None, 64), per call in microseconds (median of repeats); target <= 50 us;
      plus deserialize alone and the Keras 3 form. When ``keras`` imports, the same with
      ``keras.layers.deserialize`` + ``build`` in the same run, and the ratios.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SEED = {
    "class_name": "Dense",
    "config": {
        "name": "dense", "trainable": True, "dtype": "float32", "units": 32,
        "activation": "relu", "use_bias": True,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": None, "bias_constraint": None,
    },
}
#: the same dict with a module key, as Keras 3 wants it (it refuses the 2.9 dict without one)
SEED_K3 = {"module": "keras.layers", **SEED}

FRESH_RUNS = 9
REPEATS = 15
CALLS = 500


def _env(bytecode: bool) -> dict[str, str]:
    """Fresh interpreters with a bytecode cache (as after ``pip install``, which compiles
    the package) or without one (PYTHONDONTWRITEBYTECODE=1 and no cache: every module is
    compiled from source on every start)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "layerlab-bench-pyc")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "layerlab-no-pyc")
    return env


def _fresh(code: str, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=str(ROOT))
    return time.perf_counter() - t0


PROBE = ("import time; t0 = time.perf_counter(); import numpy; t1 = time.perf_counter(); "
         "import engine; t2 = time.perf_counter(); print(t2 - t1)")


def _increment(env: dict[str, str]) -> float:
    out = subprocess.run([sys.executable, "-c", PROBE], check=True, env=env, cwd=str(ROOT),
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def bench_import() -> dict[str, float]:
    numpy_only, with_engine, increments = [], [], []
    env = _env(bytecode=True)
    _fresh("import numpy, engine", env)  # writes the bytecode cache once
    cold = statistics.median(_increment(_env(bytecode=False)) for _ in range(3))
    for _ in range(FRESH_RUNS):  # interleaved, so load changes hit both alike
        numpy_only.append(_fresh("import numpy", env))
        with_engine.append(_fresh("import numpy, engine", env))
        increments.append(_increment(env))
    return {"numpy_ms": statistics.median(numpy_only) * 1e3,
            "numpy_engine_ms": statistics.median(with_engine) * 1e3,
            "wall_diff_ms": (statistics.median(with_engine) - statistics.median(numpy_only)) * 1e3,
            "in_process_ms": statistics.median(increments) * 1e3,
            "cold_in_process_ms": cold * 1e3}


def per_call_us(fns: dict, calls: int = CALLS, repeats: int = REPEATS
                ) -> dict[str, tuple[float, float]]:
    """name -> (wall median, CPU median) over ``repeats`` of the mean time of ``calls``
    calls, in us. The functions take turns (so a burst of load on a shared machine hits all
    of them alike); the CPU time (``time.process_time``) is the steadier number there."""
    for fn in fns.values():  # warm caches
        for _ in range(max(calls // 10, 3)):
            fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(calls):
                fn()
            wall[name].append((time.perf_counter() - t0) / calls * 1e6)
            cpu[name].append((time.process_time() - c0) / calls * 1e6)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in fns}


def bench_engine() -> dict[str, tuple[float, float]]:
    import engine

    def seed_build():
        engine.deserialize(SEED).build((None, 64))

    def seed_only():
        engine.deserialize(SEED)

    def k3_build():
        engine.deserialize(SEED_K3).build((None, 64))

    layer = engine.deserialize(SEED)
    layer.build((None, 64))
    assert layer.kernel.shape == (64, 32)
    return per_call_us({"deserialize+build (seed, 2.9 dict)": seed_build,
                        "deserialize only (seed, 2.9 dict)": seed_only,
                        "deserialize+build (with module key)": k3_build})


def bench_keras() -> dict[str, tuple[float, float]] | None:
    try:
        import keras
    except Exception:
        return None

    def build():
        keras.layers.deserialize(SEED_K3).build((None, 64))

    def only():
        keras.layers.deserialize(SEED_K3)

    out: dict = per_call_us({"deserialize+build (seed, 2.9 dict)": build,
                             "deserialize only (seed, 2.9 dict)": only}, calls=50, repeats=7)
    out["_version"] = keras.__version__  # type: ignore[assignment]
    out["_backend"] = keras.backend.backend()  # type: ignore[assignment]
    return out


def main() -> int:
    print(f"python {sys.version.split()[0]} ({sys.executable}), OPENBLAS_NUM_THREADS=1")
    imp = bench_import()
    print(f"\n(a) import, medians of {FRESH_RUNS} fresh interpreters (bytecode cached)")
    print(f"    python -c 'import numpy'          {imp['numpy_ms']:8.1f} ms")
    print(f"    python -c 'import numpy, engine'  {imp['numpy_engine_ms']:8.1f} ms")
    print(f"    difference (wall)                 {imp['wall_diff_ms']:8.1f} ms   (target <= 30)")
    print(f"    import engine after numpy (in-process) {imp['in_process_ms']:5.1f} ms")
    print(f"    same without any bytecode cache (compiling every module) "
          f"{imp['cold_in_process_ms']:.1f} ms")

    calib = per_call_us({"calib": lambda: sum(range(1000))}, calls=2000)["calib"][1]
    eng = bench_engine()
    print(f"\n(b) per call, wall median (CPU median) of {REPEATS} repeats x {CALLS} calls, "
          f"input (None, 64)")
    for k, (med, lo) in eng.items():
        print(f"    engine {k:38s} {med:8.1f} us ({lo:.1f})")
    print(f"    (machine speed now: sum(range(1000)) takes {calib:.1f} us of CPU; the quietest "
          f"runs on this machine measured ~11 us; the timings above scale with it)")
    wall, cpu = eng["deserialize+build (seed, 2.9 dict)"]
    verdict = {(True, True): "met", (False, True): "met in CPU time only (a loaded machine?)",
               (False, False): "MISSED"}.get((wall <= 50, cpu <= 50), "met")
    print(f"    target deserialize+build <= 50 us: {verdict}")
    print(f"    the same scaled to the quietest machine speed (x {11.0 / calib:.2f}): "
          f"{wall * 11.0 / calib:.1f} us")

    ker = bench_keras()
    if ker is None:
        print("\nkeras is not importable here: no comparison "
              "(run with $ORACLE_PYTHON)")
        return 0
    print(f"\n    keras {ker.pop('_version')} ({ker.pop('_backend')} backend), same calls:")
    for k in ("deserialize+build (seed, 2.9 dict)", "deserialize only (seed, 2.9 dict)"):
        med, lo = ker[k]
        ratio = med / eng[k][0]
        print(f"    keras  {k:38s} {med:8.1f} us ({lo:.1f})   keras/engine = {ratio:5.1f}x")
    # The target, 50 us where Keras 3 took 1.8-3 ms (FORMAT.md section 10), as a ratio
    # measured in this run: keras/engine >= 1.8 ms / 50 us = 36x (the strict end).
    ratio = ker["deserialize+build (seed, 2.9 dict)"][0] / wall
    print(f"    target as a same-run ratio, keras/engine >= 36x: "
          f"{'met' if ratio >= 36 else 'MISSED'} ({ratio:.1f}x)")
    # Issue 12.10: > 40x on Keras 3's own form of the config (the dict with a module key,
    # the one Keras reads here). Wall medians swing with the load of a shared machine (a
    # loaded run measured 27x where a quiet one gave 52x); the CPU medians are the steadier.
    k3_wall, k3_cpu = eng["deserialize+build (with module key)"]
    kw, kc = ker["deserialize+build (seed, 2.9 dict)"]
    print(f"    Keras 3's form on both sides, keras/engine: wall {kw / k3_wall:.1f}x, "
          f"CPU {kc / k3_cpu:.1f}x; target > 40x: "
          f"{'met' if kc / k3_cpu > 40 else 'MISSED'} (CPU)"
          f"{'' if kw / k3_wall > 40 else ', wall MISSED (a loaded machine?)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
