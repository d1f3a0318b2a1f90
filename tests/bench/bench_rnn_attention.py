"""Benchmark of the recurrent and attention layers (not collected by pytest).

    python tests/bench/bench_rnn_attention.py                          # the engine alone
    $ORACLE_PYTHON tests/bench/bench_rnn_attention.py    # also real Keras 3

Measures the forward pass (inference) of
  (a) LSTM(128) on x (32, 50, 64); target: at least 3x faster than Keras 3 (TensorFlow);
  (b) MultiHeadAttention(num_heads=8, key_dim=64) self-attention on x (16, 128, 512);
      target: no slower than Keras 3.
Both layers get the same weights in both libraries, the outputs are compared, and each
time is the median of REPEATS calls after a warm-up, engine and Keras calls interleaved.
BLAS runs one thread; large attention projections are split over the engine's worker
threads (engine.layers.conv.ops.THREADS), as convolutions are. When ``keras`` imports, Keras runs in
the same process on the same input and the ratios are printed.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402

REPEATS = 15


def _median_ms(*fns, repeats: int = REPEATS) -> list[float]:
    """Median wall time (ms) of each function; the functions run interleaved, so that a
    busy machine slows all of them alike."""
    for fn in fns:
        fn()  # warm-up
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t0) * 1e3)
    return [statistics.median(ts) for ts in times]


def _keras():
    try:
        import keras
    except Exception:  # noqa: BLE001 - Keras is optional here
        return None
    return keras


def main() -> int:
    rng = np.random.default_rng(0)
    keras = _keras()
    rows = []

    # (a) LSTM(128) on (32, 50, 64)
    x = rng.standard_normal((32, 50, 64)).astype("float32")
    lstm = engine.deserialize({"class_name": "LSTM", "config": {"units": 128}})
    lstm.build(x.shape)
    t_keras = None
    if keras is not None:
        k = keras.layers.LSTM(128)
        k(x)
        k.set_weights(lstm.get_weights())
        diff = float(np.max(np.abs(np.asarray(k(x)) - lstm(x))))
        t_engine, t_keras = _median_ms(lambda: lstm(x), lambda: k(x))
        print(f"LSTM max |engine - keras| = {diff:.2e}")
    else:
        (t_engine,) = _median_ms(lambda: lstm(x))
    rows.append(("LSTM(128), x (32, 50, 64)", t_engine, t_keras, 3.0))

    # (b) MultiHeadAttention(8, 64) on (16, 128, 512)
    q = rng.standard_normal((16, 128, 512)).astype("float32")
    mha = engine.deserialize({"class_name": "MultiHeadAttention",
                              "config": {"num_heads": 8, "key_dim": 64}})
    mha(q, q)
    t_keras = None
    if keras is not None:
        k = keras.layers.MultiHeadAttention(num_heads=8, key_dim=64)
        k(q, q)
        k.set_weights(mha.get_weights())
        diff = float(np.max(np.abs(np.asarray(k(q, q)) - mha(q, q))))
        t_engine, t_keras = _median_ms(lambda: mha(q, q), lambda: k(q, q))
        print(f"MHA max |engine - keras| = {diff:.2e}")
    else:
        (t_engine,) = _median_ms(lambda: mha(q, q))
    rows.append(("MultiHeadAttention(8, 64), x (16, 128, 512)", t_engine, t_keras, 1.0))

    print(f"\n{'case':48s} {'engine ms':>10s} {'keras ms':>10s} {'speedup':>8s}  target")
    ok = True
    for name, te, tk, target in rows:
        if tk is None:
            print(f"{name:48s} {te:10.2f} {'-':>10s} {'-':>8s}  >= {target:g}x (Keras absent)")
            continue
        ratio = tk / te
        good = ratio >= target
        ok &= good
        print(f"{name:48s} {te:10.2f} {tk:10.2f} {ratio:7.2f}x  >= {target:g}x "
              f"{'OK' if good else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
