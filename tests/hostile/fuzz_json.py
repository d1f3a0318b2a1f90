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
import sys

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
    import engine
    from tests.hostile.fuzz_deserialize import run_fuzz

    texts = corpus_texts()

    def cases(st):
        return st.tuples(
            st.integers(0, len(texts) - 1),
            st.lists(st.tuples(st.sampled_from(["value", "value", "value", "insert",
                                                "replace", "cut", "double", "truncate"]),
                               st.integers(0, 10**7), st.integers(1, 400),
                               st.sampled_from(TOKENS)),
                     min_size=1, max_size=4))

    def edited(case):
        which, edits = case
        text = texts[which]
        for op, at, size, token in edits:
            text = edit(text, op, at, size, token)
        return text

    return run_fuzz(argv, cases, lambda case: engine.model_from_json(edited(case)),
                    lambda case: f"{json.dumps(case[1])[:300]} on text {case[0]}",
                    {"texts": len(texts)}, default_examples=200)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
