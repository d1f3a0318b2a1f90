"""Regularizer penalties and constraint projections against real Keras
(tests/data/keras/generated/activations_k{3,2}.npz), their configs per format (the float32
rounding of FORMAT.md 1.3 / 4.3 / Appendix B regularizer_configs) and string aliases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from oracle import DATA

import engine
from engine import ConfigError, constraints, regularizers
from engine.fields import KERAS2, KERAS3


def _table(fmt: str):
    z = np.load(DATA / "generated" / f"activations_{fmt}.npz")
    return {k: z[k] for k in z.files if k != "meta"}, json.loads(str(z["meta"]))


TABLES = {KERAS3: _table("k3"), KERAS2: _table("k2")}


def _obj(kind: str, cfg, fmt: str):
    return engine.get_object(kind, cfg, kind, fmt)


def _rows(section: str):
    return [pytest.param(fmt, key, entry, id=f"{fmt}-{key}")
            for fmt, (_, meta) in TABLES.items() for key, entry in meta[section].items()]


@pytest.mark.parametrize("fmt,key,entry", _rows("regularizers"))
def test_regularizer_penalty_and_config_equal_keras(fmt, key, entry):
    arrays, _ = TABLES[fmt]
    reg = getattr(regularizers, entry["class_name"])(**entry["args"])
    penalty = reg(arrays["w2"])
    assert isinstance(penalty, float)
    assert penalty == pytest.approx(float(arrays[f"reg_{key}"]), rel=2e-6, abs=1e-9)
    got = reg.get_config(fmt)
    assert got == entry["config"] and list(got) == list(entry["config"])
    assert json.loads(json.dumps(engine.serialize(reg, fmt))) == entry["serialized"]
    # Keras's written config reads back to the same penalty and config
    again = _obj("regularizer", entry["serialized"], fmt)
    assert again.get_config(fmt) == entry["config"]
    assert again(arrays["w2"]) == pytest.approx(penalty, rel=1e-6)


@pytest.mark.parametrize("fmt,key,entry", _rows("constraints"))
def test_constraint_projection_and_config_equal_keras(fmt, key, entry):
    arrays, _ = TABLES[fmt]
    con = getattr(constraints, entry["class_name"])(**entry["args"])
    w = arrays[entry["weight"]]
    got = con(w)
    assert got.shape == w.shape
    np.testing.assert_allclose(got, arrays[f"con_{key}"], rtol=1e-6, atol=1e-6)
    cfg = con.get_config(fmt)
    assert json.loads(json.dumps(cfg)) == entry["config"] and list(cfg) == list(entry["config"])
    assert json.loads(json.dumps(engine.serialize(con, fmt))) == entry["serialized"]
    again = _obj("constraint", entry["serialized"], fmt)
    np.testing.assert_allclose(again(w), got)


def _string_rows(section: str):
    out = []
    for fmt, (_, meta) in TABLES.items():
        for name, res in meta[section].items():
            if "ok" in res:
                out.append(pytest.param(fmt, name, res["ok"], id=f"{fmt}-{name}"))
    return out


@pytest.mark.parametrize("fmt,name,want", _string_rows("regularizer_strings"))
def test_regularizer_strings_as_keras(fmt, name, want):
    reg = _obj("regularizer", name, fmt)
    assert [type(reg).__name__, reg.get_config(fmt)] == want


@pytest.mark.parametrize("fmt,name,want", _string_rows("constraint_strings"))
def test_constraint_strings_as_keras(fmt, name, want):
    con = _obj("constraint", name, fmt)
    assert [type(con).__name__, con.get_config(fmt)] == want


def test_strings_keras_refuses_that_layerlab_reads():
    """A few spellings one Keras refuses and the other reads; layerlab reads them in either
    format with the accepting Keras's meaning (a strict superset, never a new meaning)."""
    _, k3 = TABLES[KERAS3]
    assert "error" in k3["regularizer_strings"]["l1_l2"]
    reg = _obj("regularizer", "l1_l2", KERAS3)
    assert (reg.l1, reg.l2) == (0.01, 0.01)
    for name in ("maxnorm", "nonneg", "unitnorm"):
        assert "error" in k3["constraint_strings"][name]
        assert type(_obj("constraint", name, KERAS3)).__name__ in ("MaxNorm", "NonNeg",
                                                                    "UnitNorm")


# -- float32 rounding of written factors (FORMAT.md 1.3, 4.3, Appendix B) --------------------

ROUNDING = [
    # class, args, Keras 3 config, Keras 2 config
    ("L2", {}, {"l2": 0.01}, {"l2": 0.009999999776482582}),
    ("L1", {}, {"l1": 0.009999999776482582}, {"l1": 0.009999999776482582}),
    ("L1L2", {}, {"l1": 0.0, "l2": 0.0}, {"l1": 0.0, "l2": 0.0}),
    ("L2", {"l2": 1e-4}, {"l2": 0.0001}, {"l2": 9.999999747378752e-05}),
    ("L1L2", {"l1": 0.3}, {"l1": 0.3, "l2": 0.0}, {"l1": 0.30000001192092896, "l2": 0.0}),
    ("OrthogonalRegularizer", {"factor": 0.3}, {"factor": 0.30000001192092896, "mode": "rows"},
     {"factor": 0.30000001192092896, "mode": "rows"}),
]


@pytest.mark.parametrize("name,args,k3,k2", ROUNDING)
def test_regularizer_factor_rounding_per_format(name, args, k3, k2):
    reg = getattr(regularizers, name)(**args)
    assert reg.get_config(KERAS3) == k3
    assert reg.get_config(KERAS2) == k2
    # read back from what it wrote: the same config again (rounding is idempotent)
    for fmt, want in ((KERAS3, k3), (KERAS2, k2)):
        assert _obj("regularizer", engine.serialize(reg, fmt), fmt).get_config(fmt) == want


def test_regularizer_string_defaults():
    assert _obj("regularizer", "l2", KERAS3).get_config(KERAS3) == {"l2": 0.01}
    assert _obj("regularizer", "l2", KERAS2).get_config(KERAS2) == {"l2": 0.009999999776482582}
    assert _obj("regularizer", "l1l2", KERAS3).get_config(KERAS3) == {"l1": 0.0, "l2": 0.0}


def test_constraint_keeps_int_values_as_keras():
    assert constraints.MaxNorm(3).get_config() == {"max_value": 3, "axis": 0}
    assert constraints.MaxNorm().get_config() == {"max_value": 2, "axis": 0}


def test_regularizers_and_constraints_in_a_layer():
    cfg = {"class_name": "Dense", "config": {
        "units": 3, "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.5}},
        "bias_regularizer": "l1", "kernel_constraint": "non_neg",
        "activity_regularizer": {"class_name": "L1", "config": {"l1": 0.1}}}}
    layer = engine.deserialize(cfg)
    x = np.ones((2, 4), dtype=np.float32)
    y = layer(x)
    kernel, bias = layer.get_weights()
    losses = layer.losses
    assert len(losses) == 3
    assert losses[0] == pytest.approx(0.5 * np.sum(kernel.astype(np.float64) ** 2), rel=1e-6)
    assert losses[1] == pytest.approx(0.01 * np.sum(np.abs(bias)), abs=1e-12)
    assert losses[2] == pytest.approx(0.1 * np.abs(y.astype(np.float64)).sum(), rel=1e-6)
    assert isinstance(layer.kernel.constraint, constraints.NonNeg)
    k2 = layer.get_config(KERAS2)
    assert k2["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.5}}
    assert k2["bias_regularizer"] == {"class_name": "L1",
                                      "config": {"l1": 0.009999999776482582}}
    assert k2["kernel_constraint"] == {"class_name": "NonNeg", "config": {}}


@pytest.mark.parametrize("kind,cfg,path", [
    ("regularizer", {"class_name": "L2", "config": {"l2": -0.1}}, "config.l2"),
    ("regularizer", {"class_name": "L2", "config": {"l2": "0.1"}}, "config.l2"),
    ("regularizer", {"class_name": "OrthogonalRegularizer", "config": {"mode": "diag"}},
     "config.mode"),
    ("regularizer", {"class_name": "L2", "config": {"l1": 0.1}}, "config.l1"),
    ("constraint", {"class_name": "MinMaxNorm", "config": {"rate": 1.5}}, "config.rate"),
    ("constraint", {"class_name": "MinMaxNorm", "config": {"min_value": 2.0}},
     "config.max_value"),
    ("constraint", {"class_name": "MaxNorm", "config": {"axis": "0"}}, "config.axis"),
    ("constraint", {"class_name": "MaxNorm", "config": {"max_value": True}},
     "config.max_value"),
    ("constraint", {"class_name": "L2", "config": {}}, "class_name"),
    ("regularizer", "max_norm", ""),
])
def test_bad_regularizer_and_constraint_configs(kind, cfg, path):
    key = f"kernel_{kind}"
    with pytest.raises(ConfigError) as info:
        engine.deserialize({"class_name": "Dense", "config": {"units": 2, key: cfg}})
    want = f"config.{key}.{path}" if path else f"config.{key}"
    assert str(info.value).startswith(want + ": ")


def test_orthogonal_regularizer_needs_rank_2():
    with pytest.raises(ConfigError, match="2-D"):
        regularizers.OrthogonalRegularizer()(np.ones((2, 2, 2)))


def test_regularizer_factors_as_keras_stores_them():
    # None takes the default, ints are stored as floats, inf is refused (keras validate_float_arg)
    assert regularizers.L1L2(l1=None).get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.L1(None).get_config() == {"l1": 0.009999999776482582}
    assert json.dumps(regularizers.L2(1).get_config()) == '{"l2": 1.0}'
    assert json.dumps(regularizers.L2(1).get_config(KERAS2)) == '{"l2": 1.0}'
    with pytest.raises(ConfigError, match=r"^l2: "):
        regularizers.L2(float("inf"))
    with pytest.raises(ConfigError, match=r"^config.kernel_regularizer.config.l1: "):
        engine.deserialize({"class_name": "Dense", "config": {"units": 2, "kernel_regularizer": {
            "class_name": "L1", "config": {"l1": float("nan")}}}})
