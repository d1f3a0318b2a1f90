"""STFTSpectrogram and MelSpectrogram beyond the generic oracle cases.

Keras references: tests/data/keras/generated_extra/audio_refs.{json,npz}, written by
``python -m tests.oracle_gen.audio`` (Keras 3.15, TensorFlow backend): Keras's own STFT
kernels for every window, the outputs with them, ``keras.ops.stft``, and MelSpectrogram on
unbatched signals. The generic cases (tests/oracle_gen/audio.py) cover every option with
random kernels through tests/engine/test_oracle_layers.py.

Tolerance, the same for every case here: ``|got - want| <= 1e-5 * max|want|`` (plus
``1e-5 * |want|``), i.e. 1e-5 relative to the output's magnitude, since decibel outputs
reach hundreds and log outputs cross zero.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from oracle import DATA

import engine
from engine import BudgetError, ConfigError, weight_budget
from engine.layers.preprocessing.audio import (
    WINDOW_NAMES,
    get_window,
    mel_filter_bank,
    power_to_db,
    stft,
    stft_kernels,
)

EXTRA = DATA / "generated_extra"
REF_META = json.loads((EXTRA / "audio_refs.json").read_text())
REFS = dict(np.load(EXTRA / "audio_refs.npz"))


def assert_close(got, want, tol=1e-5):
    """Within ``tol`` relative to the magnitude of ``want`` (see the module docstring)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


def layer(class_name: str, **config):
    return engine.deserialize({"module": "keras.layers", "class_name": class_name,
                               "config": config})


# -- against Keras's references ----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REF_META["kernels"]))
def test_stft_kernels_and_outputs_equal_keras(name):
    cfg = REF_META["kernels"][name]
    spec = layer("STFTSpectrogram", **cfg)
    x = REFS[f"kernel_{name}__x"]
    y = spec(x)
    real, imag = spec.get_weights()
    assert_close(real, REFS[f"kernel_{name}__real"])
    assert_close(imag, REFS[f"kernel_{name}__imag"])
    assert_close(y, REFS[f"kernel_{name}__y"])


@pytest.mark.parametrize("name", sorted(REF_META["stft"]))
def test_stft_op_equals_keras(name):
    c = REF_META["stft"][name]
    real, imag = stft(REFS[f"stft_{name}__x"], c["sequence_length"], c["sequence_stride"],
                      c["fft_length"], c["window"], c["center"])
    assert_close(real, REFS[f"stft_{name}__real"])
    assert_close(imag, REFS[f"stft_{name}__imag"])


@pytest.mark.parametrize("name", sorted(REF_META["mel"]))
def test_unbatched_mel_equals_keras(name):
    cfg = REF_META["mel"][name]
    mel = layer("MelSpectrogram", **cfg)
    x = REFS[f"mel_{name}__x"]
    y = mel(x)
    assert_close(y, REFS[f"mel_{name}__y"])
    assert tuple(mel.compute_output_shape(x.shape)) == y.shape
    assert engine.serialize(mel)["config"] == {**cfg, "name": mel.name}


# -- windows and kernels -----------------------------------------------------------------


@pytest.mark.parametrize("name", WINDOW_NAMES + ("han", "rect", "hann_periodic",
                                                 "blackman_symmetric", "tri", "sinc"))
def test_windows_equal_scipy(name):
    signal = pytest.importorskip("scipy.signal")
    for n in range(1, 18):
        for periodic in (False, True):
            np.testing.assert_allclose(get_window(name, n, periodic),
                                       signal.get_window(name, n, fftbins=periodic),
                                       rtol=1e-12, atol=1e-14, err_msg=f"{name} {n} {periodic}")


def test_odd_fft_length_acts_as_one_less():
    """fft_length 13 gives 7 bins at angles 2 pi k t / 12, as Keras ((13 // 2) * 2)."""
    odd = stft_kernels(8, 13, "hann", "density", False)
    even = stft_kernels(8, 12, "hann", "density", False)
    for a, b in zip(odd, even):
        assert a.shape == (8, 1, 7)
        np.testing.assert_array_equal(a, b)
    t = np.arange(8)[:, None]
    k = np.arange(7)[None, :]
    win = get_window("hann", 8, False)
    want = np.cos(-2 * np.pi * t * k / 12) * win[:, None] / np.sqrt(np.sum(win ** 2))
    np.testing.assert_allclose(odd[0][:, 0, :], want, atol=1e-6)


def test_stft_kernels_are_a_dft_of_the_windowed_frame():
    """With scaling None the kernels give numpy.fft.rfft of the windowed frame."""
    x = np.random.default_rng(0).standard_normal((1, 16, 1)).astype("float32")
    spec = layer("STFTSpectrogram", mode="stft", frame_length=16, frame_step=16,
                 fft_length=16, window="hamming", periodic=True, scaling=None)
    y = spec(x)[0, 0]
    want = np.fft.rfft(x[0, :, 0] * get_window("hamming", 16, True))
    assert_close(y, np.concatenate([want.real, want.imag]))


def test_kernels_are_the_weights_and_set_weights_changes_the_output():
    spec = layer("STFTSpectrogram", mode="magnitude", frame_length=8, frame_step=4)
    x = np.random.default_rng(1).standard_normal((2, 40, 1)).astype("float32")
    before = spec(x)
    assert [(w.name, w.shape, w.trainable) for w in spec.weights] == [
        ("real_kernel", (8, 1, 5), True), ("imag_kernel", (8, 1, 5), True)]
    real, imag = spec.get_weights()
    spec.set_weights([2 * real, 2 * imag])
    assert_close(spec(x), 2 * before)
    only_real = layer("STFTSpectrogram", mode="real", frame_length=8)
    only_real.build((1, 40, 1))
    assert [w.name for w in only_real.weights] == ["real_kernel"]
    only_imag = layer("STFTSpectrogram", mode="imag", frame_length=8)
    only_imag.build((1, 40, 1))
    assert [w.name for w in only_imag.weights] == ["imag_kernel"]


def test_float64_layer_computes_kernels_in_float64():
    spec = layer("STFTSpectrogram", frame_length=16, dtype="float64")
    spec.build((1, 40, 1))
    real = spec.get_weights()[0]
    assert real.dtype == np.float64
    t = np.arange(16)[:, None]
    k = np.arange(9)[None, :]
    win = get_window("hann", 16, False)
    want = np.cos(-2 * np.pi * t * k / 16) * win[:, None] / np.sqrt(np.sum(win ** 2))
    np.testing.assert_allclose(real[:, 0, :], want, atol=1e-12)


# -- shapes --------------------------------------------------------------------------------


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("expand_dims", [False, True])
@pytest.mark.parametrize("mode", ["log", "stft", "psd"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_stft_output_shape_agrees_with_call(data_format, expand_dims, mode, padding):
    spec = layer("STFTSpectrogram", mode=mode, frame_length=9, frame_step=4, fft_length=11,
                 padding=padding, data_format=data_format, expand_dims=expand_dims)
    shape = (2, 37, 3) if data_format == "channels_last" else (2, 3, 37)
    x = np.random.default_rng(2).standard_normal(shape).astype("float32")
    y = spec(x)
    assert tuple(spec.compute_output_shape(shape)) == y.shape
    frames = 8 if padding == "valid" else 10
    bins = 6 * (2 if mode == "stft" else 1)
    assert frames in y.shape and (bins in y.shape or 3 * bins in y.shape)


def test_stft_channels_layout_matches_per_channel_runs():
    x = np.random.default_rng(3).standard_normal((2, 50, 3)).astype("float32")
    flat = layer("STFTSpectrogram", frame_length=8, frame_step=4)(x)
    image = layer("STFTSpectrogram", frame_length=8, frame_step=4, expand_dims=True)(x)
    first = layer("STFTSpectrogram", frame_length=8, frame_step=4,
                  data_format="channels_first")(np.swapaxes(x, 1, 2))
    for c in range(3):
        one = layer("STFTSpectrogram", frame_length=8, frame_step=4)(x[:, :, c:c + 1])
        np.testing.assert_allclose(flat[:, :, 5 * c:5 * c + 5], one, rtol=1e-6)
        np.testing.assert_allclose(image[..., c], one, rtol=1e-6)
        np.testing.assert_allclose(np.swapaxes(first[:, 5 * c:5 * c + 5], 1, 2), one,
                                   rtol=1e-6)


@pytest.mark.parametrize("samples", [65, 99, 100, 149, 150, 151])
@pytest.mark.parametrize("fft_length", [64, 63])
def test_mel_output_shape_is_the_shape_call_returns(samples, fft_length):
    """Keras's own compute_output_shape, (samples + stride + 1) // stride, is off by one
    for samples + 1 divisible by the stride; this one matches call."""
    mel = layer("MelSpectrogram", fft_length=fft_length, sequence_stride=50, num_mel_bins=8)
    x = np.random.default_rng(4).standard_normal((2, samples)).astype("float32")
    assert tuple(mel.compute_output_shape(x.shape)) == mel(x).shape


# -- mel bank and decibels ---------------------------------------------------------------


def test_mel_filter_bank_triangles():
    bank = mel_filter_bank(10, 129, 16000, 20.0, 8000.0)
    assert bank.shape == (129, 10) and bank.dtype == np.float32
    assert np.all(bank[0] == 0)  # HTK: no DC
    assert np.all(bank >= 0) and np.all(bank.max(axis=0) <= 1)
    peaks = bank.argmax(axis=0)
    assert np.all(np.diff(peaks) > 0)  # bands ascend


def test_power_to_db_floors_over_the_whole_batch():
    p = np.array([[1.0, 1e-3, 1e-12], [1e-2, 1e-9, 0.0]])
    db = power_to_db(p, top_db=50.0, min_power=1e-10, ref_power=1.0)
    np.testing.assert_allclose(db, [[0.0, -30.0, -50.0], [-20.0, -50.0, -50.0]])
    np.testing.assert_allclose(power_to_db(p, top_db=200.0, ref_power=0.1)[0, :2], [10, -20])


def test_mel_float64_runs_where_keras_fails():
    """Keras 3.15 (TensorFlow) fails on a float64 MelSpectrogram; layerlab computes it,
    equal to the float32 result within the tolerance."""
    x = np.random.default_rng(5).standard_normal((2, 700)).astype("float32")
    y64 = layer("MelSpectrogram", fft_length=128, sequence_stride=64, num_mel_bins=16,
                dtype="float64")(x)
    y32 = layer("MelSpectrogram", fft_length=128, sequence_stride=64, num_mel_bins=16)(x)
    assert y64.dtype == np.float64 and y32.dtype == np.float32
    assert_close(y64, y32)


def test_mel_config_fills_keras_defaults():
    cfg = layer("MelSpectrogram", fft_length=512, sampling_rate=22050,
                max_freq=0).get_config()
    assert cfg["sequence_length"] == 512 and cfg["max_freq"] == 11025
    again = engine.deserialize(engine.serialize(layer("MelSpectrogram")))
    assert again.get_config()["max_freq"] == 8000


# -- bad values ----------------------------------------------------------------------------

BAD = [
    ("STFTSpectrogram", {"frame_length": 0}, "frame_length"),
    ("STFTSpectrogram", {"frame_length": -4}, "frame_length"),
    ("STFTSpectrogram", {"frame_length": 8, "frame_step": 9}, "frame_step"),
    ("STFTSpectrogram", {"frame_length": 8, "frame_step": 0}, "frame_step"),
    ("STFTSpectrogram", {"frame_length": 1}, "frame_step"),
    ("STFTSpectrogram", {"frame_length": 1, "frame_step": 1}, "frame_length"),
    ("STFTSpectrogram", {"frame_length": 16, "fft_length": 8}, "fft_length"),
    ("STFTSpectrogram", {"fft_length": 0}, "fft_length"),
    ("STFTSpectrogram", {"window": "kaiser"}, "window"),
    ("STFTSpectrogram", {"window": "Hann"}, "window"),
    ("STFTSpectrogram", {"window": "no_such_window"}, "window"),
    ("STFTSpectrogram", {"frame_length": 4, "window": [1, 2, 3]}, "window"),
    ("STFTSpectrogram", {"window": ["a", "b"]}, "window"),
    ("STFTSpectrogram", {"window": 3}, "window"),
    ("STFTSpectrogram", {"mode": "power"}, "mode"),
    ("STFTSpectrogram", {"scaling": "l2"}, "scaling"),
    ("STFTSpectrogram", {"padding": "causal"}, "padding"),
    ("STFTSpectrogram", {"data_format": "channels_middle"}, "data_format"),
    ("MelSpectrogram", {"fft_length": 0}, "fft_length"),
    ("MelSpectrogram", {"sequence_stride": 0}, "sequence_stride"),
    ("MelSpectrogram", {"fft_length": 64, "sequence_length": 65}, "sequence_length"),
    ("MelSpectrogram", {"window": "blackman"}, "window"),
    ("MelSpectrogram", {"fft_length": 16, "window": [1.0] * 15}, "window"),
    ("MelSpectrogram", {"num_mel_bins": 0}, "num_mel_bins"),
    ("MelSpectrogram", {"sampling_rate": 0}, "sampling_rate"),
    ("MelSpectrogram", {"min_freq": 9000.0}, "min_freq"),
    ("MelSpectrogram", {"min_power": 0.0}, "min_power"),
    ("MelSpectrogram", {"power_to_db": "yes"}, "power_to_db"),
]


@pytest.mark.parametrize("class_name,config,field", BAD,
                         ids=[f"{c}-{f}-{i}" for i, (c, _, f) in enumerate(BAD)])
def test_bad_values_name_the_field(class_name, config, field):
    with pytest.raises(ConfigError) as info:
        layer(class_name, **config)
    assert info.value.path.endswith(field), str(info.value)


def test_kernels_over_the_budget_are_refused_before_allocating():
    def small(class_name, **config):
        return engine.deserialize({"module": "keras.layers", "class_name": class_name,
                                   "config": config}, max_weight_elements=10_000,
                                  max_activation_bytes=10**6)

    with pytest.raises(BudgetError, match="over the budget of 10,000") as info:
        small("STFTSpectrogram", frame_length=128, fft_length=4096)
    assert "fft_length 4096" in str(info.value)
    with pytest.raises(BudgetError, match="mel filter bank"):
        small("MelSpectrogram", fft_length=4096, num_mel_bins=128)
    spec = small("STFTSpectrogram", mode="real", frame_length=64)  # 64 * 33 kernel fits
    spec.build((1, 100, 1))
    spec(np.zeros((1, 500, 1), "float32"))
    with pytest.raises(BudgetError, match="activation budget"):  # frames: 4 * 624 * 64
        spec(np.zeros((4, 20_000, 1), "float32"))
    mel = small("MelSpectrogram", fft_length=64, sequence_stride=4, num_mel_bins=8)
    mel(np.zeros((1, 500), "float32"))
    with pytest.raises(BudgetError, match="activation budget"):
        mel(np.zeros((4, 5_000), "float32"))
    with weight_budget(10_000):  # the same limit set around a direct construction
        with pytest.raises(BudgetError):
            engine.layers.STFTSpectrogram(frame_length=128, fft_length=4096)
    big = engine.deserialize({"class_name": "STFTSpectrogram", "module": "keras.layers",
                              "config": {"frame_length": 128, "fft_length": 4096}},
                             max_weight_elements=2 * 128 * 2049)
    big.build((1, 300, 1))
    assert big.count_params() == 2 * 128 * 2049


def test_too_short_signals_are_clear_errors():
    with pytest.raises(ValueError, match="no frame"):
        layer("STFTSpectrogram", frame_length=32)(np.zeros((1, 20, 1), "float32"))
    with pytest.raises(ValueError, match="more than 32 samples"):
        layer("MelSpectrogram", fft_length=64, num_mel_bins=4)(np.zeros((1, 30), "float32"))


def test_keras3_only():
    spec = layer("STFTSpectrogram")
    with pytest.raises(Exception, match="(?i)keras ?2|keras2"):
        engine.serialize(spec, format="keras2")


# -- .keras files ----------------------------------------------------------------------------

MODELS_IO = dict(np.load(EXTRA / "audio_models_io.npz"))


@pytest.mark.parametrize("name", ["stft", "mel"])
def test_keras_files_load_run_and_save(name, tmp_path):
    """Models saved by Keras 3 with an audio layer load and match Keras's outputs; saved
    again by layerlab they read back the same."""
    model = engine.load(EXTRA / f"audio_{name}.keras")
    x, want = MODELS_IO[f"{name}__x"], MODELS_IO[f"{name}__y"]
    assert_close(model(x), want)
    engine.save(model, tmp_path / "again.keras")
    assert_close(engine.load(tmp_path / "again.keras")(x), want)


@pytest.mark.oracle
def test_real_keras_loads_what_layerlab_saves(tmp_path):
    import os
    import subprocess
    import sys

    exe = next((e for e in (sys.executable, os.environ.get("LAYERLAB_ORACLE_PYTHON", ""))
                if e and subprocess.run([e, "-c", "import keras"], capture_output=True)
                .returncode == 0), None)
    if exe is None:
        pytest.skip("real Keras is not installed (set LAYERLAB_ORACLE_PYTHON)")
    for name in ("stft", "mel"):
        engine.save(engine.load(EXTRA / f"audio_{name}.keras"), tmp_path / f"{name}.keras")
    script = (
        "import os, sys, numpy as np; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
        "import keras\n"
        f"d = np.load(r'{EXTRA / 'audio_models_io.npz'}')\n"
        "for name in ('stft', 'mel'):\n"
        f"    m = keras.models.load_model(os.path.join(r'{tmp_path}', name + '.keras'))\n"
        "    y, want = np.asarray(m(d[name + '__x'])), d[name + '__y']\n"
        "    print(name, float(np.abs(y - want).max() / np.abs(want).max()))\n")
    run = subprocess.run([exe, "-c", script], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    errors = dict(line.split() for line in run.stdout.strip().splitlines())
    assert set(errors) == {"stft", "mel"}
    assert all(float(e) <= 1e-5 for e in errors.values()), errors
