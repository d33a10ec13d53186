"""The AppError family and one answer format for every error: RFC 9457 problem documents.

Hierarchy (raise these, or your own subclasses, from views)::

    AppError                     500 internal_error
     ├── BadRequestError         400 bad_request
     ├── UnauthorizedError       401 unauthorized
     ├── ForbiddenError          403 forbidden
     ├── NotFoundError           404 not_found
     ├── ConflictError           409 conflict
     ├── ValidationError         422 validation_failed
     ├── RateLimitedError        429 rate_limited   (sends Retry-After)
     └── DependencyError         503 dependency_unavailable

Every error answer of the app, these and werkzeug's ``HTTPException`` (``abort(404)``, 405
with its ``Allow`` header, 413, …), flask-smorest/webargs validation errors, and any other
exception, is an ``application/problem+json`` document::

    {"type": "about:blank", "title": "Not Found", "status": 404,
     "detail": "order 7 does not exist", "instance": "/orders/7",
     "code": "not_found", "request_id": "7f3b…"}

with ``errors`` (field errors grouped by location: ``json``, ``query``, ``path``…) when
there are some. An unexpected exception answers 500 with a generic title and detail, never a
stack or the exception's text; its stack is logged once at ERROR. Browsers asking for HTML
get a small HTML page with the same facts.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any, ClassVar

from flask import Flask, Response, request
from loguru import logger
from werkzeug.exceptions import HTTPException, InternalServerError, default_exceptions
from werkzeug.http import HTTP_STATUS_CODES

from .request_id import request_id

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "AppError",
    "BadRequestError",
    "ConflictError",
    "DependencyError",
    "ForbiddenError",
    "NotFoundError",
    "RateLimitedError",
    "UnauthorizedError",
    "ValidationError",
    "problem_response",
]

#: The content type of problem documents (RFC 9457).
PROBLEM_CONTENT_TYPE = "application/problem+json"

_GENERIC_DETAIL = "The server hit an unexpected error. Quote the request id when you report it."


class AppError(Exception):
    """Base of the application's own errors; the answer is a problem document.

    ::

        class OutOfStockError(ConflictError):
            code = "out_of_stock"

        raise OutOfStockError("item 7 is out of stock", details={"item": 7})

    :param message: what went wrong, for the client (the problem's ``detail``).
    :param code: a stable machine-readable code; defaults to the class's :attr:`code`.
    :param status: the HTTP status; defaults to the class's :attr:`status`.
    :param details: extra members of the problem document, or field errors under
        ``"errors"``.
    :param headers: extra response headers.

    .. versionadded:: 0.1
    """

    #: The HTTP status of the answer.
    status: ClassVar[int] = 500
    #: The stable machine code, e.g. ``not_found``.
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message if message is not None else self.default_message()
        super().__init__(self.message)
        self.code = code or type(self).code  # type: ignore[misc]
        self.status = status or type(self).status  # type: ignore[misc]
        if not 400 <= self.status <= 599:
            raise ValueError(f"an AppError status must be 4xx or 5xx, got {self.status}")
        self.details: dict[str, Any] = dict(details or {})
        self.headers: dict[str, str] = dict(headers or {})

    @classmethod
    def default_message(cls) -> str:
        """The message used when none is given: the status phrase."""
        return HTTP_STATUS_CODES.get(cls.status, "Error")

    @property
    def title(self) -> str:
        """The problem's ``title``: the HTTP status phrase."""
        return HTTP_STATUS_CODES.get(self.status, "Error")


class BadRequestError(AppError):
    """400: the request is malformed.

    .. versionadded:: 0.1
    """

    status = 400
    code = "bad_request"


class UnauthorizedError(AppError):
    """401: credentials are missing or wrong.

    .. versionadded:: 0.1
    """

    status = 401
    code = "unauthorized"


class ForbiddenError(AppError):
    """403: the caller may not do this.

    .. versionadded:: 0.1
    """

    status = 403
    code = "forbidden"


class NotFoundError(AppError):
    """404: the resource does not exist.

    .. versionadded:: 0.1
    """

    status = 404
    code = "not_found"


class ConflictError(AppError):
    """409: the request conflicts with the resource's state.

    .. versionadded:: 0.1
    """

    status = 409
    code = "conflict"


class ValidationError(AppError):
    """422: the input is well-formed but invalid; put field errors in ``details["errors"]``.

    .. versionadded:: 0.1
    """

    status = 422
    code = "validation_failed"


class RateLimitedError(AppError):
    """429: too many requests; answers ``Retry-After``.

    :param retry_after: seconds the client should wait (default 60).

    .. versionadded:: 0.1
    """

    status = 429
    code = "rate_limited"

    def __init__(self, message: str | None = None, *, retry_after: int = 60, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = max(0, int(retry_after))
        self.headers.setdefault("Retry-After", str(self.retry_after))


class DependencyError(AppError):
    """503: a service the app depends on is unavailable.

    .. versionadded:: 0.1
    """

    status = 503
    code = "dependency_unavailable"


def _code_for_status(status: int) -> str:
    phrase = HTTP_STATUS_CODES.get(status, "error")
    return "".join(c if c.isalnum() else "_" for c in phrase.lower()).strip("_")


def problem_document(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    code: str | None = None,
    errors: Any = None,
    extra: Mapping[str, Any] | None = None,
    type_base: str | None = None,
) -> dict[str, Any]:
    """A problem document for the current request.

    .. versionadded:: 0.1
    """
    code = code or _code_for_status(status)
    document: dict[str, Any] = {
        "type": f"{type_base}{code}" if type_base else "about:blank",
        "title": title or HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail or HTTP_STATUS_CODES.get(status, "Error"),
        "instance": request.path,
        "code": code,
        "request_id": request_id(),
    }
    if errors:
        document["errors"] = errors
    for key, value in (extra or {}).items():
        document.setdefault(key, value)
    return document


def problem_response(
    document: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    *,
    json_only: bool = False,
) -> Response:
    """The response for a problem ``document``: JSON, or an HTML page for browsers.

    :param document: from :func:`problem_document`.
    :param headers: extra headers (``Allow``, ``Retry-After``, ``WWW-Authenticate``…).
    :param json_only: never answer HTML.

    .. versionadded:: 0.1
    """
    from flask import current_app

    status = int(document["status"])
    if not json_only and _wants_html():
        body = _html_page(document)
        response = Response(body, status=status, mimetype="text/html")
    else:
        response = current_app.response_class(
            current_app.json.dumps(document), status=status, mimetype=PROBLEM_CONTENT_TYPE
        )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _wants_html() -> bool:
    accept = request.accept_mimetypes
    best = accept.best_match(["application/json", PROBLEM_CONTENT_TYPE, "text/html"])
    return best == "text/html" and accept["text/html"] > accept["application/json"]


def _html_page(document: Mapping[str, Any]) -> str:
    def esc(value: Any) -> str:
        return html.escape(str(value), quote=True)

    rows = "".join(
        f"<tr><th>{esc(key)}</th><td>{esc(document[key])}</td></tr>"
        for key in ("status", "code", "instance", "request_id")
        if document.get(key) is not None
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{esc(document['status'])} {esc(document['title'])}</title></head><body>"
        f"<h1>{esc(document['title'])}</h1><p>{esc(document['detail'])}</p>"
        f"<table>{rows}</table></body></html>"
    )


def _propagating() -> bool:
    from flask import current_app

    propagate = current_app.config.get("PROPAGATE_EXCEPTIONS")
    if propagate is None:
        return bool(current_app.testing or current_app.debug)
    return bool(propagate)


def smorest_errors(error: HTTPException) -> Any:
    """Field errors of a flask-smorest/webargs error, grouped by location, or ``None``."""
    data = getattr(error, "data", None)
    if not isinstance(data, Mapping):
        return None
    errors = data.get("errors", data.get("messages"))
    return errors or None


class ErrorHandlers:
    """The app's error handlers (the ``errors`` part); records what the recorder accepts."""

    def __init__(
        self, *, json_only: bool, type_base: str | None, record: Any = None, state: Any = None
    ) -> None:
        self.json_only = json_only
        self.type_base = type_base or None
        #: Called with (exception, status) for errors to record; set by the store wiring.
        self.record = record
        self._components: dict[str, Any] = state.components if state is not None else {}

    def handle_app_error(self, error: AppError) -> Response:
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

    def handle_http_exception(self, error: HTTPException) -> Response:
        if isinstance(error, InternalServerError) and error.original_exception is not None:
            return self.handle_unexpected(error.original_exception)
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

    def handle_unexpected(self, error: BaseException) -> Response:
        if isinstance(error, HTTPException):
            return self.handle_http_exception(error)
        if isinstance(error, AppError):
            return self.handle_app_error(error)
        logger.opt(exception=error).error(
            "unhandled {} on {} {}", type(error).__name__, request.method, request.path
        )
        if _propagating():
            # Flask's own rule (testing, debug): the test client or the debugger gets it.
            if self.record is not None:
                self.record(error, 500)
            raise error
        self._maybe_record(error, 500)
        document = problem_document(
            500,
            title="Internal Server Error",
            detail=_GENERIC_DETAIL,
            code="internal_error",
            type_base=self.type_base,
        )
        return problem_response(document, json_only=self.json_only)

    def _maybe_record(self, error: BaseException, status: int) -> None:
        # The metrics part is set up after this one, so it is looked up per error.
        metrics = self._components.get("metrics")
        if metrics is not None:
            metrics.count_error(status, type(error).__name__)
            if not isinstance(error, AppError | HTTPException):
                metrics.count_exception(error)
        if self.record is not None:
            self.record(error, status)


def init_errors(app: Flask, state: Any) -> None:
    """Register the problem-document handlers on ``app`` (the ``errors`` part).

    Handlers are registered per status code as well as per class, so they take precedence
    over a class-level ``HTTPException`` handler that another extension (flask-smorest)
    registers, whatever the order of set-up. The error store is opened here, once.

    .. versionadded:: 0.1
    """
    handlers = ErrorHandlers(
        json_only=state.setting("PRODREADY_ERRORS_FORMAT") == "json",
        type_base=state.setting("PRODREADY_ERRORS_TYPE_BASE"),
        state=state,
    )
    recorder = _open_recorder(app, state)
    if recorder is not None:
        handlers.record = _Recording(
            recorder, frozenset(state.setting("PRODREADY_ERRORS_RECORD_STATUSES"))
        )
        state.components["error_recorder"] = recorder
        state.components["error_store"] = recorder.store
    state.components["errors"] = handlers
    app.register_error_handler(AppError, handlers.handle_app_error)
    app.register_error_handler(HTTPException, handlers.handle_http_exception)
    for code in default_exceptions:
        app.register_error_handler(code, handlers.handle_http_exception)
    app.register_error_handler(Exception, handlers.handle_unexpected)


class _Recording:
    """Decides what is recorded: unexpected exceptions, and the chosen statuses."""

    def __init__(self, recorder: Any, statuses: frozenset[int]) -> None:
        self.recorder = recorder
        self.statuses = statuses

    def __call__(self, error: BaseException, status: int) -> None:
        expected = isinstance(error, AppError | HTTPException)
        if not expected or status in self.statuses:
            self.recorder.record(error, status)


def _open_recorder(app: Flask, state: Any) -> Any:
    from pathlib import Path

    from .logs import request_breadcrumbs
    from .recording import ErrorRecorder
    from .store import MemoryErrorStore, StoreLimits, open_store

    kind = state.setting("PRODREADY_ERROR_STORE")
    if kind == "none":
        return None
    url = state.setting("PRODREADY_ERROR_STORE_URL")
    if kind == "redis" and not url:
        from .exceptions import ConfigError, ConfigProblem

        raise ConfigError(
            [
                ConfigProblem(
                    "PRODREADY_ERROR_STORE_URL",
                    'is required when PRODREADY_ERROR_STORE = "redis"',
                    state.settings.where_to_set("PRODREADY_ERROR_STORE_URL"),
                )
            ],
            state.environment,
        )
    limits = StoreLimits(
        max_groups=state.setting("PRODREADY_ERROR_STORE_MAX_GROUPS"),
        max_occurrences=state.setting("PRODREADY_ERROR_STORE_MAX_OCCURRENCES"),
        retention_seconds=state.setting("PRODREADY_ERROR_STORE_RETENTION_HOURS") * 3600,
    )
    path = state.setting("PRODREADY_ERROR_STORE_PATH") or str(
        Path(app.instance_path) / "prodready-errors.sqlite3"
    )
    try:
        store = open_store(kind, path=path, url=url, limits=limits)
    except Exception as exc:  # a read-only disk must not stop the app: keep errors in memory
        logger.bind(logger="flask_prodready.errors").error(
            "cannot open the {} error store ({}); recording errors in memory instead", kind, exc
        )
        store = MemoryErrorStore(limits)
    return ErrorRecorder(store, breadcrumbs=request_breadcrumbs, components=state.components)
