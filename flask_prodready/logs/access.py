"""The access line: one line per request, written after the app answered, and slow requests.

:class:`AccessLog` is the app's part (``get_state(app).logs``): which paths are skipped,
what counts as slow, the fields other parts add. The line itself is written by the
pipeline's ``access`` stage, straight to the installed sink.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from flask_prodready.compat.loguru import record_location
from flask_prodready.request_id import _scope
from flask_prodready.request_id import _trace as _trace_var

from .process import log_process as _process
from .render import dumps, timestamp_ms

__all__ = ["ACCESS_LOGGER", "AccessLog"]

#: The ``logger`` field of access lines.
ACCESS_LOGGER = "flask_prodready.access"
#: The ``module`` field of access lines: the module that wrote them up to 0.1.
_ACCESS_MODULE = "logs"
_ACCESS_LEVEL = "INFO"
_ACCESS_LEVEL_NO = 20


@dataclass(frozen=True)
class AccessLog:
    """The app's access line settings and its latest slow requests: ``get_state(app).logs``.

    ::

        access = get_state(app).logs
        access.add_fields(lambda: {"tenant": g.get("tenant")})
        slowest = max(access.slow, key=lambda request: request["duration_ms"])

    :param skip_paths: paths that get no access line, with every path below them (``/``
        is the root page only).
    :param slow_ms: requests slower than this are logged once more, as a warning, and
        kept in :attr:`slow`; 0 turns that off.

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


def _log_access(
    access: AccessLog,
    environ: dict[str, Any],
    status: int,
    headers: list[tuple[str, str]] | None,
    req: Any,
    started: float,
) -> None:
    """Write the request's access line (the pipeline calls it after the app).

    It goes straight to our sink, skipping loguru's per-message machinery (about 15 µs a
    line, most of the extension's per-request budget); it honours the same level filter
    and reaches :func:`~flask_prodready.testing.capture_logs` all the same. The request
    only captures the line's values: the sink renders it when it writes it, with the lines
    held back with it (one after another, the rendering costs half as much as between two
    requests). ``access`` is bound once, in ``init_logs``.
    """
    process = _process
    installed = process.installed
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
    # Rounded to the microsecond, in milliseconds (cheaper than round(seconds * 1000, 3)).
    duration_ms = int((_perf_counter() - started) * 1_000_000 + 0.5) / 1000
    size = None
    if headers is not None:
        for name, value in headers:
            if len(name) == 14 and name.lower() == "content-length":
                try:
                    size = int(value)
                except ValueError:
                    size = None
                break
    extra: dict[str, Any] | None = None
    if access.extra_fields:
        extra = {}
        for add_fields in access.extra_fields:
            fields = add_fields()
            if fields:
                extra.update(fields)  # a copy: the line may be rendered after the request
    scope = _scope.get()
    entry: _AccessEntry = (
        _render_access,
        int(_time() * 1000),
        environ.get("REQUEST_METHOD", ""),
        path,
        "<unmatched>" if rule is None else rule.rule,
        status,
        duration_ms,
        size,
        environ.get("REMOTE_ADDR"),
        environ.get("HTTP_USER_AGENT"),
        None if scope is None else scope[0],
        _trace_var.get(),
        process.pid,
        _get_ident(),
        extra,
    )
    sink = installed.sink
    listeners = process.access_listeners
    payload = None
    if listeners or not sink.json_lines:
        payload = _access_payload(entry)
        for listener in listeners:
            listener(payload)
        if sink.json_lines:
            sink.write_bytes(dumps(payload))
        else:
            sink.write_payload(payload)
    else:
        sink.write_later(entry)
    if access.slow_ms and duration_ms > access.slow_ms:
        _log_slow(access, _access_payload(entry) if payload is None else payload)


#: An access line's values, as the request captured them: its renderer first (for the
#: sink, which calls ``entry[0](entry)``), then the time in milliseconds, method, path,
#: route, status, duration in milliseconds, bytes, remote address, user agent, request id,
#: trace context, process id, thread id and the added fields.
_AccessEntry = tuple[
    Callable[[Any], bytes],
    int,
    str,
    str,
    str,
    int,
    float,
    int | None,
    Any,
    str | None,
    str | None,
    Any,
    int,
    int,
    dict[str, Any] | None,
]


def _access_payload(entry: _AccessEntry) -> dict[str, Any]:
    """The access line of ``entry`` as a dict in the JSON schema's order."""
    (
        _,
        millis,
        method,
        path,
        route,
        status,
        duration_ms,
        size,
        address,
        user_agent,
        rid,
        trace,
        pid,
        thread,
        extra,
    ) = entry
    # A copy of a template in the schema's order costs less than a dict display of 18
    # items (built key by key, resizing as it grows); the constant fields come with it.
    if trace is None:
        payload = _ACCESS_TEMPLATE.copy()
    else:
        payload = _ACCESS_TRACE_TEMPLATE.copy()
        payload["trace_id"] = trace.trace_id
        payload["span_id"] = trace.span_id
    payload["ts"] = timestamp_ms(millis)
    payload["message"] = f"{method} {path} {status}"
    payload["request_id"] = rid
    payload["process"] = pid
    payload["thread"] = thread
    payload["method"] = method
    payload["route"] = route
    payload["path"] = path
    payload["status"] = status
    payload["duration_ms"] = duration_ms
    payload["bytes"] = size
    payload["remote_addr"] = address if address is None or type(address) is str else str(address)
    payload["user_agent"] = user_agent
    if extra:
        payload.update(extra)
    return payload


def _render_access(entry: _AccessEntry) -> bytes:
    return dumps(_access_payload(entry))


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


_ACCESS_LOCATION = record_location(_log_access)
#: The access line's fields in the schema's order, the constant ones filled in.
_ACCESS_TEMPLATE: dict[str, Any] = {
    "ts": None,
    "level": _ACCESS_LEVEL,
    "logger": ACCESS_LOGGER,
    "message": None,
    "request_id": None,
    "module": _ACCESS_MODULE,
    "function": _ACCESS_LOCATION.function,
    "line": _ACCESS_LOCATION.line,
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


_time = time.time
_perf_counter = time.perf_counter
_get_ident = threading.get_ident
