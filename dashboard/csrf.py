"""The dashboard's CSRF protection: a random secret in a cookie, sent back with every form.

Every POST carries the token in the form field :data:`CSRF_FIELD` or, from htmx, in the
header :data:`CSRF_HEADER`. Before a login the token is the value of the cookie
:data:`CSRF_COOKIE`; a signed-in browser's is derived from its session instead
(:meth:`~flask_prodready.dashboard.auth.DashboardAccess.session_csrf`), so a cookie planted
before the login is worth nothing after it.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Request

__all__ = ["CSRF_COOKIE", "CSRF_FIELD", "CSRF_HEADER", "csrf_ok", "new_csrf_secret"]

#: The cookie holding the CSRF secret; forms and htmx send it back as below.
CSRF_COOKIE = "prodready_csrf"
#: The form field carrying the CSRF token.
CSRF_FIELD = "csrf_token"
#: The header htmx sends the CSRF token in (``hx-headers``).
CSRF_HEADER = "X-CSRF-Token"


def new_csrf_secret() -> str:
    """A fresh random CSRF secret for the CSRF cookie.

    .. versionadded:: 0.1
    """
    return secrets.token_urlsafe(32)


def csrf_ok(request: Request, expected: str | None = None) -> bool:
    """Whether the request carries the CSRF token (constant-time).

    :param expected: the token; by default the value of the CSRF cookie. A signed-in
        browser's is :meth:`~flask_prodready.dashboard.auth.DashboardAccess.session_csrf`.

    .. versionadded:: 0.1
    """
    if expected is None:
        expected = request.cookies.get(CSRF_COOKIE, "")
    presented = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())
