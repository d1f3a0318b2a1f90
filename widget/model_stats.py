"""Statistics of one layer's output, the flags drawn from them, and the std an initializer
predicts for a Dense/convolution layer's output.

Thresholds (shown in the widget too):

- ``saturated``: at least :data:`SATURATED_FLAG` (50 %) of the outputs lie within
  :data:`SATURATION_MARGIN` (1 %) of the activation's range of a bound (tanh, softsign: ±1;
  sigmoid, hard_sigmoid: 0 and 1; ReLU6 / ``max_value``: the upper bound only);
- ``dead``: at least :data:`DEAD_FLAG` (50 %) of the units (last-axis channels) are exactly 0
  for every sample, or the whole output is constant;
- ``vanishing`` / ``exploding``: std below 1/:data:`DEPTH_RATIO` (1/10) or above
  :data:`DEPTH_RATIO` (10) times the reference layer's std (the first layer after the
  inputs);
- ``nan``: some output is NaN or infinite;
- ``off theory``: a Dense/convolution layer whose measured std is outside
  [1/:data:`THEORY_RATIO`, :data:`THEORY_RATIO`] (×2) of the std its initializer predicts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import engine

SATURATION_MARGIN = 0.01
SATURATED_FLAG = 0.5
DEAD_FLAG = 0.5
DEPTH_RATIO = 10.0
THEORY_RATIO = 2.0
#: the moments, zero and saturated fractions use at most this many elements of a layer's
#: output (a strided subset whose stride shares no factor with the channel count, so that
#: it visits every channel); dead units are counted on the whole output
MAX_STAT_ELEMENTS = 16_384
#: kept values per layer for the depth picture
KEEP_VALUES = 2048

#: activation name -> (low bound or None, high bound or None)
BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "tanh": (-1.0, 1.0), "softsign": (-1.0, 1.0), "sigmoid": (0.0, 1.0),
    "hard_sigmoid": (0.0, 1.0), "hard_tanh": (-1.0, 1.0), "relu6": (None, 6.0),
}

_CONV = ("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose",
         "Conv3DTranspose", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D",
         "DepthwiseConv2D")


def activation_name(entry: dict[str, Any]) -> str | None:
    """The activation a layer's output goes through, from its config entry."""
    cfg = entry.get("config") or {}
    cls = entry.get("class_name")
    if cls == "ReLU":
        if cfg.get("max_value") is not None:
            return "relu6" if float(cfg["max_value"]) == 6.0 else f"relu_max:{cfg['max_value']}"
        return "relu"
    if cls == "Softmax":
        return "softmax"
    act = cfg.get("activation")
    if isinstance(act, dict):
        act = act.get("config", {}).get("name") or act.get("class_name")
    return act if isinstance(act, str) else None


def bounds_of(act: str | None) -> tuple[float | None, float | None]:
    if act is None:
        return (None, None)
    if act.startswith("relu_max:"):
        return (None, float(act.split(":", 1)[1]))
    return BOUNDS.get(act, (None, None))


_STEPS: dict[tuple[int, int], int] = {}


def _step(size: int, channels: int) -> int:
    """The stride of the subset of an array of ``size`` elements and ``channels`` units."""
    step = _STEPS.get((size, channels))
    if step is None:
        step = math.ceil(size / MAX_STAT_ELEMENTS)
        while math.gcd(step, channels) != 1:
            step += 1
        if len(_STEPS) > 4096:
            _STEPS.clear()
        _STEPS[(size, channels)] = step
    return step


def _subset(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(-1)
    if flat.size > MAX_STAT_ELEMENTS:
        flat = flat[::_step(flat.size, int(x.shape[-1]) if x.ndim >= 2 else 1)]
    return flat


def layer_stats(x: Any, act: str | None = None) -> dict[str, Any]:
    """Statistics of one output array (a bounded strided subset of it, at most
    :data:`MAX_STAT_ELEMENTS`, for the moments and fractions; dead units and non-finite
    values from the whole array), and up to :data:`KEEP_VALUES` values for plots."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        return {"output_shape": tuple(x.shape), "mean": float("nan"), "std": float("nan"),
                "rms": float("nan"), "zero_fraction": float("nan"),
                "saturated_fraction": float("nan"), "dead_units": 0, "units": 0,
                "finite": True, "values": np.zeros(0, np.float32)}
    sub = _subset(x)
    flat = sub.astype(np.float64)
    total = float(np.add.reduce(flat))
    finite, dead, units = _whole(x)
    good = flat
    if not math.isfinite(total):
        good = flat[np.isfinite(flat)]
        total = float(np.add.reduce(good))
    size = good.size
    if not size:
        nan = float("nan")
        return {"output_shape": tuple(x.shape), "mean": nan, "std": nan, "rms": nan,
                "zero_fraction": nan, "saturated_fraction": 0.0, "dead_units": dead,
                "units": units, "finite": finite, "values": np.zeros(0, np.float32)}
    mean = total / size
    # not np.dot: a BLAS call may start threads (slow when OPENBLAS_NUM_THREADS is unset)
    ms = float(np.add.reduce(np.square(good)) / size)
    lo, hi = bounds_of(act)
    sat = 0.0
    if lo is not None or hi is not None:
        span = (hi - lo) if lo is not None and hi is not None else abs(hi or lo or 1.0)
        tol = SATURATION_MARGIN * span
        if lo is None:
            near = good >= hi - tol
        elif hi is None:
            near = good <= lo + tol
        else:
            near = (good <= lo + tol) | (good >= hi - tol)
        sat = np.count_nonzero(near) / size
    step = max(1, size // KEEP_VALUES)
    if good is flat and x.dtype == np.float32:  # the same float32 values, not converted twice
        values = np.array(sub[:step * KEEP_VALUES:step])
    else:
        values = good[:step * KEEP_VALUES:step].astype(np.float32)
    # zeros: a comparison, then a count of booleans (quicker than counting a float array)
    return {"output_shape": tuple(x.shape), "mean": mean,
            "std": math.sqrt(max(ms - mean * mean, 0.0)), "rms": math.sqrt(ms),
            "zero_fraction": 1.0 - np.count_nonzero(good != 0) / size,
            "saturated_fraction": sat, "dead_units": dead, "units": units, "finite": finite,
            "values": values}


def _whole(x: np.ndarray) -> tuple[bool, int, int]:
    """(every element finite, dead units, units) of the whole array, in one pass over it
    for the usual case: the per-unit sums (last axis). A unit with a non-zero sum has a
    non-zero element; only when some unit's sum is exactly 0 are those units looked at
    again (a dead unit's, or rarely values cancelling out). A non-finite sum: some element
    is NaN or infinite, or finite values overflowed (then the elements are looked at)."""
    if x.ndim < 2:
        finite = x.dtype.kind != "f" or bool(np.isfinite(x).all())
        return finite, int(not np.any(x != 0)), 1
    units = int(x.shape[-1])
    x2 = x.reshape(-1, units)
    if x.dtype.kind == "b":
        return True, int(units - np.count_nonzero(np.any(x2, axis=0))), units
    if x.dtype.kind != "f":  # integers: a sum may wrap around to 0, so compare each one
        return True, int(units - np.count_nonzero(np.any(x2 != 0, axis=0))), units
    with np.errstate(over="ignore", invalid="ignore"):
        sums = np.add.reduce(x2, axis=0)
        finite = math.isfinite(float(np.add.reduce(sums))) or bool(np.isfinite(x).all())
    if sums.all():  # NaN or infinite sums count too: their units have non-zero elements
        return finite, 0, units
    zero = np.flatnonzero(sums == 0)
    alive = np.any(x2[:, zero] != 0, axis=0)
    return finite, int(zero.size - np.count_nonzero(alive)), units


def flags_for(stats: dict[str, Any], reference_std: float | None) -> list[str]:
    """The flags of one layer's statistics (thresholds in the module docstring)."""
    flags = []
    if not stats["finite"]:
        flags.append("nan")
    units = stats.get("units") or 0
    if (units and stats["dead_units"] >= DEAD_FLAG * units) or stats["std"] == 0.0:
        flags.append("dead")
    if stats["saturated_fraction"] >= SATURATED_FLAG:
        flags.append("saturated")
    std = stats["std"]
    if reference_std and reference_std > 0 and math.isfinite(std) and std > 0:
        if std < reference_std / DEPTH_RATIO:
            flags.append("vanishing")
        elif std > reference_std * DEPTH_RATIO:
            flags.append("exploding")
    pred = stats.get("predicted_std")
    if pred and math.isfinite(std) and pred > 0 and not (
            pred / THEORY_RATIO <= std <= pred * THEORY_RATIO):
        flags.append("off theory")
    return flags


# -- what the initializer predicts ----------------------------------------------------------


def _fans(cls: str, kernel_shape: tuple[int, ...]) -> tuple[float, float]:
    if len(kernel_shape) < 2:
        return float(kernel_shape[0]) if kernel_shape else 1.0, 1.0
    receptive = math.prod(kernel_shape[:-2]) if len(kernel_shape) > 2 else 1
    return float(kernel_shape[-2] * receptive), float(kernel_shape[-1] * receptive)


def weight_second_moment(init: Any, shape: tuple[int, ...], cls: str) -> float | None:
    """E[w²] of an initializer config (``{'class_name', 'config'}``) for a kernel of
    ``shape``; None when unknown (Identity, custom)."""
    if not isinstance(init, dict):
        return None
    name = init.get("class_name", "")
    c = init.get("config") or {}
    fan_in, fan_out = _fans(cls, shape)
    vs = {"GlorotUniform": (1.0, "fan_avg"), "GlorotNormal": (1.0, "fan_avg"),
          "HeNormal": (2.0, "fan_in"), "HeUniform": (2.0, "fan_in"),
          "LecunNormal": (1.0, "fan_in"), "LecunUniform": (1.0, "fan_in")}
    if name in vs or name == "VarianceScaling":
        scale, mode = vs.get(name, (float(c.get("scale", 1.0)), c.get("mode", "fan_in")))
        n = {"fan_in": fan_in, "fan_out": fan_out}.get(mode, (fan_in + fan_out) / 2)
        return scale / max(n, 1.0)
    if name == "RandomNormal":
        return float(c.get("stddev", 0.05)) ** 2 + float(c.get("mean", 0.0)) ** 2
    if name == "TruncatedNormal":  # N(mean, s) cut at 2 s: variance 0.7737 s²
        return 0.77374 * float(c.get("stddev", 0.05)) ** 2 + float(c.get("mean", 0.0)) ** 2
    if name == "RandomUniform":
        a, b = float(c.get("minval", -0.05)), float(c.get("maxval", 0.05))
        return (a * a + a * b + b * b) / 3
    if name == "Zeros":
        return 0.0
    if name == "Ones":
        return 1.0
    if name == "Constant":
        return float(c.get("value", 0.0)) ** 2
    if name == "Orthogonal":
        return float(c.get("gain", 1.0)) ** 2 / max(fan_in, fan_out)
    return None


_GH = np.polynomial.hermite_e.hermegauss(48)
#: activation name -> the engine's function (looked up once per name)
_ACTIVATIONS: dict[str, Any] = {}


def activation_std(act: str | None, sigma: float) -> float | None:
    """Std of ``act(y)`` for y ~ N(0, sigma²) (Gauss–Hermite quadrature)."""
    if act in (None, "linear"):
        return sigma
    if act in ("softmax", "log_softmax"):  # not elementwise: no one-unit prediction
        return None
    fn_name = "relu" if act.startswith("relu") else act
    fn = _ACTIVATIONS.get(fn_name)
    if fn is None:
        try:
            fn = engine.get_object("activation", fn_name, "activation", engine.KERAS3)
        except Exception:
            return None
        if len(_ACTIVATIONS) < 256:  # names from configs: a bounded table
            _ACTIVATIONS[fn_name] = fn
    nodes, weights = _GH
    try:
        y = np.asarray(fn(np.asarray(nodes * sigma, np.float32)), np.float64)
    except Exception:
        return None
    if act.startswith("relu") and act != "relu":
        y = np.minimum(y, bounds_of(act)[1] or np.inf)
    w = weights / weights.sum()
    m = float(np.dot(w, y))
    return math.sqrt(max(float(np.dot(w, y * y)) - m * m, 0.0))


def predicted_std(entry: dict[str, Any], kernel_shape: tuple[int, ...] | None,
                  input_rms: float | None) -> float | None:
    """The output std a Dense/convolution layer's initializer predicts (Glorot & Bengio,
    He et al.): Var[y] = fan_in · E[w²] · E[x²] before the activation, then through it."""
    cls = entry.get("class_name", "")
    if cls not in ("Dense", *_CONV) or kernel_shape is None or input_rms is None:
        return None
    cfg = entry.get("config") or {}
    init = cfg.get("kernel_initializer") or cfg.get("depthwise_initializer")
    if cls.startswith("Separable"):
        return None
    m2 = weight_second_moment(init, kernel_shape, cls)
    if m2 is None:
        return None
    if cls.startswith("Depthwise"):
        fan_in = float(math.prod(kernel_shape[:-2]))
    elif "Transpose" in cls:
        fan_in = float(math.prod(kernel_shape[:-2]) * kernel_shape[-1])
    else:
        fan_in = _fans(cls, kernel_shape)[0]
    sigma = math.sqrt(fan_in * m2) * input_rms
    return activation_std(activation_name(entry), sigma)
