"""The runner: deadlines, no pile-up behind a hung check, single flight, cache, redaction.

Covers ``flask_prodready.health.runner``, ``flask_prodready.health._pool``,
``flask_prodready.health.result``, ``flask_prodready.health.registry``.
"""

from __future__ import annotations

import json
import os
import select
import threading
import time
from collections import Counter
from typing import Any

import pytest
from flask import Flask

from flask_prodready import CheckOutcome, HealthResult, HealthRunner, HealthStatus, get_health
from flask_prodready.health import HealthRegistry

from .support.apps import HealthApps
from .support.servers import wait_until

SECRET_DSN = "postgresql://user:secret@db/app"


def pool_threads(runner: HealthRunner) -> list[threading.Thread]:
    prefix = runner.thread_name_prefix + "-"
    return [thread for thread in threading.enumerate() if thread.name.startswith(prefix)]


def test_a_hung_check_answers_in_time_and_starts_no_new_thread(health_apps: HealthApps) -> None:
    # Cache off: only the "never start a check twice" rule can prevent a pile-up here.
    app, prodready = health_apps.make(health_cache_ttl=0)
    calls = Counter[str]()

    @prodready.health.check("stuck", timeout=0.5)
    def stuck() -> None:
        calls["stuck"] += 1
        health_apps.hang()  # "sleeps 60 s"

    client = app.test_client()
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 1.5
    assert response.status_code == 503
    entry = response.get_json(force=True)["checks"]["stuck"][0]
    assert entry["status"] == "fail"
    # On a machine so busy that the thread did not even start within 0.5 s, the output says
    # so ("not started within 0.5s: ..."); either way the answer came in time.
    assert entry["output"] == "timeout after 0.5s" or entry["output"].startswith(
        "not started within 0.5s"
    )

    def hung() -> bool:
        if calls["stuck"] == 0:
            client.get("/readyz")  # starts the run again if it never started
        return calls["stuck"] == 1

    wait_until(hung, 10, "the check to hang")

    runner = get_health(app)
    threads_before = threading.active_count()
    assert len(pool_threads(runner)) == 1
    for _ in range(50):
        again = client.get("/readyz")
        assert again.status_code == 503
        assert again.get_json(force=True)["checks"]["stuck"][0]["output"] == "timeout after 0.5s"
    assert calls["stuck"] == 1, "the hung check was never started again"
    assert len(pool_threads(runner)) == 1
    assert threading.active_count() <= threads_before


def test_a_hung_check_runs_again_once_it_returns(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make(health_cache_ttl=0)
    calls = Counter[str]()

    @prodready.health.check("slow", timeout=0.3)
    def slow() -> None:
        calls["slow"] += 1
        if calls["slow"] == 1:
            health_apps.hang()

    client = app.test_client()
    assert client.get("/readyz").status_code == 503
    wait_until(lambda: calls["slow"] == 1, 10, "the first run to start")
    assert client.get("/readyz").status_code == 503, "still hung: the timeout, at once"
    runner = get_health(app)
    timed_out = runner.last_results()["slow"]
    health_apps.release.set()
    wait_until(lambda: runner.last_results()["slow"] is not timed_out, 10, "the run to return")
    assert client.get("/readyz").status_code == 200
    assert calls["slow"] == 2


def test_when_every_thread_is_busy_checks_fail_fast_and_nothing_queues(
    health_apps: HealthApps,
) -> None:
    app, prodready = health_apps.make(health_max_workers=1, health_cache_ttl=0)
    prodready.health.add("stuck", lambda: health_apps.hang(), timeout=0.3)
    prodready.health.add("fine", lambda: None, timeout=0.3)
    client = app.test_client()
    for _ in range(5):
        started = time.monotonic()
        checks = client.get("/healthz").get_json(force=True)["checks"]
        assert time.monotonic() - started < 1.5
        assert checks["stuck"][0]["output"] == "timeout after 0.3s"
        assert checks["fine"][0]["output"] == (
            "not started within 0.3s: all 1 health check threads are busy"
        )
    runner = get_health(app)
    assert runner.pool_threads == 1
    assert runner._pool.queued == 0


def test_concurrent_requests_share_one_run_per_ttl(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make(health_cache_ttl=60)
    calls = Counter[str]()
    lock = threading.Lock()

    @prodready.health.check("database")
    def database() -> None:
        with lock:
            calls["database"] += 1
        time.sleep(0.3)

    @prodready.health.check("cache")
    def cache() -> None:
        with lock:
            calls["cache"] += 1

    barrier = threading.Barrier(500, timeout=60)
    statuses: list[int] = []

    def probe() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.get("/readyz")
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=probe) for _ in range(500)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 500
    assert calls == {"database": 1, "cache": 1}


def test_results_expire_after_the_ttl() -> None:
    app = Flask("ttl")
    runner = HealthRunner(cache_ttl=0.2)
    calls = Counter[str]()
    runner.add("count", lambda: calls.update(["count"]))
    runner.run(app=app)
    time.sleep(0.3)
    runner.run(app=app)
    assert calls["count"] == 2
    runner.run(app=app, use_cache=False)
    assert calls["count"] == 3, "use_cache=False always runs"


def test_a_fresh_result_is_reused() -> None:
    app = Flask("cache")
    runner = HealthRunner(cache_ttl=60)
    calls = Counter[str]()
    runner.add("count", lambda: calls.update(["count"]))
    first = runner.run(app=app)
    assert runner.run(app=app).checks[0] is first.checks[0]
    assert calls["count"] == 1


def test_outputs_are_redacted_everywhere(health_apps: HealthApps) -> None:
    from flask_prodready.testing import capture_logs

    app, prodready = health_apps.make()
    seen: list[CheckOutcome] = []

    @prodready.health.check("db")
    def db() -> None:
        raise ConnectionError(f"could not connect to {SECRET_DSN}")

    @prodready.health.check("config", critical=False)
    def config() -> HealthResult:
        return HealthResult(
            "warn", f"using {SECRET_DSN}", observed_value={"dsn": "x", "url": SECRET_DSN}
        )

    get_health(app).add_listener(seen.append)
    with capture_logs() as lines:
        response = app.test_client().get("/healthz")
    logged = json.dumps(lines)
    text = response.get_data(as_text=True)
    assert "secret" not in text
    checks = response.get_json(force=True)["checks"]
    assert checks["db"][0]["output"] == (
        "ConnectionError: could not connect to postgresql://user:***@db/app"
    )
    assert checks["config"][0]["observedValue"] == {
        "dsn": "***",
        "url": "postgresql://user:***@db/app",
    }
    assert "secret" not in repr(get_health(app).last_results())
    assert "secret" not in repr(seen)
    assert "secret" not in logged
    assert "health check db: fail" in logged


def test_unexpected_return_values_and_odd_observations() -> None:
    app = Flask("odd")
    runner = HealthRunner()
    runner.add("returns-true", lambda: True)  # type: ignore[arg-type,return-value]
    runner.add("set", lambda: HealthResult(observed_value={1, 2}))
    runner.add("nan", lambda: HealthResult(observed_value=float("nan")))
    outcomes = runner.run(app=app).outcomes
    assert outcomes["returns-true"].status is HealthStatus.FAIL
    assert outcomes["returns-true"].output == (
        "the check returned a bool; return None or a HealthResult"
    )
    assert outcomes["set"].observed_value == "{1, 2}"
    assert outcomes["nan"].observed_value == "nan"


def test_long_outputs_are_shortened() -> None:
    runner = HealthRunner()
    runner.add("chatty", lambda: HealthResult("warn", "x" * 5000))
    output = runner.run(app=Flask("chatty")).checks[0].output
    assert output is not None
    assert len(output) == 500
    assert output.endswith("...")


def test_last_results_and_listeners_give_status_and_duration(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make()
    prodready.health.add("ok", lambda: None)
    prodready.health.add("stuck", lambda: health_apps.hang(), timeout=0.2, critical=False)
    runner = get_health(app)
    heard: list[tuple[str, HealthStatus]] = []
    runner.add_listener(lambda outcome: heard.append((outcome.name, outcome.status)))

    def broken(outcome: CheckOutcome) -> None:
        raise RuntimeError("listener bug")

    runner.add_listener(broken)
    assert runner.last_results() == {}
    report = runner.run(app=app)
    assert report.status is HealthStatus.WARN
    results = runner.last_results()
    assert results["ok"].status is HealthStatus.PASS
    assert results["stuck"].status is HealthStatus.FAIL
    assert results["stuck"].duration == 0.2
    assert results["ok"].duration >= 0
    assert sorted(heard) == [("ok", HealthStatus.PASS), ("stuck", HealthStatus.FAIL)]


def test_health_result_refuses_unknown_statuses() -> None:
    assert HealthResult("warn").status is HealthStatus.WARN
    with pytest.raises(ValueError, match="'pass', 'warn' or 'fail'"):
        HealthResult("ok")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"name": "has space"}, ValueError, "health check name"),
        ({"name": "a:b"}, ValueError, "health check name"),
        ({"func": "not callable"}, TypeError, "must be callable"),
        ({"timeout": 0}, ValueError, "positive number of seconds"),
        ({"timeout": float("inf")}, ValueError, "positive number of seconds"),
        ({"tags": "ready"}, TypeError, "list of tags"),
        ({"tags": ("redy",)}, ValueError, "unknown tag"),
    ],
)
def test_bad_registrations_name_the_fix(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    arguments: dict[str, Any] = {"name": "db", "func": lambda: None, **kwargs}
    name, func = arguments.pop("name"), arguments.pop("func")
    with pytest.raises(error, match=match):
        HealthRegistry().add(name, func, **arguments)


def test_close_ends_idle_threads_and_the_runner_keeps_working() -> None:
    app = Flask("close")
    runner = HealthRunner()
    runner.add("ok", lambda: None)
    runner.run(app=app)
    assert runner.pool_threads == 1
    runner.close()
    wait_until(lambda: runner.pool_threads == 0, 10, "the idle thread to end")
    assert runner.run(app=app, use_cache=False).status is HealthStatus.PASS


def test_run_outside_an_app_context_needs_the_app() -> None:
    runner = HealthRunner()
    with pytest.raises(RuntimeError, match="application context"):
        runner.run()


def test_drain_fails_readiness_at_once(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make()
    calls = Counter[str]()
    prodready.health.add("db", lambda: calls.update(["db"]))
    get_health(app).drain("shutting down for a test")
    client = app.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json(force=True) == {
        "status": "fail",
        "output": "shutting down for a test",
        "checks": {},
    }
    assert calls["db"] == 0, "draining answers without running checks"
    assert client.get("/livez").status_code == 200
    assert client.get("/healthz").get_json(force=True)["notes"] == ["shutting down for a test"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_inherit_the_parents_runs(health_apps: HealthApps) -> None:
    """gunicorn's preload_app forks workers from a master that may have run checks."""
    parent = os.getpid()
    app = Flask("forked")
    runner = HealthRunner(cache_ttl=0, timeout=0.3)
    runner.add("stuck-in-parent", lambda: health_apps.hang() if os.getpid() == parent else None)
    assert runner.run(app=app).status is HealthStatus.FAIL, "the parent's run hangs"
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read_end)
            os.write(write_end, runner.run(app=app).status.value.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 20)
        answer = os.read(read_end, 16).decode() if ready else "no answer"
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    assert answer == "pass"
