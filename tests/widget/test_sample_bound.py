"""Issue 14.2: the editor's automatic sample is bounded (the batch shrinks to at most
MAX_SAMPLE_ELEMENTS values) and a layer whose single example is too big opens with the
budget error beside its input, instead of allocating gigabytes."""

from __future__ import annotations

import resource

from widget import LayerEditor
from widget.state import MAX_SAMPLE_ELEMENTS


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_huge_batch_is_shrunk():
    ed = LayerEditor({"class_name": "Dense",
                      "config": {"units": 4, "batch_input_shape": [4000000, 256]}})
    assert ed.error is None
    shape = ed._state.input_shape_for(ed.config)
    assert shape[1:] == (256,) and shape[0] * 256 <= MAX_SAMPLE_ELEMENTS
    assert [w.shape for w in ed.layer.weights] == [(256, 4), (4,)]
    # and it says so beside the input box
    assert ed.shape_box.value == str(shape)
    assert ed.sample_note.layout.display != "none"
    assert f"batch {shape[0]}, not 4000000" in ed.sample_note.value
    assert f"{MAX_SAMPLE_ELEMENTS:,} values" in ed.sample_note.value


def test_no_note_when_the_batch_is_kept():
    ed = LayerEditor({"class_name": "Dense",
                      "config": {"units": 4, "batch_input_shape": [3, 256]}})
    assert ed._state.input_shape_for(ed.config) == (3, 256)
    assert ed.sample_note.value == "" and ed.sample_note.layout.display == "none"
    ed.set("units", 8)  # an edit keeps it so
    assert ed.sample_note.value == ""


def test_the_note_follows_the_input_box():
    ed = LayerEditor({"class_name": "Dense", "config": {"units": 4}}, input_shape=(None, 64))
    assert ed.sample_note.value == ""
    ed.shape_box.value = "[9000, 256]"  # typed by the user: too big a batch
    assert ed.error is None
    assert "batch 3906, not 9000" in ed.sample_note.value
    ed.shape_box.value = "[5, 256]"
    assert ed.sample_note.value == "" and ed.sample_note.layout.display == "none"


def test_one_example_too_big_is_an_error_beside_the_input():
    before = _peak_mb()
    ed = LayerEditor({"module": "keras.layers", "class_name": "Flatten", "config": {},
                      "registered_name": None,
                      "build_config": {"input_shape": [None, 8000, 8000]}})
    assert ed.error is not None and "input_shape" in ed.error
    assert "64,000,000 values" in ed.error
    assert _peak_mb() - before < 500  # nothing of the 256 MB example was made
