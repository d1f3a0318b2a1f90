"""The ModelEditor's input: the model opened from what the user gives, and the seeded
automatic sample (N(0, 1) floats, the range a leading Rescaling implies, integer ids below an
Embedding's ``input_dim``; at most :data:`MAX_SAMPLE_ELEMENTS` elements)."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

import engine
from engine import ConfigError

from .model_graph import ConfigGraph

#: the sample holds at most this many input elements (the batch shrinks to fit)
MAX_SAMPLE_ELEMENTS = 1_000_000
DEFAULT_BATCH = 8


def seeded(config: Any, seed: int) -> Any:
    """A copy of ``config`` whose initializers with ``seed: None`` get ``seed``, ``seed+1``..."""
    counter = iter(range(seed, seed + 1_000_000))

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items()}
            if "seed" in out and out["seed"] is None and "class_name" not in out:
                out["seed"] = next(counter)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(config)


def first_layer_input_shape(model: Any) -> Any:
    """The input shape (batch included) a Sequential's first layer was given or built for
    (``Dense(8, input_shape=(4,))``, Keras 2's ``batch_input_shape``), else None."""
    layers = list(getattr(model, "layers", None) or [])
    if not layers or isinstance(layers[0], engine.Model):
        return None
    shape = getattr(layers[0], "batch_input_shape", None)
    if shape is None and layers[0].built:
        shape = (layers[0].get_build_config() or {}).get("input_shape")
    return list(shape) if shape is not None else None


def make_sample(model: Any, graph: ConfigGraph, seed: int, input_shape: Any = None
                ) -> tuple[Any, str]:
    """The seeded automatic sample for ``model`` and a sentence saying how it was made."""
    rng = np.random.default_rng(seed)
    specs = []
    for name in graph.names:
        entry = graph.entries[name]
        if entry["class_name"] == "InputLayer":
            cfg = entry["config"]
            specs.append((name, cfg.get("batch_shape") or cfg.get("batch_input_shape"),
                          cfg.get("dtype") or "float32"))
    if not specs:  # a Sequential without an InputLayer entry
        shape = input_shape or graph.config["config"].get("build_input_shape") or \
            (graph.config.get("build_config") or {}).get("input_shape") or \
            first_layer_input_shape(model)
        if shape is None:
            raise ConfigError("input_shape", "the model does not say its input shape; give "
                              "ModelEditor(..., input_shape=(None, ...)) or sample=...")
        specs.append((graph.names[0], list(shape), "float32"))
    elif input_shape is not None and len(specs) == 1:
        specs[0] = (specs[0][0], list(input_shape), specs[0][2])
    per_sample = max(sum(math.prod(d or 8 for d in s[1][1:]) for s in specs), 1)
    batch = max(1, min(DEFAULT_BATCH, MAX_SAMPLE_ELEMENTS // per_sample))
    notes = []
    if batch < DEFAULT_BATCH:
        notes.append(f"batch shrunk to {batch} to keep the sample under "
                     f"{MAX_SAMPLE_ELEMENTS:,} elements")
    xs = []
    for name, shape, dtype in specs:
        dims = (batch, *(8 if d is None else int(d) for d in shape[1:]))
        first = next(iter(graph.consumers.get(name, [])), None) if not graph.sequential else \
            (graph.names[1] if len(graph.names) > 1 and graph.names[0] == name
             else graph.names[0])
        entry = graph.entries.get(first, {}) if first else {}
        cfg = entry.get("config") or {}
        if np.dtype(dtype).kind in "iu":
            high = int(cfg.get("input_dim") or 10)
            xs.append(rng.integers(0, high, size=dims).astype(dtype))
            notes.append(f"{name}: integers in [0, {high})")
        elif entry.get("class_name") == "Rescaling" and isinstance(cfg.get("scale"),
                                                                      (int, float)):
            scale, offset = float(cfg["scale"]), float(cfg.get("offset") or 0.0)
            top = (1.0 - offset) / scale if scale else 1.0
            xs.append(rng.uniform(0.0, top, size=dims).astype(dtype))
            notes.append(f"{name}: uniform in [0, {top:g}) (what {first} maps to [{offset:g}, "
                         f"1])")
        else:
            xs.append(rng.standard_normal(dims).astype(dtype))
            notes.append(f"{name}: N(0, 1)")
    return (xs[0] if len(xs) == 1 else xs), f"seeded sample (seed {seed}), batch {batch}: " \
        + "; ".join(notes)


def open_model(obj: Any, seed: int, custom_objects: dict[str, Any] | None) -> Any:
    """A model from an engine model, a path (``.keras``, ``.h5``, ``.json``), a config dict
    or its JSON text (built with seeded initializers)."""
    if isinstance(obj, engine.Model):
        return obj
    if isinstance(obj, (os.PathLike, str)) and not (isinstance(obj, str) and
                                                     obj.lstrip().startswith("{")):
        return engine.load(os.fspath(obj), custom_objects=custom_objects, lazy=False)
    if isinstance(obj, (str, bytes)):
        obj = json.loads(obj)
    if not isinstance(obj, dict):
        raise ConfigError("model", f"ModelEditor takes an engine model, a model file path, "
                          f"a model config dict or its JSON text, got {type(obj).__name__}")
    if "model_config" in obj and "class_name" not in obj:
        obj = obj["model_config"]
    model = engine.deserialize(seeded(obj, seed), custom_objects)
    if not isinstance(model, engine.Model):
        raise ConfigError("class_name", f"ModelEditor edits a model; this config is a "
                          f"{type(model).__name__} (use LayerEditor)")
    return model
