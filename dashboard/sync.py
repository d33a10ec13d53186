"""What each worker shares through the store: its heartbeat, and the log levels it applies.

A worker checks the store at most every :data:`SYNC_SECONDS` (from a ``before_request``
hook, so it costs one clock read per request otherwise) and applies log levels changed by
the dashboard in another worker. It writes its heartbeat every :data:`HEARTBEAT_SECONDS`.
A failing store is counted and never fails the request.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_prodready import set_log_level
from flask_prodready.health import CheckOutcome
from flask_prodready.store import ErrorStore, StoreError

__all__ = [
    "HEARTBEAT_SECONDS",
    "INSTANCE_PREFIX",
    "LEVEL_PREFIX",
    "SYNC_SECONDS",
    "HealthHistory",
    "Instance",
    "WorkerSync",
    "instances",
]

#: Seconds between two looks at the shared log levels.
SYNC_SECONDS = 2.0
#: Seconds between two heartbeats of a worker.
HEARTBEAT_SECONDS = 10.0
#: Instances silent for this long are dropped from the store.
INSTANCE_EXPIRY_SECONDS = 300.0
#: Key prefix of the desired log levels; the rest of the key is the logger name ("" overall).
LEVEL_PREFIX = "log_level:"
#: Key prefix of instance heartbeats.
INSTANCE_PREFIX = "instance:"


@dataclass(frozen=True)
class Instance:
    """One worker process that reported a heartbeat.

    .. versionadded:: 0.1
    """

    host: str
    pid: int
    version: str
    started: float
    heartbeat: float

    @property
    def uptime(self) -> float:
        """Seconds since the worker started, at its last heartbeat."""
        return self.heartbeat - self.started


@dataclass
class WorkerSync:
    """This process's heartbeat and log-level synchronisation.

    :param version: the app's release (:mod:`flask_prodready.release`), shown on the
        dashboard; the heartbeat's key stays ``version``.

    .. versionadded:: 0.1
    """

    version: str
    failures: int = 0
    _applied: dict[str, str] = field(default_factory=dict)
    _next_sync: float = 0.0
    _next_heartbeat: float = 0.0
    _started: float = field(default_factory=time.time)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def maybe_run(self, store: ErrorStore | None) -> None:
        """Sync levels and beat when due; never raises."""
        now = time.monotonic()
        if store is None or now < self._next_sync:
            return
        if not self._lock.acquire(blocking=False):
            return  # another thread of this worker is at it
        try:
            self._next_sync = now + SYNC_SECONDS
            self.apply_levels(store)
            if now >= self._next_heartbeat:
                self._next_heartbeat = now + HEARTBEAT_SECONDS
                self.beat(store)
        finally:
            self._lock.release()

    def apply_levels(self, store: ErrorStore) -> None:
        """Apply the log levels stored by the dashboard that changed since the last look."""
        try:
            wanted = {
                key.removeprefix(LEVEL_PREFIX): value
                for key, value in store.values(LEVEL_PREFIX).items()
            }
        except StoreError:
            self.failures += 1
            return
        for name, level in wanted.items():
            if self._applied.get(name) == level:
                continue
            try:
                set_log_level(level, name or None)
            except (ValueError, RuntimeError):
                continue
            self._applied[name] = level

    def remember(self, name: str, level: str) -> None:
        """Note a level this worker applied itself (so the next sync does not redo it)."""
        self._applied[name] = level

    def beat(self, store: ErrorStore) -> None:
        """Write this worker's heartbeat."""
        host = socket.gethostname()
        pid = os.getpid()
        record = {
            "host": host,
            "pid": pid,
            "version": self.version,
            "started": self._started,
            "heartbeat": time.time(),
        }
        try:
            store.set_value(f"{INSTANCE_PREFIX}{host}:{pid}", json.dumps(record))
        except StoreError:
            self.failures += 1


def instances(store: ErrorStore, now: float | None = None) -> list[Instance]:
    """The workers with a recent heartbeat, by host and pid; stale entries are removed."""
    now = time.time() if now is None else now
    found = []
    for key, text in store.values(INSTANCE_PREFIX).items():
        try:
            data: Mapping[str, Any] = json.loads(text)
            instance = Instance(
                str(data["host"]),
                int(data["pid"]),
                str(data["version"]),
                float(data["started"]),
                float(data["heartbeat"]),
            )
        except (ValueError, KeyError, TypeError):
            store.set_value(key, None)
            continue
        if now - instance.heartbeat > INSTANCE_EXPIRY_SECONDS:
            store.set_value(key, None)
            continue
        found.append(instance)
    return sorted(found, key=lambda i: (i.host, i.pid))


@dataclass
class HealthHistory:
    """The last results of each health check seen by this worker, newest first.

    :param size: results kept per check.

    .. versionadded:: 0.1
    """

    size: int = 20
    _results: dict[str, deque[CheckOutcome]] = field(default_factory=dict)

    def add(self, outcome: CheckOutcome) -> None:
        """Keep ``outcome`` (a health runner listener)."""
        self._results.setdefault(outcome.name, deque(maxlen=self.size)).appendleft(outcome)

    def of(self, name: str) -> list[CheckOutcome]:
        """The kept results of check ``name``, newest first."""
        return list(self._results.get(name, ()))
