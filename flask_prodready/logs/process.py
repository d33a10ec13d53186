"""The process-wide part of logging, owned by one object: :data:`log_process`.

Logging is process-wide, like loguru's ``logger`` itself: the sink that ``init_app``
installs serves every app of the process, and the last app set up with logs on decides its
format, level and destination. Per app are the access line and its settings, the store its
lines are shipped to, and the metrics that count the sink's failures: the process reaches
the apps through weak references only, so an app that is gone leaves nothing behind.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loguru import logger

from flask_prodready.compat.loguru import has_handler

from .flusher import flush_on_sigterm
from .levels import LEVELS, Levels, level_name, level_no
from .render import pretty_format
from .shipping import LineShipper
from .sink import Sink, SinkShape
from .stdlib import follow_level, route_stdlib

if TYPE_CHECKING:
    from flask_prodready.state import ProdReadyState

__all__ = [
    "Installed",
    "LogProcess",
    "get_log_level",
    "log_process",
    "set_log_level",
    "sink_failures",
    "store_line_failures",
]

#: The id of loguru's own stderr handler, which would print every line a second time
#: (loguru documents it: "the pre-configured handler is guaranteed to have the index 0").
_LOGURU_DEFAULT_HANDLER = 0


@dataclass(frozen=True)
class Installed:
    """The installed sink: loguru's id for it, the sink itself, and its level filter."""

    handler_id: int
    sink: Sink
    levels: Levels


class LogProcess:
    """Everything logging keeps for the whole process; :data:`log_process` is the one.

    It owns:

    - :attr:`installed`, the sink that loguru writes through, and its level filter;
    - :attr:`shipper`, which sends lines to the error store of the app that logged them;
    - :attr:`stdout_reserved`, set by command-line tools that keep stdout for themselves;
    - :attr:`sink_failures`, counted here and in the metrics of every live app;
    - :attr:`pid` and the fork hook that gives a child fresh locks, its own pid and its
      own shipper thread;
    - :attr:`access_listeners`, which see every access line
      (:func:`~flask_prodready.testing.capture_logs`).

    The apps are held through weak references (:meth:`add_app`).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: The sink ``init_app`` installed, ``None`` before (and after ``uninstall``).
        self.installed: Installed | None = None
        self.shipper = LineShipper()
        #: Set by :meth:`send_to_stderr`: a command-line tool keeps stdout for its output.
        self.stdout_reserved = False
        #: Whether the root logger was taken over (``PRODREADY_LOG_STDLIB_TAKE_OVER``).
        self.took_over = False
        #: Lines the sink failed to render or write, in this process.
        self.sink_failures = 0
        #: This process's id, written in every access line (renewed in a forked child).
        self.pid = os.getpid()
        #: Called with every access line's payload, before it is written.
        self.access_listeners: list[Callable[[dict[str, Any]], None]] = []
        self._apps: weakref.WeakSet[ProdReadyState] = weakref.WeakSet()

    # -- the apps ---------------------------------------------------------------------------

    def add_app(self, state: ProdReadyState, store_level: str, testing: bool) -> None:
        """Know the app of ``state``: its lines are shipped, its metrics count failures.

        :param state: the app's state, held weakly.
        :param store_level: ``PRODREADY_LOG_STORE_LEVEL``: the lowest level shipped to the
            app's store, or ``OFF``.
        :param testing: write shipped lines at once, in the caller's thread.
        """
        self._apps.add(state)
        level = None if store_level == "OFF" else level_no(store_level)
        self.shipper.ship_for(state, level, synchronous=testing)

    def apps(self) -> int:
        """How many live apps the process knows."""
        return len(self._apps)

    def count_sink_failure(self, label: str) -> None:
        """Count one line the sink ``label`` (``stdout``, ``stderr``, ``file``) lost."""
        self.sink_failures += 1
        for state in list(self._apps):
            metrics = state.metrics
            if metrics is not None:
                with suppress(Exception):  # counting must never fail the line's caller
                    metrics.count_log_sink_failure(label)

    # -- the sink ---------------------------------------------------------------------------

    def install(self, settings: Mapping[str, Any], environment: str) -> None:
        """Install (or replace) the process-wide sink from the logging settings.

        A sink installed with the same shape (destination, format, file, colours, diagnose)
        is kept and only its levels are set: adding a loguru handler costs milliseconds,
        and an app per test would pay them every time.
        """
        fmt = settings["PRODREADY_LOG_FORMAT"]
        json_lines = fmt == "json" or (fmt == "auto" and environment != "development")
        destination = settings["PRODREADY_LOG_DESTINATION"]
        if destination == "stdout" and self.stdout_reserved:
            destination = "stderr"
        to_file = destination not in ("stdout", "stderr")
        levels = Levels.from_settings(settings)
        stream = sys.stderr if destination == "stderr" else sys.stdout
        stream_is_terminal = not to_file and _isatty(stream)
        shape = SinkShape(
            destination,
            json_lines,
            settings["PRODREADY_LOG_FILE_MAX_BYTES"] if to_file else None,
            settings["PRODREADY_LOG_FILE_BACKUPS"] if to_file else None,
            colorize=not json_lines and stream_is_terminal,
            diagnose=bool(settings["PRODREADY_LOG_DIAGNOSE"]) and environment == "development",
            # A person reading a terminal sees each line at once.
            flush_seconds=0.0 if stream_is_terminal else settings["PRODREADY_LOG_FLUSH_MS"] / 1000,
        )
        with self.lock:
            installed = self.installed
            if (
                installed is not None
                # Only how long lines wait differs between a testing app and another: the
                # sink is kept (adding a handler costs milliseconds) and told the new wait.
                and installed.sink.shape._replace(flush_seconds=0.0)
                == shape._replace(flush_seconds=0.0)
                and has_handler(installed.handler_id)
            ):
                installed.levels.set_to(levels)
                installed.sink.set_flush_seconds(shape.flush_seconds)
            else:
                self._add_sink(shape, levels)
        if shape.flush_seconds:
            flush_on_sigterm()
        if settings["PRODREADY_LOG_INTERCEPT_STDLIB"]:
            take_over = bool(settings.get("PRODREADY_LOG_STDLIB_TAKE_OVER"))
            route_stdlib(levels, take_over)
            self.took_over = take_over

    def _add_sink(self, shape: SinkShape, levels: Levels) -> None:
        """Replace the installed sink by a new one of ``shape``; called with the lock held."""
        sink = Sink(shape, levels, self.shipper, self.count_sink_failure)
        if self.installed is not None:
            _remove_handler(self.installed.handler_id)
            self.installed.sink.stop()
        else:
            _remove_handler(_LOGURU_DEFAULT_HANDLER)
        handler_id = logger.add(
            sink,
            level=0,
            format="{message}" if shape.json_lines else pretty_format,
            filter=levels.accepts,
            colorize=shape.colorize,
            backtrace=False,
            diagnose=shape.diagnose,
            enqueue=False,
            catch=True,
        )
        self.installed = Installed(handler_id, sink, levels)

    def install_defaults(self) -> None:
        """Install the sink with the default settings (JSON lines on stdout, INFO), once.

        For processes that log before any app is set up, such as the gunicorn master; the
        ``PRODREADY_LOG_FORMAT`` and ``PRODREADY_LOG_LEVEL`` environment variables
        (``FLASK_`` prefix) are honoured. Does nothing when logging is set up already.
        """
        # Only the logs' own settings: the whole schema imports every part, prometheus_client
        # among them, which the gunicorn master must not import before it sets its directory.
        from .settings import SETTINGS

        if self.installed is not None:
            return
        settings = {setting.name: setting.default for setting in SETTINGS}
        for name in ("PRODREADY_LOG_FORMAT", "PRODREADY_LOG_LEVEL"):
            value = os.environ.get(f"FLASK_{name}")
            if value:
                settings[name] = value.strip().lower() if name.endswith("FORMAT") else value.upper()
        if settings["PRODREADY_LOG_FORMAT"] not in ("auto", "json", "pretty"):
            settings["PRODREADY_LOG_FORMAT"] = "json"
        if str(settings["PRODREADY_LOG_LEVEL"]).upper() not in LEVELS:
            settings["PRODREADY_LOG_LEVEL"] = "INFO"
        self.install(settings, "production")

    def send_to_stderr(self) -> None:
        """Write log lines to stderr from now on if they went to stdout.

        Command-line tools (``flask prodready …``) keep stdout for their own output, so
        that ``--json`` output stays parseable. Called before the app is loaded, it also
        covers the lines logged while the app is set up (start-up warnings).
        """
        self.stdout_reserved = True
        with self.lock:
            if self.installed is not None and self.installed.sink.destination == "stdout":
                self.installed.sink.destination = "stderr"

    def uninstall(self) -> None:
        """Remove the installed sink, if any, and forget every app (``reset_logging``)."""
        self.stdout_reserved = False
        self.shipper.stop_all()
        self._apps.clear()
        with self.lock:
            if self.installed is not None:
                _remove_handler(self.installed.handler_id)
                self.installed.sink.stop()
                self.installed = None

    # -- levels -----------------------------------------------------------------------------

    def set_level(self, level: str, logger_name: str | None = None) -> None:
        """See :func:`set_log_level`."""
        if level.upper() not in LEVELS:
            raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LEVELS)}")
        number = level_no(level)
        with self.lock:
            levels = self._levels()
            levels.set(number, logger_name)
            follow_level(levels, logger_name, self.took_over)

    def level(self, logger_name: str | None = None) -> str:
        """See :func:`get_log_level`."""
        levels = self._levels()
        return level_name(levels.default if logger_name is None else levels.threshold(logger_name))

    def _levels(self) -> Levels:
        installed = self.installed
        if installed is None:
            raise RuntimeError("logging is not set up: call ProdReady(app) with logs enabled")
        return installed.levels

    # -- forks ------------------------------------------------------------------------------

    def after_fork(self) -> None:
        """In a forked child: fresh locks, the child's pid, a shipper thread of its own."""
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.shipper.after_fork()
        if self.installed is not None:
            self.installed.sink.after_fork()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced by an object without it, or closed
        return False


def _remove_handler(handler_id: int) -> None:
    with suppress(ValueError):
        logger.remove(handler_id)


#: The process's logging. Module state, like loguru's ``logger``: one per process.
log_process = LogProcess()
os.register_at_fork(after_in_child=log_process.after_fork)


def set_log_level(level: str, logger_name: str | None = None) -> None:
    """Change the log level at run time, for every logger or for one logger name.

    ::

        set_log_level("DEBUG")                           # everything
        set_log_level("WARNING", "sqlalchemy.engine")    # one logger and its children

    Takes effect on the next line logged, in this process.

    :param level: one of :data:`~flask_prodready.logs.LEVELS`.
    :param logger_name: a dotted logger name (stdlib) or module name (loguru); ``None`` for
        the overall level.
    :raises ValueError: for an unknown level name.
    :raises RuntimeError: when logging was not set up by ``init_app``.

    .. versionadded:: 0.1
    """
    log_process.set_level(level, logger_name)


def get_log_level(logger_name: str | None = None) -> str:
    """The level in force for ``logger_name`` (or overall), as a name.

    ::

        get_log_level("sqlalchemy.engine")  # "WARNING"

    :param logger_name: a dotted logger name; ``None`` for the overall level.
    :raises RuntimeError: when logging was not set up by ``init_app``.

    .. versionadded:: 0.1
    """
    return log_process.level(logger_name)


def sink_failures() -> int:
    """How many log lines the sink failed to write (disk full, closed pipe…) in this process.

    ::

        assert sink_failures() == 0

    .. versionadded:: 0.1
    """
    return log_process.sink_failures


def store_line_failures() -> int:
    """How many batches of log lines this process failed to write to the store.

    ::

        assert store_line_failures() == 0

    .. versionadded:: 0.1
    """
    return log_process.shipper.failures
