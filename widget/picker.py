"""The layer-class picker: a family dropdown, a class dropdown and a search box.

Names come from ``engine.names("layer")`` (the engine's catalog: nothing is imported), and
each is put in the group Keras's documentation files it under (Core, Convolution,
Pooling, ...), by its name. A family module is imported only when one of its classes is
chosen (the editor then looks the class up).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import traitlets

import engine

from .composites import control_layout
from .view import wrap

#: (group, the names in it as one regular expression matched against the whole name),
#: in the order of Keras's layer documentation; the first group that matches wins
GROUPS: tuple[tuple[str, str], ...] = (
    ("Core", r"Dense|EinsumDense|Embedding|ReversibleEmbedding|InputLayer|Lambda|Masking|"
             r"Identity"),
    ("Convolution", r"\w*Conv\dD(Transpose)?|LocallyConnected\dD"),
    ("Pooling", r"\w*Pooling\dD"),
    ("Recurrent", r"RNN|SimpleRNN|LSTM|GRU|\w+Cells?|ConvLSTM\dD|Bidirectional|"
                  r"TimeDistributed"),
    ("Attention", r"\w*Attention"),
    ("Normalization", r"\w+Normalization"),  # bare "Normalization" is preprocessing
    ("Regularization", r"\w*Dropout\w*|GaussianNoise|ActivityRegularization"),
    ("Activation", r"Activation|ELU|LeakyReLU|PReLU|ReLU|Softmax|ThresholdedReLU"),
    ("Reshaping", r"Cropping\dD|ZeroPadding\dD|UpSampling\dD|Flatten|Permute|RepeatVector|"
                  r"Reshape"),
    ("Merging", r"Add|Average|Concatenate|Dot|Maximum|Minimum|Multiply|Subtract"),
    ("Preprocessing", r"Random\w+|RandAugment|AugMix|Pipeline|AutoContrast|Solarization|"
                      r"\w*Equalization|MaxNumBoundingBoxes|CutMix|MixUp|CenterCrop|Resizing|"
                      r"Rescaling|Normalization|Discretization|CategoryEncoding|Hashing|"
                      r"HashedCrossing|\w+Lookup|TextVectorization|\w+Spectrogram"),
    ("Application blocks", r"CustomScaleLayer|LayerScale|StochasticDepth"),
)
#: models are layers too, but the LayerEditor edits one layer: they are not offered
NOT_OFFERED = ("Functional", "Sequential", "Model")
OTHER = "Other"
#: the family dropdown's entry for every family
ALL = ""

_COMPILED = tuple((g, re.compile(rx)) for g, rx in GROUPS)


def group_of(name: str) -> str:
    """The group a layer class is listed under (``"Conv2D"`` -> ``"Convolution"``);
    ``"Other"`` for a name no group describes."""
    return next((g for g, rx in _COMPILED if rx.fullmatch(name)), OTHER)


_LISTED: list[tuple[str, str]] | None = None


def grouped_layers() -> list[tuple[str, str]]:
    """(group, name) of every layer class offered, by group then name; nothing imported."""
    global _LISTED  # noqa: PLW0603 - the catalog does not change in a process
    if _LISTED is None:
        order = {g: i for i, (g, _) in enumerate(GROUPS)}
        rows = [(group_of(n), n) for n in engine.names("layer") if n not in NOT_OFFERED]
        _LISTED = sorted(rows, key=lambda r: (order.get(r[0], len(order)), r[1].lower()))
    return list(_LISTED)


def matches(text: str, group: str, name: str) -> bool:
    """Whether every word of ``text`` is in the name or its group (any case)."""
    hay = f"{group} {name}".lower()
    return all(w in hay for w in text.lower().split())


class ClassPicker(widgets.HBox):
    """Choose a layer class in two steps (family, then class), or type to filter.

    ``value`` is the class name; set it to any name (from Python, as the page does) and
    the family follows. Filtering never changes ``value``: the current class stays listed.
    ``family`` narrows the class list to one group ("all families" lists every class as
    ``Group › Name``); typing in ``search`` filters by name or group and shows, in the
    family list, how many classes of each group match.
    """

    value = traitlets.Unicode()

    def __init__(self, current: str, hold: Callable[[], Any]):
        self._hold = hold
        self._quiet = False
        self.family = widgets.Dropdown(
            tooltip="The family of layers (as grouped in Keras's documentation)",
            layout=control_layout(flex="0 1 170px", min_width="110px", max_width="200px"))
        self.family.add_class("layerlab-class-family")
        self.dropdown = widgets.Dropdown(
            tooltip="The layer class; switching keeps the settings the new class also has.",
            layout=control_layout(max_width="300px"))
        self.dropdown.add_class("layerlab-class-select")
        self.search = widgets.Text(placeholder="search (e.g. conv, norm)",
                                   continuous_update=True, layout=widgets.Layout(
                                       flex="1 1 120px", min_width="90px", max_width="200px"))
        self.search.add_class("layerlab-class-search")
        label = widgets.HTML("<b>Layer</b>", layout=widgets.Layout(width="auto",
                                                                   margin="0 8px 0 0"))
        super().__init__([label, self.family, self.dropdown, self.search], layout=wrap())
        self.add_class("layerlab-class-picker")
        self.value = current
        self._refresh(family=group_of(current))
        self.family.observe(self._on_family, "value")
        self.search.observe(self._on_search, "value")
        self.dropdown.observe(self._on_pick, "value")

    # -- what is listed ------------------------------------------------------------------
    def options(self, text: str, family: str, current: str) -> list[tuple[str, str]]:
        """The class dropdown's (label, name) pairs for a search text and a family."""
        opts = [(name if family else f"{g} › {name}", name) for g, name in grouped_layers()
                if (not family or g == family) and matches(text, g, name)]
        if current and current not in [n for _, n in opts]:
            opts = [(f"{current} (current)", current), *opts]
        return opts

    def families(self, text: str, keep: str) -> list[tuple[str, str]]:
        """The family dropdown's entries: each group with its number of (matching)
        classes; groups without a match are left out while searching (not ``keep``)."""
        counts: dict[str, int] = {}
        for g, name in grouped_layers():
            counts.setdefault(g, 0)
            counts[g] += matches(text, g, name)
        total = sum(counts.values())
        out = [(f"all families ({total})", ALL)]
        out += [(f"{g} ({n})", g) for g, n in counts.items() if n or g == keep]
        return out

    def _refresh(self, family: str | None = None) -> None:
        fam = self.family.value if family is None else family
        text = self.search.value
        fams = self.families(text, fam)
        if fam not in [v for _, v in fams]:
            fam = ALL
        with self._hold():
            self._quiet = True
            try:
                if list(self.family.options) != fams:
                    self.family.options = fams
                self.family.value = fam
                opts = self.options(text, fam, self.value)
                if list(self.dropdown.options) != opts:
                    self.dropdown.options = opts
                self.dropdown.value = self.value
            finally:
                self._quiet = False

    # -- events ---------------------------------------------------------------------------
    def _on_family(self, change: Any) -> None:
        if not self._quiet:
            self._refresh(family=change["new"])

    def _on_search(self, change: Any) -> None:
        if not self._quiet:  # a search looks in every family (the counts say where);
            # cleared, the list is the current class's family again
            self._refresh(family=ALL if change["new"].strip() else group_of(self.value))

    def _on_pick(self, change: Any) -> None:
        if not self._quiet and change["new"] is not None:
            self.value = change["new"]

    @traitlets.observe("value")
    def _on_value(self, change: Any) -> None:
        if not hasattr(self, "dropdown") or self._quiet:
            return
        listed = [n for _, n in self.dropdown.options]
        self._refresh(family=None if change["new"] in listed and
                      self.family.value in (ALL, group_of(change["new"]))
                      else group_of(change["new"]))

    def show(self, current: str) -> None:
        """Select ``current`` without reporting it as a change (the editor's own sync)."""
        with self._hold():
            self._quiet = True
            try:
                self.value = current
            finally:
                self._quiet = False
            listed = [n for _, n in self.dropdown.options]
            self._refresh(family=None if current in listed else group_of(current))


__all__ = ["ClassPicker", "GROUPS", "group_of", "grouped_layers", "matches", "OTHER"]
