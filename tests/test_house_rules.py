"""House rules checked mechanically: ruff-clean tree, the engine is NumPy-only, the arrows
point widget -> engine, and nothing in the engine can run code from data."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def _sources(pkg: str) -> list[Path]:
    return sorted((ROOT / pkg).rglob("*.py"))


def test_ruff_is_clean():
    ruff = shutil.which("ruff")
    cmd = [ruff] if ruff else [sys.executable, "-m", "ruff"]
    try:
        res = subprocess.run([*cmd, "check", "--quiet", str(ROOT)], capture_output=True,
                             text=True, cwd=ROOT, timeout=120)
    except FileNotFoundError:
        pytest.skip("ruff is not installed (it is in the test extra)")
    if res.returncode != 0 and "No module named ruff" in res.stderr:
        pytest.skip("ruff is not installed (it is in the test extra)")
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("pkg", ["engine", "widget"])
def test_no_deep_learning_framework_imports(pkg):
    bad = re.compile(r"^\s*(import|from)\s+(keras|tensorflow|tf_keras|torch|jax)\b", re.M)
    hits = [p.name for p in _sources(pkg) if bad.search(p.read_text())]
    assert hits == []


def test_engine_never_imports_widget():
    bad = re.compile(r"^\s*(import|from)\s+widget\b", re.M)
    assert [p.name for p in _sources("engine") if bad.search(p.read_text())] == []


def test_engine_has_no_code_execution_from_data():
    bad = re.compile(r"(^|[^.\w])(eval|exec|compile|__import__)\(|importlib\.import_module\(|"
                     r"(pickle|marshal|dill|cloudpickle)\.loads?\(|yaml\.(unsafe_)?load\(|"
                     r"allow_pickle *= *True")
    hits = [f"{p.name}:{i}" for p in _sources("engine")
            for i, line in enumerate(p.read_text().splitlines(), 1) if bad.search(line)]
    assert hits == []
