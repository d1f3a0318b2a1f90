"""Where a model's forward pass is slower than Keras-TF: layerlab's time per layer against
TensorFlow's own op times, grouped by kind of layer (not collected by pytest).

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. /work/oracle-venv/bin/python \\
        tests/bench/bench_layers_vs_tf.py DenseNet121 [MobileNetV2 ...] [--repeat 10]

Needs Keras 3 with TensorFlow (the oracle venv). For each keras.applications model (96x96,
batch 2, ``weights=None``, the seeded weights of bench_applications on both sides):

- TensorFlow: the model in a ``tf.function``, one thread, run ``--repeat`` times under TF's
  profiler; each op's time is read from the profile (the ``tf_Compute`` line of the host
  plane) and summed per Keras layer (the op name's second part, ``model/<layer>_1/...``);
  ReadVariableOps are left out.
- layerlab: the same config and weights, ``--repeat`` forward passes with each layer's call
  through the run loop (``engine.models.calls.run_layer``) timed, so a layer's Python call
  overhead counts; the median per layer. A fused pair (BatchNormalization or a merge and its
  relu, run as one call) counts as its first layer; TF's ops of both layers are added then.

Rows: layers grouped by class, kernel, stride, input size and channels; the sums of the
medians and TF's mean op times; sorted by the difference. TF's op times leave out its
executor's own per-op work, layerlab's include the run loop's per-call work, so the
totals are not the whole forward passes (bench_applications times those).
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from bench_applications import SHAPE, seeded_weights  # noqa: E402

import engine  # noqa: E402
from engine.layers.conv import ops as conv  # noqa: E402
from engine.models import calls, functional  # noqa: E402


def tf_layer_times(tf, km, x: np.ndarray, repeat: int) -> dict[str, float]:
    """Microseconds per forward pass of TF's ops, per Keras layer name."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    graph = tf.function(lambda t: km(t, training=False))
    xt = tf.constant(x)
    for _ in range(5):
        graph(xt).numpy()
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(repeat):
            graph(xt).numpy()
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        path = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0]
        space.ParseFromString(Path(path).read_bytes())
    per_layer: dict[str, float] = collections.defaultdict(float)
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for ev in line.events:
                op = names.get(ev.metadata_id, "").rsplit(":", 1)[0]
                parts = op.split("/")
                if len(parts) < 2 or "ReadVariableOp" in op:
                    continue
                layer = re.sub(r"_\d+$", "", parts[1])
                per_layer[layer] += ev.duration_ps / 1e6 / repeat
    return per_layer


def our_layer_times(model, x: np.ndarray, repeat: int) -> dict[str, tuple]:
    """name -> (layer, input shape, median seconds per call) over ``repeat`` passes."""
    seen: dict[str, list] = {}
    run_layer, run_fused = calls.run_layer, functional.run_fused

    def timed(layer, inputs, training, mask, owned=None):
        t0 = time.perf_counter()
        out = run_layer(layer, inputs, training, mask, owned)
        seen.setdefault(layer.name, [layer, np.shape(inputs[0] if isinstance(inputs, list)
                                                     else inputs), []])[2].append(
            time.perf_counter() - t0)
        return out

    def timed_fused(first, act, inputs, training, owned):
        t0 = time.perf_counter()
        out = run_fused(first, act, inputs, training, owned)
        if out is not None:
            seen.setdefault(first.name, [first, np.shape(inputs[0] if isinstance(
                inputs, list) else inputs), []])[2].append(time.perf_counter() - t0)
            fused[first.name] = act.name
        return out

    fused: dict[str, str] = {}
    for _ in range(3):
        model(x)
    calls.run_layer = timed
    functional.run_fused = timed_fused
    try:
        for _ in range(repeat):
            model(x)
    finally:
        calls.run_layer = run_layer
        functional.run_fused = run_fused
    return {name: (layer, shape, statistics.median(ts), fused.get(name))
            for name, (layer, shape, ts) in seen.items()}


def group_of(layer, shape: tuple) -> str:
    cls = type(layer).__name__
    cfg = layer.get_config()
    if "kernel_size" in cfg:
        k, s = cfg["kernel_size"], cfg.get("strides", (1,))
        return f"{cls} k{k[0]} s{s[0]} {shape[1]}x{shape[2]} {shape[-1]}ch"
    return f"{cls} {shape[1]}x{shape[2]}" if len(shape) == 4 else cls


def compare(keras, tf, name: str, repeat: int) -> None:
    km = getattr(keras.applications, name)(weights=None, input_shape=SHAPE[1:],
                                           classifier_activation=None)
    ours = engine.deserialize(json.loads(km.to_json()))
    weights = seeded_weights(ours)
    km.set_weights(weights)
    ours.set_weights(weights)
    x = np.random.default_rng(1).standard_normal(SHAPE).astype("float32")
    theirs = tf_layer_times(tf, km, x, repeat)
    mine = our_layer_times(ours, x, repeat)
    groups: dict[str, list] = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for lname, (layer, shape, t, partner) in mine.items():
        g = groups[group_of(layer, shape) + (" +act" if partner else "")]
        g[0] += t * 1e6
        g[1] += theirs.get(lname, 0.0) + (theirs.get(partner, 0.0) if partner else 0.0)
        g[2] += 1
    total = [sum(g[0] for g in groups.values()), sum(g[1] for g in groups.values())]
    print(f"\n{name}: layerlab {total[0] / 1e3:.2f} ms in its layers' calls, TF "
          f"{total[1] / 1e3:.2f} ms in its ops (medians / means of {repeat} passes)")
    print(f"  {'group':44s} {'n':>4s} {'layerlab':>9s} {'TF':>8s} {'diff ms':>8s} {'ratio':>6s}")
    for key, (a, b, n) in sorted(groups.items(), key=lambda kv: kv[1][1] - kv[1][0]):
        ratio = f"{a / b:6.2f}" if b else "     -"
        print(f"  {key:44s} {n:4d} {a / 1e3:9.2f} {b / 1e3:8.2f} {(a - b) / 1e3:+8.2f} {ratio}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", default=["DenseNet121", "MobileNetV2",
                                                     "ResNet50"])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    try:
        import tensorflow as tf
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        import keras
    except ImportError:
        print("needs Keras 3 with TensorFlow (the oracle venv)")
        return 1
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    conv.THREADS = 1
    print(f"load average {os.getloadavg()}, OPENBLAS_NUM_THREADS 1, one thread everywhere")
    for name in args.models:
        compare(keras, tf, name, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
