"""The pytest fixtures of :mod:`flask_prodready.testing` (imported there when pytest is)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask

from .extension import get_state

if TYPE_CHECKING:
    from .testing import CapturedLogs
from .store import ErrorStore, MemoryErrorStore

__all__ = ["assert_problem_fixture", "prodready_logs", "prodready_store"]


@pytest.fixture
def prodready_logs() -> Iterator[CapturedLogs]:
    """The JSON log lines written during the test, a
    :class:`~flask_prodready.testing.CapturedLogs`.

    .. versionadded:: 0.1
    """
    from .testing import capture_logs

    with capture_logs() as lines:
        yield lines


@pytest.fixture(name="assert_problem")
def assert_problem_fixture() -> Callable[..., dict[str, Any]]:
    """:func:`~flask_prodready.testing.assert_problem`, as a fixture.

    .. versionadded:: 0.1
    """
    from .testing import assert_problem

    return assert_problem


@pytest.fixture
def prodready_store(app: Flask) -> Iterator[ErrorStore]:
    """An empty in-memory error store for the test's ``app``, in place of its configured one.

    Errors the app records during the test go there (and nowhere else); read them with
    ``prodready_store.groups()``. The configured store is put back after the test.

    .. versionadded:: 0.1
    """
    state = get_state(app)
    recorder = state.components.get("error_recorder")
    if recorder is None:
        raise pytest.UsageError(
            "prodready_store needs the error store: the app has PRODREADY_ERRORS_ENABLED off "
            'or PRODREADY_ERROR_STORE = "none"'
        )
    configured = recorder.store
    isolated = MemoryErrorStore(getattr(configured, "limits", None))
    recorder.store = isolated
    state.components["error_store"] = isolated
    try:
        yield isolated
    finally:
        recorder.store = configured
        state.components["error_store"] = configured
        isolated.close()
