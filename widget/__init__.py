"""layerlab's widgets: a live editor for Keras layer configs, and one for whole models.

>>> from widget import LayerEditor
>>> editor = LayerEditor({'class_name': 'Dense', 'config': {'units': 32}})  # doctest: +SKIP

Importing the package is cheap: the editor (ipywidgets, the engine's layers) is imported
the first time ``LayerEditor`` is used, and matplotlib when its first plot is drawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .editor import LayerEditor
    from .model_editor import ModelEditor


def __getattr__(name: str) -> Any:
    if name == "LayerEditor":
        from .editor import LayerEditor

        return LayerEditor
    if name == "ModelEditor":
        from .model_editor import ModelEditor

        return ModelEditor
    raise AttributeError(f"module 'widget' has no attribute {name!r}")


__all__ = ["LayerEditor", "ModelEditor"]
