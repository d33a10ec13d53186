"""Structured logging: loguru as JSON lines or pretty text, stdlib logging routed in, access lines.

Logging is process-wide, like loguru's ``logger`` itself: the sink that ``init_app`` installs
serves every app of the process, and the last app set up with logs on decides its format,
level and destination. Per app are the access line and its settings.

A JSON line holds, in this order: ``ts`` (UTC, RFC 3339 with milliseconds and ``Z``),
``level``, ``logger``, ``message``, ``request_id`` (``null`` outside a request), ``trace_id``
and ``span_id`` when the request came with a W3C ``traceparent``, ``module``, ``function``,
``line``, ``process`` (pid), ``thread`` (id), then every bound field, and ``exception``
(``type``, ``message``, ``stack``) when there is one. Values of secret-looking fields and URL
passwords are redacted; values JSON cannot hold are written as strings.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import stat
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

import orjson
from flask import Flask
from loguru import logger

from .pipeline import pipeline
from .redaction import REDACTED, is_secret_key, redact, redact_url_passwords
from .request_id import _scope, request_id
from .request_id import _trace as _trace_var

if TYPE_CHECKING:
    from .state import ProdReadyState

__all__ = [
    "ACCESS_LOGGER",
    "LEVELS",
    "InterceptHandler",
    "get_log_level",
    "init_logs",
    "render_json",
    "request_breadcrumbs",
    "set_log_level",
    "sink_failures",
    "store_line_failures",
]

#: The ``logger`` field of access lines.
ACCESS_LOGGER = "flask_prodready.access"
#: The level names accepted by the settings and :func:`set_log_level`.
LEVELS: tuple[str, ...] = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
#: The server's loggers whose own handlers are replaced, so their lines reach the same sink
#: exactly once (they do not propagate to the root logger).
SERVER_LOGGERS: tuple[str, ...] = ("gunicorn.error", "gunicorn.access")
#: Loggers whose handlers :func:`flask_prodready.testing.reset_logging` restores.
TAKEN_OVER_LOGGERS: tuple[str, ...] = (*SERVER_LOGGERS, "werkzeug")

# Fields of the schema; a bound field of the same name is written as "extra_<name>".
_SCHEMA_FIELDS = frozenset(
    {
        "ts",
        "level",
        "logger",
        "message",
        "request_id",
        "trace_id",
        "span_id",
        "module",
        "function",
        "line",
        "process",
        "thread",
        "exception",
    }
)
_CONTEXT_FIELDS = frozenset({"request_id", "trace_id", "span_id", "logger"})
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


def _level_no(name: str) -> int:
    return int(logger.level(name.upper()).no)


_second_cache: tuple[int, str] = (-1, "")


def _utc_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds; the text up to the second is reused within it."""
    return _utc_timestamp_of(moment.timestamp())


def _utc_timestamp_of(stamp: float) -> str:
    return _utc_timestamp_ms(int(stamp * 1000))


def _utc_timestamp_ms(millis: int) -> str:
    global _second_cache
    second = millis // 1000
    cached_second, prefix = _second_cache
    if second != cached_second:
        prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second_cache = (second, prefix)
    return prefix + _MILLISECONDS[millis - second * 1000]


#: ``.000Z`` to ``.999Z``: the end of a timestamp, looked up rather than formatted.
_MILLISECONDS = tuple(f".{ms:03d}Z" for ms in range(1000))


def render_json(record: Mapping[str, Any]) -> bytes:
    """One JSON line (ending in a newline) for a loguru ``record``, in the documented schema.

    It never raises: a value JSON cannot hold is written as its ``str()``.

    .. versionadded:: 0.1
    """
    extra = record["extra"]
    payload: dict[str, Any] = {
        "ts": _utc_timestamp(record["time"]),
        "level": record["level"].name,
        "logger": extra.get("logger") or record["name"],
        "message": record["message"],
        "request_id": extra.get("request_id"),
    }
    if "trace_id" in extra:
        payload["trace_id"] = extra["trace_id"]
        payload["span_id"] = extra.get("span_id")
    payload["module"] = record["module"]
    payload["function"] = record["function"]
    payload["line"] = record["line"]
    payload["process"] = record["process"].id
    payload["thread"] = record["thread"].id
    for key, value in extra.items():
        if key in _CONTEXT_FIELDS:
            continue
        payload[f"extra_{key}" if key in _SCHEMA_FIELDS else key] = _redact_field(key, value)
    exception = record["exception"]
    if exception is not None and exception.type is not None:
        stack = "".join(
            traceback.format_exception(exception.type, exception.value, exception.traceback)
        )
        payload["exception"] = {
            "type": _qualified_name(exception.type),
            "message": redact_url_passwords(str(exception.value)),
            "stack": redact_url_passwords(stack),
        }
    return _dumps(payload)


def _dumps(payload: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(payload, default=str, option=_ORJSON_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        # e.g. an integer beyond 64 bits, or a circular structure
        return (json.dumps(payload, default=str, ensure_ascii=False) + "\n").encode()


def _redact_field(key: str, value: Any) -> Any:
    """:func:`redact` for one bound field, with a fast path for the common scalar types."""
    kind = type(value)
    if kind is str:
        if is_secret_key(key):
            return REDACTED
        return redact_url_passwords(value) if "://" in value else value
    if value is None or kind is bool:
        return value
    if kind is int or kind is float:
        return REDACTED if is_secret_key(key) else value
    return redact(value, key=key)


def _qualified_name(kind: type) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _pretty_format(record: Mapping[str, Any]) -> str:
    extra = record["extra"]
    rid = " <magenta>{extra[request_id]}</magenta>" if "request_id" in extra else ""
    fields = [key for key in extra if key not in _CONTEXT_FIELDS]
    # Bound fields are shown redacted; their text is escaped into the format string.
    shown = " ".join(f"{key}={redact(extra[key], key=key)!r}" for key in fields)
    shown = " <dim>" + shown.replace("{", "{{").replace("}", "}}").replace("<", r"\<") + "</dim>"
    return (
        "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <8}</level>"
        + rid
        + " <cyan>{name}</cyan>:<cyan>{line}</cyan> <level>{message}</level>"
        + (shown if fields else "")
        + "\n{exception}"
    )


class _RotatingFile:
    """Append to a file, rotating it to ``.1``, ``.2``… when it grows past ``max_bytes``."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._file: IO[bytes] | None = None
        self._size = 0
        self._regular = False

    def write(self, data: bytes) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Unbuffered: each line is one write, so a failed write loses only that line.
            self._file = self.path.open("ab", buffering=0)
            self._size = self._file.tell()
            # Devices and pipes (/dev/stdout, /dev/null, a FIFO) are never rotated.
            self._regular = stat.S_ISREG(os.fstat(self._file.fileno()).st_mode)
        if (
            self._regular
            and self.max_bytes
            and self._size
            and self._size + len(data) > self.max_bytes
        ):
            self._rotate()
            assert self._file is not None
        self._file.write(data)
        self._size += len(data)

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        if self.backups:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()
        self._file = self.path.open("ab", buffering=0)
        self._size = 0

    def close(self) -> None:
        if self._file is not None:
            with suppress(OSError):
                self._file.close()
            self._file = None


class _Sink:
    """Where lines go: renders, writes, and counts failures instead of raising them.

    loguru calls it for every message; access lines are handed to :meth:`write_payload`
    directly (see :func:`_log_access`). One lock serialises both paths.
    """

    def __init__(self, destination: str, json_lines: bool, file: _RotatingFile | None) -> None:
        self.destination = destination
        self.json_lines = json_lines
        self.file = file
        self.lock = threading.Lock()

    def __call__(self, message: Any) -> None:
        scope = _scope.get()
        crumbs = None if scope is None else scope[1]
        record = message.record
        shipped = _shipper.active and record["level"].no >= _shipper.level
        try:
            wanted = self.json_lines or crumbs is not None or shipped
            json_line = render_json(record) if wanted else b""
            data = json_line if self.json_lines else str(message).encode()
        except Exception:
            _count_sink_failure()
            return
        if crumbs is not None or shipped:
            text = json_line.decode().rstrip("\n")
            if crumbs is not None:
                crumbs.append(text)
                if len(crumbs) > crumbs[0] + 1:
                    del crumbs[1]
            if shipped:
                _shipper.offer(record, text)
        self.write_bytes(data)

    def write_payload(self, payload: dict[str, Any]) -> None:
        """Write one line from a payload already in the JSON schema."""
        if self.json_lines:
            data = _dumps(payload)
        else:
            fields = " ".join(
                f"{key}={value!r}" for key, value in payload.items() if key not in _SCHEMA_FIELDS
            )
            data = (
                f"{payload['ts'][11:23]} {payload['level']: <8} {payload['request_id'] or '-'} "
                f"{payload['logger']} {payload['message']} {fields}\n"
            ).encode()
        self.write_bytes(data)

    def write_bytes(self, data: bytes) -> None:
        # Not named write: loguru would take the sink for a stream and bypass __call__.
        try:
            with self.lock:
                if self.file is not None:
                    self.file.write(data)
                    return
                stream = sys.stderr if self.destination == "stderr" else sys.stdout
                buffer = getattr(stream, "buffer", None)
                if buffer is not None:
                    buffer.write(data)
                else:
                    stream.write(data.decode())
                stream.flush()
        except Exception:  # a full disk or closed pipe must never fail the caller
            _count_sink_failure()

    def after_fork(self) -> None:
        # A lock held by another thread at fork time would stay held in the child forever.
        self.lock = threading.Lock()

    def stop(self) -> None:
        if self.file is not None:
            self.file.close()


@dataclass
class _Levels:
    """The level threshold, overall and per logger name (longest dotted prefix wins)."""

    default: int
    per_logger: dict[str, int] = field(default_factory=dict)
    _cache: dict[str, int] = field(default_factory=dict)

    def threshold(self, name: str) -> int:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        result = self.default
        best = -1
        for prefix, level in self.per_logger.items():
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                result, best = level, len(prefix)
        if len(self._cache) < 10_000:
            self._cache[name] = result
        return result

    def lowest(self) -> int:
        return min([self.default, *self.per_logger.values()])

    def set_to(self, other: _Levels) -> None:
        """Take ``other``'s thresholds, in place: the installed filter reads this object."""
        self.default = other.default
        self.per_logger = dict(other.per_logger)
        self._cache.clear()


class _SinkShape(NamedTuple):
    """What a loguru handler is added with: an app wanting the same keeps it (see _install)."""

    destination: str
    json_lines: bool
    max_bytes: int | None  # with backups, only for a file destination
    backups: int | None
    colorize: bool
    diagnose: bool


@dataclass
class _Installed:
    handler_id: int
    sink: _Sink
    levels: _Levels
    shape: _SinkShape | None = None


_lock = threading.Lock()
_installed: _Installed | None = None
# Set by send_to_stderr: a command-line tool keeps stdout for its own output.
_stdout_reserved = False
_sink_failures = 0


#: Called on every sink failure (the metrics part counts them); cleared by reset_logging.
sink_failure_hooks: list[Callable[[str], None]] = []


def _count_sink_failure() -> None:
    global _sink_failures
    _sink_failures += 1
    destination = _installed.sink.destination if _installed is not None else "unknown"
    sink = destination if destination in ("stdout", "stderr") else "file"
    for hook in list(sink_failure_hooks):
        with suppress(Exception):
            hook(sink)


class _LineShipper:
    """Sends log lines at or above a level to the store, in batches, from its own thread.

    :meth:`offer` only appends to a bounded queue, so logging never waits for the store; a
    full queue drops the oldest line. A failed write is counted (:func:`store_line_failures`)
    and the batch is lost. The thread starts on the first line of each process (so after a
    fork, too). The store is looked up at each flush in the components of the app that set
    logging up, because the errors part opens it after the logs part.
    """

    def __init__(self, capacity: int = 1000, interval: float = 0.25) -> None:
        self.capacity = capacity
        self.interval = interval
        self.level = 30
        self.components: Mapping[str, Any] | None = None
        self.failures = 0
        self.dropped = 0
        #: Write each line at once, in the caller's thread (the ``testing`` environment:
        #: no background thread, and a test sees the line in the store straight away).
        self.synchronous = False
        self._flushing = False
        self._pending: deque[Any] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    @property
    def active(self) -> bool:
        return self.components is not None

    def offer(self, record: Mapping[str, Any], text: str) -> None:
        if threading.current_thread() is self._thread:
            return  # a line logged while writing to the store must not loop back
        from .store import LogLine

        if len(self._pending) >= self.capacity:
            self.dropped += 1
        self._pending.append(
            LogLine(
                record["time"].timestamp(),
                record["level"].name,
                record["extra"].get("request_id"),
                text,
            )
        )
        if self.synchronous:
            if not self._flushing:
                self._flushing = True
                try:
                    self.flush()
                finally:
                    self._flushing = False
        elif self._pid != os.getpid():
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name="prodready-log-shipper", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Write the queued lines now (the thread calls it; tests may too)."""
        components = self.components
        store = components.get("error_store") if components is not None else None
        batch = []
        while self._pending:
            try:
                batch.append(self._pending.popleft())
            except IndexError:
                break
        if store is None or not batch:
            return
        try:
            store.add_log_lines(batch)
        except Exception:  # the store is down or locked: count it, never raise
            self.failures += 1

    def after_fork(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None


_shipper = _LineShipper()


def store_line_failures() -> int:
    """How many batches of log lines this process failed to write to the store.

    .. versionadded:: 0.1
    """
    return _shipper.failures


_process_id = os.getpid()


def _reset_lock_after_fork() -> None:
    global _lock, _process_id
    _lock = threading.Lock()
    _process_id = os.getpid()
    _shipper.after_fork()
    if _installed is not None:
        _installed.sink.after_fork()


os.register_at_fork(after_in_child=_reset_lock_after_fork)


def request_breadcrumbs() -> list[str]:
    """The current request's most recent log lines (JSON), oldest first; empty outside one.

    The error store keeps them with each recorded error, so its detail shows the log lines
    of the failing request. ``PRODREADY_ERRORS_BREADCRUMBS`` bounds how many.

    .. versionadded:: 0.1
    """
    # [limit, line, line, ...], oldest line first: a list with its limit in front costs
    # less to make for every request than a bounded deque.
    scope = _scope.get()
    crumbs = None if scope is None else scope[1]
    return crumbs[1:] if crumbs is not None else []


class _BreadcrumbBinder:
    """Gives each request a bounded buffer of its log lines (the ``breadcrumbs`` stage)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def bind(self, environ: Any) -> object:
        # Inside another app's request (request ids off here), its id still shows.
        return _scope.set((request_id(), [self.size]))

    def unbind(self, token: object) -> None:
        try:
            _scope.reset(token)  # type: ignore[arg-type]
        except ValueError:
            _scope.set(None)


def sink_failures() -> int:
    """How many log lines the sink failed to write (disk full, closed pipe…) in this process.

    .. versionadded:: 0.1
    """
    return _sink_failures


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_WERKZEUG_ACCESS = re.compile(r'^\S+ - - \[[^]]*\] "')


class _DropWerkzeugAccessLines(logging.Filter):
    """The development server's own access line repeats ours (without the request id)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return (
            _WERKZEUG_ACCESS.match(str(record.msg % record.args if record.args else record.msg))
            is None
        )


class InterceptHandler(logging.Handler):
    """A stdlib ``logging`` handler that sends records into loguru, keeping level and caller.

    ``init_app`` installs it on the root logger; it is public for ``logging.config`` set-ups.

    .. versionadded:: 0.1
    """

    def emit(self, record: logging.LogRecord) -> None:
        """Send ``record`` to loguru."""
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
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


def _install(settings: Mapping[str, Any], environment: str) -> None:
    """Install (or replace) the process-wide sink from the logging settings.

    A sink installed with the same shape (destination, format, file, colours, diagnose) is
    kept and only its levels are set: adding a loguru handler costs milliseconds, and an
    app per test would pay them every time.
    """
    global _installed
    fmt = settings["PRODREADY_LOG_FORMAT"]
    json_lines = fmt == "json" or (fmt == "auto" and environment != "development")
    destination = settings["PRODREADY_LOG_DESTINATION"]
    if destination == "stdout" and _stdout_reserved:
        destination = "stderr"
    to_file = destination not in ("stdout", "stderr")
    levels = _Levels(
        _level_no(settings["PRODREADY_LOG_LEVEL"]),
        {name: _level_no(level) for name, level in settings["PRODREADY_LOG_LEVELS"].items()},
    )
    stream = sys.stderr if destination == "stderr" else sys.stdout
    shape = _SinkShape(
        destination,
        json_lines,
        settings["PRODREADY_LOG_FILE_MAX_BYTES"] if to_file else None,
        settings["PRODREADY_LOG_FILE_BACKUPS"] if to_file else None,
        colorize=not json_lines and not to_file and stream.isatty(),
        diagnose=bool(settings["PRODREADY_LOG_DIAGNOSE"]) and environment == "development",
    )
    with _lock:
        if _installed is not None and _installed.shape == shape and _has_handler(_installed):
            _installed.levels.set_to(levels)
        else:
            _add_sink(shape, levels)
    if settings["PRODREADY_LOG_INTERCEPT_STDLIB"]:
        _intercept_stdlib(levels, bool(settings.get("PRODREADY_LOG_STDLIB_TAKE_OVER")))


def _has_handler(installed: _Installed) -> bool:
    """Whether loguru still has our handler (``logger.remove()`` removes every handler)."""
    handlers = getattr(getattr(logger, "_core", None), "handlers", None)
    return isinstance(handlers, Mapping) and installed.handler_id in handlers


def _add_sink(shape: _SinkShape, levels: _Levels) -> None:
    """Replace the installed sink by a new one of ``shape``; called with ``_lock`` held."""
    global _installed
    file = None
    if shape.max_bytes is not None and shape.backups is not None:
        file = _RotatingFile(Path(shape.destination), shape.max_bytes, shape.backups)
    sink = _Sink(shape.destination, shape.json_lines, file)

    def accept(record: Mapping[str, Any]) -> bool:
        name = record["extra"].get("logger") or record["name"] or ""
        return bool(record["level"].no >= levels.threshold(name))

    if _installed is not None:
        _remove_handler(_installed.handler_id)
        _installed.sink.stop()
    else:
        _remove_handler(0)  # loguru's default stderr handler would print every line twice
    handler_id = logger.add(
        sink,
        level=0,
        format="{message}" if shape.json_lines else _pretty_format,
        filter=accept,
        colorize=shape.colorize,
        backtrace=False,
        diagnose=shape.diagnose,
        enqueue=False,
        catch=True,
    )
    _installed = _Installed(handler_id, sink, levels, shape)


def send_to_stderr() -> None:
    """Write log lines to stderr from now on if they went to stdout.

    Command-line tools (``flask prodready …``) keep stdout for their own output, so that
    ``--json`` output stays parseable. Called before the app is loaded, it also covers the
    lines logged while the app is set up (start-up warnings).
    """
    global _stdout_reserved
    _stdout_reserved = True
    with _lock:
        if _installed is not None and _installed.sink.destination == "stdout":
            _installed.sink.destination = "stderr"


def install_defaults() -> None:
    """Install the sink with the default settings (JSON lines on stdout, INFO), once.

    For processes that log before any app is set up, such as the gunicorn master; the
    ``PRODREADY_LOG_FORMAT`` and ``PRODREADY_LOG_LEVEL`` environment variables (``FLASK_``
    prefix) are honoured. Does nothing when logging is set up already.
    """
    from .settings import SETTINGS

    if _installed is not None:
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
    _install(settings, "production")


def uninstall() -> None:
    """Remove the sink that ``init_app`` installed, if any (see ``testing.reset_logging``)."""
    global _installed, _stdout_reserved
    _stdout_reserved = False
    _shipper.components = None
    with _lock:
        if _installed is not None:
            _remove_handler(_installed.handler_id)
            _installed.sink.stop()
            _installed = None


def _remove_handler(handler_id: int) -> None:
    with suppress(ValueError):
        logger.remove(handler_id)


def _intercept_stdlib(levels: _Levels, take_over: bool) -> None:
    """Route stdlib logging into the sink, adding to what the app set up.

    By default one :class:`InterceptHandler` joins the root logger's handlers: every handler
    and level the app (or another library) set stays, and our stream gets the records that
    those levels let through. Loggers named in ``PRODREADY_LOG_LEVELS`` get that level. With
    ``take_over`` (``PRODREADY_LOG_STDLIB_TAKE_OVER``), the root logger's handlers are
    replaced by ours and its level set to ``PRODREADY_LOG_LEVEL``, and Python warnings are
    logged.
    """
    global _took_over
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, InterceptHandler)), None)
    if handler is None:
        handler = InterceptHandler()
    if take_over:
        root.handlers = [handler]
        root.setLevel(_stdlib_level(levels.lowest()))
        logging.captureWarnings(True)
    elif handler not in root.handlers:
        root.addHandler(handler)
    _took_over = take_over
    for name, level in levels.per_logger.items():
        logging.getLogger(name).setLevel(_stdlib_level(level))
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


#: Whether the root logger was taken over (``PRODREADY_LOG_STDLIB_TAKE_OVER``).
_took_over = False


def _stdlib_level(loguru_level: int) -> int:
    # loguru's TRACE (5) and SUCCESS (25) have no stdlib twin; stdlib filters by number.
    return max(loguru_level, 1)


def set_log_level(level: str, logger_name: str | None = None) -> None:
    """Change the log level at run time, for every logger or for one logger name.

    ::

        set_log_level("DEBUG")                           # everything
        set_log_level("WARNING", "sqlalchemy.engine")    # one logger and its children

    Takes effect on the next line logged, in this process.

    :param level: one of :data:`LEVELS`.
    :param logger_name: a dotted logger name (stdlib) or module name (loguru); ``None`` for
        the overall level.
    :raises ValueError: for an unknown level name.
    :raises RuntimeError: when logging was not set up by ``init_app``.

    .. versionadded:: 0.1
    """
    if level.upper() not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LEVELS)}")
    number = _level_no(level)
    with _lock:
        if _installed is None:
            raise RuntimeError("logging is not set up: call ProdReady(app) with logs enabled")
        levels = _installed.levels
        if logger_name is None:
            levels.default = number
        else:
            levels.per_logger[logger_name] = number
        levels._cache.clear()
        if logger_name is not None:
            # Named, the stdlib logger follows, as PRODREADY_LOG_LEVELS does at start-up.
            logging.getLogger(logger_name).setLevel(_stdlib_level(number))
        root = logging.getLogger()
        if _took_over and any(isinstance(h, InterceptHandler) for h in root.handlers):
            root.setLevel(_stdlib_level(levels.lowest()))


def get_log_level(logger_name: str | None = None) -> str:
    """The level in force for ``logger_name`` (or overall), as a name.

    .. versionadded:: 0.1
    """
    if _installed is None:
        raise RuntimeError("logging is not set up: call ProdReady(app) with logs enabled")
    levels = _installed.levels
    number = levels.default if logger_name is None else levels.threshold(logger_name)
    for name in LEVELS:
        if _level_no(name) == number:
            return name
    return str(number)


@dataclass(frozen=True)
class AccessLog:
    """The app's access line settings and its latest slow requests: ``get_state(app).logs``.

    .. versionadded:: 0.2
    """

    skip_paths: tuple[str, ...]
    slow_ms: float = 0.0
    #: Functions adding fields to the access line (e.g. ``sql_queries`` from ``watch_sql``).
    extra_fields: list[Callable[[], dict[str, Any] | None]] = field(default_factory=list)
    #: The latest slow requests, newest first, for the dashboard.
    slow: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=100))
    #: Derived from ``skip_paths``: the paths skipped, and the prefixes of those below them.
    _exact: frozenset[str] = field(init=False)
    _below: tuple[str, ...] = field(init=False)

    def add_fields(self, fields: Callable[[], dict[str, Any] | None]) -> None:
        """Add the fields that ``fields()`` returns to every access line (``None``: none)."""
        self.extra_fields.append(fields)

    def __post_init__(self) -> None:
        exact = frozenset(p.rstrip("/") or "/" for p in self.skip_paths)
        object.__setattr__(self, "_exact", exact)
        # "/" is the root page only: everything is below it.
        below = tuple(p.rstrip("/") + "/" for p in self.skip_paths if p.rstrip("/"))
        object.__setattr__(self, "_below", below)


def init_logs(app: Flask, state: ProdReadyState) -> None:
    """Set up logging for ``app`` (the ``logs`` part): the sink, stdlib routing, access lines.

    :param app: the app being set up.
    :param state: the app's :class:`~flask_prodready.ProdReadyState`.

    .. versionadded:: 0.1
    """
    settings = state.settings.values
    _install(settings, state.environment)
    if settings["PRODREADY_LOG_INTERCEPT_STDLIB"]:
        from flask.logging import default_handler

        # app.logger's lines reach our stream through the root logger; Flask's own fallback
        # handler would print them a second time, as plain text on stderr.
        app.logger.removeHandler(default_handler)
    access = AccessLog(
        tuple(settings["PRODREADY_ACCESS_LOG_SKIP_PATHS"]), settings["PRODREADY_SLOW_REQUEST_MS"]
    )
    state.logs = access
    level = settings["PRODREADY_LOG_STORE_LEVEL"]
    _shipper.components = state.components if level != "OFF" else None
    _shipper.synchronous = state.environment == "testing"
    if level != "OFF":
        _shipper.level = _level_no(level)
    # Breadcrumbs only serve recorded errors: no buffer per request without an error store.
    keeps_errors = (
        settings["PRODREADY_ERRORS_ENABLED"] and settings["PRODREADY_ERROR_STORE"] != "none"
    )
    breadcrumbs = settings["PRODREADY_ERRORS_BREADCRUMBS"] if keeps_errors else 0
    pipeline(app, state).keep_breadcrumbs(breadcrumbs, _BreadcrumbBinder(breadcrumbs))
    werkzeug_logger = logging.getLogger("werkzeug")
    for existing in [f for f in werkzeug_logger.filters if isinstance(f, _DropWerkzeugAccessLines)]:
        werkzeug_logger.removeFilter(existing)
    if not settings["PRODREADY_ACCESS_LOG_ENABLED"]:
        return
    werkzeug_logger.addFilter(_DropWerkzeugAccessLines())

    pipeline(app, state).write_access(functools.partial(_log_access, access))


_ACCESS_FUNCTION = "_log_access"
_ACCESS_MODULE = __name__.rpartition(".")[2]
_ACCESS_LEVEL = "INFO"
_access_listeners: list[Callable[[dict[str, Any]], None]] = []


def _log_access(
    access: AccessLog,
    environ: dict[str, Any],
    status: int,
    headers: list[tuple[str, str]] | None,
    req: Any,
    started: float,
) -> None:
    """Write the request's access line (called by the WSGI middleware after the app).

    It goes straight to our sink, skipping loguru's per-message machinery (about 15 µs a
    line, most of the extension's per-request budget); it honours the same level filter
    and reaches :func:`~flask_prodready.testing.capture_logs` all the same.
    """
    installed = _installed
    if req is not None:
        path = req.path
        rule = req.url_rule
    else:
        path = _decode_path(environ)
        rule = None
    if installed is None or path in access._exact or path.startswith(access._below):
        return
    threshold = installed.levels._cache.get(ACCESS_LOGGER)
    if threshold is None:
        threshold = installed.levels.threshold(ACCESS_LOGGER)
    if threshold > _ACCESS_LEVEL_NO:
        return
    millis = int(_time() * 1000)
    second = millis // 1000
    cached = _second_cache  # read once: another thread may replace it meanwhile
    if second == cached[0]:
        timestamp = cached[1] + _MILLISECONDS[millis - second * 1000]
    else:
        timestamp = _utc_timestamp_ms(millis)
    method = environ.get("REQUEST_METHOD", "")
    size = None
    if headers is not None:
        for name, value in headers:
            if len(name) == 14 and name.lower() == "content-length":
                try:
                    size = int(value)
                except ValueError:
                    size = None
                break
    address = environ.get("REMOTE_ADDR")
    trace = _trace_var.get()
    scope = _scope.get()
    rid = None if scope is None else scope[0]
    # A copy of a template in the schema's order costs less than a dict display of 18
    # items (built key by key, resizing as it grows); the constant fields come with it.
    if trace is None:
        payload = _ACCESS_TEMPLATE.copy()
    else:
        payload = _ACCESS_TRACE_TEMPLATE.copy()
        payload["trace_id"] = trace.trace_id
        payload["span_id"] = trace.span_id
    payload["ts"] = timestamp
    payload["message"] = f"{method} {path} {status}"
    payload["request_id"] = rid
    payload["process"] = _process_id
    payload["thread"] = _get_ident()
    payload["method"] = method
    payload["route"] = "<unmatched>" if rule is None else rule.rule
    payload["path"] = path
    payload["status"] = status
    # Rounded to the microsecond, in milliseconds (cheaper than round(seconds * 1000, 3)).
    payload["duration_ms"] = int((_perf_counter() - started) * 1_000_000 + 0.5) / 1000
    payload["bytes"] = size
    payload["remote_addr"] = address if address is None or type(address) is str else str(address)
    payload["user_agent"] = environ.get("HTTP_USER_AGENT")
    if access.extra_fields:
        for add_fields in access.extra_fields:
            extra = add_fields()
            if extra:
                payload.update(extra)
    if _access_listeners:
        for listener in _access_listeners:
            listener(payload)
    sink = installed.sink
    if sink.json_lines:
        sink.write_bytes(_dumps(payload))
    else:
        sink.write_payload(payload)
    if access.slow_ms and payload["duration_ms"] > access.slow_ms:
        _log_slow(access, payload)


def _log_slow(access: AccessLog, payload: dict[str, Any]) -> None:
    """Log a slow request once, its time split into SQL and the rest, and keep it."""
    sql_ms = payload.get("sql_ms") or 0.0
    other_ms = round(payload["duration_ms"] - sql_ms, 3)
    record = {
        "time": time.time(),
        "method": payload["method"],
        "route": payload["route"],
        "path": payload["path"],
        "status": payload["status"],
        "duration_ms": payload["duration_ms"],
        "sql_ms": sql_ms,
        "other_ms": other_ms,
        "sql_queries": payload.get("sql_queries"),
        "request_id": payload["request_id"],
    }
    access.slow.appendleft(record)
    logger.bind(
        logger="flask_prodready.slow", **{k: v for k, v in record.items() if k != "time"}
    ).warning(
        f"slow request {payload['method']} {payload['path']} took {payload['duration_ms']:.0f} ms "
        f"(sql {sql_ms:.0f} ms, other {other_ms:.0f} ms)"
    )


_ACCESS_LINE = _log_access.__code__.co_firstlineno
#: The access line's fields in the schema's order, the constant ones filled in.
_ACCESS_TEMPLATE: dict[str, Any] = {
    "ts": None,
    "level": _ACCESS_LEVEL,
    "logger": ACCESS_LOGGER,
    "message": None,
    "request_id": None,
    "module": _ACCESS_MODULE,
    "function": _ACCESS_FUNCTION,
    "line": _ACCESS_LINE,
    "process": None,
    "thread": None,
    "method": None,
    "route": None,
    "path": None,
    "status": None,
    "duration_ms": None,
    "bytes": None,
    "remote_addr": None,
    "user_agent": None,
}

#: The same with the trace context after the request id, for requests with a traceparent.
_ACCESS_TRACE_TEMPLATE: dict[str, Any] = {}
for _key, _value in _ACCESS_TEMPLATE.items():
    _ACCESS_TRACE_TEMPLATE[_key] = _value
    if _key == "request_id":
        _ACCESS_TRACE_TEMPLATE.update(trace_id=None, span_id=None)
del _key, _value


def _decode_path(environ: Mapping[str, Any]) -> str:
    raw = environ.get("PATH_INFO", "") or "/"
    return str(raw).encode("latin-1", "replace").decode("utf-8", "replace")


_ACCESS_LEVEL_NO = 20
_time = time.time
_perf_counter = time.perf_counter
_get_ident = threading.get_ident


@contextmanager
def capture_json_lines(
    into: list[dict[str, Any]] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Collect the JSON lines logged inside the block, parsed, in a list (``into`` if given).

    Used by :func:`flask_prodready.testing.capture_logs`.
    """
    lines: list[dict[str, Any]] = [] if into is None else into
    lock = threading.Lock()

    def collect(message: Any) -> None:
        parsed = orjson.loads(render_json(message.record))
        with lock:
            lines.append(parsed)

    accept: Callable[[Mapping[str, Any]], bool] | None = None
    if _installed is not None:
        levels = _installed.levels

        def accept(record: Mapping[str, Any]) -> bool:
            name = record["extra"].get("logger") or record["name"] or ""
            return bool(record["level"].no >= levels.threshold(name))

    def collect_access(payload: dict[str, Any]) -> None:
        parsed = orjson.loads(_dumps(payload))
        with lock:
            lines.append(parsed)

    handler_id = logger.add(collect, level=0, format="{message}", filter=accept, catch=False)
    _access_listeners.append(collect_access)
    try:
        yield lines
    finally:
        _access_listeners.remove(collect_access)
        logger.remove(handler_id)
