"""layerlab's engine: Keras layer and model configs, deserialized and run in NumPy.

>>> from engine import deserialize
>>> layer = deserialize({'class_name': 'Dense', 'config': {'units': 32, 'activation': 'relu'}})
"""

from . import activations, constraints, dtypes, initializers, regularizers
from . import layers as layers
from .errors import BudgetError, ConfigError, MultipleConfigErrors, UnsafeConfigError, WeightsError
from .fields import KERAS2, KERAS3
from .files import load, save
from .layers import Layer, Variable
from .models import Functional, Model, Sequential
from .registry import custom_object_scope
from .serialization import DEFAULT_MAX_WEIGHT_ELEMENTS, deserialize, serialize

__all__ = [
    "deserialize", "serialize", "ConfigError", "UnsafeConfigError", "BudgetError",
    "WeightsError", "MultipleConfigErrors", "Layer", "Variable", "custom_object_scope",
    "activations", "initializers", "regularizers", "constraints", "dtypes", "layers",
    "KERAS2", "KERAS3", "DEFAULT_MAX_WEIGHT_ELEMENTS",
    "load", "save", "Sequential", "Model", "Functional",
]
