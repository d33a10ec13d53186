"""prometheus_client: which value class it chose, and reading the histograms of every worker.

Checked against prometheus-client 0.18.0 (the floor in ``pyproject.toml``) to 0.26.0 (the
version in ``requirements.lock``). prometheus-flask-exporter (0.23.2 locked) is used through
its public API only, so it has nothing here.

Each function tries an internal first and falls back to the public API, with the same
answer, when that internal is missing; ``tests/test_compat_prometheus.py`` runs both paths.

- :func:`uses_multiprocess_values` and :func:`imported_with_values_in_memory` read the
  ``_multiprocess`` flag of ``prometheus_client.values.ValueClass``, the value class that
  prometheus_client picks once, when it is first imported, from ``PROMETHEUS_MULTIPROC_DIR``.
  Without the flag they compare ``ValueClass`` with ``MutexValue``, the in-memory class.
- :func:`read_histogram_files` reads only the ``histogram_<pid>.db`` files of the workers,
  through ``MultiProcessCollector.merge``. Without ``merge``, or when the directory's files
  have names it does not know, it reads every file through ``MultiProcessCollector(None,
  path=...).collect()``.

This module imports prometheus_client only inside its functions: the gunicorn hooks import
it in the master, which must not import prometheus_client before the variable is set.

.. versionadded:: 0.2
"""

from __future__ import annotations

import glob
import os
import re
import sys
from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = [
    "histogram_totals",
    "imported_with_values_in_memory",
    "read_histogram_files",
    "uses_multiprocess_values",
]

#: The files prometheus_client writes a histogram's values to, one per process.
HISTOGRAM_FILES = "histogram_*.db"
#: The names of all its files: ``<type>_<pid>.db``, a gauge's type with its mode.
METRIC_FILE = re.compile(r"^(?:counter|histogram|summary|gauge_[a-z]+)_\d+\.db$")


def uses_multiprocess_values() -> bool:
    """Whether prometheus_client keeps metric values in files (multiprocess mode).

    prometheus_client chooses when it is first imported, from ``PROMETHEUS_MULTIPROC_DIR``;
    setting the variable later changes nothing. Imports prometheus_client.

    Fast path: ``ValueClass._multiprocess``. Fallback: ``ValueClass`` is not ``MutexValue``.

    .. versionadded:: 0.2
    """
    from prometheus_client import values

    return _values_in_files(values)


def imported_with_values_in_memory() -> bool:
    """Whether prometheus_client was imported in this process, in single-process mode.

    Never imports prometheus_client: the gunicorn master asks before it sets
    ``PROMETHEUS_MULTIPROC_DIR``.

    .. versionadded:: 0.2
    """
    values = sys.modules.get("prometheus_client.values")
    return values is not None and not _values_in_files(values)


def _values_in_files(values: ModuleType) -> bool:
    kind = getattr(values, "ValueClass", None)
    flag = getattr(kind, "_multiprocess", None)
    if isinstance(flag, bool):
        return flag
    # Without the flag: MutexValue is the in-memory class in every version checked.
    memory = getattr(values, "MutexValue", None)
    return kind is not None and memory is not None and kind is not memory


def read_histogram_files(directory: str) -> Iterable[Metric]:
    """The histograms in the multiprocess ``directory``, added up over every process.

    The result is what ``MultiProcessCollector`` gives for the histograms, with buckets
    accumulated as in the exposition; the other metric types may be left out.

    Fast path: ``MultiProcessCollector.merge`` of the ``histogram_*.db`` files only, which
    saves reading the counters and gauges. Fallback, when ``merge`` is missing or no file has
    a name of :data:`METRIC_FILE`: ``MultiProcessCollector(None, path=directory).collect()``,
    every file.

    :param directory: the ``PROMETHEUS_MULTIPROC_DIR`` of the workers.

    .. versionadded:: 0.2
    """
    from prometheus_client.multiprocess import MultiProcessCollector

    merge = getattr(MultiProcessCollector, "merge", None)
    if callable(merge):
        files = glob.glob(os.path.join(directory, HISTOGRAM_FILES))
        if files or not _named_otherwise(directory):
            merged: Iterable[Metric] = merge(files, accumulate=True)
            return merged
    if not os.path.isdir(directory):
        return []
    collector = MultiProcessCollector(None, path=directory)  # type: ignore[no-untyped-call]
    families: Iterable[Metric] = collector.collect()  # type: ignore[no-untyped-call]
    return families


def _named_otherwise(directory: str) -> bool:
    """Whether ``directory`` holds metric files, none of them named as :data:`METRIC_FILE`
    says: a prometheus_client that names its files otherwise (no histogram yet is normal)."""
    names = [os.path.basename(path) for path in glob.glob(os.path.join(directory, "*.db"))]
    return bool(names) and not any(METRIC_FILE.match(name) for name in names)


def histogram_totals(histogram: Any) -> Iterable[tuple[dict[str, str], list[float], float]]:
    """Each labelled child of an in-memory ``histogram``: labels, cumulative bucket counts
    (one per bound, ``+Inf`` last) and count.

    Reads ``_metrics``, ``_labelnames`` and each child's ``_buckets`` (unchanged since 0.4),
    which costs a fifth of ``collect()``: that formats every sample and its labels. Without
    them it reads ``collect()``, with the same answer.
    """
    try:
        children = list(histogram._metrics.items())
        names = tuple(histogram._labelnames)
        rows = []
        for values, child in children:
            running = 0.0
            cumulative = []
            for bucket in child._buckets:
                running += bucket.get()
                cumulative.append(running)
            rows.append((dict(zip(names, values, strict=True)), cumulative, running))
        return rows
    except AttributeError:
        return _histogram_totals_collected(histogram)


def _histogram_totals_collected(
    histogram: Any,
) -> list[tuple[dict[str, str], list[float], float]]:
    rows: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[float], list[float]]] = {}
    for family in histogram.collect():
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if k != "le"}
            key = tuple(sorted(labels.items()))
            row = rows.setdefault(key, (labels, [], [0.0]))
            if sample.name.endswith("_bucket"):
                row[1].append(sample.value)
            elif sample.name.endswith("_count"):
                row[2][0] = sample.value
    return [(labels, buckets, count[0]) for labels, buckets, count in rows.values()]
