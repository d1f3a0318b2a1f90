"""NaN and +-inf as Keras treats them (recorded by tests/oracle_gen/activations_nonfinite.py):
a broken upstream layer must stay visible, so NaN is never turned into a number."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import engine

DATA = Path(__file__).resolve().parents[1] / "data" / "keras" / "generated"
TABLES = {fmt: np.load(DATA / f"nonfinite_{fmt}.npz") for fmt in ("k3", "k2")}
FORMAT = {"k3": "keras3", "k2": "keras2"}


def _meta(fmt: str) -> dict:
    return json.loads(str(TABLES[fmt]["meta"]))


def _same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    got = np.asarray(got, dtype=np.float32)
    assert got.shape == want.shape, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN places")
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want), err_msg=f"{what}: +inf")
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want), err_msg=f"{what}: -inf")
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], atol=1e-5, rtol=1e-5, err_msg=what)


def _act_rows():
    return [pytest.param(fmt, n, id=f"{fmt}-{n}") for fmt in TABLES for n in
            _meta(fmt)["activations"]]


@pytest.mark.parametrize("fmt,name", _act_rows())
def test_activation_functions_keep_nan_and_inf_as_keras(fmt, name):
    t = TABLES[fmt]
    fn = engine.activations.get(name, fmt=FORMAT[fmt])
    with np.errstate(all="ignore"):
        got = fn(t["x"])
    _same(got, t[f"act_{name}"], f"{fmt} {name}")


def _layer_rows():
    return [pytest.param(fmt, k, id=f"{fmt}-{k}") for fmt in TABLES for k in
            _meta(fmt)["layers"]]


@pytest.mark.parametrize("fmt,key", _layer_rows())
def test_activation_layers_keep_nan_and_inf_as_keras(fmt, key):
    t = TABLES[fmt]
    spec = _meta(fmt)["layers"][key]
    config = {"class_name": spec["class_name"], "config": spec["config"]}
    if fmt == "k3":
        config = {"module": "keras.layers", "registered_name": None, **config}
    layer = engine.deserialize(config)
    with np.errstate(all="ignore"):
        got = layer(t["x"])
    _same(got, t[f"layer_{key}"], f"{fmt} {key}")
