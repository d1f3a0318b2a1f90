"""Depthwise convolution speed on MobileNetV2's shapes (96x96 input, batch 2): the layers'
kernel (engine/layers/conv/depthwise_kernels.py) against the generic one it replaced
(ops.depthwise_conv_nd), and against TensorFlow's op when it imports (not collected by
pytest).

Run: ``OPENBLAS_NUM_THREADS=1 PYTHONPATH=. $PYTHON tests/bench/bench_depthwise.py [rounds]``
(with /work/oracle-venv/bin/python TensorFlow's ``tf.nn.depthwise_conv2d`` in a
``tf.function``, one thread, is timed too; its times include TensorFlow's call overhead).

Part 1, per shape: the kernels alone on a warm input, the callers alternating round by
round so all see the same machine load; min and median microseconds per call and the
ratios new / generic and new / TensorFlow. Part 2, in the model: MobileNetV2 (the layer
graph of tests/data/models/arch_configs.py), forward passes alternating between the kernels,
each DepthwiseConv2D layer's median time (its call through the run loop) per kernel.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import collections  # noqa: E402
import functools  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import engine  # noqa: E402
from engine.layers.conv import depthwise as dwmod  # noqa: E402
from engine.layers.conv import ops  # noqa: E402
from engine.layers.conv.depthwise_kernels import depthwise_conv  # noqa: E402
from engine.models import calls  # noqa: E402

#: (input size, channels, stride) of MobileNetV2's DepthwiseConv2D layers at 96x96, batch 2
#: (stride 2 reads a ZeroPadding2D output with 'valid' padding, stride 1 pads 'same')
SHAPES = [(48, 32, 1), (49, 96, 2), (24, 144, 1), (25, 144, 2), (12, 192, 1), (13, 192, 2),
          (6, 384, 1), (6, 576, 1), (7, 576, 2), (3, 960, 1)]


def tf_op(x: np.ndarray, w: np.ndarray, stride: int, padding: str):
    """TensorFlow's depthwise op on these arrays in a tf.function (None without TF)."""
    try:
        import tensorflow as tf
    except ImportError:
        return None
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tx, tw = tf.constant(x), tf.constant(w)
    fn = tf.function(lambda a, b: tf.nn.depthwise_conv2d(a, b, (1, stride, stride, 1),
                                                          padding.upper()))
    np.testing.assert_allclose(fn(tx, tw).numpy(), depthwise_conv(
        x, w, (stride, stride), (1, 1), pads(x.shape[1], stride)), rtol=1e-5, atol=1e-5)
    return lambda: fn(tx, tw)


def pads(size: int, stride: int) -> list[tuple[int, int]]:
    return ops.conv_paddings((size, size), (3, 3), (stride, stride), (1, 1),
                             "same" if stride == 1 else "valid")


def rounds(fns: list, repeat: int, inner: int = 10) -> list[tuple[float, float]]:
    """(min, median) microseconds per call of each function, measured alternately."""
    times: list[list[float]] = [[] for _ in fns]
    for fn in fns:
        fn()
    for _ in range(repeat):
        for t, fn in zip(times, fns):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            t.append((time.perf_counter() - t0) / inner * 1e6)
    return [(min(t), statistics.median(t)) for t in times]


def per_shape(repeat: int) -> None:
    print("per call, us (min / median); ratios of the mins / medians")
    totals: collections.Counter = collections.Counter()
    for size, chans, stride in SHAPES:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, size, size, chans)).astype(np.float32)
        w = rng.standard_normal((3, 3, chans, 1)).astype(np.float32)
        p, s, memo = pads(size, stride), (stride, stride), {}
        assert np.array_equal(depthwise_conv(x, w, s, (1, 1), p, memo),
                              ops.depthwise_conv_nd(x, w, s, (1, 1), p))
        fns = [functools.partial(depthwise_conv, x, w, s, (1, 1), p, memo),
               functools.partial(ops.depthwise_conv_nd, x, w, s, (1, 1), p)]
        tf_fn = tf_op(x, w, stride, "same" if stride == 1 else "valid")
        if tf_fn is not None:
            fns.append(tf_fn)
        res = rounds(fns, repeat)
        line = (f"  {size:2d}x{size:<2d} {chans:3d} ch s{stride}: new {res[0][0]:6.1f} / "
                f"{res[0][1]:6.1f}  generic {res[1][0]:6.1f} / {res[1][1]:6.1f}  "
                f"new/generic {res[0][0] / res[1][0]:.2f} / {res[0][1] / res[1][1]:.2f}")
        if tf_fn is not None:
            line += (f"  TF {res[2][0]:6.1f} / {res[2][1]:6.1f}  new/TF "
                     f"{res[0][0] / res[2][0]:.2f} / {res[0][1] / res[2][1]:.2f}")
        print(line)
        for name, r in zip(("new", "generic", "TF"), res):
            totals[name] += r[0]
            totals[name + " median"] += r[1]
    print("  sums (min / median): " + ", ".join(
        f"{k} {totals[k] / 1e3:.2f} / {totals[k + ' median'] / 1e3:.2f} ms"
        for k in ("new", "generic", "TF") if k in totals))


def in_model(repeat: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data" / "models"))
    from arch_configs import mobilenet_v2_config
    model = engine.deserialize(mobilenet_v2_config(96))
    x = np.random.default_rng(0).standard_normal((2, 96, 96, 3)).astype(np.float32)
    kernels = {"new": depthwise_conv,
               "generic": lambda x, k, s, d, p, memo=None: ops.depthwise_conv_nd(x, k, s, d, p)}
    which = ["new"]
    times: dict = collections.defaultdict(lambda: collections.defaultdict(list))
    run_layer = calls.run_layer

    def timed(layer, inputs, training, mask, owned=None):
        t0 = time.perf_counter()
        out = run_layer(layer, inputs, training, mask, owned)
        if type(layer).__name__ == "DepthwiseConv2D":
            key = (inputs.shape[1], inputs.shape[-1], layer.strides[0])
            times[(key, layer.name)][which[0]].append(time.perf_counter() - t0)
        return out

    forward = collections.defaultdict(list)
    try:
        calls.run_layer = timed
        for r in range(repeat + 2):
            for name, fn in kernels.items():
                which[0] = name
                dwmod.depthwise_conv = fn
                t0 = time.perf_counter()
                model(x)
                if r >= 2:
                    forward[name].append(time.perf_counter() - t0)
    finally:
        calls.run_layer, dwmod.depthwise_conv = run_layer, depthwise_conv
    groups: dict = collections.defaultdict(lambda: collections.Counter())
    for (key, _), per in times.items():
        for name in kernels:
            groups[key][name] += statistics.median(per[name][2:]) * 1e3
            groups[key][name + " min"] += min(per[name][2:]) * 1e3
        groups[key]["n"] += 1
    print("in MobileNetV2 (each layer's min / median ms, summed per shape):")
    for (size, chans, stride), g in sorted(groups.items(), key=lambda kv: -kv[1]["generic"]):
        print(f"  {size:2d}x{size:<2d} {chans:3d} ch s{stride} n={g['n']:2d}: new "
              f"{g['new min']:.3f} / {g['new']:.3f}  generic {g['generic min']:.3f} / "
              f"{g['generic']:.3f}  ratio {g['new min'] / g['generic min']:.2f} / "
              f"{g['new'] / g['generic']:.2f}")
    total = {k: sum(g[k] for g in groups.values()) for k in
             ("new", "generic", "new min", "generic min")}
    print(f"  all DepthwiseConv2D: new {total['new min']:.2f} / {total['new']:.2f} ms, generic "
          f"{total['generic min']:.2f} / {total['generic']:.2f} ms, ratio "
          f"{total['new min'] / total['generic min']:.2f} / {total['new'] / total['generic']:.2f}")
    print("  forward (min / median ms): " + ", ".join(
        f"{k} {min(v) * 1e3:.2f} / {statistics.median(v) * 1e3:.2f}" for k, v in forward.items()))


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    ops.THREADS = 1
    print(f"load average {os.getloadavg()}")
    per_shape(n)
    in_model(n)
