"""layerlab's widgets: a live editor for Keras layer configs.

>>> from widget import LayerEditor
>>> editor = LayerEditor({'class_name': 'Dense', 'config': {'units': 32}})  # doctest: +SKIP
"""

from .editor import LayerEditor

__all__ = ["LayerEditor"]
