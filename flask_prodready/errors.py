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

import functools
import html
import os
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar, cast

from flask import Flask, Response, got_request_exception, request
from flask.typing import ResponseReturnValue
from loguru import logger
from werkzeug.exceptions import HTTPException, InternalServerError, default_exceptions
from werkzeug.http import HTTP_STATUS_CODES

from .request_id import request_id

if TYPE_CHECKING:
    from .recording import ErrorRecorder
    from .state import ProdReadyState
    from .store import ErrorStore

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


def init_errors(app: Flask, state: ProdReadyState) -> None:
    """Register the problem-document handlers on ``app`` (the ``errors`` part).

    The app's own choices win: a handler is registered only where the app (or an extension
    such as flask-smorest) has none, and whatever the order of set-up an error that the app
    or a blueprint already handles (by status code or by exception class) is answered by
    that handler. Unexpected exceptions are recorded whoever answers them: through Flask's
    ``got_request_exception`` signal, and for the app's own 5xx answers to exceptions.

    With ``PRODREADY_ERRORS_TAKE_OVER`` on, every status code without an app-level handler of
    the app's own gets a per-code problem handler, which takes precedence over class-level
    ``HTTPException`` handlers such as flask-smorest's.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
        Handlers fill gaps only; ``PRODREADY_ERRORS_TAKE_OVER`` brings back problem documents
        for everything.
    """
    handlers = ErrorHandlers(
        json_only=state.setting("PRODREADY_ERRORS_FORMAT") == "json",
        type_base=state.setting("PRODREADY_ERRORS_TYPE_BASE"),
        state=state,
    )
    recorder = _lazy_recorder(app, state)
    if recorder is not None:
        handlers.record = _Recording(
            recorder, frozenset(state.setting("PRODREADY_ERRORS_RECORD_STATUSES"))
        )
        state.error_recorder = recorder
        state.error_store = recorder.store
    state.error_handlers = handlers
    own = app.error_handler_spec[None]
    _register_missing(app, own[None], AppError, handlers.handle_app_error)
    _register_missing(app, own[None], HTTPException, handlers.handle_http_exception)
    if state.setting("PRODREADY_ERRORS_TAKE_OVER"):
        for code, kind in default_exceptions.items():
            _register_missing(app, own[code], kind, handlers.handle_http_exception, code=code)
    got_request_exception.connect(_on_unhandled, app, weak=False)
    _record_after_logging(app)
    _watch_app_handlers(app)


def _register_missing(
    app: Flask,
    existing: Mapping[type, Any],
    kind: type[Exception],
    handler: Callable[[Any], ResponseReturnValue],
    code: int | None = None,
) -> None:
    if kind not in existing:
        app.register_error_handler(code if code is not None else kind, handler)


def _handlers_of(app: Flask) -> ErrorHandlers | None:
    from .state import EXTENSION_KEY

    state: ProdReadyState | None = app.extensions.get(EXTENSION_KEY)
    return state.error_handlers if state is not None else None


def _on_unhandled(sender: Flask, exception: BaseException, **extra: Any) -> None:
    """``got_request_exception``: an exception that no handler of the app answered.

    When Flask propagates it (testing, debug) it logs nothing, so the line and the record
    are ours to make here; otherwise Flask logs it next (``log_exception``), and it is
    recorded after that line, so that the line is among the request's breadcrumbs.
    """
    if not _propagating():
        return
    handlers = _handlers_of(sender)
    if handlers is None:
        return
    logger.opt(exception=exception).error(
        "unhandled {} on {} {}", type(exception).__name__, request.method, request.path
    )
    handlers.record_unexpected(exception)


def _record_after_logging(app: Flask) -> None:
    """Record what Flask's ``log_exception`` logs, right after the line it writes to
    ``app.logger`` (wrapped on this app object; the logging itself is untouched)."""
    original = app.log_exception

    @functools.wraps(original)
    def log_exception(exc_info: Any) -> None:
        original(exc_info)
        handlers = _handlers_of(app)
        error = exc_info[1] if isinstance(exc_info, tuple) else None
        if handlers is not None and isinstance(error, BaseException):
            handlers.record_unexpected(error)

    app.log_exception = log_exception  # type: ignore[method-assign]


def _watch_app_handlers(app: Flask) -> None:
    """Record exceptions that the app's own handler answers with a 5xx status.

    Flask sends no signal when a handler of the app answers (``@app.errorhandler(Exception)``
    rendering an error page), so ``handle_user_exception`` is wrapped on this app object;
    the answer itself is the handler's, untouched.
    """
    original = app.handle_user_exception

    @functools.wraps(original)
    def handle_user_exception(error: Exception) -> Any:
        answer = original(error)
        if not isinstance(error, HTTPException | AppError):
            status = _status_of(answer)
            if status >= 500:
                handlers = _handlers_of(app)
                if handlers is not None:
                    logger.opt(exception=error).error(
                        "{} on {} {} answered {} by the app's own error handler",
                        type(error).__name__,
                        request.method,
                        request.path,
                        status,
                    )
                    metrics = handlers._state.metrics if handlers._state else None
                    if metrics is not None:
                        metrics.count_exception(error)
                    handlers.record_unexpected(error, status)
        return answer

    app.handle_user_exception = handle_user_exception  # type: ignore[method-assign,assignment]


def _status_of(answer: Any) -> int:
    """The status of a view or handler return value, as Flask's ``make_response`` reads it."""
    status: Any = 200
    if isinstance(answer, tuple):
        if len(answer) >= 2 and isinstance(answer[1], int | str | HTTPStatus):
            status = answer[1]
        answer = answer[0]
    elif hasattr(answer, "status_code"):
        status = answer.status_code
    if status == 200 and hasattr(answer, "status_code"):
        status = answer.status_code
    try:
        return int(str(status).split()[0]) if isinstance(status, str) else int(status)
    except (ValueError, IndexError):
        return 200


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


def _lazy_recorder(app: Flask, state: ProdReadyState) -> ErrorRecorder | None:
    """The error recorder, over a store that opens on first use and closes with the app."""
    import weakref

    from .logs import request_breadcrumbs
    from .recording import ErrorRecorder
    from .store import StoreLimits, open_store
    from .store.lazy import LazyStore

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
    path = state.setting("PRODREADY_ERROR_STORE_PATH") or os.path.join(
        app.instance_path, "prodready-errors.sqlite3"
    )
    store = LazyStore(
        lambda: open_store(kind, path=path, url=url, limits=limits), kind=kind, limits=limits
    )
    # An app per test must not leave a file or a connection pool behind.
    weakref.finalize(app, store.retire)
    return ErrorRecorder(cast("ErrorStore", store), breadcrumbs=request_breadcrumbs, state=state)
