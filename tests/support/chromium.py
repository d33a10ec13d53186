"""Debian's ``chromium``, headless, driven by Playwright.

:func:`chromium` launches the browser; :func:`open_page` opens a page in a new context that
records console errors, page errors, dialogs and Content-Security-Policy violations.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .requires import require_executable, require_module

INSTALL_HINT = "install it with `apt-get install chromium` (make test does under CI)"
PLAYWRIGHT_HINT = "it is in the test dependencies: run make venv"

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


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A launched Playwright ``Browser`` (headless chromium), closed on the way out.

    Skips (fails under CI) when ``chromium`` or the Python package ``playwright`` is missing.
    """
    executable = require_executable("chromium", INSTALL_HINT)
    require_module("playwright", PLAYWRIGHT_HINT)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Watched:
    """A page and what went wrong in it so far."""

    page: Any
    console_errors: list[str]

    def violations(self) -> list[str]:
        """The Content-Security-Policy violations: directive and blocked URI."""
        found: list[str] = self.page.evaluate("window.__cspViolations || []")
        return found


def open_page(browser: Any, **options: Any) -> Watched:
    """A page in a new browser context (``options`` go to ``new_context``), watched."""
    context = browser.new_context(**options)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def on_dialog(dialog: Any) -> None:
        errors.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => {"
        " (window.__cspViolations = window.__cspViolations || [])"
        ".push(e.violatedDirective + ' ' + e.blockedURI); });"
    )
    return Watched(page, errors)
