"""Pieces of the editor's page: its style sheet, the layer-class picker, buttons, rows.

Nothing here knows the editor's state; :mod:`widget.editor` wires them together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

import engine

from .composites import control_layout

#: the editor's own CSS (in the page once per editor, scoped by its classes). Every box may
#: shrink (``min-width: 0``) so that nothing pushes the page sideways; the plots are a grid
#: that reflows; a stale plot greys while a rebuild runs (after 0.25 s, so quick edits
#: do not flicker).
STYLE = """<style>
.layerlab-editor{box-sizing:border-box;min-width:0;overflow:hidden}
.layerlab-editor.layerlab-editor{max-width:min(1200px,calc(100% - 2 * var(--jp-widgets-margin,
 2px)))}
.layerlab-editor.layerlab-editor .jupyter-widgets.jupyter-widgets{
 max-width:calc(100% - 2 * var(--jp-widgets-margin, 2px))}
.layerlab-editor .widget-box,.layerlab-editor .widget-hbox,.layerlab-editor .widget-vbox,
.layerlab-editor .widget-html,.layerlab-editor .widget-html-content{min-width:0;
 max-width:100%;box-sizing:border-box}
.layerlab-editor .widget-html-content{white-space:normal;overflow-wrap:anywhere}
.layerlab-editor .widget-label{overflow:hidden;text-overflow:ellipsis}
.layerlab-editor .layerlab-label{flex:0 1 150px !important}
.layerlab-editor .widget-textarea{min-width:0;max-width:100%}
.layerlab-editor textarea{font-family:monospace;font-size:12px}
.layerlab-plots{display:grid !important;grid-template-columns:repeat(auto-fill,
 minmax(min(300px,100%),1fr));gap:4px 8px;width:100%}
.layerlab-plots .layerlab-panel{width:auto !important;margin:0 !important}
.layerlab-plots img{width:100% !important;min-width:0 !important;height:auto !important}
.layerlab-pin-note{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;color:#b35900;
 font-size:12px}
.layerlab-caption .nb{white-space:nowrap}
.layerlab-busy .layerlab-plots img{opacity:.35;transition:opacity .1s linear .25s}
.layerlab-busy .layerlab-status{visibility:visible !important}
.layerlab-status{visibility:hidden;color:#8a6d00;font-size:12px}
.layerlab-stats{overflow-x:auto;max-width:100%}
.layerlab-stats tr.pinned td{color:#b35900}
@media (max-width:700px){.layerlab-body{flex-direction:column !important}
 .layerlab-form,.layerlab-plot-column{max-width:100% !important;width:100% !important;
 flex:1 1 auto !important;margin:0 !important}}
</style>"""


def family(cls: type) -> str:
    """The family a layer class is grouped under: ``engine.layers.conv.depthwise`` ->
    ``conv``."""
    parts = cls.__module__.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "layers" else parts[-1]


_GROUPED: list[tuple[str, str]] | None = None


def grouped_layers() -> list[tuple[str, str]]:
    """(``"family · Name"``, ``Name``) of every registered layer class, by family."""
    global _GROUPED  # noqa: PLW0603 - computed once: it imports every layer module
    if _GROUPED is None:
        rows = []
        for name in engine.names("layer"):
            cls = engine.lookup("layer", name)
            rows.append((family(cls) if cls is not None else "other", name))
        _GROUPED = [(f"{fam} · {name}", name) for fam, name in sorted(
            rows, key=lambda r: (r[0], r[1].lower()))]
    return _GROUPED


class ClassPicker(widgets.HBox):
    """A search box (type to filter) and the layer-class dropdown, grouped by family.

    ``dropdown`` is the control (its value is the class name); filtering never changes
    the value: the current class stays listed.
    """

    def __init__(self, current: str, hold: Callable[[], Any]):
        self.hold = hold
        self.dropdown = widgets.Dropdown(
            options=self.options("", current), value=current,
            tooltip="The layer class; switching keeps the settings the new class also has.",
            layout=control_layout(max_width="300px"))
        self.dropdown.add_class("layerlab-class-select")
        self.search = widgets.Text(placeholder="search (e.g. conv, norm)",
                                   continuous_update=True, layout=widgets.Layout(
                                       flex="1 1 120px", min_width="90px", max_width="200px"))
        self.search.add_class("layerlab-class-search")
        self.search.observe(self._filter, "value")
        label = widgets.HTML("<b>Layer</b>", layout=widgets.Layout(width="auto",
                                                                   margin="0 8px 0 0"))
        super().__init__([label, self.dropdown, self.search], layout=wrap())

    @staticmethod
    def options(text: str, current: str) -> list[tuple[str, str]]:
        words = text.lower().split()
        opts = [(label, name) for label, name in grouped_layers()
                if all(w in label.lower() for w in words)]
        if current not in [n for _, n in opts]:
            opts = [(f"{current} (current)", current), *opts]
        return opts

    def _filter(self, change: Any) -> None:
        with self.hold():
            self.dropdown.options = self.options(change["new"], self.dropdown.value)

    def show(self, current: str) -> None:
        """Select ``current`` (listing it if the filter or the registry lacks it)."""
        with self.hold():
            if current not in [n for _, n in self.dropdown.options]:
                self.dropdown.options = self.options(self.search.value, current)
            self.dropdown.value = current


def button(label: str, tip: str, cls: str, fn: Callable[[], Any]) -> widgets.Button:
    b = widgets.Button(description=label, tooltip=tip,
                       layout=widgets.Layout(width="auto", min_width="56px"))
    b.add_class(cls)
    b.on_click(lambda _b: fn())
    return b


def text(value: str, **kw: Any) -> widgets.HTML:
    return widgets.HTML(value, layout=widgets.Layout(width="auto", **kw))


def wrap(**kw: Any) -> widgets.Layout:
    return widgets.Layout(flex_flow="row wrap", align_items=kw.pop("align_items", "center"),
                          width="100%", **kw)


#: a Copy button working in the page alone (no kernel round trip): it copies the export
#: box of its own editor and says so
COPY_BUTTON = (
    "<button class='layerlab-copy jupyter-button' title='Copy the export to the clipboard' "
    "onclick=\"const ed=this.closest('.layerlab-editor');"
    "const t=ed&&ed.querySelector('.layerlab-export textarea');if(!t)return;"
    "const done=()=>{this.textContent='Copied';setTimeout(()=>{this.textContent='Copy'},1500)};"
    "if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(t.value)"
    ".then(done,()=>{t.select();document.execCommand('copy');done()})}"
    "else{t.select();document.execCommand('copy');done()}\">Copy</button>")


__all__ = ["STYLE", "ClassPicker", "grouped_layers", "family", "button", "text", "wrap",
           "COPY_BUTTON"]
