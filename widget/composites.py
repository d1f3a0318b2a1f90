"""Composite input widgets: ipywidgets boxes with one ``value`` in a field's own terms.

A row of int boxes (:class:`TupleControl`), a number or a ``[lower, upper]`` range
(:class:`RangeControl`), a "None" toggle beside another control (:class:`OptionalControl`)
and JSON text (:class:`JsonControl`). They know nothing of fields or configs: the builders
in :mod:`widget.controls` choose and configure them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets


def control_layout(**kw: Any) -> widgets.Layout:
    base = {"flex": "1 1 170px", "min_width": "140px", "width": "auto", "max_width": "340px"}
    base.update(kw)
    return widgets.Layout(**base)


def short_float(value: float) -> str:
    """A float as its shortest repr; a value that is exactly a float32 (as the engine
    stores weights' settings) by its shortest float32 repr: ``0.01``, not
    ``0.009999999776482582``."""
    v = float(value)
    if not math.isfinite(v):
        return repr(v)
    with np.errstate(over="ignore"):
        f32 = np.float32(v)
    if math.isfinite(f32) and float(f32) == v:
        s = str(f32)
        if float(np.float32(float(s))) == v:
            return s
    return repr(v)


def show_number(value: Any) -> str:
    """What a number box shows for ``value`` (a refused text as it was typed)."""
    if value is None:
        return ""
    if isinstance(value, float) and not isinstance(value, bool):
        return short_float(value)
    return str(value)


def parse_number(text: str, kind: str = "float") -> Any:
    """A number box's text -> an int (``kind`` "int", a whole number) or a float; ``None``
    when empty; the text itself when it is no number, so that the engine says why."""
    s = text.strip().replace("_", "")
    if not s:
        return None
    if s in ("None", "null"):
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        v = float(s)
    except ValueError:
        return text
    return v if kind == "float" else (int(v) if v.is_integer() and "e" not in s.lower()
                                      and "." not in s else v)


class NumberBox(widgets.HBox):
    """A text box holding one number; ``value`` is the number (or the refused text).

    It never clamps: ``min`` and ``max`` are only shown as a hint, and a value outside
    them is passed on for the engine to judge (and explain), in the page as from Python.
    """

    value = traitlets.Any()
    disabled = traitlets.Bool(False)

    def __init__(self, kind: str = "float", low: Any = None, high: Any = None,
                 tooltip: str = "", width: str | None = None, value: Any = None):
        self.kind, self.min, self.max = kind, low, high
        hint = (f"{low} ≤ x ≤ {high}" if low is not None and high is not None else
                f"≥ {low}" if low is not None else f"≤ {high}" if high is not None else "")
        self.text = widgets.Text(value=show_number(value), continuous_update=False,
                                 tooltip=tooltip, placeholder=hint,
                                 layout=widgets.Layout(width="100%", min_width="0"))
        self.text.add_class("layerlab-number")
        layout = widgets.Layout(width=width, min_width="48px") if width else \
            control_layout()
        super().__init__([self.text], layout=layout)
        self.doc = tooltip
        self.value = value
        self.text.observe(self._pull, "value")

    def _pull(self, change: Any) -> None:
        self.value = parse_number(change["new"], self.kind)

    @traitlets.observe("value")
    def _on_value(self, change: Any) -> None:
        if parse_number(self.text.value, self.kind) != change["new"] or \
                type(parse_number(self.text.value, self.kind)) is not type(change["new"]):
            self.text.value = show_number(change["new"])

    @traitlets.observe("disabled")
    def _on_disabled(self, change: Any) -> None:
        self.text.disabled = change["new"]


def int_box(low: Any, high: Any, tooltip: str, width: str | None = None) -> NumberBox:
    """A box for an int: never clamps (``low``/``high`` are a hint; the engine judges)."""
    return NumberBox("int", low, high, tooltip, width)


def float_box(low: Any, high: Any, tooltip: str, step: float | None = None) -> NumberBox:
    """A box for a float: never clamps (``low``/``high`` are a hint; the engine judges)."""
    return NumberBox("float", low, high, tooltip, width="84px")


# -- composite controls ---------------------------------------------------------------------


class TupleControl(widgets.HBox):
    """A row of int boxes; ``value`` is a tuple of ints."""

    value = traitlets.Any()

    def __init__(self, value: Any, length: int, low: int | None, tooltip: str = ""):
        self.boxes = [int_box(low, None, tooltip, width="64px") for _ in range(length)]
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
    """JSON text of ``value``, floats by their shortest (float32) repr."""
    if isinstance(value, float) and math.isfinite(value):
        return short_float(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(dump(v) for v in value) + "]"
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return "{" + ", ".join(f"{json.dumps(k)}: {dump(v)}" for k, v in value.items()) + "}"
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


class RangeControl(widgets.HBox):
    """``(lower, upper)`` in two number boxes; ``value`` is that tuple.

    With ``number_bounds`` (a factor), a "range" checkbox too: while it is unticked one box
    holds a single number ``f`` (``value`` is ``f``), and ticking it shows the range ``f``
    means (``as_pair(f)``) in the two boxes.
    """

    value = traitlets.Any()
    disabled = traitlets.Bool(False)

    def __init__(self, value: Any, bounds: tuple[Any, Any], *,
                 number_bounds: tuple[Any, Any] | None = None,
                 as_pair: Callable[[Any], tuple[Any, Any]] | None = None,
                 step: float | None = None, tooltip: str = ""):
        self.lower = float_box(*bounds, tooltip, step)
        self.upper = float_box(*bounds, tooltip, step)
        self.number: widgets.Widget | None = None
        self.pair: widgets.Checkbox | None = None
        self.as_pair = as_pair or (lambda v: (v, v))
        kids: list[widgets.Widget] = [self.lower, self.upper]
        if number_bounds is not None:
            self.number = float_box(*number_bounds, tooltip, step)
            self.pair = widgets.Checkbox(description="range", indent=False, tooltip=tooltip,
                                         layout=widgets.Layout(width="70px"))
            kids = [self.pair, self.number, *kids]
        super().__init__(kids, layout=control_layout(flex_flow="row wrap"))
        self.doc = tooltip
        self._pushing = False
        self.value = value
        for w in kids:
            w.observe(self._pull, "value")

    def _read(self) -> Any:
        if self.number is not None and not (self.pair and self.pair.value):
            return self.number.value
        return (self.lower.value, self.upper.value)

    def _pull(self, change: Any) -> None:
        if self._pushing:
            return
        if change["owner"] is self.pair:  # switch between a number and a range
            self.value = self.as_pair(self.number.value) if change["new"] else self.upper.value
        else:
            self.value = self._read()

    def _push(self) -> None:
        v, single = self.value, not isinstance(self.value, tuple)
        if v is None:  # nothing to show (an OptionalControl around it says None)
            return
        self._pushing = True
        try:
            if self.pair is not None:
                self.pair.value = not single
                self.number.layout.display = None if single else "none"
                for box in (self.lower, self.upper):
                    box.layout.display = "none" if single else None
            if single and self.number is not None:
                self.number.value = v
            elif not single and len(v) == 2:
                self.lower.value, self.upper.value = v
        finally:
            self._pushing = False
        shown = self._read()
        if shown != v:  # a box clamped it to its bounds: say what is shown
            self.value = shown

    @traitlets.validate("value")
    def _valid(self, proposal: Any) -> Any:
        v = proposal["value"]
        return tuple(v) if isinstance(v, list) else v

    @traitlets.observe("value")
    def _on_value(self, _change: Any) -> None:
        self._push()

    @traitlets.observe("disabled")
    def _on_disabled(self, change: Any) -> None:
        for w in self.children:
            w.disabled = change["new"]


__all__ = ["control_layout", "int_box", "float_box", "NumberBox", "short_float", "show_number",
           "parse_number", "TupleControl", "JsonControl",
           "OptionalControl", "RangeControl", "dump", "parse"]
