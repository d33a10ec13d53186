"""Who may see the dashboard, the session cookie of token logins, CSRF and login throttling.

Modes, set in the settings (several may be set; any one lets a request in):

- **token**: a login form asks for ``PRODREADY_DASHBOARD_TOKEN`` and sets a signed,
  HttpOnly, ``SameSite=Strict`` cookie (``Secure`` under HTTPS);
- **basic**: HTTP basic auth against ``PRODREADY_DASHBOARD_USERNAME`` and the werkzeug hash
  ``PRODREADY_DASHBOARD_PASSWORD_HASH``;
- **callable**: ``PRODREADY_DASHBOARD_AUTHORISER()`` answers true.

With no mode the dashboard is open to loopback clients in development and not served at all
in production. Comparisons are constant-time; failed logins are throttled per client.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import importlib
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from flask import Flask, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.security import check_password_hash

from flask_prodready.access import AccessPolicy
from flask_prodready.exceptions import SetupError

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "DashboardAccess",
    "Decision",
    "LoginThrottle",
]

#: The cookie of a token login.
SESSION_COOKIE = "prodready_dashboard"
#: The cookie holding the CSRF secret; forms and htmx send it back as below.
CSRF_COOKIE = "prodready_csrf"
#: The form field carrying the CSRF token.
CSRF_FIELD = "csrf_token"
#: The header htmx sends the CSRF token in (``hx-headers``).
CSRF_HEADER = "X-CSRF-Token"
_SESSION_SALT = "flask-prodready-dashboard-session"
_SESSION_VALUE = "token-login"


class Decision(Enum):
    """The outcome of :meth:`DashboardAccess.check`.

    .. versionadded:: 0.1
    """

    ALLOWED = "allowed"
    LOGIN = "login"  # send the browser to the token login form
    CHALLENGE = "challenge"  # 401 with WWW-Authenticate: Basic
    FORBIDDEN = "forbidden"


@dataclass
class LoginThrottle:
    """Failed logins per client address within a minute, bounded in memory (per process).

    :param attempts: failures allowed per client and minute.
    :param window: the window in seconds.
    :param max_clients: clients remembered; the least recent are forgotten first.

    .. versionadded:: 0.1
    """

    attempts: int
    window: float = 60.0
    max_clients: int = 10_000
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def blocked(self, client: str) -> bool:
        """Whether ``client`` used up its attempts."""
        now = time.monotonic()
        with self._lock:
            recent = self._failures.get(client)
            if recent is None:
                return False
            while recent and recent[0] <= now - self.window:
                recent.popleft()
            return len(recent) >= self.attempts

    def failed(self, client: str) -> None:
        """Count one failure of ``client``."""
        with self._lock:
            recent = self._failures.pop(client, None) or deque(maxlen=self.attempts)
            recent.append(time.monotonic())
            self._failures[client] = recent
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)


@dataclass(frozen=True)
class DashboardAccess:
    """The dashboard's access rule for one app, built once from the settings.

    :param token: the login token (token mode), or ``None``.
    :param username: the basic auth user (basic mode), or ``None``.
    :param password_hash: the werkzeug hash of the basic auth password.
    :param authoriser: the callable of callable mode, or ``None``.
    :param secret: the key that signs session cookies.
    :param session_seconds: how long a token login lasts.
    :param throttle: failed-login counting.

    .. versionadded:: 0.1
    """

    token: str | None
    username: str | None
    password_hash: str | None
    authoriser: Callable[[], Any] | None
    secret: bytes
    session_seconds: int
    throttle: LoginThrottle

    @classmethod
    def from_settings(cls, app: Flask, values: dict[str, Any]) -> DashboardAccess:
        """Build the rule from the validated ``PRODREADY_DASHBOARD_*`` values.

        :raises SetupError: for half a basic mode, or an authoriser that cannot be imported.
        """
        token = values["PRODREADY_DASHBOARD_TOKEN"]
        username = values["PRODREADY_DASHBOARD_USERNAME"]
        password_hash = values["PRODREADY_DASHBOARD_PASSWORD_HASH"]
        if bool(username) != bool(password_hash):
            raise SetupError(
                "the dashboard's basic mode needs both PRODREADY_DASHBOARD_USERNAME and "
                "PRODREADY_DASHBOARD_PASSWORD_HASH (a werkzeug generate_password_hash value)"
            )
        key = hashlib.sha256(
            b"flask-prodready-dashboard\0"
            + str(app.secret_key or "").encode()
            + b"\0"
            + (token or "").encode()
        ).digest()
        return cls(
            token=token,
            username=username,
            password_hash=password_hash,
            authoriser=_load_authoriser(values["PRODREADY_DASHBOARD_AUTHORISER"]),
            secret=key,
            session_seconds=values["PRODREADY_DASHBOARD_SESSION_SECONDS"],
            throttle=LoginThrottle(values["PRODREADY_DASHBOARD_LOGIN_ATTEMPTS"]),
        )

    @property
    def modes(self) -> tuple[str, ...]:
        """The modes set: ``token``, ``basic``, ``callable``; empty for none."""
        modes = []
        if self.token:
            modes.append("token")
        if self.username:
            modes.append("basic")
        if self.authoriser is not None:
            modes.append("callable")
        return tuple(modes)

    def check(self, request: Request) -> Decision:
        """Decide for ``request``. With no mode set, loopback clients only."""
        if not self.modes:
            return Decision.ALLOWED if _LOOPBACK.allows(request) else Decision.FORBIDDEN
        if self.authoriser is not None and self.authoriser():
            return Decision.ALLOWED
        if self.token and self.valid_session(request.cookies.get(SESSION_COOKIE)):
            return Decision.ALLOWED
        if self.username:
            credentials = _basic_credentials(request)
            if credentials is not None:
                client = str(request.remote_addr)
                if not self.throttle.blocked(client) and self._basic_ok(*credentials):
                    return Decision.ALLOWED
                self.throttle.failed(client)
            return Decision.CHALLENGE
        if self.token:
            return Decision.LOGIN
        return Decision.FORBIDDEN

    def _basic_ok(self, username: str, password: str) -> bool:
        assert self.username is not None
        assert self.password_hash is not None
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        # Always hash, so a wrong user name takes as long as a wrong password.
        password_ok = check_password_hash(self.password_hash, password)
        return user_ok and password_ok

    def token_matches(self, presented: str) -> bool:
        """Whether ``presented`` is the login token (constant-time)."""
        return bool(self.token) and hmac.compare_digest(
            presented.encode(), (self.token or "").encode()
        )

    def new_session(self) -> str:
        """A signed session cookie value for a successful token login."""
        return str(self._serializer().dumps(_SESSION_VALUE))

    def valid_session(self, value: str | None) -> bool:
        """Whether ``value`` is a session cookie signed by us and not expired."""
        if not value:
            return False
        try:
            loaded = self._serializer().loads(value, max_age=self.session_seconds)
        except BadSignature:
            return False
        return bool(loaded == _SESSION_VALUE)

    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret, salt=_SESSION_SALT)


_LOOPBACK = AccessPolicy()


def new_csrf_secret() -> str:
    """A fresh random CSRF secret for the CSRF cookie."""
    return secrets.token_urlsafe(32)


def csrf_ok(request: Request) -> bool:
    """Whether the request carries the CSRF token of its CSRF cookie (constant-time)."""
    expected = request.cookies.get(CSRF_COOKIE, "")
    presented = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD, "")
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def _load_authoriser(value: Any) -> Callable[[], Any] | None:
    if value is None:
        return None
    if callable(value):
        given: Callable[[], Any] = value
        return given
    module_name, _, attribute = str(value).partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise SetupError(
            f"PRODREADY_DASHBOARD_AUTHORISER names {value!r}, which cannot be imported: {exc}"
        ) from None
    if not callable(target):
        raise SetupError(f"PRODREADY_DASHBOARD_AUTHORISER names {value!r}, which is not callable")
    authoriser: Callable[[], Any] = target
    return authoriser
