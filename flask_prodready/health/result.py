"""What a check returns, what the runner records, and the report the endpoints answer with.

A check returns ``None`` (pass) or a :class:`HealthResult`; the runner turns each run into a
:class:`CheckOutcome` (with its name, duration and time) and folds the outcomes of one
endpoint into a :class:`HealthReport`, whose :meth:`~HealthReport.to_dict` is the body in
the IETF health check response format (``application/health+json``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "HEALTH_JSON",
    "CheckOutcome",
    "HealthReport",
    "HealthResult",
    "HealthStatus",
    "overall_status",
]

#: The media type of every health answer (IETF health check response format).
HEALTH_JSON = "application/health+json"


class HealthStatus(StrEnum):
    """The status of a check or of a whole report: ``pass``, ``warn`` or ``fail``.

    ::

        HealthStatus("warn") is HealthStatus.WARN

    .. versionadded:: 0.1
    """

    PASS = "pass"  # noqa: S105 (a status, not a password)
    WARN = "warn"
    FAIL = "fail"


_RANK = {HealthStatus.PASS: 0, HealthStatus.WARN: 1, HealthStatus.FAIL: 2}


@dataclass(frozen=True)
class HealthResult:
    """What a check may return to say more than "pass".

    ::

        @prodready.health.check("replica-lag", critical=False)
        def replica_lag() -> HealthResult:
            lag = read_lag_seconds()
            status = "warn" if lag > 5 else "pass"
            return HealthResult(status, f"lag {lag:.1f}s", observed_value=lag, observed_unit="s")

    Returning ``None`` is the same as ``HealthResult("pass")``; raising an exception is a
    ``fail`` whose output is the exception's type and message (redacted).

    :param status: ``pass``, ``warn`` or ``fail`` (a :class:`HealthStatus` or its text).
    :param output: a short, human-readable explanation, shown to authorised callers.
    :param observed_value: a JSON value the check measured, e.g. a latency or a count.
    :param observed_unit: the unit of ``observed_value``, e.g. ``"ms"`` or ``"MiB"``.
    :raises ValueError: for a status other than ``pass``, ``warn`` or ``fail``.

    .. versionadded:: 0.1
    """

    status: HealthStatus | str = HealthStatus.PASS
    output: str | None = None
    observed_value: Any = None
    observed_unit: str | None = None

    def __post_init__(self) -> None:
        try:
            status = HealthStatus(self.status)
        except ValueError:
            raise ValueError(
                f"a health status is 'pass', 'warn' or 'fail', got {self.status!r}"
            ) from None
        object.__setattr__(self, "status", status)


@dataclass(frozen=True)
class CheckOutcome:
    """One run of one check, as the runner recorded it (outputs already redacted).

    :param name: the check's name.
    :param status: the check's own status.
    :param critical: whether a ``fail`` of this check fails the endpoint (otherwise it only
        degrades it to ``warn``).
    :param duration: how long the run took, in seconds; for a run that timed out, the
        time waited.
    :param time: when the result was known (UTC).
    :param output: the explanation, if any.
    :param observed_value: the measured value, if any.
    :param observed_unit: the unit of ``observed_value``, if any.

    .. versionadded:: 0.1
    """

    name: str
    status: HealthStatus
    critical: bool
    duration: float
    time: datetime
    output: str | None = None
    observed_value: Any = None
    observed_unit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """This outcome as one entry of the IETF ``checks`` object."""
        entry: dict[str, Any] = {
            "status": self.status.value,
            "time": _iso(self.time),
            "duration": round(self.duration, 6),
            "critical": self.critical,
        }
        if self.output is not None:
            entry["output"] = self.output
        if self.observed_value is not None:
            entry["observedValue"] = self.observed_value
        if self.observed_unit is not None:
            entry["observedUnit"] = self.observed_unit
        return entry


def overall_status(outcomes: Iterable[CheckOutcome]) -> HealthStatus:
    """The status of a set of outcomes: ``fail`` when a critical check fails, ``warn`` when
    a non-critical one fails or any check warns, ``pass`` otherwise.

    .. versionadded:: 0.1
    """
    worst = HealthStatus.PASS
    for outcome in outcomes:
        status = outcome.status
        if status is HealthStatus.FAIL and not outcome.critical:
            status = HealthStatus.WARN
        if _RANK[status] > _RANK[worst]:
            worst = status
    return worst


@dataclass(frozen=True)
class HealthReport:
    """The answer of one health endpoint, or of ``flask prodready health``.

    :param status: the overall status (see :func:`overall_status`).
    :param checks: the outcomes of the checks that were consulted, in registration order.
    :param output: why the report fails when no check decided it, e.g. ``"shutting down"``.
    :param notes: remarks that do not change the status, e.g. that start-up is not finished.

    .. versionadded:: 0.1
    """

    status: HealthStatus
    checks: tuple[CheckOutcome, ...] = ()
    output: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def http_status(self) -> int:
        """``200`` for ``pass`` and ``warn``, ``503`` for ``fail``."""
        return 503 if self.status is HealthStatus.FAIL else 200

    @property
    def outcomes(self) -> Mapping[str, CheckOutcome]:
        """The outcomes by check name."""
        return {outcome.name: outcome for outcome in self.checks}

    def to_dict(self, *, details: bool) -> dict[str, Any]:
        """The body in the IETF health check response format.

        :param details: include ``output``, ``notes`` and the ``checks`` object; without
            details the body is only ``{"status": ...}``.
        """
        body: dict[str, Any] = {"status": self.status.value}
        if not details:
            return body
        if self.output is not None:
            body["output"] = self.output
        if self.notes:
            body["notes"] = list(self.notes)
        body["checks"] = {outcome.name: [outcome.to_dict()] for outcome in self.checks}
        return body


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
