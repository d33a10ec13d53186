"""Prometheus metrics that stay correct under gunicorn and under attack.

The ``metrics`` part (on unless ``PRODREADY_METRICS_ENABLED`` is off) gives each app:

- ``flask_http_request_duration_seconds`` (histogram) and ``flask_http_request_total``
  (counter) labelled by ``method``, ``route`` and ``status``. ``route`` is the URL rule's
  template, ``/orders/<int:order_id>``, never the raw path; a request that matches no route
  is labelled ``<unmatched>`` and a non-standard method ``other``, so no client can add
  series. Requests to ``PRODREADY_METRICS_EXCLUDED_PATHS`` (and to the exposition itself)
  are not counted.
- flask-prodready's own metrics (in-flight requests, exceptions by type, errors, the error
  store, log sinks, health checks) and an info gauge; see :class:`Metrics`.
- the exposition at ``PRODREADY_METRICS_PATH``, behind an
  :class:`~flask_prodready.access.AccessPolicy`: a refused client gets a problem document
  and no metrics.
- samples for :func:`~flask_prodready.snapshots.metrics_snapshot`.

In one process every app has its own ``CollectorRegistry``, so any number of apps (tests,
app factories) never collide and the global default registry is left alone. When
``PROMETHEUS_MULTIPROC_DIR`` names a directory before ``prometheus_client`` is imported (the
hooks of :mod:`flask_prodready.gunicorn` arrange it), every worker writes its values to files
there and each scrape adds up all workers with ``MultiProcessCollector``.

prometheus-flask-exporter provides the exposition (content negotiation, ``name[]`` filters,
multiprocess aggregation) and is available as :attr:`Metrics.exporter`, whose decorators
record your own metrics in the app's registry. The request metrics are not its defaults:
those label the counter without the route, register no endpoint under the reloader and use
three Flask hooks; here a WSGI middleware around ``app.wsgi_app`` and one teardown hook do
the work, which costs less per request (each Flask hook dispatch costs microseconds). Its
``do_not_track`` decorators therefore do not affect the request metrics: exclude paths with
``PRODREADY_METRICS_EXCLUDED_PATHS``.
"""

from __future__ import annotations

import functools
import glob
import json
import logging
import os
import platform
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from importlib import metadata
from typing import Any, Final
from wsgiref.types import WSGIEnvironment

from flask import Flask, Response, got_request_exception, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import values as prometheus_values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_flask_exporter import PrometheusMetrics

from ._series import RequestWriter, forget_after_fork, request_writer, value_adder
from ._version import __version__
from .access import AccessDecision, AccessPolicy
from .exceptions import SetupError
from .pipeline import pipeline
from .routes import lazy_url_builders
from .snapshots import (
    MetricsSample,
    MetricsSnapshot,
    SampleRingBuffer,
    SampleStore,
    build_snapshot,
)
from .state import ProdReadyState

__all__ = [
    "APP_INFO",
    "ERRORS",
    "ERRORS_DROPPED",
    "ERRORS_RECORDED",
    "EXCEPTIONS",
    "HEALTH_CHECK_DURATION",
    "HEALTH_CHECK_STATUS",
    "IN_FLIGHT",
    "LOG_SINK_FAILURES",
    "METRICS_ENDPOINT",
    "MULTIPROC_DIR_ENV",
    "OTHER",
    "PROFILING_FAILURES",
    "REQUESTS",
    "REQUEST_DURATION",
    "UNMATCHED",
    "Metrics",
    "init_metrics",
]

#: The environment variable that switches prometheus_client to multiprocess mode.
MULTIPROC_DIR_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
#: The endpoint name of the exposition, for ``url_for``.
METRICS_ENDPOINT: Final = "prodready_metrics"
#: The ``route`` label of requests that match no route.
UNMATCHED: Final = "<unmatched>"
#: The label value that stands for every value beyond a cap, and for non-standard methods.
OTHER: Final = "other"

#: Histogram of request durations in seconds, by ``method``, ``route`` and ``status``.
REQUEST_DURATION: Final = "flask_http_request_duration_seconds"
#: Counter of requests, by ``method``, ``route`` and ``status``.
REQUESTS: Final = "flask_http_request_total"
#: Gauge of requests being handled now (summed over live workers).
IN_FLIGHT: Final = "prodready_http_requests_in_flight"
#: Counter of exceptions that escaped the views, by ``type``.
EXCEPTIONS: Final = "prodready_exceptions_total"
#: Counter of error responses rendered by the errors part, by ``code`` and ``class``.
ERRORS: Final = "prodready_errors_total"
#: Counter of errors the error store recorded.
ERRORS_RECORDED: Final = "prodready_error_store_recorded_total"
#: Counter of errors the error store dropped, by ``reason``.
ERRORS_DROPPED: Final = "prodready_error_store_dropped_total"
#: Counter of log records a sink failed to write, by ``sink``.
LOG_SINK_FAILURES: Final = "prodready_log_sink_failures_total"
#: Best-effort profiling work that failed, by kind (``write``, ``prune``, ``armed``, ``profiler``).
PROFILING_FAILURES: Final = "prodready_profiling_failures_total"
#: Gauge: 1 when the health check ``check`` last passed, 0 when it failed.
HEALTH_CHECK_STATUS: Final = "prodready_health_check_status"
#: Gauge: seconds the health check ``check`` took when it last ran.
HEALTH_CHECK_DURATION: Final = "prodready_health_check_duration_seconds"
#: Counter of SQL queries, by ``route`` (when ``watch_sql`` is on).
SQL_QUERIES: Final = "prodready_sql_queries_total"
#: Counter of seconds spent in SQL queries, by ``route``.
SQL_SECONDS: Final = "prodready_sql_seconds_total"
#: Counter of N+1 findings (a statement repeated in one request), by ``route``.
SQL_REPEATED: Final = "prodready_sql_repeated_queries_total"
#: Gauge: 1 while the alert ``alert`` is firing, else 0.
ALERT_FIRING: Final = "prodready_alert_firing"
#: Info gauge (always 1) labelled ``app``, ``version``, ``prodready_version``, ``python_version``.
APP_INFO: Final = "prodready_app_info"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"})
_REQUEST_LABELS = ("method", "route", "status")
_MAX_LABEL_LENGTH = 200
_HISTOGRAM_FILES = "histogram_*.db"

_logger = logging.getLogger(__name__)


class _CappedLabel:
    """Label values as given until ``limit`` distinct ones were seen, then :data:`OTHER`."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        value = value[:_MAX_LABEL_LENGTH]
        if value in self._seen:
            return value
        with self._lock:
            if value in self._seen or len(self._seen) < self._limit:
                self._seen.add(value)
                return value
        return OTHER


class Metrics:
    """The metrics of one app: the ``metrics`` component of its flask-prodready state.

    ``init_metrics`` makes it; read it from the state::

        metrics = get_state(app).metrics
        metrics.count_log_sink_failure("stdout")
        snapshot = metrics.snapshot(minutes=15)

    The ``count_*`` and ``observe_*`` methods are how the other parts report; they never
    raise for a label value, and free-form label values beyond ``max_label_values`` distinct
    ones (per process) are counted as ``other``.

    :param app_name: the ``app`` label of the info gauge.
    :param app_version: the ``version`` label of the info gauge.
    :param path: where the exposition is served; never counted.
    :param excluded_paths: paths whose requests are not counted, with every path below them.
    :param buckets: upper bounds of the request-duration buckets, in seconds.
    :param policy: who may read the exposition; loopback clients only by default.
    :param max_label_values: the cap of each free-form label.
    :param sample_interval: seconds between samples for :meth:`snapshot`.
    :param history_minutes: minutes of samples the default store keeps.
    :param multiprocess_dir: the ``PROMETHEUS_MULTIPROC_DIR`` in use, or ``None`` for
        single-process mode.
    :param store: where samples are kept; an in-process ring buffer by default.
    :param clock: the time in seconds since the epoch, for samples.
    :param timer: a monotonic clock in seconds, for request durations.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        app_name: str,
        app_version: str = "unknown",
        path: str = "/metrics",
        excluded_paths: Iterable[str] = ("/metrics", "/livez", "/readyz", "/_prod"),
        buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS[:-1],
        policy: AccessPolicy | None = None,
        max_label_values: int = 50,
        sample_interval: float = 10.0,
        history_minutes: int = 60,
        multiprocess_dir: str | None = None,
        store: SampleStore | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.path = path
        self.excluded_paths: tuple[str, ...] = tuple(dict.fromkeys([path, *excluded_paths]))
        self.buckets: tuple[float, ...] = tuple(float(bound) for bound in buckets)
        self.policy = policy if policy is not None else AccessPolicy()
        self.sample_interval = sample_interval
        self.multiprocess_dir = multiprocess_dir
        capacity = int(history_minutes * 60 / sample_interval) + 2
        self.store: SampleStore = store if store is not None else SampleRingBuffer(capacity)
        self.clock = clock
        self.timer = timer
        #: This app's registry; in multiprocess mode scrapes read the files instead.
        self.registry = CollectorRegistry(auto_describe=True)
        #: prometheus-flask-exporter bound to :attr:`registry`, for your own decorators.
        self.exporter: Any = PrometheusMetrics(
            None, path=None, export_defaults=False, registry=self.registry
        )
        self._excluded_exact = frozenset(self.excluded_paths)
        self._excluded_prefixes = tuple(p + "/" for p in self.excluded_paths if p != "/")
        #: How each (method, route, status) series is updated, made on its first request.
        self._writers: dict[tuple[str, str, int], RequestWriter] = {}
        #: Serialises every update the writers make (see flask_prodready._series).
        self._write_lock = threading.Lock()
        self._sample_lock = threading.Lock()
        self._next_sample_at = 0.0
        self._define(app_name, app_version, max_label_values)

    def _define(self, app_name: str, app_version: str, cap: int) -> None:
        registry = self.registry
        self._duration = Histogram(
            REQUEST_DURATION,
            "Flask HTTP request duration in seconds, by route template",
            _REQUEST_LABELS,
            registry=registry,
            buckets=self.buckets,
        )
        self._requests = Counter(
            REQUESTS, "Flask HTTP requests, by route template", _REQUEST_LABELS, registry=registry
        )
        self._in_flight = Gauge(
            IN_FLIGHT,
            "HTTP requests being handled now",
            registry=registry,
            multiprocess_mode="livesum",
        )
        # One process: a plain counter read at scrape time costs less per request than the
        # gauge's locked inc/dec. Several processes need the gauge's shared files.
        # (A deque's append and pop are atomic: one mark per request being handled.)
        self._in_flight_marks: deque[None] = deque()
        if self.multiprocess_dir is None:
            self._in_flight.set_function(lambda: len(self._in_flight_marks))
        self._in_flight_add: Callable[[float], None] = self._add_in_flight_anew
        forget_after_fork(self)
        self._exceptions = Counter(
            EXCEPTIONS, "Exceptions that escaped the views, by type", ("type",), registry=registry
        )
        self._errors = Counter(
            ERRORS,
            "Error responses, by HTTP status and error class",
            ("code", "class"),
            registry=registry,
        )
        self._errors_recorded = Counter(
            ERRORS_RECORDED, "Errors recorded by the error store", registry=registry
        )
        self._errors_dropped = Counter(
            ERRORS_DROPPED,
            "Errors the error store dropped, by reason",
            ("reason",),
            registry=registry,
        )
        self._log_sink_failures = Counter(
            LOG_SINK_FAILURES, "Log records a sink failed to write", ("sink",), registry=registry
        )
        self._profiling_failures = Counter(
            PROFILING_FAILURES,
            "Best-effort profiling work that failed, by kind",
            ("kind",),
            registry=registry,
        )
        self._health_status = Gauge(
            HEALTH_CHECK_STATUS,
            "1 when the health check last passed, 0 when it failed",
            ("check", "critical"),
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self._sql_queries = Counter(
            SQL_QUERIES, "SQL queries run by requests", ("route",), registry=registry
        )
        self._sql_seconds = Counter(
            SQL_SECONDS, "Seconds requests spent in SQL queries", ("route",), registry=registry
        )
        self._sql_repeated = Counter(
            SQL_REPEATED,
            "Statements repeated beyond the N+1 threshold in one request",
            ("route",),
            registry=registry,
        )
        self._alert_firing = Gauge(
            ALERT_FIRING,
            "1 while the alert is firing, else 0",
            ("alert",),
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self._health_duration = Gauge(
            HEALTH_CHECK_DURATION,
            "Seconds the health check took when it last ran",
            ("check",),
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.exporter.info(
            APP_INFO,
            "The app and the versions it runs",
            app=app_name,
            version=app_version,
            prodready_version=__version__,
            python_version=platform.python_version(),
        )
        self._exception_type = _CappedLabel(cap)
        self._error_class = _CappedLabel(cap)
        self._drop_reason = _CappedLabel(cap)
        self._sink = _CappedLabel(cap)
        self._check = _CappedLabel(cap)

    @property
    def multiprocess(self) -> bool:
        """Whether the values are aggregated over the files of several processes."""
        return self.multiprocess_dir is not None

    # -- what other parts call -------------------------------------------------------------

    def count_exception(self, exc: BaseException) -> None:
        """Count an exception that escaped a view (the errors part calls this for the
        exceptions it handles itself; unhandled ones are counted automatically).

        :param exc: the exception; its type, ``module.Class`` (``Class`` for built-ins),
            is the ``type`` label.
        """
        kind = type(exc)
        name = (
            kind.__qualname__
            if kind.__module__ == "builtins"
            else f"{kind.__module__}.{kind.__qualname__}"
        )
        self._exceptions.labels(self._exception_type(name)).inc()

    def count_error(self, status: int, error_class: str) -> None:
        """Count an error response (the errors part calls this for each problem document).

        :param status: the HTTP status, the ``code`` label, e.g. ``404``.
        :param error_class: the error's class name, the ``class`` label, e.g.
            ``NotFoundError``.
        """
        self._errors.labels(str(int(status)), self._error_class(error_class)).inc()

    def count_error_recorded(self) -> None:
        """Count an error the error store recorded."""
        self._errors_recorded.inc()

    def count_error_dropped(self, reason: str = "capacity") -> None:
        """Count an error the error store dropped.

        :param reason: why, the ``reason`` label: ``capacity`` when a cap was reached,
            ``failure`` when the backend failed.
        """
        self._errors_dropped.labels(self._drop_reason(reason)).inc()

    def count_log_sink_failure(self, sink: str) -> None:
        """Count a log record that the sink ``sink`` failed to write.

        :param sink: the sink's name, the ``sink`` label, e.g. ``stdout``.
        """
        self._log_sink_failures.labels(self._sink(sink)).inc()

    def count_profiling_failure(self, kind: str) -> None:
        """Count best-effort profiling work that failed; the response was untouched.

        :param kind: the ``kind`` label, one of
            :data:`flask_prodready.profiling.FAILURE_KINDS`.

        .. versionadded:: 0.2
        """
        self._profiling_failures.labels(self._sink(kind)).inc()

    def observe_health_check(
        self, name: str, passed: bool, seconds: float, critical: bool = True
    ) -> None:
        """Record the result of one run of a health check.

        :param name: the check's name, the ``check`` label.
        :param passed: whether it passed.
        :param seconds: how long it took.
        :param critical: whether the check is critical, the status's ``critical`` label
            (``"true"``/``"false"``), so alerts can page on critical checks only.
        """
        check = self._check(name)
        self._health_status.labels(check, "true" if critical else "false").set(
            1.0 if passed else 0.0
        )
        self._health_duration.labels(check).set(max(float(seconds), 0.0))

    def observe_sql_query(self, route: str, seconds: float) -> None:
        """Count one SQL query of a request to ``route`` and the time it took."""
        label = self._route_label(route)
        self._sql_queries.labels(label).inc()
        self._sql_seconds.labels(label).inc(max(seconds, 0.0))

    def count_repeated_query(self, route: str) -> None:
        """Count an N+1 finding in a request to ``route``."""
        self._sql_repeated.labels(self._route_label(route)).inc()

    def _route_label(self, route: str) -> str:
        return route[:200]

    def set_alert_firing(self, name: str, firing: bool) -> None:
        """Set ``prodready_alert_firing{alert=name}`` (the alerts part calls this).

        :param name: the rule's name, the ``alert`` label.
        :param firing: whether it fires now.
        """
        self._alert_firing.labels(self._check(name)).set(1.0 if firing else 0.0)

    # -- reading ---------------------------------------------------------------------------

    def exposition(self, accept: str | None = None) -> tuple[str, str]:
        """The metrics in Prometheus' text format (or OpenMetrics if ``accept`` asks for
        it), aggregated over all workers in multiprocess mode.

        :param accept: the ``Accept`` header of the scrape.
        :return: the body and its content type.
        """
        body, content_type = self.exporter.generate_metrics(accept, None)
        return str(body), str(content_type)

    def sample(self) -> MetricsSample:
        """Read the request totals now and keep them in :attr:`store`."""
        now = self.clock()
        with self._sample_lock:
            self._next_sample_at = now + self.sample_interval
        current = self._read(now)
        self.store.append(current)
        return current

    def snapshot(self, minutes: float = 5.0) -> MetricsSnapshot:
        """Request rate, error rate and latency quantiles over the last ``minutes``.

        See :func:`~flask_prodready.snapshots.metrics_snapshot`.

        :param minutes: the window, more than 0.
        :raises ValueError: if ``minutes`` is not more than 0.
        """
        if not minutes > 0:
            raise ValueError(f"minutes must be more than 0, got {minutes!r}")
        now = self.clock()
        current = self._read(now)
        if self._take_turn(now):
            self.store.append(current)
        samples = self.store.window(now - minutes * 60)
        return build_snapshot(samples, current, minutes, multiprocess=self.multiprocess)

    def _take_turn(self, now: float) -> bool:
        """True, once per interval, for the caller that should keep a sample."""
        with self._sample_lock:
            if now < self._next_sample_at:
                return False
            self._next_sample_at = now + self.sample_interval
            return True

    def _read(self, now: float) -> MetricsSample:
        if self.multiprocess_dir is not None:
            files = glob.glob(os.path.join(self.multiprocess_dir, _HISTOGRAM_FILES))
            families: Iterable[Any] = MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
        else:
            families = self._duration.collect()
        index = {bound: i for i, bound in enumerate(self.buckets)}
        routes: dict[str, Any] = {}
        for family in families:
            if family.name != REQUEST_DURATION:
                continue
            for sample in family.samples:
                labels = sample.labels
                route = labels.get("route", UNMATCHED)
                row = routes.get(route)
                if row is None:
                    row = routes[route] = MetricsSample.new_row(self.buckets)
                if sample.name.endswith("_bucket"):
                    position = index.get(float(labels["le"]))
                    if position is not None:
                        row[2 + position] += sample.value
                elif sample.name.endswith("_count"):
                    row[0] += sample.value
                    if labels.get("status", "").startswith("5"):
                        row[1] += sample.value
        return MetricsSample(now, self.buckets, routes)

    # -- per request -----------------------------------------------------------------------

    # -- per request: an observer of the shared WSGI middleware (flask_prodready.pipeline) ----

    def begin(self, environ: WSGIEnvironment) -> float | None:
        """Before the app: count the request in flight; ``None`` for an excluded path.

        The shared middleware costs less than Flask hooks, which Flask dispatches one by
        one on every request.
        """
        path = environ.get("PATH_INFO") or "/"
        if path in self._excluded_exact or path.startswith(self._excluded_prefixes):
            return None
        if self.clock() >= self._next_sample_at:
            self._sample_in_request()
        if self.multiprocess_dir is None:
            self._in_flight_marks.append(None)
        else:
            self._in_flight_add(1.0)
        started: float = self.timer()
        return started

    def end(self, environ: WSGIEnvironment, status: int, req: Any, started: object) -> None:
        """After the app: observe the duration by method, route template and status."""
        if started is None:
            return
        elapsed = self.timer() - started  # type: ignore[operator]
        if self.multiprocess_dir is None:
            self._in_flight_marks.pop()
        else:
            self._in_flight_add(-1.0)
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in _METHODS:
            method = OTHER
        rule = getattr(req, "url_rule", None)
        key = (method, UNMATCHED if rule is None else rule.rule, status)
        write = self._writers.get(key)
        if write is None:
            labels = (method, key[1], str(status))
            write = self._writers[key] = request_writer(
                self._duration.labels(*labels),
                self._requests.labels(*labels),
                self.multiprocess_dir is not None,
                self._write_lock,
            )
        write(elapsed if elapsed > 0.0 else 0.0)

    def forget_writers(self) -> None:
        """Drop the per-series writers, which a forked worker must build anew (see
        :mod:`flask_prodready._series`)."""
        self._writers.clear()
        # A lock another thread held at the fork would stay held in the child forever.
        self._write_lock = threading.Lock()
        if self.multiprocess_dir is not None:
            self._in_flight_add = self._add_in_flight_anew

    def _add_in_flight_anew(self, amount: float) -> None:
        self._in_flight_add = value_adder(self._in_flight, True, self._write_lock)
        self._in_flight_add(amount)

    def _count_unhandled(self, sender: Any, exception: BaseException, **extra: Any) -> None:
        """``got_request_exception``: an exception no error handler answered."""
        self.count_exception(exception)

    def _sample_in_request(self) -> None:
        """Keep a sample before this request is counted; never fail the request for it."""
        now = self.clock()
        if not self._take_turn(now):
            return
        try:
            self.store.append(self._read(now))
        except Exception:  # a sample is not worth a user's request; it is logged
            _logger.warning("flask-prodready could not sample the request metrics", exc_info=True)

    def _serve(self) -> Response:
        decision = self.policy.check(request)
        if decision is AccessDecision.UNAUTHENTICATED:
            return _problem(
                HTTPStatus.UNAUTHORIZED,
                "Reading the metrics from this address needs a bearer token: send "
                "'Authorization: Bearer <token>'.",
                {"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        if decision is not AccessDecision.ALLOWED:
            return _problem(HTTPStatus.FORBIDDEN, "This client may not read the metrics.")
        names = request.args.getlist("name[]") or None
        body, content_type = self.exporter.generate_metrics(request.headers.get("Accept"), names)
        return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})

    def __repr__(self) -> str:
        mode = f"multiprocess {self.multiprocess_dir!r}" if self.multiprocess else "single-process"
        return f"<Metrics {self.path} {mode}>"


def init_metrics(app: Flask, state: ProdReadyState) -> None:
    """Set up the metrics of ``app`` from its ``PRODREADY_METRICS_*`` settings.

    Registers the request hooks and the exposition endpoint (:data:`METRICS_ENDPOINT`), and
    stores the :class:`Metrics` object in ``state.metrics``.

    :param app: the app being set up.
    :param state: the app's flask-prodready state.
    :raises SetupError: if ``PROMETHEUS_MULTIPROC_DIR`` is set but is no directory, or was
        set only after ``prometheus_client`` had been imported.

    .. versionadded:: 0.1
    """
    setting = state.setting
    metrics = Metrics(
        app_name=app.name,
        app_version=setting("PRODREADY_METRICS_APP_VERSION") or _distribution_version(app),
        path=setting("PRODREADY_METRICS_PATH"),
        excluded_paths=setting("PRODREADY_METRICS_EXCLUDED_PATHS"),
        buckets=setting("PRODREADY_METRICS_BUCKETS"),
        policy=AccessPolicy(
            token=setting("PRODREADY_METRICS_TOKEN"),
            networks=tuple(setting("PRODREADY_METRICS_ALLOWED_NETWORKS")),
            open=setting("PRODREADY_METRICS_OPEN"),
            loopback=setting("PRODREADY_METRICS_ALLOW_LOOPBACK"),
        ),
        max_label_values=setting("PRODREADY_METRICS_MAX_LABEL_VALUES"),
        sample_interval=setting("PRODREADY_METRICS_SAMPLE_INTERVAL"),
        history_minutes=setting("PRODREADY_METRICS_HISTORY_MINUTES"),
        multiprocess_dir=_multiprocess_dir(),
    )
    pipeline(app, state).observe("metrics", metrics)
    got_request_exception.connect(metrics._count_unhandled, app, weak=False)
    with lazy_url_builders(app):
        app.add_url_rule(metrics.path, METRICS_ENDPOINT, metrics._serve, methods=["GET"])
    metrics.sample()
    state.metrics = metrics


def _multiprocess_dir() -> str | None:
    directory = os.environ.get(MULTIPROC_DIR_ENV) or os.environ.get(MULTIPROC_DIR_ENV.lower())
    if not directory:
        return None
    if not os.path.isdir(directory):
        raise SetupError(
            f"{MULTIPROC_DIR_ENV} is {directory!r}, which is not a directory. Create it before "
            "the app starts (the on_starting hook of flask_prodready.gunicorn does), or unset "
            "the variable for single-process metrics."
        )
    if not getattr(prometheus_values.ValueClass, "_multiprocess", False):
        raise SetupError(
            f"{MULTIPROC_DIR_ENV} was set after prometheus_client had been imported, so this "
            "process would keep its metrics in memory where no scrape sees them. Set it in the "
            "environment before the app is imported: with gunicorn, use the hooks of "
            "flask_prodready.gunicorn in gunicorn.conf.py without preload_app, or export the "
            "variable before starting gunicorn."
        )
    return directory


def _distribution_version(app: Flask) -> str:
    return _version_of(app.import_name.partition(".")[0])


@functools.lru_cache(maxsize=64)
def _version_of(top: str) -> str:
    """The installed version of the distribution named ``top`` (read once per process)."""
    if not top or top == "__main__":
        return "unknown"
    try:
        return metadata.version(top)
    except (metadata.PackageNotFoundError, ValueError):
        return "unknown"


def _problem(status: HTTPStatus, detail: str, headers: dict[str, str] | None = None) -> Response:
    """A small RFC 9457 problem document; the errors part brings the full machinery."""
    document = {
        "type": "about:blank",
        "title": status.phrase,
        "status": int(status),
        "detail": detail,
    }
    response = Response(json.dumps(document), int(status), mimetype="application/problem+json")
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = "no-store"
    return response
