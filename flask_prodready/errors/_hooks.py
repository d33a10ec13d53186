"""The hooks that record unexpected exceptions, whoever answers them.

An exception that reaches Flask's ``handle_exception`` is logged and recorded once: through
``got_request_exception`` when Flask propagates it (testing, debug), else right after the line
Flask's ``log_exception`` writes. An exception that the app's own handler answers with a 5xx
status is logged, counted and recorded too; the answer stays the handler's.
"""

from __future__ import annotations

import functools
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from flask import Flask, request
from loguru import logger
from werkzeug.exceptions import HTTPException

from .family import AppError

if TYPE_CHECKING:
    from flask_prodready.state import ProdReadyState

    from .handlers import ErrorHandlers

# init_errors installs these hooks. The lines they log name the errors part's logger, whichever
# module logs them, and their function: renaming a hook changes its lines.
_logger = logger.bind(logger="flask_prodready.errors")


def _propagating() -> bool:
    from flask import current_app

    propagate = current_app.config.get("PROPAGATE_EXCEPTIONS")
    if propagate is None:
        return bool(current_app.testing or current_app.debug)
    return bool(propagate)


def _handlers_of(app: Flask) -> ErrorHandlers | None:
    from flask_prodready.state import EXTENSION_KEY

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
    _logger.opt(exception=exception).error(
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
                    _logger.opt(exception=error).error(
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
