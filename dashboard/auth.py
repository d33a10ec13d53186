"""Who may see the dashboard: the access modes, and the rule that decides for each request.

Modes, set in the settings (several may be set; any one lets a request in):

- **token**: a login form asks for ``PRODREADY_DASHBOARD_TOKEN`` and sets a signed,
  HttpOnly, ``SameSite=Strict`` cookie (``Secure`` under HTTPS);
- **basic**: HTTP basic auth against ``PRODREADY_DASHBOARD_USERNAME`` and the werkzeug hash
  ``PRODREADY_DASHBOARD_PASSWORD_HASH``;
- **callable**: ``PRODREADY_DASHBOARD_AUTHORISER()`` answers true.

With no mode the dashboard is open to loopback clients in development and not served at all
in production. Comparisons are constant-time.

A basic auth header that passed the password hash is remembered, as a keyed digest, for the
session's length (:class:`VerifiedHeaders`). The rest lives in modules of its own, whose
names this module re-exports: the sessions of token logins and their revocation
(:mod:`~flask_prodready.dashboard.sessions`), the throttling of failed logins
(:mod:`~flask_prodready.dashboard.throttle`) and CSRF (:mod:`~flask_prodready.dashboard.csrf`).
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
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from flask import Flask, Request
from werkzeug.security import check_password_hash

from flask_prodready.access import AccessPolicy
from flask_prodready.exceptions import SetupError
from flask_prodready.store import ErrorStore

from .csrf import CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, csrf_ok, new_csrf_secret
from .sessions import (
    MAX_REVOKED,
    SESSION_COOKIE,
    SESSION_PREFIX,
    Session,
    SessionRevocations,
    read_session_cookie,
    session_cookie,
)
from .throttle import (
    DEVICE_COOKIE,
    DEVICE_SECONDS,
    LoginThrottle,
    device_cookie,
    read_device_cookie,
)

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "DEVICE_COOKIE",
    "DEVICE_SECONDS",
    "MAX_REVOKED",
    "SESSION_COOKIE",
    "SESSION_PREFIX",
    "DashboardAccess",
    "Decision",
    "Grant",
    "LoginThrottle",
    "Session",
    "SessionRevocations",
    "VerifiedHeaders",
    "csrf_ok",
    "new_csrf_secret",
]


class Decision(Enum):
    """The outcome of :meth:`DashboardAccess.check`.

    .. versionadded:: 0.1
    """

    ALLOWED = "allowed"
    LOGIN = "login"  # send the browser to the token login form
    CHALLENGE = "challenge"  # 401 with WWW-Authenticate: Basic
    FORBIDDEN = "forbidden"


@dataclass
class VerifiedHeaders:
    """Basic auth headers that passed the password hash, so the hash runs once per session.

    Only an HMAC of the header under a random key of this process is kept, never the header;
    a changed password or user name is a different header and is verified again.

    :param seconds: how long one verification holds.
    :param size: headers remembered; the least recent are forgotten first.
    :param clock: the monotonic clock (tests replace it).

    .. versionadded:: 0.2
    """

    seconds: float
    size: int = 256
    clock: Callable[[], float] = time.monotonic
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _until: OrderedDict[bytes, float] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def digest(self, header: str) -> bytes:
        """The keyed digest of an ``Authorization`` header value."""
        return hmac.new(self._key, header.encode("utf-8", "surrogateescape"), "sha256").digest()

    def known(self, digest: bytes) -> bool:
        """Whether the header of ``digest`` was verified less than ``seconds`` ago."""
        with self._lock:
            until = self._until.get(digest)
            if until is None:
                return False
            if until <= self.clock():
                del self._until[digest]
                return False
            self._until.move_to_end(digest)
            return True

    def add(self, digest: bytes) -> None:
        """Remember that the header of ``digest`` passed the hash."""
        with self._lock:
            self._until[digest] = self.clock() + self.seconds
            self._until.move_to_end(digest)
            while len(self._until) > self.size:
                self._until.popitem(last=False)


@dataclass(frozen=True)
class Grant:
    """What :meth:`DashboardAccess.grant` decided, and what it used.

    :param decision: let in, or how to refuse.
    :param session: the token session that let the request in, if one did.
    :param new_device: a fresh basic verification by a browser without the device cookie,
        which the response should set.

    .. versionadded:: 0.2
    """

    decision: Decision
    session: Session | None = None
    new_device: bool = False


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
    :param revocations: sessions ended by a logout; by default for ``session_seconds``.
    :param verified: basic auth headers that passed the hash; by default for
        ``session_seconds``.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       ``revocations`` and ``verified``.
    """

    token: str | None
    username: str | None
    password_hash: str | None
    authoriser: Callable[[], Any] | None
    secret: bytes
    session_seconds: int
    throttle: LoginThrottle
    revocations: SessionRevocations | None = None
    verified: VerifiedHeaders | None = None

    def __post_init__(self) -> None:
        if self.revocations is None:
            object.__setattr__(self, "revocations", SessionRevocations(self.session_seconds))
        if self.verified is None:
            object.__setattr__(self, "verified", VerifiedHeaders(self.session_seconds))

    @classmethod
    def from_settings(cls, app: Flask, values: Mapping[str, Any]) -> DashboardAccess:
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

    def check(self, request: Request, store: ErrorStore | None = None) -> Decision:
        """Decide for ``request``. With no mode set, loopback clients only.

        :param store: where session revocations are shared; without one, only this
            process's logouts are known.
        """
        return self.grant(request, store).decision

    def grant(self, request: Request, store: ErrorStore | None = None) -> Grant:
        """Decide for ``request``, and say which session let it in; see :meth:`check`."""
        if not self.modes:
            allowed = _LOOPBACK.allows(request)
            return Grant(Decision.ALLOWED if allowed else Decision.FORBIDDEN)
        if self.authoriser is not None and self.authoriser():
            return Grant(Decision.ALLOWED)
        if self.token:
            session = self.session(request.cookies.get(SESSION_COOKIE), store)
            if session is not None:
                return Grant(Decision.ALLOWED, session=session)
        if self.username:
            return self._basic(request)
        if self.token:
            return Grant(Decision.LOGIN)
        return Grant(Decision.FORBIDDEN)

    def _basic(self, request: Request) -> Grant:
        credentials = _basic_credentials(request)
        if credentials is None:
            return Grant(Decision.CHALLENGE)
        assert self.verified is not None
        digest = self.verified.digest(request.headers.get("Authorization", ""))
        if self.verified.known(digest):
            return Grant(Decision.ALLOWED)  # verified before: no hash, and never throttled
        key, trusted = self.client_key(request, credentials[0])
        if self.throttle.blocked(key, trusted):
            return Grant(Decision.CHALLENGE)
        if not self._basic_ok(*credentials):
            self.throttle.failed(key)
            return Grant(Decision.CHALLENGE)
        self.verified.add(digest)
        return Grant(Decision.ALLOWED, new_device=not trusted)

    def _basic_ok(self, username: str, password: str) -> bool:
        assert self.username is not None
        assert self.password_hash is not None
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        # Always hash, so a wrong user name takes as long as a wrong password.
        password_ok = check_password_hash(self.password_hash, password)
        return user_ok and password_ok

    def client_key(self, request: Request, username: str) -> tuple[str, bool]:
        """The throttling key of a login by ``username``, and whether it is trusted.

        The client is the browser when it carries a valid device cookie (trusted: it signed
        in before), else its address.
        """
        device = self.device(request.cookies.get(DEVICE_COOKIE))
        client = f"device:{device}" if device else f"address:{request.remote_addr}"
        return f"{client}\0{username}", device is not None

    def token_matches(self, presented: str) -> bool:
        """Whether ``presented`` is the login token (constant-time)."""
        return bool(self.token) and hmac.compare_digest(
            presented.encode(), (self.token or "").encode()
        )

    def new_session(self, store: ErrorStore | None = None) -> str:
        """A signed session cookie value for a successful token login.

        The session is *offline* when ``store`` cannot be reached now; see
        :class:`SessionRevocations`.
        """
        assert self.revocations is not None
        return session_cookie(self.secret, offline=not self.revocations.reachable(store))

    def session(self, value: str | None, store: ErrorStore | None = None) -> Session | None:
        """The session of cookie ``value``: signed by us, not expired, not revoked."""
        session = read_session_cookie(self.secret, value, self.session_seconds)
        if session is None:
            return None
        assert self.revocations is not None
        return None if self.revocations.revoked(session, store) else session

    def valid_session(self, value: str | None, store: ErrorStore | None = None) -> bool:
        """Whether ``value`` is a session cookie signed by us, not expired and not revoked."""
        return self.session(value, store) is not None

    def revoke(self, session: Session, store: ErrorStore | None = None) -> None:
        """End ``session`` in every worker (logout)."""
        assert self.revocations is not None
        self.revocations.revoke(session, store)

    def session_csrf(self, session: Session) -> str:
        """The CSRF token of a signed-in browser, derived from its session.

        A CSRF cookie planted before the login (or after it) does not know it.
        """
        digest = hmac.new(self.secret, b"csrf\0" + session.sid.encode(), "sha256").digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def new_device(self) -> str:
        """A signed device cookie value, set after a successful login."""
        return device_cookie(self._device_key())

    def device(self, value: str | None) -> str | None:
        """The device id in cookie ``value``, when signed by us and not expired."""
        return read_device_cookie(self._device_key(), value)

    def _device_key(self) -> bytes:
        # The password hash joins the key: without a SECRET_KEY and a token, the rest is public.
        return hashlib.sha256(self.secret + (self.password_hash or "").encode()).digest()


_LOOPBACK = AccessPolicy()


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
