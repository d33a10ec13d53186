"""Request metrics by route template, our own metrics, the exposition and who may read it.

Covers ``flask_prodready.metrics.app_metrics``, ``flask_prodready.metrics.names``,
``flask_prodready.metrics.settings``, ``flask_prodready.metrics._families``,
``flask_prodready.metrics._exposition``.
"""

from __future__ import annotations

import json
import os
import platform
import random
import string
import subprocess
import sys
import threading
from typing import Any

import prometheus_client
import pytest
from flask import Flask, abort
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from flask_prodready import ConfigError, SetupError, __version__, get_state
from flask_prodready.metrics import (
    APP_INFO,
    IN_FLIGHT,
    METRICS_ENDPOINT,
    OTHER,
    REQUEST_DURATION,
    REQUESTS,
    UNMATCHED,
    Metrics,
)

from .support.apps import AppDir
from .support.requires import require_executable

OTHER_CLIENT = {"REMOTE_ADDR": "203.0.113.7"}


class OrderMissingError(Exception):
    """An exception type of the app, for the ``type`` label."""


def make_app(app_dir: AppDir, **overrides: Any) -> Flask:
    """An app with flask-prodready and a few routes."""
    app = app_dir.app(**overrides)

    @app.get("/orders/<int:order_id>")
    def order(order_id: int) -> str:
        return f"order {order_id}"

    @app.get("/missing/<int:order_id>")
    def missing(order_id: int) -> str:
        raise OrderMissingError(order_id)

    @app.get("/value-error")
    def value_error() -> str:
        raise ValueError("boom")

    @app.get("/key-error")
    def key_error() -> str:
        raise KeyError("boom")

    @app.get("/teapot")
    def teapot() -> str:
        abort(418)

    return app


def metrics_of(app: Flask) -> Metrics:
    metrics: Metrics = get_state(app).components["metrics"]
    return metrics


def scrape(client: FlaskClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples called ``name`` in an exposition, as (labels, value)."""
    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found.append((dict(sample.labels), sample.value))
    return found


def series_count(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


# -- labels --------------------------------------------------------------------------------


def test_requests_are_labelled_by_method_route_template_and_status(app_dir: AppDir) -> None:
    client = make_app(app_dir).test_client()
    assert client.get("/orders/7").status_code == 200
    assert client.get("/teapot").status_code == 418
    text = scrape(client)
    assert samples(text, REQUESTS) == [
        ({"method": "GET", "route": "/orders/<int:order_id>", "status": "200"}, 1.0),
        ({"method": "GET", "route": "/teapot", "status": "418"}, 1.0),
    ]
    counts = samples(text, REQUEST_DURATION + "_count")
    assert ({"method": "GET", "route": "/orders/<int:order_id>", "status": "200"}, 1.0) in counts
    assert "/orders/7" not in text


def test_ten_thousand_unknown_paths_leave_the_number_of_series_unchanged(
    app_dir: AppDir,
) -> None:
    client = make_app(app_dir).test_client()
    client.get("/warm-up")
    before = series_count(scrape(client))
    alphabet = string.ascii_letters + string.digits + "-._~%"
    rng = random.Random(6)
    for _ in range(10_000):
        depth = rng.randint(1, 4)
        path = "/" + "/".join(
            "".join(rng.choices(alphabet, k=rng.randint(1, 12))) for _ in range(depth)
        )
        client.get(path)
    text = scrape(client)
    assert series_count(text) == before
    assert samples(text, REQUESTS) == [
        ({"method": "GET", "route": UNMATCHED, "status": "404"}, 10_001.0)
    ]


def test_a_thousand_order_ids_make_one_series(app_dir: AppDir) -> None:
    client = make_app(app_dir).test_client()
    for order_id in range(1000):
        assert client.get(f"/orders/{order_id}").status_code == 200
    assert samples(scrape(client), REQUESTS) == [
        ({"method": "GET", "route": "/orders/<int:order_id>", "status": "200"}, 1000.0)
    ]


def test_invented_methods_are_counted_as_other(app_dir: AppDir) -> None:
    client = make_app(app_dir).test_client()
    for method in ("FOO", "BAR", "PROPFIND", "X" * 300):
        client.open("/orders/1", method=method)
    client.open("/orders/1", method="DELETE")
    assert samples(scrape(client), REQUESTS) == [
        ({"method": OTHER, "route": UNMATCHED, "status": "405"}, 4.0),
        ({"method": "DELETE", "route": UNMATCHED, "status": "405"}, 1.0),
    ]


# -- exclusions, buckets, info -------------------------------------------------------------


def test_excluded_paths_and_the_exposition_are_not_counted(app_dir: AppDir) -> None:
    client = make_app(app_dir).test_client()
    for path in ("/metrics", "/livez", "/readyz", "/_prod/", "/_prod", "/_prod/static/x.css"):
        client.get(path)
    text = scrape(client)
    assert samples(text, REQUESTS) == []
    assert samples(text, IN_FLIGHT) == [({}, 0.0)]


def test_excluded_paths_are_configurable(app_dir: AppDir) -> None:
    client = make_app(app_dir, metrics_excluded_paths="/orders/").test_client()
    client.get("/orders/1")
    client.get("/no-such-page")
    client.get("/metrics")
    assert samples(scrape(client), REQUESTS) == [
        ({"method": "GET", "route": UNMATCHED, "status": "404"}, 1.0)
    ]


def test_excluding_the_root_path_excludes_only_the_root_page(app_dir: AppDir) -> None:
    app = make_app(app_dir, metrics_excluded_paths=["/"])
    app.add_url_rule("/", "index", lambda: "home")
    client = app.test_client()
    client.get("/")
    client.get("/orders/1")
    assert samples(scrape(client), REQUESTS) == [
        ({"method": "GET", "route": "/orders/<int:order_id>", "status": "200"}, 1.0)
    ]


def test_excluded_paths_must_be_paths(app_dir: AppDir) -> None:
    with pytest.raises(ConfigError, match="PRODREADY_METRICS_EXCLUDED_PATHS: expected a list"):
        make_app(app_dir, metrics_excluded_paths=["metrics"])


def test_custom_buckets_apply(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_PRODREADY_METRICS_BUCKETS", "0.1, 0.5,2")
    client = make_app(app_dir).test_client()
    client.get("/orders/1")
    buckets = samples(scrape(client), REQUEST_DURATION + "_bucket")
    assert [labels["le"] for labels, _ in buckets] == ["0.1", "0.5", "2.0", "+Inf"]
    assert metrics_of(client.application).buckets == (0.1, 0.5, 2.0)


@pytest.mark.parametrize("buckets", [[0.5, 0.1], [0, 1], [], "fast", [1, float("inf")]])
def test_bad_buckets_are_refused(app_dir: AppDir, buckets: object) -> None:
    with pytest.raises(ConfigError, match="PRODREADY_METRICS_BUCKETS: expected a list of"):
        make_app(app_dir, metrics_buckets=buckets)


def test_info_gauge_names_app_and_versions(app_dir: AppDir) -> None:
    client = make_app(app_dir, metrics_app_version="2.4.1").test_client()
    assert samples(scrape(client), APP_INFO) == [
        (
            {
                "app": "settings_test_app",
                "version": "2.4.1",
                "prodready_version": __version__,
                "python_version": platform.python_version(),
            },
            1.0,
        )
    ]


def test_info_gauge_version_is_unknown_without_a_distribution(app_dir: AppDir) -> None:
    client = make_app(app_dir).test_client()
    ((labels, _),) = samples(scrape(client), APP_INFO)
    assert labels["version"] == "unknown"


def test_custom_metrics_path(app_dir: AppDir) -> None:
    client = make_app(app_dir, metrics_path="/internal/metrics").test_client()
    assert client.get("/metrics").status_code == 404
    response = client.get("/internal/metrics")
    assert response.status_code == 200
    assert REQUESTS in response.get_data(as_text=True)
    with client.application.test_request_context():
        from flask import url_for

        assert url_for(METRICS_ENDPOINT) == "/internal/metrics"


def test_metrics_can_be_switched_off(app_dir: AppDir) -> None:
    app = make_app(app_dir, metrics_enabled=False)
    assert "metrics" not in get_state(app).components
    assert app.test_client().get("/metrics").status_code == 404


# -- our own metrics -----------------------------------------------------------------------


def test_unhandled_exceptions_are_counted_by_type_and_answered_500(app_dir: AppDir) -> None:
    client = make_app(app_dir).test_client()
    assert client.get("/value-error").status_code == 500
    assert client.get("/missing/3").status_code == 500
    assert client.get("/teapot").status_code == 418, "HTTP errors are not exceptions"
    text = scrape(client)
    assert samples(text, "prodready_exceptions_total") == [
        ({"type": "ValueError"}, 1.0),
        ({"type": "tests.test_metrics.OrderMissingError"}, 1.0),
    ]
    assert ({"method": "GET", "route": "/value-error", "status": "500"}, 1.0) in samples(
        text, REQUESTS
    )


def test_propagated_exceptions_are_counted_once_as_500(app_dir: AppDir) -> None:
    app = make_app(app_dir)
    app.config["TESTING"] = True  # Flask re-raises instead of answering 500
    client = app.test_client()
    with pytest.raises(ValueError, match="boom"):
        client.get("/value-error")
    text = scrape(client)
    assert samples(text, REQUESTS) == [
        ({"method": "GET", "route": "/value-error", "status": "500"}, 1.0)
    ]
    assert samples(text, "prodready_exceptions_total") == [({"type": "ValueError"}, 1.0)]
    assert samples(text, IN_FLIGHT) == [({}, 0.0)]


def test_exception_types_beyond_the_cap_become_other(app_dir: AppDir) -> None:
    client = make_app(app_dir, metrics_max_label_values=1).test_client()
    client.get("/value-error")
    client.get("/key-error")
    client.get("/missing/1")
    assert samples(scrape(client), "prodready_exceptions_total") == [
        ({"type": "ValueError"}, 1.0),
        ({"type": OTHER}, 2.0),
    ]


def test_in_flight_counts_the_requests_being_handled(app_dir: AppDir) -> None:
    app = make_app(app_dir)
    seen: list[float | None] = []

    @app.get("/busy")
    def busy() -> str:
        seen.append(metrics_of(app).registry.get_sample_value(IN_FLIGHT))
        return "ok"

    client = app.test_client()
    client.get("/busy")
    assert seen == [1.0]
    assert metrics_of(app).registry.get_sample_value(IN_FLIGHT) == 0.0


def test_the_methods_other_parts_call(app_dir: AppDir) -> None:
    client = make_app(app_dir).test_client()
    metrics = metrics_of(client.application)
    metrics.count_error(404, "NotFoundError")
    metrics.count_error(404, "NotFoundError")
    metrics.count_error(500, "InternalServerError")
    metrics.count_exception(OrderMissingError())
    metrics.count_error_recorded()
    metrics.count_error_dropped()
    metrics.count_error_dropped("failure")
    metrics.count_log_sink_failure("stdout")
    metrics.observe_health_check("database", True, 0.012)
    metrics.observe_health_check("cache", False, 2.0)
    metrics.observe_health_check("database", False, 0.5)
    text = scrape(client)
    assert samples(text, "prodready_errors_total") == [
        ({"code": "404", "class": "NotFoundError"}, 2.0),
        ({"code": "500", "class": "InternalServerError"}, 1.0),
    ]
    assert samples(text, "prodready_exceptions_total") == [
        ({"type": "tests.test_metrics.OrderMissingError"}, 1.0)
    ]
    assert samples(text, "prodready_error_store_recorded_total") == [({}, 1.0)]
    assert samples(text, "prodready_error_store_dropped_total") == [
        ({"reason": "capacity"}, 1.0),
        ({"reason": "failure"}, 1.0),
    ]
    assert samples(text, "prodready_log_sink_failures_total") == [({"sink": "stdout"}, 1.0)]
    assert samples(text, "prodready_health_check_status") == [
        ({"check": "database", "critical": "true"}, 0.0),
        ({"check": "cache", "critical": "true"}, 0.0),
    ]
    assert samples(text, "prodready_health_check_duration_seconds") == [
        ({"check": "database"}, 0.5),
        ({"check": "cache"}, 2.0),
    ]


def test_free_form_labels_are_capped(app_dir: AppDir) -> None:
    client = make_app(app_dir, metrics_max_label_values=2).test_client()
    metrics = metrics_of(client.application)
    for index in range(100):
        metrics.count_log_sink_failure(f"sink-{index}")
        metrics.observe_health_check(f"check-{index}", True, 0.1)
    text = scrape(client)
    assert [labels["sink"] for labels, _ in samples(text, "prodready_log_sink_failures_total")] == [
        "sink-0",
        "sink-1",
        OTHER,
    ]
    assert len(samples(text, "prodready_health_check_status")) == 3


def test_exposition_passes_promtool(app_dir: AppDir) -> None:
    promtool = require_executable("promtool", "install the Debian package prometheus")
    client = make_app(app_dir).test_client()
    client.get("/orders/1")
    client.get("/nowhere")
    client.get("/value-error")
    metrics = metrics_of(client.application)
    metrics.count_error(404, "NotFoundError")
    metrics.count_error_recorded()
    metrics.count_error_dropped()
    metrics.count_log_sink_failure("stdout")
    metrics.observe_health_check("database", True, 0.01)
    text = scrape(client)
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_exposition_method_gives_what_the_endpoint_serves(app_dir: AppDir) -> None:
    client = make_app(app_dir).test_client()
    client.get("/orders/1")
    body, content_type = metrics_of(client.application).exposition()
    assert content_type.startswith("text/plain")
    assert samples(body, REQUESTS) == samples(scrape(client), REQUESTS)


def test_openmetrics_is_served_when_asked_for(app_dir: AppDir) -> None:
    client = make_app(app_dir).test_client()
    client.get("/orders/1")
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.get_data(as_text=True).endswith("# EOF\n")


# -- many apps, no global state ------------------------------------------------------------


def test_many_apps_in_one_process_have_their_own_registries(app_dir: AppDir) -> None:
    apps = [make_app(app_dir) for _ in range(3)]
    apps[0].test_client().get("/orders/1")
    apps[0].test_client().get("/orders/2")
    apps[1].test_client().get("/orders/1")
    totals = [
        metrics_of(app).registry.get_sample_value(
            REQUESTS, {"method": "GET", "route": "/orders/<int:order_id>", "status": "200"}
        )
        for app in apps
    ]
    assert totals == [2.0, 1.0, None]
    global_names = set(prometheus_client.REGISTRY._names_to_collectors)
    assert not {name for name in global_names if "flask_http" in name or "prodready" in name}


def test_importing_registers_nothing() -> None:
    script = """
import sys
import flask_prodready
assert "prometheus_client" not in sys.modules, "only the metrics part imports it"
import prometheus_client
before = set(prometheus_client.REGISTRY._names_to_collectors)
import flask_prodready.metrics
assert set(prometheus_client.REGISTRY._names_to_collectors) == before
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_threads_count_every_request(app_dir: AppDir) -> None:
    app = make_app(app_dir)

    def work() -> None:
        client = app.test_client()
        for order_id in range(200):
            client.get(f"/orders/{order_id}")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert samples(scrape(app.test_client()), REQUESTS) == [
        ({"method": "GET", "route": "/orders/<int:order_id>", "status": "200"}, 800.0)
    ]


# -- multiprocess set-up mistakes ----------------------------------------------------------


def test_a_missing_multiprocess_directory_is_named(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = app_dir.root / "no-such-dir"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(missing))
    with pytest.raises(SetupError, match="which is not a directory"):
        make_app(app_dir)


def test_a_multiprocess_directory_set_too_late_is_refused(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(app_dir.root))
    with pytest.raises(SetupError, match="set after prometheus_client had been imported"):
        make_app(app_dir)


def run_in_multiprocess_mode(script: str, app_dir: AppDir, *args: str) -> dict[str, Any]:
    """Run ``script`` (with the app folder and ``args`` as arguments) in a Python of its own
    with PROMETHEUS_MULTIPROC_DIR set before prometheus_client loads; return the JSON object
    it prints last. Every run in one test shares the directory, as workers do."""
    multiproc = app_dir.root / "multiproc"
    multiproc.mkdir(exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", script, str(app_dir.root), *args],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


_MULTIPROCESS_SCRIPT = """
import json, sys
from flask import Flask
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from flask_prodready import ProdReady

def read():
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return {
        (sample.name, sample.labels.get("le", "")): sample.value
        for family in registry.collect()
        for sample in family.samples
        if "route" not in sample.labels or sample.labels["route"] == "/busy"
    }

root = sys.argv[1]
app = Flask("multi", root_path=root, instance_path=root + "/instance")
ProdReady(app, alerts_evaluate=False, log_destination="/dev/null")
seen = []

@app.get("/busy")
def busy():
    seen.append(read()[("prodready_http_requests_in_flight", "")])
    return "ok"

client = app.test_client()
for _ in range(3):
    client.get("/busy")
after = read()
print(json.dumps({
    "seen": seen,
    "in_flight": after[("prodready_http_requests_in_flight", "")],
    "count": after[("flask_http_request_duration_seconds_count", "")],
    "total": after[("flask_http_request_total", "")],
    "le_inf": after[("flask_http_request_duration_seconds_bucket", "+Inf")],
}))
"""


_RELOAD_SCRIPT = """
import json, os, sys
from flask import Flask
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from flask_prodready import ProdReady

root, release = sys.argv[1], sys.argv[2]
app = Flask("multi", root_path=root, instance_path=root + "/instance")
ProdReady(app, alerts_evaluate=False, log_destination="/dev/null", release=release)
if len(sys.argv) > 3:  # the worker of the earlier release has exited: gunicorn's child_exit
    mark_process_dead(int(sys.argv[3]))
registry = CollectorRegistry()
MultiProcessCollector(registry)
versions = sorted(
    sample.labels["version"]
    for family in registry.collect()
    for sample in family.samples
    if sample.name == "prodready_app_info"
)
print(json.dumps({"pid": os.getpid(), "versions": versions}))
"""


def test_after_a_reload_onto_a_new_release_only_the_live_workers_release_is_shown(
    app_dir: AppDir,
) -> None:
    old = run_in_multiprocess_mode(_RELOAD_SCRIPT, app_dir, "1.0")
    assert old["versions"] == ["1.0"]
    new = run_in_multiprocess_mode(_RELOAD_SCRIPT, app_dir, "1.1", str(old["pid"]))
    assert new["versions"] == ["1.1"]


def test_multiprocess_mode_counts_in_flight_and_totals_in_the_shared_files(
    app_dir: AppDir,
) -> None:
    figures = run_in_multiprocess_mode(_MULTIPROCESS_SCRIPT, app_dir)
    assert figures["seen"] == [1.0, 1.0, 1.0], "each request sees itself in flight"
    assert figures["in_flight"] == 0.0
    assert figures["count"] == figures["total"] == figures["le_inf"] == 3.0


_FORK_SCRIPT = """
import json, os, sys
from flask import Flask
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from flask_prodready import ProdReady

root = sys.argv[1]
app = Flask("forked", root_path=root, instance_path=root + "/instance")
ProdReady(app, alerts_evaluate=False, log_destination="/dev/null")
app.add_url_rule("/work", "work", lambda: "ok")
client = app.test_client()
client.get("/work")
client.get("/work")
child = os.fork()  # as gunicorn's preload_app does, after the app has served
if child == 0:
    for _ in range(3):
        client.get("/work")
    os._exit(0)
os.waitpid(child, 0)
client.get("/work")
registry = CollectorRegistry()
MultiProcessCollector(registry)
values = {
    sample.name: sample.value
    for family in registry.collect()
    for sample in family.samples
    if sample.labels.get("route") in ("/work", None) and "le" not in sample.labels
}
print(json.dumps({
    "total": values["flask_http_request_total"],
    "count": values["flask_http_request_duration_seconds_count"],
    "in_flight": values["prodready_http_requests_in_flight"],
    "writers": [w.__name__ for w in app.extensions["prodready"].components["metrics"]
                ._writers.values()],
    "child_file": os.path.exists(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"],
                                              "counter_%d.db" % child)),
}))
"""


def test_the_one_lock_writers_are_in_use(app_dir: AppDir) -> None:
    """flask_prodready._series falls back to prometheus_client's API when its internals
    change; this fails on such an upgrade, so that the slower path is chosen knowingly."""
    client = make_app(app_dir).test_client()
    client.get("/orders/1")
    writers = list(metrics_of(client.application)._writers.values())
    assert [writer.__name__ for writer in writers] == ["write"]


def test_a_forked_worker_counts_in_a_file_of_its_own(app_dir: AppDir) -> None:
    figures = run_in_multiprocess_mode(_FORK_SCRIPT, app_dir)
    assert figures["child_file"], "the child wrote to its own file, not the parent's"
    assert figures["total"] == figures["count"] == 6.0, "2 + 1 in the parent, 3 in the child"
    assert figures["writers"] == ["write"], "the one-lock writer of multiprocess mode"
    assert figures["in_flight"] == 0.0


# -- who may read /metrics -----------------------------------------------------------------


def assert_refused(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert REQUESTS not in text
    assert "prodready_" not in text
    document: dict[str, Any] = json.loads(text)
    assert set(document) == {"type", "title", "status", "detail"}
    assert document["status"] == status
    return document


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.53", "::1"])
def test_loopback_clients_may_read_by_default(app_dir: AppDir, address: str) -> None:
    client = make_app(app_dir).test_client()
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_other_clients_are_refused_by_default(app_dir: AppDir) -> None:
    client = make_app(app_dir).test_client()
    document = assert_refused(client.get("/metrics", environ_base=OTHER_CLIENT), 403)
    assert document["title"] == "Forbidden"
    assert_refused(
        client.get("/metrics", environ_base=OTHER_CLIENT, headers={"Authorization": "Bearer x"}),
        403,
    )


def test_a_token_lets_other_clients_in(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_PRODREADY_METRICS_TOKEN", "0123456789")
    client = make_app(app_dir).test_client()
    missing = client.get("/metrics", environ_base=OTHER_CLIENT)
    assert assert_refused(missing, 401)["title"] == "Unauthorized"
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    wrong = client.get(
        "/metrics", environ_base=OTHER_CLIENT, headers={"Authorization": "Bearer 0123456788"}
    )
    assert_refused(wrong, 403)
    right = client.get(
        "/metrics", environ_base=OTHER_CLIENT, headers={"Authorization": "Bearer 0123456789"}
    )
    assert right.status_code == 200
    assert REQUESTS in right.get_data(as_text=True)
    assert client.get("/metrics").status_code == 200, "loopback still needs no token"


def test_loopback_can_be_made_to_need_the_token(app_dir: AppDir) -> None:
    client = make_app(app_dir, metrics_token="t0ken", metrics_allow_loopback=False).test_client()
    assert_refused(client.get("/metrics"), 401)
    assert client.get("/metrics", headers={"Authorization": "Bearer t0ken"}).status_code == 200


def test_allowed_networks_need_no_token(app_dir: AppDir) -> None:
    client = make_app(app_dir, metrics_allowed_networks="10.0.0.0/8, 2001:db8::/32").test_client()
    for address in ("10.20.30.40", "2001:db8::5"):
        response = client.get("/metrics", environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 200
    assert_refused(client.get("/metrics", environ_base={"REMOTE_ADDR": "11.0.0.1"}), 403)


def test_open_lets_everyone_in(app_dir: AppDir) -> None:
    client = make_app(app_dir, metrics_open=True).test_client()
    assert client.get("/metrics", environ_base=OTHER_CLIENT).status_code == 200


def test_refused_scrapes_are_not_counted(app_dir: AppDir) -> None:
    client = make_app(app_dir).test_client()
    client.get("/metrics", environ_base=OTHER_CLIENT)
    assert samples(scrape(client), REQUESTS) == []


def test_the_token_is_redacted_in_the_settings(app_dir: AppDir) -> None:
    from flask_prodready import redact

    app = make_app(app_dir, metrics_token="s3cret-token")
    shown = redact(dict(app.config))
    assert shown["PRODREADY_METRICS_TOKEN"] == "***"
    assert "s3cret-token" not in repr(metrics_of(app).policy)
