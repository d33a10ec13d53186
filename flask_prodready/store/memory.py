"""An error store in this process's memory."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import replace

from ._types import ErrorGroup, ErrorOccurrence, LogLine, StoreError, StoreLimits, regresses

__all__ = [
    "MINUTE_RETENTION_SECONDS",
    "MemoryErrorStore",
]

#: Per-minute counts are kept for at most a day, whatever the retention.
MINUTE_RETENTION_SECONDS = 24 * 3600


class MemoryErrorStore:
    """Errors kept in memory, bounded; for tests and single-process apps.

    :param limits: the bounds.

    .. versionadded:: 0.1
    """

    def __init__(self, limits: StoreLimits | None = None) -> None:
        self.limits = limits or StoreLimits()
        self._lock = threading.Lock()
        # Least recently seen first, so the cap drops from the front.
        self._groups: OrderedDict[str, ErrorGroup] = OrderedDict()
        self._occurrences: dict[str, deque[ErrorOccurrence]] = {}
        self._minutes: dict[int, dict[str, int]] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._lines: deque[LogLine] = deque(maxlen=self.limits.max_log_lines)
        self._values: dict[str, str] = {}

    def record(self, occurrence: ErrorOccurrence) -> ErrorGroup:
        """Add an occurrence to its group; see :class:`~flask_prodready.store.ErrorStore`."""
        key = occurrence.fingerprint
        with self._lock:
            old = self._groups.pop(key, None)
            if old is None:
                group = ErrorGroup(
                    fingerprint=key,
                    exception_type=occurrence.exception_type,
                    message=occurrence.message,
                    route=occurrence.route,
                    method=occurrence.method,
                    status=occurrence.status,
                    count=1,
                    first_seen=occurrence.timestamp,
                    last_seen=occurrence.timestamp,
                    last_request_id=occurrence.request_id,
                    first_release=occurrence.release,
                    last_release=occurrence.release,
                )
                self._occurrences[key] = deque(maxlen=self.limits.max_occurrences)
            else:
                group = replace(
                    old,
                    message=occurrence.message,
                    route=occurrence.route,
                    method=occurrence.method,
                    status=occurrence.status,
                    count=old.count + 1,
                    last_seen=max(old.last_seen, occurrence.timestamp),
                    last_request_id=occurrence.request_id,
                    resolved=False,
                    last_release=occurrence.release or old.last_release,
                    regressed=regresses(old, occurrence.release) if old.resolved else old.regressed,
                )
            self._groups[key] = group
            self._occurrences[key].appendleft(occurrence)
            minute = int(occurrence.timestamp // 60) * 60
            bucket = self._minutes.setdefault(minute, {})
            bucket[key] = bucket.get(key, 0) + 1
            self._enforce(time.time())
            return group

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
        with self._lock:
            candidates = sorted(self._groups.values(), key=lambda g: g.last_seen, reverse=True)
        chosen = [
            g
            for g in candidates
            if (route is None or g.route == route)
            and (status is None or g.status == status)
            and (resolved is None or g.resolved == resolved)
        ]
        return chosen[offset : offset + limit]

    def group(self, fingerprint: str) -> ErrorGroup | None:
        """One group, or ``None``."""
        with self._lock:
            return self._groups.get(fingerprint)

    def occurrences(self, fingerprint: str, limit: int = 20) -> list[ErrorOccurrence]:
        """A group's occurrences, newest first."""
        with self._lock:
            return list(self._occurrences.get(fingerprint, ()))[:limit]

    def set_resolved(self, fingerprint: str, resolved: bool) -> bool:
        """Resolve or reopen a group."""
        with self._lock:
            group = self._groups.get(fingerprint)
            if group is None:
                return False
            regressed = False if resolved else group.regressed
            self._groups[fingerprint] = replace(group, resolved=resolved, regressed=regressed)
            return True

    def counts_per_minute(
        self, start: float, end: float, fingerprint: str | None = None
    ) -> list[tuple[int, int]]:
        """Counts per minute in ``[start, end)``."""
        with self._lock:
            rows = []
            for minute in sorted(self._minutes):
                if start <= minute < end:
                    bucket = self._minutes[minute]
                    total = bucket.get(fingerprint, 0) if fingerprint else sum(bucket.values())
                    if total:
                        rows.append((minute, total))
            return rows

    def add_log_lines(self, lines: Sequence[LogLine]) -> None:
        """Append lines to the shared log buffer."""
        with self._lock:
            self._lines.extend(lines)

    def log_lines(self, *, request_id: str | None = None, limit: int = 200) -> list[LogLine]:
        """The buffered lines, newest first."""
        with self._lock:
            lines = list(self._lines)
        lines.reverse()
        if request_id is not None:
            lines = [line for line in lines if line.request_id == request_id]
        return lines[:limit]

    def set_value(self, key: str, value: str | None) -> None:
        """Set or delete one shared entry."""
        with self._lock:
            if value is None:
                self._values.pop(key, None)
                return
            if key not in self._values and len(self._values) >= self.limits.max_values:
                raise StoreError(f"the store keeps at most {self.limits.max_values} values")
            self._values[key] = value

    def values(self, prefix: str = "") -> dict[str, str]:
        """The shared entries whose key starts with ``prefix``."""
        with self._lock:
            return {k: v for k, v in self._values.items() if k.startswith(prefix)}

    def prune(self, now: float | None = None) -> None:
        """Apply retention and the group cap."""
        with self._lock:
            self._enforce(time.time() if now is None else now)

    def _enforce(self, now: float) -> None:
        horizon = now - self.limits.retention_seconds
        evicted = []
        while self._groups:
            key, oldest = next(iter(self._groups.items()))
            if len(self._groups) <= self.limits.max_groups and oldest.last_seen >= horizon:
                break
            del self._groups[key]
            del self._occurrences[key]
            evicted.append(key)
        minute_horizon = now - min(self.limits.retention_seconds, MINUTE_RETENTION_SECONDS)
        for minute in [m for m in self._minutes if m < minute_horizon]:
            del self._minutes[minute]
        if evicted:
            for bucket in self._minutes.values():
                for key in evicted:
                    bucket.pop(key, None)

    def acquire_lease(self, name: str, holder: str, seconds: float, now: float) -> bool:
        """Take or renew a lease; see :class:`~flask_prodready.store.ErrorStore`."""
        with self._lock:
            current = self._leases.get(name)
            if current is None or current[0] == holder or current[1] <= now:
                self._leases[name] = (holder, now + seconds)
                return True
            return False

    def lease_holder(self, name: str, now: float) -> str | None:
        """Who holds the unexpired lease ``name``."""
        with self._lock:
            current = self._leases.get(name)
            return current[0] if current is not None and current[1] > now else None

    def close(self) -> None:
        """Nothing to release."""
