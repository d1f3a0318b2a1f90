"""Depth experiments for teaching initializers: activation statistics layer by layer.

Builds a stack of bias-free ``Dense`` layers through ``engine.deserialize`` (so the
initializer math is exactly Keras's), runs a sample through it, and reports the mean, std
and RMS of every layer's pre-activations and activations, plus the RMS of the gradient
back-propagated to each layer. This reproduces, at initialization, the set-ups of Glorot &
Bengio (2010), He et al. (2015) and the CS231n activation-statistics demo.

Example:
    >>> stats = depth_statistics(10, 500, "tanh", "glorot_uniform", np.ones((4, 500)))
    >>> [round(s["std"], 3) for s in stats]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

import engine

if TYPE_CHECKING:
    from matplotlib.figure import Figure

def dense_stack(depth: int, units: int | Sequence[int], activation: str,
                kernel_initializer: Any, input_dim: int, *, seed: int | None = None) -> list:
    """``depth`` built bias-free Dense layers; ``seed`` makes every layer reproducible
    (layer i gets seed + i, so layers differ from one another)."""
    sizes = [units] * depth if isinstance(units, int) else list(units)
    layers, fan_in = [], input_dim
    for i, n in enumerate(sizes):
        init = kernel_initializer(fan_in) if callable(kernel_initializer) else kernel_initializer
        init = _with_seed(init, None if seed is None else seed + i)
        layer = engine.deserialize({"class_name": "Dense", "config": {
            "name": f"dense_{i + 1}", "units": n, "activation": activation, "use_bias": False,
            "kernel_initializer": init}})
        layer.build((None, fan_in))
        layers.append(layer)
        fan_in = n
    return layers


def _with_seed(init: Any, seed: int | None) -> Any:
    if seed is None:
        return init
    cfg = engine.serialize(engine.get_object("initializer", init, "kernel_initializer"))
    if "seed" in cfg["config"]:
        cfg["config"]["seed"] = seed
    return cfg


def _pre_activation_model(layers: Sequence) -> Any:
    """The stack as one Sequential model with each Dense split into a linear Dense (same
    kernel) and an Activation layer, so the gradient at the Dense's output is the gradient
    with respect to its pre-activations."""
    parts = []
    for layer in layers:
        cfg = engine.serialize(layer, "keras3")
        act = cfg["config"]["activation"]
        cfg["config"]["activation"] = "linear"
        linear = engine.deserialize(cfg)
        linear.build(layer.build_shape)
        linear.set_weights(layer.get_weights())
        parts += [linear, engine.deserialize({"class_name": "Activation", "config": {
            "name": f"{layer.name}_activation", "activation": act}})]
    model = engine.Sequential(parts)
    model.build(layers[0].build_shape)
    return model


def depth_statistics(layers: Sequence, x: np.ndarray, *, backward: bool = True
                     ) -> list[dict[str, Any]]:
    """Per layer: mean/std of activations, RMS of pre-activations, and the RMS of the
    gradient of a unit-variance random cost signal with respect to the pre-activations,
    back-propagated by ``engine.gradients`` (so any differentiable activation works)."""
    stats = []
    h = np.asarray(x, dtype=np.float32)
    for layer in layers:
        s = h @ layer.kernel.value
        a = layer.activation(s)
        stats.append({
            "layer": layer.name, "mean": float(a.mean()), "std": float(a.std()),
            "pre_rms": float(np.sqrt(np.mean(np.square(s, dtype=np.float64)))),
            "activations": a,
        })
        h = a
    if backward:
        rng = np.random.default_rng(0)
        delta = rng.standard_normal(h.shape).astype(np.float32)
        g = engine.gradients(_pre_activation_model(layers), np.asarray(x, np.float32), delta)
        for st, layer in zip(stats, layers):
            grad = np.asarray(g.outputs[layer.name], dtype=np.float64)
            st["grad_rms"] = float(np.sqrt(np.mean(np.square(grad))))
            st["gradients"] = grad
    return stats


def plot_depth(stats: Sequence[dict[str, Any]], *, title: str = "", bins: int = 30,
               value_range: tuple[float, float] | None = (-1.0, 1.0)) -> Figure:
    """One histogram of activations per layer, side by side (the CS231n picture)."""
    from matplotlib.figure import Figure  # here, not at import: drawing is optional

    n = len(stats)
    fig = Figure(figsize=(min(2.0 * n, 16), 2.4), layout="constrained")
    axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
    for ax, s in zip(axes, stats):
        ax.hist(s["activations"].ravel(), bins=bins, range=value_range, color="#4477aa")
        ax.set_title(f"{s['layer']}\nstd {s['std']:.3g}", fontsize=8)
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
