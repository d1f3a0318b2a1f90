"""Pieces of the editor's page: its style sheet, buttons, rows (the layer-class picker is
:mod:`widget.picker`).

Nothing here knows the editor's state; :mod:`widget.editor` wires them together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

#: the editor's own CSS (in the page once per editor, scoped by its classes). Every box may
#: shrink (``min-width: 0``) so that nothing pushes the page sideways; the plots are a grid
#: that reflows; a stale plot greys while a rebuild runs (after 0.25 s, so quick edits
#: do not flicker) and "rebuilding…" floats over the plots (taking no room of its own).
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
.layerlab-caption .widget-html-content{overflow-wrap:normal !important;line-height:1.35}
.layerlab-caption .part{display:inline-block;white-space:nowrap;max-width:100%;
 overflow:hidden;text-overflow:ellipsis;vertical-align:bottom}
.layerlab-caption .part.theory{color:#c0392b}
.layerlab-busy .layerlab-plots img{opacity:.35;transition:opacity .1s linear .25s}
.layerlab-busy .layerlab-status{visibility:visible !important}
.layerlab-plot-column{position:relative}
.layerlab-status{visibility:hidden;position:absolute !important;top:56px;left:50%;
 transform:translateX(-50%);z-index:2;color:#6b5200;font-size:13px;background:#fff6cc;
 border:1px solid #e0c36a;border-radius:4px;padding:1px 10px;margin:0 !important}
.layerlab-stats{overflow-x:auto;max-width:100%}
.layerlab-stats tr.pinned td{color:#b35900}
@media (max-width:700px){.layerlab-body{flex-direction:column !important}
 .layerlab-form,.layerlab-plot-column{max-width:100% !important;width:100% !important;
 flex:1 1 auto !important;margin:0 !important}}
</style>"""


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


__all__ = ["STYLE", "button", "text", "wrap", "COPY_BUTTON"]
