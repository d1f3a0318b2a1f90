"""Field specs: the one description of a config key.

A class declares its config keys once, as a tuple of :class:`Field` objects. From that
tuple the engine derives validation (``deserialize``), defaults, ``get_config`` in Keras's
key order for either format, the constructor's signature, and the widget derives its form.

Example::

    class Dense(Layer):
        fields = (
            Int("units", REQUIRED, min=1, doc="Dimensionality of the output space."),
            Activation("activation", None),
            ...
        )
"""

from ..formats import FORMATS, KERAS2, KERAS3, normalize_format
from .base import REQUIRED, Field, f32, is_int, is_number, jsonable
from .configs import collect_fields, config_to_dict, field_for_key, validate_config
from .constants import NUMERIC_KINDS, constant_array, numeric_dtype
from .objects import (
    Activation,
    Constraint,
    DType,
    Initializer,
    NestedLayer,
    Object,
    PlainDType,
    Regularizer,
)
from .ranges import (
    ContrastFactor,
    Factor,
    FactorRange,
    NumberList,
    NumberOrList,
    OddSizes,
    ValueRange,
)
from .scalars import MAX_NAME_CHARS, Bool, Choice, Float, Int, Json, Name, Seed, Str, check_name
from .shapes import Axis, DataFormat, IntTuple, Shape

__all__ = [
    "FORMATS", "KERAS2", "KERAS3", "normalize_format", "REQUIRED", "Field", "f32", "is_int",
    "is_number", "jsonable", "collect_fields", "config_to_dict", "field_for_key",
    "validate_config", "Activation", "Constraint", "DType", "Initializer", "NestedLayer",
    "Object", "PlainDType", "Regularizer", "Bool", "Choice", "Float", "Int", "Json", "Seed",
    "Str", "Name", "check_name", "MAX_NAME_CHARS", "NUMERIC_KINDS", "constant_array",
    "numeric_dtype", "Axis",
    "DataFormat", "IntTuple", "Shape", "ContrastFactor", "Factor", "FactorRange", "NumberList",
    "NumberOrList", "OddSizes", "ValueRange",
]
