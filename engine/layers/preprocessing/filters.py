"""Filter and histogram layers: RandomSharpness, RandomGaussianBlur, Equalization and
ContrastLimitedAdaptiveHistogramEqualization (CLAHE)."""

from __future__ import annotations

import numpy as np

from ...fields import REQUIRED, DataFormat, Float, Int, IntTuple, Seed
from ...fields.ranges import Factor, OddSizes, ValueRange
from .image_layer import ImagePreprocessingLayer, Keras3ImageLayer
from .image_ops import depthwise_same, gaussian_kernel, to_value_range

__all__ = ["RandomSharpness", "RandomGaussianBlur", "Equalization",
           "ContrastLimitedAdaptiveHistogramEqualization"]


class RandomSharpness(Keras3ImageLayer):
    """Training: ``x + (1 - 2 f) * (smooth(x) - x)`` with the 3x3 smoothing kernel
    ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13`` (zero padded), f drawn from the factor
    range, clipped to ``value_range`` (Keras 3's formula). Inference: identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "value_range", "data_format", "seed")

    fields = (
        DataFormat(),
        Factor("factor", REQUIRED, "Sharpness range: f for [0, f], or [lower, upper].", min=0),
        ValueRange(),
        Seed(),
    )

    def _augment(self, x):
        f = self._rng.uniform(*self.factor, size=(x.shape[0], 1, 1, 1)) * 2
        h, w = x.shape[1:3]
        padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        smooth = np.zeros_like(x)
        for dy in range(3):  # the nine taps of the 3x3 kernel
            for dx in range(3):
                weight = np.float32(5.0 / 13.0 if dy == dx == 1 else 1.0 / 13.0)
                smooth += weight * padded[:, dy:dy + h, dx:dx + w]
        out = x + (1.0 - f.astype(np.float32)) * (smooth - x)
        return np.clip(out, *self.value_range)


class RandomGaussianBlur(Keras3ImageLayer):
    """Training: blurs an image with probability drawn from ``factor``, with a Gaussian
    kernel of ``kernel_size`` and standard deviations drawn from ``sigma`` (one pair per
    call, as Keras 3), zero padded; the result is clipped to ``value_range``. Inference:
    identity.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("factor", "kernel_size", "sigma", "value_range", "data_format", "seed")

    fields = (
        DataFormat(),
        Factor("factor", 1.0, "Blur probability: f for [0, f], or [lower, upper].", min=0),
        OddSizes("kernel_size", 3, "Odd kernel size, or [height, width]."),
        Factor("sigma", 1.0, "Standard deviation range: f for [0, f], or [lower, upper].",
               min=0),
        ValueRange(),
        Seed(),
    )

    def _augment(self, x):
        n = x.shape[0]
        prob = self._rng.uniform(*self.factor, size=n)
        apply = self._rng.uniform(size=n) < prob
        sigma = self._rng.uniform(*self.sigma, size=2).astype(np.float32) + \
            np.float32(1e-6)
        blurred = depthwise_same(x.astype(np.float32, copy=False),
                                 gaussian_kernel(self.kernel_size, sigma))
        out = np.where(apply[:, None, None, None], blurred, x)
        return np.clip(out, *self.value_range)


class Equalization(Keras3ImageLayer):
    """Histogram equalization per channel (statistics over the whole batch, as Keras 3):
    values mapped to 0..255 are binned into ``bins`` buckets and replaced through the
    rounded, rescaled cumulative histogram; a channel with a single occupied bin is left
    unchanged. Training only: identity at inference, as Keras 3.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("value_range", "bins", "data_format")

    fields = (
        DataFormat(),
        Int("bins", 256, "Number of histogram bins.", min=1),
        ValueRange(),
    )

    def _augment(self, x):
        x = x.astype(np.float32, copy=False)
        chans = np.moveaxis(x, -1, 0)
        return np.stack([self._equalize(c) for c in chans], axis=-1)  # loop over channels

    def _equalize(self, channel: np.ndarray) -> np.ndarray:
        lo, hi = (float(v) for v in self.value_range)
        f255 = np.float32(255.0)
        scale = 255.0 / (hi - lo)
        c = channel * np.float32(scale) + np.float32(-lo * scale)
        nb = self.bins
        idx = np.clip((c * np.float32(nb - 1) / f255).astype(np.int32), 0, nb - 1)
        hist = np.bincount(idx.ravel(), minlength=nb)
        if np.count_nonzero(hist) <= 1:
            eq = c
        else:
            cdf = np.cumsum(hist)
            cmin = cdf[np.nonzero(cdf)[0][0]]
            den = cdf[-1] - cmin
            den = den if den != 0 else 1
            table = np.clip(np.round(((cdf - cmin) * 255).astype(np.float32) /
                                     np.float32(den)), 0, 255)
            pos = np.clip((c / f255) * np.float32(nb - 1), 0, nb - 1).astype(np.int32)
            eq = table[pos]
        scale = (hi - lo) / 255.0
        return (eq * np.float32(scale) + np.float32(lo)).astype(np.float32)


class ContrastLimitedAdaptiveHistogramEqualization(Keras3ImageLayer):
    """CLAHE as Keras 3 computes it, at inference and in training (deterministic): values
    mapped to 0..255, the image padded (symmetric) to a whole number of
    ``tile_grid_size`` tiles, a 256-bin histogram per tile and channel clipped at
    ``clip_limit * tile_pixels / 256`` with the excess spread evenly, each tile's
    normalized CDF as a lookup table, and the tables of the four nearest tile centres
    blended bilinearly per pixel.

    Input/output shape: ``(batch, H, W, C)`` or ``(H, W, C)``. No weights.
    """

    #: Keras's constructor order
    positional = ("value_range", "clip_limit", "tile_grid_size", "data_format")

    fields = (
        DataFormat(),
        ValueRange(),
        Float("clip_limit", 4.0, "Histogram clip factor (<= 0: no clipping)."),
        IntTuple("tile_grid_size", (8, 8), "Tiles along height and width.", length=2, min=1),
    )

    def _inference(self, x):
        return ImagePreprocessingLayer.call(self, x, training=True)

    def _augment(self, x):
        img = to_value_range(x.astype(np.float32, copy=False), self.value_range, (0, 255))
        out = self._clahe(img.astype(np.float32, copy=False))
        return to_value_range(out, (0, 255), self.value_range)

    def _clahe(self, img: np.ndarray) -> np.ndarray:
        b, h, w, c = img.shape
        gh, gw = self.tile_grid_size
        th, tw = -(-h // gh), -(-w // gw)
        padded = np.pad(img, ((0, 0), (0, th * gh - h), (0, tw * gw - w), (0, 0)),
                        mode="symmetric")
        pix = np.clip(padded.astype(np.int32), 0, 255)  # (B, Hp, Wp, C)
        tiles = pix.reshape(b, gh, th, gw, tw, c).transpose(0, 1, 3, 5, 2, 4)
        tile_id = np.arange(b * gh * gw * c).reshape(b, gh, gw, c, 1, 1)
        hists = np.bincount((tile_id * 256 + tiles).ravel(), minlength=b * gh * gw * c * 256)
        hists = hists.reshape(b, gh, gw, c, 256).astype(np.float32)
        n = np.float32(th * tw)
        if self.clip_limit > 0:
            limit = np.float32(self.clip_limit * (th * tw) / 256.0)
            clipped = np.minimum(hists, limit)
            excess = (hists - clipped).sum(axis=-1, keepdims=True)
            hists = clipped + excess / np.float32(256.0)
        cdf = np.cumsum(hists, axis=-1, dtype=np.float32)
        cmin = cdf.min(axis=-1, keepdims=True)
        den = n - cmin
        den = np.where(den == 0, np.float32(1), den)
        table = np.clip((cdf - cmin) * np.float32(255.0) / den, 0, 255)
        table = np.pad(table, ((0, 0), (1, 1), (1, 1), (0, 0), (0, 0)), mode="edge")

        def axis_nodes(size: int, t: int, g: int) -> tuple:
            grid = (np.arange(size, dtype=np.float32) - np.float32(t / 2.0)) / np.float32(t)
            grid = grid + np.float32(1.0)
            lo = np.floor(grid)
            wgt = grid - lo
            return (np.clip(lo, 0, g + 1).astype(np.int64),
                    np.clip(lo + 1, 0, g + 1).astype(np.int64), wgt)

        y0, y1, wy = axis_nodes(th * gh, th, gh)
        x0, x1, wx = axis_nodes(tw * gw, tw, gw)
        bi = np.arange(b)[:, None, None, None]
        ci = np.arange(c)[None, None, None, :]
        yy0, yy1, wy = y0[None, :, None, None], y1[None, :, None, None], wy[None, :, None,
                                                                            None]
        xx0, xx1, wx = x0[None, None, :, None], x1[None, None, :, None], wx[None, None, :,
                                                                            None]
        nw, ne = table[bi, yy0, xx0, ci, pix], table[bi, yy0, xx1, ci, pix]
        sw, se = table[bi, yy1, xx0, ci, pix], table[bi, yy1, xx1, ci, pix]
        top = nw * (1 - wx) + ne * wx
        bottom = sw * (1 - wx) + se * wx
        return (top * (1 - wy) + bottom * wy)[:, :h, :w].astype(np.float32)
