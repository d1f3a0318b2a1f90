"""Servers, a headless Chromium and pages for the browser tests.

- ``browser``, ``lab``: one Chromium and one JupyterLab server per test session.
- ``lab_page(name, content=None, width=1400, height=1000, run=True)``: the notebook open in
  Lab on a fresh kernel and run (``pages.open_lab``); ``voila_page(url, width, ...)``: Voila's
  page, offline (``pages.open_voila``). Both close their pages after the test.
- ``voila``, ``voila_depth``: Voila serving notebook 01 or 02; a module serves its own
  notebook with ``serve_voila(tmp, notebook_path)`` or ``serve_voila(tmp, source=..., name=...)``.

The tests skip, saying why, where ``/usr/bin/chromium``, Playwright, JupyterLab or Voila is
missing. Servers listen on 127.0.0.1 at a free port, run from a temporary directory with
their own settings, and are always shut down.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .pages import notebook as one_cell_notebook
from .pages import open_lab, open_voila

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "01_quickstart.ipynb"
DEPTH_NOTEBOOK = ROOT / "notebooks" / "02_initializers_and_depth.ipynb"
CHROMIUM = os.environ.get("LAYERLAB_CHROMIUM", "/usr/bin/chromium")


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)"
    for mod in ("playwright.sync_api", "jupyterlab", "voila", "PIL"):
        try:
            __import__(mod)
        except ImportError:
            return f"python package {mod.split('.')[0]} is not installed"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _missing()
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
        "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg",
        "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "lab-workspaces"),
    })
    return env


def wait_until(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{log.read_text()[-3000:]}")
        if predicate():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready after {timeout} s:\n{log.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen, graceful=None) -> None:
    if proc.poll() is not None:
        return
    try:
        if graceful is not None:
            graceful()
        else:
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    except Exception:  # noqa: BLE001 - fall back to terminate/kill
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            "--disable-quic", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A JupyterLab server with the quickstart notebook: (base url, token)."""
    tmp = tmp_path_factory.mktemp("lab")
    nb_dir = tmp / "nb"
    nb_dir.mkdir()
    shutil.copy(NOTEBOOK, nb_dir / NOTEBOOK.name)
    settings = tmp / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    notebook = tmp / "lab-settings" / "@jupyterlab" / "notebook-extension"
    notebook.mkdir(parents=True)  # render every cell, not only those in view
    (notebook / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port, token = free_port(), secrets.token_hex(16)
    log = tmp / "lab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={nb_dir}",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
             "--allow-root"], env=server_env(tmp), stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def shutdown() -> None:
        req = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
        urllib.request.urlopen(req, timeout=5).close()

    try:
        wait_until(up, 60, "jupyter lab", proc, log)
        yield base, token
    finally:
        stop_server(proc, shutdown)


def serve_voila(tmp: Path, notebook: Path | None = None, *, source: str | None = None,
                name: str | None = None):
    """Serve with Voila ``notebook`` (its folder copied, data included) or a notebook of one
    cell of ``source`` named ``name``: yields its url; the server stops and the copy goes
    after. Use it in a fixture: ``yield from serve_voila(tmp_path_factory.mktemp(...), ...)``."""
    nb_dir = tmp / "nb"
    if notebook is not None:
        shutil.copytree(notebook.parent, nb_dir, ignore=shutil.ignore_patterns(".*"))
        name = notebook.name
    else:
        nb_dir.mkdir()
        name = f"{name}.ipynb"
        (nb_dir / name).write_text(json.dumps(one_cell_notebook(source)))
    port = free_port()
    log = tmp / "voila.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "voila", name, "--no-browser", f"--port={port}",
             "--Voila.ip=127.0.0.1", "--show_tracebacks=True",
             # Voila runs the notebook with nbclient and no cell timeout: the shell channel
             # of tests/notebook_kernel.py, or a lost wake-up hangs the page for good
             "--ServerKernelManager.client_class=tests.notebook_kernel.KernelClient"],
            cwd=nb_dir, env=server_env(tmp), stdout=out, stderr=subprocess.STDOUT)

    def up() -> bool:
        with socket.socket() as s:
            s.settimeout(1)
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until(up, 60, "voila", proc, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop_server(proc)
        shutil.rmtree(nb_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def voila(tmp_path_factory):
    """A Voila server rendering the quickstart notebook: its url."""
    yield from serve_voila(tmp_path_factory.mktemp("voila"), NOTEBOOK)


@pytest.fixture(scope="session")
def voila_depth(tmp_path_factory):
    """A Voila server rendering notebook 02 (initializers and depth): its url."""
    yield from serve_voila(tmp_path_factory.mktemp("voila02"), DEPTH_NOTEBOOK)


class _Pages:
    """Hands out pages of one browser and closes them all at the end of a test."""

    def __init__(self, browser):
        self.browser, self.pages = browser, []

    def new_page(self, **kw):
        page = self.browser.new_page(**kw)
        self.pages.append(page)
        return page

    def close(self) -> None:
        for page in self.pages:
            page.close()


@pytest.fixture
def lab_page(lab, browser):
    """``lab_page(name, content=None, width=1400, height=1000, run=True)``: the notebook
    ``name`` (written first from ``content``, a notebook dict) open alone in JupyterLab on a
    fresh kernel, its cells run (``pages.open_lab``): the page."""
    pages = _Pages(browser)
    yield lambda name, content=None, **kw: open_lab(lab, pages, name, content, **kw)
    pages.close()


@pytest.fixture
def voila_page(browser):
    """``voila_page(url, width, height=1000, **goto)``: Voila's page at ``url``, offline, in
    a window ``width`` px wide (``pages.open_voila``)."""
    pages = _Pages(browser)
    yield lambda url, width, **kw: open_voila(url, pages, width, **kw)
    pages.close()
