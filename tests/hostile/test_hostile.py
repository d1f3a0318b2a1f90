"""The hostile-input suite (issue 14): each case from ``tests.hostile.generate`` runs in its
own process under a memory cap (``RLIMIT_AS``) and a timeout, and must end in the
documented error it expects (or succeed, where it says so), quickly and with little memory.

A refusal must come from the engine's checks, before allocating: a BudgetError that only
says "out of memory" (a MemoryError caught under the cap) fails the case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.generate import cases, write_cases
from tests.hostile.run_case import FAMILY

ROOT = Path(__file__).resolve().parents[2]
#: the address-space cap of a case's process, and what it may really use
CAP_MB = 1536
MAX_PEAK_MB = 300
MAX_SECONDS = 10.0
TIMEOUT = 60
#: the longest message a refusal may have
MAX_MESSAGE_CHARS = 5000

#: error class -> the class names that satisfy it (subclasses included)
SATISFIES = {
    "ConfigError": {"ConfigError", "MultipleConfigErrors", "UnsafeConfigError"},
    "BudgetError": {"BudgetError"},
    "InputError": {"InputError"},
    "FileError": {"FileError", "UnsafeFileError"},
}

#: owner -> why its cases are expected to fail until that code changes (see the report of
#: issue 14): strict, so a fixed case fails here until its mark is removed
PENDING: dict[str, str] = {}


def _param(case: dict):
    marks = []
    owner = case.get("owner")
    if owner in PENDING:
        marks.append(pytest.mark.xfail(strict=True, reason=PENDING[owner]))
    return pytest.param(case["name"], id=case["name"], marks=marks)


CASES = {c["name"]: c for c in cases()}


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    write_cases(folder)
    return folder


def run_cases(paths: list[Path], timeout: float = TIMEOUT) -> dict[str, dict]:
    """Run the cases one after the other in one process; name -> outcome."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, "-m", "tests.hostile.run_case",
                           *map(str, paths), "--max-mb", str(CAP_MB)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and lines, (
        f"the case's process died (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return {out["name"]: out for out in lines}


def run_case(path: Path) -> dict:
    return list(run_cases([path]).values())[-1]


#: the cases of the files helper (hostile files, layer and node counts) run together in
#: one process (they are quick; one interpreter start for all keeps the suite's time),
#: each still timed, its peak memory measured from where the case before left it
FILE_CASES = [c["name"] for c in CASES.values() if c.get("owner") == "files"]


@pytest.fixture(scope="module")
def file_outcomes(case_dir) -> dict[str, dict]:
    return run_cases([case_dir / f"{n}.json" for n in FILE_CASES],
                     timeout=TIMEOUT + MAX_SECONDS * len(FILE_CASES))


@pytest.mark.parametrize("name", [_param(c) for c in CASES.values()])
def test_hostile_case(name, case_dir, request):
    case = CASES[name]
    if name in FILE_CASES:
        outcomes = request.getfixturevalue("file_outcomes")
        assert name in outcomes, f"no outcome for {name}: {sorted(outcomes)}"
        out = outcomes[name]
    else:
        out = run_case(case_dir / f"{name}.json")
    expect = case["expect"]
    got = out["error"]
    assert got is None or got in FAMILY, f"{got} is outside the documented errors: {out}"
    if expect is None:
        assert got is None, out
    elif expect != "ANY":
        assert got in SATISFIES.get(expect, {expect}), out
    if "match" in case:  # refused by the rule the case is about
        assert case["match"] in out["message"], out
    assert "out of memory" not in out["message"], f"refused by the allocator: {out}"
    assert out["message_chars"] <= MAX_MESSAGE_CHARS, out
    assert out["peak_mb"] < MAX_PEAK_MB, out
    assert out["seconds"] < MAX_SECONDS, out


def test_generator_writes_every_case(case_dir):
    paths = sorted(case_dir.glob("*.json"))
    assert len(paths) == len(CASES) >= 30
    assert all(p.stat().st_size < 1_000_000 for p in paths)  # small inputs, big effects
    for p in paths:
        json.loads(p.read_text(encoding="utf-8"))
    files = sorted((case_dir / "files").iterdir())
    assert files and all(p.stat().st_size < 1_000_000 for p in files)
    named = {c["load"] for c in CASES.values() if "load" in c}
    assert {p.name for p in files} <= named  # every file has its case
