"""Real-world models: keras.applications architectures and keras.io-style models saved by
Keras 3 and tf_keras (recorded by ``python -m tests.oracle_gen.applications``), loaded from
every format they were saved in and compared with Keras's outputs.

The weights are not committed: every HDF5 file is rebuilt from its recorded layout, each
dataset drawn from the seed that filled it in Keras (tests/oracle_gen/applications.py). The
tolerance is 1e-5 (atol and rtol, float32) unless the case records a wider one, measured
from Keras's own float32 error against float64.

The slowest models run in their own test function, ``test_slow_real_model_matches_keras``
(``-k "not slow_real"`` leaves them out; or run them in their own worker).
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np
import pytest

import engine
from tests.oracle_gen.applications import TOLERANCE, rebuild_h5, rebuild_zip

REAL = Path(__file__).resolve().parent.parent / "data" / "models" / "real"
CASES = sorted(p.name[:-len(".json.gz")] for p in REAL.glob("*.json.gz"))
FORMATS = ("keras", "h5", "json")


def _meta(case: str) -> dict:
    with gzip.open(REAL / f"{case}.json.gz", "rt", encoding="utf8") as f:
        return json.load(f)


_CACHE: dict[str, tuple[dict, dict]] = {}


def _case(case: str) -> tuple[dict, dict]:
    if case not in _CACHE:
        _CACHE.clear()  # one case's weights at a time
        _CACHE[case] = (_meta(case), {})
    return _CACHE[case]


def _params(slow: bool):
    return [pytest.param(case, fmt, id=f"{case}-{fmt}") for case in CASES
            if (case.split("_", 1)[1] in _SLOW) == slow for fmt in FORMATS]


_SLOW = {"convnext_tiny", "densenet121", "resnet50", "resnet50_v2", "inception_v3",
         "xception", "nasnet_mobile", "vgg16", "efficientnet_v2_b0"}


def load_case(case: str, fmt: str):
    meta, cache = _case(case)
    files = meta["files"]
    if fmt == "keras":
        return engine.load(io.BytesIO(rebuild_zip(files["keras"], cache)), lazy=False)
    if fmt == "h5":
        return engine.load(io.BytesIO(rebuild_h5(files["h5"], cache)), lazy=False)
    model = engine.model_from_json(files["json"]["config"])
    model.load_weights(io.BytesIO(rebuild_h5(files["json"]["weights"], cache)))
    return model


def max_rel_error(y: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(y - ref) / (1.0 + np.abs(ref))))


@pytest.mark.parametrize("case,fmt", _params(False))
def test_real_model_matches_keras(case, fmt):
    check_case(case, fmt)


@pytest.mark.parametrize("case,fmt", _params(True))
def test_slow_real_model_matches_keras(case, fmt):
    check_case(case, fmt)


def check_case(case: str, fmt: str) -> None:
    meta, _ = _case(case)
    tol = meta["tolerance"]
    assert tol >= TOLERANCE
    # a wider tolerance only ever what Keras's own float32 arithmetic needs
    assert tol <= max(TOLERANCE, 4 * meta["keras_float32_error"]) * (1 + 1e-9)
    data = np.load(REAL / f"{case}.npz")
    x, ref = data["x"], data["y"]
    model = load_case(case, fmt)
    xin = x.astype("float32") if x.dtype == np.uint8 else x
    y = np.asarray(model(xin))
    assert y.shape == ref.shape
    assert np.all(np.isfinite(ref)) and np.std(ref) > 1e-3  # the case exercises something
    np.testing.assert_allclose(y, ref, atol=tol, rtol=tol, err_msg=f"{case} from .{fmt}")


def test_every_case_has_every_format():
    assert len(CASES) >= 10
    for case in CASES:
        meta = _meta(case)
        assert set(meta["files"]) == set(FORMATS), case
        assert (REAL / f"{case}.npz").exists()


def main() -> None:
    """Print each case's max relative error per format: ``python -m
    tests.engine.test_real_models``."""
    import time

    for case in CASES:
        meta, _ = _case(case)
        data = np.load(REAL / f"{case}.npz")
        x, ref = data["x"], data["y"]
        xin = x.astype("float32") if x.dtype == np.uint8 else x
        errs = []
        for fmt in FORMATS:
            t = time.perf_counter()
            try:
                y = np.asarray(load_case(case, fmt)(xin))
                errs.append(f"{fmt} {max_rel_error(y, ref):.1e} ({time.perf_counter() - t:.1f}s)")
            except Exception as e:  # noqa: BLE001 - a report, not a test
                errs.append(f"{fmt} FAILED {type(e).__name__}: {str(e)[:80]}")
        print(f"{case:28s} tol {meta['tolerance']:.0e}  " + "  ".join(errs), flush=True)


if __name__ == "__main__":
    main()
