"""PRODREADY_TRUSTED_PROXIES: werkzeug's ProxyFix, so every part sees the same client."""

from __future__ import annotations

from flask import Flask, request

from flask_prodready.logs import ACCESS_LOGGER
from flask_prodready.testing import capture_logs

from .support.apps import AppDir

FORWARDED = {
    "X-Forwarded-For": "198.51.100.7, 203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "shop.example.com",
}


def _app(app_dir: AppDir, **overrides: object) -> Flask:
    app = app_dir.app(dashboard_enabled=False, **overrides)

    @app.get("/whoami")
    def whoami() -> dict[str, str | None]:
        return {"addr": request.remote_addr, "scheme": request.scheme, "host": request.host}

    return app


def test_the_app_and_the_access_line_see_the_client_behind_one_proxy(app_dir: AppDir) -> None:
    app = _app(app_dir, trusted_proxies=1)
    with capture_logs() as lines:
        answer = app.test_client().get("/whoami", headers=FORWARDED)
    assert answer.json == {"addr": "203.0.113.9", "scheme": "https", "host": "shop.example.com"}
    (access,) = [line for line in lines if line["logger"] == ACCESS_LOGGER]
    assert access["remote_addr"] == "203.0.113.9"


def test_two_proxies_take_the_address_the_outer_one_saw(app_dir: AppDir) -> None:
    app = _app(app_dir, trusted_proxies=2)
    answer = app.test_client().get("/whoami", headers=FORWARDED)
    assert answer.json is not None
    assert answer.json["addr"] == "198.51.100.7"


def test_without_trusted_proxies_forwarded_headers_are_ignored(app_dir: AppDir) -> None:
    app = _app(app_dir)
    with capture_logs() as lines:
        answer = app.test_client().get("/whoami", headers=FORWARDED)
    assert answer.json == {"addr": "127.0.0.1", "scheme": "http", "host": "localhost"}
    (access,) = [line for line in lines if line["logger"] == ACCESS_LOGGER]
    assert access["remote_addr"] == "127.0.0.1"


def test_metrics_access_rule_sees_the_client_not_the_local_proxy(app_dir: AppDir) -> None:
    # nginx on the same machine connects from 127.0.0.1: without ProxyFix every public client
    # would be "loopback" and read /metrics.
    behind = _app(app_dir, trusted_proxies=1).test_client()
    assert behind.get("/metrics", headers=FORWARDED).status_code == 403
    assert behind.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200


def test_too_few_forwarded_addresses_leave_the_peer_address(app_dir: AppDir) -> None:
    app = _app(app_dir, trusted_proxies=2)
    answer = app.test_client().get("/whoami", headers={"X-Forwarded-For": "203.0.113.9"})
    assert answer.json is not None
    assert answer.json["addr"] == "127.0.0.1"
