"""Initializers: Keras's statistics, the theoretical distribution, seeds, fans, aliases and
configs in both formats.

Keras's numbers come from tests/data/keras/corpus/k{2,3}/init_stats_k*.json (0.5M-sample
tensors drawn by real Keras). Exact random streams never match across RNGs, so the
comparisons are statistical, with tolerances derived from the sample sizes; every engine
draw is seeded, so the tests are deterministic.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from oracle import CORPUS
from scipy import stats

import engine
from engine import ConfigError, initializers
from engine.initializers import TRUNCATION_STD, compute_fans


def _load(fmt: str) -> dict:
    return json.loads((CORPUS / fmt / f"init_stats_{fmt}.json").read_text())["stats"]


STATS = {"k3": _load("k3"), "k2": _load("k2")}


def _class_name(key: str) -> str:
    return re.split(r"[ (@]", key, maxsplit=1)[0]


def _make(key: str, entry: dict, fmt: str) -> initializers.Initializer:
    cfg = {"class_name": _class_name(key), "config": dict(entry["config"])}
    return _deserialize(cfg, fmt)


def _deserialize(cfg: dict, fmt: str) -> initializers.Initializer:
    return engine.get_object("initializer", cfg, "init", "keras2" if fmt == "k2" else "keras3")


def _rows(kind: str | None = None):
    out = []
    for fmt, table in STATS.items():
        for key, entry in table.items():
            has_error = "error" in entry
            if kind == "ok" and has_error or kind == "error" and not has_error:
                continue
            out.append(pytest.param(fmt, key, entry, id=f"{fmt}-{key}"))
    return out


_SAMPLES: dict[tuple, np.ndarray] = {}


def _sample(fmt: str, key: str, entry: dict) -> tuple[initializers.Initializer, np.ndarray]:
    init = _make(key, entry, fmt)
    cache_key = (type(init).__name__, json.dumps(init.get_config(), sort_keys=True),
                 tuple(entry["shape"]))
    if cache_key not in _SAMPLES:
        _SAMPLES[cache_key] = init(tuple(entry["shape"]))
    return init, _SAMPLES[cache_key]


# -- agreement with Keras's recorded statistics ----------------------------------------


def _kurtosis(theory: dict) -> float:
    fam = theory["family"]
    if fam == "uniform":
        return 1.8
    if fam == "truncated_normal":
        return 2.37  # a standard normal truncated at +-2
    return 3.0


def _theory_std(theory: dict) -> float:
    fam = theory["family"]
    if fam == "uniform":
        return (theory["high"] - theory["low"]) / math.sqrt(12.0)
    if fam == "truncated_normal":
        return theory["std"] * TRUNCATION_STD
    if fam in ("normal", "orthogonal"):
        return theory["std"]
    return 0.0


@pytest.mark.parametrize("fmt,key,entry", _rows("ok"))
def test_sample_statistics_agree_with_keras(fmt, key, entry):
    init, values = _sample(fmt, key, entry)
    assert values.shape == tuple(entry["shape"])
    assert values.dtype == np.float32
    v = values.astype(np.float64)
    n = v.size
    theory = init.theory(tuple(entry["shape"]))
    fam = theory["family"]
    if fam == "constant":
        np.testing.assert_array_equal(values, np.float32(theory["value"]))
        for s in ("mean", "min", "max"):
            assert float(np.float32(entry[s])) == float(np.float32(getattr(v, s)()))
        assert entry["std"] == 0.0
        return
    if fam == "identity":
        np.testing.assert_array_equal(values, theory["gain"] * np.eye(*values.shape))
        for s in ("mean", "std", "min", "max"):
            assert getattr(v, s)() == pytest.approx(entry[s], rel=1e-6, abs=1e-12), s
        return
    sigma = _theory_std(theory)
    # the two means differ by N(0, 2 sigma^2 / n); allow 6 standard errors
    assert abs(v.mean() - entry["mean"]) <= 6 * sigma * math.sqrt(2.0 / n), "mean"
    # SE of a sample std is sigma * sqrt((kurtosis - 1) / (4 n)); two samples, 6 SEs
    se_std = sigma * math.sqrt((_kurtosis(theory) - 1) / (4 * n)) * math.sqrt(2.0)
    assert abs(v.std() - entry["std"]) <= 6 * se_std, "std"
    assert v.std() == pytest.approx(sigma, rel=6 * se_std / sigma), "std vs theory"
    if fam in ("uniform", "truncated_normal"):
        low, high = theory["low"], theory["high"]
        assert v.min() >= low - 1e-7 * abs(low) and v.max() <= high + 1e-7 * abs(high)
        # the gap to a bound is ~Exp(n * density at the bound); 30 mean gaps is e^-30 rare
        if fam == "uniform":
            gap = (high - low) / n
        else:
            dens = stats.norm.pdf(2.0) / (theory["std"] * (2 * stats.norm.cdf(2.0) - 1))
            gap = 1.0 / (n * dens)
        for s, bound in (("min", low), ("max", high)):
            assert abs(getattr(v, s)() - bound) <= 30 * gap, s
            assert abs(entry[s] - getattr(v, s)()) <= 30 * gap, f"{s} vs Keras"
    else:  # normal and orthogonal: extremes of n draws, sd ~ sigma / sqrt(2 ln n)
        for s in ("min", "max"):
            assert abs(getattr(v, s)() - entry[s]) <= 1.5 * sigma, s
    if "gram_diag_mean" in entry:
        _check_gram(values, init.gain, entry)


def _check_gram(values: np.ndarray, gain: float, entry: dict | None = None) -> None:
    shape = values.shape
    flat = values.reshape(math.prod(shape[:-1]), shape[-1]).astype(np.float64)
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    diag = np.diag(gram)
    off = np.abs(gram - np.diag(diag)).max() if gram.shape[0] > 1 else 0.0
    assert diag.mean() == pytest.approx(gain**2, rel=1e-5)
    np.testing.assert_allclose(diag, gain**2, rtol=1e-5)
    assert off <= 1e-5 * gain**2
    if entry is not None:
        assert diag.mean() == pytest.approx(entry["gram_diag_mean"], rel=1e-5)
        assert off <= max(10 * entry["gram_offdiag_maxabs"], 1e-5 * gain**2)


# -- goodness of fit against the reported theory ---------------------------------------


def _cdf(theory: dict):
    fam = theory["family"]
    if fam == "uniform":
        return stats.uniform(loc=theory["low"], scale=theory["high"] - theory["low"]).cdf
    if fam == "normal":
        return stats.norm(loc=theory["mean"], scale=theory["std"]).cdf
    if fam == "truncated_normal":
        m, s = theory["mean"], theory["std"]
        return stats.truncnorm((theory["low"] - m) / s, (theory["high"] - m) / s, loc=m,
                               scale=s).cdf
    raise AssertionError(fam)


def _orthogonal_cdf(m: int, gain: float):
    """Marginal CDF of one entry of gain * (a uniformly random unit vector in R^m)."""

    def cdf(t):
        t = np.asarray(t, dtype=np.float64) / abs(gain)
        b = stats.beta(0.5, (m - 1) / 2.0).cdf(np.minimum(t * t, 1.0))
        return 0.5 + 0.5 * np.sign(t) * b

    return cdf


@pytest.mark.parametrize("fmt,key,entry", [
    r for r in _rows("ok") if r.values[0] == "k3" and
    _class_name(r.values[1]) not in ("Zeros", "Ones", "Constant", "Identity")])
def test_goodness_of_fit_against_theory(fmt, key, entry):
    init, values = _sample(fmt, key, entry)
    shape = tuple(entry["shape"])
    theory = init.theory(shape)
    fam = theory["family"]
    v = values.ravel().astype(np.float64)
    if fam == "orthogonal":
        m = max(math.prod(shape[:-1]), shape[-1])
        cdf = _orthogonal_cdf(m, theory["gain"])
        assert theory["std"] == pytest.approx(abs(theory["gain"]) / math.sqrt(m))
    else:
        cdf = _cdf(theory)
    result = stats.kstest(v, cdf)
    assert result.pvalue > 1e-4, f"KS statistic {result.statistic:.4g} for {theory}"
    # and the KS test does reject a wrong theory (its scale off by 15%)
    if fam in ("normal", "truncated_normal", "uniform"):
        wrong = dict(theory)
        for k in ("std", "low", "high"):
            if k in wrong:
                wrong[k] = wrong[k] * 1.15
        assert stats.kstest(v, _cdf(wrong)).pvalue < 1e-4


def test_identity_and_orthogonal_rank_errors_match_keras():
    errors = [(k, e) for k, e in STATS["k3"].items() if "error" in e]
    assert errors, "init_stats records Identity's rank errors"
    for key, entry in errors:
        assert _class_name(key) == "Identity"
        shape = tuple(int(s) for s in re.search(r"shape=\(([\d, ]+)\)", entry["error"])
                      .group(1).split(","))
        with pytest.raises(ConfigError, match="2-D"):
            initializers.Identity()(shape)
    for shape in [(5,), ()]:
        with pytest.raises(ConfigError, match="rank >= 2"):
            initializers.Orthogonal(seed=1)(shape)
        with pytest.raises(ConfigError, match="2-D"):
            initializers.Identity()(shape)


def test_rank_error_inside_a_layer_names_the_field():
    cfg = {"class_name": "Dense", "config": {"units": 3, "kernel_initializer": "orthogonal",
                                             "bias_initializer": "orthogonal"}}
    layer = engine.deserialize(cfg)
    with pytest.raises(ConfigError) as info:
        layer.build((None, 4))
    assert str(info.value).startswith("config.bias_initializer: ")


# -- seeds -------------------------------------------------------------------------------

ALL_CLASSES = ["Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal",
               "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal",
               "LecunUniform", "LecunNormal", "Orthogonal", "Identity"]
RANDOM_CLASSES = ["RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling",
                  "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform",
                  "LecunNormal", "Orthogonal"]


@pytest.mark.parametrize("name", RANDOM_CLASSES)
def test_int_seed_gives_identical_arrays_every_call(name):
    cls = getattr(initializers, name)
    a = cls(seed=42)
    first = a((7, 5))
    np.testing.assert_array_equal(first, a((7, 5)))
    np.testing.assert_array_equal(first, cls(seed=42)((7, 5)))
    np.testing.assert_array_equal(first, engine.deserialize(
        {"class_name": "Dense", "config": {"units": 5, "kernel_initializer": {
            "class_name": name, "config": {"seed": 42}}}}).kernel_initializer((7, 5)))
    assert not np.array_equal(first, cls(seed=43)((7, 5)))


@pytest.mark.parametrize("name", RANDOM_CLASSES)
def test_seed_none_gives_fresh_values(name):
    init = getattr(initializers, name)()
    a, b = init((7, 5)), init((7, 5))
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, getattr(initializers, name)()((7, 5)))


def test_layers_with_unseeded_initializers_differ_and_seeded_agree():
    def kernel(seed):
        cfg = {"class_name": "Dense", "config": {
            "units": 4, "kernel_initializer": {"class_name": "GlorotUniform",
                                               "config": {"seed": seed}}}}
        layer = engine.deserialize(cfg)
        layer.build((None, 3))
        return layer.get_weights()[0]

    assert not np.array_equal(kernel(None), kernel(None))
    np.testing.assert_array_equal(kernel(5), kernel(5))


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, [1]])
def test_bad_seed_is_refused(bad):
    with pytest.raises(ConfigError) as info:
        initializers.RandomNormal(seed=bad)
    assert str(info.value).startswith("seed: ")


# -- fans --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,fans", [
    ((), (1, 1)), ((7,), (7, 7)), ((3, 4), (3, 4)), ((5, 32, 64), (160, 320)),
    ((3, 3, 64, 128), (576, 1152)), ((2, 3, 3, 8, 16), (144, 288)),
    ((3, 3, 16, 2), (144, 18)),  # depthwise (kh, kw, in, multiplier): same rule
    ((0, 5), (0, 5)),
])
def test_compute_fans_matches_keras_rule(shape, fans):
    assert compute_fans(shape) == tuple(float(f) for f in fans)


@pytest.mark.parametrize("shape,inp,out,fans", [
    ((4, 2, 8), [0], [1, 2], (4, 16)),
    ((4, 2, 8), [0, 1], [2], (8, 8)),
    ((4, 2, 8), 0, -1, (4, 8)),
    ((6, 3), [], [0, 1], (1, 18)),
])
def test_compute_fans_with_axes(shape, inp, out, fans):
    assert compute_fans(shape, inp, out) == tuple(float(f) for f in fans)
    # only one of the two: the default rule, as in Keras
    assert compute_fans(shape, inp, None) == compute_fans(shape)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal",
                                          "uniform", "normal"])
@pytest.mark.parametrize("shape", [(64, 32), (3, 3, 8, 16), (10,), ()])
def test_variance_scaling_all_modes_and_distributions(mode, distribution, shape):
    init = initializers.VarianceScaling(scale=2.5, mode=mode, distribution=distribution,
                                        seed=3)
    fan_in, fan_out = compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    var = 2.5 / max(1.0, n)
    theory = init.theory(shape)
    if distribution == "uniform":
        assert theory == {"family": "uniform", "low": -math.sqrt(3 * var),
                          "high": math.sqrt(3 * var)}
    elif distribution == "untruncated_normal":
        assert theory == {"family": "normal", "mean": 0.0, "std": math.sqrt(var)}
    else:
        std = math.sqrt(var) / 0.87962566103423978
        assert theory == {"family": "truncated_normal", "mean": 0.0, "std": std,
                          "low": -2 * std, "high": 2 * std}
    assert init.distribution == ("truncated_normal" if distribution == "normal"
                                 else distribution)
    big = init((256, 256)) if shape == (64, 32) else None
    if big is not None:  # the empirical variance is scale / n (the 0.8796 correction)
        n_big = {"fan_in": 256, "fan_out": 256, "fan_avg": 256}[mode]
        assert big.astype(np.float64).std() == pytest.approx(math.sqrt(2.5 / n_big),
                                                             rel=0.02)


def test_variance_scaling_uses_input_and_output_axes():
    init = initializers.VarianceScaling(scale=1.0, mode="fan_out", distribution="uniform",
                                        input_axes=[0], output_axes=[1, 2], seed=1)
    assert init.theory((4, 2, 8))["high"] == pytest.approx(math.sqrt(3 / 16))
    glorot = initializers.GlorotUniform(input_axes=[0, 1], output_axes=[2])
    assert glorot.theory((4, 2, 8))["high"] == pytest.approx(math.sqrt(6 / 16))
    assert glorot.get_config() == {"seed": None, "input_axes": [0, 1], "output_axes": [2]}
    assert glorot.get_config("keras2") == {"seed": None}


def test_one_axes_list_without_the_other_falls_back_to_the_default_rule():
    # Keras accepts it and uses the default fan rule; so does layerlab
    init = initializers.VarianceScaling(input_axes=[0], distribution="uniform")
    assert init.theory((4, 2, 8)) == initializers.VarianceScaling(
        distribution="uniform").theory((4, 2, 8))
    assert init.get_config()["input_axes"] == [0]


@pytest.mark.parametrize("name,scale,mode,dist", [
    ("GlorotUniform", 1.0, "fan_avg", "uniform"), ("GlorotNormal", 1.0, "fan_avg",
                                                   "truncated_normal"),
    ("HeUniform", 2.0, "fan_in", "uniform"), ("HeNormal", 2.0, "fan_in", "truncated_normal"),
    ("LecunUniform", 1.0, "fan_in", "uniform"), ("LecunNormal", 1.0, "fan_in",
                                                 "truncated_normal"),
])
def test_presets_are_variance_scaling(name, scale, mode, dist):
    preset = getattr(initializers, name)(seed=9)
    vs = initializers.VarianceScaling(scale=scale, mode=mode, distribution=dist, seed=9)
    for shape in [(30, 20), (3, 3, 4, 8)]:
        assert preset.theory(shape) == vs.theory(shape)
        np.testing.assert_array_equal(preset(shape), vs(shape))


def test_truncated_normal_parameter_is_the_untruncated_std():
    init = initializers.TruncatedNormal(mean=1.0, stddev=0.5, seed=2)
    assert init.theory((10,)) == {"family": "truncated_normal", "mean": 1.0, "std": 0.5,
                                  "low": 0.0, "high": 2.0}
    v = init((400, 400)).astype(np.float64)
    assert v.min() >= 0.0 and v.max() <= 2.0
    assert v.std() == pytest.approx(0.5 * TRUNCATION_STD, rel=0.01)


# -- Orthogonal --------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(8, 8), (16, 4), (4, 16), (3, 3, 4, 8), (2, 2, 8, 64),
                                   (1, 9)])
@pytest.mark.parametrize("gain", [1.0, 2.0, -0.5])
def test_orthogonal_is_semi_orthogonal(shape, gain):
    values = initializers.Orthogonal(gain=gain, seed=11)(shape)
    assert values.shape == shape
    _check_gram(values, gain)


def test_orthogonal_sign_fix_gives_a_uniform_distribution():
    # the QR sign fix makes the diagonal of R positive, so Q is Haar distributed: the
    # first entry of each column is symmetric around 0 (without the fix it is biased)
    firsts = np.concatenate([initializers.Orthogonal(seed=s)((6, 6))[0] for s in range(300)])
    assert abs(firsts.mean()) < 0.06


# -- aliases (FORMAT.md section 2.1 / Appendix B initializer_aliases) ----------------------

K3_ALIASES = {
    "glorot_uniform": ("GlorotUniform", {"seed": None, "input_axes": None,
                                         "output_axes": None}),
    "GlorotUniform": ("GlorotUniform", {"seed": None, "input_axes": None,
                                        "output_axes": None}),
    "glorot_normal": ("GlorotNormal", {"seed": None, "input_axes": None,
                                       "output_axes": None}),
    "he_normal": ("HeNormal", {"seed": None, "input_axes": None, "output_axes": None}),
    "he_uniform": ("HeUniform", {"seed": None, "input_axes": None, "output_axes": None}),
    "lecun_normal": ("LecunNormal", {"seed": None, "input_axes": None, "output_axes": None}),
    "lecun_uniform": ("LecunUniform", {"seed": None, "input_axes": None, "output_axes": None}),
    "orthogonal": ("Orthogonal", {"seed": None, "gain": 1.0}),
    "Orthogonal": ("Orthogonal", {"seed": None, "gain": 1.0}),
    "identity": ("Identity", {}),
    "truncated_normal": ("TruncatedNormal", {"seed": None, "mean": 0.0, "stddev": 0.05}),
    "random_normal": ("RandomNormal", {"seed": None, "mean": 0.0, "stddev": 0.05}),
    "random_uniform": ("RandomUniform", {"seed": None, "minval": -0.05, "maxval": 0.05}),
    "normal": ("RandomNormal", {"seed": None, "mean": 0.0, "stddev": 0.05}),
    "uniform": ("RandomUniform", {"seed": None, "minval": -0.05, "maxval": 0.05}),
    "zeros": ("Zeros", {}), "zero": ("Zeros", {}), "Zeros": ("Zeros", {}),
    "ones": ("Ones", {}), "one": ("Ones", {}),
    "variance_scaling": ("VarianceScaling", {"seed": None, "scale": 1.0, "mode": "fan_in",
                                             "distribution": "truncated_normal",
                                             "input_axes": None, "output_axes": None}),
    "OrthogonalInitializer": ("Orthogonal", {"seed": None, "gain": 1.0}),
    "IdentityInitializer": ("Identity", {}),
    # every class name works too
    **{c: (c, None) for c in ALL_CLASSES if c != "Constant"},
}
K2_ALIASES = {
    "glorot_uniform": ("GlorotUniform", {"seed": None}),
    "GlorotUniform": ("GlorotUniform", {"seed": None}),
    "glorot_normal": ("GlorotNormal", {"seed": None}),
    "he_normal": ("HeNormal", {"seed": None}),
    "he_uniform": ("HeUniform", {"seed": None}),
    "lecun_normal": ("LecunNormal", {"seed": None}),
    "lecun_uniform": ("LecunUniform", {"seed": None}),
    "orthogonal": ("Orthogonal", {"gain": 1.0, "seed": None}),
    "Orthogonal": ("Orthogonal", {"gain": 1.0, "seed": None}),
    "identity": ("Identity", {"gain": 1.0}),
    "truncated_normal": ("TruncatedNormal", {"mean": 0.0, "stddev": 0.05, "seed": None}),
    "random_normal": ("RandomNormal", {"mean": 0.0, "stddev": 0.05, "seed": None}),
    "random_uniform": ("RandomUniform", {"minval": -0.05, "maxval": 0.05, "seed": None}),
    "normal": ("RandomNormal", {"mean": 0.0, "stddev": 0.05, "seed": None}),
    "uniform": ("RandomUniform", {"minval": -0.05, "maxval": 0.05, "seed": None}),
    "zeros": ("Zeros", {}), "zero": ("Zeros", {}), "Zeros": ("Zeros", {}),
    "ones": ("Ones", {}), "one": ("Ones", {}),
    "constant": ("Constant", {"value": 0}),
    "variance_scaling": ("VarianceScaling", {"scale": 1.0, "mode": "fan_in",
                                             "distribution": "truncated_normal", "seed": None}),
}


def _dense_with(init, fmt):
    cfg = {"class_name": "Dense", "config": {"units": 2, "kernel_initializer": init}}
    if fmt == "keras3":
        cfg["module"] = "keras.layers"
    else:
        cfg["config"]["dtype"] = "float32"  # a Keras 2 config (string dtype)
    return engine.deserialize(cfg)


@pytest.mark.parametrize("fmt,alias,want", [
    pytest.param("keras3", a, w, id=f"k3-{a}") for a, w in K3_ALIASES.items()] + [
    pytest.param("keras2", a, w, id=f"k2-{a}") for a, w in K2_ALIASES.items()])
def test_string_aliases(fmt, alias, want):
    cls, config = want
    layer = _dense_with(alias, fmt)
    init = layer.kernel_initializer
    assert type(init).__name__ == cls
    if config is not None:
        got = init.get_config(fmt)
        assert got == config and list(got) == list(config)
    # the alias serializes under the canonical class name
    ser = engine.serialize(layer, fmt)["config"]["kernel_initializer"]
    assert ser["class_name"] == cls


@pytest.mark.parametrize("alias", ["Glorot_Uniform", "xavier_uniform", "GLOROT_UNIFORM",
                                   "glorotuniform"])
def test_unknown_initializer_names_are_refused_with_close_names(alias):
    with pytest.raises(ConfigError) as info:
        _dense_with(alias, "keras3")
    msg = str(info.value)
    assert msg.startswith("config.kernel_initializer: ")
    assert "custom_objects" in msg
    if alias.lower().replace("_", "") != "xavieruniform":
        assert "glorot_uniform" in msg or "GlorotUniform" in msg


# -- configs per format --------------------------------------------------------------------

CONFIGS = [
    ("Zeros", {}, {}, {}),
    ("Ones", {}, {}, {}),
    ("Constant", {"value": 0.7}, {"value": 0.7}, {"value": 0.7}),
    ("RandomNormal", {"mean": 1.0, "stddev": 0.5, "seed": 3},
     {"seed": 3, "mean": 1.0, "stddev": 0.5}, {"mean": 1.0, "stddev": 0.5, "seed": 3}),
    ("TruncatedNormal", {}, {"seed": None, "mean": 0.0, "stddev": 0.05},
     {"mean": 0.0, "stddev": 0.05, "seed": None}),
    ("RandomUniform", {"minval": -2.0, "maxval": 3.0},
     {"seed": None, "minval": -2.0, "maxval": 3.0},
     {"minval": -2.0, "maxval": 3.0, "seed": None}),
    ("VarianceScaling", {"scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal",
                         "seed": 1234},
     {"seed": 1234, "scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal",
      "input_axes": None, "output_axes": None},
     {"scale": 2.0, "mode": "fan_out", "distribution": "untruncated_normal", "seed": 1234}),
    ("VarianceScaling", {"distribution": "normal"},
     {"seed": None, "scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal",
      "input_axes": None, "output_axes": None},
     {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal", "seed": None}),
    ("VarianceScaling", {"distribution": "UNIFORM"},
     {"seed": None, "scale": 1.0, "mode": "fan_in", "distribution": "uniform",
      "input_axes": None, "output_axes": None},
     {"scale": 1.0, "mode": "fan_in", "distribution": "uniform", "seed": None}),
    ("GlorotUniform", {"seed": 5}, {"seed": 5, "input_axes": None, "output_axes": None},
     {"seed": 5}),
    ("HeNormal", {}, {"seed": None, "input_axes": None, "output_axes": None}, {"seed": None}),
    ("Orthogonal", {"gain": 2.0, "seed": 1234}, {"seed": 1234, "gain": 2.0},
     {"gain": 2.0, "seed": 1234}),
    ("Identity", {}, {}, {"gain": 1.0}),
    # Keras 3.15 writes {} even for gain 2 (and so loses it); layerlab keeps the gain
    ("Identity", {"gain": 2.0}, {"gain": 2.0}, {"gain": 2.0}),
]


@pytest.mark.parametrize("name,args,k3,k2", CONFIGS)
def test_configs_per_format_in_keras_key_order(name, args, k3, k2):
    init = getattr(initializers, name)(**args)
    for fmt, want in (("keras3", k3), ("keras2", k2)):
        got = init.get_config(fmt)
        assert list(got) == list(want), fmt
        assert got == want
        assert json.loads(json.dumps(got)) == want
        # and the serialized form, and back
        ser = engine.serialize(init, fmt)
        if fmt == "keras3":
            assert ser == {"module": "keras.initializers", "class_name": name,
                           "config": want, "registered_name": None}
        else:
            assert ser == {"class_name": name, "config": want}
        again = _deserialize(ser, "k3" if fmt == "keras3" else "k2")
        assert again.get_config(fmt) == want


@pytest.mark.parametrize("fmt", ["k3", "k2"])
def test_keras_recorded_configs_read_and_written_back(fmt):
    """Every config in init_stats (written by Keras) reads and writes back unchanged."""
    for key, entry in STATS[fmt].items():
        if "error" in entry:
            continue
        init = _make(key, entry, fmt)
        got = init.get_config("keras3" if fmt == "k3" else "keras2")
        if _class_name(key) == "Constant":  # Keras keeps the value's type
            assert got == {"value": float(entry["config"]["value"])}
            continue
        assert got == entry["config"], key
        assert list(got) == list(entry["config"]), key


@pytest.mark.parametrize("cfg,path", [
    ({"class_name": "VarianceScaling", "config": {"scale": -1}}, "config.scale"),
    ({"class_name": "VarianceScaling", "config": {"scale": 0.0}}, "config.scale"),
    ({"class_name": "VarianceScaling", "config": {"mode": "fan_middle"}}, "config.mode"),
    ({"class_name": "VarianceScaling", "config": {"distribution": "cauchy"}},
     "config.distribution"),
    ({"class_name": "RandomNormal", "config": {"stddev": "0.1"}}, "config.stddev"),
    ({"class_name": "RandomNormal", "config": {"stddev": -0.1}}, "config.stddev"),
    ({"class_name": "RandomUniform", "config": {"minval": 1.0, "maxval": 0.0}},
     "config.maxval"),
    ({"class_name": "Constant", "config": {"value": [1, 2]}}, "config.value"),
    ({"class_name": "Orthogonal", "config": {"gain": True}}, "config.gain"),
    ({"class_name": "GlorotUniform", "config": {"scale": 2.0}}, "config.scale"),
])
def test_bad_initializer_configs(cfg, path):
    with pytest.raises(ConfigError) as info:
        _dense_with(cfg, "keras3")
    assert str(info.value).startswith(f"config.kernel_initializer.{path}: ")


def test_scale_message_is_exact():
    with pytest.raises(ConfigError) as info:
        _dense_with({"class_name": "VarianceScaling", "config": {"scale": -1.0}}, "keras3")
    assert str(info.value) == "config.kernel_initializer.config.scale: must be > 0, got -1.0"


def test_mode_is_case_sensitive_like_keras():
    # Keras lower-cases distribution but not mode
    with pytest.raises(ConfigError, match=r"^config.kernel_initializer.config.mode: "):
        _dense_with({"class_name": "VarianceScaling", "config": {"mode": "FAN_IN"}}, "keras3")


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_dtype_of_samples(dtype):
    for name in ALL_CLASSES:
        init = getattr(initializers, name)()
        assert init((4, 4), dtype=dtype).dtype == np.dtype(dtype)
