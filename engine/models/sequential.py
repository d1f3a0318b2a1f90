"""Sequential models: a linear stack of layers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from .. import registry
from ..budget import current_budget
from ..errors import ConfigError, describe
from ..formats import KERAS2, KERAS3, normalize_format
from ..layers.base import Layer, normalize_shape, shape_from_json
from ..layers.core import InputLayer
from ..serialization import serialize, unknown_name
from .building import (
    add_problem,
    build_all,
    combine,
    create,
    gc_paused,
    input_info,
    layer_entry,
    nested,
)
from .calls import (
    as_input_dtype,
    output_mask,
    run_fused,
    run_layer,
    sole_owner,
    with_context,
)
from .model import Model
from .ops import type_label
from .summary import format_shape

_KNOWN_KEYS = frozenset({"name", "trainable", "dtype", "layers", "build_input_shape"})


class Sequential(Model):
    """A linear stack of layers: ``Sequential([Dense(8), Dense(2)])``.

    Input shape: the first layer's (from an ``InputLayer`` or ``build(input_shape)``).
    Output shape: the last layer's.

    Example:
        >>> model = Sequential([Dense(4, activation="relu"), Dense(2)])
        >>> model.build((None, 3)); model(np.ones((5, 3), "float32")).shape
        (5, 2)
    """

    keras_module: ClassVar[str] = "keras"

    def __init__(self, layers: Sequence[Any] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._input_layer: InputLayer | None = None
        self._build_input_shape: Any = None
        self._shapes: list[Any] = []
        self._layer_names: set[str] = set()
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Any) -> None:
        """Append a layer (an InputLayer first sets the model's input)."""
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError(f"Sequential {self.name!r}: an InputLayer can only be the "
                                 f"first layer")
            self._input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise ValueError(f"Sequential {self.name!r}: expected a layer, got "
                             f"{describe(layer)}")
        if layer.name in self._layer_names:
            raise ValueError(f"Sequential {self.name!r}: duplicate layer name "
                             f"{layer.name!r}")
        self._layer_names.add(layer.name)
        self._layers.append(layer)
        self.built = False

    # -- from a config -------------------------------------------------------------
    @classmethod
    def from_config(cls, config: dict[str, Any], *, path: str = "config",
                    fmt: str = KERAS3) -> Sequential:
        with nested(path), gc_paused():
            return cls._from_config(config, path, normalize_format(fmt))

    @classmethod
    def _from_config(cls, config: dict[str, Any], path: str, fmt: str) -> Sequential:
        if not isinstance(config, dict):
            raise ConfigError(path, f"expected a dict of settings, got {describe(config)}")
        layers = config.get("layers")
        if not isinstance(layers, list):
            raise ConfigError(f"{path}.layers", f"expected a list of layer configs, got "
                              f"{describe(layers)}")
        current_budget().count_layers(len(layers), f"{path}.layers")
        problems = [ConfigError(f"{path}.{k}", f"unknown key for Sequential (known keys: "
                                f"{', '.join(sorted(_KNOWN_KEYS))})")
                    for k in config if k not in _KNOWN_KEYS]
        problems += _check_entries(layers, path)  # every class, before any layer is made
        if problems:
            raise combine(path, problems)
        model = cls(name=config.get("name"), trainable=config.get("trainable", True),
                    dtype=config.get("dtype", "float32"), _config_path=path,
                    _source_format=fmt)
        made = []
        for i, entry in enumerate(layers):
            where = f"{path}.layers[{i}]"
            try:
                layer = create(entry, "layer", where, fmt)
            except ConfigError as e:
                add_problem(problems, e, where)
                continue
            try:
                model.add(layer)
            except ValueError as e:  # a duplicate name, an InputLayer not first
                problems.append(ConfigError(where, str(e).split(": ", 1)[-1]))
                continue
            made.append((layer, entry, where))
        if not problems:
            problems = build_all(made, fmt)
        if problems:
            raise combine(path, problems)
        shape = model._input_shape_from_layers()
        bis = config.get("build_input_shape")
        if shape is None and bis is not None:
            shape = shape_from_json(bis, f"{path}.build_input_shape")
        if shape is not None:
            model._build_layers(tuple(shape), path)
        return model

    def _input_shape_from_layers(self) -> tuple[Any, ...] | None:
        """The input shape an InputLayer or (Keras 2) the first layer's
        ``batch_input_shape`` gives; the latter becomes the model's InputLayer."""
        if self._input_layer is not None:
            return input_info(self._input_layer)[0]
        first = self._layers[0] if self._layers else None
        shape = getattr(first, "batch_input_shape", None)
        if shape is None:
            return None
        self._input_layer = InputLayer(batch_shape=list(shape), dtype=first.dtype,
                                       name=f"{first.name}_input")
        return tuple(shape)

    # -- building and running ------------------------------------------------------
    def _build_layers(self, shape: Any, path: str) -> None:
        problems: list[ConfigError] = []
        shapes = []
        cur = shape
        for i, layer in enumerate(self._layers):
            where = f"{path}.layers[{i + (self._input_layer is not None)}]"
            try:
                if not layer.built:
                    layer.build(cur)
                cur = layer.compute_output_shape(cur)
            except ConfigError as e:
                problems.append(e if e.path.startswith(where) else e.with_prefix(where))
                break
            except (ValueError, TypeError, IndexError) as e:
                problems.append(ConfigError(where, f"layer {layer.name!r} "
                                            f"({type(layer).__name__}) cannot take input "
                                            f"shape {format_shape(cur)}: {e}"))
                break
            shapes.append(tuple(cur) if isinstance(cur, (tuple, list)) else cur)
        if problems:
            raise combine(path, problems)
        self._shapes = shapes
        self._build_input_shape = tuple(shape)
        self._build_shape = tuple(shape)
        self.built = True

    def build(self, input_shape: Any = None) -> None:
        """Build every layer for inputs of ``input_shape`` (batch included)."""
        if input_shape is None:
            if self._input_layer is None:
                raise ValueError(f"Sequential {self.name!r}: build needs an input shape")
            input_shape = input_info(self._input_layer)[0]
        self._build_layers(tuple(normalize_shape(input_shape)), self._path or self.name)

    def compute_output_shape(self, input_shape: Any) -> Any:
        cur = normalize_shape(input_shape)
        for layer in self._layers:
            cur = layer.compute_output_shape(cur)
        return cur

    def _run(self, inputs: Any, training: bool, mask: Any, trace: bool = False,
             observe: Callable[[str, Any], Any] | None = None):
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            inputs = inputs[0]
        x = np.asarray(inputs)
        if self._input_layer is not None:
            shape, dtype = input_info(self._input_layer)
            x = as_input_dtype(x, dtype, f"model {self.name!r}: input")
            if len(shape) != x.ndim or any(s is not None and s != a
                                           for s, a in zip(shape[1:], x.shape[1:])):
                raise ValueError(f"model {self.name!r}: expects inputs of shape "
                                 f"{format_shape(shape)}, got {x.shape}")
        if not self.built:
            self._build_layers(tuple(x.shape[:1] and (None,)) + tuple(x.shape[1:]),
                               self.name)
        trace_out: dict[str, Any] = {}
        input_name = self._input_name()
        if trace and input_name is not None:
            trace_out[input_name] = x
        if observe is not None and input_name is not None:
            observe(input_name, x)
        offset = self._input_layer is not None
        layers = self._layers
        # a normalization or merge and the relu layer after it in one pass (run_fused),
        # where nothing looks at the tensor between them
        fuse = not trace and observe is None
        fused = False
        for i, layer in enumerate(layers):
            if fused:  # this layer's output was made with the previous one's
                fused = False
                continue
            try:
                if isinstance(layer, Layer):
                    # a layer's output, held by x alone, is given to the next layer (not
                    # the model's input, nor anything a trace keeps): see calls.sole_owner
                    owned = True if i and not trace and sole_owner(x) else None
                    y = None
                    if fuse and mask is None and i + 1 < len(layers) and \
                            hasattr(layer, "fused_clip") and \
                            hasattr(layers[i + 1], "clip_bounds"):
                        y = run_fused(layer, layers[i + 1], x, training, owned)
                        fused = y is not None
                    if y is None:
                        y = run_layer(layer, x, training, mask, owned)
                else:
                    y = layer(x, training=training, mask=mask)
            except (ValueError, TypeError) as e:
                again = with_context(e, f"model {self.name!r}, layer {layer.name!r}")
                if again is e:
                    raise
                raise again from e
            if not fused:
                mask = output_mask(layer, x, mask, lambda i=i: self._layer_label(i + offset))
            x = y
            del y  # x is the one reference
            if trace:
                trace_out[layer.name] = x
            if observe is not None:
                observe(layer.name, x)
        return x, mask, trace_out

    def _layer_label(self, index: int) -> str:
        """``config.layers[1] (dense)``: where a layer is in the model's config."""
        layer = self._layers[index - (self._input_layer is not None)]
        return f"{self._path or self.name}.layers[{index}] ({layer.name})"

    def _input_name(self) -> str | None:
        """The name of the model's InputLayer as its config lists it: its own, or (built
        without one) the ``<first layer>_input`` that :meth:`get_config` adds (with '_'
        appended while a layer has that name)."""
        if self._input_layer is not None:
            return self._input_layer.name
        if self._build_input_shape is None or not self._layers:
            return None
        name = f"{self._layers[0].name}_input"
        while name in self._layer_names:
            name += "_"
        return name

    def layer_depths(self) -> dict[str, int]:
        name = self._input_name()
        out = {name: 0} if name is not None else {}
        out.update({layer.name: i + 1 for i, layer in enumerate(self._layers)})
        return out

    # -- config --------------------------------------------------------------------
    def get_config(self, format: str = KERAS3) -> dict[str, Any]:
        fmt = normalize_format(format)
        layers = []
        input_layer = self._input_layer
        if input_layer is None and self._build_input_shape is not None and self._layers:
            input_layer = InputLayer(batch_shape=list(self._build_input_shape),
                                     name=self._input_name())
        if input_layer is not None:
            layers.append(layer_entry(input_layer, fmt))
        layers += [layer_entry(x, fmt) for x in self._layers]
        if fmt == KERAS2:
            return {"name": self.name, "layers": layers}
        cfg = {"name": self.name, "trainable": self.trainable,
               "dtype": serialize(self.dtype_policy, KERAS3), "layers": layers}
        if self.built and self._build_input_shape is not None:
            cfg["build_input_shape"] = list(self._build_input_shape)
        return cfg

    def get_build_config(self) -> dict[str, Any] | None:
        if self._build_input_shape is None:
            return None
        return {"input_shape": list(self._build_input_shape)}

    def _summary_rows(self) -> tuple[list[list[str]], bool]:
        rows = []
        for layer, shape in zip(self._layers, self._shapes or [None] * len(self._layers)):
            params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
            rows.append([f"{layer.name} ({type_label(layer)})",
                         format_shape(shape) if shape is not None else "?", params])
        return rows, True


def _check_entries(layers: list[Any], path: str) -> list[ConfigError]:
    """Every entry is a layer config of a known class, names are unique, and an InputLayer
    comes first (checked before any layer is created)."""
    problems: list[ConfigError] = []
    names: dict[str, int] = {}
    for i, entry in enumerate(layers):
        where = f"{path}.layers[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
            problems.append(ConfigError(where, f"expected a layer config dict with "
                                        f"'class_name', got {describe(entry)}"))
            continue
        cls_name = entry["class_name"]
        cfg = entry.get("config")
        lname = cfg.get("name") if isinstance(cfg, dict) else None
        if isinstance(lname, str):
            if lname in names:
                problems.append(ConfigError(f"{where}.config.name", f"duplicate layer "
                                            f"name {lname!r} (also layers"
                                            f"[{names[lname]}])"))
            names[lname] = i
        if cls_name == "InputLayer":
            if i:
                problems.append(ConfigError(where, "an InputLayer can only be the first "
                                            "layer of a Sequential model"))
            continue
        if registry.custom_objects().get(cls_name) is None and \
                registry.lookup("layer", cls_name) is None:
            err = unknown_name("layer", cls_name, f"{where}.class_name")
            problems.append(ConfigError(err.path, f"layer {lname or i!r}: unsupported "
                                        f"layer class: {err.reason}"))
    return problems
