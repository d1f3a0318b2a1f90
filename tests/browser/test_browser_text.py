"""Issue 13's editor parts in a real browser: JupyterLab (1400 px: a 968 px column) and
Voila at 968 and 420 px; and issue 15.7's busy state in Voila.

A StringLookup with an inline vocabulary: typing a token updates the "N tokens" count at
once (counted in the page) without rebuilding the layer; leaving the box rebuilds it and the
output plot changes; a repeated token shows the engine's error beside the vocabulary field
and the last good layer (its plot) stays. A MelSpectrogram: its output is an image; a new
``num_mel_bins`` draws a new image. Nothing scrolls sideways. With ``LAYERLAB_SCREENSHOTS=dir``
each state is kept as a PNG to look at.
"""

from __future__ import annotations

import pytest

from .conftest import serve_voila
from .pages import (
    BUSY_SOURCE,
    busy_while_rebuilding,
    keep_screenshot,
    notebook,
    pixel_change,
    shot,
    src,
    wait_new_src,
)
from .test_browser_widths import no_overflow

pytestmark = pytest.mark.browser

VOCAB = ["the", "cat", "sat", "on", "mat"]
TEXT_SOURCE = (
    "from widget import LayerEditor\n"
    "words = LayerEditor({'class_name': 'StringLookup',\n"
    f"                     'config': {{'vocabulary': {VOCAB!r}}}}}, input_shape=(None, 8))\n"
    "words.add_class('layerlab-test-words')\n"
    "audio = LayerEditor({'class_name': 'MelSpectrogram',\n"
    "                     'config': {'num_mel_bins': 32, 'sampling_rate': 8000}},\n"
    "                    input_shape=(None, 4000))\n"
    "audio.add_class('layerlab-test-audio')\n"
    "from ipywidgets import VBox\n"
    "VBox([words, audio])")
WORDS = ".layerlab-test-words"
AUDIO = ".layerlab-test-audio"
WORDS_PLOT = f"{WORDS} img.layerlab-plot-out0"
MEL_PLOT = f"{AUDIO} img.layerlab-spectrogram"
VOCAB_BOX = f"{WORDS} .layerlab-field-vocabulary"


@pytest.fixture(scope="module")
def voila_text(tmp_path_factory):
    yield from serve_voila(tmp_path_factory.mktemp("text"), source=TEXT_SOURCE, name="text")


@pytest.fixture(scope="module")
def voila_busy(tmp_path_factory):
    yield from serve_voila(tmp_path_factory.mktemp("busy"), source=BUSY_SOURCE, name="busy")


def count_text(page) -> str:
    return page.locator(f"{VOCAB_BOX} .layerlab-vocabulary-count").first.inner_text()


def vocabulary_edits(page, name: str) -> None:
    """Add a token (live count while typing, one rebuild on leaving the box), then a
    repeated one (the error beside the field, the last good plot kept)."""
    area = page.locator(f"{VOCAB_BOX} textarea").first
    area.wait_for(timeout=60000)
    assert area.input_value() == "\n".join(VOCAB)
    assert count_text(page) == "5 tokens"
    area.scroll_into_view_if_needed()
    p0, s0 = shot(page, WORDS_PLOT), src(page, WORDS_PLOT)
    area.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\ndog")
    # the count follows the keystrokes at once, and nothing is rebuilt yet
    page.wait_for_function(
        "(sel) => { const s = document.querySelector(sel);"
        " return s && s.textContent.startsWith('6 tokens'); }",
        arg=f"{VOCAB_BOX} .layerlab-vocabulary-count", timeout=5000)
    assert count_text(page) == "6 tokens (click outside to apply)"
    keep_screenshot(page, f"{name}-vocab-typing")
    page.wait_for_timeout(1200)
    assert src(page, WORDS_PLOT) == s0  # no rebuild on a keystroke
    page.keyboard.press("Tab")  # leave the box: the kernel gets the text and rebuilds
    wait_new_src(page, WORDS_PLOT, s0, timeout=30000)
    page.wait_for_timeout(300)
    assert count_text(page) == "6 tokens"
    assert page.locator(f"{VOCAB_BOX} .layerlab-field-error:visible").count() == 0
    p1, s1 = shot(page, WORDS_PLOT), src(page, WORDS_PLOT)
    assert pixel_change(p0, p1) > 0.005  # six ids (and their sample) instead of five
    keep_screenshot(page, f"{name}-vocab-added")

    area.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\nthe")
    page.keyboard.press("Tab")
    err = page.locator(f"{VOCAB_BOX} .layerlab-field-error").first
    err.wait_for(state="visible", timeout=30000)
    assert "repeated tokens ['the']" in err.inner_text()
    assert page.locator(f"{WORDS} .layerlab-field-error:visible").count() == 1
    assert count_text(page) == "7 tokens"
    assert area.input_value().endswith("dog\nthe")  # what the user typed stays to fix
    page.wait_for_timeout(800)
    assert src(page, WORDS_PLOT) == s1  # the last good layer's plot is kept
    err.scroll_into_view_if_needed()
    keep_screenshot(page, f"{name}-vocab-repeated")
    box = err.bounding_box()
    field = page.locator(VOCAB_BOX).first.bounding_box()
    assert field["y"] <= box["y"] <= field["y"] + field["height"]  # beside its own field


def mel_bins_change(page, name: str) -> None:
    """The mel output is an image; 32 -> 12 bins draws a new one."""
    img = page.locator(MEL_PLOT).first
    img.wait_for(timeout=60000)
    img.scroll_into_view_if_needed()
    assert page.locator(f"{AUDIO} img.layerlab-plot").count() == 1  # the output only
    assert "(16, 32, 8)" in page.locator(f"{AUDIO} .layerlab-plots").inner_text()
    size = img.bounding_box()
    assert size["width"] >= 300, size  # large enough to read its labels
    m0, s0 = shot(page, MEL_PLOT), src(page, MEL_PLOT)
    keep_screenshot(page, f"{name}-mel-32")
    box = page.locator(f"{AUDIO} .layerlab-field-num_mel_bins input").first
    box.scroll_into_view_if_needed()
    box.fill("12")
    box.press("Enter")
    wait_new_src(page, MEL_PLOT, s0, timeout=30000)
    page.wait_for_timeout(300)
    assert "(16, 12, 8)" in page.locator(f"{AUDIO} .layerlab-plots").inner_text()
    assert pixel_change(m0, shot(page, MEL_PLOT)) > 0.05
    assert page.locator(f"{AUDIO} .layerlab-field-error:visible").count() == 0
    img.scroll_into_view_if_needed()
    keep_screenshot(page, f"{name}-mel-12")


def test_vocabulary_and_spectrogram_in_jupyterlab(lab_page):
    page = lab_page("text.ipynb", notebook(TEXT_SOURCE))
    page.locator(MEL_PLOT).first.wait_for(timeout=120000)
    assert "Traceback" not in page.locator(".jp-Notebook").inner_text()
    no_overflow(page, "lab at 1400 px")
    vocabulary_edits(page, "lab-text")
    mel_bins_change(page, "lab-text")
    no_overflow(page, "lab at 1400 px after the edits")


@pytest.mark.parametrize("width", [968, 420])
def test_vocabulary_and_spectrogram_in_voila(voila_text, voila_page, width):
    page = voila_page(voila_text, width)
    page.locator(MEL_PLOT).first.wait_for(timeout=120000)
    assert "Traceback" not in page.content()
    page.locator(WORDS).first.scroll_into_view_if_needed()
    keep_screenshot(page, f"voila-text-{width}")
    no_overflow(page, f"voila at {width} px")
    vocabulary_edits(page, f"voila-text-{width}")
    mel_bins_change(page, f"voila-text-{width}")
    no_overflow(page, f"voila at {width} px after the edits")


def test_a_slow_rebuild_shows_a_busy_editor_in_voila(voila_busy, voila_page):
    """Issue 15.7 in Voila: Dense 4096 -> 8192: while the kernel rebuilds, the editor says
    so and the stale plots are greyed; after it, neither."""
    page = voila_page(voila_busy, 968)
    busy_while_rebuilding(page, "voila", 4096, 8192, timeout=180000)
