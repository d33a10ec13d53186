"""The handlers of the ``errors`` part: a problem document for each error the app leaves open.

:class:`ErrorHandlers` answers an :class:`~flask_prodready.errors.AppError` and werkzeug's
``HTTPException`` (``abort(404)``, 405 with its ``Allow`` header, 413, …, and
flask-smorest/webargs validation errors), and counts and records them. An unexpected
exception answers 500 with a generic title and detail, never a stack or the exception's
text; its stack is logged once at ERROR (``flask_prodready.errors._hooks``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from flask import Response
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, InternalServerError

from .family import AppError
from .problems import problem_document, problem_response

if TYPE_CHECKING:
    from flask_prodready.state import ProdReadyState

__all__ = ["ErrorHandlers"]

_GENERIC_DETAIL = "The server hit an unexpected error. Quote the request id when you report it."


def smorest_errors(error: HTTPException) -> Any:
    """Field errors of a flask-smorest/webargs error, grouped by location, or ``None``."""
    data = getattr(error, "data", None)
    if not isinstance(data, Mapping):
        return None
    errors = data.get("errors", data.get("messages"))
    return errors or None


class ErrorHandlers:
    """The problem-document handlers of the ``errors`` part; records what the recorder accepts."""

    def __init__(
        self,
        *,
        json_only: bool,
        type_base: str | None,
        record: Callable[[BaseException, int], None] | None = None,
        state: ProdReadyState | None = None,
    ) -> None:
        self.json_only = json_only
        self.type_base = type_base or None
        #: Called with (exception, status) for errors to record; set by the store wiring.
        self.record = record
        self._state = state

    def handle_app_error(self, error: AppError) -> Response:
        """Answer an :class:`AppError` with its problem document."""
        details = dict(error.details)
        errors = details.pop("errors", None)
        document = problem_document(
            error.status,
            title=error.title,
            detail=error.message,
            code=error.code,
            errors=errors,
            extra=details,
            type_base=self.type_base,
        )
        self._maybe_record(error, error.status)
        return problem_response(document, error.headers, json_only=self.json_only)

    def handle_http_exception(self, error: HTTPException) -> ResponseReturnValue:
        """Answer a werkzeug ``HTTPException`` (``abort(404)``, a 500 nobody handled…)."""
        fallback = _app_handler_below(error)
        if fallback is not None:
            # Without us, the app's own handler for a base class (``Exception``) would have
            # answered: ours, registered for HTTPException, must not shadow it.
            return fallback(error)
        if isinstance(error, InternalServerError) and error.original_exception is not None:
            # Recorded and logged when Flask sent got_request_exception; the client gets
            # nothing of the exception.
            self._count(error.original_exception, 500)
            document = problem_document(
                500,
                title="Internal Server Error",
                detail=_GENERIC_DETAIL,
                code="internal_error",
                type_base=self.type_base,
            )
            return problem_response(document, json_only=self.json_only)
        status = error.code or 500
        data = getattr(error, "data", None)
        detail = error.description
        if isinstance(data, Mapping) and isinstance(data.get("message"), str):
            detail = data["message"]
        headers = {
            name: value
            for name, value in error.get_headers()
            if name.lower() not in ("content-type", "content-length")
        }
        if isinstance(data, Mapping) and isinstance(data.get("headers"), Mapping):
            headers.update(data["headers"])
        document = problem_document(
            status,
            title=error.name,
            detail=detail,
            errors=smorest_errors(error),
            type_base=self.type_base,
        )
        self._maybe_record(error, status)
        return problem_response(document, headers, json_only=self.json_only)

    def record_unexpected(self, error: BaseException, status: int = 500) -> None:
        """Log and record an exception that no problem document answers.

        Called for exceptions that reach Flask's ``handle_exception`` (whoever then answers
        the 500: the app's own handler, another extension's or ours) and for exceptions that
        the app's own handler answered with a 5xx status.
        """
        if self.record is not None:
            self.record(error, status)

    def _count(self, error: BaseException, status: int) -> None:
        # The metrics part is set up after this one, so it is looked up per error.
        metrics = self._state.metrics if self._state is not None else None
        if metrics is not None:
            metrics.count_error(status, type(error).__name__)

    def _maybe_record(self, error: BaseException, status: int) -> None:
        self._count(error, status)
        if self.record is not None:
            self.record(error, status)


def _app_handler_below(error: HTTPException) -> Callable[[Any], ResponseReturnValue] | None:
    """The app's own app-level handler for a base class of ``HTTPException``, if any."""
    from flask import current_app

    handlers: Mapping[type, Any] = current_app.error_handler_spec[None][None]
    for kind in HTTPException.__mro__[1:]:
        handler: Callable[[Any], ResponseReturnValue] | None = handlers.get(kind)
        if handler is not None:
            return handler
    return None


class _Recording:
    """Decides what is recorded: unexpected exceptions, and the chosen statuses."""

    def __init__(self, recorder: Any, statuses: frozenset[int]) -> None:
        self.recorder = recorder
        self.statuses = statuses

    def __call__(self, error: BaseException, status: int) -> None:
        """Record ``error`` if it is unexpected, or its status is one of the chosen ones."""
        expected = isinstance(error, AppError | HTTPException)
        if not expected or status in self.statuses:
            self.recorder.record(error, status)
