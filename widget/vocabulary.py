"""Controls for a vocabulary (one token a line) and for a spectrogram's window.

:func:`vocabulary_control` builds the control of a ``vocabulary`` field (StringLookup,
IntegerLookup, TextVectorization): a :class:`VocabularyControl` text area holding one token
a line, the number of tokens beside it, and a "None" toggle (no vocabulary: adapt() or the
``.keras`` assets give it). An integer vocabulary reads one int a line. The engine judges
the list (repeats, the mask token inside it, more than ``max_tokens``) and the form shows
its error beside the field, as for any field.

The layer is rebuilt when the text area loses focus (``continuous_update=False``: one rebuild
an edit, not one a keystroke), but the count follows every keystroke: the page counts the
lines itself (:data:`LIVE_COUNT`, one document listener installed by the count's HTML) and
says "click outside to apply" until the text is committed; the kernel then writes the
count of what it received.

:func:`window_control` builds the control of a ``window`` field (STFTSpectrogram,
MelSpectrogram): a dropdown of the window names the field takes, None, and "custom"
(a JSON list of numbers, the window's own values).

Both builders take what :mod:`widget.controls` gives every builder (its ``Slot``: the
field, the value as the control shows it, the tooltip) and return the control and its
control -> config converter; ``controls.CONTROLS`` maps the field kinds to them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from .composites import JsonControl, OptionalControl, control_layout

Made = tuple[widgets.Widget, Callable[[Any], Any]]
NONE = "None"
CUSTOM = "custom…"
#: a vocabulary to start from when "None" is unticked
START = {"str": ["a", "b", "c"], "int": [1, 2, 3]}


def parse_tokens(text: str, item: str = "str") -> list[Any]:
    """A text area's text -> tokens, one a line (a final newline ends the last line; a
    line ending ``\\r\\n`` loses its ``\\r``). Strings are kept as typed, an empty line being
    the empty token; for ints, blank lines are skipped and a line that is not an int is
    passed on as typed, for the engine to name."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [s[:-1] if s.endswith("\r") else s for s in lines]
    if item == "str":
        return lines
    out: list[Any] = []
    for s in lines:
        t = s.strip()
        if not t:
            continue
        try:
            out.append(int(t.replace("_", "")))
        except ValueError:
            out.append(s)
    return out


def show_tokens(tokens: Any) -> str:
    return "\n".join(str(t) for t in tokens) if isinstance(tokens, (list, tuple)) else ""


def fits_lines(tokens: Any) -> bool:
    """Whether a vocabulary can be shown one token a line (no token holds a line break)."""
    return isinstance(tokens, (list, tuple)) and not any(
        isinstance(t, str) and ("\n" in t or "\r" in t) for t in tokens)


def count_text(tokens: Any) -> str:
    n = len(tokens) if isinstance(tokens, (list, tuple)) else 0
    return f"{n:,} token{'' if n == 1 else 's'}"


#: what the page shows beside the live count while the text is not yet committed
PENDING = " (click outside to apply)"

#: counts the lines of a vocabulary text area as it is typed in, in the page (no kernel
#: round trip, no rebuild): :func:`parse_tokens`'s rule (a final newline ends the last line;
#: an int vocabulary skips blank lines) and :func:`count_text`'s wording. Installed once a
#: page by a hidden image's onerror (an HTML widget runs no <script>); it only writes the
#: text of the count beside the text area the user types in.
LIVE_COUNT = (
    "if(!window.layerlabVocabCount){window.layerlabVocabCount=1;"
    "const n=(t,item)=>{let l=t.value.split('\\n');if(l.length&&l[l.length-1]==='')l.pop();"
    "if(item==='int')l=l.filter(x=>x.trim());return l.length;};"
    "const say=(e,tail)=>{const t=e.target;const w=t&&t.closest&&"
    "t.closest('.layerlab-vocabulary');if(!w||!w.parentElement)return;"
    "const s=w.parentElement.querySelector('.layerlab-vocabulary-count');if(!s)return;"
    "const k=n(t,s.dataset.item);"
    "s.textContent=k.toLocaleString('en-US')+' token'+(k===1?'':'s')+tail;};"
    f"document.addEventListener('input',e=>say(e,'{PENDING}'),true);"
    "document.addEventListener('focusout',e=>say(e,''),true);}")


class VocabularyControl(widgets.VBox):
    """A text area, one token a line, and the number of tokens; ``value`` is the list of
    tokens (str, or int with ``item="int"``)."""

    value = traitlets.Any()
    disabled = traitlets.Bool(False)

    def __init__(self, value: Any, item: str = "str", tooltip: str = ""):
        self.item = item
        tokens = list(value) if isinstance(value, (list, tuple)) else []
        self.text = widgets.Textarea(
            value=show_tokens(tokens), continuous_update=False, tooltip=tooltip,
            placeholder="one token a line" if item == "str" else "one integer a line",
            rows=min(max(len(tokens), 3), 12), layout=widgets.Layout(width="100%"))
        self.text.add_class("layerlab-vocabulary")  # the page's live count finds it by this
        self.count = widgets.HTML(value=_count_html(tokens, item))
        self.count.add_class("layerlab-vocabulary-size")
        super().__init__([self.text, self.count], layout=control_layout(max_width="340px"))
        self.doc = tooltip
        self.value = tokens
        self.text.observe(self._pull, "value")

    def _pull(self, change: Any) -> None:
        self.value = parse_tokens(change["new"], self.item)

    @traitlets.observe("value")
    def _on_value(self, change: Any) -> None:
        tokens = change["new"]
        self.count.value = _count_html(tokens, self.item)
        if parse_tokens(self.text.value, self.item) != tokens:
            self.text.value = show_tokens(tokens)

    @traitlets.observe("disabled")
    def _on_disabled(self, change: Any) -> None:
        self.text.disabled = change["new"]


def _count_html(tokens: Any, item: str = "str") -> str:
    """The count, and the hidden image whose onerror installs the page's live count."""
    return (f"<span class='layerlab-vocabulary-count' data-item='{item}' "
            f"style='color:#555;font-size:12px'>{count_text(tokens)}</span>"
            f"<img src='data:,' alt='' style='display:none' onerror=\"{LIVE_COUNT}\">")


def _same(value: Any) -> Any:
    return value


def vocabulary_control(s: Any) -> Made:
    """The control of a vocabulary field: one token a line, with a None toggle (JSON text
    when a token holds a line break, which one token a line cannot show)."""
    f, value = s.field, s.shown
    item = getattr(f, "item", "str")
    if value is not None and not fits_lines(value):
        start = value if value is not None else START[item]
        return OptionalControl(JsonControl(start, s.tip), value, START[item], s.tip), _same
    inner = VocabularyControl(value if value is not None else START[item], item, s.tip)
    if not f.optional:
        return inner, _same
    return OptionalControl(inner, value, START[item], s.tip), _same


class WindowControl(widgets.HBox):
    """A dropdown of window names, None and "custom…" (then a JSON list of numbers beside
    it); ``value`` is the name, None, or the list."""

    value = traitlets.Any()
    disabled = traitlets.Bool(False)

    def __init__(self, value: Any, names: list[str], tooltip: str = ""):
        self.names = list(names)
        options = [NONE, *self.names, CUSTOM]
        if isinstance(value, str) and value not in self.names:
            options.insert(-1, value)  # a name the field takes in another spelling
        custom = value if isinstance(value, (list, tuple)) else None
        self.dropdown = widgets.Dropdown(options=options, value=_choice(value),
                                         tooltip=tooltip, layout=control_layout())
        self.dropdown.add_class("layerlab-window")
        self.values = JsonControl(custom if custom is not None else [1.0], tooltip)
        self.values.layout.display = "flex" if custom is not None else "none"
        super().__init__([self.dropdown, self.values],
                         layout=control_layout(flex_flow="row wrap", max_width="500px"))
        self.doc = tooltip
        self.value = value
        self.dropdown.observe(self._pull, "value")
        self.values.observe(self._pull, "value")

    def _pull(self, _change: Any) -> None:
        choice = self.dropdown.value
        self.values.layout.display = "flex" if choice == CUSTOM else "none"
        if choice == CUSTOM:
            self.value = self.values.value
        else:
            self.value = None if choice == NONE else choice

    @traitlets.observe("value")
    def _on_value(self, change: Any) -> None:
        v = change["new"]
        choice = _choice(v)
        if choice not in self.dropdown.options:
            self.dropdown.options = [*self.dropdown.options[:-1], choice, CUSTOM]
        if choice == CUSTOM and self.values.value != v:
            self.values.value = v
        if self.dropdown.value != choice:
            self.dropdown.value = choice

    @traitlets.observe("disabled")
    def _on_disabled(self, change: Any) -> None:
        self.dropdown.disabled = change["new"]
        self.values.text.disabled = change["new"]


def _choice(value: Any) -> Any:
    if value is None:
        return NONE
    if isinstance(value, str):
        return value
    return CUSTOM


def window_control(s: Any) -> Made:
    """The control of a window field: its names (the field's ``choices``), None, custom."""
    names = list(s.field.choices or ("hann", "hamming"))
    return WindowControl(s.shown, names, s.tip), _same



# -- samples for the editor ---------------------------------------------------------------------

#: words a text sample is made of when the layer has no vocabulary yet
WORDS = ("the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away")


def text_sample(layer: Any, shape: tuple[int, ...], seed: int) -> np.ndarray | None:
    """A seeded sample for a layer holding a vocabulary (StringLookup, IntegerLookup,
    TextVectorization), or None for other layers: its tokens (and one out of vocabulary)
    for a lookup, indices for an inverted one, sentences of its tokens (some capitalised,
    some with punctuation) of ``shape`` for TextVectorization."""
    get = getattr(layer, "get_vocabulary", None)
    if get is None:
        return None
    rng = np.random.default_rng(seed)
    name = type(layer).__name__
    vocab = list(get(include_special_tokens=False))
    if layer.values.get("invert"):
        return rng.integers(0, layer.vocabulary_size() + 1, size=shape).astype(np.int64)
    if name == "IntegerLookup":
        pool = np.asarray(vocab or list(range(1, 10)), np.int64)
        pool = np.append(pool, pool.max() + 1)  # one value out of vocabulary
        return rng.choice(pool, size=shape)
    words = [w for w in vocab if w] or list(WORDS)
    if name != "TextVectorization":
        return rng.choice(np.array(words + ["[oov]"]), size=shape)
    n = int(np.prod(shape)) if shape else 1
    out = []
    for _ in range(n):
        k = int(rng.integers(3, 9))
        toks = [words[i] for i in rng.integers(0, len(words), size=k)]
        if rng.random() < 0.3:
            toks[0] = toks[0].capitalize()
        out.append(" ".join(toks) + str(rng.choice(["", ".", "!", "?"])))
    return np.array(out).reshape(shape)


__all__ = ["LIVE_COUNT", "PENDING", "VocabularyControl", "WindowControl", "vocabulary_control",
           "window_control",
           "parse_tokens", "count_text", "text_sample"]
