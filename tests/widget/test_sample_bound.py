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


def test_one_example_too_big_is_an_error_beside_the_input():
    before = _peak_mb()
    ed = LayerEditor({"module": "keras.layers", "class_name": "Flatten", "config": {},
                      "registered_name": None,
                      "build_config": {"input_shape": [None, 8000, 8000]}})
    assert ed.error is not None and "input_shape" in ed.error
    assert "64,000,000 values" in ed.error
    assert _peak_mb() - before < 500  # nothing of the 256 MB example was made
