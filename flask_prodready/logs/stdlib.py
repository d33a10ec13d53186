"""Stdlib logging routed through loguru: :class:`InterceptHandler` and where it is installed.

By default one :class:`InterceptHandler` joins the root logger's handlers, so records of
every stdlib logger reach the sink once, with their level and caller; the server's own
loggers (gunicorn's) get it instead of their handlers. The development server's access
line is dropped, as the access line of :mod:`.access` repeats it.
"""

from __future__ import annotations

import logging
import re
import sys

from loguru import logger

from .levels import Levels, stdlib_level

__all__ = [
    "SERVER_LOGGERS",
    "TAKEN_OVER_LOGGERS",
    "InterceptHandler",
    "drop_dev_server_access_lines",
    "follow_level",
    "route_stdlib",
]

#: The server's loggers whose own handlers are replaced, so their lines reach the same sink
#: exactly once (they do not propagate to the root logger).
SERVER_LOGGERS: tuple[str, ...] = ("gunicorn.error", "gunicorn.access")
#: Loggers whose handlers :func:`flask_prodready.testing.reset_logging` restores.
TAKEN_OVER_LOGGERS: tuple[str, ...] = (*SERVER_LOGGERS, "werkzeug")

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_WERKZEUG_ACCESS = re.compile(r'^\S+ - - \[[^]]*\] "')


class InterceptHandler(logging.Handler):
    """A stdlib ``logging`` handler that sends records into loguru, keeping level and caller.

    ``init_app`` installs it on the root logger; it is public for ``logging.config`` set-ups::

        logging.config.dictConfig({
            "version": 1,
            "handlers": {"loguru": {"class": "flask_prodready.logs.InterceptHandler"}},
            "root": {"handlers": ["loguru"], "level": "INFO"},
        })

    .. versionadded:: 0.1
    """

    def emit(self, record: logging.LogRecord) -> None:
        """Send ``record`` to loguru."""
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        # The frames of logging's own call chain are skipped: loguru names the caller.
        frame, depth = sys._getframe(6), 6
        while frame is not None and frame.f_code.co_filename == logging.__file__:
            frame = frame.f_back  # type: ignore[assignment]
            depth += 1
        try:
            message = record.getMessage()
        except Exception:  # bad %-arguments: keep the template rather than lose the line
            message = f"{record.msg!s} {record.args!r}"
        if "\x1b[" in message:  # werkzeug colours its lines for terminals
            message = _ANSI.sub("", message)
        logger.opt(depth=depth, exception=record.exc_info).bind(logger=record.name).log(
            level, message
        )


class _DropWerkzeugAccessLines(logging.Filter):
    """The development server's own access line repeats ours (without the request id)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return (
            _WERKZEUG_ACCESS.match(str(record.msg % record.args if record.args else record.msg))
            is None
        )


def route_stdlib(levels: Levels, take_over: bool) -> None:
    """Route stdlib logging into the sink, adding to what the app set up.

    One :class:`InterceptHandler` joins the root logger's handlers: every handler and level
    the app (or another library) set stays, and our stream gets the records that those
    levels let through. Loggers named in ``PRODREADY_LOG_LEVELS`` get that level.

    :param levels: the thresholds being installed.
    :param take_over: ``PRODREADY_LOG_STDLIB_TAKE_OVER``: the root logger's handlers are
        replaced by ours, its level set to the lowest threshold, and Python warnings are
        logged.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, InterceptHandler)), None)
    if handler is None:
        handler = InterceptHandler()
    if take_over:
        root.handlers = [handler]
        root.setLevel(stdlib_level(levels.lowest()))
        logging.captureWarnings(True)
    elif handler not in root.handlers:
        root.addHandler(handler)
    for name, level in levels.per_logger.items():
        logging.getLogger(name).setLevel(stdlib_level(level))
    werkzeug = logging.getLogger("werkzeug")
    if werkzeug.level == logging.NOTSET:
        # What werkzeug itself does before its first line; its lines then reach the root.
        werkzeug.setLevel(logging.INFO)
    for name in SERVER_LOGGERS:
        # gunicorn's own loggers do not propagate: their lines come through the sink once.
        server = logging.getLogger(name)
        server.handlers = [handler]
        server.propagate = False
        if server.level == logging.NOTSET:
            server.setLevel(logging.INFO)  # gunicorn's own default, before its set-up runs


def follow_level(levels: Levels, logger_name: str | None, took_over: bool) -> None:
    """Make stdlib follow a threshold just set in ``levels`` (see ``set_log_level``).

    :param levels: the installed thresholds, already changed.
    :param logger_name: the logger whose level changed, ``None`` for the overall one.
    :param took_over: whether the root logger was taken over: it then follows too.
    """
    if logger_name is not None:
        # Named, the stdlib logger follows, as PRODREADY_LOG_LEVELS does at start-up.
        logging.getLogger(logger_name).setLevel(stdlib_level(levels.threshold(logger_name)))
    root = logging.getLogger()
    if took_over and any(isinstance(h, InterceptHandler) for h in root.handlers):
        root.setLevel(stdlib_level(levels.lowest()))


def drop_dev_server_access_lines(drop: bool) -> None:
    """Drop the development server's own access lines (``drop``), or keep them again."""
    werkzeug_logger = logging.getLogger("werkzeug")
    for existing in [f for f in werkzeug_logger.filters if isinstance(f, _DropWerkzeugAccessLines)]:
        werkzeug_logger.removeFilter(existing)
    if drop:
        werkzeug_logger.addFilter(_DropWerkzeugAccessLines())
