"""LayerEditor: a live form for one Keras layer config, with weight and output plots.

Every change (a control in the page, or :meth:`LayerEditor.set`) rebuilds the layer through
``engine.deserialize``, reruns the forward pass on a seeded sample and redraws the plots
that changed. A bad value shows the engine's message beside its field; the last good
layer, config and plots stay, and nothing is raised into the notebook.
"""

from __future__ import annotations

import copy
import html
import re
import traceback
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np

import engine
from engine import ConfigError

from .composites import parse
from .controls import BASE_FIELDS, Form, NestedControl, to_control
from .picker import ClassPicker
from .plots import HistogramPanel, caption_html, describe_theory, statistics, stats_table
from .sample import shape_of, shape_spec
from .spectrogram import SpectrogramPanel, is_spectrogram
from .state import BuildResult, EditError, EditorState, error_field, kind_of
from .view import COPY_BUTTON, STYLE, button, text, wrap

#: at most this many histograms (weights and outputs) are drawn
MAX_PANELS = 12


class LayerEditor(widgets.VBox):
    """A form with one control per config field, rebuilt and re-plotted on every change.

    The editor is an ipywidgets ``VBox``: display it, or put it in an ``HBox``, a ``Tab`` or
    an ``AppLayout`` like any widget (``.view`` is the editor itself, for older code).

    Args:
        config_or_layer: ``{'class_name': ..., 'config': {...}}`` in the Keras 2 or Keras 3
            form, its JSON text, or an engine layer.
        input_shape: shape of the sample input, e.g. ``(None, 64)`` (a None batch becomes a
            small batch), or a list of shapes for a layer of several inputs
            (``[(None, 4), (None, 4)]`` for ``Add``; query then value for
            ``MultiHeadAttention``). Without it, taken from the config (``build_config``'s
            ``input_shape`` or ``shapes_dict``, ``batch_input_shape``) or inferred from
            the layer class.
        sample: your own input array, or a list of arrays for a layer of several inputs
            (overrides ``input_shape``).
        seed: seed of the sample and of every initializer whose config seed is None, so
            weights stay comparable from edit to edit; ``None`` starts with fresh weights on
            every rebuild (the "fixed seed" box turns the fixed seed on).

    Raises:
        ConfigError: the initial config is invalid (later edits never raise).

    Example:
        >>> ed = LayerEditor({'class_name': 'Dense', 'config': {'units': 32}})
        >>> ed.set("kernel_initializer", "he_normal")
        True
        >>> ed.config['config']['kernel_initializer']['class_name']
        'HeNormal'
    """

    def __init__(self, config_or_layer: Any, input_shape: Any = None, sample: Any = None,
                 seed: int | None = 0):
        self._state = EditorState(config_or_layer, input_shape, sample, seed)
        super().__init__(layout=widgets.Layout(width="100%"))  # at most 1200 px: view.STYLE
        self._callbacks: list[Callable[[dict[str, Any]], Any]] = []
        self._panels: dict[str, HistogramPanel | SpectrogramPanel] = {}
        self._pinned: dict[str, Any] | None = None
        self._export_format: str | None = None
        self.error: str | None = None
        self.errors: dict[str, str] = {}
        self._form = Form(self._on_edit, self._state.format)
        self._build_view()
        self._show(self._state.result, rebuild_form=True)
        if self._state.initial_error:
            self._fail(EditError("", self._state.initial_error), "", None)

    # -- public API -----------------------------------------------------------------------
    @property
    def config(self) -> dict[str, Any]:
        """The current (last good) config, ``{'class_name': ..., 'config': {...}}``."""
        return copy.deepcopy(self._state.good)

    @property
    def layer(self) -> Any:
        """The current built layer."""
        return self._state.result.layer

    @property
    def outputs(self) -> list[np.ndarray]:
        """The layer's outputs on the sample."""
        return list(self._state.result.outputs)

    @property
    def sample(self) -> Any:
        """The input the layer is run on."""
        return self._state.result.inputs

    @property
    def controls(self) -> dict[str, widgets.Widget]:
        """The control of each field, by path (``units``, ``kernel_initializer.config.seed``;
        ``class_name`` is the layer-class dropdown)."""
        return {"class_name": self.class_select, **self._form.controls}

    @property
    def can_undo(self) -> bool:
        return bool(self._state.undo_stack) or self._state.dirty or self.error is not None

    @property
    def can_redo(self) -> bool:
        return bool(self._state.redo_stack)

    def set(self, path: str, value: Any) -> bool:
        """Set the field at ``path`` (``"units"``, ``"kernel_initializer.config.scale"``,
        ``"class_name"``) to ``value``, as typing it in its control would. Returns whether
        it was applied; a bad value shows its error and keeps the last good state."""
        if path.startswith("config."):
            path = path[len("config."):]
        return self._run(lambda: self._state.try_set(path, value), path, value)

    def on_change(self, callback: Callable[[dict[str, Any]], Any]) -> None:
        """Call ``callback(event)`` after each change: ``event`` has ``type`` ("change" or
        "error"), ``path`` (a field path, or "undo", "redo", "reset", "(fixed seed)",
        "(input shape)"), ``value``, ``config``, ``error`` and ``editor``."""
        self._callbacks.append(callback)

    def undo(self) -> bool:
        """Undo the last change (first, a pending bad edit). Returns whether one was undone."""
        if self.error is not None and not self._state.dirty:  # the refused edit: dismiss it
            return self._run(lambda: self._state.result, "undo", None)
        return self._run(self._state.undo, "undo", None)

    def redo(self) -> bool:
        return self._run(self._state.redo, "redo", None)

    def reset(self) -> bool:
        """Back to the config the editor was opened with (one undoable step)."""
        return self._run(self._state.reset, "reset", None)

    def adopt_weights(self, weights: Any) -> bool:
        """Show the current layer with given weights (arrays in ``layer.get_weights()``
        order, or a layer of the same config to take them from), e.g. weights loaded from
        a file. The config and the undo history do not change; the next edit builds with
        fresh weights again. Returns whether they were taken; wrong counts or shapes are
        shown as an error, as a bad value is."""
        return self._run(lambda: self._state.adopt(weights), "(weights)", None)

    def export(self, format: str = "keras3") -> str:
        """The current config as ``"keras3"`` or ``"keras2"`` JSON, or ``"python"`` code
        (``keras.layers.Dense(units=64, ...)``, non-default arguments only)."""
        return self._state.export(format)

    @property
    def view(self) -> LayerEditor:
        """The editor itself (it is a widget); kept for code written before it was."""
        return self

    def pin(self) -> None:
        """Keep the current layer as a baseline: every plot overlays it (dashed, with a
        legend) and the table shows its statistics under the current ones, until
        :meth:`unpin`. Pin again to move the baseline."""
        items = self._items(self._state.result)
        self._pinned = {"config": self.config, "label": self._describe(),
                        "values": {k: v for k, v, *_ in items},
                        "stats": {name: statistics(v, axis)
                                  for _k, v, _t, _c, name, axis in items}}
        self.pin_button.description = "Re-pin"
        self.unpin_button.layout.display = None
        label = html.escape(self._pinned["label"])
        self.pin_note.value = f"<div class='layerlab-pin-note' title='{label}'>pinned " \
            f"(orange in the plots): {label}</div>"
        self._render(self._state.result)

    def unpin(self) -> None:
        """Drop the baseline set by :meth:`pin`."""
        self._pinned = None
        self.pin_button.description = "Pin"
        self.unpin_button.layout.display = "none"
        self.pin_note.value = ""
        self._render(self._state.result)

    @property
    def pinned(self) -> dict[str, Any] | None:
        """The pinned baseline's config (None when nothing is pinned)."""
        return None if self._pinned is None else copy.deepcopy(self._pinned["config"])

    def _describe(self) -> str:
        cfg = self._state.good
        text = self._state.export("python") if cfg else ""
        return text.replace("keras.layers.", "")[:120]

    def __repr__(self) -> str:
        return f"<LayerEditor {self._state.good['class_name']} error={self.error!r}>"

    # -- view -----------------------------------------------------------------------------
    def _build_view(self) -> None:
        st = self._state
        self.picker = ClassPicker(st.good["class_name"], self._form.hold)
        self.class_select = self.picker  # its value is the class name, any registered one
        self.class_select.observe(self._on_class, "value")

        self.reset_button = button("Reset", "Back to the original config", "layerlab-reset",
                                   self.reset)
        self.undo_button = button("Undo", "Undo the last change", "layerlab-undo", self.undo)
        self.redo_button = button("Redo", "Redo", "layerlab-redo", self.redo)
        self.pin_button = button("Pin", "Keep this layer as a baseline to compare with",
                                 "layerlab-pin", self.pin)
        self.unpin_button = button("Unpin", "Drop the baseline", "layerlab-unpin", self.unpin)
        self.unpin_button.layout.display = "none"
        exports = [button(lbl, f"Show the config as {lbl}", f"layerlab-export-{fmt}",
                          lambda fmt=fmt: self._show_export(fmt))
                   for lbl, fmt in (("Keras 3 JSON", "keras3"), ("Keras 2 JSON", "keras2"),
                                    ("Python", "python"))]
        self.status = text("rebuilding…")
        self.status.add_class("layerlab-status")
        tools = widgets.HBox([self.reset_button, self.undo_button, self.redo_button,
                              self.pin_button, self.unpin_button], layout=wrap())
        export_row = widgets.HBox([text("Export:", margin="0 4px 0 0"), *exports],
                                  layout=wrap())

        self.fixed_seed = widgets.Checkbox(value=st.fixed_seed, description="fixed seed",
                                           indent=False, layout=widgets.Layout(width="auto"),
                                           tooltip="Same weights from edit to edit (seeds "
                                           "every initializer whose seed is None)")
        self.seed_box = widgets.IntText(value=st.seed, layout=widgets.Layout(width="72px"),
                                        tooltip="The fixed seed (also the sample's seed)")
        self.log_y = widgets.Checkbox(value=False, description="log y", indent=False,
                                      layout=widgets.Layout(width="auto"))
        self.overlay = widgets.Checkbox(value=False, description="overlay previous",
                                        indent=False, layout=widgets.Layout(width="auto"),
                                        tooltip="Draw the histogram from before the last "
                                        "edit, dashed")
        self.help_toggle = widgets.Checkbox(value=False, description="help", indent=False,
                                            layout=widgets.Layout(width="auto"),
                                            tooltip="Show each field's description under it")
        self.help_toggle.add_class("layerlab-help-toggle")
        self.shape_box = widgets.Text(value="", continuous_update=False,
                                      tooltip="Shape of the sample input (batch first)",
                                      layout=widgets.Layout(width="140px", min_width="90px"))
        self.shape_box.add_class("layerlab-input-shape")
        self.sample_note = widgets.HTML(layout=widgets.Layout(display="none"))
        self.sample_note.add_class("layerlab-sample-note")
        for w, fn in ((self.fixed_seed, self._on_seed), (self.seed_box, self._on_seed),
                      (self.log_y, self._on_display), (self.overlay, self._on_display),
                      (self.shape_box, self._on_shape), (self.help_toggle, self._on_help)):
            w.observe(fn, "value")
        options = widgets.HBox([self.fixed_seed, self.seed_box, self.log_y, self.overlay,
                                self.help_toggle, text("input", margin="0 4px 0 8px"),
                                self.shape_box, self.sample_note], layout=wrap())

        self.error_box = widgets.HTML(layout=widgets.Layout(display="none"))
        self.error_box.add_class("layerlab-error")
        self.main_fields = widgets.VBox(layout=widgets.Layout(width="100%"))
        self.more_fields = widgets.VBox(layout=widgets.Layout(width="100%"))
        self.more = widgets.Accordion([self.more_fields], selected_index=None,
                                      layout=widgets.Layout(width="100%"))
        self.more.set_title(0, "More settings")
        form = widgets.VBox([self.main_fields, self.more], layout=widgets.Layout(
            flex="1 1 360px", min_width="0", max_width="600px", margin="0 12px 0 0"))
        form.add_class("layerlab-form")
        self.plots_box = widgets.Box(layout=widgets.Layout(width="100%"))
        self.plots_box.add_class("layerlab-plots")
        self.pin_note = text("")
        self.stats = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.stats.add_class("layerlab-stats-box")
        # the status floats over the plots it says are stale (it takes no room of its own)
        plots = widgets.VBox([self.status, self.pin_note, self.plots_box],
                             layout=widgets.Layout(flex="1 1 340px", min_width="0"))
        plots.add_class("layerlab-plot-column")
        body = widgets.HBox([form, plots], layout=wrap(align_items="flex-start"))
        body.add_class("layerlab-body")
        self.export_box = widgets.Textarea(continuous_update=False, layout=widgets.Layout(
            width="100%", height="14em"))
        self.export_box.add_class("layerlab-export")
        self.export_title = text("")
        close = button("Close", "Hide the export", "layerlab-export-close", self._hide_export)
        copy_button = widgets.HTML(COPY_BUTTON, layout=widgets.Layout(width="auto"))
        self.export_panel = widgets.VBox(
            [widgets.HBox([self.export_title, copy_button, close], layout=wrap()),
             self.export_box], layout=widgets.Layout(width="100%", display="none"))
        self.export_panel.add_class("layerlab-export-panel")
        self.children = [widgets.HTML(STYLE, layout=widgets.Layout(display="none")),
                         self.picker, tools, options, export_row, self.error_box, body,
                         self.stats, self.export_panel]
        self.add_class("layerlab-editor")

    # -- event handlers -------------------------------------------------------------------
    def _on_edit(self, path: str, value: Any) -> None:
        self.set(path, value)

    def _on_class(self, change: Any) -> None:
        if not self._form.syncing and change["new"] != self._state.good["class_name"]:
            self.set("class_name", change["new"])

    def _on_seed(self, _change: Any) -> None:
        if self._form.syncing:
            return
        fixed, seed = self.fixed_seed.value, self.seed_box.value
        self._run(lambda: self._state.set_seed(fixed, seed), "(fixed seed)", seed)

    def _on_shape(self, change: Any) -> None:
        if self._form.syncing:
            return
        shape = parse(change["new"])
        if isinstance(shape, int):
            shape = [shape]
        try:
            shape = shape_spec(shape)
        except ConfigError:
            shape = None
        if not shape:
            self._fail(EditError("", f"input shape: expected a list of ints such as "
                                 f"(16, 64), or a list of shapes such as [(16, 4), (16, 4)], "
                                 f"got {change['new']!r}"), "(input shape)", change["new"])
            return
        self._run(lambda: self._state.set_sample(input_shape=shape), "(input shape)", shape)

    def _on_display(self, _change: Any) -> None:
        self._render(self._state.result)

    def _on_help(self, change: Any) -> None:
        self._form.show_help(change["new"])

    def _show_export(self, fmt: str) -> None:
        self._export_format = fmt
        self._refresh_export()
        self.export_panel.layout.display = "flex"

    def _hide_export(self) -> None:
        self._export_format = None
        self.export_panel.layout.display = "none"

    def _refresh_export(self) -> None:
        """While the export is open it follows every change."""
        fmt = self._export_format
        if fmt is None:
            return
        try:
            out = self.export(fmt)
        except (ValueError, TypeError, ConfigError) as e:
            out = f"# cannot export as {fmt}: {e}"
        self.export_box.value = out
        names = {"keras3": "Keras 3 JSON", "keras2": "Keras 2 JSON", "python": "Python"}
        self.export_title.value = f"<b>{names.get(fmt, fmt)}</b> (follows your edits)"

    # -- the change cycle -----------------------------------------------------------------
    def _run(self, action: Callable[[], BuildResult | None], path: str, value: Any) -> bool:
        before = self._state.good["class_name"]
        self._busy(True)
        try:
            return self._apply(action, path, value, before)
        finally:
            self._busy(False)

    def _busy(self, on: bool) -> None:
        """Say a rebuild runs (the page greys stale plots if it takes a while)."""
        if on:
            self.add_class("layerlab-busy")
        else:
            self.remove_class("layerlab-busy")

    def _apply(self, action: Callable[[], BuildResult | None], path: str, value: Any,
               before: str) -> bool:
        try:
            result = action()
        except (ConfigError, EditError) as e:
            self._fail(e, path, value)
            return False
        except Exception as e:  # never raise into the notebook: show it
            last = traceback.format_exception_only(type(e), e)[-1].strip()
            self._fail(EditError("", f"unexpected {last}"), path, value)
            return False
        if result is None:  # nothing to undo / redo
            self._update_buttons()
            return False
        try:
            self._show(result, rebuild_form=result.config["class_name"] != before)
        except Exception as e:  # the change is made; say that showing it failed
            last = traceback.format_exception_only(type(e), e)[-1].strip()
            self._fail(EditError("", f"applied, but the display failed: {last}"), path, value)
            return True
        self._emit("change", path, value)
        return True

    def _fail(self, err: Exception, path: str, value: Any) -> None:
        message = str(err) if isinstance(err, ConfigError) else getattr(err, "message", str(err))
        where = error_field(err.path) if isinstance(err, ConfigError) else \
            getattr(err, "path", "")
        rows = self._rows_concerned(where, path, message)
        if not self._show_typed(path, value):
            self._state.revert(path)  # the form shows the good value there: so does the draft
            with self._form.hold():
                self._form.sync(self._state.good["config"])
        if path == "class_name":  # the picker shows the class in use
            self.picker.show(self._state.good["class_name"])
        self.error = message
        self.errors = dict.fromkeys(rows, message)
        self._form.show_errors(self.errors)
        names = ", ".join(f"<b>{html.escape(r)}</b>" for r in rows)
        self.error_box.value = (
            f"<div style='color:#c62828'>{html.escape(message)}</div>" if not rows else
            f"<div style='color:#c62828;font-size:12px'>Not applied: see {names} below. "
            f"Undo discards the bad value.</div>")
        self.error_box.layout.display = "flex"
        self._update_buttons()
        self._emit("error", path, value)

    def _rows_concerned(self, where: str, path: str, message: str) -> list[str]:
        """Every field an error concerns: the one the engine names, the one just edited,
        and its siblings the message mentions (``must be >= minval``)."""
        rows: list[str] = []
        for cand in (path, where):
            row = self._row_for(cand)
            if row and row not in rows:
                rows.append(row)
        for base in list(rows) or [""]:
            prefix = base.rsplit(".", 1)[0] + "." if "." in base else ""
            for other in self._form.rows:
                rest = other[len(prefix):]
                if other.startswith(prefix) and "." not in rest and other not in rows and \
                        re.search(rf"(?<![\w.]){re.escape(rest)}(?!\w)", message):
                    rows.append(other)
        return rows

    def _show_typed(self, path: str, value: Any) -> bool:
        """Leave a refused value visible in its control (as if typed there) when the control
        can hold it; the draft keeps it until fixed or undone. False when it cannot."""
        ctl, spec = self._form.controls.get(path), self._form.specs.get(path)
        if ctl is None or spec is None or isinstance(ctl, NestedControl):
            return False
        shown = to_control(spec, value)
        if ctl.value == shown and type(ctl.value) is type(shown):
            return True
        try:
            with self._form.hold():
                ctl.value = shown
        except Exception:  # noqa: BLE001 - the control cannot show it
            return False
        return ctl.value == shown

    def _row_for(self, path: str) -> str | None:
        if not path or path == "class_name":
            return None
        parts = path.split(".")
        for n in range(len(parts), 0, -1):
            cand = ".".join(parts[:n])
            if cand in self._form.rows:
                return cand
        return None

    def _show(self, result: BuildResult, rebuild_form: bool) -> None:
        inner = result.config["config"]
        if rebuild_form:
            self._build_form(result.config)
        else:
            self._form.sync(inner)
        self.picker.show(result.config["class_name"])
        with self._form.hold():
            if result.inputs is not None:
                self.shape_box.value = str(_shape(result))
            note = self._state.sample_note(result.config)
            self.sample_note.value = f"<small>{html.escape(note)}</small>" if note else ""
            self.sample_note.layout.display = None if note else "none"
            self.fixed_seed.value = self._state.fixed_seed
            self.seed_box.value = self._state.seed
        self.error = None
        self.errors = {}
        self._form.show_errors({})
        self.error_box.value = ""
        self.error_box.layout.display = "none"
        self._update_buttons()
        self._render(result)
        self._refresh_export()

    def _build_form(self, config: dict[str, Any]) -> None:
        form = self._form
        form.forget("")
        cls = engine.lookup("layer", config["class_name"])
        inner = config["config"]
        main, more = [], []
        for f in form.visible(cls):
            row = form.row(f, inner.get(form.key(f), inner.get(f.name)), form.key(f))
            (more if f.name in BASE_FIELDS or kind_of(f) == "json" else main).append(row)
        self.main_fields.children = main
        self.more_fields.children = more
        self.more.layout.display = "flex" if more else "none"

    def _update_buttons(self) -> None:
        self.undo_button.disabled = not self.can_undo
        self.redo_button.disabled = not self.can_redo

    def _emit(self, kind: str, path: str, value: Any) -> None:
        event = {"type": kind, "path": path, "value": value, "config": self.config,
                 "error": self.error, "editor": self}
        for cb in list(self._callbacks):
            try:
                cb(event)
            except Exception as e:  # a user's callback must not break the editor
                self.error_box.value = (f"<div style='color:#c62828'>on_change callback "
                                        f"failed: {html.escape(repr(e))}</div>")
                self.error_box.layout.display = "flex"

    # -- plots ----------------------------------------------------------------------------
    def _items(self, result: BuildResult) -> list[tuple[Any, ...]]:
        """(key, values, theory, caption, name, unit axis) of every plotted array."""
        items = []
        layer = result.layer
        for i, var in enumerate(layer.weights[: MAX_PANELS - 1]):
            value = np.asarray(var.value)
            theory = _theory(var)
            init = type(var.initializer).__name__ if var.initializer is not None else ""
            desc = describe_theory(theory)
            caption = caption_html([(var.path, str(tuple(var.shape)))]
                                   + ([("", init)] if init else [])
                                   + ([("", desc, "theory")] if desc else []))
            items.append((f"w{i}-{var.name}", value, theory, caption, var.path, None))
        unit_axis = 1 if (layer.values.get("data_format") == "channels_first") else -1
        outs = [o for o in result.outputs if o.dtype.kind in "biuf"]  # not str outputs
        outs = outs[: max(1, MAX_PANELS - len(items))]
        for i, out in enumerate(outs):
            name = "output" if len(outs) == 1 else f"output[{i}]"
            caption = caption_html([(name, str(tuple(out.shape))),
                                    ("for input", str(_shape(result)))])
            items.append((f"out{i}", out, None, caption, name, unit_axis))
        return items

    def _render(self, result: BuildResult) -> None:
        items = self._items(result)
        pinned = self._pinned
        keys = [k for k, *_ in items]
        for k in [k for k in self._panels if k not in keys]:
            del self._panels[k]
        name, cfg = result.config["class_name"], result.config.get("config") or {}
        for key, value, theory, caption, *_ in items:
            panel = self._panels.get(key)
            image = is_spectrogram(name) and key.startswith("out")
            if image and not isinstance(panel, SpectrogramPanel):
                panel = self._panels[key] = SpectrogramPanel(key, name, cfg)
            elif not image and not isinstance(panel, HistogramPanel):
                panel = self._panels[key] = HistogramPanel(key)
            elif image:
                panel.configure(name, cfg)
            base = None if pinned is None else pinned["values"].get(key)
            panel.update(value, theory, caption, log_y=self.log_y.value,
                         overlay=self.overlay.value, baseline=base)
        boxes = tuple(self._panels[k].box for k in keys)
        if self.plots_box.children != boxes:
            self.plots_box.children = boxes
        rows = [(name, statistics(value, axis)) for _k, value, _t, _c, name, axis in items]
        self.stats.value = stats_table(rows, None if pinned is None else pinned["stats"])

    @property
    def plot_bytes(self) -> dict[str, bytes]:
        """The PNG bytes of every plot, by panel key (for tests and scripts)."""
        return {k: bytes(p.image.value) for k, p in self._panels.items()}


def _shape(result: BuildResult) -> Any:
    """The sample's shape: a tuple, or a list of tuples for several inputs."""
    return shape_of(result.inputs)


def _theory(var: Any) -> dict[str, Any] | None:
    init = var.initializer
    if init is None or not hasattr(init, "theory"):
        return None
    try:
        return init.theory(var.shape)
    except Exception:  # custom or structured initializers may not describe themselves
        return None


__all__ = ["LayerEditor"]
