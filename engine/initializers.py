"""Keras initializers with Keras's exact math and fan rules.

``VarianceScaling`` is the one general initializer; Glorot/He/Lecun are its
parameterisations. Randomness goes through :class:`numpy.random.Generator`: an int
``seed`` gives the same values on every call, ``seed=None`` fresh ones.

Every initializer can describe its theoretical distribution for a given shape
(:meth:`Initializer.theory`), which the widget draws over weight histograms.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from .budget import current_budget
from .configurable import Configurable
from .errors import ConfigError
from .fields import KERAS2, KERAS3, Axis, Choice, Field, Float, Seed

#: std of a standard normal truncated to [-2, 2]
TRUNCATION_STD = 0.87962566103423978


def compute_fans(shape: tuple[int, ...], input_axes=None, output_axes=None) -> tuple[float, float]:
    """Keras's ``compute_fans``: (fan_in, fan_out) of a weight shape."""
    shape = tuple(map(int, shape))
    if input_axes is not None and output_axes is not None:
        fan_in = math.prod(shape[a] for a in _as_list(input_axes))
        fan_out = math.prod(shape[a] for a in _as_list(output_axes))
        return float(fan_in), float(fan_out)
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _as_list(axes: Any) -> list[int]:
    return [axes] if isinstance(axes, int) else list(axes)


#: the generator of unseeded initializers (fresh values on every call), made on first use
_FRESH: list[np.random.Generator] = []


def _rng(seed: int | None) -> np.random.Generator:
    # an int seed restarts its stream on every call (same values); None continues _FRESH
    if seed is not None:
        return np.random.default_rng(seed)
    if not _FRESH:
        _FRESH.append(np.random.default_rng())
    return _FRESH[0]


_F64 = np.dtype("float64")


def uniform(rng: np.random.Generator, shape, low: float, high: float,
            dtype: np.dtype = _F64) -> np.ndarray:
    """U[low, high) in float64: the stream of ``rng.uniform(low, high, shape)`` (so seeded
    values stay the same) without its per-call parameter broadcasting."""
    r = rng.random(shape)
    r *= high - low
    r += low
    if dtype == _F64 or dtype.kind != "f":
        return r
    return r.astype(dtype)  # the sum computed in float64, rounded once


def truncated_normal(rng: np.random.Generator, shape, mean: float, std: float) -> np.ndarray:
    """N(mean, std) with values beyond 2 std re-drawn (not clipped), as Keras does."""
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * std + mean


class Initializer(Configurable):
    """Base of initializers: ``init(shape, dtype)`` returns a new array."""

    registry_kind: ClassVar[str] = "initializer"
    keras_module: ClassVar[str] = "keras.initializers"
    abstract = True

    def __call__(self, shape, dtype: str = "float32") -> np.ndarray:
        shape = tuple(map(int, shape))
        dt = np.dtype(dtype)
        return np.asarray(self._sample(shape, dt), dtype=dt)

    def _sample(self, shape: tuple[int, ...], dtype: np.dtype = _F64) -> np.ndarray:
        """The values (any float dtype; ``dtype`` is a hint for drawing them directly)."""
        raise NotImplementedError

    def theory(self, shape) -> dict[str, Any]:
        """The theoretical distribution of the values for ``shape``.

        ``{'family': 'uniform', 'low', 'high'}``, ``{'family': 'normal', 'mean', 'std'}``,
        ``{'family': 'truncated_normal', 'mean', 'std', 'low', 'high'}`` (``std`` of the
        untruncated normal), ``{'family': 'constant', 'value'}``, or
        ``{'family': 'orthogonal'|'identity', ...}`` for the structured ones.
        """
        raise NotImplementedError


class Zeros(Initializer):
    """All zeros."""

    aliases = ("zeros", "zero")

    def _sample(self, shape, dtype=_F64):
        return np.zeros(shape, dtype=dtype)

    def theory(self, shape):
        return {"family": "constant", "value": 0.0}


class Ones(Initializer):
    """All ones."""

    aliases = ("ones", "one")

    def _sample(self, shape, dtype=_F64):
        return np.ones(shape, dtype=dtype)

    def theory(self, shape):
        return {"family": "constant", "value": 1.0}


class Constant(Initializer):
    """Every value equal to ``value``."""

    aliases = ("constant",)
    fields = (Float("value", 0.0, "The constant value."),)

    def _sample(self, shape, dtype=_F64):
        return np.full(shape, float(self.value))

    def theory(self, shape):
        return {"family": "constant", "value": float(self.value)}


_SEED = Seed("seed", None, "Random seed: an int gives the same values on every call; "
             "None fresh ones.")


class RandomNormal(Initializer):
    """N(mean, stddev)."""

    aliases = ("random_normal", "normal")
    fields = (_SEED, Float("mean", 0.0, "Mean of the normal."),
              Float("stddev", 0.05, "Standard deviation.", min=0.0))
    keras2_order = ("mean", "stddev", "seed")

    def _sample(self, shape, dtype=_F64):
        return _rng(self.seed).normal(self.mean, self.stddev, shape)

    def theory(self, shape):
        return {"family": "normal", "mean": float(self.mean), "std": float(self.stddev)}


class TruncatedNormal(Initializer):
    """N(mean, stddev) with values beyond 2 stddev re-drawn (empirical std 0.88 stddev)."""

    aliases = ("truncated_normal",)
    fields = (_SEED, Float("mean", 0.0, "Mean of the normal."),
              Float("stddev", 0.05, "Std of the normal before truncation.", min=0.0))
    keras2_order = ("mean", "stddev", "seed")

    def _sample(self, shape, dtype=_F64):
        return truncated_normal(_rng(self.seed), shape, self.mean, self.stddev)

    def theory(self, shape):
        m, s = float(self.mean), float(self.stddev)
        return {"family": "truncated_normal", "mean": m, "std": s, "low": m - 2 * s,
                "high": m + 2 * s}


class RandomUniform(Initializer):
    """U(minval, maxval)."""

    aliases = ("random_uniform", "uniform")
    fields = (_SEED, Float("minval", -0.05, "Lower bound."), Float("maxval", 0.05, "Upper bound."))
    keras2_order = ("minval", "maxval", "seed")

    def _post_init(self):
        if self.maxval < self.minval:
            raise self.config_error("maxval", f"must be >= minval ({self.minval}), got "
                                    f"{self.maxval}")

    def _sample(self, shape, dtype=_F64):
        return uniform(_rng(self.seed), shape, self.minval, self.maxval, dtype)

    def theory(self, shape):
        return {"family": "uniform", "low": float(self.minval), "high": float(self.maxval)}


_AXES = (
    Axis("input_axes", None, "Axes whose product is fan_in (with output_axes).",
         formats=(KERAS3,)),
    Axis("output_axes", None, "Axes whose product is fan_out (with input_axes).",
         formats=(KERAS3,)),
)


class VarianceScaling(Initializer):
    """Samples with variance ``scale / n``, n the fan chosen by ``mode``."""

    aliases = ("variance_scaling",)
    fields: ClassVar[tuple[Field, ...]] = (
        _SEED,
        Float("scale", 1.0, "Scaling factor of the variance.", min=0.0, min_open=True),
        Choice("mode", "fan_in", "Which fan divides the scale.",
               choices=("fan_in", "fan_out", "fan_avg"), lower=False),
        Choice("distribution", "truncated_normal", "Sampling distribution ('normal' is "
               "read as truncated_normal).",
               choices=("truncated_normal", "untruncated_normal", "uniform", "normal")),
        *_AXES,
    )
    keras2_order = ("scale", "mode", "distribution", "seed")

    def _post_init(self):
        if self.distribution == "normal":
            self.distribution = "truncated_normal"
        # As in Keras, the axes count only when both are given (else the default rule).

    def _n(self, shape) -> float:
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        if self.mode == "fan_in":
            return max(1.0, fan_in)
        if self.mode == "fan_out":
            return max(1.0, fan_out)
        return max(1.0, (fan_in + fan_out) / 2.0)

    def theory(self, shape):
        var = self.scale / self._n(shape)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return {"family": "uniform", "low": -limit, "high": limit}
        if self.distribution == "untruncated_normal":
            return {"family": "normal", "mean": 0.0, "std": math.sqrt(var)}
        std = math.sqrt(var) / TRUNCATION_STD
        return {"family": "truncated_normal", "mean": 0.0, "std": std, "low": -2 * std,
                "high": 2 * std}

    def _sample(self, shape, dtype=_F64):
        # the numbers of theory(shape), without building its dict (this is the hot path)
        var = self.scale / self._n(shape)
        rng = _rng(self.seed)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * var)
            return uniform(rng, shape, -limit, limit, dtype)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(var), shape)
        return truncated_normal(rng, shape, 0.0, math.sqrt(var) / TRUNCATION_STD)


class _Preset(VarianceScaling):
    """A named VarianceScaling: only seed (and the K3 axes) are config keys."""

    abstract = True
    drop_fields = ("scale", "mode", "distribution")
    fields = (_SEED, *_AXES)
    keras2_order = ("seed",)
    preset: ClassVar[tuple[float, str, str]] = (1.0, "fan_in", "truncated_normal")

    # the preset's scale, mode and distribution (not config keys of these classes)
    scale = property(lambda self: self.preset[0])
    mode = property(lambda self: self.preset[1])
    distribution = property(lambda self: self.preset[2])


class GlorotUniform(_Preset):
    """U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out))."""

    aliases = ("glorot_uniform",)
    preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Preset):
    """Truncated normal with std sqrt(2 / (fan_in + fan_out))."""

    aliases = ("glorot_normal",)
    preset = (1.0, "fan_avg", "truncated_normal")


class HeNormal(_Preset):
    """Truncated normal with std sqrt(2 / fan_in)."""

    aliases = ("he_normal",)
    preset = (2.0, "fan_in", "truncated_normal")


class HeUniform(_Preset):
    """U(-limit, limit), limit = sqrt(6 / fan_in)."""

    aliases = ("he_uniform",)
    preset = (2.0, "fan_in", "uniform")


class LecunNormal(_Preset):
    """Truncated normal with std sqrt(1 / fan_in)."""

    aliases = ("lecun_normal",)
    preset = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_Preset):
    """U(-limit, limit), limit = sqrt(3 / fan_in)."""

    aliases = ("lecun_uniform",)
    preset = (1.0, "fan_in", "uniform")


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix from the QR of a normal matrix, times ``gain``."""

    aliases = ("orthogonal", "OrthogonalInitializer")
    fields = (_SEED, Float("gain", 1.0, "Multiplicative factor."))
    keras2_order = ("gain", "seed")

    def _sample(self, shape, dtype=_F64):
        if len(shape) < 2:
            raise ConfigError("", f"the Orthogonal initializer needs a weight of rank >= 2, "
                              f"got shape {shape}; use another initializer for this weight")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        big, small = max(rows, cols), min(rows, cols)
        budget = current_budget()  # a QR costs about 2 * big * small**2 operations
        where = f"Orthogonal initializer of a weight of shape {tuple(shape)}"
        budget.check_flops(2 * big * small * small, "", where)
        budget.check_bytes(3 * 8 * big * small, "", f"{where}: its float64 QR work arrays")
        a = _rng(self.seed).standard_normal((big, small))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def theory(self, shape):
        rows, cols = math.prod(shape[:-1]), shape[-1]
        # entries of a random orthogonal n x m matrix have variance 1 / max(n, m)
        std = abs(self.gain) / math.sqrt(max(rows, cols))
        return {"family": "orthogonal", "gain": float(self.gain), "mean": 0.0, "std": std}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D weights only, rectangular allowed).

    Keras 3.15 writes ``{}`` for this class even when gain != 1 (the gain is lost);
    layerlab writes ``{}`` for the default gain and keeps ``gain`` otherwise.
    """

    aliases = ("identity", "IdentityInitializer")
    fields = (Float("gain", 1.0, "Multiplicative factor.", omit_default=(KERAS3,)),)

    def _sample(self, shape, dtype=_F64):
        if len(shape) != 2:
            raise ConfigError("", f"the Identity initializer works on 2-D weights only, got "
                              f"shape {shape} of rank {len(shape)}")
        return self.gain * np.eye(shape[0], shape[1])

    def theory(self, shape):
        return {"family": "identity", "gain": float(self.gain)}


def sample_statistics(values: np.ndarray) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()),
            "max": float(v.max())}


__all__ = [
    "Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform",
    "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeNormal",
    "HeUniform", "LecunNormal", "LecunUniform", "Orthogonal", "Identity", "compute_fans",
    "TRUNCATION_STD", "KERAS2",
]
