"""What Sequential and Functional share: layers, weights, calling, serialization, summary,
and closing the file that a loaded model reads its weights from."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

from .. import registry
from ..errors import close_names
from ..fields import Bool, DType, Str
from ..formats import KERAS2, KERAS3, normalize_format
from ..layers.base import Layer
from .summary import summary_text

_MODEL_FIELDS = (
    Str("name", None, "The model's name."),
    Bool("trainable", True, "Whether the weights are updated in training."),
    DType("dtype", "float32", "Dtype policy (Keras 3 Sequential writes it)."),
)

def _file_io(what: str) -> Callable[..., Any]:
    """How a model reads and writes files: the "model_file" kind's hooks, which
    engine.files installs (the registry imports it on first use; models never import
    files, files depend on models)."""
    fn = registry.hook("model_file", what)
    if fn is None:
        raise RuntimeError(f"engine.files installed no {what!r} hook")
    return fn


class Model(Layer):
    """What Sequential and Functional share: layers, weights, summary, intermediate outputs.

    A model opened with ``engine.load`` reads its weights lazily from the file, which stays
    open until every weight was read: :meth:`close` (or ``with engine.load(path) as m:``)
    closes it sooner; it is also closed once the model and its layers are garbage.
    """

    abstract = True
    fields = _MODEL_FIELDS
    drop_fields = ("activity_regularizer", "batch_input_shape")
    keras_module: ClassVar[str] = "keras"
    _registered_name: ClassVar[str | None] = None
    supports_masking = True

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._layers: list[Any] = []
        self._out_masks: Any = None
        self._closers: list[Callable[[], None]] = []

    # -- layers and weights --------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return [x for x in self._layers if isinstance(x, Layer)]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called ``name`` (or at ``index`` of :attr:`layers`)."""
        if index is not None:
            layers = self.layers
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index} out of range for model "
                                 f"{self.name!r} with {len(layers)} layers")
            return layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        hint = close_names(str(name), [x.name for x in self.layers], 3)
        near = f" Close names: {', '.join(hint)}." if hint else ""
        raise ValueError(f"get_layer: no layer named {name!r} in model {self.name!r}.{near}")

    @property
    def _sublayers(self) -> list[Layer]:  # type: ignore[override]
        out, seen = [], set()
        for layer in self.layers:
            if id(layer) not in seen:
                seen.add(id(layer))
                out.append(layer)
        return out

    @_sublayers.setter
    def _sublayers(self, value: list[Layer]) -> None:
        pass

    def count_params(self) -> int:
        return int(sum(w.size for w in self.weights))

    @property
    def input_names(self) -> list[str]:
        return []

    # -- calling -------------------------------------------------------------------
    def __call__(self, inputs: Any, *args: Any, training: bool = False, mask: Any = None,
                 **kwargs: Any) -> Any:
        """Run the model on ``inputs`` (an array, or a list/dict for several inputs)."""
        outputs, masks, _ = self._run(inputs, training=training, mask=mask)
        self._out_masks = masks
        return outputs

    def call(self, inputs: Any, training: bool = False, mask: Any = None) -> Any:
        return self(inputs, training=training, mask=mask)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return self._out_masks

    def predict(self, x: Any, batch_size: int | None = None) -> Any:
        return self(x)

    def intermediate_outputs(self, inputs: Any, training: bool = False) -> dict[str, Any]:
        """Every layer's output for ``inputs``, in graph (depth) order: name -> array.

        A layer called several times maps to the list of its outputs; operations and
        InputLayers are included (the widget plots activation statistics by depth).
        """
        _, _, trace = self._run(inputs, training=training, mask=None, trace=True)
        depths = self.layer_depths()
        order = sorted(trace, key=lambda name: depths.get(name, 0))  # stable: graph order
        return {name: trace[name] for name in order}

    def call_observed(self, inputs: Any, on_output: Callable[[str, Any], Any],
                      training: bool = False) -> Any:
        """Run the model like ``model(inputs)``, calling ``on_output(name, value)`` with each
        layer's output (an array, or a list for several outputs) as soon as it is made, in
        run order (the model's inputs first; a layer called several times: once a call).

        Unlike :meth:`intermediate_outputs` nothing is kept, so the run keeps its speed
        and memory (layers may write into a tensor after its last reader): statistics of
        every layer's output cost one look at each while it is still in cache. A value the
        callback keeps (the array or a view of it) is left as it is; the ones it drops may
        be overwritten once the callback has returned.
        """
        outputs, masks, _ = self._run(inputs, training=training, mask=None,
                                      observe=on_output)
        self._out_masks = masks
        return outputs

    def layer_depths(self) -> dict[str, int]:
        """name -> depth of the layer's first call (0 for inputs)."""
        return {}

    def _run(self, inputs: Any, training: bool, mask: Any, trace: bool = False,
             observe: Callable[[str, Any], Any] | None = None):
        raise NotImplementedError

    # -- serialization -------------------------------------------------------------
    def keras_serialize(self, fmt: str) -> dict[str, Any]:
        fmt = normalize_format(fmt)
        cls = type(self)
        if fmt == KERAS2:
            return {"class_name": cls.__name__, "config": self.get_config(KERAS2)}
        return {"module": self.keras_module, "class_name": cls.__name__,
                "config": self.get_config(KERAS3), "registered_name": self._registered_name,
                "build_config": self.get_build_config(), "compile_config": {}}

    def to_json(self, format: str | None = None, **kwargs: Any) -> str:
        """``model.to_json()``: the serialized model as JSON text, in ``format`` or in the
        format the model was read in."""
        fmt = self.source_format if format is None else normalize_format(format)
        data = self.keras_serialize(fmt)
        if fmt == KERAS2:
            data["keras_version"] = "2.21.0"
            data["backend"] = "tensorflow"
        return json.dumps(data, **kwargs)

    # -- files ---------------------------------------------------------------------
    def load_weights(self, path: Any, **kwargs: Any) -> None:
        """Load a ``.weights.h5`` (Keras 3 layout) or legacy weights ``.h5`` file (see
        ``engine.files.load_weights``)."""
        _file_io("load_weights")(self, path, **kwargs)

    def save(self, path: Any, **kwargs: Any) -> None:
        """Write the model to a ``.keras`` or ``.json`` file (see ``engine.files.save``)."""
        _file_io("save")(self, path, **kwargs)

    def on_close(self, closer: Callable[[], None]) -> None:
        """Call ``closer()`` on :meth:`close` (engine.files: close the weights file)."""
        self._closers.append(closer)

    def close(self) -> None:
        """Close the file this model reads its weights from (a model opened lazily by
        ``engine.load``). Weights already read stay; reading one that was not raises a
        ``WeightsError``. Nothing to do for a model made from a config. Idempotent."""
        while self._closers:
            self._closers.pop()()

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- summary -------------------------------------------------------------------
    def _summary_rows(self) -> tuple[list[list[str]], bool]:
        return [], True

    def summary(self, line_length: int | None = None,
                print_fn: Callable[[str], Any] | None = None) -> str:
        """Print (and return) Keras's summary table: layer (type), output shape, params."""
        rows, sequential = self._summary_rows()
        text = summary_text(self, rows, sequential, line_length)
        (print_fn or (lambda s: print(s, end="")))(text)
        return text
