"""The dashboard in Debian's chromium (Playwright) against a real gunicorn with 2 workers.

``make screenshots`` runs :func:`test_screenshots` with ``PRODREADY_SCREENSHOTS=1`` to write
the images of ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO, free_port, require_executable, require_module, running, wait_for

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
XSS = "<img src=x onerror=alert(1)>"
PAGES = [
    "/_prod/",
    "/_prod/errors",
    "/_prod/requests",
    "/_prod/logs",
    "/_prod/health",
    "/_prod/config",
]
SCREENSHOTS = REPO / "docs" / "screenshots"

WSGI = """
from flask import Flask
from loguru import logger
from flask_prodready import ProdReady

app = Flask("browser_app")
prodready = ProdReady(app, dashboard_poll_seconds=0.5)


@app.get("/ok")
def ok():
    return "ok"


@app.get("/boom")
def boom():
    logger.warning("about to fail")
    raise RuntimeError({xss!r})


@app.get("/debug")
def debug():
    logger.debug("debug detail from the app")
    return "ok"
"""
CONF = """
from flask_prodready.gunicorn import child_exit, on_exit, on_starting, when_ready  # noqa: F401
workers = 2
bind = "127.0.0.1:{port}"
"""


@dataclass
class Server:
    url: str
    log: Path
    errors: list[str] = field(default_factory=list)

    def get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return int(exc.code)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_module("gunicorn", "it is in the dev dependencies: run make venv")
    root = tmp_path_factory.mktemp("dashboard-browser")
    (root / "wsgi.py").write_text(textwrap.dedent(WSGI.format(xss=XSS)))
    port = free_port()
    (root / "gunicorn.conf.py").write_text(CONF.format(port=port))
    (root / "multiproc").mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "PYTHONPATH": os.pathsep.join([str(root), str(REPO)]),
        "PRODREADY_ENV": "development",
        "PROMETHEUS_MULTIPROC_DIR": str(root / "multiproc"),
        "FLASK_PRODREADY_ERROR_STORE_PATH": str(root / "errors.sqlite3"),
        "FLASK_PRODREADY_LOG_FORMAT": "json",
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    log = root / "gunicorn.log"
    with running(command, log=log, env=env, cwd=root) as process:
        result = Server(f"http://127.0.0.1:{port}", log)
        wait_for(
            lambda: result.get("/ok") == 200 or None, what="gunicorn", process=process, log=log
        )
        yield result


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = require_executable(
        "chromium", "install it with `apt-get install chromium` (make test does under CI)"
    )
    require_module("playwright", "it is in the test dependencies: run make venv")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Watched:
    page: Any
    console_errors: list[str]

    def violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__cspViolations || []")
        return found


def open_page(browser: Any, **options: Any) -> Watched:
    context = browser.new_context(**options)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => {"
        " (window.__cspViolations = window.__cspViolations || [])"
        ".push(e.violatedDirective + ' ' + e.blockedURI); });"
    )
    return Watched(page, errors)


def test_every_page_loads_without_console_errors_or_csp_violations(
    server: Server, browser: Any
) -> None:
    server.get("/boom")
    watched = open_page(browser)
    page = watched.page
    for path in PAGES:
        page.goto(server.url + path)
        page.wait_for_timeout(700)  # at least one htmx poll
        assert watched.violations() == [], path
    assert watched.console_errors == []
    page.context.close()


def test_a_new_error_appears_on_the_overview_and_resolving_works(
    server: Server, browser: Any
) -> None:
    watched = open_page(browser)
    page = watched.page
    page.goto(server.url + "/_prod/")
    page.wait_for_load_state("networkidle")
    assert server.get("/boom?fresh=1") == 500
    page.locator("#live").get_by_text("RuntimeError").first.wait_for()
    assert page.locator("img").count() == 0, "the message renders as text"
    assert XSS in page.locator("#live").inner_text()
    page.locator("#live a", has_text="RuntimeError").first.click()
    page.get_by_role("button", name="Resolve").click()
    page.get_by_role("button", name="Reopen").wait_for()
    assert "resolved" in page.locator("#resolve").inner_text()
    page.reload()
    page.get_by_role("button", name="Reopen").wait_for()
    assert watched.console_errors == []
    assert watched.violations() == []
    page.context.close()


def test_the_log_level_form_changes_what_every_worker_logs(server: Server, browser: Any) -> None:
    watched = open_page(browser)
    page = watched.page
    page.goto(server.url + "/_prod/logs")
    page.locator('select[name="level"]').select_option("DEBUG")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/_prod/logs")

    def page_shows_debug() -> bool | None:
        # The other worker may answer first; it applies the stored level within 2 s.
        page.reload()
        shown = page.locator("table").first.inner_text()
        return True if re.search(r"\(overall\)\s*DEBUG", shown) else None

    wait_for(page_shows_debug, what="the Logs page to show DEBUG", timeout=10)

    def logged_by_both() -> bool | None:
        for _ in range(4):
            server.get("/debug")
        pids = {
            match.group(1)
            for line in server.log.read_text(errors="replace").splitlines()
            if "debug detail from the app" in line
            for match in [re.search(r'"process":\s*(\d+)', line)]
            if match
        }
        return True if len(pids) >= 2 else None

    wait_for(logged_by_both, what="debug lines from both workers", timeout=20)
    page.goto(server.url + "/_prod/logs")
    assert "about to fail" in page.locator("#live").inner_text(), "WARNING lines of all workers"
    assert watched.console_errors == []
    page.context.close()


def test_pages_show_their_data_without_javascript(server: Server, browser: Any) -> None:
    server.get("/boom")
    watched = open_page(browser, java_script_enabled=False)
    page = watched.page
    expected = {
        "/_prod/": "RuntimeError",
        "/_prod/errors": "RuntimeError",
        "/_prod/requests": "/boom",
        "/_prod/logs": "about to fail",
        "/_prod/health": "Overall",
        "/_prod/config": "PRODREADY_DASHBOARD_URL_PREFIX",
    }
    for path, text in expected.items():
        page.goto(server.url + path)
        assert text in page.locator("main").inner_text(), path
    page.context.close()


@pytest.mark.skipif(
    os.environ.get("PRODREADY_SCREENSHOTS") != "1", reason="make screenshots writes them"
)
def test_screenshots(server: Server, browser: Any) -> None:
    for _ in range(20):
        server.get("/ok")
    server.get("/boom")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    desktop, phone = {"width": 1200, "height": 900}, {"width": 390, "height": 844}
    pages = {
        "overview": "/_prod/",
        "errors": "/_prod/errors",
        "requests": "/_prod/requests",
        "logs": "/_prod/logs",
        "health": "/_prod/health",
        "alerts": "/_prod/alerts",
        "performance": "/_prod/performance",
        "config": "/_prod/config",
    }
    # Every page light on a desktop and dark on a phone; the overview dark on a desktop too.
    shots = [(f"{name}-light", path, "light", desktop) for name, path in pages.items()]
    shots += [(f"{name}-phone", path, "dark", phone) for name, path in pages.items()]
    shots.append(("overview-dark", "/_prod/", "dark", desktop))
    for name, path, scheme, viewport in shots:
        context = browser.new_context(color_scheme=scheme, viewport=viewport)
        page = context.new_page()
        page.goto(server.url + path)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
        context.close()
