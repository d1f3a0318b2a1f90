"""The fuzz run of ``engine.deserialize`` on mutated real configs, in its own process
under a memory cap and a timeout (see ``tests.hostile.fuzz_deserialize``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.fuzz_deserialize import leaf_paths, load_configs, mutate

ROOT = Path(__file__).resolve().parents[2]


def _fuzz(module: str, examples: int) -> dict:
    """Run ``python -m tests.hostile.<module>`` (seed 14, 2 GB memory cap): its JSON summary,
    after checking it exited 0 with no undocumented error."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-m", f"tests.hostile.{module}",
                           "--examples", str(examples), "--seed", "14", "--max-mb", "2048"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, proc.stderr[-3000:]
    out = json.loads(lines[-1])
    assert proc.returncode == 0 and not out["undocumented"], out
    return out


def test_fuzz_deserialize_only_documented_errors():
    pytest.importorskip("hypothesis")
    out = _fuzz("fuzz_deserialize", 250)
    assert out["examples"] >= 200
    # the mutations reach both outcomes: refusals and layers that build and run
    assert out["outcomes"].get("ok", 0) > 0 and out["outcomes"].get("ConfigError", 0) > 0


def test_fuzz_load_only_documented_errors():
    """Mutated real files (bytes changed, cut, zeroed, copied) through engine.load with
    every weight read: documented errors only, each load under 5 s (tests.hostile.
    fuzz_files; it found the corrupt global heap libhdf5 loops on)."""
    out = _fuzz("fuzz_files", 250)
    assert out["examples"] == 250 and out["files"] >= 20
    # the mutations reach both outcomes: refusals and files that still load
    assert out["outcomes"].get("ok", 0) > 0 and out["outcomes"].get("FileError", 0) > 0


def test_fuzz_model_from_json_only_documented_errors():
    """Mutated JSON text of real configs through engine.model_from_json (tests.hostile.
    fuzz_json): documented errors only, under the memory cap and hypothesis' deadline."""
    pytest.importorskip("hypothesis")
    out = _fuzz("fuzz_json", 300)
    assert out["examples"] >= 250 and out["texts"] >= 200
    # the edits reach the parser's refusals, the deserializer's, and configs that still load
    assert all(out["outcomes"].get(k, 0) > 0 for k in ("FileError", "ConfigError", "ok")), out


def test_json_text_edits():
    from tests.hostile.fuzz_json import edit

    text = '{"a": 1, "b": {"c": 2}}'
    assert edit(text, "value", 0, 1, "NaN") == '{"a": NaN, "b": {"c": 2}}'
    assert edit(text, "value", 2, 1, "[]") == '{"a": 1, "b": {"c": []}}'
    assert edit(text, "truncate", 5, 1, "") == text[:5]
    assert edit(text, "cut", 1, 3, "") == "{" + text[4:]
    assert edit(text, "insert", 0, 1, "x") == "x" + text


def test_fuzz_corpus_and_mutations():
    configs = load_configs()
    assert len(configs) >= 200
    cfg = {"class_name": "Dense", "config": {"units": 3, "name": "d"}}
    assert mutate(cfg, ("config", "units"), "set", 0)["config"]["units"] == 0
    assert "units" not in mutate(cfg, ("config", "units"), "drop", 0)["config"]
    assert cfg["config"]["units"] == 3  # the original is left alone
    assert ("config", "units") in leaf_paths(cfg)
