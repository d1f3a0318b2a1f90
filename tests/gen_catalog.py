"""Regenerate engine/catalog.py: import every engine module, record what registered.

    python tests/gen_catalog.py          # rewrite engine/catalog.py
    python tests/gen_catalog.py --check  # exit 1 when the file is out of date
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "engine" / "catalog.py"
sys.path.insert(0, str(ROOT))


def engine_modules() -> list[str]:
    import engine

    return sorted(m.name for m in pkgutil.walk_packages(engine.__path__, "engine."))


def collect() -> dict[str, dict[str, tuple[str, tuple[str, ...]]]]:
    """kind -> name -> (module, aliases), from the registry once everything is imported."""
    for name in engine_modules():
        importlib.import_module(name)
    from engine import registry

    out: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {}
    for kind, reg in registry.REGISTRIES.items():
        table = {}
        for name in reg.names():
            obj = reg.get(name)
            aliases = tuple(sorted(a for a in reg.all_names()
                                   if a != name and reg.get(a) is obj))
            module = obj.__module__ if isinstance(obj, type) else type(obj).__module__
            table[name] = (module, aliases)
        if table:
            out[kind] = table
    return out


def render(objects: dict) -> str:
    head = TARGET.read_text().split("OBJECTS:")[0]
    lines = ["OBJECTS: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {"]
    for kind in sorted(objects):
        lines.append(f"    {kind!r}: {{")
        for name, (module, aliases) in sorted(objects[kind].items()):
            lines.append(f"        {name!r}: ({module!r}, {aliases!r}),")
        lines.append("    },")
    lines.append("}")
    return head + "\n".join(lines) + "\n"


def main() -> int:
    text = render(collect())
    if "--check" in sys.argv:
        same = TARGET.read_text() == text
        print("engine/catalog.py is up to date" if same else "engine/catalog.py is stale")
        return 0 if same else 1
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
