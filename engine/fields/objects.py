"""Fields whose value is a nested object found through a registry kind: an initializer,
regularizer, constraint, activation, dtype policy or layer."""

from __future__ import annotations

from typing import Any

from .. import serialization
from ..errors import ConfigError, article
from ..formats import KERAS2, KERAS3
from .base import REQUIRED, Field

#: what None means for kinds that always hold an object
_NONE_MEANS = {"activation": "linear", "dtype": "float32"}


class Object(Field):
    """A nested serializable object.

    ``object_kind`` is the registry kind it is resolved through: ``initializer``,
    ``regularizer``, ``constraint``, ``activation``, ``dtype`` or ``layer``. A value is an
    alias string, a config dict or an instance, as Keras's ``get()`` takes it.
    """

    kind = "object"
    cache_default = False
    takes_format = True

    def __init__(self, name: str, default: Any = REQUIRED, doc: str = "", *,
                 object_kind: str, **kw: Any):
        super().__init__(name, default, doc, **kw)
        self.object_kind = object_kind
        #: None is stored as None (not replaced by a default object)
        self.none_is_none = self.optional and object_kind not in _NONE_MEANS

    def expected(self) -> str:
        return article(self.object_kind)

    def validate(self, value: Any, path: str, fmt: str = KERAS3) -> Any:
        if value is None:
            alias = _NONE_MEANS.get(self.object_kind)
            if alias is not None:
                return serialization.get_object(self.object_kind, alias, path, fmt)
            if self.optional:
                return None
            raise ConfigError(path, f"{article(self.object_kind)} is required here, got None")
        return serialization.get_object(self.object_kind, value, path, fmt)

    def to_config(self, value: Any, fmt: str) -> Any:
        if value is None:
            return None
        return serialization.serialize(value, format=fmt)


def Initializer(name: str, default: Any = "glorot_uniform", doc: str = "", **kw) -> Object:
    return Object(name, default, doc or "Initializer of the weights.",
                  object_kind="initializer", **kw)


def Regularizer(name: str, default: Any = None, doc: str = "", **kw) -> Object:
    return Object(name, default, doc or "Penalty added to the loss.",
                  object_kind="regularizer", optional=True, **kw)


def Constraint(name: str, default: Any = None, doc: str = "", **kw) -> Object:
    return Object(name, default, doc or "Projection applied after updates.",
                  object_kind="constraint", optional=True, **kw)


def Activation(name: str = "activation", default: Any = None, doc: str = "", **kw) -> Object:
    return Object(name, default, doc or "Activation function (None means linear).",
                  object_kind="activation", **kw)


def DType(name: str = "dtype", default: Any = "float32", doc: str = "", **kw) -> Object:
    return Object(name, default, doc or "Compute/weight dtype policy.", object_kind="dtype",
                  **kw)


def NestedLayer(name: str, default: Any = REQUIRED, doc: str = "", **kw) -> Object:
    return Object(name, default, doc or "A nested layer config.", object_kind="layer", **kw)


class PlainDType(Object):
    """A dtype written as a plain string (``'float32'``), not as a DTypePolicy dict.

    Keras 3's InputLayer and SpatialDropout write ``layer.dtype`` (the variable dtype);
    ``keras2_policy=True`` writes the Keras 2 policy form in Keras 2 configs.
    """

    def __init__(self, name: str = "dtype", default: Any = "float32", doc: str = "", *,
                 keras2_policy: bool = False, **kw: Any):
        super().__init__(name, default, doc or "The dtype of the layer's inputs and outputs.",
                         object_kind="dtype", **kw)
        self.keras2_policy = keras2_policy

    def to_config(self, value: Any, fmt: str) -> Any:
        if value is None:
            return None
        if fmt == KERAS2 and self.keras2_policy:
            return value.serialize(KERAS2)
        return value.variable_dtype
