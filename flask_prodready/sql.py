"""SQL insight for SQLAlchemy: queries and time per request, and N+1 detection.

Opt in after your database is set up::

    db.init_app(app)
    flask_prodready.watch_sql(app, db)        # Flask-SQLAlchemy, or an Engine

Each request's access line then carries ``sql_queries`` and ``sql_ms``. When one normalised
statement runs more than ``PRODREADY_SQL_REPEAT_THRESHOLD`` times in a request (the classic
N+1: a lazy load in a loop), one WARNING names the route and the statement, the metrics part
counts it, and it is kept for the dashboard. With ``PRODREADY_SQL_STRICT`` on (tests), the
repeat raises :class:`RepeatedQueryError` instead, so CI catches it before production.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, has_request_context, request
from loguru import logger

from .exceptions import ProdReadyError
from .pipeline import pipeline
from .settings.casts import BOOL, INT, at_least
from .settings.schema import Setting
from .state import get_state

__all__ = ["RepeatedQuery", "RepeatedQueryError", "SqlWatcher", "normalise_statement", "watch_sql"]

#: The settings the ``sql`` part declares, in the order of the configuration reference.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PRODREADY_SQL_REPEAT_THRESHOLD",
        10,
        at_least(INT, 1),
        "With `watch_sql`: how often one statement may run in a request before it is an N+1 "
        "finding. See [Performance](performance.md).",
    ),
    Setting(
        "PRODREADY_SQL_STRICT",
        False,
        BOOL,
        "With `watch_sql`: raise `RepeatedQueryError` on an N+1 finding instead of logging it. "
        "Meant for tests, so CI catches N+1 before production. See "
        "[Performance](performance.md).",
    ),
)

_STRINGS = re.compile(r"'(?:[^']|'')*'")
_NUMBERS = re.compile(r"\b\d+(?:\.\d+)?\b")
_IN_LISTS = re.compile(r"\((?:\s*\?\s*,)+\s*\?\s*\)")
_SPACES = re.compile(r"\s+")
_START = "prodready_sql_started"


class RepeatedQueryError(ProdReadyError):
    """One statement ran more often in a request than ``PRODREADY_SQL_REPEAT_THRESHOLD``
    allows, in strict mode (an N+1 query pattern).

    .. versionadded:: 0.1
    """


def normalise_statement(statement: str) -> str:
    """The statement with literals replaced by ``?`` and spaces folded, for grouping.

    ::

        >>> normalise_statement("SELECT * FROM t WHERE id = 7 AND name = 'x'")
        'SELECT * FROM t WHERE id = ? AND name = ?'

    .. versionadded:: 0.1
    """
    text = _STRINGS.sub("?", statement)
    text = _NUMBERS.sub("?", text)
    text = _IN_LISTS.sub("(?)", text)
    return _SPACES.sub(" ", text).strip()


@dataclass
class RequestSql:
    """One request's queries: how many, how long, and each statement's count."""

    queries: int = 0
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    warned: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class RepeatedQuery:
    """An N+1 finding: a statement repeated in one request.

    .. versionadded:: 0.1
    """

    time: float
    route: str
    method: str
    statement: str
    count: int
    request_id: str | None


_current: ContextVar[RequestSql | None] = ContextVar("prodready_sql", default=None)


def current_sql() -> RequestSql | None:
    """The current request's SQL statistics, or ``None`` outside a watched request."""
    return _current.get()


class _SqlBinder:
    def bind(self, environ: Any) -> object:
        return _current.set(RequestSql())

    def unbind(self, token: object) -> None:
        try:
            _current.reset(token)  # type: ignore[arg-type]
        except ValueError:
            _current.set(None)


class SqlWatcher:
    """Counts and times an app's queries (the ``sql`` component).

    :param threshold: repeats of one statement in a request before it is a finding.
    :param strict: raise :class:`RepeatedQueryError` instead of warning.
    :param keep: findings kept for the dashboard.

    .. versionadded:: 0.1
    """

    def __init__(self, threshold: int, strict: bool, keep: int = 100, metrics: Any = None) -> None:
        self.threshold = threshold
        self.strict = strict
        self.metrics = metrics
        self.repeated: deque[RepeatedQuery] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        """SQLAlchemy ``before_cursor_execute`` listener."""
        conn.info.setdefault(_START, []).append(time.perf_counter())

    def after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        """SQLAlchemy ``after_cursor_execute`` listener."""
        starts = conn.info.get(_START)
        elapsed = time.perf_counter() - starts.pop() if starts else 0.0
        stats = _current.get()
        if stats is None:
            return
        stats.queries += 1
        stats.seconds += elapsed
        if self.metrics is not None:
            self.metrics.observe_sql_query(_route(), elapsed)
        key = normalise_statement(statement)
        count = stats.counts.get(key, 0) + 1
        stats.counts[key] = count
        if count > self.threshold and key not in stats.warned:
            stats.warned.add(key)
            self._repeated(key, count)

    def _repeated(self, statement: str, count: int) -> None:
        from .request_id import request_id

        route = _route()
        method = request.method if has_request_context() else ""
        finding = RepeatedQuery(time.time(), route, method, statement[:1000], count, request_id())
        with self._lock:
            self.repeated.appendleft(finding)
        if self.metrics is not None:
            self.metrics.count_repeated_query(route)
        message = (
            f"N+1 query suspected: the same statement ran more than {self.threshold} times "
            f"in one {method} {route} request: {statement[:300]}"
        )
        if self.strict:
            raise RepeatedQueryError(message)
        logger.bind(logger="flask_prodready.sql", route=route, statement=statement[:1000]).warning(
            message
        )

    def access_fields(self) -> dict[str, Any] | None:
        """``sql_queries`` and ``sql_ms`` for the access line."""
        stats = _current.get()
        if stats is None:
            return None
        return {"sql_queries": stats.queries, "sql_ms": round(stats.seconds * 1000, 3)}


def _route() -> str:
    rule = request.url_rule if has_request_context() else None
    return rule.rule if rule is not None else "<unmatched>"


def _engines(target: Any, app: Flask) -> Iterable[Any]:
    if hasattr(type(target), "engines"):  # Flask-SQLAlchemy (a property needing the app)
        with app.app_context():
            return list(target.engines.values())
    if hasattr(target, "sync_engine"):  # an AsyncEngine
        return [target.sync_engine]
    return [target]


def watch_sql(app: Flask, target: Any) -> SqlWatcher:
    """Watch the queries of ``target`` (a Flask-SQLAlchemy extension or an Engine) for ``app``.

    Call it after the database is set up (``db.init_app(app)``). Settings:
    ``PRODREADY_SQL_REPEAT_THRESHOLD`` and ``PRODREADY_SQL_STRICT``.

    :returns: the watcher, also in ``get_state(app).sql``.

    .. versionadded:: 0.1
    """
    from sqlalchemy import event

    state = get_state(app)
    watcher = state.sql
    if watcher is None:
        watcher = SqlWatcher(
            state.setting("PRODREADY_SQL_REPEAT_THRESHOLD"),
            state.setting("PRODREADY_SQL_STRICT"),
            metrics=state.metrics,
        )
        state.sql = watcher
        pipeline(app, state).bind("sql", _SqlBinder())
        if state.logs is not None:
            state.logs.add_fields(watcher.access_fields)
    for engine in _engines(target, app):
        if not event.contains(engine, "before_cursor_execute", watcher.before):
            event.listen(engine, "before_cursor_execute", watcher.before)
            event.listen(engine, "after_cursor_execute", watcher.after)
    return watcher
