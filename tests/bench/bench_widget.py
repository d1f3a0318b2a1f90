"""LayerEditor speed: value change -> new plot bytes, editor build, leaks over 100 edits.

Run: ``python3 tests/bench/bench_widget.py`` (Keras is not involved: the widget has no
Keras counterpart). Targets (issue 4): a change to new plot bytes at most 60 ms (median)
for Dense(512) on (256, 512) and Conv2D(32, 3x3) on (8, 32, 32, 16); building an editor
and its first plots at most 300 ms; after 100 edits no pyplot figure and flat memory.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import matplotlib.pyplot as plt  # noqa: E402

from engine import registry  # noqa: E402
from widget import LayerEditor  # noqa: E402

CASES = [
    ("Dense(512)", {"class_name": "Dense", "config": {"units": 512, "activation": "relu"}},
     (256, 512), "units", [511, 512]),
    ("Conv2D(32, 3x3)", {"class_name": "Conv2D", "config": {
        "filters": 32, "kernel_size": [3, 3], "activation": "relu"}},
     (8, 32, 32, 16), "filters", [31, 32]),
]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def bench_case(label, config, shape, path, values, repeats=15):
    if registry.lookup("layer", config["class_name"]) is None:
        print(f"{label:18s} SKIPPED: the engine has no {config['class_name']} yet")
        return None
    LayerEditor(config, input_shape=shape)  # warm-up: fonts, caches
    builds = []
    for _ in range(5):
        t = time.perf_counter()
        ed = LayerEditor(config, input_shape=shape)
        builds.append(time.perf_counter() - t)
    changes, act_changes = [], []
    for i in range(repeats):
        before = ed.plot_bytes
        t = time.perf_counter()
        ok = ed.set(path, values[i % 2])
        dt = time.perf_counter() - t
        assert ok and ed.plot_bytes != before, ed.error
        changes.append(dt)
    for i in range(repeats):
        t = time.perf_counter()
        ed.set("activation", ["tanh", "relu"][i % 2])
        act_changes.append(time.perf_counter() - t)
    med = statistics.median(changes)
    print(f"{label:18s} build+first plots {ms(statistics.median(builds))}  "
          f"{path} change -> new plot bytes {ms(med)} (median of {repeats}; target 60 ms: "
          f"{'ok' if med <= 0.060 else 'OVER'})  "
          f"activation change {ms(statistics.median(act_changes))}")
    return ed


def bench_leaks(n=100):
    ed = LayerEditor({"class_name": "Dense", "config": {"units": 64}}, input_shape=(32, 64))
    for i in range(n):  # fill the undo history to its cap first
        ed.set("units", 64 + i % 2)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    marks = []
    for i in range(n):
        ed.set("units", 40 + i % 7)
        if i % 10 == 9:
            ed.set("kernel_initializer", ["he_normal", "glorot_uniform"][i % 2])
        if i % 25 == 24:
            gc.collect()
            marks.append(tracemalloc.get_traced_memory()[0] - base)
    tracemalloc.stop()
    figs = plt.get_fignums()
    print(f"after {n} edits: pyplot figures {figs} (want []), traced memory growth at "
          f"25/50/75/100 edits: {', '.join(f'{m / 1024:.0f} KiB' for m in marks)}; "
          f"undo history {len(ed._state.undo_stack)} configs")


def main():
    print(f"python {sys.version.split()[0]}, OPENBLAS_NUM_THREADS=1")
    t = time.perf_counter()
    LayerEditor({"class_name": "Dense", "config": {"units": 32}})
    print(f"first editor in the process (cold: font cache, first draw) "
          f"{ms(time.perf_counter() - t)}")
    for case in CASES:
        bench_case(*case)
    bench_leaks()


if __name__ == "__main__":
    main()
