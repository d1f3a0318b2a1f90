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
    hits = [f"{p.relative_to(ROOT)}:{line.strip()}" for p in _sources("engine")
            for line in p.read_text().splitlines() if bad.search(line)]
    # the one import by name: registry.import_engine_module, guarded by the catalog
    assert hits == ["engine/registry.py:return importlib.import_module(module)"]


def test_only_catalog_modules_are_imported_by_name():
    from engine import registry

    for name in ("os", "engine.evil", "keras.layers", "engine", "subprocess"):
        with pytest.raises(ValueError, match="not a module of the engine"):
            registry.import_engine_module(name)
    assert all(m.startswith("engine.") for m in registry.ENGINE_MODULES)


# -- the engine's module graph --------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _engine_import_graph() -> dict[str, set[str]]:
    """module -> engine modules it imports, every import statement counted (function-level
    ones too); ``from pkg import name`` counts pkg, and pkg.name when that is a module."""
    import ast

    modules = {_module_name(p): p for p in _sources("engine")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        out: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    out.add(sub if sub in modules else target)
        graph[name] = {m for m in out if m in modules and m != name}
    return graph


def test_engine_import_graph_has_no_cycle():
    graph = _engine_import_graph()
    assert len(graph) > 20
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles[:5])


def test_registry_is_a_leaf():
    graph = _engine_import_graph()
    assert graph["engine.registry"] <= {"engine.errors", "engine.catalog"}
    assert graph["engine.catalog"] == set()


def test_import_engine_imports_no_layer_family():
    code = ("import sys, engine; "
            "print(sorted(m for m in sys.modules if m.startswith('engine.')))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    import ast

    loaded = set(ast.literal_eval(res.stdout))
    assert "engine.serialization" in loaded
    assert not any(m.startswith(("engine.layers", "engine.models", "engine.files",
                                 "engine.activations", "engine.initializers")) for m in loaded)


# -- widget -> engine's public API only -------------------------------------------------


#: engine modules the widget may import: the package and its public data modules
_PUBLIC_ENGINE_MODULES = {"engine", "engine.fields", "engine.errors", "engine.formats"}
#: internals of engine objects the widget must not touch
_PRIVATE_ATTRS = {"_values", "_weights", "_sublayers", "_path", "_source_format",
                  "_build_shape", "_pending", "_all_fields"}


def test_widget_uses_only_the_engine_public_api():
    import ast

    import engine

    public = set(engine.__all__)
    problems = []
    for path in _sources("widget"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            where = f"{path.name}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Import):
                problems += [f"{where} import {a.name}" for a in node.names
                             if a.name.startswith("engine") and
                             a.name not in _PUBLIC_ENGINE_MODULES]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engine"):
                if node.module not in _PUBLIC_ENGINE_MODULES:
                    problems.append(f"{where} from {node.module}")
                elif node.module == "engine":
                    problems += [f"{where} from engine import {a.name}" for a in node.names
                                 if a.name not in public]
            elif isinstance(node, ast.Attribute):
                if isinstance(node.value, ast.Name) and node.value.id == "engine" and \
                        node.attr not in public:
                    problems.append(f"{where} engine.{node.attr}")
                if node.attr in _PRIVATE_ATTRS:
                    problems.append(f"{where} .{node.attr}")
    assert problems == []


def test_catalog_is_up_to_date():
    """engine/catalog.py lists every registered name with its module (a stale entry or a
    missing class would fail lazily, far from its cause)."""
    res = subprocess.run([sys.executable, str(ROOT / "tests" / "gen_catalog.py"), "--check"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
