"""Write the dashboard screenshots of the docs (docs/screenshots/*.png).

A small shop app with flask-prodready runs under a real gunicorn with two workers
(tests/support/gunicorn.py); it gets some traffic and one failing request, a KeyError in its
orders route; then Debian's chromium, driven by Playwright (tests/support/chromium.py), takes
every dashboard page light on a desktop and dark on a phone, and the overview dark on a
desktop::

    .venv/bin/python scripts/screenshots.py [--out DIR]

It needs ``chromium`` (``apt-get install chromium``) and the dev dependencies (``make venv``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import pytest  # noqa: E402  (tests.support reports a missing part through pytest)

from tests.support.chromium import chromium  # noqa: E402
from tests.support.gunicorn import LiveServer, serve_wsgi  # noqa: E402

OUT = REPO / "docs" / "screenshots"

SHOP = """
from flask import Flask, abort
from loguru import logger
from flask_prodready import ProdReady

app = Flask("shop")
prodready = ProdReady(app, dashboard_poll_seconds=0.5)

ORDERS = {
    "1001": {"items": [{"sku": "tea", "price": 4.5, "quantity": 2}]},
    "1002": {
        "items": [
            {"sku": "mug", "price": 12.0, "quantity": 1},
            {"sku": "gift-card", "quantity": 1},
        ]
    },
}


@app.get("/orders")
def orders():
    return {"orders": sorted(ORDERS)}


@app.get("/orders/<order_id>")
def order(order_id):
    if order_id not in ORDERS:
        abort(404)
    items = ORDERS[order_id]["items"]
    if any("price" not in item for item in items):
        logger.warning("order {} has an item without a price", order_id)
    total = sum(item["price"] * item["quantity"] for item in items)
    return {"id": order_id, "total": total}
"""

PAGES = {
    "overview": "/_prod/",
    "errors": "/_prod/errors",
    "requests": "/_prod/requests",
    "logs": "/_prod/logs",
    "health": "/_prod/health",
    "alerts": "/_prod/alerts",
    "performance": "/_prod/performance",
    "config": "/_prod/config",
}
DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 390, "height": 844}


def traffic(server: LiveServer) -> None:
    """Good requests, then the one that fails: order 1002 has an item without a price."""
    for _ in range(12):
        server.get("/orders")
    for _ in range(8):
        server.get("/orders/1001")
    status = server.get("/orders/1002")
    assert status == 500, f"GET /orders/1002 answered {status}, not 500"


def take(server: LiveServer, out: Path) -> list[Path]:
    """Every page light on a desktop and dark on a phone; the overview dark on a desktop."""
    shots = [(f"{name}-light", path, "light", DESKTOP) for name, path in PAGES.items()]
    shots += [(f"{name}-phone", path, "dark", PHONE) for name, path in PAGES.items()]
    shots.append(("overview-dark", "/_prod/", "dark", DESKTOP))
    written = []
    with chromium() as browser:
        for name, path, scheme, viewport in shots:
            context = browser.new_context(color_scheme=scheme, viewport=viewport)
            page = context.new_page()
            page.goto(server.url + path)
            page.wait_for_load_state("networkidle")
            target = out / f"{name}.png"
            page.screenshot(path=str(target))
            context.close()
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=OUT, help=f"folder of the images (default: {OUT})"
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="prodready-screenshots-") as root,
            serve_wsgi(Path(root), SHOP, ready_path="/orders") as server,
        ):
            traffic(server)
            written = take(server, out)
    except (pytest.skip.Exception, pytest.fail.Exception) as missing:
        print(f"screenshots: {missing.msg}", file=sys.stderr)
        return 1
    print(f"screenshots: wrote {len(written)} images to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
