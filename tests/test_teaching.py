"""The published initialization set-ups (shared TEACHING_REFERENCE.md) reproduced with the
engine's Keras-exact initializers, at initialization (no training)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from widget.teaching import dense_stack, depth_statistics

SEEDS = range(5)


def _vs(scale: float, distribution: str = "untruncated_normal") -> dict:
    return {"class_name": "VarianceScaling",
            "config": {"scale": scale, "mode": "fan_in", "distribution": distribution}}


def _mean_stats(depth, units, act, init, x_fn, input_dim):
    runs = []
    for seed in SEEDS:
        x = x_fn(np.random.default_rng(100 + seed))
        layers = dense_stack(depth, units, act, init, input_dim, seed=10 * seed)
        runs.append(depth_statistics(layers, x))
    keys = ("mean", "std", "pre_rms", "grad_rms")
    return [{k: float(np.mean([r[i][k] for r in runs])) for k in keys if k in runs[0][i]}
            for i in range(depth)]


def _normal(shape):
    return lambda rng: rng.standard_normal(shape).astype(np.float32)


# -- CS231n lecture 6: 10 x Dense(500), input N(0, 1) of shape (1000, 500) ---------------
SLIDES_TANH_001 = [0.213081, 0.047551, 0.010630, 0.002378, 0.000532, 0.000119, 0.000026,
                   0.000006]


def test_cs231n_tanh_small_weights_collapse_to_zero():
    stats = _mean_stats(10, 500, "tanh", {"class_name": "RandomNormal",
                                          "config": {"stddev": 0.01}},
                        _normal((1000, 500)), 500)
    stds = [s["std"] for s in stats]
    for i, want in enumerate(SLIDES_TANH_001[:5]):
        tol = 0.02 if i < 3 else 0.05
        assert stds[i] == pytest.approx(want, rel=tol), f"layer {i + 1}"
    assert stds[-1] < 1e-5  # "All activations become zero!"


def test_cs231n_tanh_unit_weights_saturate():
    stats = _mean_stats(10, 500, "tanh", {"class_name": "RandomNormal",
                                          "config": {"stddev": 1.0}},
                        _normal((1000, 500)), 500)
    for s in stats:
        assert s["std"] == pytest.approx(0.982, abs=0.01)


def test_cs231n_xavier_tanh_narrows_slowly():
    want = [0.628, 0.486, 0.407, 0.357, 0.321, 0.294, 0.273, 0.255, 0.241, 0.228]
    stats = _mean_stats(10, 500, "tanh", _vs(1.0), _normal((1000, 500)), 500)
    for i, w in enumerate(want):
        assert stats[i]["std"] == pytest.approx(w, rel=0.02 if i < 3 else 0.05)


def test_cs231n_xavier_relu_halves_variance_each_layer():
    stats = _mean_stats(10, 500, "relu", _vs(1.0), _normal((1000, 500)), 500)
    assert stats[0]["mean"] == pytest.approx(1 / math.sqrt(2 * math.pi), rel=0.02)
    assert stats[0]["std"] == pytest.approx(math.sqrt(0.5 - 1 / (2 * math.pi)), rel=0.02)
    for i in range(1, 10):
        assert stats[i]["std"] / stats[i - 1]["std"] == pytest.approx(1 / math.sqrt(2), rel=0.1)


def test_cs231n_he_relu_is_stable():
    stats = _mean_stats(10, 500, "relu", _vs(2.0), _normal((1000, 500)), 500)
    assert stats[0]["mean"] == pytest.approx(1 / math.sqrt(math.pi), rel=0.01)
    assert stats[0]["std"] == pytest.approx(math.sqrt(1 - 1 / math.pi), rel=0.01)
    for s in stats:
        assert s["std"] == pytest.approx(0.8257, rel=0.4)


# -- Glorot & Bengio 2010: 5 x Dense(1000, tanh), 300 samples of 1024 inputs --------------


def _standard_init(fan_in: int) -> dict:
    lim = 1 / math.sqrt(fan_in)
    return {"class_name": "RandomUniform", "config": {"minval": -lim, "maxval": lim}}


@pytest.mark.parametrize("inputs", ["uniform", "normal"])
def test_glorot_bengio_standard_init_shrinks_normalized_does_not(inputs):
    def x_fn(rng):
        if inputs == "uniform":
            return rng.uniform(0, 1, (300, 1024)).astype(np.float32)
        return rng.standard_normal((300, 1024)).astype(np.float32)

    std_stats = _mean_stats(5, 1000, "tanh", _standard_init, x_fn, 1024)
    glo_stats = _mean_stats(5, 1000, "tanh", "glorot_uniform", x_fn, 1024)
    for k in range(1, 5):
        ratio = std_stats[k]["std"] / std_stats[k - 1]["std"]
        assert 0.53 <= ratio <= 0.61, f"standard init, layer {k + 1}/{k}: {ratio:.3f}"
    for k in range(2, 5):
        ratio = glo_stats[k]["std"] / glo_stats[k - 1]["std"]
        assert ratio >= 0.8, f"Glorot init, layer {k + 1}/{k}: {ratio:.3f}"
    # back-propagated gradients vanish towards the input with the standard init only
    assert std_stats[0]["grad_rms"] / std_stats[4]["grad_rms"] < 0.2
    assert glo_stats[0]["grad_rms"] / glo_stats[4]["grad_rms"] > 0.4


# -- He et al. 2015: 30 x Dense(1024, relu), 256 samples N(0, 1) ---------------------------


def test_he_keeps_rms_xavier_halves_it():
    x_fn = _normal((256, 1024))
    for seed in SEEDS:
        x = x_fn(np.random.default_rng(seed))
        he = depth_statistics(dense_stack(30, 1024, "relu", "he_normal", 1024, seed=seed), x,
                              backward=False)
        assert all(0.7 <= s["pre_rms"] <= 2.0 for s in he), [s["pre_rms"] for s in he]
    glorot = depth_statistics(dense_stack(30, 1024, "relu", "glorot_uniform", 1024, seed=0),
                              x_fn(np.random.default_rng(0)), backward=False)
    for i, s in enumerate(glorot, start=1):
        target = 2 ** (-(i - 1) / 2)
        assert target / 2 <= s["pre_rms"] <= target * 2, f"layer {i}: {s['pre_rms']:.3g}"


# Notebook 02 printing these numbers (the CS231n slides'): tests/test_notebooks.py, which
# runs it once for all its checks.
