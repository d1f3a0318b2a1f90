"""ModelEditor's programmatic API (issue 10) on small models built from configs (Sequential,
functional, nested) and on saved models: statistics, flags, select, edit in place (weights
kept or re-initialized, only downstream recomputed), pin, undo/redo/reset, export, save."""

from __future__ import annotations

import copy
import json
import math
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

import engine
from widget import model_state
from widget.model_editor import ModelEditor

DATA = Path(__file__).parents[1] / "data" / "models"
sys.path.insert(0, str(DATA))
from arch_configs import resnet_config  # noqa: E402

KEYS = {"name", "class_name", "output_shape", "mean", "std", "rms", "zero_fraction",
        "saturated_fraction", "dead_units", "flags"}


def dense(name, units, activation="linear", init=None, **kw):
    cfg = {"name": name, "units": units, "activation": activation, **kw}
    if init is not None:
        cfg["kernel_initializer"] = init
    return {"module": "keras.layers", "class_name": "Dense", "config": cfg,
            "registered_name": None}


def sequential(*layers, width=16, name="seq"):
    inp = {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
           "config": {"batch_shape": [None, width], "dtype": "float32", "name": "x"}}
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": name, "layers": [inp, *layers]}}


def normal(std, seed=1):
    return {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": std, "seed": seed}}


@pytest.fixture
def seq():
    return ModelEditor(sequential(dense("d1", 32, "relu"), dense("d2", 32, "relu"),
                                  dense("d3", 8, "tanh"), dense("d4", 4))).run()


@pytest.fixture(scope="module")
def small_resnet():
    return resnet_config(size=16, widths=(4, 8), blocks=1, name="tiny_resnet")


def outputs_of(me):
    return me.model.intermediate_outputs(me.sample)


def check_stats_match(me, trace, names):
    stats = {s["name"]: s for s in me.statistics()}
    for name in names:
        x = np.asarray(trace[name], np.float64)
        s = stats[name]
        assert s["output_shape"] == x.shape
        assert s["mean"] == pytest.approx(x.mean(), rel=1e-6, abs=1e-9)
        assert s["std"] == pytest.approx(x.std(), rel=1e-6, abs=1e-9)
        assert s["rms"] == pytest.approx(math.sqrt((x * x).mean()), rel=1e-6, abs=1e-9)
        assert s["zero_fraction"] == pytest.approx((x == 0).mean())
        dead = int((~np.any(x.reshape(-1, x.shape[-1]) != 0, axis=0)).sum())
        assert s["dead_units"] == dead


# -- statistics ---------------------------------------------------------------------------------


def test_statistics_in_depth_order_with_the_contract_keys(seq):
    stats = seq.statistics()
    assert [s["name"] for s in stats] == ["d1", "d2", "d3", "d4"]
    for s in stats:
        assert KEYS <= set(s)
        assert isinstance(s["flags"], list)
    check_stats_match(seq, outputs_of(seq), ["d1", "d2", "d3", "d4"])


def test_functional_statistics_match_the_model_outputs(small_resnet):
    me = ModelEditor(small_resnet)
    trace = outputs_of(me)
    names = [s["name"] for s in me.statistics()]
    assert names[0] == "rescale" and names[-1] == "logits"
    assert "image" not in names  # inputs are not layers with statistics
    check_stats_match(me, trace, names)


def test_nested_models_are_flattened_with_their_path():
    cfg = json.loads((DATA / "k3_model_nested.json").read_text())["model_config"]
    me = ModelEditor(cfg)
    names = [s["name"] for s in me.statistics()]
    assert "inner/inner_dense" in names and "inner_seq/seq_dense" in names
    assert names.index("inner/inner_dense") < names.index("inner") < names.index("out")
    inner = me.model.get_layer("inner_seq")
    x = me.model.intermediate_outputs(me.sample)["inner"]
    trace = inner.intermediate_outputs(x)
    stats = {s["name"]: s for s in me.statistics()}
    assert stats["inner_seq/seq_dense"]["std"] == pytest.approx(
        np.asarray(trace["seq_dense"], np.float64).std(), rel=1e-6)
    me.select("seq_dense")  # a unique plain name finds the nested layer
    assert me.selected == "inner_seq/seq_dense"
    np.testing.assert_array_equal(me.editor.layer.get_weights()[0],
                                  inner.get_layer("seq_dense").get_weights()[0])
    np.testing.assert_allclose(np.asarray(me.editor.sample), np.asarray(x))
    assert me.set("activation", "relu")
    assert me.model.get_layer("inner_seq").get_layer("seq_dense").activation_name == "relu" \
        if hasattr(me.model.get_layer("inner_seq").get_layer("seq_dense"),
                   "activation_name") else True
    fresh = ModelEditor(me.model, sample=me.sample)
    for a, b in zip(me.statistics(), fresh.statistics()):
        assert a["name"] == b["name"] and a["std"] == pytest.approx(b["std"], rel=1e-6)


def test_saved_model_opens_and_its_statistics_match():
    me = ModelEditor(DATA / "k3_model_skip.keras")
    trace = outputs_of(me)
    check_stats_match(me, trace, [s["name"] for s in me.statistics()])


def test_flags_dead_saturated_vanishing_exploding_nan():
    cfg = sequential(dense("sat", 32, "tanh", normal(1.0)),
                     dense("dead", 32, "relu", {"class_name": "Zeros", "config": {}}),
                     dense("small", 32, "linear", normal(1e-4)),
                     dense("big", 32, "linear", normal(1e3, seed=2)))
    me = ModelEditor(cfg)
    flags = {s["name"]: s["flags"] for s in me.statistics()}
    assert "saturated" in flags["sat"] and "dead" not in flags["sat"]
    assert "dead" in flags["dead"]
    me2 = ModelEditor(sequential(dense("a", 32, "linear", normal(0.3)),
                                 dense("b", 32, "linear", normal(0.003, seed=3)),
                                 dense("c", 32, "linear", normal(30.0, seed=4)),
                                 dense("d", 32, "linear", normal(30.0, seed=5))))
    f2 = {s["name"]: s["flags"] for s in me2.statistics()}
    assert f2["a"] == [] and "vanishing" in f2["b"] and "exploding" in f2["d"]
    model = me2.model
    k = model.get_layer("c").weights[0]
    k.assign(np.full(k.shape, np.nan, np.float32))
    me3 = ModelEditor(model, sample=me2.sample)
    assert "nan" in {s["name"]: s["flags"] for s in me3.statistics()}["c"]


def test_predicted_std_follows_the_variance_argument():
    # Dense 512 -> 256, glorot_uniform, linear: Var[y] = fan_in * 2/(fan_in+fan_out) * E[x²]
    me = ModelEditor(sequential(dense("lin", 256), dense("relu", 256, "relu",
                                                         {"class_name": "HeNormal",
                                                          "config": {"seed": 3}}),
                                width=512))
    s = {x["name"]: x for x in me.statistics()}
    x_rms = float(np.sqrt(np.mean(np.asarray(me.sample, np.float64) ** 2)))
    assert s["lin"]["predicted_std"] == pytest.approx(
        math.sqrt(512 * 2 / (512 + 256)) * x_rms, rel=1e-6)
    assert s["lin"]["std"] == pytest.approx(s["lin"]["predicted_std"], rel=0.1)
    # He: pre-activation std sqrt(2 * E[x²]); relu's std is 0.5838 of that
    assert s["relu"]["predicted_std"] == pytest.approx(
        math.sqrt(2) * s["lin"]["rms"] * 0.58385, rel=0.01)
    assert s["relu"]["std"] == pytest.approx(s["relu"]["predicted_std"], rel=0.15)
    assert "off theory" not in s["relu"]["flags"]


def test_planted_kernel_stands_out_from_its_own_theory():
    model = engine.deserialize(sequential(dense("a", 64, "relu", {"class_name": "HeNormal",
                                                                   "config": {"seed": 1}}),
                                          dense("b", 64, "relu", {"class_name": "HeNormal",
                                                                   "config": {"seed": 2}}),
                                          width=64))
    k = model.get_layer("b").weights[0]
    k.assign(np.asarray(k.value) * 10)
    s = {x["name"]: x for x in ModelEditor(model).statistics()}
    assert "off theory" in s["b"]["flags"] and "off theory" not in s["a"]["flags"]
    assert s["b"]["std"] / s["b"]["predicted_std"] == pytest.approx(10, rel=0.1)


# -- the sample ---------------------------------------------------------------------------------


def test_sample_from_rescaling_range_and_embedding_ids():
    me = ModelEditor(resnet_config(size=8, widths=(4,), blocks=1))
    x = np.asarray(me.sample)
    assert x.min() >= 0 and x.max() < 255 and x.max() > 200  # Rescaling(1/255): [0, 255)
    assert "uniform in [0, 255)" in me._state.sample_note
    cfg = {"module": "keras", "class_name": "Sequential", "registered_name": None,
           "config": {"name": "emb", "layers": [
               {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                "config": {"batch_shape": [None, 5], "dtype": "int32", "name": "ids"}},
               {"module": "keras.layers", "class_name": "Embedding", "registered_name": None,
                "config": {"name": "emb", "input_dim": 7, "output_dim": 3}}]}}
    me = ModelEditor(cfg)
    ids = np.asarray(me.sample)
    assert ids.dtype.kind == "i" and ids.min() >= 0 and ids.max() < 7 and ids.max() == 6
    a = ModelEditor(cfg, seed=3).sample
    np.testing.assert_array_equal(a, ModelEditor(cfg, seed=3).sample)


def test_sample_is_bounded_and_says_so():
    me = ModelEditor(sequential(dense("d", 2), width=300_000)).run()
    assert np.asarray(me.sample).size <= 1_000_000
    assert np.asarray(me.sample).shape[0] == 3
    assert "batch shrunk to 3" in me._state.sample_note
    assert "batch shrunk to 3" in me.header.value


# -- select and edit ----------------------------------------------------------------------------


def test_select_shows_the_real_layer_and_input(seq):
    seq.select("d2")
    assert seq.selected == "d2"
    np.testing.assert_array_equal(seq.editor.layer.get_weights()[0],
                                  seq.model.get_layer("d2").get_weights()[0])
    np.testing.assert_allclose(np.asarray(seq.editor.sample), outputs_of(seq)["d1"])
    with pytest.raises(ValueError, match="no layer 'nope'"):
        seq.select("nope")


def test_edit_keeps_loaded_weights_and_recomputes_downstream_only(seq):
    seq.select("d2")
    before = {s["name"]: s for s in seq.statistics()}
    kernels = {n: seq.model.get_layer(n).get_weights()[0] for n in ("d1", "d2", "d3")}
    kept_d1 = seq._state.trace["d1"]
    old_model = seq.model
    assert seq.set("activation", "tanh") is True
    assert seq.error is None and seq.model is not old_model
    assert seq.reinitialized == []
    for n, k in kernels.items():
        np.testing.assert_array_equal(seq.model.get_layer(n).get_weights()[0], k)
    assert seq._state.trace["d1"] is kept_d1  # upstream activations kept, not recomputed
    after = {s["name"]: s for s in seq.statistics()}
    # (the gradient RMS of d1 depends on the layers after it: computed anew, whole)
    assert {k: v for k, v in after["d1"].items() if k != "grad_rms"} == \
        {k: v for k, v in before["d1"].items() if k != "grad_rms"}
    assert after["d2"]["std"] != before["d2"]["std"]
    assert after["d2"]["zero_fraction"] == 0.0 < before["d2"]["zero_fraction"]
    check_stats_match(seq, outputs_of(seq), list(after))
    assert seq.editor.layer.get_config()["activation"] == "tanh"


def test_functional_partial_recompute_equals_a_full_pass(small_resnet):
    me = ModelEditor(small_resnet)
    me.select("s2b1_conv2")
    assert me.set("kernel_initializer", "glorot_uniform")
    assert me.reinitialized == ["s2b1_conv2"]
    fresh = ModelEditor(me.model, sample=me.sample)
    for a, b in zip(me.statistics(), fresh.statistics()):
        assert a["name"] == b["name"]
        assert a["std"] == pytest.approx(b["std"], rel=1e-6, abs=1e-12)
        assert a["flags"] == b["flags"]


def test_initializer_change_reinitializes_that_layer_seeded(small_resnet):
    eds = [ModelEditor(small_resnet, seed=5) for _ in range(2)]
    for me in eds:
        me.select("s1b1_conv1")
        old = me.model.get_layer("s1b1_conv1").get_weights()[0]
        assert me.set("kernel_initializer", "he_uniform")
        new = me.model.get_layer("s1b1_conv1").get_weights()[0]
        assert not np.array_equal(old, new)
        limit = math.sqrt(6 / (3 * 3 * 4))
        assert np.abs(new).max() <= limit
    np.testing.assert_array_equal(eds[0].model.get_layer("s1b1_conv1").get_weights()[0],
                                  eds[1].model.get_layer("s1b1_conv1").get_weights()[0])


def test_shape_change_reinitializes_downstream_layers_whose_shapes_change(seq):
    seq.select("d2")
    d4 = seq.model.get_layer("d4").get_weights()[0]
    assert seq.set("units", 12)
    assert seq.reinitialized == ["d2", "d3"]
    assert seq.model.get_layer("d3").get_weights()[0].shape == (12, 8)
    np.testing.assert_array_equal(seq.model.get_layer("d4").get_weights()[0], d4)
    assert "re-initialized: d2, d3" in seq.status.value
    assert {s["name"]: s for s in seq.statistics()}["d2"]["output_shape"][-1] == 12


def test_functional_shape_change_through_a_residual_block(small_resnet):
    me = ModelEditor(small_resnet)
    me.select("s2b1_conv1")
    assert me.set("filters", 6), me.error
    assert set(me.reinitialized) == {"s2b1_conv1", "s2b1_conv1_bn", "s2b1_conv2"}
    fresh = ModelEditor(me.model, sample=me.sample)
    for a, b in zip(me.statistics(), fresh.statistics()):
        assert a["std"] == pytest.approx(b["std"], rel=1e-6, abs=1e-12)


def test_bad_value_is_refused_and_the_model_stays(seq):
    seq.select("d2")
    model, stats = seq.model, seq.statistics()
    assert seq.set("units", -3) is False
    assert "units" in seq.error
    assert seq.model is model and seq.statistics() == stats
    assert seq.set("name", "renamed") is False
    assert "renaming" in seq.error and seq.model is model
    assert seq.set("units", 5) is True and seq.error is None


def test_set_without_selection_is_refused(seq):
    assert seq.set("units", 3) is False and "select a layer" in seq.error


def test_on_change_reports_changes_and_errors(seq):
    events = []
    seq.on_change(events.append)
    seq.select("d1")
    seq.set("activation", "tanh")
    seq.set("units", 0)
    assert [e["type"] for e in events] == ["change", "error"]
    assert events[0]["path"] == "activation" and events[0]["layer"] == "d1"
    assert events[1]["error"] == seq.error


def test_editing_from_the_embedded_form_applies_to_the_model(seq):
    seq.select("d3")
    seq.editor.controls["activation"].value = "relu"
    assert seq.model.get_layer("d3").get_config()["activation"] == "relu"
    assert seq.statistics()[2]["saturated_fraction"] == 0.0


# -- pin, history, actions ----------------------------------------------------------------------


def test_pin_keeps_a_baseline_and_the_table_shows_deltas(seq):
    seq.pin()
    base = copy.deepcopy(seq.baseline)
    assert base == seq.statistics()
    seq.select("d1")
    seq.set("kernel_initializer", {"class_name": "RandomNormal", "config": {"stddev": 1.0}})
    assert seq.baseline == base and seq.statistics() != base
    assert "Δstd" in seq.table_head.value


def test_undo_redo_reset_across_the_model(seq):
    start = seq.statistics()
    w0 = seq.model.get_layer("d1").get_weights()[0]
    seq.select("d1")
    seq.set("kernel_initializer", "he_normal")
    edited = seq.statistics()
    seq.select("d3")
    seq.set("units", 6)
    assert seq.undo() and seq.statistics() == edited
    assert seq.undo() and seq.statistics() == start
    np.testing.assert_array_equal(seq.model.get_layer("d1").get_weights()[0], w0)
    assert seq.undo() is False
    assert seq.redo() and seq.statistics() == edited
    assert seq.reset() and seq.statistics() == start
    assert seq.undo() and seq.statistics() == edited  # reset is one undoable step


def test_reinitialize_selected_or_a_whole_class(small_resnet):
    me = ModelEditor(small_resnet)
    me.select("s1b1_conv1")
    assert me.reinitialize("zeros")
    assert not np.any(me.model.get_layer("s1b1_conv1").get_weights()[0])
    assert "dead" in {s["name"]: s for s in me.statistics()}["s1b1_conv1"]["flags"]
    assert me.reinitialize("orthogonal", class_name="Conv2D")
    convs = [s["name"] for s in me.statistics() if s["class_name"] == "Conv2D"]
    assert me.reinitialized == convs and len(convs) == 6
    assert me.model.get_layer("stem").get_config()["kernel_initializer"]["class_name"] == \
        "Orthogonal"


def test_export_both_formats_rebuild_the_edited_model(seq):
    seq.select("d2")
    seq.set("units", 20)
    for fmt in ("keras3", "keras2"):
        cfg = json.loads(seq.export(fmt))
        model = engine.deserialize(cfg)
        assert model.get_layer("d2").get_config()["units"] == 20
        for a, b in zip(model.layers, seq.model.layers):
            a.set_weights(b.get_weights())
        np.testing.assert_allclose(model(seq.sample), seq.model(seq.sample), rtol=1e-6)


def test_save_keras_file_reopens_with_the_same_outputs(seq, tmp_path):
    seq.select("d1")
    seq.set("activation", "gelu")
    path = tmp_path / "edited.keras"
    seq.save(path)
    again = engine.load(path)
    np.testing.assert_allclose(again(seq.sample), seq.model(seq.sample), rtol=1e-6, atol=1e-7)
    me2 = ModelEditor(path, sample=seq.sample)
    assert [s["std"] for s in me2.statistics()] == pytest.approx(
        [s["std"] for s in seq.statistics()], rel=1e-6)


def test_without_kept_activations_edits_rerun_the_whole_model(seq, monkeypatch):
    monkeypatch.setattr(model_state, "MAX_KEPT_ELEMENTS", 0)
    me = ModelEditor(sequential(dense("d1", 8, "relu"), dense("d2", 8)))
    assert me._state.trace is None
    me.select("d2")
    assert me.set("activation", "tanh")
    check_stats_match(me, outputs_of(me), ["d1", "d2"])


# -- the view -----------------------------------------------------------------------------------


def test_picture_is_replaced_not_appended_and_no_pyplot_figures(seq):
    first = bytes(seq.picture.value)
    assert first.startswith(b"\x89PNG")
    seq.select("d1")
    seq.set("kernel_initializer", {"class_name": "RandomNormal", "config": {"stddev": 2.0}})
    assert bytes(seq.picture.value) != first
    seq.log_colour.value = True
    assert plt.get_fignums() == []


def test_table_row_and_search_box_pick_a_layer(seq):
    seq.table.value = "d3"
    assert seq.selected == "d3" and seq.editor is not None
    seq.search.value = "d1"
    assert seq.selected == "d1" and seq.table.value == "d1"
    seq.search.value = "zzz"
    assert "no layer 'zzz'" in seq.error and seq.selected == "d1"
    seq.filter.value = "d2"
    assert [o[1] for o in seq.table.options] == ["d2"]
    seq.filter.value = ""
    seq.sort.value = "std"
    stds = [s["std"] for s in sorted(seq.statistics(), key=lambda s: -s["std"])]
    got = {s["name"]: s["std"] for s in seq.statistics()}
    assert [got[o[1]] for o in seq.table.options] == stds


def test_thresholds_are_stated_in_the_widget(seq):
    for word in ("saturated", "dead", "vanishing", "exploding", "50%", "1%", "10"):
        assert word in seq.header.value


def test_it_is_a_widget_that_composes():
    import ipywidgets as widgets

    me = ModelEditor(sequential(dense("d", 4)))
    assert isinstance(me, widgets.VBox)
    widgets.HBox([me])


@pytest.mark.parametrize("case", ["skip", "nested", "siamese_shared", "masked_mlp",
                                  "mha_masked", "bigru"])
def test_saved_models_every_layer_edited_in_place_matches_a_full_pass(case):
    """Shared layers, nested models, multi-input layers, Keras 3 graph operations and masks
    (which make every edit rerun the whole model): each layer gets an edit; an applied edit
    gives the statistics of a fresh full pass, a refused one leaves the model as it was."""
    me = ModelEditor(DATA / f"k3_model_{case}.keras")
    applied = 0
    for s in me.statistics()[:-1]:
        me.select(s["name"])
        model, stats = me.model, me.statistics()
        if me.set("trainable", False):
            applied += 1
            assert me.model.get_layer(s["name"].split("/")[0]) is not None
            fresh = ModelEditor(me.model, sample=me.sample)
            for a, b in zip(me.statistics(), fresh.statistics()):
                assert a["name"] == b["name"]
                assert a["std"] == pytest.approx(b["std"], rel=1e-6, abs=1e-12) or \
                    (math.isnan(a["std"]) and math.isnan(b["std"]))
        else:
            assert me.error and me.model is model and me.statistics() == stats
    assert applied >= len(me.statistics()) - 2


def test_a_layer_with_several_inputs_opens_in_the_editor():
    me = ModelEditor(DATA / "k3_model_skip.keras")
    me.select("residual")
    assert me.editor is not None and me.editor.error is None
    # the LayerEditor takes several inputs now (the real ones); before, it fell back to
    # the layer's config on a seeded sample and the title said so
    real = me._state.layer_input("residual")
    if "seeded sample" not in me.editor_title.value:
        assert isinstance(me.editor.sample, list) and len(me.editor.sample) == len(real)
        for a, b in zip(me.editor.sample, real):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert me.set("trainable", False)


def test_masking_models_rerun_whole_and_graph_operations_are_not_layers():
    me = ModelEditor(DATA / "k3_model_masked_mlp.keras")
    assert me._state.trace is None  # a cut would drop the masks
    names = [s["name"] for s in me.statistics()]
    assert "not_equal" not in names and names == ["mask", "td", "gap", "out"]


def _keras_python():
    import os
    import subprocess

    for exe in (sys.executable, os.environ.get("LAYERLAB_ORACLE_PYTHON", "")):
        if exe and Path(exe).exists():
            try:
                r = subprocess.run([exe, "-c", "import keras"], capture_output=True,
                                   timeout=120)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if r.returncode == 0:
                return exe
    return None


@pytest.mark.oracle
def test_edited_model_saved_loads_in_real_keras_with_the_same_outputs(tmp_path):
    import subprocess

    exe = _keras_python()
    if exe is None:
        pytest.skip("real Keras is not installed (set LAYERLAB_ORACLE_PYTHON)")
    me = ModelEditor(Path(__file__).parents[2] / "notebooks" / "data" / "planted_resnet.keras")
    me.select("s2b2_conv1")
    assert me.reinitialize()
    me.select("s3b1_conv2_bn")
    assert me.reinitialize()
    me.select("s1b1_conv1")
    assert me.set("filters", 12)  # a shape change: downstream kernels re-initialized
    path = tmp_path / "fixed.keras"
    me.save(path)
    x = np.asarray(me.sample)[:4]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", me.model(x))
    script = ("import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
              "import numpy as np, keras\n"
              f"m = keras.models.load_model(r'{path}')\n"
              f"y = m.predict(np.load(r'{tmp_path / 'x.npy'}'), verbose=0)\n"
              f"print(float(np.abs(y - np.load(r'{tmp_path / 'y.npy'}')).max()))")
    out = subprocess.run([exe, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.split()[-1]) <= 1e-5


def test_buttons_drive_the_same_actions(small_resnet, tmp_path, monkeypatch):
    me = ModelEditor(small_resnet).run()
    me.table.value = "s1b1_conv1"
    assert me.init_choice.value == "(own)" and me.init_choice.label == "its own initializers"
    me.init_choice.value = "zeros"
    me.reinit_one.click()
    assert "dead" in {s["name"]: s for s in me.statistics()}["s1b1_conv1"]["flags"]
    me.init_choice.value = "(own)"
    me.reinit_one.click()  # its own initializer is zeros now: still dead
    assert "dead" in {s["name"]: s for s in me.statistics()}["s1b1_conv1"]["flags"]
    me.init_choice.value = "he_normal"
    me.reinit_class.click()  # every Conv2D with HeNormal, seeded
    assert me.reinitialized == [s["name"] for s in me.statistics()
                                if s["class_name"] == "Conv2D"]
    assert "dead" not in {s["name"]: s for s in me.statistics()}["s1b1_conv1"]["flags"]
    me.undo_button.click()
    assert "dead" in {s["name"]: s for s in me.statistics()}["s1b1_conv1"]["flags"]
    me.redo_button.click()
    me.pin_button.click()
    assert me.baseline == me.statistics()
    me.export_format.value = "keras2"
    me.export_button.click()
    assert json.loads(me.export_box.value)["class_name"] == "Functional"
    monkeypatch.chdir(tmp_path)
    me.save_button.click()
    assert "type a file name" in me.error
    me.save_path.value = "out.keras"
    me.save_button.click()
    assert (tmp_path / "out.keras").exists() and "saved out.keras" in me.status.value


def _rms(a):
    return float(np.sqrt(np.mean(np.square(np.asarray(a, np.float64)))))


def test_gradient_rms_by_depth_is_a_row_of_the_overview():
    """Issue 11: the overview shows gradient RMS by depth by default (engine.gradients on the
    sample; the default loss is categorical crossentropy against seeded one-hot targets for a
    softmax output, else MSE against zeros), recomputed after every edit; a menu changes the
    loss ('off': no row); show_gradients takes any loss with your targets."""
    layers = [engine.lookup("layer", "InputLayer")(shape=(5,)),
              engine.lookup("layer", "Dense")(units=8, activation="relu", name="g1"),
              engine.lookup("layer", "Dense")(units=8, activation="tanh", name="g2"),
              engine.lookup("layer", "Dense")(units=3, name="g3")]
    model = engine.Sequential(layers)
    model.build((None, 5))
    me = ModelEditor(model).run()
    assert me.gradient_loss == "auto" and me.gradient_note is None
    rms = [s["grad_rms"] for s in me.statistics()]
    # no softmax: MSE against zero targets, whose output gradient is 2 y / n (a small
    # model: the automatic sub-batch is the whole batch)
    assert me.gradient_basis == "all 8 samples"
    y = np.asarray(me.model(me.sample), np.float64)
    assert rms[-1] == pytest.approx(_rms(2 * y / y.size), rel=1e-5)
    g = engine.gradients(me.model, me.sample, loss="mean_squared_error",
                         targets=np.zeros(y.shape, "float32"))
    assert rms[0] == pytest.approx(_rms(g.outputs["g1"]), rel=1e-6)
    with_row = bytes(me.picture.value)
    me.loss_choice.value = "off"  # the menu: no row, no grad_rms
    assert all("grad_rms" not in s for s in me.statistics())
    assert bytes(me.picture.value) != with_row
    me.loss_choice.value = "sum of outputs"
    assert me.statistics()[-1]["grad_rms"] == pytest.approx(1.0)  # d sum(y) / d y = 1
    # an edit recomputes them (they depend on the whole model)
    me.select("g2")
    before = [s["grad_rms"] for s in me.statistics()]
    assert me.set("units", 6)
    after = [s["grad_rms"] for s in me.statistics()]
    g = engine.gradients(me.model, me.sample)
    assert after[0] == pytest.approx(_rms(g.outputs["g1"]), rel=1e-6) != before[0]
    assert me.timings["overview"] > 0 and me.timings["gradients"] > 0
    y = np.zeros((me.sample.shape[0], 3), "float32")
    assert me.show_gradients(loss="mean_squared_error", targets=y)
    assert me.gradient_loss == "custom"
    assert not me.show_gradients(loss="no_such_loss", targets=y)
    assert "unknown loss" in me.error and "unknown loss" in me.gradient_note


def test_the_default_loss_of_a_softmax_classifier_is_crossentropy():
    from widget.model_gradients import describe, resolve, targets_for
    layers = [engine.lookup("layer", "InputLayer")(shape=(6,)),
              engine.lookup("layer", "Dense")(units=8, activation="relu", name="h"),
              engine.lookup("layer", "Dense")(units=4, activation="softmax", name="p")]
    model = engine.Sequential(layers)
    model.build((None, 6))
    me = ModelEditor(model, seed=3).run()
    t = targets_for("categorical_crossentropy", [(me.sample.shape[0], 4)], 3)
    assert sorted(np.unique(t)) == [0.0, 1.0] and np.all(t.sum(axis=1) == 1)
    g = engine.gradients(me.model, me.sample, loss="categorical_crossentropy", targets=t)
    assert me.statistics()[0]["grad_rms"] == pytest.approx(_rms(g.outputs["h"]), rel=1e-6)
    assert resolve("auto", me._state.config) == "categorical_crossentropy"
    assert "crossentropy" in describe("auto", me._state.config)


def test_a_model_that_cannot_be_differentiated_says_why_in_the_gradient_row():
    layers = [engine.lookup("layer", "InputLayer")(shape=(4,)),
              engine.lookup("layer", "Dense")(units=4, name="d"),
              engine.lookup("layer", "Discretization")(bin_boundaries=[0.0], name="bins")]
    model = engine.Sequential(layers)
    model.build((None, 4))
    me = ModelEditor(model).run()  # opens, no exception
    assert me.gradient_note.startswith("no gradients") and "bins" in me.gradient_note
    assert all("grad_rms" not in s for s in me.statistics())
    assert not me.show_gradients("mean_squared_error") and "bins" in me.error


def test_select_builds_the_downstream_part_ahead_and_the_first_edit_reuses_it(small_resnet):
    """Issue 10 speed: the part downstream of a picked layer is built when it is picked, so
    the first edit costs what later ones do; its outputs equal a full pass, and a part built
    for another state (another edit since) is not reused."""
    me = ModelEditor(small_resnet, gradient_loss="off")
    me.select("s2b1_conv2")
    rest = me._state._rest
    assert rest is not None and rest[0] == "s2b1_conv2" and rest[3] is me._state._ref
    assert me.set("kernel_initializer", "he_uniform")
    assert me._state._rest[1] is rest[1]  # the prepared model ran the edit
    fresh = ModelEditor(me.model, sample=me.sample, gradient_loss="off")
    for a, b in zip(me.statistics(), fresh.statistics()):
        assert a["name"] == b["name"] and a["std"] == pytest.approx(b["std"], rel=1e-6)
    me.select("s1b1_conv1")  # another layer: its own part
    assert me._state._rest[0] == "s1b1_conv1"
    assert me.set("kernel_initializer", "glorot_uniform")
    me.select("s2b1_conv2")
    assert me._state._rest[1] is not rest[1]  # built again for the edited model


def test_kept_activations_are_never_written_into(small_resnet):
    """The engine's run may write a layer's output into an input it reads last (BN, ReLU,
    Add); the activations the editor keeps feed cut models, the LayerEditor and the
    gradient row, and must stay as they were: the upstream ones untouched (same arrays,
    same bytes) through edits, and every kept one equal to a fresh full pass."""
    me = ModelEditor(small_resnet).run()  # the gradient row on: it runs the model too
    state = me._state
    upstream = state.order[:state.order.index("s2b1_conv2")]
    before = {n: state.trace[n] for n in upstream}
    copies = {n: np.array(v) for n, v in before.items()}
    me.select("s2b1_conv2")
    for init in ("he_uniform", "glorot_uniform", "he_normal"):
        assert me.set("kernel_initializer", init), me.error
    me.model(me.sample)  # an untraced run of the whole model (in place where it may)
    for n in upstream:
        assert state.trace[n] is before[n] and np.array_equal(state.trace[n], copies[n]), n
    me.select("s1b1_conv1")  # upstream of those kept: recomputed, then undone
    assert me.set("kernel_initializer", "he_uniform"), me.error
    assert me.undo()
    fresh = me.model.intermediate_outputs(me.sample)
    for n in state.order:
        assert np.array_equal(state.trace[n], fresh[n]), n
