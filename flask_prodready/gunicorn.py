"""Ready hooks for ``gunicorn.conf.py``.

gunicorn looks its hooks up by name in the configuration file, so importing them is enough::

    # gunicorn.conf.py
    from flask_prodready.gunicorn import child_exit, on_exit, on_starting, when_ready

With hooks of your own, call ours from them::

    from flask_prodready import gunicorn as prodready

    def child_exit(server, worker):
        prodready.child_exit(server, worker)
        ...  # yours

What they do, for metrics that add up every worker (prometheus_client's multiprocess mode):

``on_starting``
    In the master, before any worker exists (and before the app is loaded, unless
    ``preload_app`` is on): uses ``PROMETHEUS_MULTIPROC_DIR`` if it is set, else creates a new
    private directory under the system's temporary directory; creates the directory if it is
    missing, removes the metric files an earlier run left in it, and exports
    ``PROMETHEUS_MULTIPROC_DIR`` so that every worker writes its values there.
``when_ready``
    Logs where the workers' metrics are aggregated.
``child_exit``
    When a worker has exited: removes its live gauges (in-flight requests, health checks) with
    ``prometheus_client.multiprocess.mark_process_dead``. Its counters and histograms stay,
    so totals never go down when a worker is replaced.
``on_exit``
    Removes the directory if ``on_starting`` created it under the temporary directory.

``PROMETHEUS_MULTIPROC_DIR`` must be set before ``prometheus_client`` is first imported in a
process, so this module imports neither ``prometheus_client`` nor the app when it is
imported. With ``preload_app = True`` the app is loaded before ``on_starting`` runs: export
``PROMETHEUS_MULTIPROC_DIR`` (an existing directory) before starting gunicorn.

Each hook is a list of small private steps, so that more (graceful shutdown, ...) can be
added to the same hooks.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

from .compat.prometheus import imported_with_values_in_memory

__all__ = ["child_exit", "on_exit", "on_starting", "when_ready"]

#: The variable prometheus_client reads (same as ``flask_prodready.metrics.MULTIPROC_DIR_ENV``,
#: repeated here so that this module never imports prometheus_client).
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The name prefix of the directories ``on_starting`` creates under the temporary directory.
TEMPORARY_DIR_PREFIX = "flask-prodready-metrics-"

# The files prometheus_client writes: <type>_<pid>.db, gauges with their mode.
_METRIC_FILE_RE = re.compile(r"^(?:counter|histogram|summary|gauge_[a-z]+)_(\d+)\.db$")


class _Log(Protocol):
    def info(self, msg: str, *args: Any) -> None: ...

    def warning(self, msg: str, *args: Any) -> None: ...


class Server(Protocol):
    """What the hooks use of gunicorn's ``Arbiter``.

    .. versionadded:: 0.1
    """

    log: _Log


class Worker(Protocol):
    """What the hooks use of a gunicorn worker.

    .. versionadded:: 0.1
    """

    pid: int


def on_starting(server: Server) -> None:
    """gunicorn hook: prepare the multiprocess metrics directory, in the master, and send
    the master's own log lines (``Booting worker``, ``Handling signal``…) through the same
    JSON sink as the workers'.

    :param server: gunicorn's arbiter.

    .. versionadded:: 0.1
    """
    _json_master_logs()
    _prepare_multiprocess_dir(server)


def when_ready(server: Server) -> None:
    """gunicorn hook: say where the workers' metrics are aggregated.

    :param server: gunicorn's arbiter.

    .. versionadded:: 0.1
    """
    _report_multiprocess_dir(server)


def child_exit(server: Server, worker: Worker) -> None:
    """gunicorn hook: drop the live gauges of a worker that exited; keep its counters.

    :param server: gunicorn's arbiter.
    :param worker: the worker that exited.

    .. versionadded:: 0.1
    """
    _mark_worker_dead(server, worker)


def on_exit(server: Server) -> None:
    """gunicorn hook: remove the metrics directory if ``on_starting`` created it.

    :param server: gunicorn's arbiter.

    .. versionadded:: 0.1
    """
    _remove_temporary_dir(server)


def _json_master_logs() -> None:
    # With preload_app the app's init_app already set logging up; otherwise the master
    # never loads the app, so its lines would stay gunicorn's plain text.
    from . import logs

    logs.install_defaults()


def _prepare_multiprocess_dir(server: Server) -> None:
    if imported_with_values_in_memory():
        raise RuntimeError(
            f"prometheus_client was imported in the gunicorn master before {MULTIPROC_DIR_ENV} "
            "was set (preload_app, or an import in gunicorn.conf.py), so the workers would "
            f"keep their metrics to themselves. Export {MULTIPROC_DIR_ENV} before starting "
            "gunicorn, or turn preload_app off."
        )
    configured = os.environ.get(MULTIPROC_DIR_ENV)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
    else:
        directory = Path(tempfile.mkdtemp(prefix=TEMPORARY_DIR_PREFIX))
        os.environ[MULTIPROC_DIR_ENV] = str(directory)
    removed = _remove_metric_files(directory, keep_pid=os.getpid())
    if removed:
        server.log.info("metrics: removed %d metric files of an earlier run", removed)


def _remove_metric_files(directory: Path, *, keep_pid: int) -> int:
    """Remove prometheus_client's files (only those), except the ones of ``keep_pid``.

    With ``preload_app`` the master wrote its own files while loading the app; they stay.
    """
    removed = 0
    for path in directory.iterdir():
        match = _METRIC_FILE_RE.match(path.name)
        if match and int(match.group(1)) != keep_pid and path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _report_multiprocess_dir(server: Server) -> None:
    directory = os.environ.get(MULTIPROC_DIR_ENV)
    if directory:
        server.log.info("metrics: every worker's metrics are added up from %s", directory)
    else:
        server.log.warning(
            "metrics: %s is not set, so each worker answers /metrics with its own numbers; "
            "use flask_prodready.gunicorn's on_starting hook",
            MULTIPROC_DIR_ENV,
        )


def _mark_worker_dead(server: Server, worker: Worker) -> None:
    directory = os.environ.get(MULTIPROC_DIR_ENV)
    if not directory:
        return
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(worker.pid, directory)  # type: ignore[no-untyped-call]


def _remove_temporary_dir(server: Server) -> None:
    directory = os.environ.get(MULTIPROC_DIR_ENV)
    if not directory:
        return
    path = Path(directory)
    if path.name.startswith(TEMPORARY_DIR_PREFIX) and path.parent == Path(tempfile.gettempdir()):
        shutil.rmtree(path, ignore_errors=True)
