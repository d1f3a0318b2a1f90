"""Convolution speed and memory; the issue's case is Conv2D(64, 3x3, 'same') on
(8, 64, 64, 32) float32, at most 1.5x real Keras 3 (TensorFlow backend).

Run: ``$ORACLE_PYTHON tests/bench/bench_conv.py`` (Keras is measured in the
same run when ``import keras`` works; otherwise only the engine numbers are printed). The
engine and Keras calls alternate, so both see the same machine load; the script prints the
medians in ms, the ratio engine / Keras, and the peak traced memory (tracemalloc) of one
engine call as a multiple of its input + output bytes. The engine's own worker threads are
also timed off (``engine.layers.conv.ops.THREADS = 1``) for the main case.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import engine  # noqa: E402
from engine.layers.conv import ops as conv  # noqa: E402

MAIN = ("Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same"}, (8, 64, 64, 32))
OTHERS = [
    ("Conv2D", {"filters": 64, "kernel_size": 3, "strides": 2, "padding": "same"},
     (8, 64, 64, 32)),
    ("Conv2D", {"filters": 64, "kernel_size": 3, "groups": 4, "padding": "same"},
     (8, 64, 64, 32)),
    ("Conv1D", {"filters": 64, "kernel_size": 5, "padding": "causal"}, (8, 1024, 32)),
    ("DepthwiseConv2D", {"kernel_size": 3, "padding": "same"}, (8, 64, 64, 32)),
    ("SeparableConv2D", {"filters": 64, "kernel_size": 3, "padding": "same"},
     (8, 64, 64, 32)),
    ("Conv2DTranspose", {"filters": 32, "kernel_size": 3, "strides": 2, "padding": "same"},
     (8, 32, 32, 32)),
    ("MaxPooling2D", {"pool_size": 2}, (8, 64, 64, 32)),
    ("AveragePooling2D", {"pool_size": 3, "strides": 1, "padding": "same"}, (8, 64, 64, 32)),
]


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def compare(ours, theirs, repeat: int) -> tuple[float, float]:
    """Median ms of each, measured alternately."""
    ours()
    if theirs is not None:
        theirs()
    a, b = [], []
    for _ in range(repeat):
        a.append(timed(ours))
        if theirs is not None:
            b.append(timed(theirs))
    return statistics.median(a) * 1e3, statistics.median(b) * 1e3 if b else float("nan")


def peak_multiple(layer, x) -> float:
    io = x.nbytes + layer(x).nbytes
    tracemalloc.start()
    tracemalloc.reset_peak()
    layer(x)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / io


def run_case(keras, name, cfg, shape, rng, repeat=21, label=None) -> None:
    x = rng.standard_normal(shape).astype("float32")
    layer = engine.deserialize({"class_name": name, "config": cfg})
    layer(x)
    kl = None
    if keras is not None:
        kl = getattr(keras.layers, name)(**cfg)
        kl(x)
        if layer.weights:
            layer.set_weights([np.asarray(w) for w in kl.get_weights()])
        np.testing.assert_allclose(layer(x), np.asarray(kl(x)), atol=1e-3, rtol=1e-3)
    mult = peak_multiple(layer, x)
    ours, theirs = compare(lambda: layer(x),
                           None if kl is None else (lambda: np.asarray(kl(x))), repeat)
    desc = label or f"{name}{tuple(sorted(cfg.items()))} {shape}"
    print(f"{desc[:70]:70s} {ours:9.2f} {theirs:9.2f} {ours / theirs:6.2f} {mult:8.2f}")


def main() -> None:
    try:
        import keras
    except ImportError:  # engine numbers only
        keras = None
    rng = np.random.default_rng(0)
    print(f"numpy {np.__version__}, keras {getattr(keras, '__version__', 'not installed')}, "
          f"engine threads {conv.THREADS}, cpus {os.cpu_count()}")
    print(f"{'case':70s} {'engine ms':>9s} {'keras ms':>9s} {'ratio':>6s} {'peak/io':>8s}")
    name, cfg, shape = MAIN
    run_case(keras, name, cfg, shape, rng, repeat=41,
             label="MAIN Conv2D(64, 3x3, same) on (8, 64, 64, 32)")
    threads, conv.THREADS = conv.THREADS, 1
    run_case(keras, name, cfg, shape, rng, repeat=21,
             label="MAIN, engine worker threads off (conv.THREADS = 1)")
    conv.THREADS = threads
    for name, cfg, shape in OTHERS:
        run_case(keras, name, cfg, shape, rng)


if __name__ == "__main__":
    main()
