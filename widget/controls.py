"""Field spec -> ipywidgets control, two-way with a config.

The form is generated from a class's field declarations (``type(layer).all_fields()``), so
a layer class added to the engine gets its form with no change here. :data:`CONTROLS` maps
each kind of field (:func:`~widget.state.kind_of`) to the function that builds its control:

==============  =================================================================
int, seed       ``NumberBox`` (text; never clamps: the engine judges and explains)
float           ``NumberBox`` (``FloatSlider`` when the field asks for a slider)
bool            ``Checkbox`` (a None/True/False dropdown when None is allowed)
choice          ``Dropdown``; activation and dtype too, from the engine's names
str             ``Text``
int_tuple,      a row of int boxes (``TupleControl``)
odd_sizes
factor          a number, or ``[lower, upper]`` while "range" is ticked: float boxes
                within the field's bounds (``RangeControl``)
value_range     ``[low, high]``: two float boxes (``RangeControl``)
vocabulary      a text area, one token a line, with the token count
                (:mod:`widget.vocabulary`)
window          a dropdown of window names, None, and custom values
optional        a "None" checkbox beside the control (``OptionalControl``)
initializer,    a class dropdown with that class's own fields below it
regularizer,    (``NestedControl``); None is a choice where the field allows it
constraint,
layer
other           JSON text (shape, axis, json, number lists and kinds the widget does
                not know), with a None toggle where None is allowed
==============  =================================================================

A field may ask for more through its ``widget`` options: ``{"hidden": True}`` leaves it out
of the form, ``{"control": "slider", "step": 0.01}`` gives a bounded float a slider
(``continuous_update`` off, like every text box here, so typing does not flood the kernel).

Boxes get no ``tooltip`` (a Box view with one fails to render in ipywidgets 8.1); composite
controls (:mod:`widget.composites`) keep their field's doc in ``.doc`` and put it on their
inner controls.

Every control in :attr:`Form.controls` has a ``value`` in the field's own terms (an int, a
tuple, a config dict...); assigning it, from Python or in the page, reports an edit.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import traitlets

import engine
from engine.fields import Field
from engine.formats import KERAS3

from .composites import (
    JsonControl,
    NumberBox,
    OptionalControl,
    RangeControl,
    TupleControl,
    control_layout,
    int_box,
    parse,
)
from .state import NESTED_KINDS, kind_of, placeholder
from .vocabulary import vocabulary_control, window_control

OnEdit = Callable[[str, Any], None]
#: a control and its converter from the control's value to the config's
Made = tuple[widgets.Widget, Callable[[Any], Any]]
BASE_FIELDS = frozenset(f.name for f in engine.Layer.all_fields())
#: a dropdown's "no value" choice (a Dropdown whose value is None shows a blank box)
NONE = "None"


# -- the nested sub-form ---------------------------------------------------------------------


class NestedControl(widgets.VBox):
    """A class dropdown with that class's fields below it; ``value`` is the config dict
    (``{'class_name': ..., 'config': {...}}``) or None."""

    value = traitlets.Any()

    def __init__(self, form: Form, f: Field, value: Any, path: str):
        self.form, self.field, self.path = form, f, path
        names = engine.names(kind_of(f))
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
        cls = engine.lookup(kind_of(self.field), name) if name else None
        self.class_name = name
        rows: list[widgets.Widget] = []
        if cls is not None and hasattr(cls, "all_fields"):
            rows = self.form.rows_for(cls, value.get("config") or {}, prefix, nested=True)
        self.sub.children = rows
        self.sub.layout.display = "flex" if rows else "none"


# -- the form ---------------------------------------------------------------------------------


_SHARED: dict[str, widgets.Layout] = {}


def shared_layout(name: str, **kw: Any) -> widgets.Layout:
    """One Layout for every widget laid out the same way and never changed alone (each
    widget made costs a model in the page: a form has hundreds)."""
    if name not in _SHARED:
        _SHARED[name] = widgets.Layout(**kw)
    return _SHARED[name]


class FieldRow(widgets.VBox):
    """Label, control, the field's help line (made when first shown) and its error line
    (red, hidden while empty)."""

    def __init__(self, label: str, doc: str, control: widgets.Widget, path: str,
                 extra: widgets.Widget | None = None):
        self.label = widgets.Label(value=label, tooltip=doc or label, layout=shared_layout(
            "label", flex="0 1 150px", min_width="0", width="150px", margin="0 8px 0 0"))
        self.label.add_class("layerlab-label")
        self.error = widgets.HTML(value="", layout=widgets.Layout(display="none"))
        self.error.add_class("layerlab-field-error")
        self.help: widgets.HTML | None = None
        line = widgets.HBox([self.label, control], layout=shared_layout(
            "line", flex_flow="row wrap", align_items="center", width="100%"))
        kids = [line, self.error] + ([extra] if extra is not None else [])
        super().__init__(kids, layout=shared_layout("row", width="100%", margin="0 0 2px 0"))
        self.add_class("layerlab-field")
        self.add_class("layerlab-field-" + path.replace(".", "-"))
        self.doc = doc or ""

    def show_help(self, on: bool) -> None:
        if self.help is None:
            if not (on and self.doc):
                return
            self.help = widgets.HTML(
                value=f"<span style='color:#555;font-size:12px'>{html.escape(self.doc)}"
                      f"</span>", layout=widgets.Layout(margin="0 0 2px 0"))
            self.help.add_class("layerlab-field-help")
            line, *rest = self.children
            self.children = (line, self.help, *rest)
        self.help.layout.display = "flex" if on and self.doc else "none"

    def show_error(self, message: str | None) -> None:
        if message:
            self.error.value = (f"<span style='color:#c62828;font-size:12px'>"
                                f"{html.escape(message)}</span>")
            self.error.layout.display = "flex"
        elif self.error.value:
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
        self.help = False

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
        ctl, to_config = make_control(f, value, form=self, path=path)
        self.controls[path] = ctl
        ctl.observe(self._reporter(path, to_config), "value")
        label = path.rsplit(".", 1)[-1]
        if isinstance(ctl, NestedControl):  # the class dropdown goes on the label's line
            self.controls[f"{path}.class_name"] = ctl.dropdown
            row = FieldRow(label, f.doc, ctl.dropdown, path, extra=ctl)
        else:
            row = FieldRow(label, f.doc, ctl, path)
        ctl.add_class("layerlab-control")
        row.show_help(self.help)
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

    def show_help(self, on: bool) -> None:
        """Show (or hide) every field's doc as a line of text under it."""
        self.help = on
        for row in self.rows.values():
            row.show_help(on)

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


# -- the builders: field kind -> control ----------------------------------------------------


def _int_bounds(f: Field) -> tuple[Any, Any]:
    low = None if f.min is None else int(f.min) + (1 if f.min_open else 0)
    high = None if f.max is None else int(f.max) - (1 if f.max_open else 0)
    return low, high


def _same(value: Any) -> Any:
    return value


def _listed(value: Any) -> Any:
    """A control's tuple -> the config's list (other values as they are)."""
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Slot:
    """What a control builder gets: the field, its config value and, for a sub-form, the
    form and the field's path in it."""

    field: Field
    value: Any
    form: Form | None = None
    path: str = ""

    @property
    def shown(self) -> Any:
        """The value as the control holds it."""
        return to_control(self.field, self.value)

    @property
    def tip(self) -> str:
        return self.field.doc or self.field.name


def _fallback(f: Field) -> Any:
    """What the control shows while the value is None (and from where it starts)."""
    return to_control(f, placeholder(f) if f.default is None or f.required else f.default)


def _optional(s: Slot, ctl: widgets.Widget, to_config: Callable[[Any], Any]) -> Made:
    """``ctl`` with a "None" checkbox beside it when the field allows None."""
    if not s.field.optional:
        return ctl, to_config
    return OptionalControl(ctl, s.shown, _fallback(s.field), s.tip), to_config


def int_control(s: Slot) -> Made:
    f = s.field
    low, high = _int_bounds(f)
    box = int_box(low, high, s.tip)
    if f.optional:
        fallback = f.default if isinstance(f.default, int) else (low or 0)
        return OptionalControl(box, s.shown, fallback, s.tip), _same
    box.value = s.shown
    return box, _same


def float_control(s: Slot) -> Made:
    f, opts = s.field, s.field.widget
    if opts.get("control") == "slider" and f.min is not None and f.max is not None:
        ctl: widgets.Widget = widgets.FloatSlider(
            min=f.min, max=f.max, step=opts.get("step", (f.max - f.min) / 100),
            continuous_update=False, readout_format=".3g", tooltip=s.tip,
            layout=control_layout())
    else:
        ctl = NumberBox("float", f.min, f.max, s.tip)
    if f.optional:
        fallback = f.default if isinstance(f.default, (int, float)) else 0.0
        return OptionalControl(ctl, s.shown, float(fallback or 0.0), s.tip), _same
    ctl.value = s.shown
    return ctl, _same


def bool_control(s: Slot) -> Made:
    if s.field.optional:  # three values: None, True, False
        shown = NONE if s.shown is None else s.shown
        ctl = widgets.Dropdown(options=[(NONE, NONE), ("True", True), ("False", False)],
                               value=shown if shown in (NONE, True, False) else NONE,
                               tooltip=s.tip, layout=control_layout())
        return ctl, lambda v: None if v == NONE else v
    return widgets.Checkbox(value=bool(s.shown), indent=False, tooltip=s.tip,
                            layout=widgets.Layout(width="auto")), _same


def choice_control(s: Slot) -> Made:
    f = s.field
    names = list(f.choices or ())
    return (_dropdown(names, s.shown, s.tip, none=f.optional),
            lambda v: None if (v == NONE and f.optional) else v)


def activation_control(s: Slot) -> Made:
    return _dropdown(engine.names("activation", aliases=True), s.shown, s.tip), _same


def dtype_control(s: Slot) -> Made:
    return _dropdown(engine.names("dtype"), s.shown, s.tip), _same


def text_control(s: Slot) -> Made:
    f = s.field
    text = widgets.Text(value=s.shown, continuous_update=False, tooltip=s.tip,
                        layout=control_layout())
    return text, (lambda v: None if (v == "" and f.optional) else v)


def tuple_control(s: Slot) -> Made:
    f = s.field
    start = s.shown if s.shown is not None or not f.optional else _fallback(f)
    if not f.length or not isinstance(start, tuple) or len(start) != f.length:
        return json_control(s)
    low, _ = _int_bounds(f)
    return _optional(s, TupleControl(start, f.length, low, s.tip), _listed)


def factor_control(s: Slot) -> Made:
    """A number ``f`` within ``[number_min, max]``, or ``[lower, upper]`` within
    ``[min, max]``; ticking "range" shows the range ``f`` means."""
    f = s.field
    fmt = s.form.format if s.form is not None else KERAS3
    number_min = getattr(f, "number_min", f.min)

    def as_pair(number: Any) -> tuple[Any, Any]:
        try:
            lower, upper = f.read(number, f.name, fmt)
        except Exception:  # noqa: BLE001 - a number the field refuses: as a plain pair
            return number, number
        return lower, upper

    step = 1 if getattr(f, "integers", False) else None
    ctl = RangeControl(_fallback(f) if s.shown is None else s.shown, (f.min, f.max),
                       number_bounds=(number_min, f.max), as_pair=as_pair, step=step,
                       tooltip=s.tip)
    return _optional(s, ctl, _listed)


def value_range_control(s: Slot) -> Made:
    f = s.field
    if not isinstance(s.shown, tuple) and s.shown is not None:
        return json_control(s)
    ctl = RangeControl(_fallback(f) if s.shown is None else s.shown, (f.min, f.max),
                       tooltip=s.tip)
    return _optional(s, ctl, _listed)


def nested_control(s: Slot) -> Made:
    if s.form is None:
        raise ValueError(f"{s.field.name}: a nested {kind_of(s.field)} needs its form")
    return NestedControl(s.form, s.field, s.value, s.path), _same


def json_control(s: Slot) -> Made:
    """JSON text, with a None toggle beside it when the field allows None."""
    if s.field.optional:
        start = s.shown if s.shown is not None else _fallback(s.field)
        return OptionalControl(JsonControl(start, s.tip), s.shown, start, s.tip), _same
    return JsonControl(s.shown, s.tip), _same


#: field kind -> the function building its control (``json_control`` for other kinds)
CONTROLS: dict[str, Callable[[Slot], Made]] = {
    "int": int_control, "seed": int_control, "float": float_control, "bool": bool_control,
    "choice": choice_control, "activation": activation_control, "dtype": dtype_control,
    "str": text_control, "int_tuple": tuple_control, "odd_sizes": tuple_control,
    "factor": factor_control, "value_range": value_range_control,
    "vocabulary": vocabulary_control, "window": window_control,
    **dict.fromkeys(NESTED_KINDS, nested_control),
    **dict.fromkeys(("json", "shape", "axis", "number_or_list", "number_list"), json_control),
}


def make_control(f: Field, value: Any, form: Form | None = None, path: str = "") -> Made:
    """The control for field ``f`` showing ``value``, and its control -> config converter
    (``form`` and ``path``: where a nested field's sub-form goes)."""
    build = CONTROLS.get(kind_of(f), json_control)
    return build(Slot(f, value, form, path or f.name))


# -- config value -> control value ------------------------------------------------------------


def _dtype_shown(f: Field, value: Any) -> Any:
    if isinstance(value, dict):
        return (value.get("config") or {}).get("name", "float32")
    return value or "float32"


def _activation_shown(f: Field, value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("config") if isinstance(value.get("config"), str) else "linear"
    return value or "linear"


def _tuple_shown(f: Field, value: Any) -> Any:
    if f.length and isinstance(value, list):
        return tuple(value)
    if f.length and isinstance(value, int) and not isinstance(value, bool):
        return (value,) * f.length  # odd sizes: 3 means (3, 3)
    return value


def _pair_shown(f: Field, value: Any) -> Any:
    return tuple(value) if isinstance(value, list) and len(value) == 2 else value


#: field kind -> config value -> the value its control holds (other kinds: as it is)
SHOWN: dict[str, Callable[[Field, Any], Any]] = {
    "dtype": _dtype_shown, "activation": _activation_shown,
    "str": lambda f, v: "" if v is None else v,
    "bool": lambda f, v: (NONE if f.optional else False) if v is None else v,
    "choice": lambda f, v: NONE if v is None else v,
    "int_tuple": _tuple_shown, "odd_sizes": _tuple_shown,
    "factor": _pair_shown, "value_range": _pair_shown,
}


def to_control(f: Field, value: Any) -> Any:
    """A config value -> what the field's control holds."""
    shown = SHOWN.get(kind_of(f))
    return value if shown is None else shown(f, value)


def _dropdown(names: list[Any], value: Any, tip: str, none: bool = False) -> widgets.Dropdown:
    options: list[Any] = [(str(n), n) for n in names]
    if none:
        options.insert(0, (NONE, NONE))
    if value not in names and value != NONE:
        options.append((str(value), value))
    return widgets.Dropdown(options=options, value=value, tooltip=tip, layout=control_layout())


__all__ = ["Form", "FieldRow", "NestedControl", "TupleControl", "OptionalControl",
           "RangeControl", "JsonControl", "CONTROLS", "Slot", "make_control", "to_control",
           "parse"]
