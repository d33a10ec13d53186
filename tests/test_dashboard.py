"""The dashboard: access modes, CSRF, security headers, every page and partial, escaping.

Covers ``dashboard.charts``, ``dashboard.pages``, ``dashboard.views``, ``dashboard.sync``,
``dashboard.settings``.
"""

from __future__ import annotations

import base64
import os
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from flask_prodready import get_state
from flask_prodready.testing import capture_logs

from .support.apps import AppDir
from .support.servers import wait_until

PAGES = [
    "/_prod/",
    "/_prod/errors",
    "/_prod/requests",
    "/_prod/outgoing",
    "/_prod/logs",
    "/_prod/health",
    "/_prod/config",
]
LIVE_PAGES = ["/_prod/", "/_prod/errors", "/_prod/requests", "/_prod/logs", "/_prod/health"]
XSS = "<img src=x onerror=alert(1)>"


def make_app(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch, env: str = "development", **overrides: object
) -> Flask:
    monkeypatch.setenv("PRODREADY_ENV", env)
    app = app_dir.flask()
    from flask_prodready import ProdReady

    ProdReady(app, error_store_path=str(app_dir.root / "errors.sqlite3"), **overrides)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError(XSS)

    @app.get("/warn")
    def warn() -> str:
        from loguru import logger

        logger.warning("disk almost full")
        return "ok"

    @app.get("/debug")
    def debug() -> str:
        from loguru import logger

        logger.debug("debug detail")
        return "ok"

    return app


def csrf(client: FlaskClient, path: str = "/_prod/logs") -> str:
    body = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', body)
    assert match, body
    return match.group(1)


def assert_secure_headers(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    policy = headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ):
        assert directive in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"


def test_every_page_and_partial_for_a_loopback_client_in_development(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(app_dir, monkeypatch)
    client = app.test_client()
    assert client.get("/boom").status_code == 500
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_secure_headers(response)
        body = response.get_data(as_text=True)
        assert "<html" in body
        assert "style=" not in body, "inline styles break the CSP"
        assert "<script>" not in body, "inline scripts break the CSP"
    for path in LIVE_PAGES:
        partial = client.get(path, headers={"HX-Request": "true"})
        assert partial.status_code == 200
        text = partial.get_data(as_text=True)
        assert text.lstrip().startswith('<div id="live"'), path
        assert "<html" not in text
    overview = client.get("/_prod/").get_data(as_text=True)
    assert "RuntimeError" in overview, "the newest error is on the overview"
    assert "<svg" in overview
    (group,) = get_state(app).components["error_store"].groups()
    detail = client.get(f"/_prod/errors/{group.fingerprint}")
    assert detail.status_code == 200
    assert_secure_headers(detail)
    assert client.get("/_prod/errors/nope").status_code == 404
    for name in ("htmx.min.js", "htmx.LICENSE", "VERSION"):
        static = client.get(f"/_prod/static/prodready/vendor/{name}")
        assert static.status_code == 200
        static.close()


def test_markup_in_an_exception_message_renders_as_text(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(app_dir, monkeypatch)
    client = app.test_client()
    client.get("/boom")
    (group,) = get_state(app).components["error_store"].groups()
    for path in ("/_prod/", "/_prod/errors", f"/_prod/errors/{group.fingerprint}"):
        body = client.get(path).get_data(as_text=True)
        assert XSS not in body
        assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_error_detail_shows_stack_context_and_the_requests_log_lines(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(app_dir, monkeypatch)
    client = app.test_client()
    client.get("/boom?token=hunter2&page=3", headers={"Authorization": "Bearer sekrit"})
    (group,) = get_state(app).components["error_store"].groups()
    (occurrence,) = get_state(app).components["error_store"].occurrences(group.fingerprint)
    body = client.get(f"/_prod/errors/{group.fingerprint}").get_data(as_text=True)
    assert "Traceback" in body
    assert "hunter2" not in body
    assert "sekrit" not in body
    assert "***" in body
    assert occurrence.request_id is not None
    assert occurrence.request_id in body
    assert "Exception on /boom" in body, "the breadcrumb log line of the request"


def test_resolve_and_reopen_need_the_csrf_token(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(app_dir, monkeypatch)
    client = app.test_client()
    client.get("/boom")
    store = get_state(app).components["error_store"]
    fingerprint = store.groups()[0].fingerprint
    url = f"/_prod/errors/{fingerprint}/resolve"
    assert client.post(url, data={"resolved": "1"}).status_code == 403
    assert client.post(url, data={"resolved": "1", "csrf_token": "wrong"}).status_code == 403
    assert not store.group(fingerprint).resolved
    token = csrf(client, f"/_prod/errors/{fingerprint}")
    response = client.post(url, data={"resolved": "1", "csrf_token": token})
    assert response.status_code == 303
    assert store.group(fingerprint).resolved
    partial = client.post(
        url, data={"resolved": "0"}, headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )
    assert partial.status_code == 200
    assert "Resolve" in partial.get_data(as_text=True)
    assert not store.group(fingerprint).resolved


def test_an_error_fixed_then_back_after_a_deploy_shows_as_regressed_with_its_releases(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = make_app(app_dir, monkeypatch, release="1.0")
    client = before.test_client()
    client.get("/boom")
    store = get_state(before).error_store
    assert store is not None
    (group,) = store.groups()
    assert store.occurrences(group.fingerprint)[0].release == "1.0"
    assert "in 1.0" in client.get("/_prod/errors").get_data(as_text=True)
    token = csrf(client, f"/_prod/errors/{group.fingerprint}")
    url = f"/_prod/errors/{group.fingerprint}/resolve"
    assert client.post(url, data={"resolved": "1", "csrf_token": token}).status_code == 303
    # The next release, on the same store, fails the same way.
    after = make_app(app_dir, monkeypatch, release="1.1").test_client()
    after.get("/boom")
    listing = after.get("/_prod/errors").get_data(as_text=True)
    assert ">regressed</span>" in listing
    detail = after.get(f"/_prod/errors/{group.fingerprint}").get_data(as_text=True)
    assert "first" in detail
    assert "in release 1.0" in detail
    assert "Resolved, then seen again in release 1.1." in detail


def test_errors_are_filtered_and_paged(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(app_dir, monkeypatch)
    client = app.test_client()
    client.get("/boom")
    assert "RuntimeError" in client.get("/_prod/errors?route=/boom").get_data(as_text=True)
    assert "No errors." in client.get("/_prod/errors?route=/other").get_data(as_text=True)
    assert "No errors." in client.get("/_prod/errors?status=404").get_data(as_text=True)
    assert "No errors." in client.get("/_prod/errors?resolved=resolved").get_data(as_text=True)
    assert "Page 2" in client.get("/_prod/errors?page=2").get_data(as_text=True)


def test_requests_table_sorts_by_column(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(app_dir, monkeypatch)
    client = app.test_client()
    for sort in ("route", "requests", "rate", "errors", "p50", "p95", "p99", "bogus"):
        assert client.get(f"/_prod/requests?sort={sort}&minutes=5").status_code == 200


def test_log_level_form_changes_what_is_logged_and_is_shared(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(app_dir, monkeypatch, log_level="INFO")
    client = app.test_client()
    with capture_logs() as before:
        client.get("/debug")
    assert not [line for line in before if line["message"] == "debug detail"]
    token = csrf(client)
    assert client.post("/_prod/logs/level", data={"level": "DEBUG"}).status_code == 403
    response = client.post("/_prod/logs/level", data={"level": "DEBUG", "csrf_token": token})
    assert response.status_code == 303
    with capture_logs() as after:
        client.get("/debug")
    assert [line for line in after if line["message"] == "debug detail"]
    store = get_state(app).components["error_store"]
    assert store.values("log_level:") == {"log_level:": "DEBUG"}
    bad = client.post("/_prod/logs/level", data={"level": "LOUD", "csrf_token": token})
    assert bad.status_code == 400


def test_a_level_stored_by_another_worker_is_applied(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(app_dir, monkeypatch, log_level="INFO")
    store = get_state(app).components["error_store"]
    store.set_value("log_level:", "DEBUG")
    client = app.test_client()
    client.get("/debug")  # the first request syncs
    with capture_logs() as lines:
        client.get("/debug")
    assert [line for line in lines if line["message"] == "debug detail"]


def test_warning_lines_reach_the_logs_page(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(app_dir, monkeypatch)
    client = app.test_client()
    response = client.get("/warn")
    rid = response.headers["X-Request-ID"]
    store = get_state(app).components["error_store"]
    wait_until(lambda: bool(store.log_lines(request_id=rid)), 5, "the line in the store")
    body = client.get(f"/_prod/logs?request_id={rid}").get_data(as_text=True)
    assert "disk almost full" in body
    assert "No log lines." in client.get("/_prod/logs?request_id=nope").get_data(as_text=True)


def test_health_page_runs_checks_now(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(app_dir, monkeypatch)
    runs = []
    from flask_prodready import register_check

    register_check(app, "counter", lambda: runs.append(1))
    client = app.test_client()
    body = client.get("/_prod/health").get_data(as_text=True)
    assert "counter" in body
    count = len(runs)
    assert client.post("/_prod/health/run").status_code == 403
    token = csrf(client, "/_prod/health")
    assert client.post("/_prod/health/run", data={"csrf_token": token}).status_code == 303
    assert len(runs) == count + 1


def test_config_page_redacts_secrets(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_DATABASE_PASSWORD", "pa55word")
    app = make_app(app_dir, monkeypatch)
    body = app.test_client().get("/_prod/config").get_data(as_text=True)
    assert "DATABASE_PASSWORD" in body
    assert "pa55word" not in body
    assert "configuration ok" in body


def test_development_without_a_mode_is_loopback_only(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_app(app_dir, monkeypatch).test_client()
    response = client.get("/_prod/", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 403
    assert_secure_headers(response)


def test_production_without_a_mode_is_not_served_and_warns(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    with capture_logs() as lines:
        app = make_app(app_dir, monkeypatch, env="production")
    client = app.test_client()
    for path in [*PAGES, "/_prod/static/prodready/prodready.css"]:
        assert client.get(path).status_code == 404
    assert any("dashboard is not served" in line["message"] for line in lines)


def test_token_mode_logs_in_with_a_signed_strict_cookie(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(app_dir, monkeypatch, env="production", dashboard_token="t0ken")
    client = app.test_client()
    response = client.get("/_prod/errors", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 303
    assert "/_prod/login" in response.headers["Location"]
    assert_secure_headers(response)
    token = csrf(client, "/_prod/login")
    assert client.post("/_prod/login", data={"token": "t0ken"}).status_code == 403, "no CSRF"
    wrong = client.post("/_prod/login", data={"token": "nope", "csrf_token": token})
    assert wrong.status_code == 401
    good = client.post(
        "/_prod/login",
        data={"token": "t0ken", "csrf_token": token, "next": "/_prod/errors"},
    )
    assert good.status_code == 303
    assert good.headers["Location"] == "/_prod/errors"
    cookie = good.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "t0ken" not in cookie
    assert client.get("/_prod/errors").status_code == 200
    client.set_cookie("prodready_dashboard", "forged", path="/_prod")
    assert client.get("/_prod/errors").status_code == 303
    token = csrf(client, "/_prod/login")  # a login rotates the CSRF token
    https = client.post(
        "/_prod/login",
        data={"token": "t0ken", "csrf_token": token},
        base_url="https://localhost",
    )
    assert "Secure" in https.headers["Set-Cookie"]
    token = csrf(client, "/_prod/login")
    evil = client.post(
        "/_prod/login",
        data={"token": "t0ken", "csrf_token": token, "next": "https://evil.example/_prod/"},
    )
    assert evil.headers["Location"] == "/_prod/"


def test_failed_logins_are_rate_limited(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(
        app_dir, monkeypatch, env="production", dashboard_token="t0ken", dashboard_login_attempts=2
    )
    client = app.test_client()
    token = csrf(client, "/_prod/login")
    for _ in range(2):
        assert (
            client.post("/_prod/login", data={"token": "x", "csrf_token": token}).status_code == 401
        )
    blocked = client.post("/_prod/login", data={"token": "t0ken", "csrf_token": token})
    assert blocked.status_code == 429


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_mode_checks_a_werkzeug_hash(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(
        app_dir,
        monkeypatch,
        env="production",
        dashboard_username="ops",
        dashboard_password_hash=generate_password_hash("correct horse"),
    )
    client = app.test_client()
    challenge = client.get("/_prod/")
    assert challenge.status_code == 401
    assert challenge.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/_prod/", headers=basic("ops", "wrong")).status_code == 401
    assert client.get("/_prod/", headers=basic("root", "correct horse")).status_code == 401
    for path in PAGES:
        assert client.get(path, headers=basic("ops", "correct horse")).status_code == 200


def test_callable_mode(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> None:
    from flask import request

    app = make_app(
        app_dir,
        monkeypatch,
        env="production",
        dashboard_authoriser=lambda: request.headers.get("X-Admin") == "yes",
    )
    client = app.test_client()
    assert client.get("/_prod/").status_code == 403
    assert client.get("/_prod/", headers={"X-Admin": "yes"}).status_code == 200


def test_authoriser_as_an_import_string(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_PRODREADY_DASHBOARD_AUTHORISER", "builtins:bool")
    client = make_app(app_dir, monkeypatch, env="production").test_client()
    assert client.get("/_prod/").status_code == 403, "bool() is False"


def test_prefix_is_configurable(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_app(app_dir, monkeypatch, dashboard_url_prefix="/ops/status").test_client()
    assert client.get("/ops/status/").status_code == 200
    assert client.get("/_prod/").status_code == 404


def test_instances_are_listed_from_heartbeats(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(app_dir, monkeypatch)
    client = app.test_client()
    client.get("/warn")
    body = client.get("/_prod/").get_data(as_text=True)
    assert f">{os.getpid()}<" in body


def test_a_firing_alert_is_a_banner_on_every_page_and_in_the_alerts_history(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(
        app_dir,
        monkeypatch,
        alerts_default_rules=False,
        alerts_rules={"db_down": {"expr": "health_failing", "summary": "the <db> is down"}},
    )
    client = app.test_client()
    fire_health_failing(app, client)
    for path in ("/_prod/", "/_prod/errors", "/_prod/logs", "/_prod/config", "/_prod/performance"):
        page = client.get(path).get_data(as_text=True)
        assert 'class="banner"' in page, path
        assert "db_down" in page
        assert "the &lt;db&gt; is down" in page
    alerts = client.get("/_prod/alerts")
    assert_secure_headers(alerts)
    text = alerts.get_data(as_text=True)
    assert "health_failing" in text
    assert "firing" in text
    assert client.get("/_prod/alerts", headers={"HX-Request": "true"}).status_code == 200


def _failing_check() -> None:
    raise ConnectionError("database is down")


def fire_health_failing(app: Flask, client: FlaskClient) -> None:
    """Fail a database check of ``app``, read it through ``/readyz`` and evaluate the alerts,
    so that a ``health_failing`` rule fires."""
    from flask_prodready import get_health

    get_health(app).add("database", _failing_check)
    client.get("/readyz")
    get_state(app).components["alerts"].evaluate()


def test_performance_page_shows_profiles_repeated_queries_and_slow_requests(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(app_dir, monkeypatch, profiling_token="t0k", slow_request_ms=0.001)
    client = app.test_client()
    profiled = client.get("/warn", headers={"X-Prodready-Profile": "t0k"})
    profile_id = profiled.headers["X-Prodready-Profile-Id"]
    client.get("/warn")
    page = client.get("/_prod/performance")
    assert_secure_headers(page)
    text = page.get_data(as_text=True)
    assert profile_id in text
    assert "GET /warn" in text
    detail = client.get(f"/_prod/performance/profiles/{profile_id}").get_data(as_text=True)
    assert "Cumulative ms" in detail
    download = client.get(f"/_prod/performance/profiles/{profile_id}.prof")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].endswith(f"{profile_id}.prof")
    assert client.get("/_prod/performance/profiles/nope").status_code == 404


def test_arming_profiles_the_next_requests_of_a_route(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask_prodready.profiling import armed, list_profiles

    app = make_app(app_dir, monkeypatch)
    client = app.test_client()
    token = csrf(client, "/_prod/performance")
    url = "/_prod/performance/arm"
    assert client.post(url, data={"route": "/warn", "count": "2"}).status_code == 403
    response = client.post(url, data={"route": "/warn", "count": "2", "csrf_token": token})
    assert response.status_code == 303
    assert armed(app) == {"route": "/warn", "remaining": 2}
    client.get("/boom")  # another route: not profiled
    for _ in range(3):
        client.get("/warn")
    assert [p["path"] for p in list_profiles(app)] == ["/warn", "/warn"]
    assert armed(app) is None
    bad = client.post(url, data={"route": "warn", "count": "2", "csrf_token": token})
    assert bad.status_code == 400


def test_arming_with_profiling_off_is_not_found(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(app_dir, monkeypatch, profiling_enabled=False)
    client = app.test_client()
    token = csrf(client)
    data = {"route": "/warn", "count": "1", "csrf_token": token}
    assert client.post("/_prod/performance/arm", data=data).status_code == 404
    assert client.get("/_prod/").status_code == 200  # and the dashboard keeps serving
