"""ModelEditor: a whole model's activations by depth, pick a layer, edit it in place.

The state (statistics, flags, history, the downstream recompute) lives in
:mod:`widget.model_state`; the picture in :mod:`widget.depth_plots`; the selected layer's form
is a :class:`widget.LayerEditor` given the layer itself (its real weights) and the real input
it receives from upstream.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np

from .model_columns import Pictures
from .model_gradients import AUTO, LOSSES, OFF, VALUES, GradientRow
from .model_state import ModelState
from .model_table import SORTS, THRESHOLDS, open_layer_editor, table_rows

#: the re-initialize menu's entry for "the layers' own initializers" (a Dropdown value of
#: None would show as no selection)
OWN = "(own)"
#: full width less the 2 px margins ipywidgets puts around each widget (no sideways scroll)
FULL = "calc(100% - 4px)"
#: after an edit the gradient row is computed before the picture is drawn (one picture, all
#: rows current) while the last gradient pass took at most this many seconds; a slower one
#: (a big model) comes after the forward overview is drawn, its row saying "updating"
QUICK_GRADIENTS = 0.5

class ModelEditor(GradientRow, widgets.VBox):
    """A whole model at a glance (statistics by depth), a picked layer's editor, edits in
    place with only the downstream part recomputed.

    Args:
        model_or_path_or_config: an engine model, a model file path (``.keras``, ``.h5``,
            ``.json``), a model config dict or its JSON text.
        sample: your input array (a list for several inputs). Without it a seeded sample is
            made: N(0, 1) for float inputs, uniform over the range a leading ``Rescaling``
            maps to [0, 1] (or [offset, 1]), integers below the ``Embedding``'s
            ``input_dim`` for integer inputs; batch 8, shrunk so that the sample has at
            most 1e6 elements (the header says so).
        input_shape: the input shape for the automatic sample when the model lacks one.
        seed: seed of the sample and of every re-initialization.
        custom_objects: passed to ``engine.load`` / ``engine.deserialize``.
        gradient_loss: the gradient row's loss (also a menu): ``"auto"`` (default) is
            categorical crossentropy against seeded random one-hot targets when the model
            ends in a softmax (what a classifier trains with; at initialization the class
            does not matter), else mean squared error against zero targets (no labels
            needed; its output gradient is the output, scaled); or a loss name, ``"sum of
            outputs"``, ``"off"`` (see widget.model_gradients).
        gradient_samples: the gradient row is computed on the first this many samples;
            ``"auto"`` (default): those whose inputs hold at most 65,536 values (2 of a
            96×96×3 batch, all of a small model's); None: all. Its values are the whole
            batch's gradients on those samples, exactly (at inference a layer treats
            samples independently, see widget.model_gradients); the row says which.
        narrow: which overview picture: None (default) chooses by the editor's width in
            the page, with no code in the page (a CSS container query: below
            ``model_columns.NARROW_BELOW`` px the narrow picture, else the wide one; both
            are kept current); True the narrow one (400 px, larger text, fewer ticks,
            legends over the rows, for a page about 420 px wide), False the wide one (760
            px). Also a menu.

    Gradients (``grad_rms``: RMS of the loss's gradient w.r.t. each output, engine.gradients
    on the first ``gradient_samples`` samples) depend on the whole model: after an edit they
    are computed before the picture is drawn while that is quick (at most
    ``QUICK_GRADIENTS`` s last time); else the forward overview is drawn first (the row says
    "updating"), then the row. At open they are computed under the progress bar. A model
    that cannot be differentiated (a preprocessing layer, say) gets the reason in the row instead.

    Flags (thresholds also shown in the widget): ``saturated`` when ≥ 50 % of a layer's
    outputs lie within 1 % of a bound of its activation (tanh, sigmoid, softsign,
    hard_sigmoid, ReLU6); ``dead`` when ≥ 50 % of its units are 0 for every sample or the
    output is constant; ``vanishing``/``exploding`` when its std is below 1/10 or above 10×
    the first layer's; ``nan``; ``off theory`` when a Dense/conv layer's std is outside ×2 of
    what its initializer predicts (``predicted_std``: Var[y] = fan_in · E[w²] · E[x²], then
    the activation, as in Glorot & Bengio 2010 and He et al. 2015).

    The first pass (forward pass and statistics) runs when the editor is shown, under a
    progress bar, or on the first call that needs it (:meth:`statistics`, :meth:`select`,
    :meth:`set`, ...; or :meth:`run`), so the programmatic API stays synchronous. Pick a
    layer in the table, by name in the search box, or by clicking its column of the
    heatmap (one transparent button per column lies over it; hovering names the layer).

    Example:
        >>> me = ModelEditor("model.keras")                     # doctest: +SKIP
        >>> [s["name"] for s in me.statistics() if "dead" in s["flags"]]  # doctest: +SKIP
        >>> me.select("block_3_project"); me.set("kernel_initializer", "he_normal")  # +SKIP
    """

    def __init__(self, model_or_path_or_config: Any, sample: Any = None, input_shape: Any = None,
                 seed: int = 0, custom_objects: dict[str, Any] | None = None,
                 gradient_loss: str = AUTO, narrow: bool | None = None,
                 gradient_samples: int | str | None = AUTO):
        super().__init__(layout=widgets.Layout(width="100%"))
        self.add_class("layerlab-model-editor")
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0,
                                              description="opening", style={
                                                  "description_width": "initial"},
                                              layout=widgets.Layout(width="320px"))
        self.progress.add_class("layerlab-model-progress")
        self.children = (self.progress,)
        t0 = time.perf_counter()
        self._state = ModelState(model_or_path_or_config, sample, input_shape, seed,
                                 custom_objects, defer=True)
        self.open_seconds = time.perf_counter() - t0
        self.error: str | None = None
        self.baseline: list[dict[str, Any]] | None = None
        self._callbacks: list[Callable[[dict[str, Any]], Any]] = []
        self._busy = False
        self.selected: str | None = None
        self.editor: Any = None
        self._mode = AUTO if narrow is None else ("narrow" if narrow else "wide")
        if gradient_loss not in VALUES:
            raise ValueError(f"gradient_loss: expected one of {VALUES}, got {gradient_loss!r}")
        self._loss = gradient_loss
        if gradient_samples not in (None, AUTO) and (
                isinstance(gradient_samples, bool) or not isinstance(gradient_samples, int)
                or gradient_samples < 1):
            raise ValueError(f"gradient_samples: expected a whole number >= 1, 'auto' or "
                             f"None (all), got {gradient_samples!r}")
        #: the gradient row's sub-batch (the first this many samples; "auto"; None: all)
        self.gradient_samples = gradient_samples
        self._custom: tuple[Any, Any] | None = None  # show_gradients(loss, targets)
        #: why the gradient row is empty ("updating", "off", "no gradients: ..."), or None
        self.gradient_note: str | None = None
        #: seconds of the last change: ``overview`` (forward part drawn), ``gradients``
        self.timings: dict[str, float] = {}
        self._ran = False
        # the first pass starts when a view of the editor is shown (also inside a box):
        # the frontend counts views once this is a number
        self._view_count = 0
        self.observe(self._on_view, "_view_count")

    def run(self) -> ModelEditor:
        """The first pass (forward pass, then each layer's statistics), with the progress
        bar filling up; once. It starts by itself when the editor is shown, or on the first
        call that needs it (:meth:`statistics`, :meth:`select`, ...). Returns the editor."""
        if self._ran:
            return self
        self._ran = True
        t0 = time.perf_counter()

        def told(fraction: float, what: str) -> None:
            self.progress.description, self.progress.value = what, fraction

        try:
            self._state.run(told)
        except Exception:
            self._ran = False
            raise
        self.open_seconds += time.perf_counter() - t0
        # at open the gradients come before the first picture (under the progress bar): drawn
        # after it, their row's scale is not known yet and the picture is drawn twice
        told(0.9, "gradients")
        self._gradients(draw=False)
        told(1.0, "drawing the overview")
        self._build_view()
        self._refresh()
        self.progress.layout.display = "none"
        self.children = self._view  # the view replaces the progress bar, filled
        return self

    def _on_view(self, change: dict[str, Any]) -> None:
        if not change["new"] or self._ran:
            return
        try:
            self.run()
        except Exception as e:  # noqa: BLE001 - no cell to raise into: shown in the widget
            self.error = f"the first pass failed: {e}"
            self.progress.description = "failed"
            self.children = (self.progress, widgets.HTML(
                f"<span style='color:#b00020'>{html.escape(self.error)}</span>"))

    def _ipython_display_(self) -> None:
        """Show the editor (its progress bar), then run the first pass while it shows."""
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)
        self.run()

    # -- public API -----------------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The current engine model (a new object after each edit)."""
        return self._state.model

    @property
    def sample(self) -> Any:
        return self._state.sample

    @property
    def reinitialized(self) -> list[str]:
        """The layers the last edit re-initialized (its own, and downstream shape changes)."""
        return list(self._state.reinitialized)

    def statistics(self) -> list[dict[str, Any]]:
        """Per layer, in depth order (nested models flattened as ``outer/inner``): ``name``,
        ``class_name``, ``output_shape``, ``mean``, ``std``, ``rms``, ``zero_fraction``,
        ``saturated_fraction``, ``dead_units`` (of ``units``), ``weight_std``,
        ``predicted_std`` (Dense/conv), ``finite``, ``depth`` and ``flags``."""
        self.run()
        return self._state.statistics()

    def select(self, name: str) -> None:
        """Show the layer ``name`` (a path ``outer/inner`` or a unique plain name) in the
        editor, with its real weights and the real input it receives."""
        self.run()
        path = self._state.resolve(name)
        layer = self._state.layer(path)
        x = self._state.layer_input(path)
        self.editor, note = open_layer_editor(layer, x, self._state.seed)
        self.editor.on_change(self._on_editor_change)
        self.selected = path
        self.editor_box.children = (getattr(self.editor, "view", self.editor),)
        self.editor_title.value = f"<b>{html.escape(path)}</b> " \
            f"({html.escape(type(layer).__name__)}){note}"
        if self.search.value != path:
            self.search.value = path
        if self.table.value != path and path in [o[1] for o in self.table.options]:
            self.table.value = path
        self._draw()
        try:  # after the view is sent: the part downstream, built for the first edit
            self._state.prepare(path)
        except Exception:  # noqa: BLE001, S110 - only a head start: the edit builds it anyway
            pass

    def set(self, path: str, value: Any) -> bool:
        """Edit the selected layer's field at ``path`` (the paths and aliases of
        ``LayerEditor.set``). Returns True when applied; False with :attr:`error` set when
        refused (the model stays as it was)."""
        self.run()
        if self.editor is None:
            return self._refuse("select a layer first (me.select(name))", path, value)
        self._busy = True
        try:
            if self.editor.error is not None:  # a refused edit still in the form: drop it
                self.editor.undo()
            ok = self.editor.set(path, value)
        finally:
            self._busy = False
        if not ok:
            return self._refuse(self.editor.error or "refused", path, value)
        return self._apply(path, value)

    def pin(self) -> None:
        """Keep the current statistics as the baseline, drawn beside the live ones."""
        self.run()
        self.baseline = self.statistics()
        self.pin_note.value = "<span style='color:#b35900'>baseline pinned: the picture " \
            "draws it dashed, the table shows Δstd</span>"
        self._refresh()

    def undo(self) -> bool:
        return self.run()._history(self._state.undo, "undo")

    def redo(self) -> bool:
        return self.run()._history(self._state.redo, "redo")

    def reset(self) -> bool:
        """Back to the model as opened (undoable)."""
        return self.run()._history(self._state.reset, "reset")

    def reinitialize(self, initializer: Any = None, class_name: str | None = None) -> bool:
        """Draw the weights of the selected layer, or of every layer of ``class_name``,
        again (seeded): from their own initializers (``initializer`` None: e.g. a
        BatchNormalization's gamma back to 1), or with ``initializer`` set as their kernel
        initializer first. Returns True when applied."""
        self.run()
        if class_name is None:
            paths = [self.selected] if self.selected else []
        else:
            paths = [s["name"] for s in self.statistics() if s["class_name"] == class_name]
        if not paths:
            return self._refuse(f"no layer to re-initialize ({class_name or 'none selected'})",
                                "reinitialize", initializer)
        try:
            self._state.reinitialize(paths, initializer)
        except Exception as e:  # shown, never raised into the notebook
            return self._refuse(str(e), "reinitialize", initializer)
        ok = self._changed("reinitialize", initializer)
        if self.selected:
            self.select(self.selected)
        return ok

    def export(self, fmt: str = "keras3") -> str:
        """The edited model's config as Keras 3 (``"keras3"``) or Keras 2 JSON."""
        self.run()
        return self._state.export(fmt)

    def save(self, path: Any) -> None:
        """Write the edited model (``.keras``: real Keras loads it with the same outputs)."""
        self.run()
        self._state.save(path)

    def on_change(self, callback: Callable[[dict[str, Any]], Any]) -> None:
        """Call ``callback(event)`` after each change: ``type`` ("change" or "error"),
        ``path``, ``value``, ``layer`` (the selected layer), ``reinitialized``, ``error``
        and ``editor`` (this ModelEditor)."""
        self._callbacks.append(callback)

    def __repr__(self) -> str:
        return f"<ModelEditor {self.model.name!r} selected={self.selected!r} " \
            f"error={self.error!r}>"

    # -- changes --------------------------------------------------------------------------
    def _on_editor_change(self, event: dict[str, Any]) -> None:
        if self._busy or event.get("type") != "change":
            return
        self._apply(event.get("path"), event.get("value"))

    def _apply(self, path: Any, value: Any) -> bool:
        ed = self.editor
        try:
            fresh = ed.layer.get_weights() if ed.layer.built else []
            self._state.apply(self.selected, ed.config, fresh)
        except Exception as e:
            self._busy = True
            try:
                ed.undo()
            finally:
                self._busy = False
            return self._refuse(str(e), path, value)
        ok = self._changed(path, value)
        if self.selected and not self._editor_shows_model_weights():
            # loaded weights were kept: the form shows them (or re-opens on the model's
            # layer when it cannot take them)
            self._busy = True
            try:
                taken = self.editor.adopt_weights(self._state.layer(self.selected))
            finally:
                self._busy = False
            if not taken:
                self.select(self.selected)
        return ok

    def _editor_shows_model_weights(self) -> bool:
        ours = self.editor.layer.get_weights() if self.editor.layer.built else []
        real = self._state.layer(self.selected).get_weights()
        return len(ours) == len(real) and all(
            a.shape == b.shape and np.array_equal(a, b) for a, b in zip(ours, real))

    def _history(self, action: Callable[[], bool], name: str) -> bool:
        try:
            done = action()
        except Exception as e:
            return self._refuse(str(e), name, None)
        if done:
            self._changed(name, None)
            if self.selected:
                try:
                    self.select(self.selected)
                except ValueError:
                    self.selected = None
        return done

    def _changed(self, path: Any, value: Any) -> bool:
        self.error = None
        self.error_box.value = ""
        t0 = time.perf_counter()
        off = self._custom is None and self._loss == OFF
        # quick gradients come before the one picture; slow ones after the forward overview
        quick = not off and self.timings.get("gradients", math.inf) <= QUICK_GRADIENTS
        if quick:
            self._gradients(draw=False)
        else:
            for st in self._state.stats.values():  # gradients depend on the whole model
                st.pop("grad_rms", None)
            self.gradient_note = OFF if off else "updating"
        self._refresh()
        self.timings["overview"] = time.perf_counter() - t0
        # the status after the picture: it says the overview is current (a slow gradient
        # row says "updating" until it is drawn)
        re = self._state.reinitialized
        self.status.value = (f"re-initialized: {html.escape(', '.join(re))}" if re else
                             "applied; loaded weights kept")
        if not off and not quick:  # after the forward overview was sent: it shows meanwhile
            self._gradients()
        self._emit("change", path, value)
        return True

    def _refuse(self, message: str, path: Any, value: Any) -> bool:
        self.error = message
        self.error_box.value = f"<span style='color:#b00020'>{html.escape(str(message))}</span>"
        self._emit("error", path, value)
        return False

    def _emit(self, kind: str, path: Any, value: Any) -> None:
        event = {"type": kind, "path": path, "value": value, "layer": self.selected,
                 "reinitialized": self.reinitialized, "error": self.error, "editor": self}
        for cb in list(self._callbacks):
            try:
                cb(event)
            except Exception as e:  # a user's callback must not break the editor
                self.error_box.value = f"<span style='color:#b00020'>callback failed: " \
                    f"{html.escape(repr(e))}</span>"

    # -- view -----------------------------------------------------------------------------
    def _build_view(self) -> None:
        st = self._state

        def btn(label: str, tip: str, cls: str, fn: Callable[[], Any]) -> widgets.Button:
            b = widgets.Button(description=label, tooltip=tip,
                               layout=widgets.Layout(width="auto", min_width="64px"))
            b.add_class(cls)
            b.on_click(lambda _b: fn())
            return b

        self.header = widgets.HTML(
            f"<b>{html.escape(self.model.name or 'model')}</b> · {len(st.order)} layers · "
            f"{html.escape(st.sample_note)} · opened in {self.open_seconds:.2f} s"
            f"<div style='font-size: 12px; line-height: 1.35'>{THRESHOLDS}</div>")
        self.header.add_class("layerlab-model-header")
        #: the wide and narrow pictures, their clickable columns, the menu choosing
        self.pictures = Pictures(self, self._mode, self._safe_select, self._draw)
        p = self.pictures
        self.picture, self.narrow_picture, self.picture_size = (p.picture, p.narrow_picture,
                                                                p.size)
        self.columns, self.narrow_columns = p.columns, p.narrow_columns
        self.log_colour = widgets.Checkbox(value=False, description="log colour",
                                           indent=False, layout=widgets.Layout(width="auto"))
        self.log_colour.observe(lambda _c: self._draw(), "value")
        self.loss_choice = widgets.Dropdown(options=LOSSES, value=self._loss,
                                            description="gradients",
                                            tooltip="The loss whose gradient RMS by depth "
                                            "the bottom row shows ('off': no row)",
                                            layout=widgets.Layout(width="280px"))
        self.loss_choice.add_class("layerlab-gradient-loss")
        self.loss_choice.observe(self._on_loss, "value")
        self.search = widgets.Combobox(placeholder="layer name…", options=list(st.order),
                                       ensure_option=False, continuous_update=False,
                                       layout=widgets.Layout(width="240px"))
        self.search.add_class("layerlab-layer-search")
        self.search.observe(self._on_search, "value")
        self.filter = widgets.Text(placeholder="filter by name or class",
                                   continuous_update=False,
                                   layout=widgets.Layout(width="200px"))
        self.filter.add_class("layerlab-table-filter")
        self.sort = widgets.Dropdown(options=list(SORTS), value="depth", description="sort",
                                     layout=widgets.Layout(width="170px"))
        self.flagged_only = widgets.Checkbox(value=False, description="flagged only",
                                             indent=False, layout=widgets.Layout(width="auto"))
        for w in (self.filter, self.sort, self.flagged_only):
            w.observe(lambda _c: self._fill_table(), "value")
        self.table = widgets.Select(options=[], rows=14, layout=widgets.Layout(width=FULL))
        self.table.add_class("layerlab-layer-table")
        self.table.observe(self._on_table, "value")
        # clipped like the rows below it (a narrow page shows the first columns; the flags
        # are in the summary above too)
        self.table_head = widgets.HTML(layout=widgets.Layout(width=FULL, overflow="hidden"))
        self.table_style = widgets.HTML(
            "<style>.layerlab-layer-table select, .layerlab-table-head pre "
            "{font-family: monospace; font-size: 12px; white-space: pre}</style>")
        self.table_head.add_class("layerlab-table-head")
        self.flag_summary = widgets.HTML()
        self.flag_summary.add_class("layerlab-flag-summary")
        self.undo_button = btn("Undo", "Undo the last model edit", "layerlab-model-undo",
                               self.undo)
        self.redo_button = btn("Redo", "Redo", "layerlab-model-redo", self.redo)
        self.reset_button = btn("Reset", "Back to the model as opened",
                                "layerlab-model-reset", self.reset)
        self.pin_button = btn("Pin", "Keep these statistics as a baseline",
                              "layerlab-model-pin", self.pin)
        self.init_choice = widgets.Dropdown(
            options=[("its own initializers", OWN)] + [(n, n) for n in (
                "he_normal", "he_uniform", "glorot_uniform", "glorot_normal", "lecun_normal",
                "orthogonal", "zeros")],
            value=OWN, tooltip="Re-initialize with the layers' own initializers, or set "
            "this kernel initializer first",
            layout=widgets.Layout(width="150px"))
        self.reinit_one = btn("Re-init selected", "Re-initialize the selected layer",
                              "layerlab-reinit-one",
                              lambda: self.reinitialize(self._chosen_init()))
        self.reinit_class = btn("Re-init its class", "Re-initialize every layer of the "
                                "selected layer's class", "layerlab-reinit-class",
                                lambda: self.reinitialize(
                                    self._chosen_init(),
                                    type(self._state.layer(self.selected)).__name__
                                    if self.selected else None))
        self.export_format = widgets.Dropdown(options=[("Keras 3 JSON", "keras3"),
                                                       ("Keras 2 JSON", "keras2")],
                                              layout=widgets.Layout(width="140px"))
        self.export_box = widgets.Textarea(layout=widgets.Layout(width=FULL, height="160px",
                                                                 display="none"))
        self.export_box.add_class("layerlab-model-export")
        self.export_button = btn("Export", "Show the edited model's config",
                                 "layerlab-model-export-button", self._show_export)
        self.save_path = widgets.Text(placeholder="edited.keras",
                                      layout=widgets.Layout(width="180px"))
        self.save_button = btn("Save", "Save the edited model (.keras)", "layerlab-model-save",
                               self._on_save)
        self.status = widgets.HTML()
        self.status.add_class("layerlab-model-status")
        self.error_box = widgets.HTML()
        self.error_box.add_class("layerlab-model-error")
        self.pin_note = widgets.HTML()
        row = widgets.Layout(flex_flow="row wrap", align_items="center")
        actions = widgets.HBox([self.undo_button, self.redo_button, self.reset_button,
                                self.pin_button, self.init_choice, self.reinit_one,
                                self.reinit_class], layout=row)
        files = widgets.HBox([self.export_format, self.export_button, self.save_path,
                              self.save_button], layout=row)
        tools = widgets.HBox([widgets.HTML("pick:"), self.search, self.filter, self.sort,
                              self.flagged_only, self.log_colour, self.loss_choice,
                              self.picture_size], layout=row)
        self.editor_title = widgets.HTML("<i>pick a layer in the table, or type its name</i>")
        self.editor_box = widgets.VBox(layout=widgets.Layout(width=FULL))
        self.editor_box.add_class("layerlab-model-layer-editor")
        self._view = (self.table_style, self.columns.style, self.header, self.columns.box,
                      self.narrow_columns.box, self.pin_note,
                         self.flag_summary, tools, self.table_head, self.table, actions,
                         files, self.export_box, self.status, self.error_box,
                         self.editor_title, self.editor_box)

    def _chosen_init(self) -> str | None:
        value = self.init_choice.value
        return None if value == OWN else value

    def _refresh(self) -> None:
        self._fill_table()
        self._draw()
        if self.export_box.layout.display != "none":
            self._show_export()

    def _draw(self) -> None:
        full = [self._state.stats[n] for n in self._state.order]
        note = self.gradient_note
        label = self.gradient_label()
        self.pictures.draw(full, self.selected, baseline=self.baseline,
                           log=self.log_colour.value,
                           gradients=None if note == OFF else (label if note is None else
                                                               f"{label}: {note}"))

    def _fill_table(self) -> None:
        stats = self.statistics()
        self.pictures.set_layers(stats)
        summary, head, options = table_rows(stats, self.baseline, self.filter.value,
                                            self.flagged_only.value, self.sort.value)
        self.flag_summary.value, self.table_head.value = summary, head
        self._busy_table = True
        try:
            if list(self.table.options) != options:  # unchanged rows are not sent again
                self.table.options = options
            # as tall as its rows (at most 14): no empty box under a few rows
            self.table.rows = min(14, max(2, len(options)))
            if self.selected in [o[1] for o in options]:
                self.table.value = self.selected
        finally:
            self._busy_table = False

    def _on_table(self, change: dict[str, Any]) -> None:
        if getattr(self, "_busy_table", False) or not change["new"] or \
                change["new"] == self.selected:
            return
        self._safe_select(change["new"])

    def _on_search(self, change: dict[str, Any]) -> None:
        name = (change["new"] or "").strip()
        if name and name != self.selected:
            self._safe_select(name)

    def _safe_select(self, name: str) -> None:
        try:
            self.select(name)
            self.error_box.value = ""
        except ValueError as e:
            self._refuse(str(e), "select", name)

    def _show_export(self) -> None:
        self.export_box.layout.display = None
        self.export_box.value = self.export(self.export_format.value)

    def _on_save(self) -> None:
        path = self.save_path.value.strip()
        if not path:
            self._refuse("type a file name ending in .keras first", "save", path)
            return
        try:
            self.save(path)
        except Exception as e:
            self._refuse(str(e), "save", path)
            return
        self.status.value = f"saved {html.escape(path)}"
