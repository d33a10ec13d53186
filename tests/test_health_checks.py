"""Built-in checks against real parts: redis-server, SQLite, an HTTP server, the disk, /proc."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine

from flask_prodready import HealthRunner, HealthStatus, SetupError, get_health
from flask_prodready.health import (
    disk_check,
    http_check,
    memory_check,
    redis_check,
    sqlalchemy_check,
)
from flask_prodready.health.checks import STATM, process_rss_bytes

from .support.apps import AppDir, HealthApps
from .support.redis import RedisServer
from .support.servers import free_port

linux_only = pytest.mark.skipif(not STATM.is_file(), reason="reads /proc/self/statm (Linux)")


def run_one(check_name: str, runner: HealthRunner) -> tuple[HealthStatus, str | None]:
    outcome = runner.run(app=Flask("checks"), use_cache=False).outcomes[check_name]
    return outcome.status, outcome.output


def test_redis_check_against_a_real_server_up_then_stopped(
    health_apps: HealthApps, redis_server: RedisServer
) -> None:
    app, prodready = health_apps.make(health_cache_ttl=0)
    prodready.health.add("cache", redis_check(redis_server.url, timeout=1.0))
    client = app.test_client()
    up = client.get("/readyz")
    assert up.status_code == 200
    assert up.get_json(force=True)["checks"]["cache"][0]["status"] == "pass"

    redis_server.stop()
    assert client.get("/livez").status_code == 200
    down = client.get("/readyz")
    assert down.status_code == 503
    output = down.get_json(force=True)["checks"]["cache"][0]["output"]
    assert output.startswith("ConnectionError: ")
    assert str(redis_server.port) in output


def test_redis_check_as_a_non_critical_dependency(
    health_apps: HealthApps, redis_server: RedisServer
) -> None:
    app, prodready = health_apps.make(health_cache_ttl=0)
    prodready.health.add("cache", redis_check(redis_server.url, timeout=1.0), critical=False)
    redis_server.stop()
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json(force=True)["status"] == "warn"


def test_redis_check_needs_a_url_or_client() -> None:
    with pytest.raises(TypeError, match="url or a client"):
        redis_check()


def test_sqlalchemy_check(tmp_path: Path) -> None:
    good = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    missing = create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    runner = HealthRunner()
    runner.add("good", sqlalchemy_check(good))
    runner.add("lazy", sqlalchemy_check(lambda: good))
    runner.add("missing", sqlalchemy_check(missing))
    assert run_one("good", runner)[0] is HealthStatus.PASS
    assert run_one("lazy", runner)[0] is HealthStatus.PASS
    status, output = run_one("missing", runner)
    assert status is HealthStatus.FAIL
    assert output is not None
    assert output.startswith("OperationalError: (sqlite3.OperationalError) unable to open")
    good.dispose()
    missing.dispose()


def test_http_check_expects_a_status(upstream: str) -> None:
    runner = HealthRunner()
    runner.add("ok", http_check(f"{upstream}/200"))
    runner.add("unavailable", http_check(f"{upstream}/503"))
    runner.add("teapot-expected", http_check(f"{upstream}/418", expect_status=418))
    runner.add("one-of", http_check(f"{upstream}/204", expect_status=(200, 204)))
    runner.add("refused", http_check(f"http://127.0.0.1:{free_port()}/", timeout=1.0))
    outcomes = runner.run(app=Flask("http")).outcomes
    assert outcomes["ok"].status is HealthStatus.PASS
    assert outcomes["ok"].observed_value == 200
    assert outcomes["unavailable"].status is HealthStatus.FAIL
    assert outcomes["unavailable"].output == f"GET {upstream}/503 answered 503, expected 200-299"
    assert outcomes["unavailable"].observed_value == 503
    assert outcomes["teapot-expected"].status is HealthStatus.PASS
    assert outcomes["one-of"].status is HealthStatus.PASS
    assert outcomes["refused"].status is HealthStatus.FAIL
    assert "URLError" in (outcomes["refused"].output or "")


def test_http_check_sends_url_credentials_and_never_shows_the_password(upstream: str) -> None:
    host = upstream.removeprefix("http://")
    runner = HealthRunner()
    runner.add("right", http_check(f"http://user:hunter2@{host}/private"))
    runner.add("wrong", http_check(f"http://user:wrong-pw@{host}/private"))
    outcomes = runner.run(app=Flask("auth")).outcomes
    assert outcomes["right"].status is HealthStatus.PASS
    assert outcomes["wrong"].status is HealthStatus.FAIL
    assert outcomes["wrong"].output == (
        f"GET http://user:***@{host}/private answered 401, expected 200-299"
    )


def test_http_check_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        http_check("file:///etc/passwd")


def test_disk_check(tmp_path: Path) -> None:
    runner = HealthRunner()
    runner.add("roomy", disk_check(tmp_path, min_free_mb=0))
    runner.add("full", disk_check(tmp_path, min_free_mb=1e12))
    outcomes = runner.run(app=Flask("disk")).outcomes
    assert outcomes["roomy"].status is HealthStatus.PASS
    assert outcomes["roomy"].observed_unit == "MiB"
    assert outcomes["roomy"].observed_value > 0
    assert outcomes["full"].status is HealthStatus.FAIL
    assert f"MiB free on {tmp_path}, below 1e+12 MiB" in (outcomes["full"].output or "")


def test_disk_check_from_settings(health_apps: HealthApps, tmp_path: Path) -> None:
    app, _ = health_apps.make(health_disk_path=str(tmp_path), health_disk_min_free_mb=1e12)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json(force=True)["checks"]["disk"][0]["observedUnit"] == "MiB"


@linux_only
def test_memory_check() -> None:
    assert process_rss_bytes() > 1024 * 1024
    runner = HealthRunner()
    runner.add("ok", memory_check(max_rss_mb=1e9))
    runner.add("over", memory_check(max_rss_mb=1))
    outcomes = runner.run(app=Flask("memory")).outcomes
    assert outcomes["ok"].status is HealthStatus.PASS
    assert outcomes["over"].status is HealthStatus.FAIL
    assert (outcomes["over"].output or "").endswith("MiB is above 1 MiB")


@linux_only
def test_memory_check_from_settings_is_a_liveness_check(health_apps: HealthApps) -> None:
    app, _ = health_apps.make(health_memory_max_rss_mb=1)
    client = app.test_client()
    assert client.get("/livez").status_code == 503, "a leaking process should be restarted"
    assert client.get("/readyz").status_code == 200
    assert [check.name for check in get_health(app).checks] == ["memory"]


def test_memory_check_explains_where_it_cannot_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("flask_prodready.health.checks.STATM", Path("/nonexistent/statm"))
    with pytest.raises(SetupError, match="exists only on Linux"):
        memory_check(max_rss_mb=100)


def test_the_error_store_check_against_a_real_redis_up_then_stopped(
    app_dir: AppDir, redis_server: RedisServer
) -> None:
    from flask_prodready import ProdReady

    app = app_dir.flask()
    ProdReady(
        app,
        health_store_check=True,
        health_cache_ttl=0,
        error_store="redis",
        error_store_url=redis_server.url,
    )
    client = app.test_client()
    assert (
        client.get("/healthz").get_json(force=True)["checks"]["error_store"][0]["status"] == "pass"
    )
    redis_server.stop()
    ready = client.get("/readyz")
    assert ready.status_code == 200, "non-critical: the app still takes traffic"
    assert ready.get_json(force=True)["status"] == "warn"
