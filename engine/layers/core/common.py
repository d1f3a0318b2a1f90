"""What the core layers share: the quantization_config key Keras 3 writes."""

from __future__ import annotations

from ...fields import (
    KERAS3,
    Json,
)
from ..base import Layer

#: Keras 3 writes quantization_config (None); quantized layers are not supported.
QUANTIZATION = Json("quantization_config", None, "Keras 3 quantization; only None is supported.",
                    formats=(KERAS3,), max=None)


def check_not_quantized(layer: Layer) -> None:
    if layer._values.get("quantization_config") is not None:
        raise layer.config_error("quantization_config", "quantized layers are not supported by "
                                 "layerlab; remove the key or set it to None")
