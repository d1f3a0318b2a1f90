"""Every layer case of the oracle corpus: Keras's config in, Keras's outputs out.

A case whose class the engine does not have yet is an expected failure that names the
class (never a silent skip).
"""

from __future__ import annotations

import numpy as np
import pytest
from oracle import (
    DEFAULT_TOL,
    NOT_IMPLEMENTED,
    WIDER_TOLERANCES,
    Case,
    all_cases,
    implemented,
    json_roundtrip,
    prepare,
    run,
    tolerance,
    xfail_unless_implemented,
)

import engine

CASES = all_cases()


def _need(case: Case) -> None:
    xfail_unless_implemented(case.class_name)


def test_one_tolerance_and_none_looser_than_recorded():
    assert DEFAULT_TOL == (1e-5, 1e-5)
    for case in CASES:
        tol = tolerance(case)
        if tol != DEFAULT_TOL:
            assert case.meta.get("tolerance_reason"), f"{case.id}: a wider tolerance needs " \
                                                     f"the generator's recorded reason"
            allowed = WIDER_TOLERANCES.get(case.id)
            assert allowed is not None and tol[0] <= allowed[0] and tol[1] <= allowed[1], \
                f"{case.id}: tolerance {tol} is looser than allowed ({allowed})"


def test_every_recorded_class_is_registered_or_listed():
    recorded = {c.class_name for c in CASES}
    missing = sorted(n for n in recorded if engine.lookup("layer", n) is None and
                     n not in NOT_IMPLEMENTED)
    assert missing == [], "recorded classes neither registered nor listed as not implemented"
    assert all(implemented(n) is (n not in NOT_IMPLEMENTED) for n in recorded)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_outputs_match_keras(case: Case):
    _need(case)
    layer = prepare(case)
    got = run(layer, case)
    want = case.outputs
    assert len(got) == len(want), f"{len(got)} outputs, Keras gave {len(want)}"
    atol, rtol = tolerance(case)
    for i, (g, w) in enumerate(zip(got, want)):
        assert np.shape(g) == w.shape, f"output {i}: shape {np.shape(g)} vs Keras {w.shape}"
        np.testing.assert_allclose(g, w, atol=atol, rtol=rtol, err_msg=f"output {i}")
    if "mask_out" in case.arrays:
        m = layer.compute_mask(case.inputs[0], case.mask)
        np.testing.assert_array_equal(np.asarray(m), case.arrays["mask_out"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bare_config_gives_same_outputs(case: Case):
    _need(case)
    layer = prepare(case, form="config")
    got = run(layer, case)
    atol, rtol = tolerance(case)
    for g, w in zip(got, case.outputs):
        np.testing.assert_allclose(g, w, atol=atol, rtol=rtol)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_config_equals_keras_key_for_key(case: Case):
    _need(case)
    layer = prepare(case)
    fmt = "keras3" if case.fmt == "k3" else "keras2"
    got = json_roundtrip(layer.get_config(fmt))
    want = case.meta["config"]
    assert list(got) == list(want), "key order differs from Keras's"
    assert got == want


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_serialize_equals_keras(case: Case):
    _need(case)
    layer = prepare(case)
    fmt = "keras3" if case.fmt == "k3" else "keras2"
    got = json_roundtrip(engine.serialize(layer, format=fmt))
    want = dict(case.meta["serialized"])
    if fmt == "keras3":
        # build_config is written exactly when Keras writes it (layers Keras builds at
        # construction write none); its shape is the first one the layer was built with
        assert ("build_config" in got) == ("build_config" in want)
        want_shape = want.pop("build_config", {}).get("input_shape")
        got_shape = got.pop("build_config", {}).get("input_shape")
        if isinstance(want_shape, list):  # Keras writes None or a shapes dict for a few
            assert got_shape == want_shape
    assert got == want
    again = engine.deserialize(got)
    assert json_roundtrip(again.get_config(fmt)) == json_roundtrip(layer.get_config(fmt))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_weights_layout_matches_keras(case: Case):
    _need(case)
    layer = prepare(case)
    got = [(tuple(w.shape), bool(w.trainable)) for w in layer.weights]
    want = [(tuple(w["shape"]), bool(w["trainable"])) for w in case.meta["weights"]]
    assert got == want
    if case.fmt == "k3":
        assert [w.path for w in layer.weights] == [w["path"] for w in case.meta["weights"]]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_compute_output_shape_agrees(case: Case):
    _need(case)
    layer = prepare(case)
    if case.meta["call"] == "args" or case.meta.get("call_kwargs"):
        pytest.skip("shape of multi-argument calls is checked in the family tests")
    shapes = [tuple(i["shape"]) for i in case.meta["inputs"]]
    arg = shapes if case.meta["call"] == "list" else shapes[0]
    got = layer.compute_output_shape(arg)
    outs = [tuple(o["shape"]) for o in case.meta["outputs"]]
    got_list = got if isinstance(got, list) else [got]
    assert [tuple(g) for g in got_list] == outs
    # with an unknown batch dimension
    none_arg = [(None,) + s[1:] for s in shapes] if case.meta["call"] == "list" else \
        (None,) + shapes[0][1:]
    got = layer.compute_output_shape(none_arg)
    got_list = got if isinstance(got, list) else [got]
    assert [tuple(g)[1:] for g in got_list] == [o[1:] for o in outs]


@pytest.mark.parametrize("case", [c for c in CASES if "y_training0" in c.arrays],
                         ids=lambda c: c.id)
def test_training_outputs_match_keras(case: Case):
    _need(case)
    layer = prepare(case)
    got = run(layer, case, training=True)[0]
    np.testing.assert_allclose(got, case.arrays["y_training0"], atol=1e-5, rtol=1e-5)
