"""The store protocol and the records it keeps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from flask_prodready.exceptions import ProdReadyError


class StoreError(ProdReadyError):
    """The store could not be read or written (server down, file locked, disk full).

    .. versionadded:: 0.1
    """


@dataclass(frozen=True)
class StoreLimits:
    """The bounds every store keeps.

    :param max_groups: error groups kept; the least recently seen are dropped first.
    :param max_occurrences: occurrences kept per group; the oldest are dropped first.
    :param retention_seconds: groups not seen for this long, and older per-minute counts,
        are dropped.
    :param max_log_lines: log lines kept in the shared buffer; the oldest are dropped first.
    :param max_values: entries kept in the shared key/value (log levels, instances).

    .. versionadded:: 0.1
    """

    max_groups: int = 500
    max_occurrences: int = 20
    retention_seconds: float = 7 * 24 * 3600
    max_log_lines: int = 1000
    max_values: int = 1000


@dataclass(frozen=True)
class ErrorOccurrence:
    """One recorded error: what happened, to which request, with its context.

    Everything here is already redacted: headers and query parameters with secret-looking
    names are ``"***"``, URL passwords hidden in the message and stack.

    An error of a job (see :func:`flask_prodready.jobs.job`) has ``JOB`` as its method and
    the job's name as its route and path; its :attr:`context` holds the job's id, the id of
    the request that started it and its arguments, capped.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       :attr:`context` and :attr:`release`.
    """

    fingerprint: str
    timestamp: float
    exception_type: str
    message: str
    stack: str
    status: int
    method: str
    route: str
    path: str
    request_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    breadcrumbs: list[str] = field(default_factory=list)
    host: str = ""
    pid: int = 0
    #: What else is known of where it happened, JSON-ready and redacted: for a job its
    #: ``job_id``, ``parent_request_id`` and ``arguments``.
    context: dict[str, Any] = field(default_factory=dict)
    #: The app's release when it happened (:mod:`flask_prodready.release`); empty when
    #: none was known.
    release: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the occurrence."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorOccurrence:
        """The occurrence from :meth:`to_dict`'s output."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


@dataclass(frozen=True)
class ErrorGroup:
    """Occurrences with one fingerprint: how often, since when, where, and whether resolved.

    A resolved group happens again: it is open again, and *regressed* when the release it
    happened in differs from the one it was last seen in before (:func:`regresses`).

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       :attr:`first_release`, :attr:`last_release` and :attr:`regressed`.
    """

    fingerprint: str
    exception_type: str
    message: str
    route: str
    method: str
    status: int
    count: int
    first_seen: float
    last_seen: float
    last_request_id: str | None
    resolved: bool = False
    #: The release of the first occurrence; empty when none was known (or the group was
    #: recorded before releases were).
    first_release: str = ""
    #: The release of the latest occurrence that knew one.
    last_release: str = ""
    #: Resolved, then seen again in another release; cleared when resolved again.
    regressed: bool = False


def regresses(group: ErrorGroup, release: str) -> bool:
    """Whether an occurrence in ``release`` makes ``group`` regressed: it was resolved, and
    both releases are known and differ. Every store applies this one rule."""
    return (
        group.resolved
        and bool(release)
        and bool(group.last_release)
        and (release != group.last_release)
    )


@dataclass(frozen=True)
class LogLine:
    """One log line kept in the store's shared buffer (WARNING and above, every worker).

    :param timestamp: when it was logged, in seconds since the epoch.
    :param level: the level name, e.g. ``WARNING``.
    :param request_id: the request it belongs to, if any.
    :param text: the whole line as JSON (already redacted by the log sink).

    .. versionadded:: 0.1
    """

    timestamp: float
    level: str
    request_id: str | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the line."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogLine:
        """The line from :meth:`to_dict`'s output."""
        return cls(
            float(data["timestamp"]), str(data["level"]), data.get("request_id"), str(data["text"])
        )


@runtime_checkable
class ErrorStore(Protocol):
    """What every store backend does. Methods raise :class:`StoreError` on failure.

    .. versionadded:: 0.1
    """

    limits: StoreLimits

    def record(self, occurrence: ErrorOccurrence) -> ErrorGroup:
        """Add an occurrence to its group (creating or reopening it); return the group."""
        ...

    def groups(
        self,
        *,
        route: str | None = None,
        status: int | None = None,
        resolved: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[ErrorGroup]:
        """Groups, newest last-seen first, filtered and paged."""
        ...

    def group(self, fingerprint: str) -> ErrorGroup | None:
        """One group, or ``None``."""
        ...

    def occurrences(self, fingerprint: str, limit: int = 20) -> list[ErrorOccurrence]:
        """A group's kept occurrences, newest first."""
        ...

    def set_resolved(self, fingerprint: str, resolved: bool) -> bool:
        """Resolve or reopen a group; ``False`` if there is no such group."""
        ...

    def counts_per_minute(
        self, start: float, end: float, fingerprint: str | None = None
    ) -> list[tuple[int, int]]:
        """``(minute start as epoch seconds, count)`` for minutes in ``[start, end)``."""
        ...

    def add_log_lines(self, lines: Sequence[LogLine]) -> None:
        """Append lines to the shared log buffer, keeping the newest ``max_log_lines``."""
        ...

    def log_lines(self, *, request_id: str | None = None, limit: int = 200) -> list[LogLine]:
        """The buffered lines, newest first; only those of ``request_id`` when given."""
        ...

    def set_value(self, key: str, value: str | None) -> None:
        """Set (or, with ``None``, delete) one entry of the shared key/value.

        At most ``max_values`` entries are kept; past that, new keys are refused with
        :class:`StoreError`.
        """
        ...

    def values(self, prefix: str = "") -> dict[str, str]:
        """The shared entries whose key starts with ``prefix``."""
        ...

    def prune(self, now: float | None = None) -> None:
        """Apply retention and the group cap now (stores also do it as they record)."""
        ...

    def acquire_lease(self, name: str, holder: str, seconds: float, now: float) -> bool:
        """Take or renew the lease ``name`` for ``holder`` until ``now + seconds``.

        True when ``holder`` holds it afterwards: it was free, expired, or already its own.
        Used so that exactly one worker of all that share the store runs a periodic job.
        """
        ...

    def lease_holder(self, name: str, now: float) -> str | None:
        """Who holds the unexpired lease ``name``, or ``None``."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...
