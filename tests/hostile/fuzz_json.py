"""Fuzz ``engine.model_from_json`` on mutated JSON text of real model configs, with hypothesis.

Usage: ``python -m tests.hostile.fuzz_json [--examples N] [--seed S] [--max-mb M]``

The texts are the real Keras configs the deserialize fuzz uses (every layer of the Keras 2
and 3 tables, the corpus's model configs), as JSON text. Each example applies one to four
text edits: the value after a key replaced by a hostile token (NaN, Infinity, a duplicate
key, deep brackets, a lone surrogate escape, a control character, a huge number, ...), the
token inserted anywhere, a character replaced, a span cut out or doubled, or the text cut
short. Only the documented errors may come out of ``model_from_json``; the
process runs under ``RLIMIT_AS`` and hypothesis' deadline bounds each example's time. Prints
one JSON line (examples run, outcomes by error class) and exits 1 on an undocumented error.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from collections import Counter

#: text put into a config's JSON at some position
TOKENS = [
    "NaN", "Infinity", "-Infinity", "1e400", "-0", "null", "true", "[]", "{}", '""',
    '"class_name": "Dense", ', '"units": 1, "units": 2, ', "[" * 200, "]" * 50, "{" * 200,
    '"\\ud800"', '"\\u0000"', "\x01", "\ud800", "99999999999999999999999", ",", ":", '"',
    '{"class_name": "__numpy__", "config": {"value": [1], "dtype": "U100000000"}}',
    '"dtype": "V8", ', '"shared_object_id": 1, ',
]


def corpus_texts() -> list[str]:
    """The JSON text of each real config the deserialize fuzz uses: every layer of the
    Keras 2 and 3 tables and the corpus's model configs."""
    from tests.hostile.fuzz_deserialize import load_configs

    return [json.dumps(cfg) for cfg in load_configs()]


def edit(text: str, op: str, at: int, size: int, token: str) -> str:
    """``text`` with one edit at position ``at`` (taken modulo the length)."""
    if not text:
        return token
    i = at % len(text)
    if op == "replace":
        return text[:i] + token[:1] + text[i + 1:]
    if op == "cut":
        return text[:i] + text[i + size:]
    if op == "double":
        return text[:i + size] + text[i:]
    if op == "truncate":
        return text[:i]
    if op == "value":  # the value after one of the keys, replaced by the token
        keys = [k for k in range(len(text)) if text.startswith('": ', k)]
        if keys:
            start = keys[at % len(keys)] + 3
            end = min((e for e in (text.find(",", start), text.find("}", start)) if e >= 0),
                      default=len(text))
            return text[:start] + token + text[end:]
    return text[:i] + token + text[i:]  # insert


def main(argv: list[str]) -> int:
    examples = int(argv[argv.index("--examples") + 1]) if "--examples" in argv else 200
    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 0
    max_mb = int(argv[argv.index("--max-mb") + 1]) if "--max-mb" in argv else 2048
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    import engine
    from tests.hostile.run_case import FAMILY

    texts = corpus_texts()
    limit = max_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    outcomes: Counter[str] = Counter()
    bad: list[str] = []

    @hseed(seed)
    @settings(max_examples=examples, deadline=5000, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(st.integers(0, len(texts) - 1),
           st.lists(st.tuples(st.sampled_from(["value", "value", "value", "insert",
                                               "replace", "cut", "double", "truncate"]),
                              st.integers(0, 10**7), st.integers(1, 400),
                              st.sampled_from(TOKENS)),
                    min_size=1, max_size=4))
    def fuzz(which, edits):
        text = texts[which]
        for op, at, size, token in edits:
            text = edit(text, op, at, size, token)
        try:
            engine.model_from_json(text)
            outcomes["ok"] += 1
        except BaseException as e:
            name = type(e).__name__
            outcomes[name] += 1
            if name not in FAMILY:
                bad.append(f"{name}: {str(e)[:300]} <- {json.dumps(edits)[:300]} on text "
                           f"{which}")
                raise

    try:
        fuzz()
    except BaseException as e:  # hypothesis re-raises the (shrunk) failure
        if not bad:
            bad.append(f"{type(e).__name__}: {str(e)[:500]}")
    print(json.dumps({"examples": sum(outcomes.values()), "outcomes": dict(outcomes),
                      "texts": len(texts), "undocumented": bad[-3:]}))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
