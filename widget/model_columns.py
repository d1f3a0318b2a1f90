"""Clickable heatmap columns for the ModelEditor's overview picture.

An ipywidgets Image reports no click position, and the runtime dependencies have no DOM
event widget. So one transparent button per layer is laid over the heatmap's axes (a
``ToggleButtons`` whose buttons share the axes' width equally, as the heatmap's columns do):
clicking a column of the heatmap clicks that layer's button. The picture and the buttons sit
in one box whose height follows the picture's (same aspect at any width), and the buttons'
box is placed with percentages of it taken from the figure's axes position, so they stay
aligned at any width. Hovering a column highlights it and its tooltip names the layer.

The ModelEditor shows a wide picture (760 px) or a narrow one (400 px, larger text), each in
its own box (``wide`` or ``narrow``), chosen by a class on the editor: ``layerlab-picture-
wide``, ``-narrow``, or ``-auto``, where a CSS container query on the editor's own width
(:data:`NARROW_BELOW` px) shows the narrow box and hides the wide one. The editor is the
query container, so it works the same in a notebook cell, a box, a sidebar or Voila, with no
code in the page and no message to the kernel when the page is resized.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets

from .depth_plots import DepthPicture

#: below this editor width (px) the automatic picture is the narrow one: the wide picture
#: (760 px) would be shown at under 0.9x, its 7 pt text under 6 px tall
NARROW_BELOW = 700

STYLE = """<style>
.layerlab-model-editor {container-type: inline-size; container-name: layerlab-model-editor}
.layerlab-picture-wide .layerlab-depth-narrow, .layerlab-picture-narrow .layerlab-depth-wide,
.layerlab-picture-auto .layerlab-depth-narrow {display: none !important}
@container layerlab-model-editor (max-width: NARROW_BELOWpx) {
  .layerlab-picture-auto .layerlab-depth-wide {display: none !important}
  .layerlab-picture-auto .layerlab-depth-narrow {display: block !important}
}
.layerlab-depth-wrap {position: relative; display: block !important; overflow: hidden}
.layerlab-depth-wrap > img.layerlab-depth-picture,
.layerlab-depth-wrap > img.layerlab-depth-picture-narrow {margin: 0 !important;
  width: 100% !important; max-width: 100% !important; display: block}
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
</style>""".replace("NARROW_BELOW", str(NARROW_BELOW))


def _pct(v: float) -> str:
    return f"{100.0 * v:.4f}%"


class HeatmapColumns:
    """The picture with one clickable column per layer over its heatmap.

    Attributes:
        box: the widget to show (picture and columns).
        buttons: the ToggleButtons (``value``: the clicked layer's name; set it as the
            frontend would to simulate a click).
    """

    def __init__(self, picture: widgets.Image, on_pick: Any, narrow: bool = False):
        self.picture = picture
        self.buttons = widgets.ToggleButtons(options=[], value=None,
                                             layout=widgets.Layout(width="0px"))
        self.buttons.add_class("layerlab-depth-columns")
        self.style = widgets.HTML(STYLE, layout=widgets.Layout(margin="0", height="0px"))
        # the narrow picture (400 px) is shown at most 1.4x its size (a 700 px editor)
        self.box = widgets.Box([picture, self.buttons], layout=widgets.Layout(
            width="calc(100% - 4px)", max_width="560px" if narrow else "900px"))
        self.box.add_class("layerlab-depth-wrap")
        self.box.add_class("layerlab-depth-narrow" if narrow else "layerlab-depth-wide")
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


#: the picture menu: (label, value)
PICTURE_SIZES = [("by width", "auto"), ("wide", "wide"), ("narrow", "narrow")]


class Pictures:
    """The ModelEditor's two overview pictures, each with its clickable columns: ``picture``
    (wide, 760 px) and ``narrow_picture`` (400 px), and the menu that chooses (``size``):
    ``"auto"`` keeps both current and lets the page choose by the editor's width (see the
    module docstring), ``"wide"``/``"narrow"`` draw and show only that one. ``editor`` is the
    widget that gets the ``layerlab-picture-<mode>`` class."""

    def __init__(self, editor: Any, mode: str, on_pick: Any, on_mode: Any):
        self.editor, self.mode = editor, mode
        editor.add_class(f"layerlab-picture-{mode}")
        shared: dict[str, Any] = {}  # the two pictures compute their heatmap columns once
        self.drawers = {"wide": DepthPicture(shared=shared),
                        "narrow": DepthPicture(narrow=True, shared=shared)}
        self.picture = widgets.Image(format="png", layout=widgets.Layout(
            width="100%", height="auto"))
        self.picture.add_class("layerlab-depth-picture")
        self.narrow_picture = widgets.Image(format="png", layout=widgets.Layout(
            width="100%", height="auto"))
        self.narrow_picture.add_class("layerlab-depth-picture-narrow")
        #: one clickable column per layer over each heatmap (clicking one picks the layer)
        self.columns = HeatmapColumns(self.picture, on_pick)
        self.narrow_columns = HeatmapColumns(self.narrow_picture, on_pick, narrow=True)
        self.size = widgets.Dropdown(
            options=PICTURE_SIZES, value=mode, description="picture",
            tooltip="The overview picture: chosen by the editor's width (narrow below "
            f"{NARROW_BELOW} px), or always the wide or the narrow one",
            layout=widgets.Layout(width="210px"))
        self.size.add_class("layerlab-picture-size")
        self._on_mode = on_mode
        self.size.observe(self._changed, "value")

    def _changed(self, change: dict[str, Any]) -> None:
        self.editor.remove_class(f"layerlab-picture-{self.mode}")
        self.mode = change["new"]
        self.editor.add_class(f"layerlab-picture-{self.mode}")
        self._on_mode()

    def draw(self, stats: Sequence[dict[str, Any]], selected: str | None,
             **kwargs: Any) -> None:
        """Draw the picture(s) the page may show (both when chosen by width) and place
        their columns; ``kwargs`` go to :meth:`DepthPicture.png`."""
        for size, image, columns in (("wide", self.picture, self.columns),
                                     ("narrow", self.narrow_picture, self.narrow_columns)):
            if self.mode in ("auto", size):
                pic = self.drawers[size]
                image.value = pic.png(stats, selected=selected, **kwargs)
                columns.place(pic.heatmap_box())
                columns.show(selected)

    def set_layers(self, stats: Sequence[dict[str, Any]]) -> None:
        self.columns.set_layers(stats)
        self.narrow_columns.set_layers(stats)
