"""Helpers of the engine.gradients tests: central finite differences in float64 with the
noise and dropout draws held fixed, and the replay of recorded dropout draws for the
TensorFlow cases (tests/oracle_gen/gradients_extra.py)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.gradients import Call
from engine.gradients.lookup import vjp_of
from engine.gradients.model import flatten


def reseed(obj, seed=7):
    """Fresh seeded generators for ``obj`` and every layer inside it (cells, wrapped
    layers), in a fixed order: the same noise and dropout draws at every call."""
    obj._rng = np.random.default_rng(seed)
    for i, sub in enumerate(getattr(obj, "_sublayers", None) or []):
        reseed(sub, seed * 31 + i + 1)


def _vjp_run(layer, xs, training, extra=None):
    """The VJP's forward (with a fixed noise draw), and its backward."""
    reseed(layer)
    y, back = vjp_of(layer, layer.name)(layer, xs, Call(training=training, where=layer.name,
                                                        extra=extra or {}))
    return y, back


def _objective(layer, xs, training, cot, extra=None):
    y, _ = _vjp_run(layer, xs, training, extra)
    ys = flatten(y)
    return float(sum(np.sum(np.asarray(a, np.float64) * c) for a, c in zip(ys, cot)))


def fd_check(layer, xs, training, rng, n=12, h=1e-6, extra=None):
    """Every input's and trainable weight's gradient (at ``n`` random entries) against
    central finite differences of ``sum(output * cotangent)``, in float64."""
    y, back = _vjp_run(layer, xs, training, extra)
    cot = [rng.standard_normal(np.shape(a)) for a in flatten(y)]  # (nested states: flat)
    gxs, gws = back(cot if isinstance(y, list) else cot[0])
    for i, x in enumerate(xs):
        if not np.issubdtype(x.dtype, np.floating):
            assert gxs[i] is None
            continue
        for flat in rng.choice(x.size, min(n, x.size), replace=False):
            idx = np.unravel_index(flat, x.shape)
            old = x[idx]
            x[idx] = old + h
            up = _objective(layer, xs, training, cot, extra)
            x[idx] = old - h
            down = _objective(layer, xs, training, cot, extra)
            x[idx] = old
            fd = (up - down) / (2 * h)
            assert gxs[i][idx] == pytest.approx(fd, rel=1e-5, abs=1e-6), \
                f"input {i} at {idx}"
    for w in layer.weights:
        if not w.trainable:
            assert w.path not in gws
            continue
        g = gws.get(w.path, np.zeros(w.shape))  # none: no gradient reaches it (as the API)
        for flat in rng.choice(w.size, min(n, w.size), replace=False):
            idx = np.unravel_index(flat, w.shape)
            old = w.value[idx]
            w.value[idx] = old + h
            up = _objective(layer, xs, training, cot, extra)
            w.value[idx] = old - h
            down = _objective(layer, xs, training, cot, extra)
            w.value[idx] = old
            fd = (up - down) / (2 * h)
            assert g[idx] == pytest.approx(fd, rel=1e-5, abs=1e-6), f"{w.path} at {idx}"


def perturb_weights(layer, rng):
    """Weights away from the initializers' special values (zeros, ones)."""
    for w in layer.weights:
        w.value = np.asarray(w.value + rng.uniform(0.2, 0.5, w.shape) * (
            1 if "variance" in w.name else rng.choice([-1, 1], w.shape)))


class Replay:
    """A stand-in for a layer's generator that returns recorded uniforms, in order: the
    dropout draws the oracle generator gave TensorFlow as masks (see
    tests/oracle_gen/gradients_extra.py). ``bit_generator.state`` rewinds it."""

    def __init__(self, draws):
        self.draws, self.at = list(draws), 0

    @property
    def bit_generator(self):
        return self

    @property
    def state(self):
        return self.at

    @state.setter
    def state(self, value):
        self.at = value

    def random(self, shape):
        assert self.at < len(self.draws), "the engine draws more than was recorded"
        u = self.draws[self.at]
        assert u.shape == tuple(shape), f"draw {self.at}: shape {shape}, recorded {u.shape}"
        self.at += 1
        return u


def _place(obj, where):
    """The engine object at ``where``: '' (itself), 'cell', 'forward_layer.cell',
    'cell.cells.1', 'layer:<name>.cell'."""
    for part in [p for p in where.split(".") if p]:
        if part.startswith("layer:"):
            obj = obj.get_layer(part[6:])
        elif part.isdigit():
            obj = obj[int(part)]
        else:
            obj = getattr(obj, part)
    return obj


def install_draws(obj, meta, z):
    replays = []
    for where, names in meta.get("draws") or []:
        replay = Replay([z[n] for n in names])
        _place(obj, where)._rng = replay
        replays.append((where, replay))
    return replays
