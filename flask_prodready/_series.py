"""One request's update of its Prometheus series, at the price of one lock.

Per request the metrics part adds to a histogram's sum and one of its buckets and to a
counter. Through prometheus_client's API that is three ``inc`` calls, each taking a lock and
checking the metric; in multiprocess mode each also checks the process id (a system call)
and goes through two more calls to reach the memory-mapped file. Under gunicorn that was
half of what every part of flask-prodready costs a request together.

This module makes the same updates to the same value objects under one lock of its own:
the value kept in memory (``_value``), and in multiprocess mode the double at the value's
position in its memory-mapped file. It relies on prometheus_client internals that have not
changed since 0.4 (``MutexValue._value``; ``MmapedValue._value``, ``_file``, ``_key``;
``MmapedDict._m`` and ``_positions``), checks them when a series is first used, and falls
back to the public API if they are missing. Nothing else updates these series, so the
values stay consistent for prometheus_client's own readers.

After a fork (gunicorn's ``preload_app``), prometheus_client moves a worker's values to a
file of its own the first time one of them is used. :func:`forget_after_fork` makes the
callers rebuild their writers, and :func:`request_writer` first touches a value through
the public API so that the move has happened.
"""

from __future__ import annotations

import os
import struct
import threading
import weakref
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

__all__ = ["RequestWriter", "forget_after_fork", "request_writer", "value_adder"]

#: Adds one request of the given duration (seconds, not negative) to its series.
RequestWriter = Callable[[float], None]

_pack_double = struct.Struct("d").pack
_owners: weakref.WeakSet[Any] = weakref.WeakSet()


def request_writer(
    histogram: Any, counter: Any, multiprocess: bool, lock: threading.Lock
) -> RequestWriter:
    """A writer for one labelled histogram child and its counter child.

    Every writer of one set of metrics must share ``lock``: two writers may be made for one
    series by two threads at once.
    """
    try:
        values = [histogram._sum, *histogram._buckets, counter._value]
        bounds = list(histogram._upper_bounds)
        # prometheus_client's own choice, not ours: it writes files whenever the variable
        # is present, even empty.
        multiprocess = bool(getattr(values[0], "_multiprocess", multiprocess))
        if multiprocess:
            values[0].get()  # after a fork, prometheus_client moves the values to our file
            positions = [value._file._positions[value._key] for value in values]
            files = [value._file for value in values]
            return _mmap_writer(values, bounds, files, positions, lock)
        for value in values:
            float(value._value)
        return _mutex_writer(values, bounds, lock)
    except (AttributeError, KeyError, TypeError):  # other internals: the public API

        def observe(seconds: float) -> None:
            histogram.observe(seconds)
            counter.inc()

        return observe


def _mutex_writer(values: list[Any], bounds: list[float], lock: threading.Lock) -> RequestWriter:
    total, buckets, count = values[0], values[1:-1], values[-1]

    def write(seconds: float) -> None:
        bucket = buckets[bisect_left(bounds, seconds)]
        with lock:
            total._value += seconds
            bucket._value += 1.0
            count._value += 1.0

    return write


def _mmap_writer(
    values: list[Any],
    bounds: list[float],
    files: list[Any],
    positions: list[int],
    lock: threading.Lock,
) -> RequestWriter:
    total, count = values[0], values[-1]
    total_file, count_file = files[0], files[-1]
    total_at, count_at = positions[0], positions[-1]
    buckets = [(values[i], files[i], positions[i]) for i in range(1, len(values) - 1)]

    def write(seconds: float) -> None:
        bucket, bucket_file, bucket_at = buckets[bisect_left(bounds, seconds)]
        with lock:
            total._value += seconds
            # The file's mapping is replaced when it grows: look it up every time. One slice
            # assignment copies the 8 bytes at once; pack_into() would zero them first, and
            # a scrape in another worker could read that 0 (as prometheus_client found).
            total_file._m[total_at : total_at + 8] = _pack_double(total._value)
            bucket._value += 1.0
            bucket_file._m[bucket_at : bucket_at + 8] = _pack_double(bucket._value)
            count._value += 1.0
            count_file._m[count_at : count_at + 8] = _pack_double(count._value)

    return write


def value_adder(gauge: Any, multiprocess: bool, lock: threading.Lock) -> Callable[[float], None]:
    """``gauge.inc`` without its checks, for an unlabelled gauge (requests in flight)."""
    try:
        value = gauge._value
        multiprocess = bool(getattr(value, "_multiprocess", multiprocess))
        if not multiprocess:
            return value.inc  # type: ignore[no-any-return]
        value.get()
        file, at = value._file, value._file._positions[value._key]
    except (AttributeError, KeyError):
        return gauge.inc  # type: ignore[no-any-return]

    def add(amount: float) -> None:
        with lock:
            value._value += amount
            file._m[at : at + 8] = _pack_double(value._value)

    return add


def forget_after_fork(owner: Any) -> None:
    """Call ``owner.forget_writers()`` in a forked child, before it serves a request."""
    _owners.add(owner)


def _after_fork_in_child() -> None:
    for owner in list(_owners):
        owner.forget_writers()


os.register_at_fork(after_in_child=_after_fork_in_child)
