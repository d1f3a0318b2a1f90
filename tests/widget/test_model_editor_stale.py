"""ModelEditor (issue 10 speed): an edit runs the part downstream of the edited layer without
keeping its outputs (each output's statistics taken as it is made, the engine's in-place run
kept); those outputs are marked stale and made again (a traced run of the same part) only
when something reads one: selecting a layer downstream, an edit starting there, undo. These
tests check that whatever reads them gets what a fresh full pass gives; also the statistics
taken inside the run, and a shape change (the layers downstream built anew, those whose
weights change shape drawn alone from the seeded config)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import engine
from widget import model_stats
from widget.model_editor import ModelEditor
from widget.model_ref import leaf_layers, weights_of
from widget.model_sample import seeded
from widget.model_state import ModelState
from widget.model_stats import StatsObserver, activation_name, layer_stats

DATA = Path(__file__).parents[1] / "data" / "models"
sys.path.insert(0, str(DATA))
from arch_configs import mobilenet_v2_config, resnet_config  # noqa: E402


@pytest.fixture(scope="module")
def small_resnet():
    return resnet_config(size=16, widths=(4, 8), blocks=1, name="tiny_resnet")


def _like_a_fresh_editor(me):
    """Statistics and flags equal those of a fresh ModelEditor on the edited model."""
    fresh = ModelEditor(me.model, sample=me.sample, gradient_loss="off").run()
    ours = me.statistics()
    theirs = fresh.statistics()
    assert [s["name"] for s in ours] == [s["name"] for s in theirs]
    for a, b in zip(ours, theirs):
        for key in ("mean", "std", "rms", "zero_fraction", "saturated_fraction"):
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-12), (a["name"], key)
        assert a["dead_units"] == b["dead_units"] and a["flags"] == b["flags"], a["name"]
        if b["predicted_std"] is None:
            assert a["predicted_std"] is None, a["name"]
        else:
            assert a["predicted_std"] == pytest.approx(b["predicted_std"], rel=1e-6), a["name"]
        np.testing.assert_allclose(a["output_shape"], b["output_shape"])


def _kept_equal_a_full_pass(me):
    full = me.model.intermediate_outputs(me.sample)
    kept = me._state.activations()
    for name, value in full.items():
        np.testing.assert_array_equal(kept[name], value, err_msg=name)


def test_an_edit_keeps_no_downstream_output_and_select_makes_them_again(small_resnet):
    me = ModelEditor(small_resnet, gradient_loss="off").run()
    state = me._state
    me.select("s1b1_conv2")
    assert me.set("kernel_initializer", "he_uniform"), me.error
    down = [n for n in state.graph.downstream("s1b1_conv2") if n != "s1b1_conv2"]
    assert state._stale is not None and set(down) <= state._stale[2]
    assert not set(down) & set(state.trace)  # dropped, not held
    assert "s1b1_conv2" in state.trace and "s1b1_conv1" in state.trace
    _like_a_fresh_editor(me)  # the statistics were taken while the outputs were made
    me.select("s2b1_conv2")  # downstream: its real input, made again
    full = me.model.intermediate_outputs(me.sample)
    np.testing.assert_array_equal(np.asarray(me.editor.sample), full["s2b1_conv1_relu"])
    assert state._stale is None
    _kept_equal_a_full_pass(me)


def test_repeated_edits_of_one_layer_never_make_the_stale_outputs(small_resnet, monkeypatch):
    me = ModelEditor(small_resnet, gradient_loss="off").run()
    me.select("s1b1_conv2")
    traced = []
    real = engine.Model.intermediate_outputs

    def counted(self, *args, **kwargs):
        traced.append(self.name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(engine.Model, "intermediate_outputs", counted)
    for init in ("he_uniform", "glorot_uniform", "he_normal", "lecun_normal"):
        assert me.set("kernel_initializer", init), me.error
    assert me.set("use_bias", False), me.error
    assert traced == []  # neither the edited layer (called alone) nor the part after it
    monkeypatch.setattr(engine.Model, "intermediate_outputs", real)
    _like_a_fresh_editor(me)
    _kept_equal_a_full_pass(me)


@pytest.mark.parametrize("first, second", [
    ("stem", "s2b1_conv1"),  # B downstream of A: B's input was stale
    ("s2b1_conv1", "s1b1_conv1"),  # B upstream of A: B's run covers A's stale part
    ("s2b1_conv1", "s2b1_proj"),  # parallel branches: A's stale part is made first
])
def test_edit_a_then_edit_b_equals_a_fresh_editor(small_resnet, first, second):
    me = ModelEditor(small_resnet, gradient_loss="off").run()
    me.select(first)
    assert me.set("kernel_initializer", "he_uniform"), me.error
    me.select(second)
    assert me.set("kernel_initializer", "glorot_normal"), me.error
    assert me.set("activation", "tanh"), me.error
    _like_a_fresh_editor(me)
    _kept_equal_a_full_pass(me)


def test_undo_redo_after_untraced_edits_equal_a_fresh_editor(small_resnet):
    me = ModelEditor(small_resnet, gradient_loss="off").run()
    me.select("s1b1_conv1")
    assert me.set("kernel_initializer", "he_uniform"), me.error
    me.select("s2b1_conv2")
    assert me.set("kernel_initializer", {"class_name": "RandomNormal",
                                         "config": {"stddev": 3.0, "seed": 4}}), me.error
    before = me.statistics()
    assert me.undo()
    _like_a_fresh_editor(me)
    assert me.undo()
    _like_a_fresh_editor(me)
    _kept_equal_a_full_pass(me)
    assert me.redo() and me.redo()
    _like_a_fresh_editor(me)
    assert [s["std"] for s in me.statistics()] == pytest.approx(
        [s["std"] for s in before], rel=1e-6)


def test_a_refused_edit_leaves_the_stale_part_as_it_was(small_resnet):
    me = ModelEditor(small_resnet, gradient_loss="off").run()
    me.select("s1b1_conv2")
    assert me.set("kernel_initializer", "he_uniform"), me.error
    stale = me._state._stale
    stats = me.statistics()
    assert not me.set("filters", 6)  # the residual Add refuses it
    assert me._state._stale is stale and me.statistics() == stats
    me.select("s2b1_conv1")
    _kept_equal_a_full_pass(me)
    _like_a_fresh_editor(me)


@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("plant", [None, "dead", "nan"])
def test_statistics_of_an_observed_run_equal_those_of_kept_outputs(small_resnet, monkeypatch,
                                                                   batch, plant):
    """The statistics taken inside the run (the engine writing in place after each callback,
    the subsets finished in batches, flushed along the way when full) equal layer_stats of
    the same outputs kept by a traced run, bit for bit; also with dead units (their check
    on the whole output) and with NaN (such outputs go the general way)."""
    monkeypatch.setattr(model_stats, "BATCH", batch)
    model = engine.deserialize(small_resnet)
    if plant == "dead":  # half the channels of a BN output 0: dead downstream of it
        bn = model.get_layer("s1b1_conv1_bn")
        gamma, beta, *rest = bn.get_weights()
        gamma[::2], beta[::2] = 0.0, 0.0
        bn.set_weights([gamma, beta, *rest])
    elif plant == "nan":
        conv = model.get_layer("s2b1_conv1")
        kernel, *rest = conv.get_weights()
        kernel[0, 0, 0, 1] = np.nan
        conv.set_weights([kernel, *rest])
    x = np.random.default_rng(5).standard_normal((3, 16, 16, 3)).astype(np.float32)
    model(x)
    model(x)  # in place from the second run of a shape on
    entries = {la.name: engine.serialize(la) for la in model.layers}
    acts = {n: activation_name(e) for n, e in entries.items() if n != "image"}
    observer = StatsObserver(acts)
    with np.errstate(over="ignore", invalid="ignore"):
        model.call_observed(x, observer)
        observer.finish()
    kept = model.intermediate_outputs(x)
    assert list(observer.stats) == [n for n in kept if n in acts]
    seen = set()
    for name, st in observer.stats.items():
        with np.errstate(over="ignore", invalid="ignore"):
            want = layer_stats(kept[name], acts[name])
        seen.update({"dead"} if want["dead_units"] else set())
        seen.update({"nan"} if not want["finite"] else set())
        for key, value in want.items():
            if key == "values":
                np.testing.assert_array_equal(st[key], value, err_msg=name)
            else:
                assert st[key] == value or (value != value and st[key] != st[key]), \
                    (name, key)
    if plant is not None:
        assert plant in seen


def test_layers_drawn_alone_equal_the_whole_seeded_models():
    """A shape change re-initializes the layers whose weight shapes changed from the seeded
    config of the part downstream: each is built alone from its seeded entry (not the whole
    part with every initializer run), with the very draws of the whole seeded model."""

    sample = np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype(np.float32)
    state = ModelState(mobilenet_v2_config(32, classes=10, alpha=0.35), sample=sample, seed=3)
    model = state.model
    config = seeded(engine.serialize(model, format=engine.KERAS3), state.seed)
    paths = [p for p, layer in leaf_layers(model) if weights_of(layer)][::2]
    alone = state._seeded_layers(model, config, paths)
    whole = engine.deserialize(config)
    assert all(not isinstance(alone[p], engine.Model) for p in paths)  # drawn one by one
    for p in paths:
        ours, theirs = weights_of(alone[p]), weights_of(whole.get_layer(p))
        assert len(ours) == len(theirs) > 0
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a.value, b.value, err_msg=p)


def test_a_shape_change_downstream_equals_a_fresh_editor_and_a_second_one_too():
    """A change of a layer's output shape: the downstream layers are built anew (without
    their build configs), those whose weights change shape drawn anew (seeded), and the
    statistics equal a fresh editor's; the edited layer is built alone for its input."""
    sample = np.random.default_rng(1).standard_normal((2, 32, 32, 3)).astype(np.float32)
    me = ModelEditor(mobilenet_v2_config(32, classes=10, alpha=0.35), sample=sample,
                     gradient_loss="off").run()
    me.select("block_3_expand")
    filters = me.editor.config["config"]["filters"]
    assert me.set("filters", filters + 8), me.error
    assert me.reinitialized[:2] == ["block_3_expand", "block_3_expand_BN"]
    assert "block_3_project" in me.reinitialized
    _like_a_fresh_editor(me)
    assert me.set("filters", filters), me.error
    _like_a_fresh_editor(me)
    assert me.undo() and me.undo()
    _like_a_fresh_editor(me)


@pytest.mark.parametrize("shape", [(7, 5, 3), (4, 6, 6, 16), (2, 9, 9, 96), (3, 1, 1280),
                                   (13, 11, 2)])
def test_dead_units_from_folded_unit_sums_are_the_zero_columns(shape):
    """The per-unit sums (rows added fold at a time) find exactly the all-zero units, also
    with values cancelling out, and NaN/inf make the output non-finite."""
    rng = np.random.default_rng(len(shape) + shape[-1])
    x = np.maximum(rng.standard_normal(shape), 0).astype(np.float32)
    x2 = x.reshape(-1, shape[-1])
    x2[:, ::3] = 0                             # dead units
    if x2.shape[0] > 1 and shape[-1] > 1:
        x2[:, 1] = 0
        x2[0, 1], x2[-1, 1] = 2.5, -2.5        # sums to 0, alive
    dead = int(np.count_nonzero(~np.any(x2 != 0, axis=0)))
    fold = model_stats._fold(*x2.shape)
    assert x2.shape[0] % fold == 0
    sums = model_stats.unit_sums(x2, fold)
    assert set(np.flatnonzero(np.any(x2 != 0, axis=0))) <= set(np.flatnonzero(sums)) | {1}
    assert layer_stats(x)["dead_units"] == dead
    obs = StatsObserver({"a": None})
    obs("a", x)
    assert obs.finish()["a"]["dead_units"] == dead
    x2[-1, -1] = np.nan
    assert not layer_stats(x)["finite"]
