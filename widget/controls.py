"""Field spec -> ipywidgets control, two-way with a config.

The form is generated from a class's field declarations (``type(layer).all_fields()``), so
a layer class added to the engine gets its form with no change here. Each kind of field has
one control:

==============  =================================================================
int             ``BoundedIntText`` (``IntText`` without bounds)
float           ``FloatText`` (``FloatSlider`` when the field asks for a slider)
bool            ``Checkbox``
choice          ``Dropdown``; activation and dtype too, from the engine's names
int_tuple       a row of int boxes (``TupleControl``)
optional        a "None" checkbox beside the control (``OptionalControl``)
initializer,    a class dropdown with that class's own fields below it
regularizer,    (``NestedControl``); None is a choice where the field allows it
constraint,
layer
other           JSON text (shape, axis, json and kinds the widget does not know)
==============  =================================================================

A field may ask for more through its ``widget`` options: ``{"hidden": True}`` leaves it out
of the form, ``{"control": "slider", "step": 0.01}`` gives a bounded float a slider
(``continuous_update`` off, like every text box here, so typing does not flood the kernel).

Boxes get no ``tooltip`` (a Box view with one fails to render in ipywidgets 8.1); composite
controls keep their field's doc in ``.doc`` and put it on their inner controls.

Every control in :attr:`Form.controls` has a ``value`` in the field's own terms (an int, a
tuple, a config dict...); assigning it, from Python or in the page, reports an edit.
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets as widgets
import traitlets

import engine
from engine import registry
from engine.fields import KERAS3, Field

OnEdit = Callable[[str, Any], None]
BASE_FIELDS = frozenset(f.name for f in engine.Layer.all_fields())
INT_MAX = 2**31 - 1
NESTED_KINDS = ("initializer", "regularizer", "constraint", "layer")
#: a dropdown's "no value" choice (a Dropdown whose value is None shows a blank box)
NONE = "None"


def control_layout(**kw: Any) -> widgets.Layout:
    base = {"flex": "1 1 170px", "min_width": "140px", "width": "auto", "max_width": "340px"}
    base.update(kw)
    return widgets.Layout(**base)


# -- composite controls ---------------------------------------------------------------------


class TupleControl(widgets.HBox):
    """A row of int boxes; ``value`` is a tuple of ints."""

    value = traitlets.Any()

    def __init__(self, value: Any, length: int, low: int | None, tooltip: str = ""):
        self.boxes = [_int_box(low, None, tooltip, width="64px") for _ in range(length)]
        super().__init__(self.boxes, layout=control_layout(flex_flow="row wrap"))
        self.doc = tooltip
        self.value = tuple(value)
        self._push()
        for b in self.boxes:
            b.observe(self._pull, "value")

    def _push(self) -> None:
        for b, v in zip(self.boxes, self.value or ()):
            if b.value != v:
                b.value = v

    def _pull(self, _change: Any) -> None:
        self.value = tuple(b.value for b in self.boxes)

    @traitlets.validate("value")
    def _valid(self, proposal: Any) -> Any:
        v = proposal["value"]
        return tuple(v) if isinstance(v, list) else v

    @traitlets.observe("value")
    def _on_value(self, change: Any) -> None:
        if isinstance(change["new"], tuple):
            self._push()


class JsonControl(widgets.HBox):
    """A text box holding JSON (``None`` and Python tuples accepted); ``value`` is the
    parsed value, or the raw text when it does not parse (the engine then says why)."""

    value = traitlets.Any()

    def __init__(self, value: Any, tooltip: str = ""):
        self.text = widgets.Text(value=dump(value), continuous_update=False, tooltip=tooltip,
                                 layout=widgets.Layout(width="100%"))
        super().__init__([self.text], layout=control_layout())
        self.doc = tooltip
        self.value = value
        self.text.observe(self._pull, "value")

    def _pull(self, change: Any) -> None:
        self.value = parse(change["new"])

    @traitlets.observe("value")
    def _on_value(self, change: Any) -> None:
        text = dump(change["new"])
        if parse(self.text.value) != change["new"]:
            self.text.value = text


def dump(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return str(value)


def parse(text: str) -> Any:
    s = text.strip()
    if not s:
        return None
    for cand in (s, s.replace("(", "[").replace(")", "]").replace("None", "null")
                 .replace("True", "true").replace("False", "false")):
        try:
            return json.loads(cand)
        except ValueError:
            pass
        try:
            return json.loads(f"[{cand.rstrip(',')}]")
        except ValueError:
            pass
    return text


class OptionalControl(widgets.HBox):
    """A "None" checkbox beside a control; ``value`` is None while it is ticked."""

    value = traitlets.Any()

    def __init__(self, inner: widgets.Widget, value: Any, fallback: Any, tooltip: str = ""):
        self.inner = inner
        self.none = widgets.Checkbox(value=value is None, description="None", indent=False,
                                     tooltip=tooltip, layout=widgets.Layout(width="70px"))
        self.fallback = fallback
        super().__init__([self.none, inner], layout=control_layout(flex_flow="row wrap"))
        self.doc = tooltip
        if value is None and fallback is not None:
            inner.value = fallback
        self.value = value
        self._sync_inner()
        self.none.observe(self._pull, "value")
        inner.observe(self._pull, "value")

    def _pull(self, _change: Any) -> None:
        self.inner.disabled = self.none.value
        self.value = None if self.none.value else self.inner.value

    def _sync_inner(self) -> None:
        self.none.value = self.value is None
        self.inner.disabled = self.value is None
        if self.value is not None and self.inner.value != self.value:
            self.inner.value = self.value

    @traitlets.observe("value")
    def _on_value(self, _change: Any) -> None:
        self._sync_inner()


class NestedControl(widgets.VBox):
    """A class dropdown with that class's fields below it; ``value`` is the config dict
    (``{'class_name': ..., 'config': {...}}``) or None."""

    value = traitlets.Any()

    def __init__(self, form: Form, f: Field, value: Any, path: str):
        self.form, self.field, self.path = form, f, path
        names = registry.names(f.kind)
        current = value.get("class_name") if isinstance(value, dict) else None
        options: list[Any] = [NONE] if f.optional or value is None else []
        options += names
        if current is not None and current not in names:
            options.append(current)
        self.dropdown = widgets.Dropdown(options=options, value=current or NONE, tooltip=f.doc,
                                         layout=control_layout())
        self.dropdown.add_class("layerlab-class")
        self.sub = widgets.VBox(layout=widgets.Layout(
            margin="0 0 2px 10px", padding="0 0 0 8px", border_left="2px solid #ddd",
            width="auto"))
        super().__init__([self.sub], layout=widgets.Layout(width="auto"))
        self.doc = f.doc or f.name
        self.value = value
        self.class_name: str | None = None
        self.rebuild(value)
        self.dropdown.observe(self._on_class, "value")

    def _on_class(self, change: Any) -> None:
        if self.form.syncing:
            return
        if change["new"] == NONE:
            self.form.edit(self.path, None)
        else:
            self.form.edit(f"{self.path}.class_name", change["new"])

    def rebuild(self, value: Any) -> None:
        """Regenerate the sub-form for the class of ``value``."""
        prefix = f"{self.path}.config."
        self.form.forget(prefix)
        name = value.get("class_name") if isinstance(value, dict) else None
        cls = registry.lookup(self.field.kind, name) if name else None
        self.class_name = name
        rows: list[widgets.Widget] = []
        if cls is not None and hasattr(cls, "all_fields"):
            rows = self.form.rows_for(cls, value.get("config") or {}, prefix, nested=True)
        self.sub.children = rows
        self.sub.layout.display = "flex" if rows else "none"


# -- the form ---------------------------------------------------------------------------------


class FieldRow(widgets.VBox):
    """Label, control and the field's error line (red, hidden while empty)."""

    def __init__(self, label: str, doc: str, control: widgets.Widget, path: str,
                 extra: widgets.Widget | None = None):
        self.label = widgets.Label(value=label, tooltip=doc or label,
                                   layout=widgets.Layout(flex="0 0 auto", min_width="150px",
                                                         width="auto", margin="0 8px 0 0"))
        self.error = widgets.HTML(value="", layout=widgets.Layout(display="none"))
        self.error.add_class("layerlab-field-error")
        line = widgets.HBox([self.label, control], layout=widgets.Layout(
            flex_flow="row wrap", align_items="center", width="100%"))
        kids = [line, self.error] + ([extra] if extra is not None else [])
        super().__init__(kids, layout=widgets.Layout(width="100%", margin="0 0 2px 0"))
        self.add_class("layerlab-field")
        self.add_class("layerlab-field-" + path.replace(".", "-"))

    def show_error(self, message: str | None) -> None:
        if message:
            self.error.value = (f"<span style='color:#c62828;font-size:12px'>"
                                f"{html.escape(message)}</span>")
            self.error.layout.display = "flex"
        else:
            self.error.value = ""
            self.error.layout.display = "none"


class Form:
    """Controls for one config, by path; ``on_edit(path, value)`` hears every change."""

    def __init__(self, on_edit: OnEdit, fmt: str = KERAS3):
        self.on_edit = on_edit
        self.format = fmt
        self.controls: dict[str, widgets.Widget] = {}
        self.rows: dict[str, FieldRow] = {}
        self.specs: dict[str, Field] = {}
        self.syncing = False

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Assign control values without reporting edits."""
        old, self.syncing = self.syncing, True
        try:
            yield
        finally:
            self.syncing = old

    def edit(self, path: str, value: Any) -> None:
        if not self.syncing:
            self.on_edit(path, value)

    def forget(self, prefix: str) -> None:
        for d in (self.controls, self.rows, self.specs):
            for k in [k for k in d if k.startswith(prefix)]:
                del d[k]

    # -- building -------------------------------------------------------------------------
    def visible(self, cls: type) -> list[Field]:
        return [f for f in cls.all_fields()
                if self.format in f.formats and not f.widget.get("hidden")]

    def rows_for(self, cls: type, cfg: dict[str, Any], prefix: str = "",
                 nested: bool = False) -> list[widgets.Widget]:
        return [self.row(f, cfg.get(self.key(f), cfg.get(f.name)), prefix + self.key(f))
                for f in self.visible(cls)]

    def key(self, f: Field) -> str:
        """The field's config key in this format (Keras 2 calls some keys differently)."""
        return f.key_for(self.format)

    def row(self, f: Field, value: Any, path: str) -> FieldRow:
        self.specs[path] = f
        if f.kind in NESTED_KINDS:
            ctl = NestedControl(self, f, value, path)
            self.controls[path] = ctl
            self.controls[f"{path}.class_name"] = ctl.dropdown
            ctl.observe(self._reporter(path, lambda v: v), "value")
            row = FieldRow(path.rsplit(".", 1)[-1], f.doc, ctl.dropdown, path, extra=ctl)
        else:
            ctl, to_config = make_control(f, value)
            self.controls[path] = ctl
            ctl.observe(self._reporter(path, to_config), "value")
            row = FieldRow(path.rsplit(".", 1)[-1], f.doc, ctl, path)
        ctl.add_class("layerlab-control")
        self.rows[path] = row
        return row

    def _reporter(self, path: str, to_config: Callable[[Any], Any]) -> Callable[[Any], None]:
        def report(change: Any) -> None:
            if not self.syncing:
                self.on_edit(path, to_config(change["new"]))

        return report

    # -- syncing --------------------------------------------------------------------------
    def sync(self, cfg: dict[str, Any], prefix: str = "") -> None:
        """Show ``cfg`` (a layer's inner config) in the controls, without reporting."""
        with self.hold():
            for path in sorted(self.controls, key=lambda p: p.count(".")):
                if not path.startswith(prefix) or path.endswith(".class_name"):
                    continue
                ctl = self.controls.get(path)
                if ctl is None:
                    continue  # forgotten by a rebuilt sub-form above
                value = _lookup(cfg, path[len(prefix):], self.format, self.specs.get(path))
                if isinstance(ctl, NestedControl):
                    name = value.get("class_name") if isinstance(value, dict) else None
                    if name != ctl.class_name:
                        ctl.rebuild(value)
                    if ctl.dropdown.value != (name or NONE):
                        if (name or NONE) not in ctl.dropdown.options:
                            ctl.dropdown.options = [*ctl.dropdown.options, name or NONE]
                        ctl.dropdown.value = name or NONE
                    ctl.value = value
                    continue
                shown = to_control(self.specs[path], value)
                if ctl.value != shown:
                    ctl.value = shown

    def show_errors(self, errors: dict[str, str]) -> None:
        for path, row in self.rows.items():
            row.show_error(errors.get(path))


def _lookup(cfg: dict[str, Any], path: str, fmt: str, spec: Field | None) -> Any:
    node: Any = cfg
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        if part in node:
            node = node[part]
        elif spec is not None and part == spec.name and spec.key_for(fmt) in node:
            node = node[spec.key_for(fmt)]
        else:
            return None
    return node


# -- leaf controls ----------------------------------------------------------------------------


def _int_box(low: Any, high: Any, tooltip: str, width: str | None = None) -> widgets.Widget:
    layout = widgets.Layout(width=width) if width else control_layout()
    if low is None and high is None:
        return widgets.IntText(tooltip=tooltip, layout=layout)
    return widgets.BoundedIntText(min=-INT_MAX if low is None else int(low),
                                  max=INT_MAX if high is None else int(high),
                                  tooltip=tooltip, layout=layout)


def _int_bounds(f: Field) -> tuple[Any, Any]:
    low = None if f.min is None else int(f.min) + (1 if f.min_open else 0)
    high = None if f.max is None else int(f.max) - (1 if f.max_open else 0)
    return low, high


def to_control(f: Field, value: Any) -> Any:
    """A config value -> what the field's control holds."""
    if f.kind == "dtype":
        if isinstance(value, dict):
            return (value.get("config") or {}).get("name", "float32")
        return value or "float32"
    if f.kind == "activation":
        if isinstance(value, dict):
            return value.get("config") if isinstance(value.get("config"), str) else "linear"
        return value or "linear"
    if f.kind == "str":
        return "" if value is None else value
    if f.kind == "choice" and value is None:
        return NONE
    if f.kind == "int_tuple" and f.length and isinstance(value, list):
        return tuple(value)
    return value


def make_control(f: Field, value: Any) -> tuple[widgets.Widget, Callable[[Any], Any]]:
    """The control for field ``f`` showing ``value``, and its control -> config converter."""
    shown = to_control(f, value)
    tip = f.doc or f.name
    ident: Callable[[Any], Any] = lambda v: v  # noqa: E731
    opts = f.widget
    if f.kind in ("int", "seed"):
        low, high = _int_bounds(f)
        box = _int_box(low, high, tip)
        if f.optional:
            fallback = f.default if isinstance(f.default, int) else (low or 0)
            return OptionalControl(box, shown, fallback, tip), ident
        box.value = shown
        return box, ident
    if f.kind == "float":
        if opts.get("control") == "slider" and f.min is not None and f.max is not None:
            ctl: widgets.Widget = widgets.FloatSlider(
                min=f.min, max=f.max, step=opts.get("step", (f.max - f.min) / 100),
                continuous_update=False, readout_format=".3g", tooltip=tip,
                layout=control_layout())
        else:
            ctl = widgets.FloatText(tooltip=tip, layout=control_layout(),
                                    step=opts.get("step"))
        if f.optional:
            fallback = f.default if isinstance(f.default, (int, float)) else 0.0
            return OptionalControl(ctl, shown, float(fallback or 0.0), tip), ident
        ctl.value = shown
        return ctl, ident
    if f.kind == "bool" and not f.optional:
        return widgets.Checkbox(value=bool(shown), indent=False, tooltip=tip,
                                layout=widgets.Layout(width="auto")), ident
    if f.kind in ("choice", "activation", "dtype"):
        return _dropdown(f, shown, tip), (lambda v: None if (v == NONE and f.optional) else v)
    if f.kind == "str":
        text = widgets.Text(value=shown, continuous_update=False, tooltip=tip,
                            layout=control_layout())
        return text, (lambda v: None if (v == "" and f.optional) else v)
    if f.kind == "int_tuple" and f.length and not f.optional:
        low, _ = _int_bounds(f)
        return TupleControl(shown, f.length, low, tip), (lambda v: list(v))
    return JsonControl(shown, tip), ident


def _dropdown(f: Field, value: Any, tip: str) -> widgets.Dropdown:
    if f.kind == "activation":
        names: list[Any] = list(engine.activations.names())
    elif f.kind == "dtype":
        names = list(engine.dtypes.names())
    else:
        names = list(f.choices or ())
    options: list[Any] = [(str(n), n) for n in names]
    if f.optional and f.kind == "choice":
        options.insert(0, (NONE, NONE))
    if value not in names and value != NONE:
        options.append((str(value), value))
    return widgets.Dropdown(options=options, value=value, tooltip=tip, layout=control_layout())


__all__ = ["Form", "FieldRow", "NestedControl", "TupleControl", "OptionalControl",
           "JsonControl", "make_control", "to_control", "parse"]
