"""Benchmarks of models and files (not collected by pytest).

    OPENBLAS_NUM_THREADS=1 python tests/bench/bench_models.py
    /work/oracle-venv/bin/python tests/bench/bench_models.py   # also measures Keras

1. A 1,000-layer Sequential config: deserialize + build (target <= 200 ms).
2. Functional graphs of 100 / 1,000 / 10,000 nodes: deserialize + build, per node (linear).
3. A generated ~100 MB .keras file (engine.save, temp dir): open it and show one layer's
   config (target <= 1 s), counting the HDF5 tensors read.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

import engine  # noqa: E402

try:  # real Keras, when run with the oracle venv
    import keras  # noqa: F401

    HAVE_KERAS = True
except Exception:
    HAVE_KERAS = False


def median_time(fn, repeat: int = 5, best: bool = False) -> float:
    """Median (or best, less sensitive to other processes on a shared machine) wall time."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.min(times) if best else np.median(times))


def dense_entry(name: str, units: int, in_dim: int) -> dict:
    return {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
            "config": {"name": name, "units": units, "activation": "relu"},
            "build_config": {"input_shape": [None, in_dim]}}


def sequential_config(n: int, width: int = 8) -> dict:
    layers = [{"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
               "config": {"batch_shape": [None, width], "dtype": "float32", "name": "x"}}]
    layers += [dense_entry(f"d{i}", width, width) for i in range(n)]
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "deep", "layers": layers, "build_input_shape": [None, width]},
            "build_config": {"input_shape": [None, width]}}


def tensor(name: str, node: int = 0, width: int = 4) -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [None, width], "dtype": "float32",
                       "keras_history": [name, node, 0]}}


def functional_config(n: int, width: int = 4) -> dict:
    """n nodes: a chain of Dense layers with an Add merge every 10 layers (branches)."""
    layers = [{"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
               "config": {"batch_shape": [None, width], "dtype": "float32", "name": "x"},
               "name": "x", "inbound_nodes": []}]
    prev, skip = "x", "x"
    for i in range(1, n):
        if i % 10 == 0:
            entry = {"module": "keras.layers", "class_name": "Add", "registered_name": None,
                     "config": {"name": f"add{i}"}, "name": f"add{i}",
                     "inbound_nodes": [{"args": [[tensor(prev), tensor(skip)]],
                                        "kwargs": {}}]}
            skip = f"add{i}"
        else:
            entry = dense_entry(f"d{i}", width, width)
            entry["name"] = f"d{i}"
            entry["inbound_nodes"] = [{"args": [tensor(prev)], "kwargs": {}}]
        layers.append(entry)
        prev = entry["name"]
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "registered_name": "Functional",
            "config": {"name": "wide", "trainable": True, "layers": layers,
                       "input_layers": ["x", 0, 0], "output_layers": [prev, 0, 0]},
            "build_config": {"input_shape": None}}


def bench_sequential() -> None:
    cfg = sequential_config(1000)
    runs = [median_time(lambda: engine.deserialize(cfg), 1) for _ in range(7)]
    t, tb = float(np.median(runs)), float(np.min(runs))
    print(f"1,000-layer Sequential deserialize+build: median {t * 1e3:.1f} ms, best "
          f"{tb * 1e3:.1f} ms (target <= 200 ms)")
    if HAVE_KERAS:
        import keras

        # Keras re-traces the whole stack on every add: 1,000 layers take minutes, so
        # it is measured on 100 layers and compared per layer
        small = sequential_config(100)
        tk = median_time(lambda: keras.Sequential.from_config(small["config"]), 1)
        print(f"  Keras 3 Sequential.from_config, 100 layers: {tk * 1e3:.0f} ms = "
              f"{tk / 100 * 1e3:.2f} ms/layer (layerlab {t / 1000 * 1e3:.3f} ms/layer at "
              f"1,000 layers; ratio keras/layerlab per layer {tk / 100 / (t / 1000):.1f}x)")


def bench_functional() -> None:
    per = []
    for n in (100, 1000, 10000):
        cfg = functional_config(n)
        t = median_time(lambda c=cfg: engine.deserialize(c), 5 if n < 10000 else 3, best=True)
        per.append(t / n)
        x = np.ones((2, 4), "float32")
        model = engine.deserialize(cfg)
        tc = median_time(lambda m=model, x=x: m(x), 5, best=True)
        print(f"functional {n:>6,} nodes (best): deserialize+build {t * 1e3:8.1f} ms = "
              f"{t / n * 1e6:6.1f} us/node; forward (2,4) {tc * 1e3:7.1f} ms = "
              f"{tc / n * 1e6:5.1f} us/node")
    print(f"  per-node growth 100 -> 10,000: x{per[-1] / per[0]:.2f} (1.0 = linear)")
    if HAVE_KERAS:
        import keras

        # a 1,000-deep chain hits RecursionError in Keras 3.15 (recursive graph walk)
        cfg = functional_config(100)
        tk = median_time(lambda: keras.Model.from_config(cfg["config"]), 1)
        print(f"  Keras 3 Functional.from_config, 100 nodes: {tk * 1e3:.0f} ms = "
              f"{tk / 100 * 1e6:.0f} us/node (ratio keras/layerlab {tk / 100 / per[0]:.1f}x)")
        try:
            keras.Model.from_config(functional_config(1000)["config"])
        except RecursionError:
            print("  Keras 3 Functional.from_config, 1,000 nodes: RecursionError")


def bench_big_file() -> None:
    import h5py

    n_layers, width = 24, 1024  # 24 x 4 MiB kernels: ~100 MB
    layers = [{"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
               "config": {"batch_shape": [None, width], "dtype": "float32", "name": "x"}}]
    layers += [dense_entry(f"dense_{i}", width, width) for i in range(n_layers)]
    cfg = {"module": "keras", "class_name": "Sequential", "registered_name": None,
           "config": {"name": "big", "layers": layers, "build_input_shape": [None, width]}}
    model = engine.deserialize(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.keras"
        engine.save(model, path)
        size = path.stat().st_size
        reads: list[str] = []
        original = h5py.Dataset.__getitem__

        def counting(self, key):
            reads.append(self.name)
            return original(self, key)

        h5py.Dataset.__getitem__ = counting
        try:
            t = time.perf_counter()
            loaded = engine.load(path)
            layer = loaded.get_layer("dense_12")
            cfg_shown = layer.get_config()
            t_open = time.perf_counter() - t
            n_open = len(reads)
            t = time.perf_counter()
            w = layer.get_weights()
            t_layer = time.perf_counter() - t
            n_layer = len(reads) - n_open
        finally:
            h5py.Dataset.__getitem__ = original
        assert cfg_shown["units"] == width and np.array_equal(w[0], model.layers[12]
                                                              .get_weights()[0])
        print(f".keras file of {size / 1e6:.0f} MB: open + one layer's config "
              f"{t_open * 1e3:.0f} ms (target <= 1 s), tensors read: {n_open}; that layer's "
              f"weights {t_layer * 1e3:.1f} ms, tensors read: {n_layer} (of "
              f"{2 * n_layers})")
        if HAVE_KERAS:
            import keras

            t = time.perf_counter()
            keras.models.load_model(path)
            tk = time.perf_counter() - t
            print(f"  Keras 3 load_model of the same file (reads every tensor): "
                  f"{tk * 1e3:.0f} ms (ratio keras/layerlab {tk / t_open:.1f}x)")


if __name__ == "__main__":
    bench_sequential()
    bench_functional()
    bench_big_file()
