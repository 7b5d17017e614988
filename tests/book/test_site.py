"""Browser check of the built site: every page loads, math is typeset by the local MathJax, figures show.

Run by ``make test`` after the fast-scale site build:
``pytest -m browser tests/book/test_site.py --site _build/fast/_build/html``.
Needs Debian's ``chromium`` and ``chromium-driver`` (the Makefile installs them when missing).
"""

from __future__ import annotations

import functools
import http.server
import shutil
import tempfile
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser


def toc_notebook_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = []
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            for section in chapter.get("sections", []) or []:
                if section["file"].startswith("notebooks/"):
                    pages.append(section["file"])
    return pages


@pytest.fixture(scope="module")
def site(request) -> Path:
    path = request.config.getoption("--site")
    if not path:
        pytest.skip("no --site given")
    site = Path(path).resolve()
    if not (site / "index.html").exists():
        pytest.fail(f"{site} has no index.html: build the site first")
    return site


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("chromium and chromedriver are needed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="ntkbook-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-extensions", f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def inspect(browser, url: str) -> dict:
    browser.get(url)
    return browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const report = () => {
          const imgs = Array.from(document.querySelectorAll('main img, article img, .bd-article img'));
          const scripts = Array.from(document.querySelectorAll('script[src]')).map(s => s.src);
          done({
            title: document.title,
            mathSource: document.querySelectorAll('.math, span.math, div.math').length,
            mathTypeset: document.querySelectorAll('mjx-container').length,
            mathErrors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
            mathjaxScripts: scripts.filter(s => s.toLowerCase().includes('mathjax')),
            figures: document.querySelectorAll('.cell_output img, .output img').length,
            images: imgs.map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
          });
        };
        if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
          MathJax.startup.promise.then(report, report);
        } else { setTimeout(report, 500); }
        """)


def check_page(browser, server, page: str, *, needs_figure: bool) -> dict:
    info = inspect(browser, f"{server}/{page}.html")
    assert info["title"], f"{page}: no title (page did not load?)"
    assert info["mathjaxScripts"], f"{page}: no MathJax script on the page"
    for src in info["mathjaxScripts"]:
        assert src.startswith(server), f"{page}: MathJax is loaded from {src}, not from the site itself"
    if info["mathSource"]:
        assert info["mathTypeset"] > 0, f"{page}: {info['mathSource']} math element(s) but none typeset"
        assert info["mathErrors"] == 0, f"{page}: MathJax reported {info['mathErrors']} error(s)"
    broken = [i["src"] for i in info["images"] if not i["ok"]]
    assert not broken, f"{page}: images that did not load: {broken}"
    if needs_figure:
        assert info["figures"] > 0, f"{page}: no figure in the cell outputs"
    return info


def test_intro_page(browser, server):
    info = check_page(browser, server, "book/intro", needs_figure=False)
    assert info["mathTypeset"] > 0, "the intro shows a displayed equation; MathJax must typeset it"


def test_index_redirects_to_intro(browser, server):
    browser.get(f"{server}/index.html")
    assert "ntkbook" in browser.title.lower()


@pytest.mark.parametrize("page", toc_notebook_pages() or ["<none>"])
def test_notebook_page(browser, server, page):
    if page == "<none>":
        pytest.skip("no notebooks in _toc.yml yet")
    info = check_page(browser, server, page, needs_figure=True)
    assert info["mathTypeset"] > 0, f"{page}: notebooks state their theory in math; none was typeset"
