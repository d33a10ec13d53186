"""The process-wide part of logging: shipping per app, failures counted per app, no leaks.

Covers ``flask_prodready.logs.process``, ``flask_prodready.logs.shipping``.
"""

from __future__ import annotations

import gc
import json
import logging
import weakref
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from loguru import logger

from flask_prodready import ProdReady, get_state
from flask_prodready.logs import log_process
from flask_prodready.metrics import LOG_SINK_FAILURES


def make_app(root: Path, name: str, **kwargs: Any) -> Flask:
    """An app in the testing environment (lines shipped at once) with its own memory store."""
    app = Flask(name, root_path=str(root), instance_path=str(root / "instance"))
    app.config["TESTING"] = True
    ProdReady(app, **{"error_store": "memory", "log_destination": "/dev/null", **kwargs})

    @app.get("/warn")
    def warn() -> str:
        logger.warning(f"warning from {name}")
        return "ok"

    return app


def shipped(app: Flask) -> list[str]:
    """The messages of the log lines in the app's store, oldest first."""
    store = get_state(app).error_store
    assert store is not None
    return [json.loads(line.text)["message"] for line in reversed(store.log_lines())]


def test_each_apps_lines_land_in_its_own_store(tmp_path: Path) -> None:
    first = make_app(tmp_path, "first")
    second = make_app(tmp_path, "second")
    first.test_client().get("/warn")
    second.test_client().get("/warn")
    second.test_client().get("/warn")
    assert shipped(first) == ["warning from first"]
    assert shipped(second) == ["warning from second", "warning from second"]


def test_a_line_in_an_app_context_goes_to_that_app(tmp_path: Path) -> None:
    first = make_app(tmp_path, "first")
    second = make_app(tmp_path, "second")
    with first.app_context():
        logger.error("background work of first")
    assert shipped(first) == ["background work of first"]
    assert shipped(second) == []


def test_a_line_outside_any_app_goes_to_the_latest_live_app_that_ships(tmp_path: Path) -> None:
    first = make_app(tmp_path, "first")
    make_app(tmp_path, "quiet", log_store_level="OFF")
    logger.warning("outside, first ships")
    assert shipped(first) == ["outside, first ships"]
    second = make_app(tmp_path, "second")
    logger.warning("outside, second is the latest")
    assert shipped(second) == ["outside, second is the latest"]
    del second
    gc.collect()
    logger.warning("outside, second is gone")
    assert shipped(first) == ["outside, first ships", "outside, second is gone"]


def test_an_app_that_ships_nothing_keeps_its_lines(tmp_path: Path) -> None:
    quiet = make_app(tmp_path, "quiet", log_store_level="OFF")
    loud = make_app(tmp_path, "loud")
    quiet.test_client().get("/warn")
    assert shipped(quiet) == []
    assert shipped(loud) == [], "not another app's store either"


def test_a_deleted_app_leaves_nothing_behind(tmp_path: Path) -> None:
    app = make_app(tmp_path, "gone")
    app.test_client().get("/warn")
    assert shipped(app) == ["warning from gone"]
    app_ref, state_ref = weakref.ref(app), weakref.ref(get_state(app))
    del app
    gc.collect()
    assert app_ref() is None
    assert state_ref() is None
    assert (log_process.apps(), log_process.shipper.apps()) == (0, 0)
    logger.warning("no app to ship to")  # and nothing to fail on


def test_a_sink_failure_is_counted_in_the_apps_metrics(tmp_path: Path) -> None:
    app = make_app(tmp_path, "full", log_destination="/dev/full")
    other = make_app(tmp_path / "other", "other", log_destination="/dev/full")
    before = log_process.sink_failures
    assert app.test_client().get("/warn").status_code == 200
    failures = log_process.sink_failures - before
    assert failures >= 2, "the warning and the access line"
    for each in (app, other):
        metrics = get_state(each).metrics
        assert metrics is not None
        counted = metrics.registry.get_sample_value(LOG_SINK_FAILURES, {"sink": "file"})
        assert counted == failures, "every live app counts the process's sink failures"


def test_a_store_that_fails_counts_against_its_own_app_only(tmp_path: Path) -> None:
    from flask_prodready.introspection import introspect

    broken = make_app(tmp_path, "broken")
    healthy = make_app(tmp_path, "healthy")
    store = get_state(broken).error_store
    assert store is not None

    def refuse(lines: object) -> None:
        raise OSError("disk full")

    store.add_log_lines = refuse  # type: ignore[method-assign]
    before = log_process.shipper.failures
    broken.test_client().get("/warn")
    healthy.test_client().get("/warn")
    assert introspect(broken).log_store_failures() == 1
    assert introspect(healthy).log_store_failures() == 0
    assert log_process.shipper.failures == before + 1, "the process-wide count, too"
    assert shipped(healthy) == ["warning from healthy"]


def test_a_hundred_apps_grow_no_process_wide_list(tmp_path: Path) -> None:
    make_app(tmp_path, "warm-up").test_client().get("/warn")
    gc.collect()
    root, werkzeug = logging.getLogger(), logging.getLogger("werkzeug")

    def sizes() -> tuple[int, ...]:
        return (
            log_process.apps(),
            log_process.shipper.apps(),
            len(log_process.access_listeners),
            len(root.handlers),
            len(werkzeug.filters),
            len(logger._core.handlers),  # type: ignore[attr-defined]
        )

    before = sizes()
    for index in range(100):
        make_app(tmp_path, f"app-{index}").test_client().get("/warn")
    gc.collect()
    assert sizes() == before


@pytest.mark.parametrize("level", ["OFF", "WARNING"])
def test_one_sink_serves_every_app(tmp_path: Path, level: str) -> None:
    make_app(tmp_path, "first", log_store_level=level)
    handler = log_process.installed
    make_app(tmp_path, "second", log_store_level=level)
    assert log_process.installed is handler, "the same shape keeps the sink"
