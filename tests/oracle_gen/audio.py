"""Oracle cases for the audio layers (Keras 3 only): STFTSpectrogram and MelSpectrogram.

``python -m tests.oracle_gen audio`` writes the generic cases (STFTSpectrogram with random
kernels set by the generator); ``python -m tests.oracle_gen.audio`` also writes
tests/data/keras/generated_extra/audio_refs.{json,npz}: Keras's own STFT kernels for every
window, odd lengths, periodic and scaling, the outputs with those kernels, and
``keras.ops.stft`` outputs (checked by tests/engine/test_audio_layers.py).
"""

from __future__ import annotations

from tests.oracle_gen.common import case

K3 = ("k3",)


def _stft(name, config, shape, **kw):
    return case(f"stft_{name}", "STFTSpectrogram", config, [shape], formats=K3, **kw)


def _mel(name, config, shape, **kw):
    return case(f"mel_{name}", "MelSpectrogram", config, [shape], formats=K3, **kw)


_WIN8 = [0.1, 0.5, 0.9, 1.0, 1.0, 0.8, 0.4, 0.2]

CASES = [
    _stft("log", {"frame_length": 32, "frame_step": 16, "fft_length": 32}, (2, 100, 1)),
    _stft("defaults_small", {"frame_length": 16}, (2, 64, 2)),
    _stft("odd_fft_magnitude", {"mode": "magnitude", "frame_length": 8, "frame_step": 4,
                                "fft_length": 13}, (2, 40, 1)),
    _stft("odd_frame_psd_hamming_periodic", {"mode": "psd", "frame_length": 7,
                                             "window": "hamming", "periodic": True},
          (1, 50, 2)),
    _stft("same_real", {"mode": "real", "frame_length": 10, "frame_step": 3,
                        "padding": "same"}, (2, 41, 2)),
    _stft("imag_no_window", {"mode": "imag", "frame_length": 12, "frame_step": 5,
                             "window": None, "scaling": None}, (2, 60, 1)),
    _stft("angle_spectrum", {"mode": "angle", "frame_length": 16, "frame_step": 8,
                             "scaling": "spectrum"}, (1, 70, 1)),
    _stft("stft_expand", {"mode": "stft", "frame_length": 16, "frame_step": 6,
                          "fft_length": 20, "expand_dims": True}, (2, 50, 3)),
    _stft("channels_first", {"frame_length": 16, "frame_step": 8,
                             "data_format": "channels_first"}, (2, 2, 80)),
    _stft("channels_first_expand_psd", {"mode": "psd", "frame_length": 9, "frame_step": 9,
                                        "fft_length": 15, "padding": "same",
                                        "data_format": "channels_first",
                                        "expand_dims": True}, (2, 3, 47)),
    _stft("window_values", {"mode": "magnitude", "frame_length": 8, "frame_step": 2,
                            "window": _WIN8}, (2, 30, 1)),
    _stft("blackman_symmetric_scaling_none", {"frame_length": 24, "frame_step": 12,
                                              "window": "blackman", "scaling": None},
          (1, 90, 1)),
    _stft("float64", {"mode": "stft", "frame_length": 16, "frame_step": 8,
                      "dtype": "float64"}, (2, 48, 1)),
    _stft("not_trainable", {"frame_length": 16, "trainable": False}, (1, 40, 1)),
    _mel("small", {"fft_length": 256, "sequence_stride": 128, "num_mel_bins": 32},
         (2, 2000)),
    _mel("hamming_sequence_length", {"fft_length": 256, "sequence_length": 200,
                                     "sequence_stride": 100, "window": "hamming",
                                     "min_freq": 100.0, "max_freq": 3000.0,
                                     "num_mel_bins": 24}, (2, 1800)),
    _mel("magnitude_linear", {"fft_length": 128, "sequence_stride": 32,
                              "power_to_db": False, "mag_exp": 1.0, "num_mel_bins": 16},
         (2, 600)),
    _mel("no_window", {"fft_length": 64, "sequence_stride": 32, "window": None,
                       "num_mel_bins": 12}, (2, 400)),
    _mel("top_db_ref_power", {"fft_length": 128, "sequence_stride": 64, "top_db": 20.0,
                              "ref_power": 0.01, "min_power": 1e-6, "mag_exp": 1.5,
                              "num_mel_bins": 16}, (2, 900)),
    _mel("odd_fft", {"fft_length": 255, "sequence_length": 200, "sequence_stride": 100,
                     "num_mel_bins": 20, "sampling_rate": 22050}, (2, 1500)),
    _mel("window_values", {"fft_length": 16, "sequence_length": 8, "sequence_stride": 4,
                           "window": _WIN8, "num_mel_bins": 6, "sampling_rate": 4000},
         (2, 100)),
    # no float64 case: Keras 3.15 (TensorFlow backend) fails on a float64 MelSpectrogram
    _mel("stride_edge", {"fft_length": 64, "sequence_stride": 50, "num_mel_bins": 8,
                         "max_freq": 6000}, (2, 499)),
    _mel("odd_sequence_length_hamming", {"fft_length": 128, "sequence_length": 101,
                                         "sequence_stride": 50, "window": "hamming",
                                         "num_mel_bins": 12}, (2, 700)),
    _mel("uniform_input", {"fft_length": 128, "sequence_stride": 40, "num_mel_bins": 10,
                           "min_freq": 0.0, "top_db": 60.0}, (1, 2, 500),
         input_kind="uniform4"),
]


# -- references beyond the generic cases (python -m tests.oracle_gen.audio) ----------------
#: Keras's own kernels: (name, frame_length, fft_length, window, periodic, scaling)
KERNELS = [
    ("hann", 16, None, "hann", False, "density"),
    ("hann_periodic_odd_fft", 12, 17, "hann", True, "density"),
    ("hamming_spectrum", 10, 16, "hamming", False, "spectrum"),
    ("none", 8, 8, None, False, "density"),
    ("values", 8, 11, _WIN8, False, "spectrum"),
    ("long_hann", 128, 256, "hann", False, "density"),
    ("odd_frame", 7, None, "hann", True, None),
] + [(f"win_{w}_{'p' if p else 's'}", n, None, w, p, "density")
     for w in ("barthann", "bartlett", "blackman", "blackmanharris", "bohman", "boxcar",
               "cosine", "exponential", "flattop", "hamming", "hann", "lanczos", "nuttall",
               "parzen", "taylor", "triang", "tukey", "hann_periodic", "hamm", "rect")
     for n, p in ((9, False), (16, True))]

#: keras.ops.stft: (name, sequence_length, sequence_stride, fft_length, window, center, shape)
STFT_OPS = [
    ("hann", 32, 8, 32, "hann", True, (2, 100)),
    ("hamming_pad", 20, 7, 32, "hamming", True, (3, 90)),
    ("none_nocenter", 16, 16, 16, None, False, (64,)),
    ("odd_fft", 10, 5, 15, "hann", True, (2, 60)),
    ("values", 8, 3, 9, _WIN8, False, (1, 2, 40)),
    ("odd_length_hamming", 11, 4, 16, "hamming", True, (2, 50)),  # TF: symmetric window
]


#: MelSpectrogram on one signal (the generic cases assume a batch axis): (name, config, shape)
MEL_REFS = [
    ("unbatched", {"fft_length": 128, "sequence_stride": 64, "sampling_rate": 8000,
                   "num_mel_bins": 20}, (1500,)),
    ("unbatched_odd", {"fft_length": 101, "sequence_stride": 33, "num_mel_bins": 9,
                       "power_to_db": False}, (400,)),
]


def generate_refs() -> None:
    import json
    import os
    from pathlib import Path

    import numpy as np

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    out = Path(__file__).resolve().parent.parent / "data" / "keras" / "generated_extra"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    arrays: dict[str, np.ndarray] = {}
    meta: dict = {"kernels": {}, "stft": {}, "mel": {}, "keras_version": keras.__version__}
    for name, length, fft, window, periodic, scaling in KERNELS:
        cfg = {"mode": "stft", "frame_length": length, "frame_step": max(length // 2, 1),
               "fft_length": fft, "window": window, "periodic": periodic,
               "scaling": scaling}
        layer = keras.layers.STFTSpectrogram(**cfg)
        x = rng.standard_normal((2, 4 * length + 3, 1)).astype("float32")
        y = np.asarray(layer(x))
        arrays[f"kernel_{name}__real"] = np.asarray(layer.real_kernel.numpy())
        arrays[f"kernel_{name}__imag"] = np.asarray(layer.imag_kernel.numpy())
        arrays[f"kernel_{name}__x"] = x
        arrays[f"kernel_{name}__y"] = y
        meta["kernels"][name] = layer.get_config()
    for name, length, stride, fft, window, center, shape in STFT_OPS:
        x = rng.standard_normal(shape).astype("float32")
        win = window if not isinstance(window, list) else np.asarray(window, "float32")
        real, imag = keras.ops.stft(x, length, stride, fft, window=win, center=center)
        arrays[f"stft_{name}__x"] = x
        arrays[f"stft_{name}__real"] = np.asarray(real)
        arrays[f"stft_{name}__imag"] = np.asarray(imag)
        meta["stft"][name] = {"sequence_length": length, "sequence_stride": stride,
                              "fft_length": fft, "window": window, "center": center}
    for name, config, shape in MEL_REFS:
        layer = keras.layers.MelSpectrogram(**config)
        x = rng.standard_normal(shape).astype("float32")
        arrays[f"mel_{name}__x"] = x
        arrays[f"mel_{name}__y"] = np.asarray(layer(x))
        meta["mel"][name] = layer.get_config()
    _write_models(keras, out, rng)
    (out / "audio_refs.json").write_text(json.dumps(meta, indent=1))
    np.savez_compressed(out / "audio_refs.npz", **arrays)
    print("wrote", out / "audio_refs.npz")


def _write_models(keras, out, rng) -> None:
    """Two small .keras files (audio_stft.keras, audio_mel.keras) and their inputs/outputs."""
    import numpy as np

    layers = keras.layers
    inp = keras.Input((400, 1))
    y = layers.STFTSpectrogram(frame_length=32, frame_step=16, mode="log")(inp)
    stft_model = keras.Model(inp, layers.Dense(3)(layers.Flatten()(y)))
    inp = keras.Input((800,))
    y = layers.MelSpectrogram(fft_length=128, sequence_stride=64, num_mel_bins=16)(inp)
    mel_model = keras.Model(inp, layers.Dense(2)(layers.Flatten()(y)))
    arrays = {}
    for name, model, shape in (("stft", stft_model, (2, 400, 1)),
                               ("mel", mel_model, (2, 800))):
        model.save(out / f"audio_{name}.keras")
        x = rng.standard_normal(shape).astype("float32")
        arrays[f"{name}__x"], arrays[f"{name}__y"] = x, np.asarray(model(x))
    np.savez_compressed(out / "audio_models_io.npz", **arrays)


if __name__ == "__main__":
    generate_refs()
