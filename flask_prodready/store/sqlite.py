"""An error store in one SQLite file, shared by every worker process of a machine."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._types import ErrorGroup, ErrorOccurrence, LogLine, StoreError, StoreLimits

__all__ = [
    "BUSY_TIMEOUT_MS",
    "MINUTE_RETENTION_SECONDS",
    "OPEN_RETRY_SECONDS",
    "SQLiteErrorStore",
]

#: How long a writer waits for another process's lock before the write fails (ms).
BUSY_TIMEOUT_MS = 2000
#: How long opening the store keeps trying while the file is busy (workers starting at once).
OPEN_RETRY_SECONDS = 10.0
#: Per-minute counts are kept for at most a day, whatever the retention.
MINUTE_RETENTION_SECONDS = 24 * 3600

_SCHEMA = """
CREATE TABLE IF NOT EXISTS error_groups (
    fingerprint TEXT PRIMARY KEY,
    exception_type TEXT NOT NULL,
    message TEXT NOT NULL,
    route TEXT NOT NULL,
    method TEXT NOT NULL,
    status INTEGER NOT NULL,
    count INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    last_request_id TEXT,
    resolved INTEGER NOT NULL DEFAULT 0,
    first_release TEXT NOT NULL DEFAULT '',
    last_release TEXT NOT NULL DEFAULT '',
    regressed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS error_groups_last_seen ON error_groups (last_seen);
CREATE TABLE IF NOT EXISTS error_occurrences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    timestamp REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS error_occurrences_group ON error_occurrences (fingerprint, id);
CREATE TABLE IF NOT EXISTS prodready_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS prodready_values (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS error_minutes (
    minute INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (minute, fingerprint)
);
CREATE TABLE IF NOT EXISTS log_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp REAL NOT NULL,
    level TEXT NOT NULL,
    request_id TEXT,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_lines_request ON log_lines (request_id);
CREATE TABLE IF NOT EXISTS shared_values (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

_GROUP_COLUMNS = (
    "fingerprint, exception_type, message, route, method, status, count, first_seen, "
    "last_seen, last_request_id, resolved, first_release, last_release, regressed"
)

#: Columns added to ``error_groups`` after 0.1, with their declarations: a file written by
#: an older version gains them when it is opened (and older versions still read and write it,
#: naming their columns).
_ADDED_GROUP_COLUMNS = (
    ("first_release", "TEXT NOT NULL DEFAULT ''"),
    ("last_release", "TEXT NOT NULL DEFAULT ''"),
    ("regressed", "INTEGER NOT NULL DEFAULT 0"),
)

# Built from constants only.
_SELECT_GROUP = f"SELECT {_GROUP_COLUMNS} FROM error_groups WHERE fingerprint = ?"  # noqa: S608


class SQLiteErrorStore:
    """Errors in one SQLite file (WAL mode), safe for several processes and threads.

    Each thread uses its own connection. A write waits at most :data:`BUSY_TIMEOUT_MS` for
    another writer, then fails with :class:`StoreError` (the caller counts it; the request
    never fails). The file stays bounded by the limits; old pages are reused.

    :param path: the database file; its folder is created.
    :param limits: the bounds.

    .. versionadded:: 0.1
    """

    def __init__(self, path: str | Path, limits: StoreLimits | None = None) -> None:
        self.path = Path(path)
        self.limits = limits or StoreLimits()
        self._local = threading.local()
        self._records = 0
        # Every thread's connection, so that close() releases them all (an app per test
        # must not leave its files open).
        # Each with its lock, held while a thread works on it: closing a connection another
        # thread is executing on crashes CPython's sqlite3. close() never waits for the lock
        # (it may run in a finalizer, in the very thread that holds it): a busy connection is
        # closed by its own thread when its work ends.
        self._connections: list[tuple[int, sqlite3.Connection, threading.Lock]] = []
        self._close_after_work: set[int] = set()
        self._connections_lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _while_busy(lambda: _create_tables(self._connection()), OPEN_RETRY_SECONDS)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the error store {self.path}: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        return self._connection_and_lock()[0]

    def _connection_and_lock(self) -> tuple[sqlite3.Connection, threading.Lock]:
        # close() may swap in a fresh threading.local meanwhile: this connection then
        # belongs to the old one, so the thread's next call opens another.
        local = self._local
        db: sqlite3.Connection | None = getattr(local, "db", None)
        if db is not None and local.pid != os.getpid():
            db = None  # inherited through fork (gunicorn --preload): never share it
        if db is None:
            # Used by its own thread only; close() may run in another (a finalizer).
            db = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            lock = threading.Lock()
            # Held while the connection is set up: close() (a finalizer at exit, in another
            # thread) must not close it under these statements; that crashed the process.
            with lock:
                with self._connections_lock:
                    self._connections.append((os.getpid(), db, lock))
                _while_busy(lambda: db.execute("PRAGMA journal_mode=WAL"), BUSY_TIMEOUT_MS / 1000)
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            local.db = db
            local.lock = lock
            local.pid = os.getpid()
        return db, local.lock

    def _run(self, work: Any) -> Any:
        try:
            db, lock = self._connection_and_lock()
            with lock:
                try:
                    return work(db)
                finally:
                    if self._close_after_work and id(db) in self._close_after_work:
                        with self._connections_lock:
                            self._close_after_work.discard(id(db))
                        with contextlib.suppress(sqlite3.Error):
                            db.close()
        except sqlite3.Error as exc:
            raise StoreError(f"error store {self.path}: {exc}") from exc

    def record(self, occurrence: ErrorOccurrence) -> ErrorGroup:
        """Add an occurrence to its group; see :class:`~flask_prodready.store.ErrorStore`."""

        def work(db: sqlite3.Connection) -> ErrorGroup:
            o = occurrence
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO error_groups (fingerprint, exception_type, message, route, "
                    "method, status, count, first_seen, last_seen, last_request_id, resolved, "
                    "first_release, last_release, regressed) "
                    "VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, 0, ?, ?, 0) "
                    "ON CONFLICT (fingerprint) DO UPDATE SET message = excluded.message, "
                    "route = excluded.route, method = excluded.method, "
                    "status = excluded.status, count = count + 1, "
                    "last_seen = max(last_seen, excluded.last_seen), "
                    "last_request_id = excluded.last_request_id, "
                    # Every right-hand side reads the row as it was: see regresses().
                    "regressed = CASE WHEN resolved = 1 THEN (excluded.last_release != '' "
                    "AND last_release != '' AND excluded.last_release != last_release) "
                    "ELSE regressed END, "
                    "last_release = CASE WHEN excluded.last_release != '' "
                    "THEN excluded.last_release ELSE last_release END, "
                    "resolved = 0",
                    (
                        o.fingerprint,
                        o.exception_type,
                        o.message,
                        o.route,
                        o.method,
                        o.status,
                        o.timestamp,
                        o.timestamp,
                        o.request_id,
                        o.release,
                        o.release,
                    ),
                )
                db.execute(
                    "INSERT INTO error_occurrences (fingerprint, timestamp, data) VALUES (?, ?, ?)",
                    (o.fingerprint, o.timestamp, json.dumps(o.to_dict(), default=str)),
                )
                db.execute(
                    "DELETE FROM error_occurrences WHERE fingerprint = ? AND id NOT IN "
                    "(SELECT id FROM error_occurrences WHERE fingerprint = ? "
                    "ORDER BY id DESC LIMIT ?)",
                    (o.fingerprint, o.fingerprint, self.limits.max_occurrences),
                )
                db.execute(
                    "INSERT INTO error_minutes (minute, fingerprint, count) VALUES (?, ?, 1) "
                    "ON CONFLICT (minute, fingerprint) DO UPDATE SET count = count + 1",
                    (int(o.timestamp // 60) * 60, o.fingerprint),
                )
                row = db.execute(
                    _SELECT_GROUP,
                    (o.fingerprint,),
                ).fetchone()
                self._records += 1
                if row[6] == 1 or self._records % 50 == 1:  # a new group, or now and then
                    self._enforce(db, time.time())
                    row = (
                        db.execute(
                            _SELECT_GROUP,
                            (o.fingerprint,),
                        ).fetchone()
                        or row
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return _group(row)

        result: ErrorGroup = self._run(work)
        return result

    def groups(
        self,
        *,
        route: str | None = None,
        status: int | None = None,
        resolved: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[ErrorGroup]:
        """Groups, newest first, filtered and paged."""
        clauses: list[str] = []
        params: list[Any] = []
        if route is not None:
            clauses.append("route = ?")
            params.append(route)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if resolved is not None:
            clauses.append("resolved = ?")
            params.append(int(resolved))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = (
            f"SELECT {_GROUP_COLUMNS} FROM error_groups {where} "  # noqa: S608 - fixed clauses
            "ORDER BY last_seen DESC LIMIT ? OFFSET ?"
        )
        rows = self._run(lambda db: db.execute(query, (*params, limit, offset)).fetchall())
        return [_group(row) for row in rows]

    def group(self, fingerprint: str) -> ErrorGroup | None:
        """One group, or ``None``."""
        row = self._run(lambda db: db.execute(_SELECT_GROUP, (fingerprint,)).fetchone())
        return _group(row) if row else None

    def occurrences(self, fingerprint: str, limit: int = 20) -> list[ErrorOccurrence]:
        """A group's occurrences, newest first."""
        rows = self._run(
            lambda db: db.execute(
                "SELECT data FROM error_occurrences WHERE fingerprint = ? ORDER BY id DESC LIMIT ?",
                (fingerprint, limit),
            ).fetchall()
        )
        return [ErrorOccurrence.from_dict(json.loads(row[0])) for row in rows]

    def set_resolved(self, fingerprint: str, resolved: bool) -> bool:
        """Resolve or reopen a group."""
        cursor = self._run(
            lambda db: db.execute(
                "UPDATE error_groups SET resolved = ?, "
                "regressed = CASE WHEN ? THEN 0 ELSE regressed END WHERE fingerprint = ?",
                (int(resolved), int(resolved), fingerprint),
            )
        )
        return bool(cursor.rowcount)

    def counts_per_minute(
        self, start: float, end: float, fingerprint: str | None = None
    ) -> list[tuple[int, int]]:
        """Counts per minute in ``[start, end)``."""
        if fingerprint is None:
            query = (
                "SELECT minute, SUM(count) FROM error_minutes WHERE minute >= ? AND minute < ? "
                "GROUP BY minute ORDER BY minute"
            )
            params: tuple[Any, ...] = (start, end)
        else:
            query = (
                "SELECT minute, count FROM error_minutes WHERE minute >= ? AND minute < ? "
                "AND fingerprint = ? ORDER BY minute"
            )
            params = (start, end, fingerprint)
        rows = self._run(lambda db: db.execute(query, params).fetchall())
        return [(int(minute), int(count)) for minute, count in rows]

    def add_log_lines(self, lines: Sequence[LogLine]) -> None:
        """Append lines to the shared log buffer (one transaction for the batch)."""
        if not lines:
            return

        def work(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT INTO log_lines (timestamp, level, request_id, text) "
                    "VALUES (?, ?, ?, ?)",
                    [(x.timestamp, x.level, x.request_id, x.text) for x in lines],
                )
                db.execute(
                    "DELETE FROM log_lines WHERE id <= (SELECT MAX(id) FROM log_lines) - ?",
                    (self.limits.max_log_lines,),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

        self._run(work)

    def log_lines(self, *, request_id: str | None = None, limit: int = 200) -> list[LogLine]:
        """The buffered lines, newest first."""
        if request_id is None:
            query = "SELECT timestamp, level, request_id, text FROM log_lines "
            params: tuple[Any, ...] = (limit,)
        else:
            query = "SELECT timestamp, level, request_id, text FROM log_lines WHERE request_id = ? "
            params = (request_id, limit)
        rows = self._run(
            lambda db: db.execute(query + "ORDER BY id DESC LIMIT ?", params).fetchall()
        )
        return [LogLine(float(ts), level, rid, text) for ts, level, rid, text in rows]

    def set_value(self, key: str, value: str | None) -> None:
        """Set or delete one shared entry."""

        def work(db: sqlite3.Connection) -> None:
            if value is None:
                db.execute("DELETE FROM shared_values WHERE key = ?", (key,))
                return
            db.execute("BEGIN IMMEDIATE")
            try:
                exists = db.execute("SELECT 1 FROM shared_values WHERE key = ?", (key,)).fetchone()
                (count,) = db.execute("SELECT COUNT(*) FROM shared_values").fetchone()
                if not exists and count >= self.limits.max_values:
                    raise StoreError(f"the store keeps at most {self.limits.max_values} values")
                db.execute(
                    "INSERT INTO shared_values (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

        self._run(work)

    def values(self, prefix: str = "") -> dict[str, str]:
        """The shared entries whose key starts with ``prefix``."""
        rows = self._run(
            lambda db: db.execute(
                "SELECT key, value FROM shared_values WHERE substr(key, 1, ?) = ?",
                (len(prefix), prefix),
            ).fetchall()
        )
        return {str(key): str(value) for key, value in rows}

    def prune(self, now: float | None = None) -> None:
        """Apply retention and the group cap."""

        def work(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                self._enforce(db, time.time() if now is None else now)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

        self._run(work)

    def _enforce(self, db: sqlite3.Connection, now: float) -> None:
        horizon = now - self.limits.retention_seconds
        doomed = (
            "SELECT fingerprint FROM error_groups WHERE last_seen < ? OR fingerprint NOT IN "
            "(SELECT fingerprint FROM error_groups ORDER BY last_seen DESC LIMIT ?)"
        )
        fingerprints = [r[0] for r in db.execute(doomed, (horizon, self.limits.max_groups))]
        for start in range(0, len(fingerprints), 500):
            chunk = fingerprints[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for table in ("error_groups", "error_occurrences", "error_minutes"):
                db.execute(f"DELETE FROM {table} WHERE fingerprint IN ({marks})", chunk)  # noqa: S608
        minute_horizon = now - min(self.limits.retention_seconds, MINUTE_RETENTION_SECONDS)
        db.execute("DELETE FROM error_minutes WHERE minute < ?", (minute_horizon,))

    def acquire_lease(self, name: str, holder: str, seconds: float, now: float) -> bool:
        """Take or renew a lease; see :class:`~flask_prodready.store.ErrorStore`."""

        def work(db: sqlite3.Connection) -> bool:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO prodready_leases (name, holder, expires) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                    "expires = excluded.expires WHERE holder = excluded.holder OR expires <= ?",
                    (name, holder, now + seconds, now),
                )
                row = db.execute(
                    "SELECT holder FROM prodready_leases WHERE name = ?", (name,)
                ).fetchone()
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return bool(row and row[0] == holder)

        result: bool = self._run(work)
        return result

    def lease_holder(self, name: str, now: float) -> str | None:
        """Who holds the unexpired lease ``name``."""
        row = self._run(
            lambda db: db.execute(
                "SELECT holder FROM prodready_leases WHERE name = ? AND expires > ?", (name, now)
            ).fetchone()
        )
        return str(row[0]) if row else None

    def close(self) -> None:
        """Close every thread's connection; a later call opens a new one."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for pid, db, lock in connections:
            # A connection inherited through fork belongs to the parent: closing it here
            # could checkpoint and remove the WAL file under the parent's feet.
            if pid != os.getpid():
                continue
            if not lock.acquire(blocking=False):
                with self._connections_lock:
                    self._close_after_work.add(id(db))
                continue
            try:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
            finally:
                lock.release()
        self._local = threading.local()


def _create_tables(db: sqlite3.Connection) -> None:
    """Create the tables, and add the columns a file of an older version lacks."""
    db.executescript(_SCHEMA)
    present = {row[1] for row in db.execute("PRAGMA table_info(error_groups)")}
    for name, declaration in _ADDED_GROUP_COLUMNS:
        if name in present:
            continue
        try:
            db.execute(f"ALTER TABLE error_groups ADD COLUMN {name} {declaration}")
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):  # another process added it first
                raise


def _group(row: Any) -> ErrorGroup:
    (
        fingerprint,
        kind,
        message,
        route,
        method,
        status,
        count,
        first,
        last,
        rid,
        resolved,
        first_release,
        last_release,
        regressed,
    ) = row
    return ErrorGroup(
        fingerprint=fingerprint,
        exception_type=kind,
        message=message,
        route=route,
        method=method,
        status=int(status),
        count=int(count),
        first_seen=float(first),
        last_seen=float(last),
        last_request_id=rid,
        resolved=bool(resolved),
        first_release=first_release,
        last_release=last_release,
        regressed=bool(regressed),
    )


def _while_busy(action: Any, seconds: float) -> Any:
    """Run ``action``, again while SQLite answers "database is locked" or "busy", for up to
    ``seconds``.

    SQLite's busy timeout does not cover every case: a statement whose read snapshot went
    stale while another process wrote (two workers creating the tables at once), or a
    switch to WAL mode, fails at once. Giving up there would leave a worker on a store of
    its own.
    """
    deadline = time.monotonic() + seconds
    delay = 0.005
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if ("locked" not in text and "busy" not in text) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.25)
