"""The editor's vocabulary control (one token a line, its count, the engine's errors beside
it), the window dropdown, and a spectrogram output drawn as an image (widget/vocabulary.py,
widget/spectrogram.py), driven from Python without a browser."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import widget
from widget.composites import JsonControl, OptionalControl
from widget.spectrogram import (
    SpectrogramPanel,
    draw_spectrogram,
    is_spectrogram,
    spectrogram_axes,
    spectrogram_image,
)
from widget.vocabulary import (
    VocabularyControl,
    WindowControl,
    count_text,
    parse_tokens,
    text_sample,
)

TOKENS = np.array([["a", "b", "zz"], ["c", "a", "q"]])


def _editor(config, sample=TOKENS):
    return widget.LayerEditor(config, sample=sample)


def _vocab(ed) -> VocabularyControl:
    ctl = ed.controls["vocabulary"]
    assert isinstance(ctl, OptionalControl)
    assert isinstance(ctl.inner, VocabularyControl)
    return ctl.inner


# -- parsing --------------------------------------------------------------------------------


def test_parse_tokens_one_a_line():
    assert parse_tokens("a\nb c\n") == ["a", "b c"]  # a final newline ends the last line
    assert parse_tokens("a\r\nb\r\n") == ["a", "b"]
    assert parse_tokens("a\n\nb") == ["a", "", "b"]  # an empty line is the empty token
    assert parse_tokens("") == []
    assert parse_tokens(" 12\n\n-3\n1_000\n", "int") == [12, -3, 1000]
    assert parse_tokens("4\nfour\n", "int") == [4, "four"]  # for the engine to name
    assert count_text(["a"]) == "1 token" and count_text(list("abc")) == "3 tokens"
    assert count_text(list(range(12345))) == "12,345 tokens"


# -- the vocabulary control -----------------------------------------------------------------


def test_vocabulary_is_a_list_with_its_size():
    ed = _editor({"class_name": "StringLookup", "config": {"vocabulary": ["a", "b", "c"]}})
    box = _vocab(ed)
    assert box.text.value == "a\nb\nc"
    assert "3 tokens" in box.count.value
    box.text.value = "a\nb\nc\nq\n"  # typed in the page
    assert ed.error is None
    assert ed.config["config"]["vocabulary"] == ["a", "b", "c", "q"]
    assert "4 tokens" in box.count.value
    assert ed.outputs[0].tolist() == [[1, 2, 0], [3, 1, 4]]
    ed.undo()  # the form follows the config
    assert box.text.value == "a\nb\nc" and "3 tokens" in box.count.value


@pytest.mark.parametrize("config,text,message", [
    ({"class_name": "StringLookup", "config": {"vocabulary": ["a", "b"]}},
     "a\nb\na", "repeated tokens ['a']"),
    ({"class_name": "StringLookup", "config": {"vocabulary": ["a", "b"], "max_tokens": 4}},
     "a\nb\nc\nd", "more than max_tokens=4"),
    ({"class_name": "StringLookup", "config": {"vocabulary": ["a"], "mask_token": "[M]"}},
     "a\n[M]", "the mask token '[M]' is inside"),
    ({"class_name": "TextVectorization", "config": {"vocabulary": ["the", "cat"]}},
     "the\n\ncat", "the mask token '' is inside"),
    ({"class_name": "IntegerLookup", "config": {"vocabulary": [1, 2]}},
     "1\ntwo", "expected an int, got the str 'two'"),
])
def test_bad_vocabulary_is_shown_beside_the_field(config, text, message):
    sample = np.array(["the cat sat"]) if config["class_name"] == "TextVectorization" else \
        (np.array([[1, 2, 7]]) if config["class_name"] == "IntegerLookup" else TOKENS)
    ed = _editor(config, sample)
    good = ed.config
    _vocab(ed).text.value = text
    assert message in ed.errors["vocabulary"]
    assert ed.config == good  # not applied


def test_integer_vocabulary_reads_ints():
    ed = _editor({"class_name": "IntegerLookup", "config": {"vocabulary": [12, 36]}},
                 np.array([[12, 36, 5, 99]]))
    box = _vocab(ed)
    assert box.item == "int" and box.text.value == "12\n36"
    box.text.value = "12\n36\n99\n"
    assert ed.config["config"]["vocabulary"] == [12, 36, 99]
    assert ed.outputs[0].tolist() == [[1, 2, 0, 3]]


def test_none_toggle_leaves_the_vocabulary_out():
    ed = _editor({"class_name": "StringLookup", "config": {"vocabulary": ["a", "b"]}})
    ctl = ed.controls["vocabulary"]
    ctl.none.value = True
    assert ed.config["config"]["vocabulary"] is None and ctl.inner.disabled
    ctl.none.value = False
    assert ed.config["config"]["vocabulary"] == ["a", "b"]


def test_tokens_with_line_breaks_fall_back_to_json():
    ed = _editor({"class_name": "StringLookup", "config": {"vocabulary": ["a\nb", "c"]}})
    ctl = ed.controls["vocabulary"]
    assert isinstance(ctl.inner, JsonControl)
    assert ctl.value == ["a\nb", "c"]


# -- the window control ---------------------------------------------------------------------


def test_window_is_a_dropdown_of_names_none_and_custom():
    x = np.random.default_rng(0).standard_normal((1, 600, 1)).astype("float32")
    ed = _editor({"class_name": "STFTSpectrogram", "config": {"frame_length": 64}}, x)
    win = ed.controls["window"]
    assert isinstance(win, WindowControl)
    assert win.dropdown.value == "hann"
    assert {"None", "hann", "hamming", "blackman", "custom…"} <= set(win.dropdown.options)
    win.dropdown.value = "hamming"
    assert ed.error is None and ed.config["config"]["window"] == "hamming"
    win.dropdown.value = "None"
    assert ed.error is None and ed.config["config"]["window"] is None
    win.dropdown.value = "custom…"
    assert "must have frame_length (64) of them" in ed.errors["window"]
    win.values.value = [0.5] * 64
    assert ed.error is None and ed.config["config"]["window"] == [0.5] * 64
    ed.undo()
    assert win.dropdown.value == "None"


def test_window_spelled_with_a_suffix_is_kept_as_a_choice():
    x = np.zeros((1, 600, 1), "float32")
    ed = _editor({"class_name": "STFTSpectrogram",
                  "config": {"frame_length": 64, "window": "hann_periodic"}}, x)
    win = ed.controls["window"]
    assert win.dropdown.value == "hann_periodic" and "hann" in win.dropdown.options
    win.dropdown.value = "hann"
    assert ed.config["config"]["window"] == "hann"
    ed.undo()
    assert win.dropdown.value == "hann_periodic"


def test_mel_window_offers_only_what_keras_takes():
    ed = _editor({"class_name": "MelSpectrogram", "config": {}},
                 np.zeros((1, 2048), "float32"))
    assert list(ed.controls["window"].dropdown.options) == ["None", "hann", "hamming",
                                                           "custom…"]


# -- spectrogram images ---------------------------------------------------------------------


SPECTRO = [
    ("STFTSpectrogram", {"frame_length": 64, "fft_length": 64}, (2, 500, 1), 33),
    ("STFTSpectrogram", {"frame_length": 64, "expand_dims": True}, (2, 500, 2), 33),
    ("STFTSpectrogram", {"frame_length": 64, "data_format": "channels_first"},
     (2, 1, 500), 33),
    ("STFTSpectrogram", {"frame_length": 64, "data_format": "channels_first",
                         "expand_dims": True}, (2, 2, 500), 33),
    ("STFTSpectrogram", {"frame_length": 64, "mode": "stft"}, (2, 500, 1), 66),
    ("MelSpectrogram", {"fft_length": 128, "sequence_stride": 32, "num_mel_bins": 20},
     (2, 500), 20),
]


@pytest.mark.parametrize("name,config,shape,bins", SPECTRO)
def test_image_is_frequency_by_time_of_the_first_sample(name, config, shape, bins):
    layer = engine.deserialize({"module": "keras.layers", "class_name": name,
                                "config": config})
    x = np.random.default_rng(1).standard_normal(shape).astype("float32")
    out = np.asarray(layer(x))
    axes = spectrogram_axes(name, layer.get_config())
    img = spectrogram_image(out, axes)
    frames = out.shape[axes.time]
    assert img.shape == (bins, frames)
    # the first sample, first channel: equal to that sample run alone
    if name == "MelSpectrogram":
        first = x[:1]
    else:
        first = x[:1, :1] if config.get("data_format") == "channels_first" else x[:1, :, :1]
    alone = spectrogram_image(np.asarray(layer(first)), axes)
    np.testing.assert_allclose(img[:alone.shape[0]], alone, rtol=1e-5, atol=1e-5)
    assert is_spectrogram(name)


def test_draw_labels_time_frequency_and_the_colorbar():
    from matplotlib.figure import Figure

    fig = Figure()
    img = np.arange(12.0).reshape(3, 4)
    axes = spectrogram_axes("MelSpectrogram", {})
    art = draw_spectrogram(fig, img, axes)
    ax, cax = fig.axes
    assert ax.get_xlabel() == "time (frame)" and ax.get_ylabel() == "mel bin"
    assert cax.get_ylabel() == "dB"
    assert art.get_array().shape == (3, 4) and art.origin == "lower"
    assert art.get_clim() == (0.0, 11.0)
    assert spectrogram_axes("STFTSpectrogram", {"mode": "psd"}).value_label == \
        "power density"
    assert spectrogram_axes("MelSpectrogram", {"power_to_db": False}).value_label == "power"


def test_panel_draws_once_per_new_picture():
    import io

    from matplotlib.image import imread

    panel = SpectrogramPanel("out0", "STFTSpectrogram", {"frame_length": 64})
    out = np.random.default_rng(2).standard_normal((2, 30, 33)).astype("float32")
    assert panel.update(out, None, "<b>output</b>")
    png = bytes(panel.image.value)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    h, w, _ = imread(io.BytesIO(png)).shape
    assert (w, h) == (360, 250)
    assert not panel.update(out, None, "<b>output</b> again")  # same picture
    assert panel.renders == 1 and "again" in panel.caption.value
    out[0, 0, 0] += 1
    assert panel.update(out) and panel.renders == 2
    panel.configure("STFTSpectrogram", {"frame_length": 64, "data_format": "channels_first"})
    assert panel.update(np.zeros((1, 33, 30), "float32")) and panel.renders == 3


# -- samples --------------------------------------------------------------------------------


@pytest.mark.parametrize("config,shape", [
    ({"class_name": "StringLookup", "config": {"vocabulary": ["x", "y"]}}, (4, 6)),
    ({"class_name": "StringLookup", "config": {}}, (4, 6)),
    ({"class_name": "StringLookup", "config": {"vocabulary": ["x"], "invert": True}}, (4, 6)),
    ({"class_name": "IntegerLookup", "config": {"vocabulary": [3, 9],
                                                "output_mode": "count"}}, (4, 6)),
    ({"class_name": "TextVectorization", "config": {"vocabulary": ["the", "cat"]}}, (4, 1)),
])
def test_text_sample_runs_through_its_layer(config, shape):
    layer = engine.deserialize(config)
    x = text_sample(layer, shape, 0)
    assert x.shape == shape
    np.testing.assert_array_equal(x, text_sample(layer, shape, 0))  # seeded
    out = np.asarray(layer(x))
    if config["config"].get("vocabulary") and not config["config"].get("invert"):
        assert out.max() > (0 if config["class_name"] != "TextVectorization" else 1)
    assert text_sample(engine.deserialize({"class_name": "Dense", "config": {"units": 2}}),
                       shape, 0) is None


# -- in the editor (widget/sample.py and widget/editor.py hooks) ------------------------------


@pytest.mark.parametrize("config,shape", [
    ({"class_name": "StringLookup", "config": {"vocabulary": ["a", "b", "c"]}}, (16, 64)),
    ({"class_name": "IntegerLookup", "config": {"vocabulary": [1, 2, 3],
                                                "output_mode": "multi_hot"}}, (16, 64)),
    ({"class_name": "TextVectorization", "config": {"output_sequence_length": 4,
                                                    "vocabulary": ["the", "cat"]}}, (16, 1)),
    ({"class_name": "STFTSpectrogram", "config": {}}, (16, 4096, 1)),
    ({"class_name": "STFTSpectrogram", "config": {"data_format": "channels_first"}},
     (16, 1, 4096)),
    ({"class_name": "MelSpectrogram", "config": {}}, (16, 4096)),
])
def test_editor_finds_a_sample_for_text_and_audio_layers(config, shape):
    ed = widget.LayerEditor(config)
    assert ed.error is None
    assert np.shape(ed.sample) == shape
    assert ed.outputs and "out0" in ed.plot_bytes


def test_editor_shows_a_spectrogram_output_as_an_image():
    ed = widget.LayerEditor({"class_name": "STFTSpectrogram", "config": {}})
    assert isinstance(ed._panels["out0"], SpectrogramPanel)
    assert "layerlab-spectrogram" in ed._panels["out0"].image._dom_classes
    assert not isinstance(ed._panels["w0-real_kernel"], SpectrogramPanel)  # kernels: hist
    ed.set("class_name", "Dense")
    assert not isinstance(ed._panels["out0"], SpectrogramPanel)
    ed.undo()
    assert isinstance(ed._panels["out0"], SpectrogramPanel)
    ed.set("expand_dims", True)
    assert ed.error is None and ed.outputs[0].ndim == 4
    assert ed._panels["out0"].axes.freq == 2


def test_editor_takes_a_str_output_without_plotting_it():
    ed = widget.LayerEditor({"class_name": "StringLookup",
                             "config": {"vocabulary": ["a", "b"], "invert": True}})
    assert ed.error is None and ed.outputs[0].dtype.kind == "U"
    assert "out0" not in ed.plot_bytes


# -- the live count (the page counts while the user types; the kernel rebuilds on blur) -----

LIVE_CASES = [("a\nb\nc", "str"), ("a\nb\nc\n", "str"), ("a\n\nb", "str"), ("", "str"),
              ("\n", "str"), ("a\r\nb\r\n", "str"), (" 12\n\n-3\n1_000\n", "int"),
              ("4\nfour\n \n", "int"), ("\n".join(map(str, range(1234))), "int")]


def _run_live_count(cases) -> list[list[str]]:
    """Run the page's live count (LIVE_COUNT) in node with a minimal page: for each text,
    the count shown while typing (an input event) and after leaving the box (focusout)."""
    import json
    import shutil
    import subprocess

    from widget.vocabulary import LIVE_COUNT

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the page's live count runs in a browser test")
    script = (
        "const handlers={};global.window={};"
        "global.document={addEventListener:(k,f)=>{handlers[k]=f;}};"
        + LIVE_COUNT + ";" + LIVE_COUNT + ";"  # installed once even if run twice
        "const out=[];for(const [text,item] of " + json.dumps(cases) + "){"
        "const span={dataset:{item:item},textContent:''};"
        "const wrap={parentElement:{querySelector:(q)=>q==='.layerlab-vocabulary-count'?"
        "span:null}};"
        "const target={value:text,closest:(q)=>q==='.layerlab-vocabulary'?wrap:null};"
        "handlers.input({target});const typing=span.textContent;"
        "handlers.focusout({target});out.push([typing,span.textContent]);}"
        "console.log(JSON.stringify([Object.keys(handlers),out]));")
    res = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    keys, out = json.loads(res.stdout)
    assert sorted(keys) == ["focusout", "input"]
    return out


def test_the_page_counts_tokens_as_parse_tokens_does():
    from widget.vocabulary import PENDING

    seen = _run_live_count(LIVE_CASES)
    for (text, item), (typing, left) in zip(LIVE_CASES, seen):
        want = count_text(parse_tokens(text, item))
        assert typing == want + PENDING, (text, typing)
        assert left == want, (text, left)


def test_typing_does_not_rebuild_and_the_count_carries_the_live_script():
    """The text area commits on blur (one rebuild an edit); its count carries the page's
    live count, which finds the box and the count by their classes."""
    ed = _editor({"class_name": "StringLookup", "config": {"vocabulary": ["a", "b", "c"]}})
    box = _vocab(ed)
    assert box.text.continuous_update is False
    assert "layerlab-vocabulary" in box.text._dom_classes
    from widget.vocabulary import LIVE_COUNT

    html = box.count.value
    assert "class='layerlab-vocabulary-count' data-item='str'" in html and LIVE_COUNT in html
    assert ">3 tokens<" in html
    box.text.value = "a\nb\nc\nd"
    assert ">4 tokens<" in box.count.value and LIVE_COUNT in box.count.value
    ed2 = _editor({"class_name": "IntegerLookup", "config": {"vocabulary": [1, 2]}},
                  np.array([[1, 2, 7]]))
    assert "data-item='int'" in _vocab(ed2).count.value


def test_a_new_token_appears_in_the_sample_and_the_output():
    """The sample of a lookup is drawn from its vocabulary: a token added to it shows in the
    output (its id), and an edit the engine refuses leaves sample and output alone."""
    ed = widget.LayerEditor({"class_name": "StringLookup",
                             "config": {"vocabulary": ["the", "cat", "sat", "on", "mat"]}},
                            input_shape=(None, 8))
    box = _vocab(ed)
    before = ed.outputs[0].copy()
    assert before.max() == 5 and "dog" not in ed.sample
    box.text.value = "the\ncat\nsat\non\nmat\ndog"
    assert "dog" in ed.sample and (ed.outputs[0] == 6).any()
    assert ed.outputs[0].tolist() == ed.layer(ed.sample).tolist()
    good_out, good_sample = ed.outputs[0].copy(), ed.sample.copy()
    box.text.value = "the\ncat\nsat\non\nmat\ndog\nthe"
    assert "repeated tokens ['the']" in ed.errors["vocabulary"]
    assert np.array_equal(ed.outputs[0], good_out) and np.array_equal(ed.sample, good_sample)
    assert "7 tokens" in box.count.value


def test_the_derived_vocabulary_size_is_not_an_editable_field():
    """Keras writes vocabulary_size into the config; it follows the vocabulary, so the form
    does not offer it (the exported config still has it)."""
    ed = widget.LayerEditor({"class_name": "StringLookup",
                      "config": {"vocabulary": ["a", "b", "c"]}})
    assert "vocabulary_size" not in ed.controls and "frozen_vocabulary_size" not in ed.controls
    ed.set("vocabulary", ["a", "b", "c", "d"])
    assert ed.config["config"]["vocabulary_size"] == 5
