"""The health endpoints: status codes, the health+json body, who sees details, start-up.

Covers ``flask_prodready.health.views``, ``flask_prodready.health.settings``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask, current_app
from sqlalchemy import create_engine

from flask_prodready import (
    ConfigError,
    HealthResult,
    ProdReady,
    SetupError,
    get_health,
    get_state,
    register_check,
)
from flask_prodready.health import CheckFunction, sqlalchemy_check

from .support.apps import AppDir, HealthApps

ANONYMOUS = {"REMOTE_ADDR": "203.0.113.9"}
ENDPOINT_OF_TAG = {"live": "/livez", "ready": "/readyz", "startup": "/startupz"}


def passing() -> None:
    return None


def warning() -> HealthResult:
    return HealthResult("warn", "replica lag 12s", observed_value=12, observed_unit="s")


def failing() -> None:
    raise ConnectionError("database is down")


def failing_result() -> HealthResult:
    return HealthResult("fail", "queue is full")


CASES = [
    # (check, critical, expected status code, expected status)
    pytest.param(passing, True, 200, "pass", id="pass"),
    pytest.param(warning, True, 200, "warn", id="warn"),
    pytest.param(failing, False, 200, "warn", id="non-critical-fail-degrades"),
    pytest.param(failing, True, 503, "fail", id="critical-raise"),
    pytest.param(failing_result, True, 503, "fail", id="critical-fail-result"),
]


@pytest.mark.parametrize("tag", ["live", "ready", "startup", None])
@pytest.mark.parametrize(("check", "critical", "code", "status"), CASES)
def test_each_endpoint_answers_pass_warn_and_fail(
    health_apps: HealthApps,
    tag: str | None,
    check: CheckFunction,
    critical: bool,
    code: int,
    status: str,
) -> None:
    app, prodready = health_apps.make()
    tags = () if tag is None else (tag,)
    prodready.health.add("dependency", check, critical=critical, tags=tags)
    path = "/healthz" if tag is None else ENDPOINT_OF_TAG[tag]
    response = app.test_client().get(path)
    assert response.status_code == code
    assert response.mimetype == "application/health+json"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json(force=True)
    assert body["status"] == status
    (entry,) = body["checks"]["dependency"]
    assert entry["critical"] is critical
    assert entry["time"].endswith("Z")
    assert entry["duration"] >= 0


def test_checks_run_only_for_the_endpoints_of_their_tags(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make()
    prodready.health.add("db", failing)  # tagged "ready" by default
    prodready.health.add("report-only", failing, critical=False, tags=())
    client = app.test_client()
    livez = client.get("/livez")
    assert livez.status_code == 200, "no dependency checks in /livez by default"
    assert livez.get_json(force=True) == {"status": "pass", "checks": {}}
    assert client.get("/readyz").status_code == 503
    report = client.get("/healthz").get_json(force=True)
    assert set(report["checks"]) == {"db", "report-only"}
    assert report["status"] == "fail"


def test_body_follows_the_ietf_format_with_details(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make()
    prodready.health.add("lag", warning)
    prodready.health.add("db", failing)
    body = app.test_client().get("/readyz").get_json(force=True)
    assert body["status"] == "fail"
    lag = body["checks"]["lag"][0]
    assert lag["status"] == "warn"
    assert lag["output"] == "replica lag 12s"
    assert (lag["observedValue"], lag["observedUnit"]) == (12, "s")
    assert body["checks"]["db"][0]["output"] == "ConnectionError: database is down"
    assert set(body["checks"]["db"][0]) == {"status", "time", "duration", "critical", "output"}


def test_head_requests_get_the_status_code(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make()
    prodready.health.add("db", failing)
    response = app.test_client().head("/readyz")
    assert response.status_code == 503
    assert response.data == b""


def test_anonymous_callers_get_only_the_status(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make(health_token="s3cret-token")
    prodready.health.add("db", failing)
    client = app.test_client()
    for path, code in [("/readyz", 503), ("/healthz", 503), ("/livez", 200)]:
        response = client.get(path, environ_base=ANONYMOUS)
        assert response.status_code == code
        assert response.get_json(force=True) == {"status": "fail" if code == 503 else "pass"}
        assert b"database is down" not in response.data
    wrong = client.get("/readyz", environ_base=ANONYMOUS, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 503, "a bad token changes nothing but the details"
    assert wrong.get_json(force=True) == {"status": "fail"}


def test_details_for_loopback_the_token_and_allowed_networks(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make(
        health_token="s3cret-token", health_allow_networks="10.0.0.0/8"
    )
    prodready.health.add("db", failing)
    client = app.test_client()
    callers = [
        {},  # the test client's loopback address
        {"environ_base": ANONYMOUS, "headers": {"Authorization": "Bearer s3cret-token"}},
        {"environ_base": {"REMOTE_ADDR": "10.1.2.3"}},
    ]
    for caller in callers:
        body = client.get("/readyz", **caller).get_json(force=True)
        assert body["checks"]["db"][0]["output"] == "ConnectionError: database is down"


@pytest.mark.parametrize(
    ("mode", "anonymous_sees", "loopback_sees"), [("always", True, True), ("never", False, False)]
)
def test_details_setting(
    health_apps: HealthApps, mode: str, anonymous_sees: bool, loopback_sees: bool
) -> None:
    app, prodready = health_apps.make(health_details=mode)
    prodready.health.add("db", passing)
    client = app.test_client()
    assert ("checks" in client.get("/healthz", environ_base=ANONYMOUS).get_json(force=True)) is (
        anonymous_sees
    )
    assert ("checks" in client.get("/healthz").get_json(force=True)) is loopback_sees


def test_database_down_fails_readiness_not_liveness(
    health_apps: HealthApps, tmp_path: Path
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'directory' / 'app.db'}")
    app, prodready = health_apps.make()
    prodready.health.add("database", sqlalchemy_check(engine))
    client = app.test_client()
    assert client.get("/livez").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert (
        "unable to open database file"
        in ready.get_json(force=True)["checks"]["database"][0]["output"]
    )
    engine.dispose()


def test_startup_waits_for_declared_tasks(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make()
    prodready.health.add("db", passing)
    runner = get_health(app)
    migrations = runner.startup_task("migrations")
    warm = runner.startup_task("warm-cache")
    client = app.test_client()
    startupz = client.get("/startupz")
    assert startupz.status_code == 503
    assert startupz.get_json(force=True)["output"] == "starting: waiting for migrations, warm-cache"
    assert client.get("/readyz").status_code == 503, "no traffic before start-up"
    assert client.get("/livez").status_code == 200, "starting is not dead"
    assert client.get("/healthz").get_json(force=True)["notes"] == [
        "start-up not finished: migrations, warm-cache"
    ]
    migrations.done()
    with warm:
        pass
    assert client.get("/startupz").status_code == 200
    assert client.get("/readyz").status_code == 200
    with pytest.raises(SetupError, match="already finished"):
        runner.startup_task("late")


def test_a_failed_startup_task_keeps_startupz_failing(health_apps: HealthApps) -> None:
    app, _ = health_apps.make()
    task = get_health(app).startup_task("migrations")
    with pytest.raises(RuntimeError), task:
        raise RuntimeError("cannot reach postgresql://app:hunter2@db/app")
    response = app.test_client().get("/startupz")
    assert response.status_code == 503
    output = response.get_json(force=True)["output"]
    assert output.startswith("start-up failed: migrations: RuntimeError: cannot reach")
    assert "hunter2" not in output
    assert task.state == "failed"


def test_startup_checks_gate_startupz_until_they_pass_once(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make(health_cache_ttl=0)
    ready = {"value": False}

    @prodready.health.check("schema", tags=("startup",))
    def schema() -> HealthResult:
        return HealthResult("pass" if ready["value"] else "fail", "schema not migrated")

    client = app.test_client()
    assert client.get("/startupz").status_code == 503
    assert client.get("/readyz").status_code == 503
    ready["value"] = True
    assert client.get("/startupz").status_code == 200
    ready["value"] = False
    assert client.get("/startupz").status_code == 200, "start-up, once finished, stays finished"
    assert client.get("/readyz").status_code == 200


def test_paths_are_configurable(health_apps: HealthApps) -> None:
    app, _ = health_apps.make(health_ready_path="/ops/ready", health_live_path="/ops/live")
    client = app.test_client()
    assert client.get("/ops/ready").status_code == 200
    assert client.get("/ops/live").status_code == 200
    assert client.get("/readyz").status_code == 404
    with app.test_request_context():
        from flask import url_for

        assert url_for("prodready_health.readyz") == "/ops/ready"


def test_two_endpoints_on_one_path_are_refused(app_dir: AppDir) -> None:
    app = app_dir.flask()
    with pytest.raises(ConfigError, match="PRODREADY_HEALTH_REPORT_PATH: '/readyz' is already"):
        ProdReady(app, health_report_path="/readyz")
    assert "prodready" not in app.extensions, "no half-set-up state is left"


def test_bad_health_settings_are_named(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_PRODREADY_HEALTH_TIMEOUT", "0")
    monkeypatch.setenv("FLASK_PRODREADY_HEALTH_CACHE_TTL", "nan")
    monkeypatch.setenv("FLASK_PRODREADY_HEALTH_DETAILS", "sometimes")
    monkeypatch.setenv("FLASK_PRODREADY_HEALTH_READY_PATH", "/readyz/")
    monkeypatch.setenv("FLASK_PRODREADY_HEALTH_ALLOW_NETWORKS", "10.0.0.300/8")
    with pytest.raises(ConfigError) as excinfo:
        app_dir.app()
    assert {p.key for p in excinfo.value.problems} == {
        "PRODREADY_HEALTH_TIMEOUT",
        "PRODREADY_HEALTH_CACHE_TTL",
        "PRODREADY_HEALTH_DETAILS",
        "PRODREADY_HEALTH_READY_PATH",
        "PRODREADY_HEALTH_ALLOW_NETWORKS",
    }


def test_switched_off_health_registers_nothing(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make(health_enabled=False)
    prodready.health.add("db", failing)  # registering stays possible
    assert app.test_client().get("/readyz").status_code == 404
    assert "health" not in get_state(app).components
    with pytest.raises(SetupError, match="PRODREADY_HEALTH_ENABLED"):
        get_health(app)


def test_checks_registered_after_init_app_count(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make()
    client = app.test_client()
    assert client.get("/readyz").status_code == 200

    @prodready.health.check("db")
    def db() -> None:
        raise ConnectionError("down")

    assert client.get("/readyz").status_code == 503


def test_one_extension_runs_its_checks_in_each_apps_context(app_dir: AppDir) -> None:
    prodready = ProdReady(dashboard_enabled=False)
    seen: list[str] = []

    @prodready.health.check("which-app")
    def which_app() -> None:
        seen.append(current_app.name)

    first, second = Flask("first", root_path=str(app_dir.root)), Flask("second")
    second.root_path = str(app_dir.root)
    prodready.init_app(first)
    prodready.init_app(second)
    register_check(first, "first-only", failing)
    assert first.test_client().get("/readyz").status_code == 503
    assert second.test_client().get("/readyz").status_code == 200
    assert sorted(seen) == ["first", "second"]
    assert [c.name for c in get_health(second).checks] == ["which-app"]


def test_check_names_are_unique_per_app(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make()
    prodready.health.add("db", passing)
    with pytest.raises(SetupError, match="already registered"):
        prodready.health.add("db", passing)
    with pytest.raises(SetupError, match="already registered for the app"):
        register_check(app, "db", passing)
    register_check(app, "cache", passing)
    with pytest.raises(SetupError, match="already registered for the app"):
        prodready.health.add("cache", passing)


def test_check_status_and_duration_are_exported_as_metrics(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make()
    prodready.health.add("database", lambda: None)

    @prodready.health.check("cache", critical=False)
    def cache() -> None:
        raise ConnectionError("down")

    client = app.test_client()
    client.get("/readyz")
    client.get("/healthz")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'prodready_health_check_status{check="database",critical="true"} 1.0' in text
    assert 'prodready_health_check_status{check="cache",critical="false"} 0.0' in text
    assert 'prodready_health_check_duration_seconds{check="database"}' in text
