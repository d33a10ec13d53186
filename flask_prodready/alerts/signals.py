"""Where alert rules read request statistics: requests, errors and p95 over a window.

:class:`SampleSignals` reads them from the metrics part's samples, which add up every
worker; without the metrics part the engine gets no statistics at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Protocol

from flask_prodready.snapshots import MetricsSample, SampleStore, histogram_quantile

__all__ = ["SampleSignals", "WindowStats"]

#: How long after a window's end a fresh sample may be read and still end that window.
_FRESH_LATENESS = 1.0


@dataclass(frozen=True)
class WindowStats:
    """Requests, errors and p95 over one window.

    .. versionadded:: 0.1
    """

    seconds: float
    requests: float
    errors: float
    p95: float | None

    def value(self, signal: str) -> float | None:
        """The signal's value: ``request_rate``, ``error_rate`` (5xx share) or ``p95``."""
        if signal == "request_rate":
            return self.requests / self.seconds if self.seconds > 0 else 0.0
        if signal == "error_rate":
            return self.errors / self.requests if self.requests else 0.0
        return self.p95


class SignalSource(Protocol):
    """Where the engine reads request statistics (the metrics part's samples)."""

    def stats(self, start: float, end: float, route: str | None) -> WindowStats | None:
        """Statistics between ``start`` and ``end``; ``None`` without samples covering it."""
        ...


class SampleSignals:
    """Request statistics from the metrics part's samples (aggregated over every worker).

    :param samples: where the samples are kept.
    :param current: a function taking a fresh sample now (``Metrics.sample``), or ``None``
        to use only kept samples (tests).

    .. versionadded:: 0.1
    """

    def __init__(
        self, samples: SampleStore, current: Callable[[], MetricsSample] | None = None
    ) -> None:
        self.samples = samples
        self.current = current
        self._fresh: MetricsSample | None = None
        self._sharing = False

    @contextmanager
    def one_evaluation(self) -> Iterator[None]:
        """Inside the block, every :meth:`stats` call shares one fresh sample.

        The engine evaluates all its rules in one: reading the totals of every route costs
        about as much as the rest of an evaluation, and the rules ask for the same moment.
        """
        self._sharing, self._fresh = True, None
        try:
            yield
        finally:
            self._sharing, self._fresh = False, None

    def stats(self, start: float, end: float, route: str | None) -> WindowStats | None:
        """See :class:`SignalSource`."""
        kept = self.samples.window(start)
        if self.current is not None:
            fresh = self._fresh
            if fresh is None:
                fresh = self.current()
                if self._sharing:
                    self._fresh = fresh
            if 0.0 < fresh.time - end < _FRESH_LATENESS:
                # Read a moment after the engine's clock said "now": it is the sample of
                # ``end``, not one after it, which would leave it out of the window.
                fresh = replace(fresh, time=end)
            kept = [*kept, fresh]
        before = _at_or_before(kept, start)
        after = _at_or_before(kept, end)
        if before is None or after is None or after.time <= before.time:
            return None
        rows_before = _route_rows(before, route)
        rows_after = _route_rows(after, route)
        if rows_after is None:
            return WindowStats(after.time - before.time, 0.0, 0.0, None)
        delta = [
            max(a - b, 0.0)
            for a, b in zip(rows_after, rows_before or [0.0] * len(rows_after), strict=True)
        ]
        requests, errors, buckets = delta[0], delta[1], delta[2:]
        p95 = histogram_quantile(0.95, after.bounds, buckets) if requests else None
        return WindowStats(after.time - before.time, requests, errors, p95)


class _NoSignals:
    """The signals of an app without the metrics part: never any statistics."""

    def stats(self, start: float, end: float, route: str | None) -> WindowStats | None:
        return None


def _at_or_before(samples: Sequence[MetricsSample], moment: float) -> MetricsSample | None:
    chosen = None
    for sample in samples:
        if sample.time <= moment + 1e-9:
            chosen = sample
    return chosen


def _route_rows(sample: MetricsSample, route: str | None) -> list[float] | None:
    if route is not None:
        row = sample.routes.get(route)
        return list(row) if row is not None else None
    if not sample.routes:
        return None
    return list(sample.overall)
