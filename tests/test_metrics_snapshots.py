"""The snapshot API: rates, error rates and quantiles that match a known workload.

Covers ``flask_prodready.metrics._totals``.
"""

from __future__ import annotations

from array import array

import pytest
from flask import Flask

from flask_prodready import SetupError, metrics_snapshot
from flask_prodready.metrics import UNMATCHED, Metrics
from flask_prodready.snapshots import (
    ALL_ROUTES,
    MetricsSample,
    SampleRingBuffer,
    build_snapshot,
    histogram_quantile,
)

from .support.apps import AppDir

BUCKETS = [0.1, 0.2, 2.0]
FAST, SLOW = 0.05, 0.3  # seconds: in the first bucket, and in the (0.2, 2.0] bucket


class Clock:
    """A clock the test moves by hand: the sampler's wall clock, or the request timer."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def workload_app(app_dir: AppDir) -> tuple[Flask, Metrics, Clock]:
    """An app whose views take known times: each moves the request timer, none sleeps."""
    app = app_dir.app(metrics_buckets=BUCKETS, metrics_sample_interval=10)
    timer = Clock(0.0)

    @app.get("/fast")
    def fast() -> str:
        timer.now += FAST
        return "fast"

    @app.get("/slow")
    def slow() -> str:
        timer.now += SLOW
        return "slow"

    @app.get("/fail")
    def fail() -> tuple[str, int]:
        timer.now += FAST
        return "failed", 503

    metrics: Metrics = app.extensions["prodready"].components["metrics"]
    assert isinstance(metrics.store, SampleRingBuffer)
    assert len(metrics.store) == 1, "init_app keeps the first sample"
    metrics.store = SampleRingBuffer(metrics.store.capacity)  # forget the real clock's sample
    clock = Clock(1_000.0)
    metrics.clock = clock
    metrics.timer = timer
    metrics.sample()  # the baseline, at t = 1000
    return app, metrics, clock


def run(app: Flask, path: str, times: int) -> None:
    client = app.test_client()
    for _ in range(times):
        client.get(path)


def test_snapshot_matches_a_known_workload(workload_app: tuple[Flask, Metrics, Clock]) -> None:
    app, metrics, clock = workload_app
    run(app, "/fast", 36)
    run(app, "/slow", 4)
    run(app, "/fail", 10)
    clock.now = 1_020.0
    snapshot = metrics.snapshot(minutes=5)

    assert (snapshot.start, snapshot.end, snapshot.seconds) == (1_000.0, 1_020.0, 20.0)
    assert not snapshot.multiprocess
    overall = snapshot.overall
    assert overall.route == ALL_ROUTES
    assert (overall.requests, overall.errors) == (50, 10)
    assert overall.request_rate == pytest.approx(2.5)
    assert overall.error_rate == pytest.approx(0.5)
    assert overall.error_ratio == pytest.approx(0.2)
    # 46 requests in [0, 0.1], 4 in (0.2, 2.0]: interpolated inside the bucket of the rank.
    assert overall.p50 == pytest.approx(0.1 * 25 / 46)
    assert overall.p95 == pytest.approx(0.2 + 1.8 * (47.5 - 46) / 4)
    assert overall.p99 == pytest.approx(0.2 + 1.8 * (49.5 - 46) / 4)

    routes = {stats.route: stats for stats in snapshot.routes}
    assert [stats.route for stats in snapshot.routes] == ["/fast", "/fail", "/slow"]
    assert routes["/fast"].requests == 36
    assert routes["/fast"].request_rate == pytest.approx(1.8)
    assert routes["/fast"].p50 == pytest.approx(0.1 * 18 / 36)
    assert routes["/fast"].p99 == pytest.approx(0.1 * 35.64 / 36)
    assert (routes["/fail"].errors, routes["/fail"].error_ratio) == (10, 1.0)
    assert routes["/fail"].error_rate == pytest.approx(0.5)
    slow = routes["/slow"]
    assert (slow.requests, slow.errors, slow.error_ratio) == (4, 0, 0.0)
    assert slow.p50 == pytest.approx(0.2 + 1.8 * 2 / 4)
    assert slow.p95 == pytest.approx(0.2 + 1.8 * 3.8 / 4)
    assert slow.p99 == pytest.approx(0.2 + 1.8 * 3.96 / 4)


def test_snapshot_covers_only_the_window(workload_app: tuple[Flask, Metrics, Clock]) -> None:
    app, metrics, clock = workload_app
    run(app, "/fast", 30)
    clock.now = 1_010.0
    run(app, "/fast", 1)  # the first request after the interval samples before it counts
    run(app, "/fail", 9)
    clock.now = 1_400.0
    snapshot = metrics.snapshot(minutes=5)
    # The window starts at 1100; the newest sample at or before it is the one of t = 1010.
    assert snapshot.start == 1_010.0
    assert snapshot.seconds == 390.0
    assert (snapshot.overall.requests, snapshot.overall.errors) == (10, 9)
    assert snapshot.overall.request_rate == pytest.approx(10 / 390)
    assert [point.time for point in snapshot.series] == [1_400.0]

    longer = metrics.snapshot(minutes=60)
    assert longer.start == 1_000.0
    assert longer.overall.requests == 40
    assert [(p.time, p.seconds) for p in longer.series] == [(1_010.0, 10.0), (1_400.0, 390.0)]
    assert longer.series[0].request_rate == pytest.approx(3.0)
    assert longer.series[1].error_rate == pytest.approx(9 / 390)


def test_history_stays_between_snapshots(workload_app: tuple[Flask, Metrics, Clock]) -> None:
    """A page reload asks again: the history is on the server, not in the page."""
    app, metrics, clock = workload_app
    run(app, "/fast", 5)
    clock.now = 1_030.0
    first = metrics.snapshot(minutes=10)
    clock.now = 1_031.0
    second = metrics.snapshot(minutes=10)
    assert first.start == second.start == 1_000.0
    assert second.overall.requests == 5


def test_unmatched_requests_are_one_route(workload_app: tuple[Flask, Metrics, Clock]) -> None:
    app, metrics, clock = workload_app
    client = app.test_client()
    for index in range(20):
        client.get(f"/probe/{index}")
    clock.now = 1_010.0
    snapshot = metrics.snapshot()
    assert [(s.route, s.requests) for s in snapshot.routes] == [(UNMATCHED, 20)]


def test_without_traffic_there_are_no_quantiles(
    workload_app: tuple[Flask, Metrics, Clock],
) -> None:
    _, metrics, clock = workload_app
    clock.now = 1_060.0
    snapshot = metrics.snapshot()
    assert snapshot.routes == ()
    assert snapshot.overall.requests == 0
    assert snapshot.overall.request_rate == 0.0
    assert snapshot.overall.p50 is None


def test_metrics_snapshot_reads_the_app(workload_app: tuple[Flask, Metrics, Clock]) -> None:
    app, _, clock = workload_app
    run(app, "/fast", 3)
    clock.now = 1_010.0
    assert metrics_snapshot(5, app=app).overall.requests == 3
    with app.app_context():
        assert metrics_snapshot().overall.requests == 3
    with pytest.raises(ValueError, match="more than 0"):
        metrics_snapshot(0, app=app)


def test_metrics_snapshot_needs_the_metrics_part(app_dir: AppDir) -> None:
    app = app_dir.app(metrics_enabled=False)
    with pytest.raises(SetupError, match="PRODREADY_METRICS_ENABLED"):
        metrics_snapshot(app=app)


def test_sampling_happens_once_per_interval(workload_app: tuple[Flask, Metrics, Clock]) -> None:
    app, metrics, clock = workload_app
    buffer = metrics.store
    assert isinstance(buffer, SampleRingBuffer)
    assert len(buffer) == 1
    run(app, "/fast", 5)
    assert len(buffer) == 1
    clock.now = 1_009.9
    run(app, "/fast", 1)
    assert len(buffer) == 1
    clock.now = 1_010.0
    run(app, "/fast", 3)
    assert len(buffer) == 2
    assert buffer.window(1_010.0)[-1].routes["/fast"][0] == 6, "sampled before it counted"


def test_history_is_bounded(app_dir: AppDir) -> None:
    app = app_dir.app(metrics_sample_interval=30, metrics_history_minutes=2)
    metrics: Metrics = app.extensions["prodready"].components["metrics"]
    assert isinstance(metrics.store, SampleRingBuffer)
    assert metrics.store.capacity == 6
    clock = Clock(0.0)
    metrics.clock = clock
    for step in range(20):
        clock.now = step * 30.0
        metrics.sample()
    assert len(metrics.store) == 6


# -- the computation itself ----------------------------------------------------------------


def test_histogram_quantile_interpolates_like_promql() -> None:
    bounds = [0.25, 0.5, 1.0]
    assert histogram_quantile(0.5, bounds, [0, 10, 10, 10]) == 0.375
    assert histogram_quantile(0.5, bounds, [10, 10, 10, 10]) == 0.125
    assert histogram_quantile(0.99, bounds, [0, 0, 0, 5]) == 1.0, "+Inf gives the top bound"
    assert histogram_quantile(0.9, bounds, [0, 0, 0, 0]) is None
    assert histogram_quantile(1.0, bounds, [2, 4, 8, 8]) == 1.0
    assert histogram_quantile(0.0, bounds, [0, 4, 8, 8]) == 0.25


def sample(at: float, requests: float, errors: float, buckets: list[float]) -> MetricsSample:
    return MetricsSample(at, (0.1, 1.0), {"/r": array("d", [requests, errors, *buckets])})


def test_a_counter_reset_counts_from_zero() -> None:
    before = sample(0.0, 100, 10, [90, 100])
    after = sample(10.0, 4, 1, [4, 4])
    snapshot = build_snapshot([before], after, 5, multiprocess=True)
    assert (snapshot.overall.requests, snapshot.overall.errors) == (4, 1)
    assert snapshot.overall.request_rate == pytest.approx(0.4)
    assert snapshot.multiprocess


def test_a_route_that_appears_counts_from_zero() -> None:
    before = MetricsSample(0.0, (0.1, 1.0), {})
    after = sample(10.0, 4, 0, [4, 4])
    assert build_snapshot([before], after, 5, multiprocess=False).overall.requests == 4


def test_ring_buffer_window_starts_at_the_sample_before_it() -> None:
    buffer = SampleRingBuffer(3)
    for at in (0.0, 10.0, 20.0, 30.0):
        buffer.append(sample(at, at, 0, [at, at]))
    assert [s.time for s in buffer.window(25.0)] == [20.0, 30.0]
    assert [s.time for s in buffer.window(20.0)] == [20.0, 30.0]
    assert [s.time for s in buffer.window(5.0)] == [10.0, 20.0, 30.0], "oldest kept"
    with pytest.raises(ValueError, match="at least 2"):
        SampleRingBuffer(1)


def test_the_series_counts_each_interval_whether_or_not_a_route_was_reset() -> None:
    """Points come from differences of whole-sample sums; a reset or a route gone falls back
    to counting per route, each from zero, as PromQL's rate does."""
    bounds = (0.1, 1.0)

    def at(time: float, **routes: float) -> MetricsSample:
        rows = {f"/{name}": array("d", [n, n / 10, n, n]) for name, n in routes.items()}
        return MetricsSample(time, bounds, rows)

    samples = [
        at(0, a=100, b=50),
        at(10, a=150, b=70),  # +50 +20
        at(20, a=160, b=70, c=30),  # a new route counts whole: +10 +0 +30
        at(30, a=5, b=90, c=40),  # a restarted: 5 from zero, +20, +10
        at(40, b=100, c=40),  # a gone: +10 +0
    ]
    snapshot = build_snapshot(samples[:-1], samples[-1], 1, multiprocess=False)
    assert [point.request_rate for point in snapshot.series] == [7.0, 4.0, 3.5, 1.0]
    assert [point.error_rate for point in snapshot.series] == pytest.approx([0.7, 0.4, 0.35, 0.1])
    assert [point.time for point in snapshot.series] == [10, 20, 30, 40]


def test_a_reset_seen_only_in_errors_or_buckets_counts_that_route_from_zero() -> None:
    """More requests than before, yet fewer errors: the counters were reset in between."""
    before = MetricsSample(0, (0.1, 1.0), {"/a": array("d", [10, 4, 10, 10])})
    after = MetricsSample(10, (0.1, 1.0), {"/a": array("d", [20, 0, 0, 20])})
    (point,) = build_snapshot([before], after, 1, multiprocess=False).series
    assert (point.request_rate, point.error_rate) == (2.0, 0.0)


def test_a_sample_that_comes_late_is_kept_in_time_order() -> None:
    buffer = SampleRingBuffer(4)
    for moment in (10.0, 20.0, 40.0):
        buffer.append(MetricsSample(moment, (), {}))
    buffer.append(MetricsSample(30.0, (), {}))  # taken before the last one kept
    assert [sample.time for sample in buffer.window(0.0)] == [10.0, 20.0, 30.0, 40.0]
    buffer.append(MetricsSample(25.0, (), {}))  # full: the oldest goes
    assert [sample.time for sample in buffer.window(0.0)] == [20.0, 25.0, 30.0, 40.0]
    buffer.append(MetricsSample(5.0, (), {}))  # older than all, and no room
    assert [sample.time for sample in buffer.window(26.0)] == [25.0, 30.0, 40.0]
