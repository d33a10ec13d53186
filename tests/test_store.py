"""One contract for every error store: memory, SQLite and a real Redis server.

Covers ``flask_prodready.store._types``, ``flask_prodready.store.factory``,
``flask_prodready.store.lazy``, ``flask_prodready.store.memory``,
``flask_prodready.store.settings``.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flask_prodready.store import (
    ErrorOccurrence,
    ErrorStore,
    LogLine,
    MemoryErrorStore,
    SQLiteErrorStore,
    StoreError,
    StoreLimits,
)

from .support.redis import RedisServer

NOW = time.time()
LIMITS = StoreLimits(max_groups=5, max_occurrences=3, retention_seconds=3600)


def occurrence(fp: str = "fp-a", at: float = NOW, **changes: object) -> ErrorOccurrence:
    fields: dict[str, object] = {
        "fingerprint": fp,
        "timestamp": at,
        "exception_type": "builtins.RuntimeError",
        "message": "boom",
        "stack": "Traceback ...",
        "status": 500,
        "method": "GET",
        "route": "/orders/<int:id>",
        "path": "/orders/7",
        "request_id": f"rid-{at}",
        "headers": {"Accept": "*/*"},
        "query": {"page": "2"},
        "breadcrumbs": ['{"message": "before"}'],
    }
    fields.update(changes)
    return ErrorOccurrence(**fields)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite", "redis"])
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[StoreLimits], ErrorStore]]:
    opened: list[ErrorStore] = []

    def make(limits: StoreLimits = LIMITS) -> ErrorStore:
        store: ErrorStore
        if request.param == "memory":
            store = MemoryErrorStore(limits)
        elif request.param == "sqlite":
            store = SQLiteErrorStore(tmp_path / f"errors-{len(opened)}.sqlite3", limits)
        else:
            from flask_prodready.store.redis import RedisErrorStore

            server: RedisServer = request.getfixturevalue("redis_server")
            store = RedisErrorStore(server.url, limits, prefix=f"t{len(opened)}:")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def test_occurrences_of_one_fingerprint_make_one_group(
    make_store: Callable[..., ErrorStore],
) -> None:
    store = make_store()
    for n in range(7):
        group = store.record(occurrence(at=NOW + n, message=f"boom {n}"))
    assert group.count == 7
    (stored,) = store.groups()
    assert stored == group
    assert (stored.first_seen, stored.last_seen) == (NOW, NOW + 6)
    assert stored.last_request_id == f"rid-{NOW + 6}"
    assert stored.message == "boom 6"
    kept = store.occurrences("fp-a")
    assert [o.message for o in kept] == ["boom 6", "boom 5", "boom 4"], "newest first, capped"
    assert kept[0] == occurrence(at=NOW + 6, message="boom 6")


def test_groups_are_filtered_paged_and_newest_first(make_store: Callable[..., ErrorStore]) -> None:
    store = make_store()
    store.record(occurrence("a", NOW + 1, route="/a", status=500))
    store.record(occurrence("b", NOW + 2, route="/b", status=404))
    store.record(occurrence("c", NOW + 3, route="/a", status=503))
    assert [g.fingerprint for g in store.groups()] == ["c", "b", "a"]
    assert [g.fingerprint for g in store.groups(route="/a")] == ["c", "a"]
    assert [g.fingerprint for g in store.groups(status=404)] == ["b"]
    assert [g.fingerprint for g in store.groups(limit=1, offset=1)] == ["b"]
    assert store.group("b") is not None
    assert store.group("nope") is None
    assert store.occurrences("nope") == []


def test_resolved_groups_reopen_when_they_happen_again(
    make_store: Callable[..., ErrorStore],
) -> None:
    store = make_store()
    store.record(occurrence())
    assert store.set_resolved("fp-a", True)
    assert store.groups(resolved=True)[0].resolved
    assert store.groups(resolved=False) == []
    assert not store.set_resolved("nope", True)
    group = store.record(occurrence(at=NOW + 1))
    assert not group.resolved
    assert store.groups(resolved=False)[0].count == 2


def test_a_group_knows_the_release_it_was_first_and_last_seen_in(
    make_store: Callable[..., ErrorStore],
) -> None:
    store = make_store()
    first = store.record(occurrence(release="1.0"))
    assert (first.first_release, first.last_release, first.regressed) == ("1.0", "1.0", False)
    store.record(occurrence(at=NOW + 1, release="1.1"))
    # An occurrence that knew no release keeps the last known one.
    group = store.record(occurrence(at=NOW + 2))
    assert (group.first_release, group.last_release) == ("1.0", "1.1")
    assert store.group("fp-a") == group
    assert store.occurrences("fp-a")[1].release == "1.1"


def test_a_resolved_group_seen_in_another_release_is_regressed_until_resolved_again(
    make_store: Callable[..., ErrorStore],
) -> None:
    store = make_store()
    store.record(occurrence(release="1.0"))
    store.set_resolved("fp-a", True)
    again = store.record(occurrence(at=NOW + 1, release="1.0"))
    assert not again.resolved
    assert not again.regressed, "the same release: reopened, not regressed"
    store.set_resolved("fp-a", True)
    regressed = store.record(occurrence(at=NOW + 2, release="1.1"))
    assert regressed.regressed
    assert not regressed.resolved
    assert regressed.last_release == "1.1"
    # Still regressed while open, whichever release it happens in next.
    assert store.record(occurrence(at=NOW + 3, release="1.1")).regressed
    assert [g.fingerprint for g in store.groups(resolved=False)] == ["fp-a"]
    store.set_resolved("fp-a", True)
    resolved = store.group("fp-a")
    assert resolved is not None
    assert not resolved.regressed
    # An open group seen in a new release is not a regression: it was never fixed.
    store.set_resolved("fp-a", False)
    assert not store.record(occurrence(at=NOW + 4, release="1.2")).regressed


def test_an_occurrence_without_a_release_never_regresses_a_group(
    make_store: Callable[..., ErrorStore],
) -> None:
    store = make_store()
    store.record(occurrence())
    store.set_resolved("fp-a", True)
    assert not store.record(occurrence(at=NOW + 1, release="2.0")).regressed
    store.set_resolved("fp-a", True)
    assert not store.record(occurrence(at=NOW + 2)).regressed


def test_group_cap_drops_the_least_recently_seen(make_store: Callable[..., ErrorStore]) -> None:
    store = make_store()
    for n in range(8):
        store.record(occurrence(f"fp-{n}", NOW + n))
    kept = [g.fingerprint for g in store.groups(limit=100)]
    assert kept == ["fp-7", "fp-6", "fp-5", "fp-4", "fp-3"]
    assert store.occurrences("fp-0") == []


def test_retention_drops_old_groups(make_store: Callable[..., ErrorStore]) -> None:
    store = make_store()
    store.record(occurrence("old", NOW - 7200))
    store.record(occurrence("new", NOW))
    store.prune(NOW)
    assert [g.fingerprint for g in store.groups()] == ["new"]


def test_counts_per_minute(make_store: Callable[..., ErrorStore]) -> None:
    store = make_store()
    minute = int(NOW // 60) * 60
    for at in (minute + 1, minute + 2, minute + 61):
        store.record(occurrence("a", at))
    store.record(occurrence("b", minute + 3))
    assert store.counts_per_minute(minute, minute + 120) == [(minute, 3), (minute + 60, 1)]
    assert store.counts_per_minute(minute, minute + 120, "a") == [(minute, 2), (minute + 60, 1)]
    assert store.counts_per_minute(minute + 60, minute + 120) == [(minute + 60, 1)]


def test_memory_store_stays_flat_after_100_000_errors() -> None:
    store = MemoryErrorStore(StoreLimits(max_groups=100, max_occurrences=5))

    def record(start: int, count: int) -> None:
        for n in range(start, start + count):
            store.record(occurrence(f"fp-{n % 1000}", NOW, message=f"boom {n}"))

    record(0, 20_000)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    record(20_000, 80_000)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(store.groups(limit=1000)) == 100
    assert all(len(store.occurrences(g.fingerprint)) <= 5 for g in store.groups(limit=1000))
    # Unbounded, 80 000 more occurrences would hold tens of MB; other tests' background
    # threads allocate a little meanwhile, so the bound is generous.
    assert after - before < 4 * 1024 * 1024, f"memory grew by {after - before} bytes"


def test_sqlite_file_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "errors.sqlite3"
    store = SQLiteErrorStore(path, StoreLimits(max_groups=20, max_occurrences=3))
    for n in range(1500):
        store.record(occurrence(f"fp-{n % 200}", NOW, stack="x" * 2000))
    size = path.stat().st_size
    for n in range(1500, 4500):
        store.record(occurrence(f"fp-{n % 200}", NOW, stack="x" * 2000))
    assert len(store.groups(limit=100)) == 20
    assert path.stat().st_size <= size * 1.5 + 64 * 1024
    store.close()


def test_opening_the_sqlite_store_waits_out_a_busy_file(tmp_path: Path) -> None:
    """Workers starting at once must all open the shared file, not fall back to memory."""
    import sqlite3
    import threading

    from flask_prodready.store.sqlite import BUSY_TIMEOUT_MS

    path = tmp_path / "errors.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("BEGIN IMMEDIATE")  # another worker in the middle of a write
    held = BUSY_TIMEOUT_MS / 1000 + 0.5  # longer than SQLite's own wait
    release = threading.Timer(held, lambda: writer.execute("COMMIT"))
    release.start()
    started = time.monotonic()
    try:
        store = SQLiteErrorStore(path, LIMITS)
    finally:
        release.join()
        writer.close()
    assert time.monotonic() - started >= held - 0.1, "it waited for the writer"
    store.record(occurrence())
    assert len(store.groups()) == 1
    store.close()


def test_redis_store_fails_fast_when_the_server_is_gone(redis_server: RedisServer) -> None:
    from flask_prodready.store.redis import RedisErrorStore

    store = RedisErrorStore(redis_server.url, LIMITS)
    store.record(occurrence())
    redis_server.stop()
    started = time.monotonic()
    with pytest.raises(StoreError):
        store.record(occurrence(at=NOW + 1))
    assert time.monotonic() - started < 5
    store.close()


def test_a_lease_has_one_holder_until_it_expires(make_store: Callable[..., ErrorStore]) -> None:
    store = make_store()
    assert store.acquire_lease("alerts", "worker-1", 0.5, NOW)
    assert store.acquire_lease("alerts", "worker-1", 0.5, NOW + 0.1), "the holder renews"
    assert not store.acquire_lease("alerts", "worker-2", 0.5, NOW + 0.2)
    assert store.lease_holder("alerts", NOW + 0.2) == "worker-1"
    time.sleep(0.7)  # Redis expires leases by its own clock
    assert store.acquire_lease("alerts", "worker-2", 0.5, NOW + 0.8), "taken over once expired"
    assert store.lease_holder("alerts", NOW + 0.9) == "worker-2"
    assert store.acquire_lease("other", "worker-1", 0.5, NOW + 0.9), "leases are by name"


def line(n: int, request_id: str | None = None, level: str = "WARNING") -> LogLine:
    return LogLine(NOW + n, level, request_id, f'{{"message": "line {n}"}}')


def test_log_lines_are_bounded_newest_first_and_searchable(
    make_store: Callable[..., ErrorStore],
) -> None:
    store = make_store(StoreLimits(max_log_lines=4))
    store.add_log_lines([])
    store.add_log_lines([line(0, "r-a"), line(1, "r-b")])
    store.add_log_lines([line(2, "r-a"), line(3), line(4, "r-a", "ERROR")])
    assert [x.text for x in store.log_lines()] == [
        '{"message": "line 4"}',
        '{"message": "line 3"}',
        '{"message": "line 2"}',
        '{"message": "line 1"}',
    ], "the oldest line was dropped"
    assert store.log_lines(limit=1) == [line(4, "r-a", "ERROR")]
    assert [x.timestamp for x in store.log_lines(request_id="r-a")] == [NOW + 4, NOW + 2]
    assert store.log_lines(request_id="nope") == []


def test_shared_values_are_set_read_deleted_and_capped(
    make_store: Callable[..., ErrorStore],
) -> None:
    store = make_store(StoreLimits(max_values=2))
    store.set_value("log_level:", "DEBUG")
    store.set_value("log_level:sqlalchemy", "WARNING")
    store.set_value("log_level:", "INFO")
    assert store.values() == {"log_level:": "INFO", "log_level:sqlalchemy": "WARNING"}
    assert store.values("log_level:s") == {"log_level:sqlalchemy": "WARNING"}
    with pytest.raises(StoreError):
        store.set_value("instance:1", "{}")
    store.set_value("log_level:sqlalchemy", None)
    store.set_value("missing", None)
    store.set_value("instance:1", "{}")
    assert store.values("instance:") == {"instance:1": "{}"}


def test_shared_values_are_seen_by_a_second_store_on_the_same_data(
    make_store: Callable[..., ErrorStore], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """What one worker writes, another worker's store object reads (not for memory)."""
    store = make_store()
    if isinstance(store, MemoryErrorStore):
        pytest.skip("the memory store is per process by design")
    if isinstance(store, SQLiteErrorStore):
        other: ErrorStore = SQLiteErrorStore(store.path, LIMITS)
    else:
        from flask_prodready.store.redis import RedisErrorStore

        assert isinstance(store, RedisErrorStore)
        server: RedisServer = request.getfixturevalue("redis_server")
        other = RedisErrorStore(server.url, LIMITS, prefix=store.prefix)
    store.set_value("log_level:", "DEBUG")
    store.add_log_lines([line(1, "r-1")])
    assert other.values() == {"log_level:": "DEBUG"}
    assert other.log_lines(request_id="r-1") == [line(1, "r-1")]
    other.close()


def test_closing_from_another_thread_waits_for_a_connection_being_set_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At exit the app's finalizer closes the store while the log shipper's thread may be
    opening its connection: closing it under that thread's statements crashed the process
    (a segmentation fault one exit in eight). The close now waits for the set-up."""
    import threading

    from flask_prodready.store import sqlite as sqlite_store

    store = SQLiteErrorStore(tmp_path / "errors.sqlite3", StoreLimits())
    setting_up, closed = threading.Event(), threading.Event()
    original = sqlite_store._while_busy

    def slow_set_up(action: Callable[[], object], seconds: float) -> object:
        if threading.current_thread().name == "shipper":
            setting_up.set()
            closed.wait(5)
        return original(action, seconds)

    monkeypatch.setattr(sqlite_store, "_while_busy", slow_set_up)
    outcome: list[object] = []

    def ship() -> None:
        for _ in range(2):  # the second call, after the close, opens a connection anew
            try:
                outcome.append(store.groups())
            except StoreError as exc:
                outcome.append(exc)

    shipper = threading.Thread(target=ship, name="shipper")
    shipper.start()
    assert setting_up.wait(5)
    store.close()  # the finalizer, in another thread
    closed.set()
    shipper.join(10)
    assert outcome == [[], []], "the connection was closed under its set-up, or not reopened"


def test_a_sqlite_file_of_an_older_version_gains_the_release_columns_and_keeps_its_groups(
    tmp_path: Path,
) -> None:
    import sqlite3

    path = tmp_path / "errors.sqlite3"
    with sqlite3.connect(path) as db:  # error_groups as flask-prodready 0.1 created it
        db.execute(
            "CREATE TABLE error_groups (fingerprint TEXT PRIMARY KEY, exception_type TEXT NOT "
            "NULL, message TEXT NOT NULL, route TEXT NOT NULL, method TEXT NOT NULL, status "
            "INTEGER NOT NULL, count INTEGER NOT NULL, first_seen REAL NOT NULL, last_seen REAL "
            "NOT NULL, last_request_id TEXT, resolved INTEGER NOT NULL DEFAULT 0)"
        )
        db.execute(
            "INSERT INTO error_groups VALUES ('fp-a', 'builtins.RuntimeError', 'boom', '/a', "
            "'GET', 500, 7, ?, ?, 'rid-old', 1)",
            (NOW - 60, NOW - 60),
        )
    db.close()
    store = SQLiteErrorStore(path, LIMITS)
    try:
        old = store.group("fp-a")
        assert old is not None
        assert (old.count, old.resolved, old.first_release, old.regressed) == (7, True, "", False)
        group = store.record(occurrence(release="2.0"))
        assert (group.count, group.first_release, group.last_release) == (8, "", "2.0")
        assert not group.regressed, "no release was known before: no regression"
        # A second store on the same file (another worker) finds the columns in place.
        SQLiteErrorStore(path, LIMITS).close()
        # A worker of the older version, mid-deploy, still writes the file, naming its columns.
        with sqlite3.connect(path) as db:
            db.execute(
                "INSERT INTO error_groups (fingerprint, exception_type, message, route, method, "
                "status, count, first_seen, last_seen, last_request_id, resolved) VALUES "
                "('fp-b', 'builtins.KeyError', 'k', '/b', 'GET', 500, 1, ?, ?, NULL, 0)",
                (NOW, NOW),
            )
        db.close()
        newer = store.group("fp-b")
        assert newer is not None
        assert (newer.first_release, newer.regressed) == ("", False)
    finally:
        store.close()
