"""The :class:`Metrics` of one app: what the other parts report, and every request observed.

A :class:`Metrics` object owns the app's ``CollectorRegistry`` and its metric families
(``flask_prodready.metrics._families``). The other parts report through its ``count_*``
and ``observe_*`` methods; the request pipeline calls :meth:`Metrics.begin` and
:meth:`Metrics.end` around every request, which is why those two do as little as they can;
and it keeps the samples that :meth:`Metrics.snapshot` and the alert rules read.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from wsgiref.types import WSGIEnvironment

from flask import Response
from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_flask_exporter import PrometheusMetrics

from flask_prodready._series import RequestWriter, forget_after_fork, request_writer, value_adder
from flask_prodready._version import __version__
from flask_prodready.access import AccessPolicy
from flask_prodready.snapshots import (
    MetricsSample,
    MetricsSnapshot,
    SampleRingBuffer,
    SampleStore,
    build_snapshot,
)

from ._exposition import serve_exposition
from ._families import CappedLabel, define_families
from ._totals import read_totals
from .names import APP_INFO, OTHER, UNMATCHED

__all__ = ["Metrics"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"})

# The logger of the metrics part, whichever module of it logs.
_logger = logging.getLogger("flask_prodready.metrics")


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
        families = define_families(self.registry, self.buckets)
        self._duration = families.duration
        self._requests = families.requests
        self._in_flight = families.in_flight
        # One process: a plain counter read at scrape time costs less per request than the
        # gauge's locked inc/dec. Several processes need the gauge's shared files.
        # (A deque's append and pop are atomic: one mark per request being handled.)
        self._in_flight_marks: deque[None] = deque()
        if self.multiprocess_dir is None:
            self._in_flight.set_function(lambda: len(self._in_flight_marks))
        self._in_flight_add: Callable[[float], None] = self._add_in_flight_anew
        forget_after_fork(self)
        self._exceptions = families.exceptions
        self._errors = families.errors
        self._errors_recorded = families.errors_recorded
        self._errors_dropped = families.errors_dropped
        self._log_sink_failures = families.log_sink_failures
        self._profiling_failures = families.profiling_failures
        self._health_status = families.health_status
        self._sql_queries = families.sql_queries
        self._sql_seconds = families.sql_seconds
        self._sql_repeated = families.sql_repeated
        self._alert_firing = families.alert_firing
        self._health_duration = families.health_duration
        self._job_runs = families.job_runs
        self._job_duration = families.job_duration
        self._job_queue_wait = families.job_queue_wait
        self._job_last_success = families.job_last_success
        self._job_last_exit_code = families.job_last_exit_code
        self._outgoing_requests = families.outgoing_requests
        self._outgoing_duration = families.outgoing_duration
        #: The labelled children of the outgoing series, by (host, method, status class):
        #: bounded by the host cap, the methods and the classes.
        self._outgoing_series: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        # Ours, not exporter.info(): its "max" mode would keep a dead worker's release
        # (a reload onto a new release) beside the new one until the master restarts.
        Gauge(
            APP_INFO,
            "The app and the versions it runs",
            ("app", "version", "prodready_version", "python_version"),
            registry=self.registry,
            multiprocess_mode="livemax",
        ).labels(app_name, app_version, __version__, platform.python_version()).set(1)
        self._exception_type = CappedLabel(cap)
        self._error_class = CappedLabel(cap)
        self._drop_reason = CappedLabel(cap)
        self._sink = CappedLabel(cap)
        self._check = CappedLabel(cap)
        self._job = CappedLabel(cap)

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

    def observe_outgoing(self, host: str, method: str, status_class: str, seconds: float) -> None:
        """Record one call to another service (the outgoing part calls this).

        :param host: the host name called, already capped (``<other>`` beyond the cap).
        :param method: the HTTP method, upper case.
        :param status_class: ``2xx`` … ``5xx``, or ``error`` for a call without an answer.
        :param seconds: how long the call took.

        .. versionadded:: 0.2
        """
        if method not in _METHODS:
            method = OTHER
        key = (host, method, status_class)
        series = self._outgoing_series.get(key)
        if series is None:
            # labels() takes a lock and checks the values on every call: once per series.
            series = (
                self._outgoing_requests.labels(host, method, status_class),
                self._outgoing_duration.labels(host),
            )
            self._outgoing_series[key] = series
        series[0].inc()
        series[1].observe(max(float(seconds), 0.0))

    def observe_job(
        self,
        name: str,
        outcome: str,
        seconds: float,
        *,
        queue_wait: float | None = None,
        exit_code: int | None = None,
    ) -> None:
        """Record one finished run of the job ``name`` (the jobs part calls this).

        :param name: the job's name, the ``job`` label (capped like every free-form label).
        :param outcome: ``success``, ``failure`` or ``retry``, the ``outcome`` label.
        :param seconds: how long the run took.
        :param queue_wait: seconds it waited in its queue before it started, when known.
        :param exit_code: the exit status of a ``flask`` command.

        .. versionadded:: 0.2
        """
        job = self._job(name)
        self._job_runs.labels(job, outcome).inc()
        self._job_duration.labels(job).observe(max(float(seconds), 0.0))
        if queue_wait is not None:
            self._job_queue_wait.labels(job).observe(max(float(queue_wait), 0.0))
        if outcome == "success":
            self._job_last_success.labels(job).set(self.clock())
        if exit_code is not None:
            self._job_last_exit_code.labels(job).set(float(exit_code))

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
        return read_totals(self._duration, self.buckets, self.multiprocess_dir, now)

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
        """The view of the exposition endpoint (:data:`METRICS_ENDPOINT`)."""
        return serve_exposition(self.policy, self.exporter)

    def __repr__(self) -> str:
        mode = f"multiprocess {self.multiprocess_dir!r}" if self.multiprocess else "single-process"
        return f"<Metrics {self.path} {mode}>"
