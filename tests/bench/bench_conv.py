"""Convolution speed and memory; the issue's case is Conv2D(64, 3x3, 'same') on
(8, 64, 64, 32) float32, at most 1.5x real Keras 3 (TensorFlow backend).

Run: ``$ORACLE_PYTHON tests/bench/bench_conv.py`` (Keras is measured in the
same run when ``import keras`` works; otherwise only the engine numbers are printed). The
engine and Keras calls alternate, so both see the same machine load; the script prints the
medians in ms, the ratio engine / Keras, and the peak traced memory (tracemalloc) of one
engine call as a multiple of its input + output bytes. The engine's own worker threads are
also timed off (``engine.layers.conv.ops.THREADS = 1``) for the main case. Last, the 3x3
shapes of VGG16 and ResNet50 (96x96, batch 2) with Winograd F(2x2, 3x3) against the direct
GEMM kernels, with each one's error against float64.

``--models``: only the Conv2D shapes of DenseNet121, ResNet50 and MobileNetV2 at 96x96
(batch 2) against TensorFlow's own conv op in a tf.function, both single-threaded.
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
from engine.layers.conv import winograd  # noqa: E402

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


#: 3x3 'same' stride-1 shapes (batch, rows, cols, channels, filters) of VGG16 and ResNet50
#: at 96x96, batch 2, for Winograd against the direct GEMM kernels
WINOGRAD_CASES = [(2, 96, 96, 64, 64), (2, 48, 48, 128, 128), (2, 24, 24, 256, 256),
                  (2, 12, 12, 512, 512), (2, 24, 24, 64, 64), (2, 12, 12, 128, 128),
                  (2, 6, 6, 256, 256)]


def winograd_case(case: tuple[int, ...], rng, repeat: int = 15) -> None:
    """conv_nd with Winograd F(2x2, 3x3) against the direct kernel it replaces, timed
    alternately (process time: the machine is shared), and each one's error against a
    float64 convolution (max |error| / max |y|)."""
    n, h, w, c, f = case
    x = rng.standard_normal((n, h, w, c)).astype("float32")
    k = (rng.standard_normal((3, 3, c, f)) * np.sqrt(2 / (9 * c))).astype("float32")
    pads = [(1, 1), (1, 1)]
    on = winograd.MIN_TILES
    exact = conv.conv_nd(x.astype(np.float64), k.astype(np.float64), (1, 1), (1, 1), pads)
    times: dict[str, list[float]] = {"direct": [], "winograd": []}
    errors = {}
    for label, tiles in (("direct", 10 ** 12), ("winograd", 1)):
        winograd.MIN_TILES = tiles
        y = conv.conv_nd(x, k, (1, 1), (1, 1), pads)
        errors[label] = float(np.max(np.abs(y - exact)) / np.max(np.abs(exact)))
    for _ in range(repeat):
        for label, tiles in (("direct", 10 ** 12), ("winograd", 1)):
            winograd.MIN_TILES = tiles
            t0 = time.process_time()
            conv.conv_nd(x, k, (1, 1), (1, 1), pads)
            times[label].append(time.process_time() - t0)
    winograd.MIN_TILES = on
    d, wg = (min(times[k_]) * 1e3 for k_ in ("direct", "winograd"))
    used = "yes" if winograd.use_winograd((n, h + 2, w + 2, c), k.shape, (1, 1), (1, 1),
                                          (h, w), 1, np.float32) else "no"
    print(f"{str(case):26s} {d:9.2f} {wg:9.2f} {wg / d:6.2f} {errors['direct']:9.1e} "
          f"{errors['winograd']:9.1e} {used:>5s}")


#: per-layer shapes of the application models at 96x96, batch 2 (``--models``): name,
#: input shape, Conv2D config
MODEL_CASES = [
    ("DenseNet121 3x3 24x24 128->32", (2, 24, 24, 128), {"filters": 32, "kernel_size": 3,
                                                          "padding": "same"}),
    ("DenseNet121 3x3 12x12 128->32", (2, 12, 12, 128), {"filters": 32, "kernel_size": 3,
                                                          "padding": "same"}),
    ("DenseNet121 3x3 6x6 128->32", (2, 6, 6, 128), {"filters": 32, "kernel_size": 3,
                                                      "padding": "same"}),
    ("DenseNet121 3x3 3x3 128->32", (2, 3, 3, 128), {"filters": 32, "kernel_size": 3,
                                                      "padding": "same"}),
    ("ResNet50/DenseNet121 stem 7x7 s2", (2, 102, 102, 3), {"filters": 64, "kernel_size": 7,
                                                             "strides": 2}),
    ("ResNet50 3x3 6x6 256->256", (2, 6, 6, 256), {"filters": 256, "kernel_size": 3,
                                                    "padding": "same"}),
    ("ResNet50 3x3 12x12 128->128", (2, 12, 12, 128), {"filters": 128, "kernel_size": 3,
                                                        "padding": "same"}),
    ("ResNet50 3x3 24x24 64->64", (2, 24, 24, 64), {"filters": 64, "kernel_size": 3,
                                                     "padding": "same"}),
    ("ResNet50 1x1 s2 24x24 256->512", (2, 24, 24, 256), {"filters": 512, "kernel_size": 1,
                                                          "strides": 2}),
    ("ResNet50 1x1 s2 12x12 512->1024", (2, 12, 12, 512), {"filters": 1024,
                                                           "kernel_size": 1, "strides": 2}),
    ("MobileNetV2 stem 3x3 s2 3->32", (2, 96, 96, 3), {"filters": 32, "kernel_size": 3,
                                                       "strides": 2, "padding": "same"}),
]
#: layers (each with its own kernel) per timed round: the kernels cycle through the cache
#: as in a model, and TensorFlow's function-call overhead is shared by this many ops
PER_ROUND = 8


def model_case(tf, name: str, shape: tuple[int, ...], cfg: dict, rng, rounds: int) -> None:
    """PER_ROUND Conv2D layers (own kernels) on one input: the engine's layer calls
    against one tf.function running the same PER_ROUND convolutions (TensorFlow's op, bias
    added), rounds alternating; per-layer min and median ms and their ratios."""
    x = rng.standard_normal(shape).astype("float32")
    layers = []
    for _ in range(PER_ROUND):
        layer = engine.deserialize({"class_name": "Conv2D", "config": dict(cfg)})
        layer.build(shape)
        layer.set_weights([(rng.standard_normal(layer.kernel.shape) /
                            np.sqrt(np.prod(layer.kernel.shape[:-1]))).astype("float32"),
                           rng.standard_normal(layer.bias.shape).astype("float32")])
        layers.append(layer)
    theirs = None
    if tf is not None:
        strides = cfg.get("strides", 1)
        padding = cfg.get("padding", "valid").upper()
        ks = [tf.constant(layer.kernel.value) for layer in layers]
        bs = [tf.constant(layer.bias.value) for layer in layers]
        xt = tf.constant(x)

        @tf.function
        def tf_convs(inp):
            return [tf.nn.bias_add(tf.nn.conv2d(inp, k, strides, padding), b)
                    for k, b in zip(ks, bs)]

        want = [np.asarray(y) for y in tf_convs(xt)]
        for layer, w in zip(layers, want):
            np.testing.assert_allclose(layer(x), w, atol=1e-4, rtol=1e-4)

        def theirs():
            return [y.numpy() for y in tf_convs(xt)]

    def ours():
        return [layer(x) for layer in layers]

    a, b = [], []
    ours()
    for _ in range(rounds):
        a.append(timed(ours) / PER_ROUND)
        if theirs is not None:
            b.append(timed(theirs) / PER_ROUND)
    ours_ms = (min(a) * 1e3, statistics.median(a) * 1e3)
    tf_ms = (min(b) * 1e3, statistics.median(b) * 1e3) if b else (float("nan"),) * 2
    print(f"{name:34s} {ours_ms[0]:8.3f} {ours_ms[1]:8.3f} {tf_ms[0]:8.3f} {tf_ms[1]:8.3f} "
          f"{ours_ms[0] / tf_ms[0]:6.2f} {ours_ms[1] / tf_ms[1]:6.2f}")


def models_main(rounds: int = 15) -> None:
    """``--models``: the application models' convolution shapes against TensorFlow's
    conv op, both on one thread (the engine's worker threads off)."""
    try:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except ImportError:
        tf = None
    conv.THREADS = 1
    rng = np.random.default_rng(0)
    print(f"numpy {np.__version__}, tensorflow {getattr(tf, '__version__', 'not installed')}"
          f", one thread each; ms per layer, {PER_ROUND} layers a round, {rounds} rounds "
          f"alternating; load {os.getloadavg()[0]:.2f}")
    print(f"{'layer':34s} {'ours min':>8s} {'ours med':>8s} {'tf min':>8s} {'tf med':>8s} "
          f"{'r min':>6s} {'r med':>6s}")
    for name, shape, cfg in MODEL_CASES:
        model_case(tf, name, shape, cfg, rng, rounds)


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
    threads, conv.THREADS = conv.THREADS, 1
    print("\nWinograd F(2x2, 3x3) against the direct kernels, one thread (min process ms "
          "of 15, alternating); error = max |y - float64| / max |y|; used = chosen by "
          "conv_nd")
    print(f"{'(N, H, W, C, F)':26s} {'direct':>9s} {'winograd':>9s} {'ratio':>6s} "
          f"{'err dir':>9s} {'err win':>9s} {'used':>5s}")
    for case in WINOGRAD_CASES:
        winograd_case(case, rng)
    conv.THREADS = threads


if __name__ == "__main__":
    if "--models" in sys.argv[1:]:
        models_main()
    else:
        main()
