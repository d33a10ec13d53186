"""The AppError family: the application's own errors, each with its status and stable code.

Raise these, or your own subclasses, from views; the hierarchy, with each status and code,
is drawn in :mod:`flask_prodready.errors`. The errors part answers each with its problem
document (:mod:`~flask_prodready.errors.problems`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from werkzeug.http import HTTP_STATUS_CODES

__all__ = [
    "AppError",
    "BadRequestError",
    "ConflictError",
    "DependencyError",
    "ForbiddenError",
    "NotFoundError",
    "RateLimitedError",
    "UnauthorizedError",
    "ValidationError",
]


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


# The family is defined here but belongs to flask_prodready.errors: the qualified type name,
# such as flask_prodready.errors.NotFoundError, is part of error fingerprints, of the
# ``type`` label of prodready_exceptions_total and of log lines, so it must not move with
# the code.
for _kind in (
    AppError,
    BadRequestError,
    UnauthorizedError,
    ForbiddenError,
    NotFoundError,
    ConflictError,
    ValidationError,
    RateLimitedError,
    DependencyError,
):
    _kind.__module__ = "flask_prodready.errors"
del _kind
