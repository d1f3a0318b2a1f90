"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization,
UnitNormalization, RMSNormalization and the SpectralNormalization wrapper.

Every layer normalizes in float32 (as Keras does) and keeps Keras's weight names, order
and shapes. Where Keras 2 and Keras 3 differ (the ``axis`` a built layer reports, the
moving-variance update of the fused 4-D path, l2-normalize epsilons), a layer read from a
Keras 2 config follows Keras 2 and every other layer follows Keras 3.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import serialization
from ..fields import (
    KERAS2,
    KERAS3,
    Axis,
    Bool,
    Constraint,
    Float,
    Initializer,
    Int,
    Json,
    NestedLayer,
    Regularizer,
)
from .base import InputSpec, Layer, Variable
from .elementwise import batch_norm_inference, clip, stock_call
from .normalization_common import (
    _INIT_REG,
    _bshape,
    _norm_fields,
    _SqrtInit,
    resolve_axes,
)

_F32 = np.dtype(np.float32)

__all__ = ["BatchNormalization", "LayerNormalization", "GroupNormalization",
           "UnitNormalization", "RMSNormalization", "SpectralNormalization"]


class BatchNormalization(Layer):
    """Normalizes with batch statistics in training and moving statistics in inference.

    Inference: ``(x - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta``,
    computed as one precomputed scale and shift. Training (``training=True`` and the layer
    trainable): batch mean and biased variance over every axis but ``axis``, and the
    moving-average update ``moving = moving * momentum + batch * (1 - momentum)`` (a layer
    read from a Keras 2 config on 4-D/5-D input updates with the unbiased variance, as
    TensorFlow's fused kernel does). ``trainable=False`` always runs in inference mode.

    Input shape: any, with ``axis`` known. Output shape: the input shape.
    Weights: ``gamma``, ``beta`` (if scale/center), ``moving_mean``, ``moving_variance``,
    with renorm also ``moving_stddev``, ``renorm_mean``, ``renorm_stddev``; each of shape
    ``(channels,)`` (several axes: the input rank with 1 on the other axes, as Keras 2).
    """

    supports_masking = True
    fields = (
        Axis("axis", -1, "The feature axis (or axes, Keras 2) to normalize."),
        Float("momentum", 0.99, "Momentum of the moving averages.", min=0, max=1),
        *_norm_fields(),
        Initializer("beta_initializer", "zeros", "Initializer of beta."),
        Initializer("gamma_initializer", "ones", "Initializer of gamma."),
        Initializer("moving_mean_initializer", "zeros", "Initializer of the moving mean."),
        Initializer("moving_variance_initializer", "ones", "Initializer of the moving variance."),
        Regularizer("beta_regularizer", None, "Penalty on beta."),
        Regularizer("gamma_regularizer", None, "Penalty on gamma."),
        Constraint("beta_constraint", None, "Constraint on beta."),
        Constraint("gamma_constraint", None, "Constraint on gamma."),
        Bool("synchronized", False, "Synchronize statistics across devices (no effect here).",
             formats=(KERAS3,)),
        Bool("renorm", False, "Batch renormalization (training only)."),
        Json("renorm_clipping", None, "Clipping of the renorm correction: rmax, rmin, dmax.",
             optional=True),
        Float("renorm_momentum", 0.99, "Momentum of the renorm statistics.", min=0, max=1),
        Int("virtual_batch_size", None, "Keras 2 ghost batch normalization (unsupported).",
            formats=(KERAS2,), omit_default=(KERAS2,), min=1),
    )
    ignored_keys = ("fused", "adjustment")

    def _post_init(self) -> None:
        self._keras2 = self.source_format == KERAS2
        if self.virtual_batch_size is not None:
            raise self.config_error("virtual_batch_size", "ghost batch normalization is not "
                                    "supported by layerlab; set it to None")
        if self.renorm:
            clip = self.renorm_clipping or {}
            if not isinstance(clip, dict):
                raise self.config_error("renorm_clipping", f"expected a dict with keys rmax, "
                                        f"rmin, dmax, got {clip!r}")
            bad = set(clip) - {"rmax", "rmin", "dmax"}
            if bad:
                raise self.config_error("renorm_clipping", f"unknown keys {sorted(bad)}; "
                                        f"expected rmax, rmin, dmax")
            rmax, rmin, dmax = clip.get("rmax"), clip.get("rmin"), clip.get("dmax")
            if rmax is not None and rmin is not None and rmax < rmin:
                raise self.config_error("renorm_clipping", f"rmax must be >= rmin, got "
                                        f"rmax={rmax}, rmin={rmin}")
            if dmax is not None and dmax < 0:
                raise self.config_error("renorm_clipping", f"dmax must be >= 0, got {dmax}")
            self.renorm_clipping = dict(clip)
        self._axes: list[int] | None = None

    def build(self, input_shape):
        shape = tuple(input_shape)
        ndim = len(shape)
        axes = resolve_axes(self, self.axis, ndim)
        for a in axes:
            if shape[a] is None:
                raise ValueError(f"BatchNormalization {self.name!r}: axis {a} of the input "
                                 f"must be known, got shape {shape}")
        self._axes = axes
        self._reduce = tuple(d for d in range(ndim) if d not in axes)
        pshape = (shape[axes[0]],) if len(axes) == 1 else tuple(_bshape(ndim, axes, shape))
        self._bcast = _bshape(ndim, axes, shape)
        self.gamma = self.beta = None
        if self.scale:
            self.gamma = self.add_weight("gamma", pshape, self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", pshape, self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.moving_mean = self.add_weight("moving_mean", pshape, self.moving_mean_initializer,
                                           trainable=False,
                                           field="moving_mean_initializer")
        self.moving_variance = self.add_weight("moving_variance", pshape,
                                               self.moving_variance_initializer,
                                               trainable=False,
                                               field="moving_variance_initializer")
        if self.renorm:
            self.moving_stddev = self.add_weight("moving_stddev", pshape,
                                                 _SqrtInit(self.moving_variance_initializer),
                                                 trainable=False,
                                                 field="moving_variance_initializer")
            self.renorm_mean = self.add_weight("renorm_mean", pshape,
                                               self.moving_mean_initializer, trainable=False,
                                               field="moving_mean_initializer")
            self.renorm_stddev = self.add_weight("renorm_stddev", pshape,
                                                 _SqrtInit(self.moving_variance_initializer),
                                                 trainable=False,
                                                 field="moving_variance_initializer")
        self.input_spec = InputSpec(ndim=ndim, axes={a: shape[a] for a in axes})

    def _param(self, v: Variable | None) -> np.ndarray | None:
        if v is None:
            return None
        return np.asarray(v.value, np.float32).reshape(self._bcast)

    def call(self, inputs, training=False, mask=None):
        return self._normalize(inputs, training, mask, False)

    def _call_owned(self, inputs, owned, training=False, mask=None, bounds=None):
        # the run loop's: ``inputs`` is no one else's, the result may take its memory
        return self._normalize(inputs, training, mask, owned, bounds)

    def fused_clip(self, x: np.ndarray, training: bool) -> tuple | None:
        """The output shape when the run loop may have ``_call_owned`` clip the result to
        ``bounds`` (calls.run_fused): this class's own inference on channels-last float32,
        no activity regularizer (it would see the result before the clip); else None."""
        ok = not (training and self._values["trainable"]) and x.dtype is _F32 and \
            self._axes == [x.ndim - 1] and \
            stock_call(self, BatchNormalization, "_normalize") and \
            self._values["dtype"].compute_dtype == "float32"
        return x.shape if ok else None

    def _normalize(self, inputs, training, mask, owned, bounds=None):
        x = inputs if inputs.dtype is _F32 else inputs.astype(np.float32)
        inference = not training or not self.trainable
        # inference writes into x when it is the caller's to give (then the same bits)
        into = x if inference and owned and x is inputs else None
        if inference and self._axes == [x.ndim - 1]:
            # channels last: the same arithmetic on (C,) vectors, long inner loops
            memo = self._memo("_fold_memo")
            return batch_norm_inference(x, self.moving_mean, self.moving_variance, self.gamma,
                                        self.beta, self._values["epsilon"], self.compute_dtype,
                                        out=into, memo=memo, bounds=bounds)
        out = self._general(x, training, mask, into)
        if bounds is not None:
            clip(out, bounds[0], bounds[1], out=out)
        return out

    def _general(self, x, training, mask, into):
        gamma, beta = self._param(self.gamma), self._param(self.beta)
        if training and self.trainable:
            mean, var = self._moments(x, mask)
            if self.renorm:
                gamma, beta = self._renorm(mean, var, gamma, beta)
            else:
                self._update_moving(x, mean, var, mask)
        else:
            mean, var = self._param(self.moving_mean), self._param(self.moving_variance)
        inv = 1.0 / np.sqrt(var + np.float32(self.epsilon))
        if gamma is not None:
            inv = inv * gamma
        shift = -mean * inv
        if beta is not None:
            shift = shift + beta
        inv = inv.astype(np.float32)
        if into is not None and np.broadcast_shapes(x.shape, inv.shape) == x.shape:
            out = np.multiply(x, inv, out=into)
        else:
            out = x * inv
        out += shift.astype(np.float32)
        return out.astype(self.compute_dtype, copy=False)

    def _moments(self, x: np.ndarray, mask: Any) -> tuple[np.ndarray, np.ndarray]:
        if mask is None:
            mean = x.mean(axis=self._reduce, keepdims=True, dtype=np.float32)
            var = np.square(x - mean).mean(axis=self._reduce, keepdims=True, dtype=np.float32)
            return mean, var
        m = np.asarray(mask, bool)
        if m.ndim != x.ndim - 1:
            raise ValueError(f"BatchNormalization {self.name!r}: the mask must have one "
                             f"dimension less than the inputs, got mask {m.shape} and inputs "
                             f"{x.shape}")
        w = np.broadcast_to(m[..., None], x.shape).astype(np.float32)
        count = w.sum(axis=self._reduce, keepdims=True) + np.float32(1e-7)
        mean = (x * w).sum(axis=self._reduce, keepdims=True) / count
        var = (np.square(x - mean) * w).sum(axis=self._reduce, keepdims=True) / count
        return mean, var

    def _update_moving(self, x: np.ndarray, mean: np.ndarray, var: np.ndarray,
                       mask: Any) -> None:
        mom = np.float32(self.momentum)
        if self._keras2 and mask is None and x.ndim in (4, 5) and len(self._axes) == 1 and \
                self._axes[0] in (1, x.ndim - 1):
            n = x.size // x.shape[self._axes[0]]
            var = var * np.float32(n / max(n - 1, 1))  # TF fused kernel: Bessel-corrected
        pshape = self.moving_mean.shape
        self.moving_mean.value = (self.moving_mean.value * mom + mean.reshape(pshape) *
                                  (1 - mom)).astype(self.moving_mean.dtype)
        self.moving_variance.value = (self.moving_variance.value * mom + var.reshape(pshape) *
                                      (1 - mom)).astype(self.moving_variance.dtype)

    def _renorm(self, mean, var, gamma, beta):
        eps = np.float32(self.epsilon)
        std = np.sqrt(var + eps)
        rmean = self._param(self.renorm_mean)
        rstd = np.maximum(self._param(self.renorm_stddev), np.sqrt(eps))
        r = std / rstd
        d = (mean - rmean) / rstd
        clip = self.renorm_clipping or {}
        if clip.get("rmin") is not None:
            r = np.maximum(r, clip["rmin"])
        if clip.get("rmax") is not None:
            r = np.minimum(r, clip["rmax"])
        if clip.get("dmax") is not None:
            d = np.clip(d, -clip["dmax"], clip["dmax"])
        new_gamma = r if gamma is None else r * gamma
        new_beta = d if gamma is None else d * gamma
        if beta is not None:
            new_beta = new_beta + beta
        # statistics updates
        pshape = self.moving_mean.shape
        rm, mom = np.float32(self.renorm_momentum), np.float32(self.momentum)
        self.renorm_mean.value = (self.renorm_mean.value * rm + mean.reshape(pshape) * (1 - rm)
                                  ).astype(np.float32)
        self.renorm_stddev.value = (self.renorm_stddev.value * rm + std.reshape(pshape) *
                                    (1 - rm)).astype(np.float32)
        self.moving_mean.value = (self.moving_mean.value * mom + mean.reshape(pshape) *
                                  (1 - mom)).astype(np.float32)
        new_std = self.moving_stddev.value * mom + std.reshape(pshape) * (1 - mom)
        self.moving_stddev.value = new_std.astype(np.float32)
        self.moving_variance.value = np.maximum(new_std * new_std - eps, 0).astype(np.float32)
        return new_gamma, new_beta

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        resolve_axes(self, self.axis, len(shape))
        return shape

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        cfg = super().get_config(format)
        if format == KERAS2:
            if self._axes is not None:
                cfg["axis"] = list(self._axes)
            if not self.renorm:
                for k in ("renorm", "renorm_clipping", "renorm_momentum"):
                    cfg.pop(k, None)
        elif isinstance(cfg.get("axis"), list) and len(cfg["axis"]) == 1:
            cfg["axis"] = cfg["axis"][0]  # Keras 3 holds a single int axis
        return cfg


class LayerNormalization(Layer):
    """Normalizes each sample over ``axis``: ``(x - mean) / sqrt(var + epsilon) * gamma +
    beta``. ``rms_scaling=True`` (Keras 3, deprecated there) skips centering:
    ``x / sqrt(var + epsilon) * gamma`` and has no beta.

    Input shape: any. Output shape: the input shape.
    Weights: ``gamma``, ``beta`` of the shape of the normalized axes.
    """

    supports_masking = True
    fields = (
        Axis("axis", -1, "Axis or axes to normalize over."),
        *_norm_fields(),
        Bool("rms_scaling", False, "Keras 3: scale by 1/sqrt(var + eps) without centering.",
             formats=(KERAS3,)),
        *_INIT_REG,
    )

    def _post_init(self) -> None:
        self._axes: list[int] | None = None

    def build(self, input_shape):
        shape = tuple(input_shape)
        axes = resolve_axes(self, self.axis, len(shape))
        for a in axes:
            if shape[a] is None:
                raise ValueError(f"LayerNormalization {self.name!r}: axis {a} of the input "
                                 f"must be known, got shape {shape}")
        self._axes = axes
        order = sorted([self.axis] if isinstance(self.axis, int) else list(self.axis))
        self._values["axis"] = order  # Keras 3 writes a sorted list once built
        pshape = tuple(shape[a] for a in axes)
        self._bcast = _bshape(len(shape), axes, shape)
        self.gamma = self.beta = None
        if self.scale or self.rms_scaling:
            self.gamma = self.add_weight("gamma", pshape, self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight("beta", pshape, self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)

    def call(self, inputs):
        x = inputs.astype(np.float32, copy=False)
        axes = tuple(self._axes)
        eps = np.float32(self.epsilon)
        if self.rms_scaling:
            inv = 1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
            out = x * inv
            if self.gamma is not None:
                out = out * self.gamma.value.reshape(self._bcast)
            return out.astype(self.compute_dtype, copy=False)
        mean = x.mean(axis=axes, keepdims=True)
        var = np.square(x - mean).mean(axis=axes, keepdims=True)
        inv = 1.0 / np.sqrt(var + eps)
        if self.gamma is not None:
            inv = inv * self.gamma.value.reshape(self._bcast)
        shift = -mean * inv
        if self.beta is not None:
            shift = shift + self.beta.value.reshape(self._bcast)
        return (x * inv + shift).astype(self.compute_dtype, copy=False)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        resolve_axes(self, self.axis, len(shape))
        return shape

    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        cfg = super().get_config(format)
        if format == KERAS2 and self._axes is not None:
            cfg["axis"] = list(self._axes)
        return cfg


class GroupNormalization(Layer):
    """Normalizes over groups of channels: channels on ``axis`` split into ``groups``
    groups; each sample and group is normalized over its channels and all other non-batch
    axes. ``groups=-1`` is instance normalization (one group per channel).

    Input shape: any, with ``axis`` known. Output shape: the input shape.
    Weights: ``gamma``, ``beta`` of shape ``(channels,)``.
    """

    supports_masking = True
    fields = (
        Int("groups", 32, "Number of groups (-1: one per channel).", min=-1),
        Axis("axis", -1, "The channel axis.", multi=False),
        *_norm_fields(),
        *_INIT_REG,
    )

    def _post_init(self) -> None:
        if self.groups == 0:
            raise self.config_error("groups", "expected a positive int or -1 (instance "
                                    "normalization), got 0")

    def build(self, input_shape):
        shape = tuple(input_shape)
        (axis,) = resolve_axes(self, self.axis, len(shape))
        dim = shape[axis]
        if dim is None:
            raise ValueError(f"GroupNormalization {self.name!r}: axis {self.axis} of the input "
                             f"must be known, got shape {shape}")
        if self.groups == -1:
            self.groups = dim
        if dim < self.groups:
            raise self.config_error("groups", f"cannot be more than the number of channels "
                                    f"({dim}), got {self.groups}")
        if dim % self.groups:
            raise self.config_error("groups", f"must divide the number of channels ({dim}), "
                                    f"got {self.groups}")
        self._axis = axis
        self.gamma = self.beta = None
        if self.scale:
            self.gamma = self.add_weight("gamma", (dim,), self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", (dim,), self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)
        self.input_spec = InputSpec(ndim=len(shape), axes={axis: dim})

    def call(self, inputs):
        x = inputs.astype(np.float32, copy=False)
        a, g = self._axis, self.groups
        gshape = x.shape[:a] + (g, x.shape[a] // g) + x.shape[a + 1:]
        xr = x.reshape(gshape)
        red = tuple(d for d in range(1, xr.ndim) if d != a)
        mean = xr.mean(axis=red, keepdims=True)
        var = np.square(xr - mean).mean(axis=red, keepdims=True)
        inv = 1.0 / np.sqrt(var + np.float32(self.epsilon))
        pshape = [1] * xr.ndim
        pshape[a], pshape[a + 1] = g, x.shape[a] // g
        if self.gamma is not None:
            inv = inv * self.gamma.value.reshape(pshape)
        shift = -mean * inv
        if self.beta is not None:
            shift = shift + self.beta.value.reshape(pshape)
        return (xr * inv + shift).reshape(x.shape).astype(self.compute_dtype, copy=False)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        resolve_axes(self, self.axis, len(shape))
        return shape


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over ``axis``: ``x / max(||x||, 1e-12)``
    (Keras 2 clamps the squared norm at 1e-12 instead).

    Input shape: any. Output shape: the input shape. No weights.
    """

    keras_builds_at_init = True

    supports_masking = True
    fields = (Axis("axis", -1, "Axis or axes over which the norm is taken."),)

    def _post_init(self) -> None:
        self._keras2 = self.source_format == KERAS2

    def build(self, input_shape):
        resolve_axes(self, self.axis, len(tuple(input_shape)))

    def call(self, inputs):
        x = inputs.astype(np.float32, copy=False)
        axes = tuple(resolve_axes(self, self.axis, x.ndim))
        sq = np.square(x).sum(axis=axes, keepdims=True)
        if self._keras2:
            inv = 1.0 / np.sqrt(np.maximum(sq, np.float32(1e-12)))
        else:
            with np.errstate(divide="ignore"):
                inv = np.minimum(1.0 / np.sqrt(sq), np.float32(1e12))
        return (x * inv).astype(self.compute_dtype, copy=False)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        resolve_axes(self, self.axis, len(shape))
        return shape


class RMSNormalization(Layer):
    """Root-mean-square normalization (Keras 3 only): ``x / sqrt(mean(x^2) + epsilon) *
    scale`` over ``axis``.

    Input shape: any. Output shape: the input shape.
    Weights: ``scale`` of the shape of the normalized axes.
    """

    keras_formats = (KERAS3,)
    fields = (
        Axis("axis", -1, "Axis or axes to normalize over."),
        Float("epsilon", 1e-6, "Small float added to the mean square.", min=0, min_open=True),
    )

    def build(self, input_shape):
        shape = tuple(input_shape)
        axes = resolve_axes(self, self.axis, len(shape))
        order = sorted([self.axis] if isinstance(self.axis, int) else list(self.axis))
        self._values["axis"] = order
        self._axes = axes
        self._bcast = _bshape(len(shape), axes, shape)
        self.scale = self.add_weight("scale", tuple(shape[a] for a in axes), "ones")

    def call(self, inputs):
        x = inputs.astype(np.float32, copy=False)
        axes = tuple(self._axes)
        ms = np.square(x).mean(axis=axes, keepdims=True)
        out = x * (1.0 / np.sqrt(ms + np.float32(self.epsilon)))
        return (out * self.scale.value.reshape(self._bcast)).astype(self.compute_dtype,
                                                                    copy=False)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        resolve_axes(self, self.axis, len(shape))
        return shape


def _l2_normalize(v: np.ndarray, keras2: bool) -> np.ndarray:
    sq = np.square(v).sum()
    if keras2:
        return v / np.sqrt(max(sq, 1e-12))
    return v * min(1.0 / np.sqrt(sq) if sq > 0 else np.inf, 1e7)


class SpectralNormalization(Layer):
    """Wraps a layer with a ``kernel`` (or ``embeddings``) and, in training, divides that
    kernel by its largest singular value, estimated with ``power_iterations`` steps of the
    power method from the stored vector ``vector_u`` (both are updated, as in Keras).
    Inference runs the wrapped layer unchanged. Keras 3 casts the output to the input's
    dtype (integer ids into a wrapped Embedding give truncated integer outputs); so does
    this layer unless it was read from a Keras 2 config.

    Input/output shape: those of the wrapped layer.
    Weights (Keras's order): the wrapped kernel, ``vector_u (1, kernel.shape[-1])``
    (non-trainable), then the wrapped layer's other weights.
    """

    autocast = False  # the wrapped layer casts; Keras 3 casts the output to the input dtype
    fields = (
        NestedLayer("layer", doc="The layer to wrap (it must have a kernel or embeddings)."),
        Int("power_iterations", 1, "Power-method steps per training call.", min=1),
    )

    def _post_init(self) -> None:
        self._keras2 = self.source_format == KERAS2
        if not isinstance(self.layer, Layer):
            raise self.config_error("layer", f"expected a layer, got {self.layer!r}")
        self._sublayers = [self.layer]
        self._kernel: Variable | None = None

    def build(self, input_shape):
        inner = self.layer
        if not inner.built:
            inner.build(input_shape)
        kernel = getattr(inner, "kernel", None)
        if not isinstance(kernel, Variable):
            kernel = getattr(inner, "embeddings", None)
        if not isinstance(kernel, Variable):
            raise self.config_error("layer", f"{type(inner).__name__} has no 'kernel' nor "
                                    f"'embeddings' weight to normalize")
        self._kernel = kernel
        for w in inner.weights:
            if not w.path.startswith(f"{self.name}/"):
                w.path = f"{self.name}/{w.path}"
        self.vector_u = self.add_weight("vector_u", (1, kernel.shape[-1]),
                                        serialization.get_object("initializer", {
                                            "class_name": "TruncatedNormal",
                                            "config": {"stddev": 0.02}}, "vector_u"),
                                        trainable=False, dtype=kernel.dtype)

    @property
    def weights(self) -> list[Variable]:
        if self._kernel is None:
            return self.layer.weights + list(self._weights)
        rest = [w for w in self.layer.weights if w is not self._kernel]
        return [self._kernel, *self._weights, *rest]

    def normalized_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The power-method step: ``(new vector_u, kernel / sigma)``."""
        k = np.asarray(self._kernel.value, np.float32)
        w = k.reshape(-1, k.shape[-1])
        u = np.asarray(self.vector_u.value, np.float32)
        v = u
        for _ in range(self.power_iterations):
            v = _l2_normalize(u @ w.T, self._keras2)
            u = _l2_normalize(v @ w, self._keras2)
        sigma = (v @ w) @ u.T
        return u.astype(np.float32), (w / sigma).reshape(k.shape).astype(np.float32)

    def call(self, inputs, training=False):
        if training and np.any(self._kernel.value != 0):
            u, k = self.normalized_weights()
            self.vector_u.value = u.astype(self.vector_u.dtype)
            self._kernel.value = k.astype(self._kernel.dtype)
        out = self.layer(inputs)
        if self._keras2:
            return out
        return out.astype(inputs.dtype, copy=False)  # Keras 3 (an int input truncates)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)
