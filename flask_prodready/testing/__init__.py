"""Helpers for testing apps that use flask-prodready, and a pytest plugin with fixtures.

::

    from flask_prodready.testing import assert_problem, capture_logs

    def test_order_is_logged(client):
        with capture_logs() as lines:
            client.post("/orders", json={...})
        assert any(line["message"] == "order created" for line in lines)

    def test_missing_order(client):
        assert_problem(client.get("/orders/999"), status=404, code="not_found")

With pytest, the fixtures ``prodready_logs``, ``assert_problem``, ``prodready_store`` and
``prodready_alert_clock`` are
available in every test once flask-prodready is installed (the ``pytest11`` entry point
``prodready``). Nothing runs until a test asks for one of them: there is no autouse fixture
and no hook. ``-p no:prodready`` removes them. The fixtures that need the app use the
``app`` fixture of the test suite (the pytest-flask convention).
"""

from __future__ import annotations

import importlib.util

from ._helpers import (
    PROBLEM_CONTENT_TYPE,
    PROBLEM_MEMBERS,
    CapturedLogs,
    assert_problem,
    capture_logs,
    reset_logging,
)

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "PROBLEM_MEMBERS",
    "CapturedLogs",
    "assert_problem",
    "capture_logs",
    "reset_logging",
]

# The pytest fixtures, when pytest is there: pytest finds them among this module's names.
if importlib.util.find_spec("pytest") is not None:
    from ._fixtures import (  # noqa: F401
        assert_problem_fixture,
        prodready_alert_clock,
        prodready_logs,
        prodready_store,
    )
