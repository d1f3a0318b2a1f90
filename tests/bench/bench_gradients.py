"""Benchmark of engine.gradients (not collected by pytest): the backward pass against the
forward pass of the same model, in the same run.

    OPENBLAS_NUM_THREADS=1 python tests/bench/bench_gradients.py

Target (issue 11): a backward pass at most 3x its forward pass for
  (a) a ResNet50-style model: a 7x7/2 stem with BatchNormalization and max pooling, then
      bottleneck blocks (1x1, 3x3, 1x1 convolutions with BatchNormalization, projection
      shortcuts, Add, ReLU), global average pooling and a Dense head; on (8, 64, 64, 3);
  (b) an LSTM model: LSTM(128, return_sequences) -> LSTM(128) -> Dense(10) on (32, 50, 64).
Printed (median ms of REPEATS, the calls interleaved): F, the model's plain forward pass
(``model(x)``); R, the forward pass that keeps what the backward pass needs; B, the backward
pass alone; the ratio B / F (the target) and (R + B) / F (a whole ``engine.gradients``
call); and the peak traced memory of one gradients call against one forward pass.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import engine  # noqa: E402
from engine.gradients import Call  # noqa: E402
from engine.gradients.lookup import vjp_of  # noqa: E402

REPEATS = 7
TARGET = 3.0


class _Graph:
    """A Keras 2 functional config, written layer by layer."""

    def __init__(self, shape):
        self.layers = [{"class_name": "InputLayer", "name": "input",
                        "config": {"batch_input_shape": [None, *shape], "name": "input"},
                        "inbound_nodes": []}]
        self.n = 0

    def add(self, class_name, config, *inputs):
        self.n += 1
        name = f"{class_name.lower()}_{self.n}"
        self.layers.append({"class_name": class_name, "name": name,
                            "config": {**config, "name": name},
                            "inbound_nodes": [[[i, 0, 0, {}] for i in inputs]]})
        return name

    def model(self, out):
        return engine.deserialize({"class_name": "Functional", "config": {
            "name": "bench", "layers": self.layers, "input_layers": [["input", 0, 0]],
            "output_layers": [[out, 0, 0]]}})


def resnet_style(blocks=((16, 64, 2), (32, 128, 2)), shape=(64, 64, 3)):
    g = _Graph(shape)
    h = g.add("Conv2D", {"filters": 16, "kernel_size": 7, "strides": 2, "padding": "same"},
              "input")
    h = g.add("BatchNormalization", {}, h)
    h = g.add("ReLU", {}, h)
    h = g.add("MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}, h)
    for stage, (mid, out, reps) in enumerate(blocks):
        for r in range(reps):
            stride = 2 if stage and not r else 1
            x = g.add("Conv2D", {"filters": mid, "kernel_size": 1, "strides": stride}, h)
            x = g.add("BatchNormalization", {}, x)
            x = g.add("ReLU", {}, x)
            x = g.add("Conv2D", {"filters": mid, "kernel_size": 3, "padding": "same"}, x)
            x = g.add("BatchNormalization", {}, x)
            x = g.add("ReLU", {}, x)
            x = g.add("Conv2D", {"filters": out, "kernel_size": 1}, x)
            x = g.add("BatchNormalization", {}, x)
            short = h
            if r == 0:
                short = g.add("Conv2D", {"filters": out, "kernel_size": 1, "strides": stride},
                              h)
                short = g.add("BatchNormalization", {}, short)
            h = g.add("Add", {}, x, short)
            h = g.add("ReLU", {}, h)
    h = g.add("GlobalAveragePooling2D", {}, h)
    return g.model(g.add("Dense", {"units": 10}, h))


def lstm_model():
    model = engine.Sequential([
        engine.deserialize({"class_name": "LSTM", "config": {"units": 128,
                                                            "return_sequences": True}}),
        engine.deserialize({"class_name": "LSTM", "config": {"units": 128}}),
        engine.deserialize({"class_name": "Dense", "config": {"units": 10}}),
    ])
    model.build((None, 50, 64))
    return model


def _median(fn):
    return statistics.median(fn() for _ in range(REPEATS))


def _peak(fn):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def measure(name, model, x):
    fwd = vjp_of(model, name)
    ones = np.ones_like(model(x))

    def plain():
        t0 = time.perf_counter()
        model(x)
        return time.perf_counter() - t0

    def record():
        t0 = time.perf_counter()
        fwd(model, [x], Call())
        return time.perf_counter() - t0

    def backward():
        _, back = fwd(model, [x], Call())
        t0 = time.perf_counter()
        back(ones)
        return time.perf_counter() - t0

    for f in (plain, record, backward):
        f()  # warm-up
    times = {"F": [], "R": [], "B": []}
    for _ in range(REPEATS):
        times["F"].append(plain())
        times["R"].append(record())
        times["B"].append(backward())
    f, r, b = (statistics.median(times[k]) * 1e3 for k in ("F", "R", "B"))
    mem = _peak(lambda: engine.gradients(model, x)) / max(_peak(lambda: model(x)), 1)
    ok = "ok" if b / f <= TARGET else "OVER TARGET"
    print(f"{name}: F {f:.1f} ms  R {r:.1f} ms  B {b:.1f} ms  B/F {b / f:.2f}  "
          f"(R+B)/F {(r + b) / f:.2f}  peak memory gradients/forward {mem:.1f}x  [{ok}]")
    return b / f


def main() -> int:
    rng = np.random.default_rng(0)
    ratios = [measure("resnet_style (8, 64, 64, 3)", resnet_style(),
                      rng.standard_normal((8, 64, 64, 3)).astype("float32")),
              measure("lstm (32, 50, 64)", lstm_model(),
                      rng.standard_normal((32, 50, 64)).astype("float32"))]
    return 0 if max(ratios) <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
