"""What each page shows, read through :mod:`flask_prodready.introspection` (no Flask response
here)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask_prodready.store import StoreError

from .charts import chart
from .sync import LEVEL_PREFIX, instances

if TYPE_CHECKING:
    from flask_prodready import HealthReport, MetricsSnapshot, RouteStats
    from flask_prodready.introspection import AppIntrospection

    from . import Dashboard

__all__ = [
    "FORMATTERS",
    "config_rows",
    "firing_alerts",
    "health",
    "log_levels",
    "outgoing",
    "overview",
    "parse_line",
    "performance",
    "route_rows",
]

_SORT_KEYS: dict[str, Callable[[Any], Any]] = {
    "route": lambda r: r.route,
    "requests": lambda r: -r.requests,
    "rate": lambda r: -r.request_rate,
    "errors": lambda r: -r.error_ratio,
    "p50": lambda r: -(r.p50 or 0),
    "p95": lambda r: -(r.p95 or 0),
    "p99": lambda r: -(r.p99 or 0),
}


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    seconds = max(time.time() - epoch, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.0f} ms"


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


#: Formatting helpers for templates, as ``fmt.when(...)``.
FORMATTERS: dict[str, Callable[..., str]] = {
    "when": _when,
    "ago": _ago,
    "ms": _ms,
    "duration": _duration,
    "pct": lambda ratio: f"{ratio * 100:.1f} %",
    "rate": lambda per_second: f"{per_second:.2f}/s",
}


def parse_line(text: str) -> dict[str, Any]:
    """A stored JSON log line as a dict (with ``raw``); text that is not JSON as a message."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {"message": text}
    data["raw"] = text
    return data


def _snapshot(info: AppIntrospection, minutes: float) -> tuple[MetricsSnapshot | None, str | None]:
    if not info.metrics_on:
        return None, "metrics are switched off (PRODREADY_METRICS_ENABLED)"
    try:
        return info.metrics_snapshot(minutes), None
    except Exception as exc:  # a broken multiprocess directory must not break the page
        return None, f"metrics unavailable: {type(exc).__name__}: {exc}"


def overview(info: AppIntrospection, dashboard: Dashboard) -> dict[str, Any]:
    """Overview: health, charts for 15 and 60 minutes, newest errors, alerts, instances."""
    windows = []
    problem = None
    for minutes in (15, 60):
        snapshot, problem = _snapshot(info, minutes)
        if snapshot is None:
            continue
        series = snapshot.series
        windows.append(
            {
                "minutes": minutes,
                "snapshot": snapshot,
                "charts": [
                    ("Requests/s", chart([p.request_rate for p in series]), "rate"),
                    ("Errors/s", chart([p.error_rate for p in series]), "rate"),
                    ("p95 latency", chart([p.p95 for p in series]), "ms"),
                ],
            }
        )
    store = info.error_store
    groups: list[Any] = []
    workers: list[Any] = []
    if store is not None:
        try:
            groups = store.groups(resolved=False, limit=5)
            workers = instances(store)
        except StoreError as exc:
            problem = str(exc)
    return {
        "report": info.health_report(),
        "windows": windows,
        "groups": groups,
        "alerts": firing_alerts(info),
        "instances": workers,
        "store_missing": store is None,
        "problem": problem,
    }


def firing_alerts(info: AppIntrospection) -> list[Any]:
    """Firing alerts; none with the alerts part off, or when it cannot answer."""
    try:
        return info.firing_alerts()
    except Exception:  # an alert engine failing must not hide the rest of the overview
        return []


def route_rows(
    info: AppIntrospection, minutes: float, sort: str
) -> tuple[list[RouteStats], str | None]:
    """Each route's stats over ``minutes``, sorted by column ``sort``."""
    snapshot, problem = _snapshot(info, minutes)
    if snapshot is None:
        return [], problem
    key = _SORT_KEYS.get(sort, _SORT_KEYS["requests"])
    return sorted(snapshot.routes, key=key), None


def health(info: AppIntrospection, dashboard: Dashboard) -> dict[str, Any]:
    """Every check's latest outcome and its history in this worker."""
    report: HealthReport | None = info.health_report()
    checks = []
    if report is not None:
        for outcome in report.checks:
            checks.append({"outcome": outcome, "history": dashboard.history.of(outcome.name)})
    return {"report": report, "checks": checks}


def config_rows(info: AppIntrospection) -> tuple[list[Any], list[str]]:
    """``flask prodready config`` rows and ``flask prodready check`` warnings."""
    return info.settings_rows(), info.config_warnings()


def log_levels(info: AppIntrospection) -> list[tuple[str, str]]:
    """``(logger, level)`` in force in this worker: overall first, then named loggers."""
    overall = info.log_level()
    if overall is None:
        return []
    rows = [("", overall)]
    names = set(info.setting("PRODREADY_LOG_LEVELS"))
    store = info.error_store
    if store is not None:
        with contextlib.suppress(StoreError):
            names |= {key.removeprefix(LEVEL_PREFIX) for key in store.values(LEVEL_PREFIX)}
    for name in sorted(name for name in names if name):
        level = info.log_level(name)
        if level is not None:  # None only once logging was reset meanwhile
            rows.append((name, level))
    return rows


def performance(info: AppIntrospection) -> dict[str, Any]:
    """Kept profiles, N+1 findings and slow requests."""
    return {
        "profiles": info.profiles(),
        "profiling_on": info.profiling_on,
        "armed": info.armed_profiling(),
        "routes": sorted({rule.rule for rule in info.app.url_map.iter_rules()}),
        "repeated": info.repeated_queries(),
        "sql_on": info.sql_on,
        "slow": info.slow_requests(),
        "slow_ms": info.slow_request_ms,
    }


def outgoing(info: AppIntrospection) -> dict[str, Any]:
    """Calls to other services by host, and the latest that failed."""
    return {
        "outgoing_on": info.outgoing_on,
        "hosts": info.outgoing_hosts(),
        "failed": info.outgoing_calls(failed_only=True)[:50],
    }
