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

One module per job, every name importable from here:

- :mod:`~flask_prodready.errors.family`: :class:`AppError` and its subclasses;
- :mod:`~flask_prodready.errors.problems`: :func:`problem_document`,
  :func:`problem_response` and the HTML page;
- :mod:`~flask_prodready.errors.handlers`: the handlers that answer with problem documents;
- ``_hooks``, private to the package: recording unexpected exceptions, whoever answers.

This module sets the part up: :func:`init_errors`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from flask import Flask, got_request_exception
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, default_exceptions

from ._hooks import _on_unhandled, _record_after_logging, _watch_app_handlers
from .family import AppError as AppError
from .family import BadRequestError as BadRequestError
from .family import ConflictError as ConflictError
from .family import DependencyError as DependencyError
from .family import ForbiddenError as ForbiddenError
from .family import NotFoundError as NotFoundError
from .family import RateLimitedError as RateLimitedError
from .family import UnauthorizedError as UnauthorizedError
from .family import ValidationError as ValidationError
from .handlers import ErrorHandlers as ErrorHandlers
from .handlers import _Recording
from .handlers import smorest_errors as smorest_errors
from .problems import PROBLEM_CONTENT_TYPE as PROBLEM_CONTENT_TYPE
from .problems import problem_document as problem_document
from .problems import problem_response as problem_response

if TYPE_CHECKING:
    from flask_prodready.recording import ErrorRecorder
    from flask_prodready.state import ProdReadyState
    from flask_prodready.store import ErrorStore

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


def _lazy_recorder(app: Flask, state: ProdReadyState) -> ErrorRecorder | None:
    """The error recorder, over a store that opens on first use and closes with the app."""
    import weakref

    from flask_prodready.logs import request_breadcrumbs
    from flask_prodready.recording import ErrorRecorder
    from flask_prodready.store import StoreLimits, open_store
    from flask_prodready.store.lazy import LazyStore

    kind = state.setting("PRODREADY_ERROR_STORE")
    if kind == "none":
        return None
    url = state.setting("PRODREADY_ERROR_STORE_URL")
    if kind == "redis" and not url:
        from flask_prodready.exceptions import ConfigError, ConfigProblem

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
