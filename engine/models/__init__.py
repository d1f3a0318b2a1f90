"""Sequential and functional models: graphs of layers read from Keras 2 and Keras 3 configs.

Where things live:

- ``model.py``: :class:`Model`, what both kinds share (layers, weights, calling,
  serialization, closing the weights file of a loaded model);
- ``sequential.py``: :class:`Sequential`; ``functional.py``: :class:`Functional`;
- ``graph.py``: reading and validating a functional config's graph (all problems at once);
- ``building.py``: creating and building a model's layers from their config entries;
- ``calls.py``: running one node (masks, shape inference, errors naming the node);
- ``ops.py``: :data:`OPS`, the Keras 3 operations a graph may record, and
  :data:`TF_FUNCTIONS`, the tf_keras ``TFOpLambda`` functions (both looked up by name);
- ``op_shapes.py``: their output shapes before any data (broadcasting rules and friends);
- ``summary.py``: ``model.summary()``.
"""

from .building import MAX_MODEL_NESTING
from .functional import Functional
from .model import Model
from .ops import OPS, TF_FUNCTIONS, Operation, OpSpec
from .sequential import Sequential

__all__ = ["Sequential", "Functional", "Model", "Operation", "OpSpec", "OPS", "TF_FUNCTIONS",
           "MAX_MODEL_NESTING"]
