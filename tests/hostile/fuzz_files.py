"""Fuzz ``engine.load`` on mutated real model files (``.keras``, legacy ``.h5``, weights
files, ``.json``) recorded under ``tests/data/keras``.

Usage: ``python -m tests.hostile.fuzz_files [--examples N] [--seed S] [--max-mb M]``

Each example takes one file, mutates its bytes (random bytes changed, a cut, a run zeroed,
a run copied elsewhere, or the length a variable-length string's descriptor claims), and
loads it with every weight read (``lazy=False``). Only the documented errors may come out;
the process runs under ``RLIMIT_AS`` and each load must take under ``--max-seconds`` (5).
Prints one JSON line (examples run, outcomes by error class, the undocumented or slow
ones) and exits 1 if there was any.
"""

from __future__ import annotations

import json
import os
import random
import resource
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "keras"


def load_files(max_bytes: int = 200_000) -> list[Path]:
    """The real model files small enough to mutate quickly (``.json``: the ``to_json``
    texts of the examples)."""
    found = [*DATA.glob("corpus/k*/*.h5"), *DATA.glob("corpus/k*/*.keras"),
             *DATA.glob("examples/*.h5"), *DATA.glob("examples/*.keras"),
             *DATA.glob("examples/k*_tiny_*.json")]
    return sorted(p for p in found if p.is_file() and p.stat().st_size <= max_bytes)


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One mutation of ``data``: (its kind, the new bytes)."""
    out = bytearray(data)
    kind = rng.choice(["flip", "cut", "zero", "copy", "claim"])
    n = len(out)
    refs = _heap_refs(data) if kind == "claim" else []
    if kind == "claim" and refs:  # what a variable-length value claims: libhdf5 allocates it
        at = rng.choice(refs)
        claim = rng.choice([0xFFFF_FFF0, 2**31, n + 1, rng.randrange(2**32)])
        out[at - 4:at] = claim.to_bytes(4, "little")
    elif kind in ("flip", "claim"):
        kind = "flip"
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(n)] = rng.randrange(256)
    elif kind == "cut":
        del out[rng.randrange(n):]
    elif kind == "zero":
        at, size = rng.randrange(n), rng.randint(1, 32)
        out[at:at + size] = bytes(len(out[at:at + size]))
    else:
        src, dst, size = rng.randrange(n), rng.randrange(n), rng.randint(1, 16)
        out[dst:dst + size] = out[src:src + size]
    return kind, bytes(out)


def _heap_refs(data: bytes) -> list[int]:
    """Where the file names the address of a global heap collection (after a descriptor's
    4-byte length): the first 20 places."""
    refs: list[int] = []
    at = data.find(b"GCOL")
    while at >= 0 and len(refs) < 20:
        pos = data.find(at.to_bytes(8, "little"), 4)
        while pos >= 4 and len(refs) < 20:
            refs.append(pos)
            pos = data.find(at.to_bytes(8, "little"), pos + 1)
        at = data.find(b"GCOL", at + 4)
    return refs


def main(argv: list[str]) -> int:
    def opt(name: str, default: float) -> float:
        return float(argv[argv.index(name) + 1]) if name in argv else default

    examples, seed = int(opt("--examples", 300)), int(opt("--seed", 0))
    max_mb, max_seconds = int(opt("--max-mb", 2048)), opt("--max-seconds", 5.0)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import engine
    from tests.hostile.run_case import FAMILY

    files = load_files()
    blobs = {p: p.read_bytes() for p in files}
    limit = max_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    bad: list[str] = []
    for _ in range(examples):
        path = rng.choice(files)
        kind, data = mutate(blobs[path], rng)
        start = time.perf_counter()
        try:
            if path.suffix == ".json":
                engine.model_from_json(data)
            else:
                engine.load(data, lazy=False)
            outcomes["ok"] += 1
        except BaseException as e:  # the outcome is what we count
            name = type(e).__name__
            outcomes[name] += 1
            if name not in FAMILY:
                bad.append(f"{name} ({kind} of {path.name}): {str(e)[:200]}\n"
                           f"{traceback.format_exc()[-800:]}")
        took = time.perf_counter() - start
        if took > max_seconds:
            bad.append(f"slow: {took:.1f} s ({kind} of {path.name})")
    print(json.dumps({"examples": sum(outcomes.values()), "files": len(files),
                      "outcomes": dict(outcomes), "undocumented": bad[:5]}))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
