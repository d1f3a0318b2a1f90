"""Audio preprocessing layers: STFTSpectrogram and MelSpectrogram (Keras 3 only).

Helpers, each Keras 3.15's computation in NumPy:

* :func:`get_window`: SciPy's ``get_window`` for the windows that take no parameter
  (hann, hamming, blackman, ... with SciPy's aliases and ``_periodic``/``_symmetric``).
* :func:`stft_kernels`: the real and imaginary convolution kernels of Keras's ``STFT``
  initializer (computed in the weight dtype's arithmetic, as Keras does).
* :func:`stft`: ``keras.ops.stft`` (reflect-centered frames, a window zero-padded to
  ``fft_length``, ``numpy.fft.rfft``).
* :func:`mel_filter_bank`: ``linear_to_mel_weight_matrix`` (HTK mel scale, DC bin zero).
* :func:`power_to_db`: ``10 log10`` with ``min_power``, ``ref_power`` and ``top_db``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ...errors import BudgetError, ConfigError, describe
from ...fields import KERAS3, Bool, Choice, DataFormat, Field, Float, Int, is_number
from ..base import Layer

__all__ = ["STFTSpectrogram", "MelSpectrogram", "get_window", "stft_kernels", "stft",
           "mel_filter_bank", "power_to_db", "WINDOW_NAMES"]

_EPSILON = 1e-7  # keras.backend.epsilon()


# -- windows (SciPy's formulas, float64) --------------------------------------------------
def _cosine_sum(coefs: tuple[float, ...]) -> Callable[[int], np.ndarray]:
    def window(m: int) -> np.ndarray:
        fac = np.linspace(-np.pi, np.pi, m)
        return sum(a * np.cos(k * fac) for k, a in enumerate(coefs))
    return window


def _triang(m: int) -> np.ndarray:
    n = np.arange(1, (m + 1) // 2 + 1, dtype=np.float64)
    if m % 2 == 0:
        w = (2 * n - 1.0) / m
        return np.concatenate([w, w[::-1]])
    w = 2 * n / (m + 1.0)
    return np.concatenate([w, w[-2::-1]])


def _parzen(m: int) -> np.ndarray:
    n = np.abs(np.arange(-(m - 1) / 2.0, (m - 1) / 2.0 + 0.5, 1.0))
    return np.where(n <= (m - 1) / 4.0, 1 - 6 * (n / (m / 2.0)) ** 2 + 6 * (n / (m / 2.0)) ** 3,
                    2 * (1 - n / (m / 2.0)) ** 3)


def _bohman(m: int) -> np.ndarray:
    fac = np.abs(np.linspace(-1, 1, m)[1:-1])
    w = (1 - fac) * np.cos(np.pi * fac) + 1.0 / np.pi * np.sin(np.pi * fac)
    return np.concatenate([[0.0], w, [0.0]])


def _bartlett(m: int) -> np.ndarray:
    n = np.arange(m, dtype=np.float64)
    return np.where(n <= (m - 1) / 2.0, 2.0 * n / (m - 1), 2.0 - 2.0 * n / (m - 1))


def _tukey(m: int, alpha: float = 0.5) -> np.ndarray:
    n = np.arange(m, dtype=np.float64)
    width = int(math.floor(alpha * (m - 1) / 2.0))
    n1, n3 = n[:width + 1], n[m - width - 1:]
    w1 = 0.5 * (1 + np.cos(np.pi * (-1 + 2.0 * n1 / alpha / (m - 1))))
    w3 = 0.5 * (1 + np.cos(np.pi * (-2.0 / alpha + 1 + 2.0 * n3 / alpha / (m - 1))))
    return np.concatenate([w1, np.ones(max(m - 2 * width - 2, 0)), w3])


def _barthann(m: int) -> np.ndarray:
    fac = np.abs(np.arange(m) / (m - 1.0) - 0.5)
    return 0.62 - 0.48 * fac + 0.38 * np.cos(2 * np.pi * fac)


def _exponential(m: int) -> np.ndarray:
    return np.exp(-np.abs(np.arange(m) - (m - 1) / 2))


def _taylor(m: int, nbar: int = 4, sll: float = 30.0) -> np.ndarray:
    a = np.arccosh(10 ** (sll / 20)) / np.pi
    s2 = nbar ** 2 / (a ** 2 + (nbar - 0.5) ** 2)
    ma = np.arange(1, nbar, dtype=np.float64)
    m2 = ma * ma
    fm = np.empty(nbar - 1)
    for i in range(nbar - 1):
        numer = (1 if i % 2 == 0 else -1) * np.prod(1 - m2[i] / s2 / (a ** 2 + (ma - 0.5) ** 2))
        denom = 2 * np.prod(1 - m2[i] / m2[:i]) * np.prod(1 - m2[i] / m2[i + 1:])
        fm[i] = numer / denom

    def w_at(n: Any) -> Any:
        return 1 + 2 * np.matmul(fm, np.cos(2 * np.pi * ma[:, None] * (n - m / 2.0 + 0.5) / m))

    return w_at(np.arange(m, dtype=np.float64)) / w_at((m - 1) / 2)


def _cosine(m: int) -> np.ndarray:
    return np.sin(np.pi / m * (np.arange(m) + 0.5))


def _lanczos(m: int) -> np.ndarray:
    if m % 2 == 0:
        wh = np.sinc(2.0 * np.arange(m / 2, m) / (m - 1) - 1.0)
        return np.concatenate([wh[::-1], wh])
    wh = np.sinc(2.0 * np.arange((m + 1) / 2, m) / (m - 1) - 1.0)
    return np.concatenate([wh[::-1], [1.0], wh])


_WINDOW_TABLE: dict[tuple[str, ...], Callable[[int], np.ndarray]] = {
    ("barthann", "brthan", "bth"): _barthann,
    ("bartlett", "bart", "brt"): _bartlett,
    ("blackman", "black", "blk"): _cosine_sum((0.42, 0.50, 0.08)),
    ("blackmanharris", "blackharr", "bkh"): _cosine_sum((0.35875, 0.48829, 0.14128, 0.01168)),
    ("bohman", "bman", "bmn"): _bohman,
    ("boxcar", "box", "ones", "rect", "rectangular"): np.ones,
    ("cosine", "halfcosine"): _cosine,
    ("exponential", "poisson"): _exponential,
    ("flattop", "flat", "flt"): _cosine_sum((0.21557895, 0.41663158, 0.277263158, 0.083578947,
                                             0.006947368)),
    ("hamming", "hamm", "ham"): _cosine_sum((0.54, 0.46)),
    ("hann", "han"): _cosine_sum((0.5, 0.5)),
    ("lanczos", "sinc"): _lanczos,
    ("nuttall", "nutl", "nut"): _cosine_sum((0.3635819, 0.4891775, 0.1365995, 0.0106411)),
    ("parzen", "parz", "par"): _parzen,
    ("taylor", "taylorwin"): _taylor,
    ("triangle", "triang", "tri"): _triang,
    ("tukey", "tuk"): _tukey,
}
_WINDOWS = {name: fn for names, fn in _WINDOW_TABLE.items() for name in names}
#: the window names STFTSpectrogram accepts (SciPy's windows that need no parameter)
WINDOW_NAMES = tuple(names[0] for names in _WINDOW_TABLE)


def _window_name(name: str) -> tuple[str, bool | None]:
    """``'hann_periodic'`` -> ``('hann', True)``; the flag is None without a suffix."""
    if name.endswith("_symmetric"):
        return name[:-10], False
    if name.endswith("_periodic"):
        return name[:-9], True
    return name, None


def get_window(window: str, length: int, periodic: bool = True) -> np.ndarray:
    """SciPy's ``get_window(window, length, fftbins=periodic)`` for a parameterless window
    name (float64). A ``_periodic``/``_symmetric`` suffix overrides ``periodic``."""
    name, forced = _window_name(window)
    if name not in _WINDOWS:
        raise ValueError(f"unknown window {window!r}; known: {', '.join(WINDOW_NAMES)}")
    periodic = periodic if forced is None else forced
    if length <= 1:
        return np.ones(length)
    m = length + 1 if periodic else length
    w = np.asarray(_WINDOWS[name](m), np.float64)
    return w[:-1] if periodic else w


class Window(Field):
    """A window: a name, a list of numbers (its values), or None (no window).

    ``allowed`` limits the names (MelSpectrogram: ``hann``, ``hamming``); by default every
    name :func:`get_window` knows. ``choices`` lists the names (the form's dropdown).
    """

    kind = "window"

    def __init__(self, name: str, default: Any, doc: str = "", *,
                 allowed: tuple[str, ...] | None = None, **kw: Any):
        kw.setdefault("choices", allowed or WINDOW_NAMES)
        super().__init__(name, default, doc, optional=True, **kw)
        self.allowed = allowed

    def expected(self) -> str:
        names = self.allowed or WINDOW_NAMES
        return (f"a window name ({', '.join(repr(n) for n in names)}), a list of numbers, "
                f"or None")

    def _check(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            ok = value in self.allowed if self.allowed else _window_name(value)[0] in _WINDOWS
            if not ok:
                raise ConfigError(path, f"expected {self.expected()}, got {describe(value)}")
            return value
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if isinstance(value, (list, tuple)) and value and all(
                is_number(v) and math.isfinite(v) for v in value):
            return [float(v) for v in value]
        raise self._wrong(value, path)


# -- the computations --------------------------------------------------------------------
def _float_dtype(dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    return dt if dt in (np.float32, np.float64) else np.dtype(np.float32)


def stft_kernels(frame_length: int, fft_length: int, window: Any = "hann",
                 scaling: str | None = "density", periodic: bool = False,
                 dtype: Any = "float32") -> tuple[np.ndarray, np.ndarray]:
    """Keras's ``STFT`` initializer: ``(real, imag)``, each ``(frame_length, 1, bins)`` with
    ``bins = fft_length // 2 + 1`` and angle ``-2 pi t k / ((bins - 1) * 2)`` (so an odd
    ``fft_length`` acts as ``fft_length - 1``), times the window divided by its L2 norm
    (``density``) or L1 norm (``spectrum``). Computed in ``dtype``'s arithmetic, in Keras's
    order, so a float32 kernel equals Keras's to the last bit or so.
    """
    dt = _float_dtype(dtype)
    bins = fft_length // 2 + 1
    freq = np.arange(bins, dtype=dt) / dt.type((bins - 1) * 2)
    time = np.arange(frame_length, dtype=dt)
    args = (dt.type(-2) * time)[:, None] * freq[None, :] * dt.type(np.pi)
    real = np.cos(args.astype(np.float64)).astype(dt)
    imag = np.sin(args.astype(np.float64)).astype(dt)
    if window is not None:
        win = (get_window(window, frame_length, periodic) if isinstance(window, str)
               else np.asarray(window, np.float64)).astype(dt)
        scale = dt.type(1)
        if scaling == "density":
            scale = np.sqrt(dt.type(np.sum(np.square(win.astype(np.float64)))))
        elif scaling == "spectrum":
            scale = dt.type(np.sum(np.abs(win.astype(np.float64))))
        real = (real * win[:, None]) / scale
        imag = (imag * win[:, None]) / scale
    return real[:, None, :], imag[:, None, :]


def _frames(x: np.ndarray, length: int, step: int) -> np.ndarray:
    """``(..., time)`` -> a read-only view ``(..., n, length)`` of frames ``step`` apart."""
    x = np.ascontiguousarray(x)
    n = max((x.shape[-1] - length) // step + 1, 0)
    s = x.strides[-1]
    return np.lib.stride_tricks.as_strided(x, x.shape[:-1] + (n, length),
                                           x.strides[:-1] + (s * step, s), writeable=False)


def stft(x: np.ndarray, sequence_length: int, sequence_stride: int, fft_length: int,
         window: Any = "hann", center: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``keras.ops.stft`` along the last axis: ``(real, imag)``, each ``(..., frames,
    fft_length // 2 + 1)``, in float64. A named window is TensorFlow's (Keras's default
    backend): periodic for an even ``sequence_length``, symmetric for an odd one (Keras's
    NumPy and JAX backends take SciPy's periodic window for both). It is zero-padded to
    ``fft_length`` (centred); ``center`` reflect-pads ``fft_length // 2`` each side."""
    x = np.asarray(x, np.float64)
    if center:
        half = fft_length // 2
        if half >= x.shape[-1]:
            raise ValueError(f"stft: centering reflects {half} samples on each side, so the "
                             f"signal needs more than {half} samples, got {x.shape[-1]}")
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(half, half)], mode="reflect")
    left = (fft_length - sequence_length) // 2
    if window is None:
        win = np.ones(fft_length)
    else:
        # TensorFlow's hann_window/hamming_window: periodic only for an even length
        win = (get_window(window, sequence_length, sequence_length % 2 == 0)
               if isinstance(window, str) else np.asarray(window, np.float64))
        win = np.pad(win, [(left, fft_length - sequence_length - left)])
    spec = np.fft.rfft(_frames(x, fft_length, sequence_stride) * win, n=fft_length, axis=-1)
    return spec.real, spec.imag


def _hertz_to_mel(hz: Any) -> Any:
    return 1127.0 * np.log(1.0 + np.asarray(hz, np.float64) / 700.0)


def mel_filter_bank(num_mel_bins: int, num_spectrogram_bins: int, sampling_rate: float,
                    lower_edge_hertz: float, upper_edge_hertz: float) -> np.ndarray:
    """Keras's ``linear_to_mel_weight_matrix``: ``(num_spectrogram_bins, num_mel_bins)``
    float32 triangles (peak 1, linear in mel) over ``[lower, upper]`` Hz; the DC row is 0."""
    freqs = np.linspace(0.0, sampling_rate / 2.0, num_spectrogram_bins)[1:]
    mel = _hertz_to_mel(freqs)[:, None]
    edges = np.linspace(_hertz_to_mel(lower_edge_hertz), _hertz_to_mel(upper_edge_hertz),
                        num_mel_bins + 2)
    lower, centre, upper = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        slopes = np.minimum((mel - lower) / (centre - lower), (upper - mel) / (upper - centre))
    return np.pad(np.maximum(0.0, slopes), [(1, 0), (0, 0)]).astype(np.float32)


def power_to_db(power: np.ndarray, top_db: float = 80.0, min_power: float = 1e-10,
                ref_power: float = 1.0) -> np.ndarray:
    """``10 log10(max(S, min_power) / max(|ref_power|, min_power))``, floored at the
    largest value of the whole array (every batch item together, as Keras) minus
    ``top_db``."""
    db = 10.0 * np.log10(np.maximum(power, min_power))
    db = db - 10.0 * np.log10(max(abs(ref_power), min_power))
    if db.size == 0:
        return db
    return np.maximum(db, db.max() - top_db)


def _check_size(layer: Layer, what: str, count: int) -> None:
    """Refuse, at config time, sizes whose arrays would pass the layer's element limit."""
    if count > layer._budget:
        raise BudgetError(layer._path or layer.name, f"{type(layer).__name__} {layer.name!r}: "
                          f"{what} would hold {count:,} elements, over the budget of "
                          f"{layer._budget:,}. Use smaller sizes, or raise the budget with "
                          f"deserialize(..., max_weight_elements=N).")


# -- the layers ------------------------------------------------------------------------------
class STFTSpectrogram(Layer):
    """Short-time Fourier transform of each channel, as a strided 1-D convolution with the
    trainable kernels ``real_kernel`` and ``imag_kernel`` (``(frame_length, 1, bins)``,
    ``bins = fft_length // 2 + 1``; see :func:`stft_kernels`; mode ``'real'`` has no imaginary
    kernel, mode ``'imag'`` no real one).

    Modes, with ``P = real^2 + imag^2``: ``real``, ``imag``, ``angle`` (``arctan2(imag,
    real)``), ``stft`` (real then imag bins), ``psd`` (``P``, doubled except the first and
    last bins), ``magnitude`` (``sqrt(max(P, 1e-7))``), ``log`` (``log`` of the magnitude).

    Input shape: ``(batch, time, channels)`` (channels_last) or ``(batch, channels, time)``.
    Output shape: channels_last ``(batch, frames, channels * bins)``, or with ``expand_dims``
    ``(batch, frames, bins, channels)``; channels_first ``(batch, channels * bins, frames)``,
    or ``(batch, channels, frames, bins)``. ``frames`` is ``(time - frame_length) //
    frame_step + 1`` for ``'valid'`` padding, ``ceil(time / frame_step)`` for ``'same'``.

    Example::

        layer = STFTSpectrogram(frame_length=64, frame_step=32, fft_length=64)
        layer(np.zeros((2, 1000, 1), "float32")).shape  # (2, 30, 33)
    """

    keras_formats = (KERAS3,)
    positional = ("mode", "frame_length", "frame_step", "fft_length", "window", "periodic",
                  "scaling", "padding", "expand_dims", "data_format")
    fields = (
        Choice("mode", "log", "Output: log or plain magnitude, power density, real or "
               "imaginary part, phase angle, or real and imaginary bins side by side.",
               choices=("log", "magnitude", "psd", "real", "imag", "angle", "stft"),
               lower=False),
        Int("frame_length", 256, "Samples per frame (the window's length).", min=1),
        Int("frame_step", None, "Samples between frames (None: frame_length // 2).", min=1),
        Int("fft_length", None, "FFT size, >= frame_length (None: the next power of two); an "
            "odd size acts as one less.", min=1),
        Window("window", "hann", "Window: a SciPy window name, a list of frame_length "
               "values, or None."),
        Bool("periodic", False, "Periodic rather than symmetric window."),
        Choice("scaling", "density", "Divide the window by its L2 norm (density), L1 norm "
               "(spectrum), or not at all (None).", choices=("density", "spectrum"),
               optional=True, lower=False),
        Choice("padding", "valid", "valid: whole frames only; same: ceil(time / frame_step) "
               "frames.", choices=("valid", "same"), lower=False),
        DataFormat("data_format"),
        Bool("expand_dims", False, "Keep channels on their own axis (an image per channel)."),
    )

    def _post_init(self) -> None:
        length = self.frame_length
        step = self.frame_step if self.frame_step is not None else length // 2
        if step < 1:
            raise self.config_error("frame_step", f"frame_length {length} needs an explicit "
                                    f"frame_step (its default, frame_length // 2, is 0)")
        if step > length:
            raise self.config_error("frame_step", f"must be <= frame_length ({length}), got "
                                    f"{step}")
        fft = self.fft_length
        if fft is not None and fft < length:
            raise self.config_error("fft_length", f"must be >= frame_length ({length}), got "
                                    f"{fft}")
        fft = fft if fft is not None else 2 ** int(math.ceil(math.log2(length)))
        if fft // 2 + 1 < 2:
            raise self.config_error("fft_length" if self.fft_length else "frame_length",
                                    "the FFT needs at least 2 points (Keras builds NaN "
                                    "kernels for a 1-point FFT)")
        if isinstance(self.window, list) and len(self.window) != length:
            raise self.config_error("window", f"a window given as values must have "
                                    f"frame_length ({length}) of them, got {len(self.window)}")
        self._step, self._fft = step, fft
        self._bins = fft // 2 + 1
        kernels = (self.mode != "imag") + (self.mode != "real")
        _check_size(self, f"the kernels (fft_length {fft}, frame_length {length})",
                    kernels * length * self._bins)

    def build(self, input_shape=None):
        shape = (self.frame_length, 1, self._bins)
        args = (self.frame_length, self._fft, self.window, self.scaling, self.periodic)
        kernels = stft_kernels(*args, dtype=self.dtype)
        self.real_kernel = self.imag_kernel = None
        # Keras 3 marks a non-trainable layer's variables non-trainable
        if self.mode != "imag":
            self.real_kernel = self.add_weight(
                "real_kernel", shape, lambda s, dtype=None: kernels[0],
                trainable=self.trainable, field="window")
        if self.mode != "real":
            self.imag_kernel = self.add_weight(
                "imag_kernel", shape, lambda s, dtype=None: kernels[1],
                trainable=self.trainable, field="window")

    def _time_and_channels(self, shape: tuple) -> tuple[Any, Any]:
        if len(shape) != 3:
            raise ValueError(f"STFTSpectrogram {self.name!r} expects inputs of rank 3, got "
                             f"shape {tuple(shape)}")
        if self.data_format == "channels_last":
            return shape[1], shape[2]
        return shape[2], shape[1]

    def _frame_count(self, time: int | None) -> int | None:
        if time is None:
            return None
        if self.padding == "same":
            return -(-time // self._step)
        return (time - self.frame_length) // self._step + 1

    def call_intermediate_bytes(self, input_shape) -> int:
        """The float64 frames (``batch * channels * frames * frame_length``) and the
        complex-free spectra (``2 * batch * channels * frames * bins``), checked against the
        activation budget before ``call`` runs."""
        shape = tuple(input_shape)
        if len(shape) != 3:
            return 0
        time, channels = self._time_and_channels(shape)
        frames = self._frame_count(time)
        if None in (shape[0], channels, frames) or frames < 1:
            return 0
        rows = shape[0] * channels * frames
        return 8 * rows * (self.frame_length + 2 * self._bins)

    def _conv(self, signals: np.ndarray, kernel: Any) -> np.ndarray:
        """``(rows, time)`` signals -> ``(rows, frames, bins)``, float64."""
        k = np.asarray(kernel.value, np.float64)[:, 0, :]
        return np.matmul(_frames(signals, self.frame_length, self._step), k)

    def call(self, inputs):
        x = np.asarray(inputs)
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"STFTSpectrogram {self.name!r} expects float inputs, got "
                            f"{x.dtype}")
        time, channels = self._time_and_channels(x.shape)
        frames = self._frame_count(time)
        if frames < 1:
            raise ValueError(f"STFTSpectrogram {self.name!r}: {time} samples give no frame of "
                             f"{self.frame_length} with padding 'valid'")
        batch = x.shape[0]
        signals = (np.swapaxes(x, 1, 2) if self.data_format == "channels_last" else x)
        signals = signals.reshape(batch * channels, time).astype(np.float64)
        if self.padding == "same":
            total = max((frames - 1) * self._step + self.frame_length - time, 0)
            signals = np.pad(signals, [(0, 0), (total // 2, total - total // 2)])
        real = self._conv(signals, self.real_kernel) if self.real_kernel else None
        imag = self._conv(signals, self.imag_kernel) if self.imag_kernel else None
        out = self._mode_output(real, imag)
        out = out.reshape(batch, channels, frames, out.shape[-1])
        return self._arrange(out).astype(self.compute_dtype)

    def _mode_output(self, real: Any, imag: Any) -> np.ndarray:
        mode = self.mode
        if mode == "real":
            return real
        if mode == "imag":
            return imag
        if mode == "angle":
            return np.arctan2(imag, real)
        if mode == "stft":
            return np.concatenate([real, imag], axis=-1)
        power = real * real + imag * imag
        if mode == "psd":
            power[..., 1:-1] *= 2
            return power
        magnitude = np.sqrt(np.maximum(power, _EPSILON))
        if mode == "magnitude":
            return magnitude
        return np.log(np.maximum(magnitude, _EPSILON))

    def _arrange(self, out: np.ndarray) -> np.ndarray:
        """``(batch, channels, frames, bins)`` -> Keras's output layout."""
        b, c, t, f = out.shape
        if self.data_format == "channels_last":
            if self.expand_dims:
                return out.transpose(0, 2, 3, 1)
            return out.transpose(0, 2, 1, 3).reshape(b, t, c * f)
        if self.expand_dims:
            return out
        return out.transpose(0, 1, 3, 2).reshape(b, c * f, t)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        time, channels = self._time_and_channels(shape)
        frames = self._frame_count(time)
        bins = self._bins * (2 if self.mode == "stft" else 1)
        if self.expand_dims:
            if self.data_format == "channels_last":
                return (shape[0], frames, bins, channels)
            return (shape[0], channels, frames, bins)
        width = None if channels is None else channels * bins
        if self.data_format == "channels_last":
            return (shape[0], frames, width)
        return (shape[0], width, frames)


class MelSpectrogram(Layer):
    """Mel spectrogram of raw audio: ``|stft(x)| ** mag_exp`` (periodic window, frames
    centred by reflection, see :func:`stft`) mapped to ``num_mel_bins`` mel bands between
    ``min_freq`` and ``max_freq`` (:func:`mel_filter_bank`), then with ``power_to_db``
    :func:`power_to_db` (``top_db`` below the largest value of the whole batch). No weights.

    Input shape: ``(..., samples)`` (one signal or a batch). Output shape: ``(...,
    num_mel_bins, frames)`` with ``frames = 1 + (samples + 2 * (fft_length // 2) -
    fft_length) // sequence_stride``. (Keras's ``compute_output_shape`` says ``(samples +
    sequence_stride + 1) // sequence_stride``, which is off by one for some lengths; this
    one gives the shape ``call`` returns.)

    Example::

        layer = MelSpectrogram(fft_length=256, sequence_stride=128, num_mel_bins=32)
        layer(np.zeros((2, 4000), "float32")).shape  # (2, 32, 32)
    """

    keras_formats = (KERAS3,)
    fields = (
        Int("fft_length", 2048, "FFT size.", min=1),
        Int("sequence_stride", 512, "Samples between frames.", min=1),
        Int("sequence_length", None, "Window length, <= fft_length (None or 0: fft_length).",
            min=0),
        Window("window", "hann", "Window: 'hann', 'hamming', a list of sequence_length values, "
               "or None.", allowed=("hann", "hamming")),
        Float("sampling_rate", 16000, "Samples per second.", min=0, min_open=True),
        Int("num_mel_bins", 128, "Number of mel bands.", min=1),
        Float("min_freq", 20.0, "Lower edge of the lowest band (Hz).", min=0),
        Float("max_freq", None, "Upper edge of the highest band (Hz; None or 0: "
              "sampling_rate / 2).", min=0),
        Bool("power_to_db", True, "Convert the mel power to decibels."),
        Float("top_db", 80.0, "Floor, in dB below the largest value."),
        Float("mag_exp", 2.0, "Exponent of the magnitude (1: magnitude, 2: power)."),
        Float("min_power", 1e-10, "Smallest power (and ref_power) before the log.", min=0,
              min_open=True),
        Float("ref_power", 1.0, "Reference power: 0 dB."),
    )

    def _post_init(self) -> None:
        fft = self.fft_length
        if not self.sequence_length:
            self.sequence_length = fft
        if self.sequence_length > fft:
            raise self.config_error("sequence_length", f"must be <= fft_length ({fft}), got "
                                    f"{self.sequence_length}")
        if not self.max_freq:
            self.max_freq = int(self.sampling_rate / 2)
        if self.min_freq >= self.max_freq:
            raise self.config_error("min_freq", f"must be < max_freq ({self.max_freq}), got "
                                    f"{self.min_freq}")
        if isinstance(self.window, list) and len(self.window) != self.sequence_length:
            raise self.config_error("window", f"a window given as values must have "
                                    f"sequence_length ({self.sequence_length}) of them, got "
                                    f"{len(self.window)}")
        _check_size(self, f"the mel filter bank (fft_length {fft}, num_mel_bins "
                    f"{self.num_mel_bins})", (fft // 2 + 1) * self.num_mel_bins)

    def _frame_count(self, samples: int | None) -> int | None:
        if samples is None:
            return None
        fft = self.fft_length
        return 1 + (samples + 2 * (fft // 2) - fft) // self.sequence_stride

    def call(self, inputs):
        x = np.asarray(inputs)
        if x.ndim < 1:
            raise ValueError(f"MelSpectrogram {self.name!r} expects (..., samples), got a "
                             f"scalar")
        dtype = _float_dtype(self.compute_dtype)
        real, imag = stft(x.astype(dtype), self.sequence_length, self.sequence_stride,
                          self.fft_length, self.window, center=True)
        spec = np.sqrt(real * real + imag * imag) ** self.mag_exp
        bank = mel_filter_bank(self.num_mel_bins, spec.shape[-1], self.sampling_rate,
                               self.min_freq, self.max_freq)
        out = np.matmul(spec, bank.astype(np.float64))
        if self.power_to_db:
            out = power_to_db(out, self.top_db, self.min_power, self.ref_power)
        return np.swapaxes(out, -1, -2).astype(self.compute_dtype)

    def call_intermediate_bytes(self, input_shape) -> int:
        """The windowed float64 frames and their complex spectrum (``signals * frames *
        fft_length``, three times over), checked against the activation budget before
        ``call`` runs."""
        shape = tuple(input_shape)
        if not shape or any(d is None for d in shape):
            return 0
        frames = max(self._frame_count(shape[-1]), 0)
        return 3 * 8 * math.prod(shape[:-1]) * frames * self.fft_length

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        return shape[:-1] + (self.num_mel_bins, self._frame_count(shape[-1]))
