"""engine.gradients: the backward pass (vector-Jacobian products) of layers and models.

``api`` has :func:`gradients`; ``losses`` the losses; ``table`` the layer-class -> VJP
table, filled by one module per family (core, conv, pooling, normalization, merging,
shaping, rnn with rnn_loop/rnn_ops, attention, locally_connected, model); ``refused`` the
classes refused, each with its reason. The package itself is callable as
:func:`gradients`.
"""

import sys

from .api import CallableModule, Gradients, gradients
from .lookup import has_vjp, registered_classes
from .losses import Loss
from .table import VJPS, Call, register

sys.modules[__name__].__class__ = CallableModule

__all__ = ["gradients", "Gradients", "Loss", "VJPS", "Call", "register", "has_vjp",
           "registered_classes"]
