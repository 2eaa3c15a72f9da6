"""The built website, opened in a real headless browser (Chromium through Playwright).

Run after `jupyter-book build` (``make test`` does): every chapter page loads, its
figures decode, no executed cell shows a traceback, and the bibliography resolves.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
CHAPTERS = ("01_frequencies", "02_hfc_generalization")


def _chromium() -> str | None:
    return os.environ.get("FREQLENS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def page():
    playwright = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI: `make browser` installs Debian's chromium")
        pytest.skip("no Chromium found (install Debian's chromium, or set FREQLENS_CHROMIUM)")
    if not (HTML / "index.html").is_file():
        pytest.fail(f"{HTML / 'index.html'} is missing: build the book first (make html)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield browser.new_page(viewport={"width": 1280, "height": 900})
        browser.close()


def _open(page, name: str):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((HTML / "book" / f"{name}.html").as_uri(), wait_until="load")
    return errors


def test_index_leads_to_the_intro_which_links_to_every_chapter(page):
    # index.html is a redirect to the root page of the table of contents
    assert "book/intro.html" in (HTML / "index.html").read_text()
    page.goto((HTML / "book" / "intro.html").as_uri(), wait_until="load")
    hrefs = page.eval_on_selector_all("nav a", "els => els.map(e => e.getAttribute('href'))")
    for name in CHAPTERS:
        assert any(h and name in h for h in hrefs), f"no link to {name} in the navigation"


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_figures_render_without_tracebacks(page, name):
    _open(page, name)
    images = page.eval_on_selector_all(
        "article img", "els => els.map(e => [e.currentSrc, e.complete && e.naturalWidth > 0])")
    assert len(images) >= 3, f"{name} shows {len(images)} figures, expected several"
    broken = [src for src, ok in images if not ok]
    assert not broken, f"{name} has figures that did not decode: {broken[:3]}"
    text = page.inner_text("article")
    assert "Traceback (most recent call last)" not in text
    assert "Error" not in page.title()


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_citations_resolve(page, name):
    _open(page, name)
    text = page.inner_text("article")
    assert "??" not in text, f"{name} has an unresolved reference"


def test_launch_and_download_buttons_present(page):
    _open(page, CHAPTERS[0])
    html = page.content()
    assert "colab.research.google.com" in html
    assert "mybinder.org" in html
    assert ".ipynb" in html
