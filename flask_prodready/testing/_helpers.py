"""The helpers of :mod:`flask_prodready.testing`: captured log lines and problem checks."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from loguru import logger

from flask_prodready import logs

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "CapturedLogs",
    "assert_problem",
    "capture_logs",
    "reset_logging",
]

#: The media type of every error answer.
PROBLEM_CONTENT_TYPE = "application/problem+json"
#: The members every problem document has.
PROBLEM_MEMBERS = ("type", "title", "status", "detail", "code")


class _Response(Protocol):
    status_code: int
    mimetype: str | None

    def get_json(self, force: bool = ..., silent: bool = ...) -> Any: ...


class CapturedLogs(list[dict[str, Any]]):
    """The JSON log lines written during a test, as dicts, in order.

    ::

        def test_created(client, prodready_logs):
            response = client.post("/api/orders/", json={...})
            lines = prodready_logs.of_request(response)
            assert "order created" in [line["message"] for line in lines]

    .. versionadded:: 0.1
    """

    def of_request(self, response_or_id: Any) -> list[dict[str, Any]]:
        """The lines of one request, given its response (its ``X-Request-ID`` header) or id.

        :param response_or_id: a test client response, or a request id.
        """
        request_id = response_or_id
        headers = getattr(response_or_id, "headers", None)
        if headers is not None:
            request_id = headers.get(_request_id_header())
        return [line for line in self if request_id and line.get("request_id") == request_id]

    def access(self) -> list[dict[str, Any]]:
        """The access lines (one per request)."""
        return [line for line in self if line.get("logger") == logs.ACCESS_LOGGER]

    def messages(self) -> list[str]:
        """The ``message`` of every line."""
        return [str(line.get("message")) for line in self]


def _request_id_header() -> str:
    from flask import current_app, has_app_context

    from flask_prodready.request_id import DEFAULT_HEADER

    if has_app_context():
        return str(current_app.config.get("PRODREADY_REQUEST_ID_HEADER", DEFAULT_HEADER))
    return DEFAULT_HEADER


@contextmanager
def capture_logs() -> Iterator[CapturedLogs]:
    """Collect every log line written inside the block as parsed JSON dicts.

    The lines follow the documented JSON schema whatever the configured format, and pass
    the same level filter as the real sink. The real sink keeps writing as usual.

    .. versionadded:: 0.1
    """
    captured = CapturedLogs()
    with logs.capture_json_lines(into=captured):
        yield captured


def assert_problem(
    response: _Response, status: int | None = None, code: str | None = None, **members: Any
) -> dict[str, Any]:
    """Assert that ``response`` is an RFC 9457 problem document and return it.

    ::

        document = assert_problem(client.get("/api/orders/999"), status=404, code="not_found")
        assert "999" in document["detail"]

    :param response: a test client response.
    :param status: the expected HTTP status (checked in the status line and the body).
    :param code: the expected ``code`` member, e.g. ``not_found``.
    :param members: other members and their expected values, e.g. ``title="Not Found"``.
    :raises AssertionError: naming what differs, with the document.

    .. versionadded:: 0.1
    """
    __tracebackhide__ = True
    assert response.mimetype == PROBLEM_CONTENT_TYPE, (
        f"expected a {PROBLEM_CONTENT_TYPE} answer, got {response.mimetype!r} "
        f"(status {response.status_code})"
    )
    document = response.get_json(force=True, silent=True)
    assert isinstance(document, dict), f"the problem document is not a JSON object: {document!r}"
    missing = [name for name in PROBLEM_MEMBERS if name not in document]
    assert not missing, f"the problem document lacks {missing}: {document}"
    assert document["status"] == response.status_code, (
        f"status {document['status']} in the document, {response.status_code} in the answer"
    )
    if status is not None:
        assert response.status_code == status, (
            f"expected status {status}, got {response.status_code}: {document}"
        )
    expected: Mapping[str, Any] = {**({"code": code} if code is not None else {}), **members}
    for name, value in expected.items():
        assert document.get(name) == value, (
            f"expected {name}={value!r}, got {document.get(name)!r}: {document}"
        )
    return document


def reset_logging() -> None:
    """Undo what ``init_app`` did to logging: remove its sink, restore stdlib's root logger.

    Call it after each test (an autouse fixture) so that one test's logging set-up does not
    leak into the next.

    .. versionadded:: 0.1
    """
    logs.log_process.uninstall()
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, logs.InterceptHandler)]
    root.setLevel(logging.WARNING)
    for name in logs.TAKEN_OVER_LOGGERS:
        taken = logging.getLogger(name)
        taken.handlers = [h for h in taken.handlers if not isinstance(h, logs.InterceptHandler)]
        taken.propagate = True
    logging.captureWarnings(False)
    logger.remove()
