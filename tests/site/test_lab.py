"""JupyterLab, as a student meets it: open chapter 1, run it, move the radius slider.

A real JupyterLab server on 127.0.0.1 (a free port, a token, configuration and runtime in a
temporary folder) serves a copy of the chapter, so the repository's notebook is never
touched; Debian's Chromium runs every cell through the lab's own menu, moves the slider
with the keyboard, and checks that the figure under it changes: the widget's round trip
through the kernel. A screenshot is kept in ``_build/test-artifacts/``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "_build" / "test-artifacts"   # screenshots, kept as test artefacts

CHAPTER = "01_frequencies.ipynb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(url: str, server: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {server.returncode}: "
                               f"{server.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout:.0f} s")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """(base URL, token) of a JupyterLab serving a copy of the chapter; shut down afterwards."""
    home = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "book" / CHAPTER, home / CHAPTER)
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / ".config"),
           "JUPYTER_RUNTIME_DIR": str(home / ".runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / ".settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / ".workspaces"),
           "FREQLENS_DATA": str(ROOT / "data"), "FREQLENS_PROGRESS": "0"}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home}",
         "--LabApp.news_url=", "--ServerApp.port_retries=0", "--allow-root"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/api/status?token={token}", server)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield page
    page.close()


def _explorer_image(page) -> str:
    return page.get_attribute(".widget-output img", "src") or ""


def test_the_radius_slider_redraws_the_figure_through_the_kernel(lab, page):
    base, token = lab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{base}/lab/tree/{CHAPTER}?token={token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60000)
    # the kernel must be up before "Run All Cells" has anything to run on
    page.wait_for_function("() => /\\| Idle/.test(document.body.innerText)", timeout=120000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    try:
        # noUiSlider's handle sits in a transformed box that Playwright does not count as visible
        page.wait_for_selector(".widget-slider .noUi-handle", state="attached", timeout=240000)
        page.wait_for_selector(".widget-output img", state="attached", timeout=60000)
    finally:
        page.screenshot(path=str(ARTIFACTS / "jupyterlab_after_run_all.png"))
    page.locator(".widget-slider").scroll_into_view_if_needed()
    # JupyterLab renders a cell's widgets once it is in view: its readout is empty until then
    page.wait_for_function("() => { const r = document.querySelector('.widget-slider .widget-readout');"
                           " return r && r.innerText.trim() !== ''; }", timeout=60000)
    before = _explorer_image(page)
    assert page.inner_text(".widget-slider .widget-readout").strip() == "8"
    assert before.startswith("data:image/png")

    # wait for the run to finish, then type a radius into the slider's readout, as a student may
    page.wait_for_function("() => /\\| Idle/.test(document.body.innerText)", timeout=240000)
    readout = page.locator(".widget-slider .widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("10")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "before => { const img = document.querySelector('.widget-output img');"
        " return img && img.src !== before; }", arg=before, timeout=60000)
    assert page.inner_text(".widget-slider .widget-readout").strip() == "10"
    after = _explorer_image(page)
    assert after.startswith("data:image/png") and after != before
    page.screenshot(path=str(ARTIFACTS / "jupyterlab_radius_slider.png"))
