"""What the browser tests do in a page, shared: open a notebook in JupyterLab (create its
session first, run all) or in Voila (offline, at a width), screenshots and their pixel
difference, waiting for a plot to be redrawn, sideways scrolling, the busy editor.

The fixtures that hand out such pages (``lab_page``, ``voila_page``) and the servers live in
``conftest.py``; the functions here take a Playwright page.
"""

from __future__ import annotations

import io
import json
import os
import urllib.request

IDLE = '.jp-Notebook-ExecutionIndicator[data-status="idle"]'
KERNEL_PLOT = "img.layerlab-plot-w0-kernel"


def notebook(source: str) -> dict:
    """A notebook of one code cell on the python3 kernel."""
    return {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {},
                       "outputs": [], "source": source}],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                        "name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5}


def lab_request(lab, method: str, path: str, body: dict) -> None:
    """One JSON request to the Lab server's REST API (``path`` like ``/api/sessions``)."""
    base, token = lab
    req = urllib.request.Request(f"{base}{path}?token={token}", data=json.dumps(body).encode(),
                                 method=method, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).close()


def offline(page) -> None:
    """Abort every request that is not to 127.0.0.1 (offline, a CDN would only wait)."""
    page.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url
               else route.abort())


def open_lab(lab, browser, name: str, content: dict | None = None, width: int = 1400,
             height: int = 1000, run: bool = True):
    """Open the notebook ``name`` (written first when ``content`` is given) in JupyterLab on a
    fresh kernel, alone, and run all its cells: the page.

    The session is created over REST before the page opens (a kernel started by the page
    raced the first run about one time in four); readiness is read from the page."""
    if content is not None:
        lab_request(lab, "PUT", f"/api/contents/{name}",
                    {"type": "notebook", "format": "json", "content": content})
    lab_request(lab, "POST", "/api/sessions",
                {"path": name, "name": name, "type": "notebook", "kernel": {"name": "python3"}})
    base, token = lab
    page = browser.new_page(viewport={"width": width, "height": height})
    offline(page)
    page.goto(f"{base}/lab/tree/{name}?token={token}&reset")  # only this notebook open
    page.locator(IDLE).first.wait_for(timeout=60000)
    if run:
        run_all(page)
    return page


def open_voila(url: str, browser, width: int, height: int = 1000, **goto):
    """Voila's page at ``url`` in a window ``width`` px wide, offline: the page (Voila runs
    the notebook while it loads; wait on what the test needs)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    offline(page)
    page.goto(url, **{"timeout": 120000, **goto})
    return page


def answer_kernel_dialog(page) -> str:
    """Accept JupyterLab's kernel dialog (on a loaded machine Lab may ask for a kernel
    although the session has one, or say a kernel restarted); any other dialog fails the
    test, saying what it shows. Returns the dialog's text ('' when there was none)."""
    dialog = page.locator(".jp-Dialog")
    if not dialog.count():
        return ""
    said = " ".join(dialog.first.inner_text().split())
    if "kernel" not in said.lower():
        raise AssertionError(f"JupyterLab shows a dialog: {said}")
    dialog.locator(".jp-Dialog-button.jp-mod-accept").first.click()
    page.locator(IDLE).first.wait_for(timeout=60000)
    return said


def run_all(page, tries: int = 3, dialogs: int = 6) -> None:
    """Run > Run All Cells; again if no cell started (a kernel that had just come up can
    drop the first requests). Kernel dialogs met on the way are answered (up to
    ``dialogs`` of them) without using up a try."""
    started = ("() => [...document.querySelectorAll('.jp-InputPrompt')]"
               ".some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))")
    seen: list[str] = []
    attempt = 0
    while attempt < tries:
        said = answer_kernel_dialog(page)
        if said:
            seen.append(said)
        try:
            page.get_by_role("menuitem", name="Run", exact=True).click(timeout=10000)
        except Exception as e:
            if not page.locator(".jp-Dialog").count() or len(seen) >= dialogs:
                keep_screenshot(page, "run-all-failed")
                raise AssertionError(f"could not open the Run menu; dialogs met: {seen}") from e
            continue  # a dialog came up meanwhile: answered on the next turn
        page.locator('li.lm-Menu-item[data-command="runmenu:run-all"]').click()
        try:
            page.wait_for_function(started, timeout=15000)
            return
        except Exception:
            attempt += 1
            if attempt == tries:
                keep_screenshot(page, "run-all-failed")
                raise AssertionError(f"Run All did not start in {tries} tries; dialogs "
                                     f"met: {seen}") from None
            page.keyboard.press("Escape")


def left_sidebar(page, open_: bool) -> None:
    """Open or collapse JupyterLab's left sidebar (a user on a narrow screen closes it)."""
    tab = page.locator(".jp-SideBar.lm-TabBar.jp-mod-left .lm-TabBar-tab").first
    is_open = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").count()
    if bool(is_open) != open_:
        tab.click()
        page.wait_for_timeout(400)


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


def src(page, selector: str) -> str | None:
    return page.locator(selector).first.get_attribute("src")


def wait_new_src(page, selector: str, old: str | None, timeout=20000) -> None:
    page.wait_for_function(
        "([sel, old]) => { const e = document.querySelector(sel);"
        " return e && e.getAttribute('src') && e.getAttribute('src') !== old; }",
        arg=[selector, old], timeout=timeout)


def keep_screenshot(page, name: str) -> None:
    """With LAYERLAB_SCREENSHOTS=dir, keep full-page screenshots to look at."""
    where = os.environ.get("LAYERLAB_SCREENSHOTS")
    if where:
        page.screenshot(path=os.path.join(where, f"{name}.png"), full_page=True)


def overflow_script(editor_checks: str) -> str:
    """A page function listing what scrolls sideways: the page, Lab's notebook panels and
    output areas, then ``editor_checks`` (JavaScript pushing more problems onto ``out``,
    with ``wide(element, what)`` at hand)."""
    return """() => {
    const out = [];
    const wide = (e, what) => {
        if (e && e.scrollWidth > e.clientWidth + 1)
            out.push(what + ' scrolls sideways: ' + e.scrollWidth + ' > ' + e.clientWidth);
    };
    wide(document.scrollingElement, 'page');
    for (const s of document.querySelectorAll('.jp-WindowedPanel-outer, .jp-Notebook,'
                                              + ' .jp-OutputArea-output'))
        wide(s, s.className.split(' ')[0]);
""" + editor_checks + """
    return out; }"""


def no_overflow(page, what: str, script: str) -> None:
    """Assert that ``script`` (from ``overflow_script``) finds nothing, letting a page that
    is still reflowing after a resize (a loaded machine) settle first."""
    problems = page.evaluate(script)
    for _ in range(4):
        if not problems:
            return
        page.wait_for_timeout(700)
        problems = page.evaluate(script)
    assert problems == [], f"{what}: {problems}"


#: an editor whose rebuild takes seconds when its units go from 4096 to 8192
BUSY_SOURCE = ("from widget import LayerEditor\n"
               "ed = LayerEditor({'class_name': 'Dense', 'config': {'units': 4096}},"
               " input_shape=(None, 4096))\ned")

BUSY_STATE = """() => { const ed = document.querySelector('.layerlab-editor');
    const img = ed.querySelector('.layerlab-plots img');
    const st = ed.querySelector('.layerlab-status');
    return {busy: ed.classList.contains('layerlab-busy'),
            opacity: parseFloat(getComputedStyle(img).opacity),
            status: getComputedStyle(st).visibility, text: st.innerText}; }"""


def busy_while_rebuilding(page, where: str, before: int, after: int, timeout: int) -> None:
    """Issue 15.7, on an editor of a Dense(``before``) on ``before`` inputs: type ``after``
    units (seconds of work): while the kernel rebuilds, the editor says so and the stale
    plots are greyed; after it, neither, and the kernel is (before, after)."""
    page.locator(KERNEL_PLOT).wait_for(timeout=timeout)
    page.wait_for_function(
        "(v) => { const e = document.querySelector('.layerlab-field-units input');"
        " return e && e.value === v; }", arg=str(before), timeout=60000)
    page.wait_for_timeout(500)
    idle = page.evaluate(BUSY_STATE)
    assert not idle["busy"] and idle["opacity"] == 1 and idle["status"] == "hidden", idle
    old = src(page, KERNEL_PLOT)
    box = page.locator(".layerlab-field-units input").first
    box.fill(str(after))
    box.press("Enter")
    page.wait_for_selector(".layerlab-editor.layerlab-busy", timeout=20000)
    page.wait_for_timeout(500)  # the grey comes after 0.25 s (quick edits do not flicker)
    busy = page.evaluate(BUSY_STATE)
    keep_screenshot(page, f"{where}-busy")
    assert busy["busy"] and busy["opacity"] < 0.5, busy
    assert busy["status"] == "visible" and "rebuilding" in busy["text"], busy
    page.wait_for_function(
        "([old]) => { const e = document.querySelector('img.layerlab-plot-w0-kernel');"
        " const ed = document.querySelector('.layerlab-editor');"
        " return e && e.getAttribute('src') !== old"
        " && !ed.classList.contains('layerlab-busy'); }", arg=[old], timeout=timeout)
    page.wait_for_timeout(300)
    done = page.evaluate(BUSY_STATE)
    keep_screenshot(page, f"{where}-busy-done")
    assert done["opacity"] == 1 and done["status"] == "hidden", done
    assert f"({before}, {after})" in page.locator(".layerlab-plots").inner_text()
