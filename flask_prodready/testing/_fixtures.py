"""The pytest fixtures of :mod:`flask_prodready.testing` (imported there when pytest is)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from flask_prodready.state import get_state
from flask_prodready.store import ErrorStore, MemoryErrorStore

from ._helpers import CapturedLogs, assert_problem, capture_logs

__all__ = [
    "AlertClock",
    "assert_problem_fixture",
    "prodready_alert_clock",
    "prodready_logs",
    "prodready_store",
]


@pytest.fixture
def prodready_logs() -> Iterator[CapturedLogs]:
    """The JSON log lines written during the test, a
    :class:`~flask_prodready.testing.CapturedLogs`.

    .. versionadded:: 0.1
    """

    with capture_logs() as lines:
        yield lines


@pytest.fixture(name="assert_problem")
def assert_problem_fixture() -> Callable[..., dict[str, Any]]:
    """:func:`~flask_prodready.testing.assert_problem`, as a fixture.

    .. versionadded:: 0.1
    """

    return assert_problem


@pytest.fixture
def prodready_store(app: Flask) -> Iterator[ErrorStore]:
    """An empty in-memory error store for the test's ``app``, in place of its configured one.

    Errors the app records during the test go there (and nowhere else); read them with
    ``prodready_store.groups()``. The configured store is put back after the test.

    .. versionadded:: 0.1
    """
    state = get_state(app)
    recorder = state.error_recorder
    if recorder is None:
        raise pytest.UsageError(
            "prodready_store needs the error store: the app has PRODREADY_ERRORS_ENABLED off "
            'or PRODREADY_ERROR_STORE = "none"'
        )
    configured = recorder.store
    isolated = MemoryErrorStore(getattr(configured, "limits", None))
    recorder.store = isolated
    state.error_store = isolated
    try:
        yield isolated
    finally:
        recorder.store = configured
        state.error_store = configured
        isolated.close()


class AlertClock:
    """A clock the test moves by hand, for the app's alert engine.

    ::

        def test_errors_page_someone(app, client, prodready_alert_clock):
            ...
            prodready_alert_clock.advance(90)
            states = prodready_alert_clock.evaluate()

    .. versionadded:: 0.1
    """

    def __init__(self, engine: Any, now: float) -> None:
        self.engine = engine
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds``; return the new time."""
        self.now += seconds
        return self.now

    def evaluate(self) -> list[Any]:
        """Evaluate every rule once at the frozen time; the states."""
        return list(self.engine.evaluate() or self.engine.states())


@pytest.fixture
def prodready_alert_clock(app: Flask) -> Iterator[AlertClock]:
    """Freeze the alert engine's clock of the test's ``app`` (an :class:`AlertClock`).

    The background evaluation is stopped for the test; evaluate with ``.evaluate()`` after
    moving the clock with ``.advance(seconds)``.

    .. versionadded:: 0.1
    """
    import time

    engine = get_state(app).alerts
    if engine is None:
        raise pytest.UsageError("prodready_alert_clock needs PRODREADY_ALERTS_ENABLED on")
    clock = AlertClock(engine, time.time())
    saved = engine.clock
    engine.stop()
    engine.clock = clock
    try:
        yield clock
    finally:
        engine.clock = saved
