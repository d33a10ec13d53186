"""Helpers for testing apps that use flask-prodready (and for our own tests).

::

    from flask_prodready.testing import capture_logs

    def test_order_is_logged(client):
        with capture_logs() as lines:
            client.post("/orders", json={...})
        assert any(line["message"] == "order created" for line in lines)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from loguru import logger

from . import logs

__all__ = ["capture_logs", "reset_logging"]


@contextmanager
def capture_logs() -> Iterator[list[dict[str, Any]]]:
    """Collect every log line written inside the block as parsed JSON dicts.

    The lines follow the documented JSON schema whatever the configured format, and pass
    the same level filter as the real sink. The real sink keeps writing as usual.

    .. versionadded:: 0.1
    """
    with logs.capture_json_lines() as lines:
        yield lines


def reset_logging() -> None:
    """Undo what ``init_app`` did to logging: remove its sink, restore stdlib's root logger.

    Call it after each test (an autouse fixture) so that one test's logging set-up does not
    leak into the next.

    .. versionadded:: 0.1
    """
    logs.uninstall()
    logs.sink_failure_hooks.clear()
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, logs.InterceptHandler)]
    root.setLevel(logging.WARNING)
    for name in logs.TAKEN_OVER_LOGGERS:
        taken = logging.getLogger(name)
        taken.handlers = [h for h in taken.handlers if not isinstance(h, logs.InterceptHandler)]
        taken.propagate = True
    logging.captureWarnings(False)
    logger.remove()
