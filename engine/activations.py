"""Keras activation functions in NumPy, by their Keras names.

Computed in float64 and cast back to the input's float dtype, which keeps results within
float32 rounding of Keras's; sigmoid, silu (swish), tanh, hard_sigmoid and hard_silu of
float32 arrays are computed in float32, as TensorFlow computes them (``_FLOAT32``: several
times faster, a few ulps from the exact values). ``hard_sigmoid`` has two meanings: Keras 3's
``clip(x/6 + 1/2, 0, 1)`` and Keras 2's ``clip(0.2x + 1/2, 0, 1)``; a config read as
Keras 2 gets the Keras 2 one.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from . import registry, serialization
from .errors import ConfigError, UnsafeConfigError, describe
from .formats import KERAS2, KERAS3, normalize_format

try:  # the ufunc np.clip calls, without its Python wrapper (layers' clips use it too)
    from numpy._core.umath import clip as clip_ufunc
except ImportError:  # NumPy < 2
    from numpy.core.umath import clip as clip_ufunc

Array = np.ndarray

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


class ActivationFn:
    """A named activation: callable on arrays, serialized as its name."""

    def __init__(self, name: str, fn: Callable[..., Array], *, custom: bool = False,
                 doc: str = ""):
        self.name = name
        self.fn = fn
        self.custom = custom
        self.__doc__ = doc or getattr(fn, "__doc__", None)

    def __call__(self, x: Any, **kwargs: Any) -> Array:
        if self.custom:
            return self.fn(x, **kwargs)
        if not kwargs and isinstance(x, np.ndarray) and x.dtype in _NATIVE_FLOATS:
            exact = _EXACT.get(self.fn)  # the detour's values, computed in x's own dtype
            if exact is not None:
                return exact(x)
            if x.dtype == _F32:
                native = _FLOAT32.get(self.fn)
                if native is not None:
                    return native(x)
        x = np.asarray(x)
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
        return np.asarray(self.fn(x.astype(np.float64), **kwargs), dtype=dtype)

    def serialize(self, fmt: str) -> Any:
        if self.custom:
            if fmt == KERAS3:
                return {"module": "builtins", "class_name": "function", "config": self.name,
                        "registered_name": "function"}
            return self.name
        if self.name == "hard_sigmoid" and (self.fn is hard_sigmoid) != (fmt == KERAS3):
            warnings.warn(
                f"hard_sigmoid means clip(x/6 + 0.5) in Keras 3 and clip(0.2x + 0.5) in Keras 2; "
                f"this layer's {'Keras 3' if self.fn is hard_sigmoid else 'Keras 2'} "
                f"hard_sigmoid is written as 'hard_sigmoid' in a {fmt} config, where it will "
                f"compute the other function", stacklevel=3)
        # what each Keras writes for the same function: K3 silu for swish, K2 swish for silu
        if fmt == KERAS3:
            return K3_ALIASES.get(self.name, self.name)
        return "swish" if self.name == "silu" else self.name

    def __repr__(self) -> str:
        return f"<activation {self.name}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActivationFn) and other.name == self.name and \
            other.fn is self.fn

    __hash__ = object.__hash__


class LayerActivation(ActivationFn):
    """A weightless layer used as an activation: Keras takes a layer object there (Keras 2
    also the class names ``ReLU``, ``LeakyReLU``, ``ELU``, ``Softmax``, ``ThresholdedReLU``);
    it is written as the layer's own config dict."""

    def __init__(self, layer: Any):
        super().__init__(type(layer).__name__, layer, custom=True)
        self.layer = layer

    def __call__(self, x: Any, **kwargs: Any) -> Array:
        return self.layer(x)

    def serialize(self, fmt: str) -> Any:
        from .serialization import serialize

        out = serialize(self.layer, fmt)
        out.pop("build_config", None)  # Keras writes none for an activation layer
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LayerActivation) and type(other.layer) is type(self.layer) \
            and other.layer.get_config() == self.layer.get_config()

    __hash__ = object.__hash__


#: layer class names Keras 2's activations.get takes (as a layer of that class)
K2_LAYER_NAMES = ("ReLU", "LeakyReLU", "ELU", "Softmax", "ThresholdedReLU")


def _layer_activation(layer: Any, path: str) -> LayerActivation:
    if type(layer).__name__ == "PReLU":
        raise ConfigError(path, "a PReLU layer as an activation has weights of its own, which "
                          "layerlab does not track inside another layer; put a PReLU layer "
                          "after this one instead")
    return LayerActivation(layer)


# -- the math ------------------------------------------------------------------------


def erf(x: Array) -> Array:
    """Vectorized error function (fractional error < 1.2e-7; Numerical Recipes erfc)."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    erfc = t * np.exp(-z * z + poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)


def linear(x):
    return x


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0, keras2=False):
    """Keras's relu, in Keras's steps, so NaN and inf come out as Keras's: NaN stays NaN
    (relu and relu6 propagate it), except where Keras 3's threshold path maps it to 0;
    Keras 2 masks by multiplying (``x * (x > threshold)``), which turns -inf into NaN."""
    neg = None
    if negative_slope != 0.0:
        if max_value is None and threshold == 0:
            return np.where(x > 0, x, negative_slope * x)  # tf.nn.leaky_relu
        neg = np.maximum(threshold - x, 0.0)
    clip_max = max_value is not None
    if threshold != 0:
        y = x * (x > threshold) if keras2 else np.where(x > threshold, x, 0.0)
    elif max_value == 6:
        y, clip_max = np.minimum(np.maximum(x, 0.0), 6.0), False
    else:
        y = np.maximum(x, 0.0)
    if clip_max:
        y = np.clip(y, 0.0, max_value)
    if neg is not None:
        y = y - negative_slope * neg
    return y


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def tanh(x):
    return np.tanh(x)


def softmax(x, axis=-1):
    """exp(x - max) / sum. Along a row holding NaN or +inf, TensorFlow gives NaN at those
    entries and 0 elsewhere (measured: tests/oracle_gen/activations_nonfinite.py)."""
    bad = np.isnan(x) | np.isposinf(x)
    if not bad.any():
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)
    row_bad = np.any(bad, axis=axis, keepdims=True)
    safe = np.where(row_bad, 0.0, x)
    e = np.exp(safe - np.max(safe, axis=axis, keepdims=True))
    out = e / np.sum(e, axis=axis, keepdims=True)
    return np.where(row_bad, np.where(bad, np.nan, 0.0), out)


def log_softmax(x, axis=-1):
    s = x - np.max(x, axis=axis, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def softplus(x):
    return np.logaddexp(0.0, x)


def softsign(x):
    return x / (1.0 + np.abs(x))


def exponential(x):
    return np.exp(x)


def elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def selu(x):
    return SELU_SCALE * elu(x, SELU_ALPHA)


def gelu(x, approximate=False):
    if approximate:
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def silu(x):
    return x * sigmoid(x)


def mish(x):
    return x * np.tanh(softplus(x))


def relu6(x):
    return np.minimum(np.maximum(x, 0.0), 6.0)


def leaky_relu(x, negative_slope=0.2):
    return np.where(x >= 0, x, negative_slope * x)


def hard_sigmoid(x):
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)


def hard_sigmoid_keras2(x):
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def hard_silu(x):
    return x * hard_sigmoid(x)


def celu(x, alpha=1.0):
    return np.maximum(x, 0.0) + alpha * np.expm1(np.minimum(x, 0.0) / alpha)


def glu(x, axis=-1):
    a, b = np.split(x, 2, axis=axis)
    return a * sigmoid(b)


def hard_tanh(x):
    return np.clip(x, -1.0, 1.0)


def hard_shrink(x, threshold=0.5):
    return np.where(np.abs(x) > threshold, x, 0.0)


def soft_shrink(x, threshold=0.5):
    return np.where(x > threshold, x - threshold, np.where(x < -threshold, x + threshold, 0.0))


def tanh_shrink(x):
    return x - np.tanh(x)


def log_sigmoid(x):
    return -softplus(-x)


def sparse_plus(x):
    return np.where(x <= -1.0, 0.0, np.where(x >= 1.0, x, (x + 1.0) ** 2 / 4.0))


def sparse_sigmoid(x):
    return np.where(x <= -1.0, 0.0, np.where(x >= 1.0, 1.0, (x + 1.0) / 2.0))


def squareplus(x, b=4.0):
    return (x + np.sqrt(x * x + b)) / 2.0


def sparsemax(x, axis=-1):
    """Keras 3's sparsemax, exactly as every Keras 3 backend computes it.

    With ``zs`` sorted descending, ``c`` its cumulative sum and the support
    ``zs - (c - 1) / k > 0``, Keras takes ``tau = (sum of c over the support - 1) / |support|``
    (the textbook simplex projection uses only the last ``c`` of the support). Both agree
    when one entry is in the support; otherwise Keras's rows need not sum to 1, and layerlab
    reproduces Keras's values.
    """
    z = np.moveaxis(x, axis, -1)
    zs = -np.sort(-z, axis=-1)
    k = np.arange(1, z.shape[-1] + 1)
    cums = np.cumsum(zs, axis=-1)
    support = zs - (cums - 1.0) / k > 0
    kz = np.sum(support, axis=-1, keepdims=True)
    tau = (np.sum(np.where(support, cums, 0.0), axis=-1, keepdims=True) - 1.0) / kz
    return np.moveaxis(np.maximum(z - tau, 0.0), -1, axis)


BUILTINS: dict[str, Callable[..., Array]] = {
    "linear": linear, "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax,
    "log_softmax": log_softmax, "softplus": softplus, "softsign": softsign,
    "exponential": exponential, "elu": elu, "selu": selu, "gelu": gelu, "silu": silu,
    "mish": mish, "relu6": relu6, "leaky_relu": leaky_relu, "hard_sigmoid": hard_sigmoid,
    "hard_silu": hard_silu, "celu": celu, "glu": glu, "hard_tanh": hard_tanh,
    "hard_shrink": hard_shrink, "soft_shrink": soft_shrink, "tanh_shrink": tanh_shrink,
    "log_sigmoid": log_sigmoid, "sparse_plus": sparse_plus, "sparse_sigmoid": sparse_sigmoid,
    "squareplus": squareplus, "sparsemax": sparsemax,
}
#: names that Keras 3 maps to another function (and serializes under that one)
K3_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
#: names Keras 2 knows; Keras 2 writes ``swish`` for silu
K2_NAMES = {"elu", "exponential", "gelu", "hard_sigmoid", "linear", "mish", "relu", "selu",
            "sigmoid", "softmax", "softplus", "softsign", "swish", "tanh", "leaky_relu", "relu6",
            "log_softmax", "silu"}

_FNS: dict[str, ActivationFn] = {n: ActivationFn(n, f) for n, f in BUILTINS.items()}
_NATIVE_FLOATS = frozenset(np.dtype(n) for n in ("float16", "float32", "float64"))
#: functions exact in float16/32/64 (a clip or a copy rounds nothing): one clip or copy into
#: a new array instead of the float64 detour, the same values with NaN and inf as before;
#: only relu(-0.0) keeps the zero's sign (-0.0 == 0.0), as layers' ``activate`` already did
_EXACT: dict[Callable[..., Array], Callable[[Array], Array]] = {
    linear: lambda x: x.copy(),
    relu: lambda x: np.clip(x, x.dtype.type(0), x.dtype.type(np.inf)),
    relu6: lambda x: np.clip(x, x.dtype.type(0), x.dtype.type(6)),
}
_F32 = np.dtype(np.float32)


def _one_plus_exp_neg(x: Array) -> Array:
    """``1 + exp(-x)`` of a float32 array in float32 arithmetic, a new array (+inf where
    exp(-x) overflows, below -88.7)."""
    e = np.negative(x)
    with np.errstate(over="ignore"):
        np.exp(e, out=e)
    e += np.float32(1)
    return e


def _sigmoid32(x: Array) -> Array:
    """sigmoid of a float32 array in float32 arithmetic, ``1 / (1 + exp(-x))``: within a
    few ulps of the float64 value (below -88.7, where exp(-x) overflows, 0 instead of a
    value under 1e-38)."""
    e = _one_plus_exp_neg(x)
    return np.reciprocal(e, out=e)


def _silu32(x: Array) -> Array:
    """silu (swish), ``x * sigmoid(x)``, of a float32 array in float32 arithmetic, as
    ``x / (1 + exp(-x))`` (one rounding fewer, one pass fewer)."""
    e = _one_plus_exp_neg(x)
    with np.errstate(invalid="ignore"):   # -inf / inf: NaN, as -inf * 0 in the detour
        return np.divide(x, e, out=e)


def _hard_sigmoid32(x: Array) -> Array:
    """Keras 3's hard_sigmoid of a float32 array in float32 arithmetic, as its TensorFlow
    backend computes it: ``relu6(x + 3) / 6`` (x + 3 is exact near -3, so the result is
    within an ulp or two of ``clip(x/6 + 1/2, 0, 1)`` everywhere)."""
    y = np.add(x, np.float32(3))
    clip_ufunc(y, np.float32(0), np.float32(6), out=y)
    y /= np.float32(6)
    return y


def _hard_silu32(x: Array) -> Array:
    """hard_silu (hard_swish), ``x * hard_sigmoid(x)``, in float32 arithmetic."""
    y = _hard_sigmoid32(x)
    with np.errstate(invalid="ignore"):   # -inf * 0: NaN, as in the detour
        y *= x
    return y


#: functions computed in float32 arithmetic on float32 arrays, as TensorFlow's kernels
#: compute them, instead of the float64 detour (whose libm transcendentals run one element
#: at a time, and whose conversions cost more than a clip): NumPy's vectorized exp and tanh
#: make EfficientNetB0's swish layers 12-15x faster (tests/bench/bench_layers_vs_tf.py);
#: the values are within a few float32 ulps of the exact ones (tests/engine/
#: test_activations.py), NaN and +-inf give what the detour gives
_FLOAT32: dict[Callable[..., Array], Callable[[Array], Array]] = {
    sigmoid: _sigmoid32,
    silu: _silu32,
    tanh: np.tanh,
    hard_sigmoid: _hard_sigmoid32,
    hard_silu: _hard_silu32,
}
_K2_HARD_SIGMOID = ActivationFn("hard_sigmoid", hard_sigmoid_keras2)
_K2_SWISH = ActivationFn("swish", silu)
for _name, _fn in _FNS.items():
    registry.register("activation", _name, _fn,
                      tuple(a for a, target in K3_ALIASES.items() if target == _name))


def names() -> list[str]:
    """Every activation name usable in a config (for dropdowns)."""
    return sorted(set(BUILTINS) | set(K3_ALIASES))


def get(identifier: Any, path: str = "activation", fmt: str = KERAS3) -> ActivationFn:
    """Resolve None, a name, a function dict or a callable to an :class:`ActivationFn`
    (``fmt``: the format the name comes from; Keras 2 names a few functions differently)."""
    if identifier is None:
        return _FNS["linear"]
    return serialization.get_object("activation", identifier, path, normalize_format(fmt))


def _from_string(name: str, path: str, fmt: str = KERAS3) -> ActivationFn:
    """A name read in format ``fmt`` (Keras 2 names a few functions differently)."""
    custom = registry.custom_objects().get(name)
    if custom is not None:
        return _from_callable(custom, path, name)
    if fmt == KERAS2 and name in K2_LAYER_NAMES + ("PReLU",):
        return _from_layer_dict({"class_name": name, "config": {}}, path, fmt)
    if fmt == KERAS2 and name == "hard_sigmoid":
        return _K2_HARD_SIGMOID
    if fmt == KERAS2 and name == "swish":
        return _K2_SWISH
    if name == "threshold":
        raise ConfigError(path, "'threshold' needs the arguments threshold and default_value, "
                          "which a config cannot give; use a ReLU layer with threshold= instead")
    fn = _FNS.get(K3_ALIASES.get(name, name))
    if fn is None:
        raise serialization.unknown_name("activation", name, path)
    return fn


def _from_layer_dict(value: dict[str, Any], path: str, fmt: str) -> LayerActivation:
    layer = serialization.deserialize_object(value, kind="layer", path=path, fmt=fmt)
    return _layer_activation(layer, path)


def _from_callable(value: Any, path: str, name: str | None) -> ActivationFn:
    if isinstance(value, ActivationFn):
        return value
    if getattr(type(value), "registry_kind", None) == "layer":
        return _layer_activation(value, path)
    if callable(value):
        return ActivationFn(name or getattr(value, "__name__", "custom"), value, custom=True)
    raise ConfigError(path, f"expected an activation name, got {describe(value)}")


def from_function_dict(value: dict[str, Any], path: str, fmt: str = KERAS3) -> ActivationFn:
    """``{'class_name': 'function', 'config': 'name'}`` (K3) -> the named function."""
    cls = value.get("class_name")
    if cls == "__lambda__":
        raise UnsafeConfigError(path, "a Python lambda given as bytecode; layerlab never runs "
                                "code from a config. Define the function in your code and pass "
                                "it by name in custom_objects.")
    name = value.get("config")
    if cls != "function" and isinstance(cls, str) and isinstance(name, dict):
        # a layer used as an activation: {'class_name': 'LeakyReLU', 'config': {...}}
        if getattr(registry.custom_objects().get(cls), "registry_kind", None) == "layer" or (
                cls in K2_LAYER_NAMES + ("PReLU",) and registry.lookup("layer", cls)):
            return _from_layer_dict(value, path, fmt)
    if not isinstance(name, str):
        raise ConfigError(f"{path}.config", f"expected the function's name, got "
                          f"{describe(name)}")
    reg = value.get("registered_name")
    custom = registry.custom_objects()
    for key in (reg, name):
        if isinstance(key, str) and key in custom:
            return _from_callable(custom[key], path, name)
    return _from_string(name, path, fmt)


registry.set_hooks("activation", from_string=_from_string, from_dict=from_function_dict,
                   from_other=lambda value, path: _from_callable(value, path, None))

__all__ = ["ActivationFn", "LayerActivation", "get", "names", "BUILTINS", "erf", "KERAS2", "KERAS3"]
