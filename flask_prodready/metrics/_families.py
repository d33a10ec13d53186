"""The metric families of one app, defined in its own registry, and their label caps.

:func:`define_families` registers every family of the metrics part, in the order the
exposition lists them; :class:`CappedLabel` keeps a free-form label (an exception type, a
health check's name) from adding series without end.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .names import (
    ALERT_FIRING,
    ERRORS,
    ERRORS_DROPPED,
    ERRORS_RECORDED,
    EXCEPTIONS,
    HEALTH_CHECK_DURATION,
    HEALTH_CHECK_STATUS,
    IN_FLIGHT,
    JOB_DURATION,
    JOB_LAST_EXIT_CODE,
    JOB_LAST_SUCCESS,
    JOB_QUEUE_WAIT,
    JOB_RUNS,
    LOG_SINK_FAILURES,
    OTHER,
    OUTGOING_DURATION,
    OUTGOING_REQUESTS,
    PROFILING_FAILURES,
    REQUEST_DURATION,
    REQUESTS,
    SQL_QUERIES,
    SQL_REPEATED,
    SQL_SECONDS,
)

__all__ = ["CappedLabel", "Families", "define_families"]

#: The labels of the request series, in this order.
REQUEST_LABELS = ("method", "route", "status")
#: Free-form label values are cut to this many characters.
MAX_LABEL_LENGTH = 200


class CappedLabel:
    """Label values as given until ``limit`` distinct ones were seen, then ``other``
    (:data:`OTHER` by default)."""

    def __init__(self, limit: int, other: str = OTHER) -> None:
        self._limit = limit
        self._other = other
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        value = value[:MAX_LABEL_LENGTH]
        if value in self._seen:
            return value
        with self._lock:
            if value in self._seen or len(self._seen) < self._limit:
                self._seen.add(value)
                return value
        return self._other


@dataclass(frozen=True)
class Families:
    """Every metric family of the metrics part but the info gauge, which the exporter makes."""

    duration: Histogram
    requests: Counter
    in_flight: Gauge
    exceptions: Counter
    errors: Counter
    errors_recorded: Counter
    errors_dropped: Counter
    log_sink_failures: Counter
    profiling_failures: Counter
    health_status: Gauge
    sql_queries: Counter
    sql_seconds: Counter
    sql_repeated: Counter
    alert_firing: Gauge
    health_duration: Gauge
    job_runs: Counter
    job_duration: Histogram
    job_queue_wait: Histogram
    job_last_success: Gauge
    job_last_exit_code: Gauge
    outgoing_requests: Counter
    outgoing_duration: Histogram


#: Upper bounds of the job duration buckets, in seconds: jobs run from milliseconds to hours.
JOB_BUCKETS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)


def define_families(registry: CollectorRegistry, buckets: Sequence[float]) -> Families:
    """Register the metric families in ``registry``.

    :param registry: the app's registry.
    :param buckets: the finite upper bounds of the request-duration histogram, in seconds.
    """
    return Families(
        duration=Histogram(
            REQUEST_DURATION,
            "Flask HTTP request duration in seconds, by route template",
            REQUEST_LABELS,
            registry=registry,
            buckets=buckets,
        ),
        requests=Counter(
            REQUESTS, "Flask HTTP requests, by route template", REQUEST_LABELS, registry=registry
        ),
        in_flight=Gauge(
            IN_FLIGHT,
            "HTTP requests being handled now",
            registry=registry,
            multiprocess_mode="livesum",
        ),
        exceptions=Counter(
            EXCEPTIONS, "Exceptions that escaped the views, by type", ("type",), registry=registry
        ),
        errors=Counter(
            ERRORS,
            "Error responses, by HTTP status and error class",
            ("code", "class"),
            registry=registry,
        ),
        errors_recorded=Counter(
            ERRORS_RECORDED, "Errors recorded by the error store", registry=registry
        ),
        errors_dropped=Counter(
            ERRORS_DROPPED,
            "Errors the error store dropped, by reason",
            ("reason",),
            registry=registry,
        ),
        log_sink_failures=Counter(
            LOG_SINK_FAILURES, "Log records a sink failed to write", ("sink",), registry=registry
        ),
        profiling_failures=Counter(
            PROFILING_FAILURES,
            "Best-effort profiling work that failed, by kind",
            ("kind",),
            registry=registry,
        ),
        health_status=Gauge(
            HEALTH_CHECK_STATUS,
            "1 when the health check last passed, 0 when it failed",
            ("check", "critical"),
            registry=registry,
            multiprocess_mode="livemostrecent",
        ),
        sql_queries=Counter(
            SQL_QUERIES, "SQL queries run by requests", ("route",), registry=registry
        ),
        sql_seconds=Counter(
            SQL_SECONDS, "Seconds requests spent in SQL queries", ("route",), registry=registry
        ),
        sql_repeated=Counter(
            SQL_REPEATED,
            "Statements repeated beyond the N+1 threshold in one request",
            ("route",),
            registry=registry,
        ),
        alert_firing=Gauge(
            ALERT_FIRING,
            "1 while the alert is firing, else 0",
            ("alert",),
            registry=registry,
            multiprocess_mode="mostrecent",
        ),
        health_duration=Gauge(
            HEALTH_CHECK_DURATION,
            "Seconds the health check took when it last ran",
            ("check",),
            registry=registry,
            multiprocess_mode="livemostrecent",
        ),
        job_runs=Counter(
            JOB_RUNS, "Job runs, by job and outcome", ("job", "outcome"), registry=registry
        ),
        job_duration=Histogram(
            JOB_DURATION,
            "Job run duration in seconds, by job",
            ("job",),
            registry=registry,
            buckets=JOB_BUCKETS,
        ),
        job_queue_wait=Histogram(
            JOB_QUEUE_WAIT,
            "Seconds a job waited in its queue before it started, by job",
            ("job",),
            registry=registry,
            buckets=JOB_BUCKETS,
        ),
        # "max": a worker that ran the job and then exited still counts.
        job_last_success=Gauge(
            JOB_LAST_SUCCESS,
            "When the job last succeeded, in seconds since the epoch",
            ("job",),
            registry=registry,
            multiprocess_mode="max",
        ),
        job_last_exit_code=Gauge(
            JOB_LAST_EXIT_CODE,
            "The exit status of the last run of the flask command",
            ("job",),
            registry=registry,
            multiprocess_mode="mostrecent",
        ),
        outgoing_requests=Counter(
            OUTGOING_REQUESTS,
            "Calls to other services, by host, method and status class",
            ("host", "method", "status_class"),
            registry=registry,
        ),
        outgoing_duration=Histogram(
            OUTGOING_DURATION,
            "Duration of calls to other services in seconds, by host",
            ("host",),
            registry=registry,
            buckets=buckets,
        ),
    )
