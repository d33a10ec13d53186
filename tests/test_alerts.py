"""Alerts: rate-of-change rules over a synthetic workload, receivers, export to Prometheus.

Covers ``flask_prodready.alerts.engine``, ``flask_prodready.alerts.notify``,
``flask_prodready.alerts.prometheus_rules``, ``flask_prodready.alerts.rules``,
``flask_prodready.alerts.settings``, ``flask_prodready.alerts.signals``.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_prodready import ConfigError, get_state
from flask_prodready.alerts import (
    DEFAULT_RULES,
    AlertEngine,
    Notifier,
    SampleSignals,
    export_prometheus_rules,
    parse_rule,
)
from flask_prodready.snapshots import MetricsSample, SampleRingBuffer
from flask_prodready.store import MemoryErrorStore

from .support.apps import AppDir
from .support.requires import require_executable

BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
STEP = 15.0


class Workload:
    """Synthetic traffic on one route, sampled every 15 s like the metrics part does."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.samples = SampleRingBuffer(1000)
        self.totals = MetricsSample.new_row(BOUNDS)
        self.samples.append(self._sample())

    def _sample(self) -> MetricsSample:
        from array import array

        return MetricsSample(self.now, BOUNDS, {"/orders": array("d", self.totals)})

    def run(self, seconds: float, per_second: float, error_share: float, latency: float) -> None:
        """Advance ``seconds`` of traffic, one sample every 15 s."""
        steps = int(seconds // STEP)
        for _ in range(steps):
            requests = per_second * STEP
            self.totals[0] += requests
            self.totals[1] += requests * error_share
            for index, bound in enumerate(BOUNDS):
                if latency <= bound:
                    self.totals[2 + index] += requests
            self.now += STEP
            self.samples.append(self._sample())


def engine_for(work: Workload, *rule_names: str, **changes: Any) -> AlertEngine:
    rules = [parse_rule(name, {**DEFAULT_RULES[name], **changes}) for name in rule_names]
    return AlertEngine(rules, SampleSignals(work.samples), interval=STEP, clock=lambda: work.now)


def drive(engine: AlertEngine, work: Workload, seconds: float, **traffic: float) -> list[str]:
    """Run traffic and evaluate after every sample; the states seen, without repeats."""
    seen: list[str] = []
    for _ in range(int(seconds // STEP)):
        work.run(STEP, **traffic)  # type: ignore[arg-type]
        (state,) = engine.evaluate() or []
        if not seen or seen[-1] != state.state:
            seen.append(state.state)
    return seen


STEADY = {"per_second": 10.0, "error_share": 0.01, "latency": 0.08}


def test_steady_traffic_fires_nothing() -> None:
    work = Workload()
    engine = engine_for(work, "error_rate_jump")
    assert drive(engine, work, 3600, **STEADY) == ["inactive"]
    latency = engine_for(work, "latency_doubled")
    assert drive(latency, work, 3600, **STEADY) == ["inactive"]


def test_an_error_jump_fires_after_for_and_resolves_when_traffic_recovers() -> None:
    work = Workload()
    engine = engine_for(work, "error_rate_jump")
    drive(engine, work, 900, **STEADY)
    jumped = {**STEADY, "error_share": 0.08}
    pending_at = firing_at = None
    for _ in range(int(300 // STEP)):
        work.run(STEP, **jumped)
        (state,) = engine.evaluate() or []
        if state.state == "pending" and pending_at is None:
            pending_at = work.now
        if state.state == "firing" and firing_at is None:
            firing_at = work.now
    assert pending_at is not None, "pending first"
    assert firing_at is not None, "then firing"
    assert firing_at - pending_at >= 60, "firing once 'for' (1m) has passed"
    assert engine.states()[0].value > 5 * 0.01
    recovered = drive(engine, work, 600, **STEADY)
    assert recovered[-2:] == ["resolved", "inactive"], "resolves when traffic recovers"
    changes = [entry["state"] for entry in engine.history()]
    assert changes == ["resolved", "firing"], "newest first, one entry per change"


def test_a_few_errors_below_the_minimum_volume_fire_nothing() -> None:
    work = Workload()
    engine = engine_for(work, "error_rate_jump")
    quiet = {"per_second": 0.01, "error_share": 0.0, "latency": 0.08}
    drive(engine, work, 900, **quiet)
    assert drive(engine, work, 600, per_second=0.02, error_share=1.0, latency=0.08) == ["inactive"]


def test_a_previous_value_of_zero_uses_the_floor() -> None:
    work = Workload()
    engine = engine_for(work, "error_rate_jump")
    clean = {**STEADY, "error_share": 0.0}
    drive(engine, work, 900, **clean)
    assert drive(engine, work, 120, **{**STEADY, "error_share": 0.03}) == ["inactive"]
    assert "firing" in drive(engine, work, 180, **{**STEADY, "error_share": 0.2})


def test_latency_doubling_fires() -> None:
    work = Workload()
    engine = engine_for(work, "latency_doubled", **{"for": "1m"})
    drive(engine, work, 1800, **STEADY)
    slow = {**STEADY, "latency": 0.4}
    assert drive(engine, work, 600, **slow)[-1] == "firing"


def test_thresholds_and_per_route_rules() -> None:
    work = Workload()
    rule = parse_rule("orders_errors", {"expr": "error_rate > 0.05", "route": "/orders"})
    other = parse_rule("other_route", {"expr": "error_rate > 0.05", "route": "/nothing"})
    engine = AlertEngine([rule, other], SampleSignals(work.samples), clock=lambda: work.now)
    work.run(600, per_second=10, error_share=0.1, latency=0.08)
    states = {s.name: s.state for s in engine.evaluate() or []}
    assert states == {"orders_errors": "firing", "other_route": "inactive"}


def test_the_sample_read_during_an_evaluation_ends_its_window() -> None:
    """The fresh reading comes a moment after the engine's "now": it still counts."""
    work = Workload()
    work.run(600, per_second=10, error_share=0.0, latency=0.08)
    kept_errors = work.totals[1]

    def current() -> MetricsSample:
        sample = work._sample()
        sample.routes["/orders"][1] = kept_errors + 900  # 900 errors since the last sample
        return MetricsSample(work.now + 0.001, sample.bounds, sample.routes)

    stats = SampleSignals(work.samples, current).stats(work.now - 300, work.now, None)
    assert stats is not None
    assert stats.errors == 900


def test_one_evaluation_reads_the_totals_once_for_every_rule() -> None:
    """Reading every route's totals is the costly step: the rules share one reading."""
    work = Workload()
    work.run(600, per_second=10, error_share=0.1, latency=0.08)
    readings = []

    def current() -> MetricsSample:
        readings.append(work.now)
        return work._sample()

    rules = [parse_rule(name, DEFAULT_RULES[name]) for name in DEFAULT_RULES]
    engine = AlertEngine(rules, SampleSignals(work.samples, current), clock=lambda: work.now)
    engine.evaluate()
    assert len(readings) == 1
    work.run(60, per_second=10, error_share=0.9, latency=0.08)
    engine.evaluate()
    assert readings == [work.now - 60, work.now], "each evaluation reads afresh"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"expr": "errors_per_hour > 3"}, "unknown signal 'errors_per_hour'"),
        ({"expr": "error_rate >> 3"}, "cannot read the expression"),
        ({"expr": "p95 > 1", "for": "soon"}, "'soon' is not a duration"),
        ({"expr": "p95 > 1", "colour": "red"}, "unknown keys colour"),
    ],
)
def test_bad_rules_in_settings_stop_start_up_naming_rule_and_key(
    app_dir: AppDir, spec: dict[str, Any], message: str
) -> None:
    rules_toml = "\n".join(f"{key} = {json.dumps(value)}" for key, value in spec.items())
    app_dir.write("settings.toml", f"[default.PRODREADY_ALERTS_RULES.checkout]\n{rules_toml}\n")
    with pytest.raises(ConfigError) as excinfo:
        app_dir.app()
    (problem,) = excinfo.value.problems
    assert problem.key == "PRODREADY_ALERTS_RULES.checkout"
    assert message in problem.problem
    assert "settings.toml" in problem.where


def test_a_default_rule_can_be_switched_off(app_dir: AppDir) -> None:
    app_dir.write("settings.toml", "[default.PRODREADY_ALERTS_RULES]\nnew_error_group = false\n")
    names = {rule.name for rule in get_state(app_dir.app()).components["alerts"].rules}
    assert names == {
        "error_rate_jump",
        "latency_doubled",
        "health_check_failing",
        "error_regressed",
    }


class Receiver:
    """A local HTTP receiver collecting the JSON bodies POSTed to it."""

    def __init__(self, delay: float = 0.0, status: int = 200) -> None:
        self.bodies: list[Any] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                time.sleep(delay)
                outer.bodies.append(body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_one_notification_per_state_change(receiver: Receiver) -> None:
    work = Workload()
    rules = [parse_rule("jump", DEFAULT_RULES["error_rate_jump"])]
    notifier = Notifier([("webhook", receiver.url), ("slack", receiver.url)])
    engine = AlertEngine(
        rules, SampleSignals(work.samples), notifier=notifier, clock=lambda: work.now
    )
    drive(engine, work, 900, **STEADY)
    drive(engine, work, 300, **{**STEADY, "error_share": 0.1})
    drive(engine, work, 900, **STEADY)
    notifier.wait()
    webhook = [b for b in receiver.bodies if "alert" in b]
    slack = [b["text"] for b in receiver.bodies if "text" in b]
    assert [b["state"] for b in webhook] == ["firing", "resolved"]
    assert webhook[0]["alert"] == "jump"
    assert webhook[0]["severity"] == "critical"
    assert len(slack) == 2
    assert "jump is firing" in slack[0]
    assert notifier.failures == 0


def test_a_dead_or_hanging_receiver_is_retried_boundedly_and_counted() -> None:
    hanging = Receiver(delay=3.0)
    try:
        notifier = Notifier(
            [("webhook", "http://127.0.0.1:9/nothing-listens"), ("webhook", hanging.url)],
            timeout=0.3,
            retries=2,
        )
        started = time.monotonic()
        notifier.notify({"alert": "a", "state": "firing", "severity": "warning", "summary": "s"})
        assert time.monotonic() - started < 0.5, "notify never waits for a receiver"
        notifier.wait(timeout=20)
        assert notifier.failures == 2
        assert notifier.sent == 0
    finally:
        hanging.close()


def test_requests_are_unaffected_by_a_failing_receiver(app_dir: AppDir) -> None:
    app = app_dir.app(alerts_webhooks=["http://127.0.0.1:9/down"], alerts_timeout=0.2)
    app.add_url_rule("/", "index", lambda: "ok")
    engine = get_state(app).components["alerts"]
    engine.notifier.notify({"alert": "x", "state": "firing", "severity": "w", "summary": ""})
    started = time.monotonic()
    for _ in range(20):
        assert app.test_client().get("/").status_code == 200
    assert time.monotonic() - started < 2
    # Its retries end here, not in a later test whose output they would land in.
    engine.notifier.wait(timeout=10)


def test_new_error_groups_fire_through_the_store() -> None:
    from .test_store import occurrence

    store = MemoryErrorStore()
    now = [time.time()]
    rule = parse_rule("new_error_group", DEFAULT_RULES["new_error_group"])
    engine = AlertEngine(
        [rule], SampleSignals(SampleRingBuffer(2)), store=store, clock=lambda: now[0]
    )
    assert engine.evaluate()[0].state == "inactive"  # type: ignore[index]
    store.record(occurrence("fresh", now[0]))
    assert engine.evaluate()[0].state == "firing"  # type: ignore[index]
    now[0] += 400
    assert engine.evaluate()[0].state == "resolved"  # type: ignore[index]


def test_a_resolved_error_back_in_a_new_release_fires_error_regressed() -> None:
    from .test_store import occurrence

    store = MemoryErrorStore()
    now = [time.time()]
    rule = parse_rule("error_regressed", DEFAULT_RULES["error_regressed"])
    engine = AlertEngine(
        [rule], SampleSignals(SampleRingBuffer(2)), store=store, clock=lambda: now[0]
    )
    store.record(occurrence("fixed", now[0], release="1.0"))
    assert engine.evaluate()[0].state == "inactive", "new, not regressed"  # type: ignore[index]
    store.set_resolved("fixed", True)
    now[0] += 60
    store.record(occurrence("fixed", now[0], release="1.0"))
    assert engine.evaluate()[0].state == "inactive", "same release"  # type: ignore[index]
    store.set_resolved("fixed", True)
    now[0] += 60
    store.record(occurrence("fixed", now[0], release="1.1"))
    (state,) = engine.evaluate() or []
    assert state.state == "firing"
    assert state.value == 1.0
    now[0] += 400
    assert engine.evaluate()[0].state == "resolved"  # type: ignore[index]


def test_health_failing_fires_from_a_critical_check(app_dir: AppDir) -> None:
    from flask_prodready import ProdReady

    prodready = ProdReady(alerts_rules={"health_check_failing": {"expr": "health_failing"}})

    @prodready.health.check("database")
    def database() -> None:
        raise ConnectionError("down")

    app = app_dir.flask()
    prodready.init_app(app)
    app.test_client().get("/readyz")
    engine = get_state(app).components["alerts"]
    states = {s.name: s for s in engine.evaluate() or []}
    assert states["health_check_failing"].state == "firing"
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'prodready_alert_firing{alert="health_check_failing"} 1.0' in metrics


def test_exported_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = require_executable("promtool", "install it with: sudo apt-get install prometheus")
    rules = [parse_rule(name, spec) for name, spec in DEFAULT_RULES.items()]
    rules.append(parse_rule("checkout", {"expr": "error_rate > 0.05", "route": "/checkout"}))
    path = tmp_path / "rules.yml"
    path.write_text(export_prometheus_rules(rules))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 4 rules found" in result.stdout
    assert "new_error_group, error_regressed" in path.read_text().splitlines()[0]


def test_exported_error_jump_fires_in_promtool_on_the_same_series(tmp_path: Path) -> None:
    promtool = require_executable("promtool", "install it with: sudo apt-get install prometheus")
    rule = parse_rule("error_rate_jump", DEFAULT_RULES["error_rate_jump"])
    (tmp_path / "rules.yml").write_text(export_prometheus_rules([rule]))
    # 10 req/s with 1% errors for 20 minutes, then 8% errors: counters per 15 s.
    total, errors = [], []
    t, e = 0.0, 0.0
    for step in range(160):
        share = 0.01 if step < 80 else 0.08
        t += 150 * (1 - share)
        e += 150 * share
        total.append(int(t))
        errors.append(int(e))
    series = lambda values: " ".join(str(v) for v in values)  # noqa: E731
    test = f"""
rule_files: [rules.yml]
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'flask_http_request_duration_seconds_count{{route="/orders",status="200"}}'
        values: '{series(total)}'
      - series: 'flask_http_request_duration_seconds_count{{route="/orders",status="500"}}'
        values: '{series(errors)}'
    alert_rule_test:
      - eval_time: 15m
        alertname: error_rate_jump
        exp_alerts: []
      - eval_time: 24m30s
        alertname: error_rate_jump
        exp_alerts:
          - exp_labels: {{severity: critical}}
            exp_annotations: {{summary: "{rule.summary}"}}
"""
    (tmp_path / "test.yml").write_text(test)
    result = subprocess.run(
        [promtool, "test", "rules", "test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_exports_rules_and_tests_them(app_dir: AppDir) -> None:
    app: Flask = app_dir.app()
    runner = app.test_cli_runner()
    exported = runner.invoke(args=["prodready", "alerts", "export-rules"])
    assert exported.exit_code == 0, exported.output
    assert "alert: error_rate_jump" in exported.stdout
    tested = runner.invoke(args=["prodready", "alerts", "test"])
    assert tested.exit_code == 0, tested.output
    lines = tested.stdout.splitlines()
    assert lines[0].split() == ["RULE", "STATE", "SEVERITY", "VALUE"]
    assert any(line.startswith("error_rate_jump") and "inactive" in line for line in lines)


def test_rules_can_be_added_in_code(app_dir: AppDir) -> None:
    from flask_prodready import ProdReady

    prodready = ProdReady(alerts_default_rules=False)
    prodready.alert_rules.append(parse_rule("slow", {"expr": "p95 > 2"}))
    app = app_dir.flask()
    prodready.init_app(app)
    assert [rule.name for rule in get_state(app).components["alerts"].rules] == ["slow"]
