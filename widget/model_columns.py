"""Clickable heatmap columns for the ModelEditor's overview picture.

An ipywidgets Image reports no click position, and the runtime dependencies have no DOM
event widget. So one transparent button per layer is laid over the heatmap's axes (a
``ToggleButtons`` whose buttons share the axes' width equally, as the heatmap's columns do):
clicking a column of the heatmap clicks that layer's button. The picture and the buttons sit
in one box whose height follows the picture's (same aspect at any width), and the buttons'
box is placed with percentages of it taken from the figure's axes position, so they stay
aligned at any width. Hovering a column highlights it and its tooltip names the layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

STYLE = """<style>
.layerlab-depth-wrap {position: relative; display: block !important; overflow: hidden}
.layerlab-depth-wrap > img.layerlab-depth-picture {margin: 0 !important; width: 100% !important;
  max-width: 100% !important; display: block}
.layerlab-depth-columns {position: absolute !important; margin: 0 !important; padding: 0;
  display: flex !important; flex-flow: row nowrap !important; z-index: 1}
.layerlab-depth-columns > .widget-label {display: none !important}
.layerlab-depth-columns > div {display: flex !important; flex-flow: row nowrap !important;
  width: 100% !important; height: 100% !important; margin: 0 !important; padding: 0}
.layerlab-depth-columns .widget-toggle-button {flex: 1 1 0 !important; min-width: 0 !important;
  width: auto !important; height: 100% !important; margin: 0 !important; padding: 0 !important;
  border: 0 !important; border-radius: 0 !important; box-shadow: none !important;
  background: transparent !important; color: transparent !important; font-size: 0 !important;
  cursor: pointer; outline: none !important}
.layerlab-depth-columns .widget-toggle-button:hover {
  background: rgba(255, 255, 255, 0.35) !important}
.layerlab-depth-columns .widget-toggle-button.mod-active {
  box-shadow: inset 0 0 0 1px rgba(255, 60, 60, 0.9) !important}
</style>"""


def _pct(v: float) -> str:
    return f"{100.0 * v:.4f}%"


class HeatmapColumns:
    """The picture with one clickable column per layer over its heatmap.

    Attributes:
        box: the widget to show (picture and columns).
        buttons: the ToggleButtons (``value``: the clicked layer's name; set it as the
            frontend would to simulate a click).
    """

    def __init__(self, picture: widgets.Image, on_pick: Any):
        self.picture = picture
        self.buttons = widgets.ToggleButtons(options=[], value=None,
                                             layout=widgets.Layout(width="0px"))
        self.buttons.add_class("layerlab-depth-columns")
        self.style = widgets.HTML(STYLE, layout=widgets.Layout(margin="0", height="0px"))
        self.box = widgets.Box([picture, self.buttons], layout=widgets.Layout(
            width="calc(100% - 4px)", max_width="900px"))
        self.box.add_class("layerlab-depth-wrap")
        self._quiet = False
        self._names: list[str] = []
        self._on_pick = on_pick
        self.buttons.observe(self._picked, "value")

    def set_layers(self, stats: Sequence[dict[str, Any]]) -> None:
        """One column per layer, tooltips ``#depth name (flags)``."""
        options = [(str(s["depth"]), s["name"]) for s in stats]
        tips = [f"#{s['depth']} {s['name']}" + (f" ({', '.join(s['flags'])})"
                                                 if s["flags"] else "") for s in stats]
        if [o[1] for o in options] != self._names:
            self._names = [o[1] for o in options]
            self._quiet = True
            try:
                self.buttons.options = options
            finally:
                self._quiet = False
        if list(self.buttons.tooltips) != tips:
            self.buttons.tooltips = tips

    def place(self, box: tuple[float, float, float, float]) -> None:
        """Lay the columns over the heatmap at ``box`` = (left, top, width, height),
        fractions of the picture (:meth:`DepthPicture.heatmap_box`)."""
        left, top, width, height = box
        lay = self.buttons.layout
        lay.left, lay.top, lay.width, lay.height = (_pct(left), _pct(top), _pct(width),
                                                    _pct(height))

    def show(self, name: str | None) -> None:
        """Mark ``name``'s column as the selected one (without picking it again)."""
        value = name if name in self._names else None
        if self.buttons.value != value:
            self._quiet = True
            try:
                self.buttons.value = value
            finally:
                self._quiet = False

    def _picked(self, change: dict[str, Any]) -> None:
        if not self._quiet and change["new"]:
            self._on_pick(change["new"])
