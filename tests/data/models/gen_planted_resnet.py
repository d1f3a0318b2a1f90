"""Write notebooks/data/planted_resnet.keras: a small ResNet v1 (32×32×3 images, stages of
8/16/32 channels, two basic blocks each, ~45k parameters, ~200 kB) with planted
initialization bugs, for notebook 04 and its test.

    python tests/data/models/gen_planted_resnet.py

Planted (the notebook must find them from the overview alone):

1. ``s2b2_conv1``: its kernel is ten times what its HeNormal initializer draws;
2. ``s3b1_conv2_bn``: its BatchNormalization gamma is all zeros (the block's residual
   branch outputs only beta, here 0: a dead branch).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path[:0] = [str(ROOT), str(HERE)]

from arch_configs import resnet_config  # noqa: E402

import engine  # noqa: E402

OUT = ROOT / "notebooks" / "data" / "planted_resnet.keras"
BIG_KERNEL = "s2b2_conv1"
ZERO_GAMMA = "s3b1_conv2_bn"


def seeded(node, counter=None):
    """Every ``"seed": None`` of an initializer becomes 0, 1, 2... (the same file each run)."""
    counter = counter if counter is not None else iter(range(10**6))
    if isinstance(node, dict):
        out = {k: seeded(v, counter) for k, v in node.items()}
        if "seed" in out and out["seed"] is None:
            out["seed"] = next(counter)
        return out
    if isinstance(node, list):
        return [seeded(v, counter) for v in node]
    return node


def unseeded(node):
    """The config as a user writes it: initializer seeds back to None."""
    if isinstance(node, dict):
        return {k: (None if k == "seed" else unseeded(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [unseeded(v) for v in node]
    return node


def build() -> object:
    config = resnet_config(size=32, widths=(8, 16, 32), blocks=2, name="planted_resnet")
    model = engine.deserialize(seeded(config))
    # the saved config says seed None, as most real models do
    clean = engine.deserialize(unseeded(engine.serialize(model)))
    for a, b in zip(model.layers, clean.layers):
        b.set_weights(a.get_weights())
    kernel = clean.get_layer(BIG_KERNEL).weights[0]
    kernel.assign(np.asarray(kernel.value) * 10.0)
    bn = clean.get_layer(ZERO_GAMMA)
    gamma = next(w for w in bn.weights if w.name == "gamma")
    gamma.assign(np.zeros(gamma.shape, np.float32))
    return clean


def main() -> None:
    model = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    engine.save(model, OUT)
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes, {model.count_params():,} parameters)")


if __name__ == "__main__":
    main()
