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

One module per job, every name importable from here:

- :mod:`~flask_prodready.metrics.names`: the metric names and label values;
- :mod:`~flask_prodready.metrics.app_metrics`: :class:`Metrics`, what the other parts report
  through and what observes every request;
- ``_families`` (the metric families in the app's registry), ``_totals`` (the request totals
  that samples keep) and ``_exposition`` (the exposition endpoint and its access policy),
  private to the package.

This module sets the part up: :func:`init_metrics`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from flask import Flask, got_request_exception

from flask_prodready.access import AccessPolicy
from flask_prodready.compat.prometheus import uses_multiprocess_values
from flask_prodready.exceptions import SetupError
from flask_prodready.pipeline import pipeline
from flask_prodready.routes import lazy_url_builders
from flask_prodready.state import ProdReadyState

from .names import ALERT_FIRING as ALERT_FIRING
from .names import APP_INFO as APP_INFO
from .names import ERRORS as ERRORS
from .names import ERRORS_DROPPED as ERRORS_DROPPED
from .names import ERRORS_RECORDED as ERRORS_RECORDED
from .names import EXCEPTIONS as EXCEPTIONS
from .names import HEALTH_CHECK_DURATION as HEALTH_CHECK_DURATION
from .names import HEALTH_CHECK_STATUS as HEALTH_CHECK_STATUS
from .names import IN_FLIGHT as IN_FLIGHT
from .names import JOB_DURATION as JOB_DURATION
from .names import JOB_LAST_EXIT_CODE as JOB_LAST_EXIT_CODE
from .names import JOB_LAST_SUCCESS as JOB_LAST_SUCCESS
from .names import JOB_OUTCOMES as JOB_OUTCOMES
from .names import JOB_QUEUE_WAIT as JOB_QUEUE_WAIT
from .names import JOB_RUNS as JOB_RUNS
from .names import LOG_SINK_FAILURES as LOG_SINK_FAILURES
from .names import METRICS_ENDPOINT as METRICS_ENDPOINT
from .names import MULTIPROC_DIR_ENV as MULTIPROC_DIR_ENV
from .names import OTHER as OTHER
from .names import PROFILING_FAILURES as PROFILING_FAILURES
from .names import REQUEST_DURATION as REQUEST_DURATION
from .names import REQUESTS as REQUESTS
from .names import SQL_QUERIES as SQL_QUERIES
from .names import SQL_REPEATED as SQL_REPEATED
from .names import SQL_SECONDS as SQL_SECONDS
from .names import UNMATCHED as UNMATCHED

if TYPE_CHECKING:
    from .app_metrics import Metrics as Metrics

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


def __getattr__(name: str) -> object:
    # Metrics (and with it prometheus_client) is imported on first use, not with the package:
    # the settings schema imports metrics.settings, which runs this module, for every app,
    # also one with metrics off; and prometheus_client picks its value class on import.
    if name == "Metrics":
        from .app_metrics import Metrics

        return Metrics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    from .app_metrics import Metrics

    setting = state.setting
    metrics = Metrics(
        app_name=app.name,
        app_version=state.release.version,
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
    if not uses_multiprocess_values():
        raise SetupError(
            f"{MULTIPROC_DIR_ENV} was set after prometheus_client had been imported, so this "
            "process would keep its metrics in memory where no scrape sees them. Set it in the "
            "environment before the app is imported: with gunicorn, use the hooks of "
            "flask_prodready.gunicorn in gunicorn.conf.py without preload_app, or export the "
            "variable before starting gunicorn."
        )
    return directory
