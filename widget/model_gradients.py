"""The ModelEditor's gradient row: gradient RMS by depth at initialization, from
``engine.gradients`` on the editor's seeded sample, with a loss the user can change.

The default loss (``"auto"``) is chosen from the model's output layer(s):

- ``categorical_crossentropy`` against seeded random one-hot targets when every output ends in
  a softmax (a classifier: this is the loss it would be trained with, and at initialization
  the targets' classes do not matter, only that they are one-hot);
- else ``mean_squared_error`` against zero targets: it needs no labels, and its gradient at the
  output is ``2 y / n``, the output itself scaled, so the row shows how the output's own
  magnitude is carried back through the depth (a regression's loss at initialization
  behaves the same while the targets are small next to the outputs).

``"sum of outputs"`` is the gradient of ``sum(outputs)`` (cotangents of ones), and ``"off"``
computes nothing. Targets are drawn with the editor's seed, so the row is reproducible.

**A bounded sub-batch.** The backward pass costs several forward passes and is redone after
every edit, so by default (``samples="auto"``) it runs on the first samples whose inputs
hold at most :data:`GRADIENT_ELEMENTS` values together (at least one sample; all of a small
model's batch; 2 of a 96×96×3 batch), and the picture's row says which. At inference a
layer treats each sample on its own, so the gradient of the batch's mean loss w.r.t. sample
``i``'s outputs is ``(1/B) dloss_i``: the sub-batch's gradients, scaled by ``b / B`` (a mean
loss; ``1`` for the sum of outputs), are *exactly* the full batch's gradients on those
samples (the targets are the full batch's, cut), and the row's RMS is taken over those
samples' entries. Your own loss and targets
(``show_gradients(loss, targets)``) run on the whole batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import engine

from .model_stats import activation_name

AUTO, SUM, OFF = "auto", "sum of outputs", "off"
#: the loss menu: (label, value)
LOSSES: list[tuple[str, str]] = [
    ("auto", AUTO),
    ("categorical crossentropy", "categorical_crossentropy"),
    ("sparse categorical crossentropy", "sparse_categorical_crossentropy"),
    ("mean squared error (vs 0)", "mean_squared_error"),
    ("sum of outputs", SUM),
    ("off", OFF),
]
VALUES = [v for _, v in LOSSES]
#: the automatic sub-batch of the gradient row: the first samples whose inputs hold at most
#: this many values together (at least one)
GRADIENT_ELEMENTS = 65_536


def batch_size(sample: Any) -> int:
    """The sample's batch size (its first input's first axis)."""
    first = sample[0] if isinstance(sample, list) else sample
    return int(np.shape(first)[0]) if np.ndim(first) else 1


def sub_batch(sample: Any, samples: int | str | None) -> tuple[Any, int]:
    """The first ``samples`` samples of ``sample`` (each input cut), and how many that is
    (the whole sample when ``samples`` is None or not smaller than the batch); ``"auto"``:
    as many as :data:`GRADIENT_ELEMENTS` input values allow."""
    size = batch_size(sample)
    if samples == "auto":
        per = sum(int(np.prod(np.shape(s)[1:])) for s in (
            sample if isinstance(sample, list) else [sample]))
        samples = max(1, GRADIENT_ELEMENTS // max(per, 1))
    if samples is None or samples >= size:
        return sample, size
    n = max(1, int(samples))
    if isinstance(sample, list):
        return [np.asarray(s)[:n] for s in sample], n
    return np.asarray(sample)[:n], n


def samples_note(used: int, size: int) -> str:
    """What the gradient row is computed on, for its label."""
    if used >= size:
        return f"all {size} samples" if size > 1 else "1 sample"
    return f"sample 1 of {size}" if used == 1 else f"samples 1-{used} of {size}"


def output_names(config: dict[str, Any]) -> list[str]:
    """The names of a model config's output layers (a Sequential's last layer)."""
    cfg = config.get("config") or {}
    outs = cfg.get("output_layers")
    if outs is None:
        layers = cfg.get("layers") or []
        return [layers[-1]["config"]["name"]] if layers else []
    if outs and isinstance(outs[0], str):  # one output written as [name, 0, 0]
        outs = [outs]
    return [o[0] for o in outs]


def _entries(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e.get("config", {}).get("name"): e for e in (config.get("config") or {}).get(
        "layers", [])}


def resolve(loss: str, config: dict[str, Any]) -> str:
    """The loss ``"auto"`` stands for with this model (see the module docstring)."""
    if loss != AUTO:
        return loss
    entries = _entries(config)
    names = output_names(config)
    soft = bool(names) and all(activation_name(entries.get(n, {})) == "softmax" for n in names)
    return "categorical_crossentropy" if soft else "mean_squared_error"


def targets_for(loss: str, shapes: Sequence[tuple[int, ...]], seed: int) -> Any:
    """Seeded targets for ``loss``, one per output of the given shapes (a list for several)."""
    rng = np.random.default_rng(seed)
    out = []
    for shape in shapes:
        if loss == "mean_squared_error":
            out.append(np.zeros(shape, np.float32))
            continue
        classes = int(shape[-1])
        ids = rng.integers(0, classes, size=tuple(shape[:-1]))
        out.append(ids.astype(np.int64) if loss == "sparse_categorical_crossentropy"
                   else np.eye(classes, dtype=np.float32)[ids])
    return out[0] if len(out) == 1 else out


def describe(loss: str, config: dict[str, Any]) -> str:
    """A short label of the loss in use, for the picture."""
    chosen = resolve(loss, config)
    what = {"categorical_crossentropy": "crossentropy vs seeded one-hot",
            "sparse_categorical_crossentropy": "sparse crossentropy vs seeded ids",
            "mean_squared_error": "MSE vs 0", SUM: "d sum(outputs)"}.get(chosen, chosen)
    return f"{what} (auto)" if loss == AUTO else what


def gradient_rms(model: Any, sample: Any, config: dict[str, Any], order: Sequence[str],
                 stats: dict[str, dict[str, Any]], loss: str, seed: int,
                 custom: tuple[Any, Any] | None = None, samples: int | str | None = None
                 ) -> tuple[dict[str, float], str | None]:
    """Per layer name in ``order``, the RMS of the loss's gradient w.r.t. its output; and
    None, or the reason there are no gradients (a layer without a backward pass, say), as
    text. ``custom``: your ``(loss, targets)`` instead of ``loss`` (on the whole batch).
    ``samples``: compute on the first this many samples only (see the module docstring:
    the values are the full batch's gradients on those samples). Never raises for a model or
    a loss engine.gradients refuses."""
    chosen = resolve(loss, config)
    kwargs: dict[str, Any] = {}
    size = batch_size(sample)
    x, used = (sample, size) if custom is not None else sub_batch(sample, samples)
    scale = 1.0
    if custom is not None:
        kwargs = {"loss": custom[0], "targets": custom[1]}
    elif chosen != SUM:
        shapes = []
        for n in output_names(config):
            st = stats.get(n)
            if st is None or not st.get("output_shape"):
                return {}, f"no gradients: the output {n!r} has no statistics"
            shapes.append(tuple(st["output_shape"]))
        targets = targets_for(chosen, shapes, seed)  # the full batch's, cut
        if used < size:
            targets = [t[:used] for t in targets] if isinstance(targets, list) else \
                targets[:used]
            scale = used / size  # a mean over b samples, not B: the full batch's gradients
        kwargs = {"loss": chosen, "targets": targets}
    try:
        g = engine.gradients(model, x, **kwargs)
    except (engine.ConfigError, ValueError, TypeError, NotImplementedError) as e:
        return {}, f"no gradients: {e}"
    except Exception as e:  # noqa: BLE001 - the row says why; the overview stays usable
        return {}, f"no gradients: {type(e).__name__}: {e}"
    rms: dict[str, float] = {}
    for name in order:
        grad = g.outputs.get(name)
        if grad is None:
            grad = g.outputs.get(name.rsplit("/", 1)[-1])
        if isinstance(grad, (list, tuple)):
            grad = next((a for a in grad if a is not None), None)
        if grad is not None:
            arr = np.asarray(grad)
            # squares in the gradient's precision, summed in float64
            rms[name] = scale * float(np.sqrt(np.sum(np.square(arr), dtype=np.float64) /
                                              arr.size)) if arr.size else 0.0
    return rms, None


class GradientRow:
    """The ModelEditor's gradient-row methods (a mixin: uses its ``_state``, ``_loss``,
    ``_custom``, ``gradient_note``, ``timings``, ``loss_choice``, ``run`` and ``_draw``)."""

    _state: Any
    _loss: str
    _custom: tuple[Any, Any] | None
    gradient_note: str | None
    timings: dict[str, float]
    loss_choice: Any
    error: str | None
    gradient_samples: int | str | None
    sample: Any

    def run(self) -> Any:
        raise NotImplementedError

    def _draw(self) -> None:
        raise NotImplementedError

    def show_gradients(self, loss: Any = AUTO, targets: Any = None) -> bool:
        """Set the gradient row's loss: one of the menu's (``"auto"``, a loss name, ``"sum
        of outputs"``, ``"off"``; targets seeded), or any Keras loss name or config with your
        ``targets``. The row is recomputed now and after every edit. Returns True when the
        gradients were computed; False with :attr:`error` (and the row's note) set when not
        (an unknown loss, a model that cannot be differentiated)."""
        self.run()
        if targets is None and loss in VALUES:
            self._custom = None
            if self.loss_choice.value != loss:
                self.loss_choice.value = loss  # recomputes (observer)
            else:
                self._gradients()
        else:
            self._custom = (loss, targets)
            self._gradients()
        if self.gradient_note and self.gradient_note != OFF:
            self.error = self.gradient_note
            return False
        self.error = None
        return self.gradient_note is None

    @property
    def gradient_basis(self) -> str:
        """What the gradient row is computed on: "samples 1-2 of 8", "all 4 samples"..."""
        size = batch_size(self.sample)
        used = size if self._custom is not None else sub_batch(self.sample,
                                                               self.gradient_samples)[1]
        return samples_note(used, size)

    def gradient_label(self) -> str:
        """The gradient row's label: its loss and what it is computed on."""
        label = "custom loss" if self._custom else describe(self._loss, self._state.config)
        return f"{label}\n{self.gradient_basis}"  # two short lines: a narrow row fits them

    @property
    def gradient_loss(self) -> str:
        """The gradient row's loss (the menu's value), or "custom" after
        ``show_gradients(loss, targets)``."""
        return "custom" if self._custom else self._loss

    def _gradients(self, draw: bool = True) -> None:
        """Compute the gradient row (after the forward overview is drawn) and draw it."""
        t0 = time.perf_counter()
        st = self._state
        for s in st.stats.values():
            s.pop("grad_rms", None)
        if self._custom is None and self._loss == OFF:
            self.gradient_note = OFF
        else:
            rms, self.gradient_note = gradient_rms(self.model, self.sample, st.config,
                                                   st.order, st.stats, self._loss, st.seed,
                                                   self._custom, self.gradient_samples)
            for name, v in rms.items():
                st.stats[name]["grad_rms"] = v
        self.timings["gradients"] = time.perf_counter() - t0
        if draw:
            self._draw()

    def _on_loss(self, change: dict[str, Any]) -> None:
        self._loss, self._custom = change["new"], None
        self.gradient_note = None if self._loss != OFF else OFF
        self._gradients()
