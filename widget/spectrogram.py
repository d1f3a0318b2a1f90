"""A spectrogram layer's output as an image: time (frames) across, frequency up.

:func:`spectrogram_axes` says where time and frequency lie in an STFTSpectrogram or
MelSpectrogram output (from the layer's class and config: ``data_format``,
``expand_dims``, ``mode``, ``power_to_db``); :func:`spectrogram_image` takes the first
sample's (first channel's) frequency x time plane; :func:`draw_spectrogram` draws it on a
matplotlib ``Figure`` (``imshow``, low frequencies at the bottom, a colorbar, labelled
axes). :class:`SpectrogramPanel` has :class:`widget.plots.HistogramPanel`'s interface
(``update``, ``box``, ``image``, ``renders``) so that the editor can show it in the
histogram's place for these layers (:func:`is_spectrogram`).

matplotlib is imported when the first figure is made.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np

SIZE = (3.6, 2.5)  # inches, at DPI -> 360 x 250 px (fonts readable when shrunk to 300 px)
DPI = 100
CMAP = "magma"
SPECTROGRAMS = ("STFTSpectrogram", "MelSpectrogram")
_STFT_UNITS = {"log": "log magnitude", "magnitude": "magnitude", "psd": "power density",
               "real": "real part", "imag": "imaginary part", "angle": "phase (rad)",
               "stft": "real | imaginary"}


@dataclass(frozen=True)
class Axes:
    """Where an output's time and frequency axes are (negative: from the end), and the
    image's labels."""

    time: int
    freq: int
    freq_label: str
    value_label: str


def is_spectrogram(class_name: str) -> bool:
    return class_name in SPECTROGRAMS


def spectrogram_axes(class_name: str, config: dict[str, Any]) -> Axes:
    """Time and frequency axes of a spectrogram layer's output (batch included)."""
    if class_name == "MelSpectrogram":
        if config.get("power_to_db", True):
            unit = "dB"
        else:
            unit = "power" if config.get("mag_exp", 2.0) == 2.0 else "magnitude"
        return Axes(time=-1, freq=-2, freq_label="mel bin", value_label=unit)
    mode = config.get("mode", "log")
    unit = _STFT_UNITS.get(mode, str(mode))
    label = "frequency bin" + (" (real | imag)" if mode == "stft" else "")
    first = config.get("data_format") == "channels_first"
    expand = bool(config.get("expand_dims", False))
    if first:
        return Axes(2, 3, label, unit) if expand else Axes(2, 1, label, unit)
    return Axes(1, 2, label, unit)


def spectrogram_image(values: np.ndarray, axes: Axes) -> np.ndarray:
    """The (frequency, time) plane of the first sample (and first channel)."""
    v = np.asarray(values)
    if v.ndim < 2:
        raise ValueError(f"a spectrogram has at least 2 axes, got shape {v.shape}")
    t, f = axes.time % v.ndim, axes.freq % v.ndim
    index = tuple(slice(None) if d in (t, f) else 0 for d in range(v.ndim))
    plane = v[index]
    return plane if f < t else plane.T  # rows: frequency


def draw_spectrogram(fig: Any, image: np.ndarray, axes: Axes, title: str = "") -> Any:
    """Draw a (frequency, time) image on ``fig`` (cleared first): frames across, bins up
    from 0, a colorbar labelled with the values' unit. Returns the image artist."""
    fig.clear()
    ax = fig.add_axes((0.15, 0.2, 0.62, 0.7))
    cax = fig.add_axes((0.8, 0.2, 0.03, 0.7))
    img = np.asarray(image, np.float64)
    finite = img[np.isfinite(img)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    n_freq, n_time = img.shape
    art = ax.imshow(img, origin="lower", aspect="auto", cmap=CMAP, vmin=lo, vmax=hi,
                    interpolation="nearest", extent=(-0.5, n_time - 0.5, -0.5, n_freq - 0.5))
    bar = fig.colorbar(art, cax=cax)
    bar.set_label(axes.value_label, fontsize=9, labelpad=2)
    bar.ax.tick_params(labelsize=8, length=2, pad=1)
    ax.set_xlabel("time (frame)", fontsize=9, labelpad=1)
    ax.set_ylabel(axes.freq_label, fontsize=9, labelpad=2)
    ax.tick_params(labelsize=8, length=2, pad=1)
    if title:
        ax.set_title(title, fontsize=9, pad=3)
    return art


def render_png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.canvas.print_png(buf, metadata={"Software": None}, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


class SpectrogramPanel:
    """A spectrogram output as an image, in a reused Figure shown as an Image widget.

    ``update`` takes the histogram panel's arguments; ``theory``, ``log_y``, ``overlay``
    and ``baseline`` mean nothing for an image and are ignored."""

    def __init__(self, key: str, class_name: str, config: dict[str, Any]):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.key = key
        self.axes = spectrogram_axes(class_name, config)
        self.fig = Figure(figsize=SIZE, dpi=DPI)
        FigureCanvasAgg(self.fig)
        self.caption = widgets.HTML(layout=widgets.Layout(margin="0", width="auto"))
        self.caption.add_class("layerlab-caption")
        self.image = widgets.Image(format="png", layout=widgets.Layout(
            height="auto", width="360px", min_width="0"))
        self.image.add_class("layerlab-plot")
        self.image.add_class("layerlab-spectrogram")
        self.image.add_class(f"layerlab-plot-{key.replace('/', '-')}")
        self.box = widgets.VBox([self.caption, self.image], layout=widgets.Layout(
            min_width="0", margin="0 4px 6px 0"))
        self.box.add_class("layerlab-panel")
        self._data: np.ndarray | None = None
        self.renders = 0

    def configure(self, class_name: str, config: dict[str, Any]) -> None:
        """Follow a config edit (data_format, expand_dims, mode... move the axes)."""
        axes = spectrogram_axes(class_name, config)
        if axes != self.axes:
            self.axes, self._data = axes, None

    def update(self, values: np.ndarray, theory: Any = None, caption: str = "", *,
               log_y: bool = False, overlay: bool = False,
               baseline: np.ndarray | None = None) -> bool:
        """Show ``values``; returns False when the picture is unchanged."""
        if self.caption.value != caption:
            self.caption.value = caption
        plane = spectrogram_image(values, self.axes)
        if self._data is not None and self._data.shape == plane.shape and \
                np.array_equal(self._data, plane, equal_nan=True):
            return False
        self._data = plane.copy()
        draw_spectrogram(self.fig, plane, self.axes, "sample 0")
        self.image.value = render_png(self.fig)
        self.renders += 1
        return True


__all__ = ["Axes", "SpectrogramPanel", "draw_spectrogram", "is_spectrogram",
           "spectrogram_axes", "spectrogram_image"]
