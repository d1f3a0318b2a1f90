"""Every built-in layer; importing a family module registers its classes."""

from . import (  # noqa: F401
    activation,
    attention,
    conv,
    core,
    locally_connected,
    merging,
    normalization,
    pooling,
    preprocessing,
    regularization,
    reshaping,
    resizing,
    rnn,
)
from .base import InputSpec, Layer, Variable

__all__ = ["Layer", "Variable", "InputSpec"]
