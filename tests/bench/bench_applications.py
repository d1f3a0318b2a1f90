"""Forward-pass speed of keras.applications architectures, layerlab against Keras (TF backend),
and Conv2D's GFLOP/s against this machine's single-thread sgemm (not collected by pytest).

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=/work/main \\
        /work/oracle-venv/bin/python tests/bench/bench_applications.py [--repeat 7] [--models all]

Everything runs on one thread: OpenBLAS pinned to 1 thread, layerlab's own convolution
worker threads off (``conv.THREADS = 1``), TensorFlow with intra/inter op threads 1.

1. VGG16, ResNet50, DenseNet121, MobileNetV2 (``--models``: others, ``all``: every
   architecture of ALL_MODELS) at 96x96, batch 2, ``weights=None`` (logits:
   ``classifier_activation=None``): Keras
   builds each, its config (``model.to_json()``) is cached in ``--configs`` (default: a
   directory in the temp dir), Keras saves it as ``.keras`` and layerlab opens that file with
   ``engine.load``; both get the same seeded NumPy weights (generated from the weight shapes).
   The calls of layerlab and Keras's ``tf.function`` alternate, so both see the same
   machine load; Keras eager (``model(x)``) is timed after them in a loop of its own (its
   0.1-0.5 s of Python work per call evicts the caches of whatever runs next: layerlab's
   DenseNet121 took 49.4 ms after an eager call, 46.6 after a tf.function call and 45.5
   alone, while tf.function's 37.8-39.3 ms hardly changed). The script prints the
   minimum and median of each, and the ratio layerlab / the faster Keras path. Without
   Keras, the configs cached by an earlier run are read with ``engine.deserialize`` and
   layerlab is timed alone.
2. Conv2D 3x3 'same' (the VGG16 shapes at 96x96, batch 2): layerlab's GFLOP/s against a
   NumPy float32 matmul of the im2col shape (M = batch * rows * cols, K = 9 * channels,
   N = filters; the same multiply-adds), timed alternately; ratio = conv / sgemm GFLOP/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

import engine  # noqa: E402
from engine.layers.conv import ops as conv  # noqa: E402

MODELS = ("VGG16", "ResNet50", "DenseNet121", "MobileNetV2")
#: ``--models all``: every keras.applications architecture that builds at 96x96 (besides
#: the large variants of a family: ResNet101, EfficientNetB1-B7, ConvNeXtSmall...)
ALL_MODELS = MODELS + ("ResNet50V2", "MobileNet", "MobileNetV3Small", "MobileNetV3Large",
                       "EfficientNetB0", "EfficientNetV2B0", "ConvNeXtTiny", "Xception",
                       "InceptionV3", "NASNetMobile")
SHAPE = (2, 96, 96, 3)
#: (batch, rows, cols, channels, filters) of the Conv2D 3x3 'same' cases
CONV_CASES = [(2, 96, 96, 64, 64), (2, 48, 48, 128, 128), (2, 24, 24, 256, 256),
              (2, 12, 12, 512, 512), (2, 6, 6, 512, 512), (8, 64, 64, 64, 64)]


def seeded_weights(model, seed: int = 0) -> list[np.ndarray]:
    """The same weights on both sides: He-scaled kernels, small biases, BatchNormalization
    statistics near 1 (positive variances), from one NumPy generator in weight order."""
    rng = np.random.default_rng(seed)
    out = []
    for w in model.weights:
        shape = tuple(w.shape)
        name = w.name.rsplit("/", 1)[-1].split(":")[0]
        if np.dtype(w.dtype).kind != "f":   # (a Normalization layer's count)
            out.append(np.asarray(w.value))
            continue
        if name in ("moving_variance", "gamma", "variance"):
            v = rng.uniform(0.5, 1.5, shape)
        elif "kernel" in name and len(shape) >= 2:
            fan_in = int(np.prod(shape[:-2])) if name == "depthwise_kernel" else \
                int(np.prod(shape[:-1]))
            v = rng.standard_normal(shape) * np.sqrt(2.0 / max(1, fan_in))
        else:
            v = rng.standard_normal(shape) * 0.05
        out.append(v.astype("float32"))
    return out


def stats(ts: list[float]) -> tuple[float, float]:
    return min(ts) * 1e3, statistics.median(ts) * 1e3


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(fns: dict, repeat: int) -> dict[str, list[float]]:
    for fn in fns.values():  # warm-up (tf.function tracing, first-call allocations)
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            times[k].append(timed(fn))
    return times


def keras_model(keras, name: str, config_dir: Path, tmp: Path):
    """Keras's model with the seeded weights, and layerlab's, loaded from Keras's file."""
    # linear logits, so that the outputs compared are not a saturated softmax
    km = getattr(keras.applications, name)(weights=None, input_shape=SHAPE[1:],
                                           classifier_activation=None)
    (config_dir / f"{name}.json").write_text(km.to_json())
    ours = engine.deserialize(json.loads(km.to_json()))
    weights = seeded_weights(ours)
    km.set_weights(weights)
    path = tmp / f"{name}.keras"
    km.save(path)
    ours = engine.load(path, lazy=False)
    return km, ours


def model_row(keras, tf, name: str, x: np.ndarray, config_dir: Path, tmp: Path,
              repeat: int) -> str:
    """One model's line of the table."""
    if keras is not None:
        km, ours = keras_model(keras, name, config_dir, tmp)
        graph = tf.function(lambda t: km(t, training=False))
        xt = tf.constant(x)
        fns = {"ours": lambda: ours(x), "graph": lambda: np.asarray(graph(xt))}
        eager = {"eager": lambda: np.asarray(km(xt, training=False))}
    else:
        path = config_dir / f"{name}.json"
        if not path.exists():
            return f"{name:12s} no cached config in {config_dir} (run once with Keras)"
        ours = engine.deserialize(json.loads(path.read_text()))
        ours.set_weights(seeded_weights(ours))
        fns = {"ours": lambda: ours(x)}
    times = interleaved(fns, repeat)
    if keras is not None:   # in a loop of its own (see the module's docstring)
        times.update(interleaved(eager, repeat))
    a = stats(times["ours"])
    line = f"{name:12s} {a[0]:8.1f} {a[1]:8.1f}"
    if keras is not None:
        e, g = stats(times["eager"]), stats(times["graph"])
        best = min(e[0], g[0]), min(e[1], g[1])
        y, ref = ours(x), np.asarray(graph(xt))
        diff = float(np.max(np.abs(y - ref)) / max(np.max(np.abs(ref)), 1e-30))
        line += f" {e[0]:8.1f} {e[1]:8.1f} {g[0]:8.1f} {g[1]:8.1f} " \
                f"{a[0] / best[0]:9.2f} {a[1] / best[1]:9.2f} {diff:12.1e}"
    return line


def bench_models(keras, tf, config_dir: Path, repeat: int, models: tuple[str, ...]) -> None:
    x = np.random.default_rng(1).standard_normal(SHAPE).astype("float32")
    print(f"\n1. forward pass, input {SHAPE} float32; times in ms (min / median of {repeat}); "
          f"ratio = layerlab / the faster Keras path")
    head = f"{'model':12s} {'layerlab':>17s}"
    if keras is not None:
        head += f" {'keras eager':>17s} {'keras tf.function':>17s} {'ratio min':>9s} " \
                f"{'ratio med':>9s} {'max rel diff':>12s}"
    print(head)
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            print(model_row(keras, tf, name, x, config_dir, Path(tmp), repeat), flush=True)


def conv_row(keras, rng, case: tuple[int, ...], repeat: int) -> tuple[str, float]:
    """One Conv2D case's line of the table, and its conv / sgemm GFLOP/s ratio."""
    n, h, w, c, f = case
    x = rng.standard_normal((n, h, w, c)).astype("float32")
    layer = engine.deserialize({"class_name": "Conv2D", "config": {
        "filters": f, "kernel_size": 3, "padding": "same", "use_bias": False}})
    layer(x)
    m, k = n * h * w, 9 * c
    a = rng.standard_normal((m, k)).astype("float32")
    b = rng.standard_normal((k, f)).astype("float32")
    dest = np.empty((m, f), "float32")
    fns = {"ours": lambda: layer(x), "gemm": lambda: np.matmul(a, b, out=dest)}
    if keras is not None:
        kl = keras.layers.Conv2D(f, 3, padding="same", use_bias=False)
        kl(x)
        kl.set_weights(layer.get_weights())
        fns["keras"] = lambda: np.asarray(kl(x))
    io = x.nbytes + layer(x).nbytes
    tracemalloc.start()
    layer(x)
    peak = tracemalloc.get_traced_memory()[1] / io
    tracemalloc.stop()
    times = interleaved(fns, repeat)
    flops = 2.0 * m * k * f
    gf = {key: flops / min(v) / 1e9 for key, v in times.items()}
    ratio = gf["ours"] / gf["gemm"]
    line = f"{str((n, h, w, c)) + ' -> ' + str(f):26s} {gf['ours']:9.1f} " \
           f"{gf['gemm']:9.1f} {ratio:6.2f} {peak:8.2f}"
    if keras is not None:
        line += f" {gf['keras']:9.1f}"
    return line, ratio


def bench_conv(keras, repeat: int) -> None:
    rng = np.random.default_rng(2)
    print(f"\n2. Conv2D 3x3 'same' GFLOP/s (best of {repeat}) against a float32 matmul "
          f"(M, 9C) @ (9C, F) with the same multiply-adds; peak/io = traced peak memory of "
          f"one call / (input + output)")
    head = f"{'(N, H, W, C) -> F':26s} {'layerlab':>9s} {'sgemm':>9s} {'ratio':>6s} " \
           f"{'peak/io':>8s}"
    if keras is not None:
        head += f" {'keras':>9s}"
    print(head)
    ratios = []
    for case in CONV_CASES:
        line, ratio = conv_row(keras, rng, case, repeat)
        ratios.append(ratio)
        print(line, flush=True)
    print(f"conv / sgemm GFLOP/s: min {min(ratios):.2f}, median {statistics.median(ratios):.2f}"
          f" (goal >= 0.75)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--configs", type=Path,
                        default=Path(tempfile.gettempdir()) / "layerlab-bench-applications")
    parser.add_argument("--skip-models", action="store_true")
    parser.add_argument("--models", nargs="+", default=list(MODELS),
                        help=f"keras.applications names, or 'all' ({', '.join(ALL_MODELS)})")
    parser.add_argument("--skip-conv", action="store_true")
    args = parser.parse_args()
    args.configs.mkdir(parents=True, exist_ok=True)
    conv.THREADS = 1
    try:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        import keras
    except ImportError:
        tf = keras = None
    print(f"numpy {np.__version__}, keras {getattr(keras, '__version__', 'not installed')}, "
          f"tensorflow {getattr(tf, '__version__', '-')}, cpus {os.cpu_count()}, "
          f"layerlab conv threads {conv.THREADS}, OPENBLAS_NUM_THREADS "
          f"{os.environ['OPENBLAS_NUM_THREADS']}")
    if not args.skip_models:
        models = ALL_MODELS if args.models == ["all"] else tuple(args.models)
        bench_models(keras, tf, args.configs, args.repeat, models)
    if not args.skip_conv:
        bench_conv(keras, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
