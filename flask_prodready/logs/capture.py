"""Capture for tests: every line logged inside a block, in the JSON schema, parsed.

:func:`~flask_prodready.testing.capture_logs` is the public face of it. The lines pass the
installed level filter, as the real sink's do; access lines are seen through the process's
access listeners, since they never go through loguru.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import orjson
from loguru import logger

from .process import log_process
from .render import dumps, render_json

__all__ = ["capture_json_lines"]


@contextmanager
def capture_json_lines(
    into: list[dict[str, Any]] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Collect the JSON lines logged inside the block, parsed, in a list (``into`` if given).

    ::

        with capture_json_lines() as lines:
            logger.info("hello")
        assert lines[0]["message"] == "hello"

    Used by :func:`flask_prodready.testing.capture_logs`.

    :param into: the list to append to; a new one by default.
    """
    lines: list[dict[str, Any]] = [] if into is None else into
    lock = threading.Lock()

    def collect(message: Any) -> None:
        parsed = orjson.loads(render_json(message.record))
        with lock:
            lines.append(parsed)

    def collect_access(payload: dict[str, Any]) -> None:
        parsed = orjson.loads(dumps(payload))
        with lock:
            lines.append(parsed)

    installed = log_process.installed
    accept: Callable[[Mapping[str, Any]], bool] | None = (
        None if installed is None else installed.levels.accepts
    )
    handler_id = logger.add(collect, level=0, format="{message}", filter=accept, catch=False)
    log_process.access_listeners.append(collect_access)
    try:
        yield lines
    finally:
        log_process.access_listeners.remove(collect_access)
        logger.remove(handler_id)
