"""TextVectorization speed: the issue's case is the default standardize/split with
max_tokens=20000 and output_sequence_length=32 over 10,000 short sentences, at least as fast
as Keras 3 with TensorFlow, single-threaded, in the same run.

Run: ``OPENBLAS_NUM_THREADS=1 PYTHONPATH=. $ORACLE_PYTHON tests/bench/bench_text.py``
(Keras is measured when ``import keras`` works; otherwise only layerlab's numbers are
printed). Both get the same NumPy array of str and the same inline vocabulary; calls
alternate; the script prints medians in ms, the ratio layerlab / Keras, and checks that
the outputs are equal. Also times StringLookup and Hashing on the sentences' tokens, and
``adapt()`` (tf_idf, max_tokens=20000) on the sentences, checking the vocabulary and IDF
weights equal Keras's.
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import compare  # noqa: E402

import engine  # noqa: E402

N_SENTENCES = 10_000
MAX_TOKENS = 20_000
SEQ_LEN = 32


def corpus(seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """10,000 sentences of 4-16 Zipf-distributed words (some capitalised, some followed by
    punctuation), and the 19,998 most frequent words as the vocabulary."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = sorted({"".join(rng.choice(letters, rng.integers(2, 9))) for _ in range(40_000)})
    words = [words[i] for i in rng.permutation(len(words))]
    ranks = np.minimum(rng.zipf(1.2, size=N_SENTENCES * 16), len(words)) - 1
    puncts = ["", "", "", "", ",", ".", "!", "?", ";"]
    sentences, k = [], 0
    for _ in range(N_SENTENCES):
        n = int(rng.integers(4, 17))
        toks = []
        for r in ranks[k:k + n]:
            w = words[r]
            if rng.random() < 0.1:
                w = w.capitalize()
            toks.append(w + puncts[int(rng.integers(len(puncts)))])
        k += n
        sentences.append(" ".join(toks))
    vocab = words[:MAX_TOKENS - 2]
    return np.array(sentences), vocab


def main() -> int:
    sentences, vocab = corpus()
    cfg = {"max_tokens": MAX_TOKENS, "output_sequence_length": SEQ_LEN, "vocabulary": vocab}
    ours = engine.deserialize({"class_name": "TextVectorization", "config": cfg})
    try:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        import keras
    except ImportError:
        keras = None
    theirs = None
    if keras is not None:
        k_layer = keras.layers.TextVectorization(**cfg)
        theirs = lambda: k_layer(sentences)  # noqa: E731
        same = np.array_equal(np.asarray(theirs()), ours(sentences))
        print(f"outputs equal Keras's: {same}")
    rows = [("TextVectorization (10,000 sentences)", lambda: ours(sentences), theirs)]
    tokens = np.array(" ".join(sentences[:2000]).lower().split()).reshape(-1, 1)
    lookup = engine.deserialize({"class_name": "StringLookup", "config": {"vocabulary": vocab}})
    hashing = engine.deserialize({"class_name": "Hashing", "config": {"num_bins": 1000}})
    k_lookup = keras.layers.StringLookup(vocabulary=vocab) if keras else None
    k_hash = keras.layers.Hashing(num_bins=1000) if keras else None
    rows.append((f"StringLookup ({tokens.shape[0]:,} tokens)", lambda: lookup(tokens),
                 (lambda: k_lookup(tokens)) if keras else None))
    rows.append((f"Hashing ({tokens.shape[0]:,} tokens)", lambda: hashing(tokens),
                 (lambda: k_hash(tokens)) if keras else None))
    adapt_cfg = {"max_tokens": MAX_TOKENS, "output_mode": "tf_idf"}
    ours_a = engine.deserialize({"class_name": "TextVectorization", "config": adapt_cfg})
    k_adapt = keras.layers.TextVectorization(**adapt_cfg) if keras else None
    if keras is not None:
        ours_a.adapt(sentences)
        k_adapt.adapt(sentences)
        same = ours_a.get_vocabulary() == k_adapt.get_vocabulary() and np.allclose(
            ours_a.save_own_variables()["idf_weights"], k_adapt._lookup_layer.idf_weights.numpy(),
            rtol=1e-5, atol=1e-5)
        print(f"adapted vocabulary and IDF weights equal Keras's: {same}")
    rows.append(("TextVectorization.adapt, tf_idf (10,000)", lambda: ours_a.adapt(sentences),
                 (lambda: k_adapt.adapt(sentences)) if keras else None))
    print(f"{'case':42s} {'layerlab ms':>12s} {'keras ms':>10s} {'ratio':>7s}")
    for name, fn, ref in rows:
        a, b = compare(fn, ref, repeat=7)
        if b is None:
            print(f"{name:42s} {a:12.1f} {'-':>10s} {'-':>7s}")
        else:
            print(f"{name:42s} {a:12.1f} {b:10.1f} {a / b:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
