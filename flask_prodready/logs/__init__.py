"""Structured logging: loguru as JSON lines or pretty text, stdlib logging routed in, access lines.

::

    from flask_prodready.logs import set_log_level

    set_log_level("DEBUG", "sqlalchemy.engine")

The package, one job per module:

- :mod:`.render`: the JSON line of the documented schema, and the pretty text;
- :mod:`.levels`: level names and numbers, and the level filter;
- :mod:`.sink`: the stream or rotating file every line goes to;
- :mod:`.stdlib`: stdlib logging routed through loguru;
- :mod:`.access`: :class:`AccessLog` and the access line, slow requests;
- :mod:`.breadcrumbs`: each request's recent lines, for its recorded errors;
- :mod:`.shipping`: lines sent to the error store of the app that logged them;
- :mod:`.capture`: capture for tests;
- :mod:`.process`: :data:`log_process`, the owner of everything process-wide, and the
  functions reading it (:func:`set_log_level`, :func:`sink_failures`…).

This module sets logging up for an app (:func:`init_logs`) and re-exports the names.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from flask import Flask

from flask_prodready.pipeline import pipeline

from .access import ACCESS_LOGGER as ACCESS_LOGGER
from .access import AccessLog as AccessLog
from .access import _log_access
from .breadcrumbs import _BreadcrumbBinder as _BreadcrumbBinder
from .breadcrumbs import breadcrumbs_kept
from .breadcrumbs import request_breadcrumbs as request_breadcrumbs
from .capture import capture_json_lines as capture_json_lines
from .flusher import flush_logs as flush_logs
from .levels import LEVELS as LEVELS
from .process import LogProcess as LogProcess
from .process import get_log_level as get_log_level
from .process import log_process as log_process
from .process import set_log_level as set_log_level
from .process import sink_failures as sink_failures
from .process import store_line_failures as store_line_failures
from .render import render_json as render_json
from .stdlib import SERVER_LOGGERS as SERVER_LOGGERS
from .stdlib import TAKEN_OVER_LOGGERS as TAKEN_OVER_LOGGERS
from .stdlib import InterceptHandler as InterceptHandler
from .stdlib import drop_dev_server_access_lines

if TYPE_CHECKING:
    from flask_prodready.state import ProdReadyState

__all__ = [
    "ACCESS_LOGGER",
    "LEVELS",
    "AccessLog",
    "InterceptHandler",
    "flush_logs",
    "get_log_level",
    "init_logs",
    "render_json",
    "request_breadcrumbs",
    "set_log_level",
    "sink_failures",
    "store_line_failures",
]

#: Set by command-line tools before the app loads: lines go to stderr, stdout stays theirs.
send_to_stderr = log_process.send_to_stderr
#: Installs the default sink in a process that logs before any app (the gunicorn master).
install_defaults = log_process.install_defaults
#: Removes the installed sink (see :func:`flask_prodready.testing.reset_logging`).
uninstall = log_process.uninstall


def __getattr__(name: str) -> Any:
    # 0.1 kept the installed sink in the module global ``_installed``; tests still read it.
    if name == "_installed":
        return log_process.installed
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def init_logs(app: Flask, state: ProdReadyState) -> None:
    """Set up logging for ``app`` (the ``logs`` part): the sink, stdlib routing, access lines.

    ::

        init_logs(app, get_state(app))  # what ProdReady(app) does when logs are on

    :param app: the app being set up.
    :param state: the app's :class:`~flask_prodready.ProdReadyState`.

    .. versionadded:: 0.1
    """
    settings = state.settings.values
    log_process.install(settings, state.environment)
    if settings["PRODREADY_LOG_INTERCEPT_STDLIB"]:
        from flask.logging import default_handler

        # app.logger's lines reach our stream through the root logger; Flask's own fallback
        # handler would print them a second time, as plain text on stderr.
        app.logger.removeHandler(default_handler)
    access = AccessLog(
        tuple(settings["PRODREADY_ACCESS_LOG_SKIP_PATHS"]), settings["PRODREADY_SLOW_REQUEST_MS"]
    )
    state.logs = access
    log_process.add_app(
        state, settings["PRODREADY_LOG_STORE_LEVEL"], testing=state.environment == "testing"
    )
    breadcrumbs = breadcrumbs_kept(settings)
    stages = pipeline(app, state)
    stages.keep_breadcrumbs(breadcrumbs, _BreadcrumbBinder(breadcrumbs))
    enabled = bool(settings["PRODREADY_ACCESS_LOG_ENABLED"])
    drop_dev_server_access_lines(enabled)
    if enabled:
        stages.write_access(functools.partial(_log_access, access))
