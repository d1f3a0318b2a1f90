"""The model being edited, as the ModelEditor holds it between edits: a :class:`ModelRef`
is either a built model or, right after an edit, the cut models that ran (the edited part and
what is downstream of it) over the model before the edit, built whole only when asked for.
Also the small helpers on a model's layers and configs the state uses."""

from __future__ import annotations

from typing import Any

import engine

SEP = "/"


def leaf_layers(model: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(path, layer) of every layer, nested models flattened (``outer/inner``), models
    themselves included before their layers."""
    out = []
    for layer in model.layers:
        path = prefix + layer.name
        out.append((path, layer))
        if isinstance(layer, engine.Model):
            out.extend(leaf_layers(layer, path + SEP))
    return out


def weights_of(layer: Any) -> list[Any]:
    return [] if isinstance(layer, engine.Model) else list(layer.weights)


def shapes_of(layer: Any) -> list[tuple[int, ...]]:
    return [tuple(w.shape) for w in weights_of(layer)]


def without_build_configs(config: dict[str, Any]) -> dict[str, Any]:
    """The model config with its layers' ``build_config`` dropped (their input shapes are
    inferred from the graph again, so a shape change upstream reaches them). Entries are
    copied where they change, never changed in place."""
    layers = []
    for entry in config["config"].get("layers") or []:
        if entry.get("class_name") != "InputLayer" and "build_config" in entry:
            entry = {k: v for k, v in entry.items() if k != "build_config"}
        if isinstance((entry.get("config") or {}).get("layers"), list):
            entry = without_build_configs(entry)
        layers.append(entry)
    return {**config, "config": {**config["config"], "layers": layers}}


def makes_masks(config: Any) -> bool:
    """Whether a model config makes masks (Masking, ``mask_zero``): they do not cross a
    cut, so such a model is rerun whole."""
    if isinstance(config, dict):
        if config.get("class_name") == "Masking" or config.get("mask_zero") is True:
            return True
        return any(makes_masks(v) for v in config.values())
    if isinstance(config, list):
        return any(makes_masks(v) for v in config)
    return False


def init_keys(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (cfg.get("config") or {}).items() if k.endswith("_initializer")}


class ModelRef:
    """A model that may not exist yet: after an edit, the downstream part is a cut model
    (``sub``, already run) and the rest is the model before the edit (``base``); the whole
    model is built (without initializers, weights shared) only when asked for."""

    def __init__(self, config: dict[str, Any], model: Any = None, base: ModelRef | None = None,
                 sub: Any = None, units: Any = (), custom_objects: Any = None,
                 parts: dict[str, Any] | None = None):
        self.config, self.model, self.base = config, model, base
        #: top-level layer name -> the (cut) model that holds it
        self.parts: dict[str, Any] = {u: sub for u in units}
        self.parts.update(parts or {})
        self._by_name: dict[int, dict[str, Any]] = {}
        self.custom_objects = custom_objects

    def get(self) -> Any:
        if self.model is None:
            with engine.build_without_initializers():
                model = engine.deserialize(self.config, self.custom_objects)
            for path, layer in leaf_layers(model):
                for w, v in zip(weights_of(layer), weights_of(self.layer(path))):
                    w.assign(v.value)
            self.model, self.base, self.parts, self._by_name = model, None, {}, {}
        return self.model

    def layer(self, path: str) -> Any:
        parts = path.split(SEP)
        if self.model is not None:
            model = self.model
        elif parts[0] in self.parts:
            model = self.parts[parts[0]]
        else:
            return self.base.layer(path)  # type: ignore[union-attr]
        for part in parts:
            # a name -> layer table per model (get_layer scans the layers)
            table = self._by_name.get(id(model))
            if table is None:
                table = self._by_name[id(model)] = {la.name: la for la in model.layers}
            if part not in table:
                raise ValueError(f"no layer {part!r} in model {model.name!r}")
            model = table[part]
        return model

    def get_layer(self, name: str) -> Any:
        return self.layer(name)
