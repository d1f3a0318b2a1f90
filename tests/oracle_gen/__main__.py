"""Regenerate every oracle case from the installed Keras: ``python -m tests.oracle_gen``
(from the project root; needs ``pip install -e ".[oracle]"``). Optional arguments: family
module names to limit the run (``python -m tests.oracle_gen conv rnn``)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from tests.oracle_gen.common import generate  # noqa: E402


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    families = argv or sorted(m.name for m in pkgutil.iter_modules([str(here)])
                              if m.name not in ("common", "__main__"))
    failed = 0
    for fam in families:
        mod = importlib.import_module(f"tests.oracle_gen.{fam}")
        if not mod.CASES and hasattr(mod, "main"):  # tables and own-format families
            try:
                failed += bool(mod.main([]))
            except Exception:
                failed += 1
                traceback.print_exc()
            continue
        for spec in mod.CASES:
            for fmt in spec.formats:
                try:
                    path = generate(spec, fmt)
                    print(f"{fam}: {fmt}_{spec.name}: {'written' if path else 'not in ' + fmt}")
                except Exception:
                    failed += 1
                    print(f"{fam}: {fmt}_{spec.name}: FAILED")
                    traceback.print_exc()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
