"""Breadcrumbs: each request's most recent log lines, kept for the errors it records.

The buffer lives in the request's context variable (``request_id._scope``), next to its id:
``[limit, line, line, ...]``, oldest line first. A list with its limit in front costs less
to make for every request than a bounded deque. The sink appends to it (see :mod:`.sink`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from flask_prodready.request_id import _scope, current_trace, request_id

from .process import log_process
from .render import dumps, timestamp_ms
from .sink import keep_breadcrumb

__all__ = ["add_breadcrumb", "breadcrumbs_kept", "request_breadcrumbs"]


def breadcrumbs_kept(settings: Mapping[str, Any]) -> int:
    """How many log lines a request or job keeps for its errors, by the settings.

    Breadcrumbs only serve recorded errors: none are kept without an error store.

    .. versionadded:: 0.2
    """
    keeps_errors = (
        settings["PRODREADY_ERRORS_ENABLED"] and settings["PRODREADY_ERROR_STORE"] != "none"
    )
    return int(settings["PRODREADY_ERRORS_BREADCRUMBS"]) if keeps_errors else 0


def request_breadcrumbs() -> list[str]:
    """The current request's most recent log lines (JSON), oldest first; empty outside one.

    The error store keeps them with each recorded error, so its detail shows the log lines
    of the failing request. ``PRODREADY_ERRORS_BREADCRUMBS`` bounds how many::

        lines = [json.loads(line) for line in request_breadcrumbs()]

    .. versionadded:: 0.1
    """
    scope = _scope.get()
    crumbs = None if scope is None else scope[1]
    return crumbs[1:] if crumbs is not None else []


def add_breadcrumb(level: str, logger: str, message: str, **fields: Any) -> bool:
    """Add a line to the current request's or job's breadcrumbs without logging it.

    For what an error's detail should show but the log need not carry, such as each call
    to another service (``GET payments.internal/charges → 503 in 2.1 s``). The line has the
    JSON schema of a log line; ``fields`` follow the schema's fields and must already be
    safe to keep (redacted).

    :param level: the line's level name, e.g. ``INFO``.
    :param logger: the line's ``logger`` field.
    :param message: the line's message.
    :return: whether there were breadcrumbs to add to (inside a request or job whose app
        keeps them).

    .. versionadded:: 0.2
    """
    scope = _scope.get()
    if scope is None or scope[1] is None:
        return False
    payload: dict[str, Any] = {
        "ts": timestamp_ms(int(time.time() * 1000)),
        "level": level,
        "logger": logger,
        "message": message,
        "request_id": scope[0],
    }
    trace = current_trace()
    if trace is not None:
        payload["trace_id"] = trace.trace_id
        payload["span_id"] = trace.span_id
    payload |= {
        "process": log_process.pid,
        "thread": threading.get_ident(),
        **fields,
    }
    keep_breadcrumb(scope[1], dumps(payload).decode().rstrip("\n"))
    return True


class _BreadcrumbBinder:
    """Gives each request a bounded buffer of its log lines (the ``breadcrumbs`` stage).

    Used only while the request id stage is off; with it on, the buffer is bound with the
    id (see :meth:`~flask_prodready.pipeline.RequestPipeline.keep_breadcrumbs`).
    """

    def __init__(self, size: int) -> None:
        self.size = size

    def bind(self, environ: Any) -> object:
        # Inside another app's request (request ids off here), its id still shows.
        return _scope.set((request_id(), [self.size]))

    def unbind(self, token: object) -> None:
        try:
            _scope.reset(token)  # type: ignore[arg-type]
        except ValueError:
            _scope.set(None)
