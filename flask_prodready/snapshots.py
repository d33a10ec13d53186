"""Metrics snapshots for the dashboard: request rate, error rate and latency quantiles.

How the numbers are computed
----------------------------

The metrics part reads the request-duration histogram
(``flask_http_request_duration_seconds``) from the registry, aggregated over every worker in
multiprocess mode, and keeps one :class:`MetricsSample` at most every
``PRODREADY_METRICS_SAMPLE_INTERVAL`` seconds: for each route template, the running totals of
requests, of requests answered with a status of 500 or more (*errors*), and of each
histogram bucket. A sample is taken by the first request that starts after the interval has
passed, before that request is counted, and by :func:`metrics_snapshot` when one is due.

:func:`metrics_snapshot` reads the totals once more (*now*) and picks a *baseline* among the
kept samples: the newest one taken at or before *now* minus the window, or, when the history
is shorter than the window, the oldest one. Every number is then a difference between *now*
and the baseline, over the ``seconds`` between them (at least the window, or the whole
history when that is shorter; a sample interval longer at most when traffic was steady):

- ``requests`` and ``errors``: the differences of the totals;
- ``request_rate`` and ``error_rate``: those differences divided by ``seconds`` (per second);
- ``error_ratio``: ``errors / requests`` (0 without requests);
- ``p50``, ``p95``, ``p99``: quantiles estimated from the differences of the bucket counts
  the way PromQL's ``histogram_quantile`` does: find the bucket that holds the rank
  ``q * requests`` and interpolate linearly inside it (from 0 for the first bucket); a rank in
  the ``+Inf`` bucket gives the largest finite bound. ``None`` without requests.

A total that went down (the counters were reset, e.g. by a restart with a shared store)
counts from zero, as PromQL's ``rate`` does. ``series`` holds the same numbers for each pair
of consecutive samples, for charts.

Samples go to a :class:`SampleStore`; the default, :class:`SampleRingBuffer`, keeps them in
the process, bounded by ``PRODREADY_METRICS_HISTORY_MINUTES``.
"""

from __future__ import annotations

import math
import operator
import threading
import weakref
from array import array
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from typing import Protocol

from flask import Flask

from .exceptions import SetupError
from .state import get_state

__all__ = [
    "ALL_ROUTES",
    "MetricsSample",
    "MetricsSnapshot",
    "RouteStats",
    "SampleRingBuffer",
    "SampleStore",
    "SeriesPoint",
    "build_snapshot",
    "histogram_quantile",
    "metrics_snapshot",
]

#: The ``route`` of :attr:`MetricsSnapshot.overall`: every route together.
ALL_ROUTES = "*"
#: Where the totals start in a route's row: requests, errors, then one count per bucket.
_REQUESTS, _ERRORS, _FIRST_BUCKET = 0, 1, 2


@dataclass(frozen=True)
class MetricsSample:
    """The running totals of the request metrics at one moment.

    :param time: when it was taken, in seconds since the epoch.
    :param bounds: the finite upper bounds of the histogram's buckets, in seconds.
    :param routes: for each route template, an ``array("d")`` holding the total requests,
        the total errors (status 500 or more), then the cumulative count of each bucket of
        ``bounds``.

    .. versionadded:: 0.1
    """

    time: float
    bounds: tuple[float, ...]
    routes: Mapping[str, array[float]]

    @staticmethod
    def new_row(bounds: Sequence[float]) -> array[float]:
        """A row of zeros for one route, for code that builds a sample."""
        return array("d", bytes(8 * (_FIRST_BUCKET + len(bounds))))

    @cached_property
    def overall(self) -> array[float]:
        """Every route's totals added up (computed once: a chart reads it for each point)."""
        return _sum_rows(self.routes.values(), self.bounds)

    def grew_from(self, before: MetricsSample) -> bool:
        """Whether every route of ``before`` is in this sample and none of its totals went
        down since: no counter was reset between the two.

        The answer for the latest ``before`` is remembered (by a weak reference): a chart
        asks it for each pair of consecutive samples on every refresh, and checking every
        total of every route each time cost 400 ms with 24 h of samples of 20 routes.

        .. versionadded:: 0.2
        """
        remembered = self.__dict__.get("_grew_from")
        if remembered is not None and remembered[0]() is before:
            grew: bool = remembered[1]
            return grew
        grew = _no_reset(before, self)
        # A frozen dataclass: written to the instance's dict, as cached_property does.
        self.__dict__["_grew_from"] = (weakref.ref(before), grew)
        return grew


class SampleStore(Protocol):
    """Where samples are kept between snapshots.

    The in-process :class:`SampleRingBuffer` is the default; a store shared by the workers
    of a machine (the error store's SQLite or Redis backends) can implement these two
    methods so that every worker shows the same history.

    .. versionadded:: 0.1
    """

    def append(self, sample: MetricsSample) -> None:
        """Keep ``sample``; samples arrive in time order."""

    def window(self, start: float) -> list[MetricsSample]:
        """The newest sample taken at or before ``start``, if any, then every later one,
        oldest first."""


class SampleRingBuffer:
    """The newest ``capacity`` samples, in memory, safe to use from several threads.

    ::

        buffer = SampleRingBuffer(361)

    :param capacity: how many samples are kept; older ones are dropped.

    .. versionadded:: 0.1
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 2:
            raise ValueError("a sample ring buffer needs a capacity of at least 2")
        self.capacity = capacity
        self._samples: deque[MetricsSample] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def append(self, sample: MetricsSample) -> None:
        """Keep ``sample``, dropping the oldest one when full.

        Samples arrive in time order; one that comes late (taken by another thread a moment
        before the last one kept) is put in its place, so that a window never reads more
        than its own samples.
        """
        with self._lock:
            samples = self._samples
            if not samples or samples[-1].time <= sample.time:
                samples.append(sample)
                return
            if len(samples) == samples.maxlen and sample.time < samples[0].time:
                return  # older than everything kept, and no room: it would be dropped first
            index = len(samples)
            while index > 0 and samples[index - 1].time > sample.time:
                index -= 1
            if len(samples) == samples.maxlen:
                samples.popleft()
                index -= 1
            samples.insert(index, sample)

    def window(self, start: float) -> list[MetricsSample]:
        """See :meth:`SampleStore.window`."""
        with self._lock:
            samples = list(self._samples)
        first = 0
        for index, sample in enumerate(samples):
            if sample.time <= start:
                first = index
            else:
                break
        return samples[first:]

    def __len__(self) -> int:
        return len(self._samples)


@dataclass(frozen=True)
class RouteStats:
    """Traffic of one route template (or of all, :data:`ALL_ROUTES`) over a window.

    :param route: the route template, e.g. ``/orders/<int:order_id>``, ``<unmatched>``, or
        :data:`ALL_ROUTES`.
    :param requests: requests answered in the window.
    :param errors: of those, the ones answered with a status of 500 or more.
    :param request_rate: requests per second.
    :param error_rate: errors per second.
    :param error_ratio: ``errors / requests``, 0 without requests.
    :param p50: median latency in seconds, estimated from the histogram; ``None`` without
        requests.
    :param p95: 95th percentile latency in seconds.
    :param p99: 99th percentile latency in seconds.

    .. versionadded:: 0.1
    """

    route: str
    requests: int
    errors: int
    request_rate: float
    error_rate: float
    error_ratio: float
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class SeriesPoint:
    """The traffic between two consecutive samples, for charts.

    :param time: the end of the interval, in seconds since the epoch.
    :param seconds: the length of the interval.
    :param request_rate: requests per second.
    :param error_rate: errors per second.
    :param p95: 95th percentile latency in seconds, ``None`` without requests.

    .. versionadded:: 0.1
    """

    time: float
    seconds: float
    request_rate: float
    error_rate: float
    p95: float | None


@dataclass(frozen=True)
class MetricsSnapshot:
    """Request rate, error rate and latency quantiles over the last minutes.

    See the module documentation of :mod:`flask_prodready.snapshots` for how each number is
    computed.

    :param minutes: the window that was asked for.
    :param start: the time of the baseline sample, in seconds since the epoch.
    :param end: when the snapshot was taken.
    :param seconds: ``end - start``: the time the numbers cover.
    :param overall: every route together (``route`` is :data:`ALL_ROUTES`).
    :param routes: each route template with traffic in the window, busiest first.
    :param series: the traffic between consecutive samples, oldest first.
    :param multiprocess: whether the numbers are aggregated over several worker processes.

    .. versionadded:: 0.1
    """

    minutes: float
    start: float
    end: float
    seconds: float
    overall: RouteStats
    routes: tuple[RouteStats, ...]
    series: tuple[SeriesPoint, ...]
    multiprocess: bool


class SnapshotSource(Protocol):
    """What :func:`metrics_snapshot` needs of the metrics part."""

    def snapshot(self, minutes: float = 5.0) -> MetricsSnapshot:
        """The snapshot of the last ``minutes``."""


def metrics_snapshot(minutes: float = 5.0, *, app: Flask | None = None) -> MetricsSnapshot:
    """Request rate, error rate and p50/p95/p99 latency over the last ``minutes``.

    ::

        snapshot = metrics_snapshot(15)
        print(snapshot.overall.request_rate, snapshot.overall.p95)
        for route in snapshot.routes:
            print(route.route, route.requests, route.error_ratio)

    The numbers cover every worker in multiprocess mode; see :class:`MetricsSnapshot`.

    :param minutes: the window, more than 0; it is limited by the history kept
        (``PRODREADY_METRICS_HISTORY_MINUTES``).
    :param app: the app; defaults to :data:`flask.current_app`.
    :raises ValueError: if ``minutes`` is not more than 0.
    :raises NotInitialisedError: if flask-prodready was not set up on the app.
    :raises SetupError: if the metrics part is switched off.

    .. versionadded:: 0.1
    """
    state = get_state(app)
    source: SnapshotSource | None = state.metrics
    if source is None:
        raise SetupError(
            "the metrics part is switched off for this app; set PRODREADY_METRICS_ENABLED = "
            "true to get metrics snapshots"
        )
    return source.snapshot(minutes)


def histogram_quantile(q: float, bounds: Sequence[float], counts: Sequence[float]) -> float | None:
    """Estimate the ``q`` quantile from cumulative bucket counts, like PromQL.

    ::

        >>> histogram_quantile(0.5, [0.25, 0.5, 1.0], [0, 10, 10, 10])
        0.375

    :param q: the quantile, from 0 to 1.
    :param bounds: the finite upper bounds of the buckets, increasing.
    :param counts: the cumulative count of each bucket of ``bounds``, then the total (the
        ``+Inf`` bucket).
    :return: the estimate in the unit of ``bounds``, or ``None`` when the total is 0.

    .. versionadded:: 0.1
    """
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=False):
        count = max(count, below)  # counts read while requests run may be out of step
        if count >= rank and count > below:
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return bounds[-1] if bounds else None


def build_snapshot(
    samples: Sequence[MetricsSample], now: MetricsSample, minutes: float, *, multiprocess: bool
) -> MetricsSnapshot:
    """Compute a snapshot from the kept ``samples`` and the totals read ``now``.

    :param samples: the result of :meth:`SampleStore.window` for the window's start.
    :param now: the totals at the end of the window.
    :param minutes: the window asked for.
    :param multiprocess: copied to the snapshot.

    .. versionadded:: 0.1
    """
    kept = [sample for sample in samples if sample.time < now.time]
    baseline = kept[0] if kept else now
    points = [*kept, now]
    series = tuple(_series_point(before, after) for before, after in pairwise(points))
    seconds = now.time - baseline.time
    deltas = _deltas(baseline, now)
    routes = sorted(
        (_stats(route, row, now.bounds, seconds) for route, row in deltas.items()),
        key=lambda stats: (-stats.requests, stats.route),
    )
    return MetricsSnapshot(
        minutes=minutes,
        start=baseline.time,
        end=now.time,
        seconds=seconds,
        overall=_stats(ALL_ROUTES, _sum_rows(deltas.values(), now.bounds), now.bounds, seconds),
        routes=tuple(stats for stats in routes if stats.requests > 0),
        series=series,
        multiprocess=multiprocess,
    )


def _deltas(before: MetricsSample, after: MetricsSample) -> dict[str, array[float]]:
    deltas = {}
    for route, row in after.routes.items():
        old = before.routes.get(route)
        if old is None or len(old) != len(row) or before.bounds != after.bounds:
            deltas[route] = array("d", row)
            continue
        delta = array("d", (new - previous for new, previous in zip(row, old, strict=True)))
        if any(value < 0 for value in delta):  # reset: count from zero, like PromQL's rate
            delta = array("d", row)
        deltas[route] = delta
    return deltas


def _sum_rows(rows: Iterable[array[float]], bounds: Sequence[float]) -> array[float]:
    total = MetricsSample.new_row(bounds)
    for row in rows:
        for index, value in enumerate(row):
            total[index] += value
    return total


def _stats(route: str, row: array[float], bounds: Sequence[float], seconds: float) -> RouteStats:
    requests, errors = row[_REQUESTS], row[_ERRORS]
    counts = [*row[_FIRST_BUCKET:], requests]
    return RouteStats(
        route=route,
        requests=round(requests),
        errors=round(errors),
        request_rate=requests / seconds if seconds > 0 else 0.0,
        error_rate=errors / seconds if seconds > 0 else 0.0,
        error_ratio=errors / requests if requests > 0 else 0.0,
        p50=_finite(histogram_quantile(0.50, bounds, counts)),
        p95=_finite(histogram_quantile(0.95, bounds, counts)),
        p99=_finite(histogram_quantile(0.99, bounds, counts)),
    )


def _series_point(before: MetricsSample, after: MetricsSample) -> SeriesPoint:
    seconds = after.time - before.time
    if after.grew_from(before):
        # The difference of the sums: one pass per sample, not one per pair and route.
        total = array(
            "d", (new - old for new, old in zip(after.overall, before.overall, strict=True))
        )
    else:
        total = _sum_rows(_deltas(before, after).values(), after.bounds)
    stats = _stats(ALL_ROUTES, total, after.bounds, seconds)
    return SeriesPoint(after.time, seconds, stats.request_rate, stats.error_rate, stats.p95)


def _no_reset(before: MetricsSample, after: MetricsSample) -> bool:
    """Whether every route of ``before`` is in ``after`` and none of its totals went down.

    Then the difference of the sums is the sum of the differences :func:`_deltas` gives.
    """
    if before.bounds != after.bounds:
        return False
    later = after.routes
    for route, row in before.routes.items():
        new = later.get(route)
        if new is None or len(new) != len(row) or not all(map(operator.ge, new, row)):
            return False
    return True


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
