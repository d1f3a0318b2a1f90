"""The quickstart notebook in a real browser: JupyterLab, and Voila at 420 px.

A user opens the notebook, runs it, changes ``units`` and the kernel initializer through
the page; the plots' pixels change, the sub-form follows the initializer class, and nothing
piles up. In Voila the page is 420 px wide: no control squeezed, no label cut.
"""

from __future__ import annotations

import io
import json
import os
import urllib.request

import pytest

from .conftest import NOTEBOOK

pytestmark = pytest.mark.browser

KERNEL_PLOT = "img.layerlab-plot-w0-kernel"
OUTPUT_PLOT = "img.layerlab-plot-out0"
TOUR_DONE = "keras.layers.Dense(units=128"


def pixel_change(a: bytes, b: bytes) -> float:
    """Share of pixels that differ between two PNG screenshots."""
    from PIL import Image, ImageChops

    ia = Image.open(io.BytesIO(a)).convert("RGB")
    ib = Image.open(io.BytesIO(b)).convert("RGB").resize(ia.size)
    diff = ImageChops.difference(ia, ib).convert("L").point(lambda v: 255 if v > 16 else 0)
    return sum(diff.histogram()[255:]) / (ia.size[0] * ia.size[1])


def shot(page, selector: str) -> bytes:
    for _ in range(5):  # the element may be replaced while we take it
        try:
            return page.locator(selector).first.screenshot(timeout=5000)
        except Exception:  # noqa: BLE001
            page.wait_for_timeout(200)
    return page.locator(selector).first.screenshot()


def wait_new_src(page, selector: str, old: str | None, timeout=20000) -> None:
    page.wait_for_function(
        "([sel, old]) => { const e = document.querySelector(sel);"
        " return e && e.getAttribute('src') && e.getAttribute('src') !== old; }",
        arg=[selector, old], timeout=timeout)


def src(page, selector: str) -> str | None:
    return page.locator(selector).first.get_attribute("src")


def keep_screenshot(page, name: str) -> None:
    """With LAYERLAB_SCREENSHOTS=dir, keep full-page screenshots to look at."""
    where = os.environ.get("LAYERLAB_SCREENSHOTS")
    if where:
        page.screenshot(path=os.path.join(where, f"{name}.png"), full_page=True)


def change_units_and_initializer(page) -> None:
    """Type a new ``units`` and pick another initializer class, checking the pixels."""
    assert page.locator(".layerlab-editor").count() == 1
    assert page.locator("img.layerlab-plot").count() == 3  # kernel, bias, output
    k0, o0, s0 = shot(page, KERNEL_PLOT), shot(page, OUTPUT_PLOT), src(page, KERNEL_PLOT)
    box = page.locator(".layerlab-field-units input").first
    box.fill("200")
    box.press("Enter")
    wait_new_src(page, KERNEL_PLOT, s0)
    page.wait_for_timeout(300)
    k1, o1 = shot(page, KERNEL_PLOT), shot(page, OUTPUT_PLOT)
    assert pixel_change(k0, k1) > 0.005 or pixel_change(o0, o1) > 0.005
    assert "(64, 200)" in page.locator(".layerlab-plots").inner_text()

    s1 = src(page, KERNEL_PLOT)
    page.locator(".layerlab-field-kernel_initializer .layerlab-class select").first \
        .select_option("RandomNormal")
    try:
        page.locator(".layerlab-field-kernel_initializer-config-stddev input").first.wait_for(
            timeout=20000)
    except Exception:
        page.screenshot(path="/tmp/layerlab-fail.png", full_page=True)
        open("/tmp/layerlab-fail.html", "w").write(page.content())
        raise
    wait_new_src(page, KERNEL_PLOT, s1)
    page.wait_for_timeout(300)
    k2 = shot(page, KERNEL_PLOT)
    assert pixel_change(k1, k2) > 0.02  # a bell curve where the box of a uniform was
    assert "normal(mean 0, std 0.05)" in page.locator(".layerlab-plots").inner_text()
    # the VarianceScaling fields from the tour are gone, nothing piled up
    assert page.locator(".layerlab-field-kernel_initializer-config-scale").count() == 0
    assert page.locator(".layerlab-editor").count() == 1
    assert page.locator("img.layerlab-plot").count() == 3
    assert page.locator(".layerlab-field-error:visible").count() == 0


def run_all(page, tries: int = 3) -> None:
    """Run > Run All Cells; again if no cell started (a kernel that had just come up can
    drop the first requests)."""
    started = ("() => [...document.querySelectorAll('.jp-InputPrompt')]"
               ".some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))")
    for attempt in range(tries):
        dialog = page.locator(".jp-Dialog")
        if dialog.count():  # a dialog would swallow the clicks
            said = dialog.first.inner_text()
            if "kernel" not in said.lower():
                raise AssertionError(f"JupyterLab shows a dialog: {said}")
            # a loaded machine: Lab asks for a kernel although the session has one
            dialog.locator(".jp-Dialog-button.jp-mod-accept").first.click()
            page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').first \
                .wait_for(timeout=60000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.locator('li.lm-Menu-item[data-command="runmenu:run-all"]').click()
        try:
            page.wait_for_function(started, timeout=15000)
            return
        except Exception:
            if attempt == tries - 1:
                raise
            page.keyboard.press("Escape")


def test_jupyterlab_run_all_and_edit_through_the_page(lab, browser):
    base, token = lab
    name = NOTEBOOK.name
    body = json.dumps({"path": name, "name": name, "type": "notebook",
                       "kernel": {"name": "python3"}}).encode()
    req = urllib.request.Request(f"{base}/api/sessions?token={token}", data=body,
                                 method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).close()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{base}/lab/tree/{name}?token={token}&reset")  # only this notebook open
        page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(
            timeout=60000)
        run_all(page)
        try:
            page.get_by_text(TOUR_DONE).first.wait_for(timeout=60000)
        except Exception:
            page.screenshot(path="/tmp/layerlab-lab-fail.png", full_page=True)
            raise
        page.locator(KERNEL_PLOT).wait_for(timeout=30000)
        assert "Traceback" not in page.locator(".jp-Notebook").inner_text()
        assert page.locator(".layerlab-field-units input").first.input_value() == "128"
        page.locator(".layerlab-field-units").first.scroll_into_view_if_needed()
        keep_screenshot(page, "lab-before")
        change_units_and_initializer(page)
        keep_screenshot(page, "lab-after")
    finally:
        page.close()


def test_voila_at_420_px(voila, browser):
    page = browser.new_page(viewport={"width": 420, "height": 900})
    try:
        page.goto(voila, timeout=90000)
        page.locator(KERNEL_PLOT).wait_for(timeout=90000)
        page.wait_for_function(
            "() => { const e = document.querySelector('.layerlab-field-units input');"
            " return e && e.value === '128'; }", timeout=30000)
        assert "Traceback" not in page.content()
        problems = page.evaluate("""() => {
            const out = [];
            const vis = e => e.offsetParent !== null;
            const ed = document.querySelector('.layerlab-editor').getBoundingClientRect();
            if (ed.right > 421) out.push('editor wider than the page: ' + ed.right);
            for (const l of document.querySelectorAll('.layerlab-field .widget-label')) {
                if (vis(l) && l.scrollWidth > l.clientWidth + 1)
                    out.push('label cut: ' + l.textContent);
            }
            const sel = '.layerlab-field input[type=number], .layerlab-field input[type=text],'
                      + ' .layerlab-field select, .layerlab-editor button';
            for (const c of document.querySelectorAll(sel)) {
                const r = c.getBoundingClientRect();
                if (vis(c) && (r.width < 40 || r.right > 421))
                    out.push('squeezed: ' + c.outerHTML.slice(0, 80) + ' ' + r.width);
            }
            for (const i of document.querySelectorAll('img.layerlab-plot')) {
                const r = i.getBoundingClientRect();
                if (r.width < 150 || r.right > 421) out.push('plot ' + r.width + ' ' + r.right);
            }
            return out; }""")
        keep_screenshot(page, "voila-420-before")
        assert problems == [], problems
        captions_wrap_between_parts(page)
        change_units_and_initializer(page)
        keep_screenshot(page, "voila-420-after")
        captions_wrap_between_parts(page)
        pick_a_class_by_family_then_search(page)
        keep_screenshot(page, "voila-420-picker")
    finally:
        page.close()


CAPTION_PARTS = """() => Array.from(document.querySelectorAll('.layerlab-caption .part'))
    .filter(p => p.offsetParent !== null).map(p => {
        const r = p.getBoundingClientRect();
        const line = parseFloat(getComputedStyle(p).lineHeight) || 18;
        return {text: p.innerText, cut: p.scrollWidth > p.clientWidth + 1,
                lines: Math.round(r.height / line), right: r.right}; })"""


def captions_wrap_between_parts(page) -> None:
    """Issue 15.6: each "label value" part of a plot caption stays on one line and whole
    (a caption wraps only between parts), and at 420 px one caption does wrap."""
    parts = page.evaluate(CAPTION_PARTS)
    assert len(parts) >= 5, parts  # kernel: name, init, theory; output: name, input
    bad = [p for p in parts if p["cut"] or p["lines"] != 1 or p["right"] > 421]
    assert bad == [], bad
    tops = page.evaluate("""() => Array.from(document.querySelectorAll('.layerlab-caption'))
        .map(c => new Set(Array.from(c.querySelectorAll('.part'))
                          .map(p => Math.round(p.getBoundingClientRect().top))).size)""")
    assert max(tops) >= 2, tops  # the kernel's caption needs two lines at 420 px


def options_of(page, selector: str) -> list[str]:
    return page.evaluate("(sel) => Array.from(document.querySelectorAll(sel + ' option'))"
                         ".map(o => o.textContent.replace(/\\u00a0/g, ' '))", selector)


def pick_a_class_by_family_then_search(page) -> None:
    """Issue 15.8: the family list, then that family's classes; typing filters across
    families and the family list counts the matches."""
    fams = options_of(page, ".layerlab-class-family select")
    assert fams[:3] == ["all families (145)", "Core (8)", "Convolution (12)"] or \
        (fams[0].startswith("all families") and "Convolution (12)" in fams), fams
    page.locator(".layerlab-class-family select").first.select_option(label="Convolution (12)")
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.layerlab-class-select option'))"
        ".some(o => o.textContent === 'Conv2D')", timeout=20000)
    classes = options_of(page, ".layerlab-class-select select")
    assert classes[0] == "Dense (current)" and "Conv2D" in classes and "LSTM" not in classes
    page.locator(".layerlab-class-select select").first.select_option(label="Conv2D")
    page.locator(".layerlab-field-filters input").first.wait_for(timeout=30000)
    search = page.locator(".layerlab-class-search input").first
    search.fill("pool")
    page.wait_for_function(
        "() => { const s = document.querySelector('.layerlab-class-family select');"
        " return s && s.selectedOptions.length > 0 &&"
        " s.selectedOptions[0].textContent.startsWith('all'); }", timeout=20000)
    fams = options_of(page, ".layerlab-class-family select")
    assert fams == ["all families (18)", "Pooling (18)"], fams
    classes = options_of(page, ".layerlab-class-select select")
    assert classes[0] == "Conv2D (current)" and all("Pooling" in c for c in classes[1:])


BUSY_NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
               "source": "from widget import LayerEditor\n"
                         "ed = LayerEditor({'class_name': 'Dense', 'config': {'units': 4096}},"
                         " input_shape=(None, 4096))\ned"}],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                "name": "python3"}},
    "nbformat": 4, "nbformat_minor": 5}

BUSY_STATE = """() => { const ed = document.querySelector('.layerlab-editor');
    const img = ed.querySelector('.layerlab-plots img');
    const st = ed.querySelector('.layerlab-status');
    return {busy: ed.classList.contains('layerlab-busy'),
            opacity: parseFloat(getComputedStyle(img).opacity),
            status: getComputedStyle(st).visibility, text: st.innerText}; }"""


def test_a_slow_rebuild_shows_a_busy_editor_in_jupyterlab(lab, browser):
    """Issue 15.7: Dense 4096 -> 8192 (seconds of work): while the kernel rebuilds, the
    editor says so and the stale plots are greyed; after it, neither."""
    base, token = lab
    name = "busy.ipynb"
    content = json.dumps({"type": "notebook", "format": "json",
                          "content": BUSY_NOTEBOOK}).encode()
    req = urllib.request.Request(f"{base}/api/contents/{name}?token={token}", data=content,
                                 method="PUT", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).close()
    body = json.dumps({"path": name, "name": name, "type": "notebook",
                       "kernel": {"name": "python3"}}).encode()
    req = urllib.request.Request(f"{base}/api/sessions?token={token}", data=body,
                                 method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).close()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{base}/lab/tree/{name}?token={token}&reset")
        page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').first.wait_for(
            timeout=60000)
        run_all(page)
        page.locator(KERNEL_PLOT).wait_for(timeout=120000)
        page.wait_for_function(
            "() => { const e = document.querySelector('.layerlab-field-units input');"
            " return e && e.value === '4096'; }", timeout=60000)
        page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').first.wait_for(
            timeout=60000)
        idle = page.evaluate(BUSY_STATE)
        assert not idle["busy"] and idle["opacity"] == 1 and idle["status"] == "hidden"
        old = src(page, KERNEL_PLOT)
        box = page.locator(".layerlab-field-units input").first
        box.fill("8192")
        box.press("Enter")
        page.wait_for_selector(".layerlab-editor.layerlab-busy", timeout=20000)
        page.wait_for_timeout(500)  # the grey comes after 0.25 s (quick edits do not flicker)
        busy = page.evaluate(BUSY_STATE)
        keep_screenshot(page, "lab-busy")
        assert busy["busy"] and busy["opacity"] < 0.5, busy
        assert busy["status"] == "visible" and "rebuilding" in busy["text"], busy
        page.wait_for_function(
            "([old]) => { const e = document.querySelector('img.layerlab-plot-w0-kernel');"
            " const ed = document.querySelector('.layerlab-editor');"
            " return e && e.getAttribute('src') !== old"
            " && !ed.classList.contains('layerlab-busy'); }", arg=[old], timeout=120000)
        page.wait_for_timeout(300)
        done = page.evaluate(BUSY_STATE)
        assert done["opacity"] == 1 and done["status"] == "hidden", done
        assert "(4096, 8192)" in page.locator(".layerlab-plots").inner_text()
    finally:
        page.close()
