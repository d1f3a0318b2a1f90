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

import functools
import math
import threading
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


def _scratch(n: int, use: str = "one") -> tuple[np.ndarray, np.ndarray]:
    """Work arrays of at least ``n`` elements (float64, bool), kept per thread and use:
    the statistics of one output after another (or of one run after another) reuse them
    instead of allocating (and first touching) large temporaries each time."""
    bufs = getattr(_SCRATCH, use, None)
    if bufs is None or bufs[0].size < n:
        size = max(n, MAX_STAT_ELEMENTS)
        bufs = (np.empty(size, np.float64), np.empty(size, bool))
        setattr(_SCRATCH, use, bufs)
    return bufs


_SCRATCH = threading.local()
_NAN = float("nan")


def layer_stats(x: Any, act: str | None = None) -> dict[str, Any]:
    """Statistics of one output array (a bounded strided subset of it, at most
    :data:`MAX_STAT_ELEMENTS`, for the moments and fractions; dead units and non-finite
    values from the whole array), and up to :data:`KEEP_VALUES` values for plots: what a
    :class:`StatsObserver` takes of it.

    Sums are taken in float64 (pairwise), the subset converted once into a reused work
    array; nothing returned refers to ``x`` or to the work arrays (the values kept for the
    plots are a copy), so ``x`` may be written into afterwards."""
    observer = StatsObserver({}, scratch="one")
    with np.errstate(over="ignore", invalid="ignore"):
        st = observer.take(np.asarray(x), act)
        observer.finish()
    return st


#: (shape, MAX_STAT_ELEMENTS) -> (units, stride of the subset, its size) (see _subset)
_PLANS: dict[Any, tuple[int, int, int, int]] = {}


#: per-unit sums add rows of at least this many values at a time (see :func:`_fold`)
FOLD_VALUES = 2048


@functools.lru_cache(maxsize=1024)
def _fold(rows: int, units: int) -> int:
    """How many rows of a (rows, units) array :func:`unit_sums` adds as one: NumPy's
    reduction over the rows runs its inner loop along one row, slow when the row is short
    (16 units: 10x the time of a long one, measured), so k rows side by side (k a divisor
    of rows, k * units about FOLD_VALUES) are summed first, then the k partial sums."""
    k = max(1, min(rows, FOLD_VALUES // max(units, 1)))
    while rows % k:
        k -= 1
    return k


def unit_sums(x2: np.ndarray, fold: int) -> np.ndarray:
    """The per-unit (column) sums of the C-contiguous (rows, units) ``x2``, ``fold`` rows
    at a time (from :func:`_fold`). Only whether a sum is 0 or finite is used, so the order
    of the additions does not matter."""
    if fold == 1:
        return np.add.reduce(x2, axis=0)
    units = x2.shape[1]
    part = np.add.reduce(x2.reshape(-1, fold * units), axis=0)
    return np.add.reduce(part.reshape(fold, units), axis=0)


def _plan(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    size, units = math.prod(shape), int(shape[-1])
    step = _step(size, units) if size > MAX_STAT_ELEMENTS else 1
    plan = (units, step, len(range(0, size, step)), _fold(size // max(units, 1), units))
    if len(_PLANS) > 4096:
        _PLANS.clear()
    _PLANS[tuple(shape), MAX_STAT_ELEMENTS] = plan
    return plan


#: the observed statistics of float32 outputs gather the subsets of this many outputs in one
#: work array and finish them together (a few numpy calls for them all, not each)
BATCH = 8


class StatsObserver:
    """An ``on_output`` callback for ``Model.call_observed``: the :func:`layer_stats` of
    each output named in ``acts`` (name -> its activation), the same numbers, taken as it
    is made: what needs the whole output (per-unit sums: dead units, non-finite values) and
    its strided subset (copied) while it is there; the subset's sums, counts and plot
    values for :data:`BATCH` outputs at a time. Nothing of an output is kept, so the run
    keeps its in-place path. A layer called several times: its first call's; several
    outputs: the first (as from an ``intermediate_outputs`` trace). Run the model inside
    ``np.errstate(over="ignore", invalid="ignore")``, then call :meth:`finish`."""

    def __init__(self, acts: dict[str, str | None], scratch: str = "batch"):
        self.acts = acts
        self._use = scratch  # which of the thread's work arrays (see _scratch)
        self.stats: dict[str, dict[str, Any]] = {}  # in run order
        self._queue: list[tuple[Any, ...]] = []
        self._end = 0
        self._work: np.ndarray | None = None
        self._mask: np.ndarray | None = None

    def __call__(self, name: str, value: Any) -> None:
        acts = self.acts
        if name in acts and name not in self.stats:
            if isinstance(value, (list, tuple)):
                value = value[0]
            self.stats[name] = self.take(np.asarray(value), acts[name])

    def take(self, x: np.ndarray, act: str | None) -> dict[str, Any]:
        """The statistics of ``x`` (filled in by :meth:`finish`)."""
        # as few numpy calls as can be here: between layers each costs several microseconds
        if x.dtype.kind not in "fiub":
            return {"output_shape": tuple(x.shape), "mean": _NAN, "std": _NAN, "rms": _NAN,
                    "zero_fraction": _NAN, "saturated_fraction": _NAN, "dead_units": 0,
                    "units": 0, "finite": True, "values": np.zeros(0, np.float32)}
        if x.dtype != np.float32 or x.ndim < 2 or not x.size:
            return self._take_general(x, act)
        plan = _PLANS.get((x.shape, MAX_STAT_ELEMENTS))
        if plan is None:
            plan = _plan(x.shape)
        units, step, n, fold = plan
        x2 = x.reshape(-1, units)
        sums = unit_sums(x2, fold) if x.flags.c_contiguous else np.add.reduce(x2, axis=0)
        if not math.isfinite(float(np.add.reduce(sums))):
            return self._take_general(x, act)  # NaN, inf (or an overflow)
        dead = 0
        if not sums.all():  # those units again: dead unless some element is not 0
            zero = sums == 0
            dead = int(np.count_nonzero(zero))
            cols = x2[:, zero]
            if cols.any():
                dead -= int(np.count_nonzero(np.logical_or.reduce(cols != 0, axis=0)))
        return self._queue_subset(x.reshape(-1)[::step], act, x.shape, dead, units, True)

    def _take_general(self, x: np.ndarray, act: str | None) -> dict[str, Any]:
        """Other dtypes and ranks, empty or non-finite outputs: the whole array's facts by
        :func:`_whole`, the subset's finite values only."""
        finite, dead, units = _whole(x)
        sub = _subset(x)
        if not finite and sub.dtype.kind == "f":
            sub = sub[np.isfinite(sub)]
        return self._queue_subset(sub, act, tuple(x.shape), dead, units, finite)

    def _queue_subset(self, sub: np.ndarray, act: str | None, shape: tuple, dead: int,
                      units: int, finite: bool) -> dict[str, Any]:
        """Copy the subset into the work array; its statistics left to :meth:`finish`."""
        n = sub.size
        work, end = self._work, self._end
        if work is None or end + n > work.size:
            self.finish()
            work, end = self._work, 0
            if work is None or work.size < n:  # reused from run to run (see _scratch)
                work, self._mask = _scratch(max(n, BATCH * MAX_STAT_ELEMENTS), self._use)
                self._work = work
        np.copyto(work[end:end + n], sub, casting="unsafe")
        st: dict[str, Any] = {}
        self._queue.append((st, end, n, act, shape, dead, units, finite))
        self._end = end + n
        return st

    def finish(self) -> dict[str, dict[str, Any]]:
        """Complete the statistics still pending; returns :attr:`stats`."""
        pending, end = self._queue, self._end
        if not pending:
            return self.stats
        work, mask = self._work, self._mask
        assert work is not None and mask is not None
        seg, flags = work[:end], mask[:end]
        # each step for all the subsets
        totals = [float(np.add.reduce(seg[o:o + n])) for _, o, n, *_ in pending]
        steps = [max(1, n // KEEP_VALUES) for _, _, n, *_ in pending]
        values = np.concatenate([seg[o:o + min(n, s * KEEP_VALUES):s] for (_, o, n, *_), s
                                 in zip(pending, steps)]).astype(np.float32)
        sat: dict[int, int] = {}
        for bound in {bounds_of(p[3]) for p in pending} - {(None, None)}:
            lo, hi = bound
            span = (hi - lo) if lo is not None and hi is not None else abs(hi or lo or 1.0)
            tol = SATURATION_MARGIN * span
            for side in (hi, lo):
                if side is None:
                    continue
                if side is hi:
                    np.greater_equal(seg, hi - tol, out=flags)
                else:
                    np.less_equal(seg, lo + tol, out=flags)
                for i, (_, o, n, act, *_) in enumerate(pending):
                    if bounds_of(act) == bound:
                        sat[i] = sat.get(i, 0) + int(np.count_nonzero(flags[o:o + n]))
        np.not_equal(seg, 0, out=flags)
        nonzero = [np.count_nonzero(flags[o:o + n]) for _, o, n, *_ in pending]
        np.multiply(seg, seg, out=seg)
        at = 0
        for i, (st, o, n, _, shape, dead, units, finite) in enumerate(pending):
            if not n:  # nothing finite in the subset
                st.update({"output_shape": shape, "mean": _NAN, "std": _NAN, "rms": _NAN,
                           "zero_fraction": _NAN, "saturated_fraction": 0.0,
                           "dead_units": dead, "units": units, "finite": finite,
                           "values": np.zeros(0, np.float32)})
                continue
            mean = totals[i] / n
            ms = float(np.add.reduce(seg[o:o + n]) / n)
            k = len(range(0, min(n, steps[i] * KEEP_VALUES), steps[i]))
            st.update({"output_shape": shape, "mean": mean,
                       "std": math.sqrt(max(ms - mean * mean, 0.0)), "rms": math.sqrt(ms),
                       "zero_fraction": 1.0 - nonzero[i] / n,
                       "saturated_fraction": sat.get(i, 0) / n, "dead_units": dead,
                       "units": units, "finite": finite, "values": values[at:at + k]})
            at += k
        self._queue, self._end = [], 0
        return self.stats


def _whole(x: np.ndarray) -> tuple[bool, int, int]:
    """(every element finite, dead units, units) of the whole array, in one pass over it
    for the usual case: the per-unit sums (last axis). A unit with a non-zero sum has a
    non-zero element; only when some unit's sum is exactly 0 are those units looked at
    again (a dead unit's, or rarely values cancelling out). A non-finite sum: some element
    is NaN or infinite, or finite values overflowed (then the elements are looked at).
    Floating-point overflow is expected to be ignored by the caller (np.errstate)."""
    if x.ndim < 2:
        finite = x.dtype.kind != "f" or bool(np.isfinite(x).all())
        return finite, int(not np.any(x != 0)), 1
    units = int(x.shape[-1])
    x2 = x.reshape(-1, units)
    if x.dtype.kind == "b":
        return True, int(units - np.count_nonzero(np.any(x2, axis=0))), units
    if x.dtype.kind != "f":  # integers: a sum may wrap around to 0, so compare each one
        return True, int(units - np.count_nonzero(np.any(x2 != 0, axis=0))), units
    sums = unit_sums(x2, _fold(x2.shape[0], units))
    finite = math.isfinite(float(np.add.reduce(sums))) or bool(np.isfinite(x).all())
    # NaN or infinite sums count as non-zero: their units have non-zero elements
    if np.count_nonzero(sums) == units:
        return finite, 0, units
    zero = np.flatnonzero(sums == 0)
    cols = np.take(x2, zero, axis=1)
    if not cols.any():  # the usual case: each of them dead
        return finite, int(zero.size), units
    alive = np.logical_or.reduce(cols != 0, axis=0)
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
                  input_rms: float | None, memo: dict[int, Any] | None = None
                  ) -> float | None:
    """The output std a Dense/convolution layer's initializer predicts (Glorot & Bengio,
    He et al.): Var[y] = fan_in · E[w²] · E[x²] before the activation, then through it.
    ``memo``: a dict that keeps each entry's part that does not depend on its input (the
    entries are never changed in place; the memo keeps them, so their ids stay theirs)."""
    if kernel_shape is None or input_rms is None:
        return None
    hit = memo.get(id(entry)) if memo is not None else None
    if hit is not None and hit[0] is entry and hit[1] == kernel_shape:
        theory = hit[2]
    else:
        theory = _theory(entry, kernel_shape)
        if memo is not None:
            if len(memo) > 4096:
                memo.clear()
            memo[id(entry)] = (entry, kernel_shape, theory)
    if theory is None:
        return None
    scale, act = theory
    return activation_std(act, scale * input_rms)


def _theory(entry: dict[str, Any], kernel_shape: tuple[int, ...]
            ) -> tuple[float, str | None] | None:
    """(sqrt(fan_in · E[w²]), the activation) of a Dense/convolution layer's entry."""
    cls = entry.get("class_name", "")
    if cls not in ("Dense", *_CONV):
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
    return math.sqrt(fan_in * m2), activation_name(entry)
