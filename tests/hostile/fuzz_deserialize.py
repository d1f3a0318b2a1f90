"""Fuzz ``engine.deserialize`` (and a forward pass) on mutated real configs, with hypothesis.

Usage: ``python -m tests.hostile.fuzz_deserialize [--examples N] [--seed S] [--max-mb M]``

The configs are the real Keras configs recorded under ``tests/data/keras`` (the layer
tables and the corpus of models). Each example takes one, mutates a few of its values
(hostile numbers, strings, nesting, types; keys dropped or added), deserializes it and, when
that built a layer, runs it on a small input. Only the documented errors may come out; the
process runs under ``RLIMIT_AS`` (so an unbudgeted allocation fails the run with a
MemoryError), and hypothesis' deadline bounds each example's time. Prints one JSON line
(examples run, outcomes by error class) and exits 1 on the first undocumented error.
"""

from __future__ import annotations

import copy
import json
import os
import resource
import sys
from collections import Counter
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "keras"

#: values a mutation may put in place of a leaf
HOSTILE = [
    0, -1, 1, 2**31, 2**63, 10**8, 300_000_000, 40000, -(2**31), 1e308, -1e308, 1e-320, 0.5,
    float("nan"), float("inf"), True, None, "", "\x00", "a" * 300, "\udc80", "float64",
    "U200000000", "V", "object", "same", "valid", "channels_first", [], [0], [10**6] * 4,
    [[1.0] * 3] * 3, {}, {"class_name": "Dense", "config": {}}, {"class_name": "__numpy__",
    "config": {"value": [1], "dtype": "U100000000"}}, "glorot_uniform", "orthogonal",
    "ab,bc->acc", [None, 40000], [None, 0, 3],
]


def load_configs(limit: int = 400) -> list[dict]:
    """Real configs: every layer of the Keras 2 and 3 tables, and the corpus models."""
    out: list[dict] = []
    for fmt in ("k2", "k3"):
        table = json.loads((DATA / f"configs_{fmt}.json").read_text(encoding="utf-8"))
        for name, entry in sorted(table["layers"].items()):
            cfg = {"class_name": entry.get("class_name", name), "config": entry["config"]}
            if fmt == "k3":
                cfg["module"] = entry.get("module", "keras.layers")
                cfg["registered_name"] = None
            out.append(cfg)
    for path in sorted((DATA / "corpus").glob("k*/*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        cfg = data.get("model_config") if isinstance(data, dict) else None
        if isinstance(cfg, dict) and "class_name" in cfg:
            out.append(cfg)
    return out[:limit]


def leaf_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys/indexes) to a value inside ``value``, containers too."""
    paths = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            paths.extend(leaf_paths(v, prefix + (k,)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            paths.extend(leaf_paths(v, prefix + (i,)))
    return paths


def mutate(config: dict, path: tuple, action: str, value: Any) -> dict:
    """A copy of ``config`` with the item at ``path`` replaced, dropped, or given a new key."""
    cfg = copy.deepcopy(config)
    if not path:
        return cfg
    parent = cfg
    for key in path[:-1]:  # an earlier edit may have changed the structure: then no edit
        if not isinstance(parent, (dict, list)) or isinstance(parent, list) and (
                not isinstance(key, int) or key >= len(parent)) or \
                isinstance(parent, dict) and key not in parent:
            return cfg
        parent = parent[key]
    last = path[-1]
    if not isinstance(parent, (dict, list)) or isinstance(parent, list) and (
            not isinstance(last, int) or last >= len(parent)):
        return cfg
    if isinstance(parent, list) and action in ("drop", "extra"):
        action = "set"
    if isinstance(parent, dict) and last not in parent and action == "nest":
        return cfg
    if action == "drop" and isinstance(parent, dict):
        parent.pop(last, None)
    elif action == "nest":
        parent[last] = [parent[last]] if not isinstance(value, int) else \
            {"class_name": "Dense", "config": {"units": parent[last]}}
    elif action == "extra" and isinstance(parent, dict):
        parent[f"{last}_x"] = value
    else:
        parent[last] = value
    return cfg


def small_input(shape: Any):
    import numpy as np

    if not isinstance(shape, tuple) or len(shape) > 6:
        return None
    dims = tuple(2 if d is None else d for d in shape)
    if any(not isinstance(d, int) for d in dims) or np.prod(dims, dtype=object) > 10**5:
        return None
    return np.linspace(-1, 1, int(np.prod(dims)), dtype="float32").reshape(dims)


def exercise(config: dict) -> None:
    import engine

    layer = engine.deserialize(config)
    if getattr(layer, "built", False):
        x = small_input(getattr(layer, "build_shape", None))
        if x is not None:
            layer(x)


def run_fuzz(argv: list[str], cases: Any, exercise: Any, describe: Any,
             extra: dict[str, Any] | None = None, default_examples: int = 300) -> int:
    """Run ``exercise(case)`` on ``--examples`` hypothesis cases drawn from the strategy made
    by ``cases(st)``, under ``RLIMIT_AS`` of ``--max-mb`` and a 5 s deadline each; count the
    outcomes by error class and stop at the first error outside the documented family
    (``describe(case)`` says what was run). Prints one JSON line (``extra`` added to it);
    returns the exit status."""
    examples = int(argv[argv.index("--examples") + 1]) if "--examples" in argv \
        else default_examples
    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 0
    max_mb = int(argv[argv.index("--max-mb") + 1]) if "--max-mb" in argv else 2048
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    from tests.hostile.run_case import FAMILY

    strategy = cases(st)
    limit = max_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    outcomes: Counter[str] = Counter()
    bad: list[str] = []

    @hseed(seed)
    @settings(max_examples=examples, deadline=5000, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def fuzz(case):
        try:
            exercise(case)
            outcomes["ok"] += 1
        except BaseException as e:
            name = type(e).__name__
            outcomes[name] += 1
            if name not in FAMILY:
                bad.append(f"{name}: {str(e)[:300]} <- {describe(case)[:400]}")
                raise

    try:
        fuzz()
    except BaseException as e:  # hypothesis re-raises the (shrunk) failure
        if not bad:
            bad.append(f"{type(e).__name__}: {str(e)[:500]}")
    print(json.dumps({"examples": sum(outcomes.values()), "outcomes": dict(outcomes),
                      **(extra or {}), "undocumented": bad[-3:]}))
    return 1 if bad else 0


def main(argv: list[str]) -> int:
    import engine

    configs = load_configs()
    paths = [leaf_paths(c) for c in configs]

    def cases(st):
        return st.tuples(
            st.integers(0, len(configs) - 1),
            st.lists(st.tuples(st.sampled_from(["set", "set", "set", "drop", "nest", "extra"]),
                               st.sampled_from(HOSTILE), st.integers(0, 10**6)),
                     min_size=1, max_size=3))

    def mutated(case):
        which, edits = case
        cfg = configs[which]
        for action, value, pick in edits:
            options = paths[which]
            cfg = mutate(cfg, options[pick % len(options)], action, value)
        return cfg

    def describe(case):
        return (f"{json.dumps(case[1], default=str)[:300]} on "
                f"{mutated(case).get('class_name')}")

    return run_fuzz(argv, cases, lambda case: exercise(mutated(case)), describe,
                    {"engine": engine.__name__})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
