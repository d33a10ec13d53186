"""The names of the metrics part: every metric, label value and endpoint name it uses.

Each is a constant, so that the code, the docs and the tests name every series one way.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ALERT_FIRING",
    "APP_INFO",
    "ERRORS",
    "ERRORS_DROPPED",
    "ERRORS_RECORDED",
    "EXCEPTIONS",
    "HEALTH_CHECK_DURATION",
    "HEALTH_CHECK_STATUS",
    "IN_FLIGHT",
    "JOB_DURATION",
    "JOB_LAST_EXIT_CODE",
    "JOB_LAST_SUCCESS",
    "JOB_OUTCOMES",
    "JOB_QUEUE_WAIT",
    "JOB_RUNS",
    "LOG_SINK_FAILURES",
    "METRICS_ENDPOINT",
    "MULTIPROC_DIR_ENV",
    "OTHER",
    "OTHER_HOST",
    "OUTGOING_DURATION",
    "OUTGOING_REQUESTS",
    "OUTGOING_STATUS_CLASSES",
    "PROFILING_FAILURES",
    "REQUESTS",
    "REQUEST_DURATION",
    "SQL_QUERIES",
    "SQL_REPEATED",
    "SQL_SECONDS",
    "UNMATCHED",
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
#: Counter of job runs, by ``job`` and ``outcome`` (one of :data:`JOB_OUTCOMES`).
JOB_RUNS: Final = "prodready_job_runs_total"
#: Histogram of job run durations in seconds, by ``job``.
JOB_DURATION: Final = "prodready_job_duration_seconds"
#: Histogram of seconds a job waited in its queue before it started, by ``job``.
JOB_QUEUE_WAIT: Final = "prodready_job_queue_wait_seconds"
#: Gauge: when the job ``job`` last succeeded, in seconds since the epoch.
JOB_LAST_SUCCESS: Final = "prodready_job_last_success_timestamp_seconds"
#: Gauge: the exit status of the last run of the ``flask`` command ``job``.
JOB_LAST_EXIT_CODE: Final = "prodready_job_last_exit_code"
#: The values of the ``outcome`` label of :data:`JOB_RUNS`.
JOB_OUTCOMES: Final = ("success", "failure", "retry")
#: Counter of calls to other services, by ``host``, ``method`` and ``status_class``.
OUTGOING_REQUESTS: Final = "prodready_outgoing_requests_total"
#: Histogram of the durations of calls to other services in seconds, by ``host``.
OUTGOING_DURATION: Final = "prodready_outgoing_request_duration_seconds"
#: The values of the ``status_class`` label of :data:`OUTGOING_REQUESTS`: ``error`` is a call
#: that got no answer (refused, timed out, reset), ``cancelled`` one the caller gave up on.
OUTGOING_STATUS_CLASSES: Final = ("1xx", "2xx", "3xx", "4xx", "5xx", "error", "cancelled")
#: The ``host`` label of every host beyond ``PRODREADY_OUTGOING_HOSTS_MAX``.
OTHER_HOST: Final = "<other>"
#: Info gauge (always 1) labelled ``app``, ``version``, ``prodready_version``, ``python_version``.
APP_INFO: Final = "prodready_app_info"
