"""The dashboard in Debian's chromium (Playwright) against a real gunicorn with 2 workers.

The images of ``docs/screenshots/`` are written by ``scripts/screenshots.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from .support.chromium import chromium, open_page
from .support.gunicorn import LiveServer, serve_wsgi
from .support.servers import wait_for

pytestmark = pytest.mark.slow

XSS = "<img src=x onerror=alert(1)>"
PAGES = [
    "/_prod/",
    "/_prod/errors",
    "/_prod/requests",
    "/_prod/logs",
    "/_prod/health",
    "/_prod/config",
]

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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("dashboard-browser")
    with serve_wsgi(root, WSGI.format(xss=XSS)) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_every_page_loads_without_console_errors_or_csp_violations(
    server: LiveServer, browser: Any
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
    server: LiveServer, browser: Any
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


def test_the_log_level_form_changes_what_every_worker_logs(
    server: LiveServer, browser: Any
) -> None:
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


def test_pages_show_their_data_without_javascript(server: LiveServer, browser: Any) -> None:
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
