"""Reading the request totals that samples keep, from this process or from every worker.

A :class:`~flask_prodready.snapshots.MetricsSample` holds, for each route template, the
running totals of requests, of 5xx answers and of each bucket of the request-duration
histogram. In one process they come from the histogram itself; in multiprocess mode from
the histogram files of every worker, added up (:mod:`flask_prodready.compat.prometheus`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Histogram

from flask_prodready.compat.prometheus import histogram_totals, read_histogram_files
from flask_prodready.snapshots import MetricsSample

from .names import REQUEST_DURATION, UNMATCHED

__all__ = ["read_totals"]


def read_totals(
    duration: Histogram, bounds: tuple[float, ...], multiprocess_dir: str | None, now: float
) -> MetricsSample:
    """The request totals by route template now.

    :param duration: the app's request-duration histogram (read in single-process mode).
    :param bounds: its finite bucket bounds.
    :param multiprocess_dir: the ``PROMETHEUS_MULTIPROC_DIR`` in use, or ``None``.
    :param now: the sample's time, in seconds since the epoch.
    """
    routes: dict[str, Any] = {}
    if multiprocess_dir is None:
        finite = len(bounds)
        for labels, buckets, count in histogram_totals(duration):
            route = labels.get("route", UNMATCHED)
            row = routes.get(route)
            if row is None:
                row = routes[route] = MetricsSample.new_row(bounds)
            row[0] += count
            if labels.get("status", "").startswith("5"):
                row[1] += count
            for at in range(min(finite, len(buckets))):
                row[2 + at] += buckets[at]
        return MetricsSample(now, bounds, routes)
    families: Iterable[Any] = read_histogram_files(multiprocess_dir)
    index = {bound: i for i, bound in enumerate(bounds)}
    for family in families:
        if family.name != REQUEST_DURATION:
            continue
        for sample in family.samples:
            labels = sample.labels
            route = labels.get("route", UNMATCHED)
            row = routes.get(route)
            if row is None:
                row = routes[route] = MetricsSample.new_row(bounds)
            if sample.name.endswith("_bucket"):
                position = index.get(float(labels["le"]))
                if position is not None:
                    row[2 + position] += sample.value
            elif sample.name.endswith("_count"):
                row[0] += sample.value
                if labels.get("status", "").startswith("5"):
                    row[1] += sample.value
    return MetricsSample(now, bounds, routes)
