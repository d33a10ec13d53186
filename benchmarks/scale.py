"""Figures at scale: the dashboard overview with a full store and long history, and one
alert evaluation with 100 routes.

- **overview**: ``GET /_prod/`` of an app whose error store is at its caps
  (``PRODREADY_ERROR_STORE_MAX_GROUPS`` groups of ``…_MAX_OCCURRENCES`` occurrences, the
  default SQLite backend) and whose sample ring holds 24 h of samples (every 10 s, 20 routes);
  median of 20 answers (budget 50 ms).
- **alerts**: ``AlertEngine.evaluate()`` with the default rules, the default store (which
  holds the lease) and 30 minutes of samples of 100 routes with traffic, so that every
  rule's windows add up every route; median of 50 (budget 5 ms).
"""

from __future__ import annotations

import re
import statistics
import time
from array import array
from typing import Any

from flask import Flask

from flask_prodready import get_state
from flask_prodready.snapshots import MetricsSample, SampleRingBuffer

from .apps import prodready

__all__ = ["ALERTS_BUDGET_MS", "OVERVIEW_BUDGET_MS", "measure", "table"]

OVERVIEW_BUDGET_MS = 50.0
ALERTS_BUDGET_MS = 5.0
_TOKEN = "bench-token-0123456789abcdef"


def _timed(call: Any, times: int) -> float:
    """The median milliseconds of ``times`` calls of ``call``."""
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        spent.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(spent), 2)


def _failing_routes(app: Flask, groups: int) -> None:
    """``/fail/<n>`` raises an exception class of its own: one error group per ``n``."""
    kinds = [type(f"BenchError{n}", (RuntimeError,), {}) for n in range(groups)]

    def fail(n: int) -> str:
        raise kinds[n](f"failure {n}")

    app.add_url_rule("/fail/<int:n>", "fail", fail)


def _fill_history(metrics: Any, count: int, routes: list[str]) -> None:
    """``count`` samples of ``routes``, one every 10 s up to now, oldest first; each route
    gets 10 requests a second, 1 % of them errors, all in the first bucket.

    The store is emptied first: samples arrive in time order, and the one the app took at
    start would come before 24 h of older ones (then every window read all of them).
    """
    metrics.store = SampleRingBuffer(metrics.store.capacity)
    bounds, now = metrics.buckets, time.time()
    for index in range(count):
        totals = float(index * 100)
        row = [totals, totals / 100] + [totals] * len(bounds)
        rows = {route: array("d", row) for route in routes}
        metrics.store.append(MetricsSample(now - (count - index) * 10, bounds, rows))


def overview(quick: bool) -> dict[str, Any]:
    """The overview's answer time with the store at its caps and 24 h of samples."""
    groups, occurrences = (20, 2) if quick else (500, 20)
    hours, routes = (1, 5) if quick else (24, 20)
    app = prodready(
        dashboard_token=_TOKEN,
        error_store_max_groups=groups,
        error_store_max_occurrences=occurrences,
        metrics_history_minutes=hours * 60,
        log_destination="/dev/null",
        alerts_evaluate=False,
    )()
    metrics = get_state(app).metrics
    assert metrics is not None
    # 24 h of history before now, oldest first, as the sampler would have kept it.
    count = hours * 360
    _fill_history(metrics, count, [f"/route/{r}" for r in range(routes)])
    _failing_routes(app, groups)
    client = app.test_client()
    for n in range(groups):
        for _ in range(occurrences):
            client.get(f"/fail/{n}")
    login = client.get("/_prod/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', login)
    if match is None:
        raise RuntimeError("the dashboard's login page has no CSRF token")
    client.post("/_prod/login", data={"token": _TOKEN, "csrf_token": match.group(1)})
    status = client.get("/_prod/").status_code
    if status != 200:
        raise RuntimeError(f"the overview answered {status}")
    store = get_state(app).error_store
    kept = len(store.groups(limit=groups + 10)) if store is not None else 0
    return {
        "groups": kept,
        "occurrences_per_group": occurrences,
        "samples": count,
        "sample_routes": routes,
        "overview_median_ms": _timed(lambda: client.get("/_prod/"), 20),
    }


def alerts(quick: bool) -> dict[str, Any]:
    """One evaluation of the default rules with 100 routes with traffic."""
    routes = 20 if quick else 100
    app = prodready(log_destination="/dev/null", alerts_evaluate=False)()
    for n in range(routes):
        app.add_url_rule(f"/r{n}", f"r{n}", lambda: "ok")
    client = app.test_client()
    for n in range(routes):
        client.get(f"/r{n}")
    metrics = get_state(app).metrics
    engine = get_state(app).alerts
    assert metrics is not None
    assert engine is not None
    # 30 minutes of samples of every route, so that each rule's windows (5 and 10 min, and
    # the ones before them) find samples and add up every route.
    _fill_history(metrics, 180, [f"/r{r}" for r in range(routes)])
    engine.evaluate()
    values = [state.value for state in engine.states() if state.name != "health_check_failing"]
    if all(value is None for value in values):
        raise RuntimeError("no rule computed a value: the samples cover no window")
    return {
        "routes": routes,
        "rules": len(engine.rules),
        "evaluate_median_ms": _timed(engine.evaluate, 50),
    }


def measure(quick: bool = False) -> dict[str, Any]:
    """Both figures."""
    return {"overview": overview(quick), "alerts": alerts(quick)}


def table(result: dict[str, Any]) -> str:
    """The figures as Markdown, against their budgets."""
    view, rules = result["overview"], result["alerts"]
    rows = [
        (
            f"dashboard overview, {view['groups']} error groups of "
            f"{view['occurrences_per_group']} occurrences, {view['samples']:,} samples of "
            f"{view['sample_routes']} routes",
            view["overview_median_ms"],
            OVERVIEW_BUDGET_MS,
        ),
        (
            f"one alert evaluation, {rules['rules']} rules, {rules['routes']} routes",
            rules["evaluate_median_ms"],
            ALERTS_BUDGET_MS,
        ),
    ]
    lines = ["| figure | median ms | budget ms | |", "| --- | ---: | ---: | --- |"]
    for what, value, budget in rows:
        lines.append(
            f"| {what} | {value:.2f} | {budget:.0f} | {'within' if value <= budget else 'OVER'} |"
        )
    return "\n".join(lines)
