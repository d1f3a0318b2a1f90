"""The ModelEditor's gradient row on a bounded sub-batch (issue 10 speed): its values are the
whole batch's gradients on the first samples, exactly; the label says which samples; quick
gradients come before the one picture of an edit, slow ones after the forward overview."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest

import engine
from widget import model_editor
from widget.model_editor import ModelEditor
from widget.model_gradients import GRADIENT_ELEMENTS, samples_note, sub_batch, targets_for

DATA = Path(__file__).parents[1] / "data" / "models"
sys.path.insert(0, str(DATA))
from arch_configs import resnet_config  # noqa: E402


def _rms(a):
    return float(np.sqrt(np.mean(np.square(np.asarray(a, np.float64)))))


@pytest.fixture(scope="module")
def small_resnet():
    # BatchNormalization (inference), residual adds, a softmax head: crossentropy by default
    return resnet_config(size=16, widths=(4, 8), blocks=1, name="tiny_resnet")


def _full_batch_rms(me, loss, targets, samples):
    kwargs = {} if loss is None else {"loss": loss, "targets": targets}
    g = engine.gradients(me.model, me.sample, **kwargs)
    return {s["name"]: _rms(np.asarray(g.outputs[s["name"]])[:samples])
            for s in me.statistics() if s["name"] in g.outputs}


@pytest.mark.parametrize("samples", [1, 2, 3])
def test_the_row_is_the_whole_batch_gradient_on_its_first_samples(small_resnet, samples):
    me = ModelEditor(small_resnet, gradient_samples=samples).run()
    size = me.sample.shape[0]
    assert size == 8 and me.gradient_basis == samples_note(samples, size)
    assert f"of {size}" in me.gradient_label() and "crossentropy" in me.gradient_label()
    shape = me.statistics()[-1]["output_shape"]
    t = targets_for("categorical_crossentropy", [tuple(shape)], me._state.seed)
    want = _full_batch_rms(me, "categorical_crossentropy", t, samples)
    got = {s["name"]: s["grad_rms"] for s in me.statistics() if "grad_rms" in s}
    assert set(got) == set(want) and len(got) > 10
    for name, v in want.items():
        assert got[name] == pytest.approx(v, rel=1e-5, abs=1e-12), name
    # the sum of outputs: cotangents of ones, no batch mean, no scale; on logits (the sum
    # of a softmax is 1 whatever the input: its gradients are float32 rounding noise, which
    # the row's smaller GEMMs round differently from the whole batch's)
    me = ModelEditor(_linear_head(small_resnet), gradient_samples=samples).run()
    me.loss_choice.value = "sum of outputs"
    want = _full_batch_rms(me, None, None, samples)
    assert len(want) > 10 and min(want.values()) > 1e-4
    for s in me.statistics():
        if s["name"] in want:
            assert s["grad_rms"] == pytest.approx(want[s["name"]], rel=1e-5, abs=1e-12)


def _linear_head(config):
    """The model config with its softmax head made linear (logits)."""
    out = copy.deepcopy(config)
    for layer in out["config"]["layers"]:
        if layer["config"].get("activation") == "softmax":
            layer["config"]["activation"] = "linear"
    return out


def test_all_samples_and_a_custom_loss_use_the_whole_batch(small_resnet):
    me = ModelEditor(small_resnet, gradient_samples=None, gradient_loss="mean_squared_error")
    assert me.gradient_basis == "all 8 samples"
    y = np.zeros(tuple(me.statistics()[-1]["output_shape"]), "float32")
    want = _full_batch_rms(me, "mean_squared_error", y, 8)
    for s in me.statistics():
        if s["name"] in want:
            assert s["grad_rms"] == pytest.approx(want[s["name"]], rel=1e-5, abs=1e-12)
    sub = ModelEditor(small_resnet, gradient_loss="mean_squared_error",
                      gradient_samples=2).run()
    assert sub.gradient_basis == "samples 1-2 of 8"
    first = sub.statistics()[2]
    assert first["grad_rms"] != pytest.approx(want[first["name"]], rel=1e-3)
    # your own loss and targets: the whole batch (their reduction is yours)
    assert sub.show_gradients("mean_squared_error", y)
    assert sub.gradient_basis == "all 8 samples" and "custom loss" in sub.gradient_label()
    assert sub.statistics()[2]["grad_rms"] == pytest.approx(want[first["name"]], rel=1e-5)


def test_sub_batch_cuts_every_input_and_says_so():
    x = np.arange(24.0).reshape(6, 4)
    cut, n = sub_batch([x, x + 1], 2)
    assert n == 2 and [c.shape for c in cut] == [(2, 4), (2, 4)] and cut[1][0, 0] == 1.0
    assert sub_batch(x, None)[1] == 6 and sub_batch(x, 10)[0] is x
    assert samples_note(1, 6) == "sample 1 of 6" and samples_note(6, 6) == "all 6 samples"
    # "auto": as many samples as GRADIENT_ELEMENTS input values allow, at least one
    assert GRADIENT_ELEMENTS == 65_536
    assert sub_batch(np.zeros((8, 96, 96, 3), "float32"), "auto")[1] == 2
    assert sub_batch(np.zeros((8, 160, 160, 3), "float32"), "auto")[1] == 1
    assert sub_batch([np.zeros((8, 96, 96, 3)), np.zeros((8, 96, 96, 1))], "auto")[1] == 1
    assert sub_batch(np.zeros((8, 16, 16, 3), "float32"), "auto")[1] == 8
    assert ModelEditor(resnet_config(size=16, widths=(4,), blocks=1)).gradient_basis == \
        "all 8 samples"
    with pytest.raises(ValueError, match="gradient_samples"):
        ModelEditor(resnet_config(size=16, widths=(4,), blocks=1), gradient_samples=0)


def _pictures(me):
    """The gradient note of each picture sent while an edit runs."""
    notes = []
    me.picture.observe(lambda _c: notes.append(me.gradient_note), "value")
    return notes


def test_quick_gradients_make_one_picture_slow_ones_come_after_the_overview(
        small_resnet, monkeypatch):
    me = ModelEditor(small_resnet).run()
    me.select("s2b1_conv2")
    assert me.timings["gradients"] <= model_editor.QUICK_GRADIENTS  # a tiny model
    notes = _pictures(me)
    assert me.set("kernel_initializer", "he_uniform")
    # one picture, every row current (the gradients were computed before it)
    assert notes == [None] and all("grad_rms" in s for s in me.statistics()[1:])
    assert me.timings["overview"] >= me.timings["gradients"]
    monkeypatch.setattr(model_editor, "QUICK_GRADIENTS", 0.0)
    notes.clear()
    assert me.set("kernel_initializer", "glorot_uniform")
    # the forward overview first (the row says "updating"), then the row drawn
    assert notes == ["updating", None]
    assert all("grad_rms" in s for s in me.statistics()[1:])
