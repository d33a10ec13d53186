"""Dashboard sessions: logout ends a session in every worker, CSRF rotation at login, a login
page that tells nothing, basic auth hashed once per session, and throttling that one client
cannot turn against the others.

Covers ``dashboard.csrf``, ``dashboard.sessions``, ``dashboard.throttle``.
"""

from __future__ import annotations

import importlib
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from flask_prodready import get_state
from flask_prodready._version import __version__
from flask_prodready.store import StoreError

from .support.apps import AppDir
from .support.chromium import chromium, open_page
from .support.gunicorn import serve_wsgi
from .test_dashboard import basic, csrf, fire_health_failing, make_app

TOKEN = "t0ken-for-the-dashboard"


def token_app(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch, **overrides: object) -> Flask:
    return make_app(app_dir, monkeypatch, env="production", dashboard_token=TOKEN, **overrides)


def login(client: FlaskClient, token: str = TOKEN, **environ: str) -> int:
    """Sign in through the form; the status of the POST."""
    csrf_token = csrf(client, "/_prod/login")
    response = client.post(
        "/_prod/login",
        data={"token": token, "csrf_token": csrf_token},
        environ_base=environ,
    )
    return response.status_code


def cookie(client: FlaskClient, name: str) -> str:
    found = client.get_cookie(name, path="/_prod")
    assert found is not None, name
    return found.value


def replay(app: Flask, session_cookie: str) -> int:
    """A fresh client presenting only ``session_cookie``: the status of the overview."""
    client = app.test_client()
    client.set_cookie("prodready_dashboard", session_cookie, path="/_prod")
    return client.get("/_prod/").status_code


def logout(client: FlaskClient) -> int:
    return client.post("/_prod/logout", data={"csrf_token": csrf(client, "/_prod/")}).status_code


def break_store(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: object, **kwargs: object) -> Any:
        raise StoreError("Redis error store: ConnectionError: connection refused")

    store = get_state(app).components["error_store"]
    monkeypatch.setattr(store, "values", down)
    monkeypatch.setattr(store, "set_value", down)


# -- logout ends the session on the server ------------------------------------------------


def test_a_cookie_replayed_after_logout_is_refused_by_every_worker(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two apps on one store stand for two gunicorn workers.
    worker_a = token_app(app_dir, monkeypatch)
    worker_b = token_app(app_dir, monkeypatch)
    client = worker_a.test_client()
    assert login(client) == 303
    stolen = cookie(client, "prodready_dashboard")
    assert replay(worker_b, stolen) == 200, "a session is good in every worker"
    assert logout(client) == 303
    assert replay(worker_a, stolen) == 303, "the worker that logged out refuses the cookie"
    assert replay(worker_b, stolen) == 303, "and so does every other worker"
    assert login(client) == 303, "a new login works"
    assert client.get("/_prod/").status_code == 200


def test_with_the_store_down_old_sessions_are_refused_but_a_new_login_works(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker_a = token_app(app_dir, monkeypatch)
    worker_b = token_app(app_dir, monkeypatch)
    before = worker_a.test_client()
    assert login(before) == 303
    old_session = cookie(before, "prodready_dashboard")
    with monkeypatch.context() as outage:
        break_store(worker_a, outage)
        break_store(worker_b, outage)
        # Fail closed: another worker may have revoked it while this one cannot tell.
        assert replay(worker_a, old_session) == 303
        assert replay(worker_b, old_session) == 303
        during = worker_a.test_client()
        assert login(during) == 303, "signing in again still works"
        new_session = cookie(during, "prodready_dashboard")
        assert during.get("/_prod/").status_code == 200
        assert replay(worker_b, new_session) == 200, "in every worker"
        assert logout(during) == 303
        assert replay(worker_a, new_session) == 303, "a logout during the outage holds"
    for worker in (worker_a, worker_b):
        revocations = get_state(worker).components["dashboard"].access.revocations
        revocations.backoff = 0.0  # the 5 s of backoff after a failure are over
    # The store is back: the logout reaches the other workers, the old session is good again.
    assert replay(worker_a, old_session) == 200
    assert replay(worker_b, new_session) == 303
    assert replay(worker_b, old_session) == 200


# -- CSRF --------------------------------------------------------------------------------


def test_a_csrf_token_planted_before_login_is_refused_after_it(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = token_app(app_dir, monkeypatch)
    client = app.test_client()
    client.get("/boom")
    fingerprint = get_state(app).components["error_store"].groups()[0].fingerprint
    url = f"/_prod/errors/{fingerprint}/resolve"
    planted = "planted-by-the-attacker"
    client.set_cookie("prodready_csrf", planted, path="/_prod")
    assert csrf(client, "/_prod/login") == planted, "the login form uses the cookie it got"
    signed_in = client.post("/_prod/login", data={"token": TOKEN, "csrf_token": planted})
    assert signed_in.status_code == 303
    rotated = cookie(client, "prodready_csrf")
    assert rotated != planted, "the login sets a new CSRF cookie"
    client.set_cookie("prodready_csrf", planted, path="/_prod")  # planted again, after login
    refused = client.post(url, data={"resolved": "1", "csrf_token": planted})
    assert refused.status_code == 403
    assert not get_state(app).components["error_store"].group(fingerprint).resolved
    token = csrf(client, f"/_prod/errors/{fingerprint}")
    assert token != planted
    assert client.post(url, data={"resolved": "1", "csrf_token": token}).status_code == 303
    assert get_state(app).components["error_store"].group(fingerprint).resolved


# -- the login page ----------------------------------------------------------------------


def test_the_login_page_shows_nothing_about_the_app(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = token_app(
        app_dir,
        monkeypatch,
        alerts_default_rules=False,
        alerts_rules={"db_down": {"expr": "health_failing", "summary": "the orders db is down"}},
    )
    client = app.test_client()
    fire_health_failing(app, client)
    page = client.get("/_prod/login", base_url="http://shop.internal.example")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    for secret in ("db_down", "orders db", "banner", "production", "shop.internal", __version__):
        assert secret not in body, secret
    assert 'name="token"' in body
    assert login(client) == 303
    inside = client.get("/_prod/").get_data(as_text=True)
    assert "db_down" in inside, "signed in, the banner is there"
    assert "production" in inside


# -- basic auth --------------------------------------------------------------------------


def test_basic_mode_runs_the_password_hash_once_per_header(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = importlib.import_module("flask_prodready.dashboard.auth")
    calls: list[str] = []
    real_check = auth.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        calls.append(password)
        return bool(real_check(pwhash, password))

    monkeypatch.setattr(auth, "check_password_hash", counting)
    app = make_app(
        app_dir,
        monkeypatch,
        env="production",
        dashboard_username="ops",
        dashboard_password_hash=generate_password_hash("correct horse"),
    )
    client = app.test_client()
    good = basic("ops", "correct horse")
    for _ in range(5):
        assert client.get("/_prod/", headers=good).status_code == 200
        assert client.get("/_prod/", headers={**good, "HX-Request": "true"}).status_code == 200
    assert calls == ["correct horse"], "the 5 s refreshes do not hash again"
    assert client.get("/_prod/", headers=basic("ops", "wrong")).status_code == 401
    assert client.get("/_prod/", headers=basic("ops", "correct horse ")).status_code == 401
    assert calls[1:] == ["wrong", "correct horse "], "another header is verified"
    assert client.get("/_prod/", headers=good).status_code == 200
    assert len(calls) == 3
    access = get_state(app).components["dashboard"].access
    later = access.verified.clock() + access.session_seconds + 1
    access.verified.clock = lambda: later
    assert client.get("/_prod/", headers=good).status_code == 200
    assert len(calls) == 4, "after a session's length, the header is verified again"
    renewed = make_app(
        app_dir,
        monkeypatch,
        env="production",
        dashboard_username="ops",
        dashboard_password_hash=generate_password_hash("battery staple"),
    )
    assert renewed.test_client().get("/_prod/", headers=good).status_code == 401


# -- throttling --------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_client_cannot_lock_out_a_browser_that_signed_in_before(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Behind a proxy with 0 trusted proxies every client has the proxy's address.
    app = token_app(app_dir, monkeypatch, dashboard_login_attempts=3)
    owner = app.test_client()
    assert login(owner) == 303
    assert logout(owner) == 303
    attacker = app.test_client()
    for _ in range(3):
        assert login(attacker, token="guess") == 401
    assert login(attacker, token="guess") == 429
    assert login(attacker) == 429, "the attacker's own key is held back, right or wrong"
    assert login(owner) == 303, "the owner's browser has its own key"
    assert owner.get("/_prod/").status_code == 200


def test_basic_failures_for_one_user_name_do_not_lock_out_another(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(
        app_dir,
        monkeypatch,
        env="production",
        dashboard_username="ops",
        dashboard_password_hash=generate_password_hash("correct horse"),
        dashboard_login_attempts=2,
    )
    client = app.test_client()
    for _ in range(4):
        assert client.get("/_prod/", headers=basic("admin", "admin")).status_code == 401
    assert client.get("/_prod/", headers=basic("ops", "correct horse")).status_code == 200


def test_the_cap_over_all_clients_slows_new_clients_for_a_window_only(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = token_app(app_dir, monkeypatch, dashboard_login_attempts=2)
    throttle = get_state(app).components["dashboard"].access.throttle
    clock = Clock()
    throttle.clock = clock
    owner = app.test_client()
    assert login(owner) == 303
    botnet = app.test_client()
    for n in range(20):  # ten times the attempts per client, one from each of many addresses
        assert login(botnet, token="guess", REMOTE_ADDR=f"198.51.100.{n}") == 401
    newcomer = app.test_client()
    assert login(newcomer, REMOTE_ADDR="203.0.113.7") == 429, "a new client waits"
    assert login(owner) == 303, "a browser that signed in before does not"
    clock.now += throttle.window + 1
    assert login(newcomer, REMOTE_ADDR="203.0.113.7") == 303, "and only for the window"


# -- in a real browser, against two gunicorn workers --------------------------------------

WSGI = f"""
from flask import Flask
from flask_prodready import ProdReady

app = Flask("sessions_app")
ProdReady(app, dashboard_token={TOKEN!r})
"""


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("dashboard-sessions")
    no_drain = {"FLASK_PRODREADY_HEALTH_DRAIN_SECONDS": "0"}  # no drain to wait for at teardown
    with serve_wsgi(root, WSGI, ready_path="/_prod/login", env=no_drain) as server:
        yield server.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def _status(url: str, cookie_header: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Cookie": cookie_header or ""})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)
    except OSError:
        return 0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.mark.slow
def test_in_chromium_a_cookie_replayed_after_sign_out_opens_nothing(
    token_server: str, browser: Any
) -> None:
    watched = open_page(browser)
    page = watched.page
    page.goto(token_server + "/_prod/")
    page.wait_for_url("**/_prod/login**")
    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/_prod/$"))
    (session,) = [c for c in page.context.cookies() if c["name"] == "prodready_dashboard"]
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/_prod/login")
    assert watched.console_errors == []
    page.context.close()

    replaying = browser.new_context()
    replaying.add_cookies([session])
    thief = replaying.new_page()
    thief.goto(token_server + "/_prod/")
    assert "/_prod/login" in thief.url
    replaying.close()
    # Either worker may answer: none lets the cookie in.
    header = f"prodready_dashboard={session['value']}"
    assert {_status(token_server + "/_prod/", header) for _ in range(10)} == {303}
