"""flask_prodready.compat.prometheus: each fast path, and its fallback, give the same answer.

The fast paths read prometheus_client internals; each test of a fallback takes the internal
away (``monkeypatch``) and compares with the fast path or with prometheus_client's public
API. ``test_the_fast_paths_are_in_use`` fails on an upgrade that drops an internal, so that
the fallback is chosen knowingly.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, values
from prometheus_client.multiprocess import MultiProcessCollector

from flask_prodready.compat import prometheus as compat

# Writes a histogram (two routes) and a counter to the multiprocess directory, as one worker.
_WORKER = """
import sys
from prometheus_client import Counter, Histogram

duration = Histogram(
    "flask_http_request_duration_seconds", "d", ["route", "status"], registry=None,
    buckets=(0.1, 0.5, 1.0),
)
requests = Counter("flask_http_request_total", "r", ["route", "status"], registry=None)
for route, status, seconds in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):
    duration.labels(route, status).observe(float(seconds))
    requests.labels(route, status).inc()
"""

# Prints what the value-class functions say in a process in multiprocess mode, with the
# flag and without it.
_FLAGS = """
import json
from prometheus_client import values
from flask_prodready.compat import prometheus as compat

seen = [compat.uses_multiprocess_values(), compat.imported_with_values_in_memory()]
assert values.ValueClass._multiprocess is True
del values.ValueClass._multiprocess
seen += [compat.uses_multiprocess_values(), compat.imported_with_values_in_memory()]
print(json.dumps(seen))
"""


#: Sample values by sample name and sorted labels.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def run_python(script: str, *args: str, multiproc: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k.upper() != "PROMETHEUS_MULTIPROC_DIR"}
    if multiproc is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc)
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def multiproc(tmp_path: Path) -> Path:
    """A multiprocess directory that two workers wrote to."""
    directory = tmp_path / "multiproc"
    directory.mkdir()
    run_python(
        _WORKER, "/a", "200", "0.05", "/a", "500", "0.7", "/b", "200", "2", multiproc=directory
    )
    run_python(_WORKER, "/a", "200", "0.3", "/a", "200", "0.05", multiproc=directory)
    return directory


def histogram_values(families: Iterable[Any]) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        if family.type == "histogram"
        for sample in family.samples
    }


def public_histograms(directory: Path) -> Samples:
    """What a scrape through prometheus_client's public API shows of the histograms."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return histogram_values(registry.collect())


# -- which value class prometheus_client chose -----------------------------------------------


def test_the_fast_paths_are_in_use(multiproc: Path) -> None:
    """The locked prometheus_client has every internal the fast paths read."""
    assert values.ValueClass._multiprocess is False
    assert values.MutexValue._multiprocess is False
    assert callable(MultiProcessCollector.merge)
    assert len(glob.glob(str(multiproc / compat.HISTOGRAM_FILES))) == 2, "one file per worker"
    names = sorted(path.name for path in multiproc.iterdir())
    assert len(names) == 4
    assert all(compat.METRIC_FILE.match(name) for name in names), names


def test_values_in_memory_are_seen() -> None:
    assert compat.uses_multiprocess_values() is False
    assert compat.imported_with_values_in_memory() is True


def test_without_the_flag_the_value_class_tells(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(values.MutexValue, "_multiprocess")
    assert compat.uses_multiprocess_values() is False
    assert compat.imported_with_values_in_memory() is True


@pytest.mark.parametrize("flag", [True, False], ids=["fast", "fallback"])
def test_a_variable_set_after_the_import_changes_nothing(
    flag: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not flag:
        monkeypatch.delattr(values.MutexValue, "_multiprocess")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert compat.uses_multiprocess_values() is False, "prometheus_client chose at its import"
    assert compat.imported_with_values_in_memory() is True


def test_files_are_seen_with_and_without_the_flag(tmp_path: Path) -> None:
    out = run_python(_FLAGS, multiproc=tmp_path)
    assert json.loads(out.strip().splitlines()[-1]) == [True, False, True, False]


def test_asking_whether_it_was_imported_does_not_import_it() -> None:
    script = """
import sys
from flask_prodready.compat import prometheus as compat
assert compat.imported_with_values_in_memory() is False
assert "prometheus_client" not in sys.modules, sorted(sys.modules)
"""
    run_python(script)


# -- the histograms of every worker ----------------------------------------------------------


def test_the_fast_path_reads_what_a_scrape_shows(multiproc: Path) -> None:
    read = histogram_values(compat.read_histogram_files(str(multiproc)))
    assert read == public_histograms(multiproc)
    key = ("flask_http_request_duration_seconds_count", (("route", "/a"), ("status", "200")))
    assert read[key] == 3.0, "added up over both workers"
    assert {family.type for family in compat.read_histogram_files(str(multiproc))} == {
        "histogram"
    }, "only the histogram files were read"


@pytest.fixture
def without_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    """A prometheus_client without ``MultiProcessCollector.merge``, whose ``collect`` works."""
    merge = MultiProcessCollector.merge

    def collect(self: MultiProcessCollector) -> Iterable[Any]:
        files = glob.glob(os.path.join(self._path, "*.db"))
        return merge(files, accumulate=True)  # type: ignore[no-any-return,no-untyped-call]

    monkeypatch.setattr(MultiProcessCollector, "collect", collect)
    monkeypatch.delattr(MultiProcessCollector, "merge")


def test_without_merge_every_file_is_read_through_the_collector(
    multiproc: Path, request: pytest.FixtureRequest
) -> None:
    expected = histogram_values(compat.read_histogram_files(str(multiproc)))
    request.getfixturevalue("without_merge")
    families = list(compat.read_histogram_files(str(multiproc)))
    assert histogram_values(families) == expected
    assert "counter" in {family.type for family in families}, "every file was read"


def test_files_named_otherwise_are_read_through_the_collector(
    multiproc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = histogram_values(compat.read_histogram_files(str(multiproc)))
    monkeypatch.setattr(compat, "HISTOGRAM_FILES", "hist-*.sqlite")
    monkeypatch.setattr(compat, "METRIC_FILE", re.compile(r"^[a-z]+-\d+\.sqlite$"))
    families = list(compat.read_histogram_files(str(multiproc)))
    assert histogram_values(families) == expected == public_histograms(multiproc)
    assert "counter" in {family.type for family in families}, "every file was read"


@pytest.mark.parametrize("merge", [True, False], ids=["fast", "fallback"])
def test_no_histograms_yet_is_nothing(
    merge: bool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if not merge:
        request.getfixturevalue("without_merge")
    assert list(compat.read_histogram_files(str(tmp_path))) == [], "an empty directory"
    assert list(compat.read_histogram_files(str(tmp_path / "gone"))) == [], "no directory"


def test_counters_without_histograms_take_the_fast_path(multiproc: Path, tmp_path: Path) -> None:
    """Before the first request there is no histogram file yet: nothing to read, nothing read."""
    only_counters = tmp_path / "counters"
    only_counters.mkdir()
    for path in multiproc.glob("counter_*.db"):
        shutil.copy(path, only_counters / path.name)
    assert list(compat.read_histogram_files(str(only_counters))) == []


def _observed_histogram() -> Any:
    from prometheus_client import CollectorRegistry, Histogram

    histogram = Histogram(
        "compat_seconds",
        "d",
        ["route", "status"],
        buckets=(0.1, 1.0),
        registry=CollectorRegistry(),
    )
    for seconds, route, status in [(0.05, "/a", "200"), (0.5, "/a", "500"), (5, "/b", "200")]:
        histogram.labels(route, status).observe(seconds)
    return histogram


def test_histogram_totals_are_cumulative_per_child() -> None:
    rows = sorted(
        compat.histogram_totals(_observed_histogram()), key=lambda r: sorted(r[0].items())
    )
    assert rows == [
        ({"route": "/a", "status": "200"}, [1.0, 1.0, 1.0], 1.0),
        ({"route": "/a", "status": "500"}, [0.0, 1.0, 1.0], 1.0),
        ({"route": "/b", "status": "200"}, [0.0, 0.0, 1.0], 1.0),
    ]


def test_without_the_children_histogram_totals_read_collect() -> None:
    histogram = _observed_histogram()
    fast = sorted(compat.histogram_totals(histogram), key=lambda r: sorted(r[0].items()))
    slow = compat._histogram_totals_collected(histogram)
    assert sorted(slow, key=lambda r: sorted(r[0].items())) == fast
