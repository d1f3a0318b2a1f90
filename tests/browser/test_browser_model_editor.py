"""The ModelEditor in JupyterLab in Chromium: open a saved model, click a layer row, change
a field in the layer's form, see the depth picture change, pin, export."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from .conftest import ROOT
from .test_browser_quickstart import keep_screenshot, pixel_change, run_all, shot, src

pytestmark = pytest.mark.browser

NAME = "model_editor.ipynb"
PICTURE = "img.layerlab-depth-picture"
MODEL = ROOT / "notebooks" / "data" / "planted_resnet.keras"


def _notebook() -> dict:
    source = (f"from widget import ModelEditor\n"
              f"me = ModelEditor({str(MODEL)!r})\n"
              f"me")
    return {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {},
                       "outputs": [], "source": source}],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                        "name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5}


def _request(base: str, token: str, method: str, path: str, body: dict) -> None:
    req = urllib.request.Request(f"{base}{path}?token={token}", data=json.dumps(body).encode(),
                                 method=method, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).close()


def test_jupyterlab_pick_a_layer_edit_it_and_see_the_picture_change(lab, browser):
    base, token = lab
    _request(base, token, "PUT", f"/api/contents/{NAME}",
             {"type": "notebook", "format": "json", "content": _notebook()})
    _request(base, token, "POST", "/api/sessions",
             {"path": NAME, "name": NAME, "type": "notebook", "kernel": {"name": "python3"}})
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url
               else route.abort())
    try:
        page.goto(f"{base}/lab/tree/{NAME}?token={token}")
        page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(
            timeout=60000)
        run_all(page)
        page.locator(PICTURE).wait_for(timeout=90000)
        assert "Traceback" not in page.locator(".jp-Notebook").inner_text()
        summary = page.locator(".layerlab-flag-summary").inner_text()
        assert "s2b2_conv1" in summary and "s3b1_conv2_bn" in summary
        keep_screenshot(page, "model-editor-opened")

        # click the row of the layer with the planted kernel
        option = page.locator(".layerlab-layer-table option", has_text=" s2b2_conv1 ").first
        option.click()
        field = page.locator(".layerlab-model-layer-editor .layerlab-field-filters input").first
        field.wait_for(timeout=60000)
        assert field.input_value() == "16"
        page.wait_for_timeout(1500)  # the picture with the selection drawn arrives after
        page.locator(PICTURE).scroll_into_view_if_needed()
        before, s0 = shot(page, PICTURE), src(page, PICTURE)

        t0 = time.monotonic()
        field.fill("24")
        field.press("Enter")
        page.wait_for_function(
            "([sel, old]) => { const e = document.querySelector(sel);"
            " return e && e.getAttribute('src') !== old &&"
            " document.querySelector('.layerlab-model-status').textContent"
            ".includes('re-initialized'); }", arg=[PICTURE, s0], timeout=60000)
        elapsed = time.monotonic() - t0
        page.wait_for_timeout(300)
        after = shot(page, PICTURE)
        assert pixel_change(before, after) > 0.002
        status = page.locator(".layerlab-model-status").inner_text()
        assert "s2b2_conv1" in status and "s2b2_conv2" in status  # its kernel shape changed
        assert page.locator(PICTURE).count() == 1  # replaced, not appended
        # the texts that depend on the state are current: the planted kernel is gone
        assert "s2b2_conv1" not in page.locator(".layerlab-flag-summary").inner_text()
        row = page.locator(".layerlab-layer-table option", has_text=" s2b2_conv1 ").first
        assert "0/24" in row.inner_text()
        keep_screenshot(page, "model-editor-edited")
        print(f"edit -> new picture in the page: {elapsed:.2f} s")

        s1 = src(page, PICTURE)
        page.locator(".layerlab-model-pin").first.click()
        page.wait_for_function("([sel, old]) => document.querySelector(sel)"
                               ".getAttribute('src') !== old", arg=[PICTURE, s1],
                               timeout=60000)
        assert "baseline pinned" in page.locator(".jp-Notebook").inner_text()
        page.locator(".layerlab-model-export-button").first.click()
        box = page.locator(".layerlab-model-export textarea").first
        page.wait_for_function("() => { const e = document.querySelector("
                               "'.layerlab-model-export textarea');"
                               " return e && e.value.includes('\"filters\": 24'); }",
                               timeout=30000)
        assert '"planted_resnet"' in box.input_value()
        keep_screenshot(page, "model-editor-pinned-exported")
        widths = page.evaluate("""() => { const e = document.querySelector(
            '.layerlab-model-editor'); const out = [e.scrollWidth, e.clientWidth];
            for (const c of e.querySelectorAll('*')) {
                const r = c.getBoundingClientRect(), p = e.getBoundingClientRect();
                if (r.right > p.right + 1 && c.offsetParent !== null)
                    out.push(c.className.toString().slice(0, 60) + ' ' + (r.right - p.right));
            }
            return out; }""")
        assert widths[0] <= widths[1] + 1, widths
    finally:
        page.close()
