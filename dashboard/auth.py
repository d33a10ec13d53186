"""Who may see the dashboard, the session cookie of token logins, CSRF and login throttling.

Modes, set in the settings (several may be set; any one lets a request in):

- **token**: a login form asks for ``PRODREADY_DASHBOARD_TOKEN`` and sets a signed,
  HttpOnly, ``SameSite=Strict`` cookie (``Secure`` under HTTPS);
- **basic**: HTTP basic auth against ``PRODREADY_DASHBOARD_USERNAME`` and the werkzeug hash
  ``PRODREADY_DASHBOARD_PASSWORD_HASH``;
- **callable**: ``PRODREADY_DASHBOARD_AUTHORISER()`` answers true.

With no mode the dashboard is open to loopback clients in development and not served at all
in production. Comparisons are constant-time.

Sessions (token mode) carry a random id; a logout revokes it in the store's shared key/value,
so every worker refuses the cookie afterwards (:class:`SessionRevocations`). The CSRF token of
a signed-in browser is derived from its session, so a value planted before login is worthless
after it. A basic auth header that passed the password hash is remembered, as a keyed digest,
for the session's length (:class:`VerifiedHeaders`). Failed logins are throttled per client and
user name, with a cap over all clients that never applies to a browser that signed in before
(:class:`LoginThrottle`).
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
from loguru import logger
from werkzeug.security import check_password_hash

from flask_prodready.access import AccessPolicy
from flask_prodready.exceptions import SetupError
from flask_prodready.redaction import redact_url_passwords
from flask_prodready.store import ErrorStore

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
]

#: The cookie of a token login.
SESSION_COOKIE = "prodready_dashboard"
#: The cookie holding the CSRF secret; forms and htmx send it back as below.
CSRF_COOKIE = "prodready_csrf"
#: The form field carrying the CSRF token.
CSRF_FIELD = "csrf_token"
#: The header htmx sends the CSRF token in (``hx-headers``).
CSRF_HEADER = "X-CSRF-Token"
#: The cookie that marks a browser which signed in before: a throttling key, not a credential.
DEVICE_COOKIE = "prodready_device"
#: How long the device cookie lasts; every successful login renews it.
DEVICE_SECONDS = 90 * 24 * 3600
#: Key prefix of the session revocations in the store's shared key/value.
SESSION_PREFIX = "dashboard_session:"
#: Revoked sessions kept in the store; one more logout ends every session begun before it.
MAX_REVOKED = 100
_REVOKED_PREFIX = SESSION_PREFIX + "revoked:"
_NOT_BEFORE_KEY = SESSION_PREFIX + "not_before"
_SESSION_SALT = "flask-prodready-dashboard-session-v2"
_DEVICE_SALT = "flask-prodready-dashboard-device"


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
    """Failed logins per key within a sliding window, and over all keys (per process).

    A key is one client and one user name (see :meth:`DashboardAccess.client_key`). A key
    with ``attempts`` failures in the last ``window`` seconds is refused until the oldest of
    them leaves the window, so an attacker can hold back only the key they share.
    Past ``global_attempts`` failures of all keys together in the window, clients that never
    signed in before are refused too; a *trusted* key (a browser with the device cookie of an
    earlier login) is never held back by the failures of others.

    :param attempts: failures allowed per key and window.
    :param window: the window in seconds.
    :param global_attempts: failures allowed over all keys and window before untrusted clients
        are refused; ``0`` for ten times ``attempts``.
    :param max_clients: keys remembered; the least recent are forgotten first.
    :param clock: the monotonic clock (tests replace it).

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       Keys are a client and a user name; a cap over all keys; trusted keys.
    """

    attempts: int
    window: float = 60.0
    global_attempts: int = 0
    max_clients: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)
    _all: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.global_attempts <= 0:
            self.global_attempts = 10 * self.attempts
        self._all = deque(maxlen=self.global_attempts)

    def blocked(self, key: str, trusted: bool = False) -> bool:
        """Whether ``key`` may not try now: its own failures, or (untrusted) everyone's."""
        horizon = self.clock() - self.window
        with self._lock:
            recent = self._failures.get(key)
            if recent is not None:
                while recent and recent[0] <= horizon:
                    recent.popleft()
                if len(recent) >= self.attempts:
                    return True
            if trusted:
                return False
            while self._all and self._all[0] <= horizon:
                self._all.popleft()
            return len(self._all) >= self.global_attempts

    def failed(self, key: str) -> None:
        """Count one failure of ``key``."""
        now = self.clock()
        with self._lock:
            recent = self._failures.pop(key, None) or deque(maxlen=self.attempts)
            recent.append(now)
            self._failures[key] = recent
            self._all.append(now)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)


@dataclass(frozen=True)
class Session:
    """One token login, as its signed cookie says.

    :param sid: the random session id.
    :param issued: when it began, in seconds since the epoch.
    :param offline: begun while the store could not be reached.

    .. versionadded:: 0.2
    """

    sid: str
    issued: float
    offline: bool = False


@dataclass
class SessionRevocations:
    """Sessions ended by a logout, shared by every worker through the store's key/value.

    A logout adds ``dashboard_session:revoked:<id>`` (until the session would have expired
    anyway); every check of a session cookie reads them, so a logout in one worker is honoured
    by all the others at once. At most :data:`MAX_REVOKED` are kept: past that, one logout
    sets ``dashboard_session:not_before`` instead, which ends every session begun before it.

    When the store cannot be read (or is backing off after a failure), the check fails
    closed for sessions begun before the outage: they are refused, since one of them may
    have been revoked by another worker. A login during the outage begins an *offline*
    session, which is let in until the store is back and then checked as usual, so the
    dashboard stays reachable; one from an earlier outage is refused by a worker that has
    read the store since it began. A logout during the outage is honoured at once by the
    worker that served it, and written to the store when it answers again.

    :param seconds: how long a session lasts.
    :param backoff: seconds to leave a failing store alone.
    :param max_revoked: revoked sessions kept in the store.
    :param max_local: this process's own logouts remembered; the oldest are forgotten first.
    :param failures: store failures counted so far.

    .. versionadded:: 0.2
    """

    seconds: float
    backoff: float = 5.0
    max_revoked: int = MAX_REVOKED
    max_local: int = 10_000
    failures: int = 0
    _local: OrderedDict[str, float] = field(default_factory=OrderedDict)
    _pending: dict[str, float] = field(default_factory=dict)
    _failed_at: float = float("-inf")
    _last_read: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reachable(self, store: ErrorStore | None) -> bool:
        """Whether the store answers now (or there is none); writes pending revocations."""
        return store is None or self._read(store) is not None

    def revoked(self, session: Session, store: ErrorStore | None) -> bool:
        """Whether ``session`` was ended by a logout, in any worker; see the class."""
        now = time.time()
        with self._lock:
            for sid in [sid for sid, until in self._local.items() if until <= now]:
                del self._local[sid]
            if session.sid in self._local:
                return True
        if store is None:
            return False  # nothing shared: only this worker's logouts are known
        shared = self._read(store)
        if shared is None:
            return not session.offline or session.issued <= self._last_read
        return _REVOKED_PREFIX + session.sid in shared or session.issued <= _float(
            shared.get(_NOT_BEFORE_KEY)
        )

    def revoke(self, session: Session, store: ErrorStore | None) -> None:
        """End ``session`` here at once, and in every worker through the store."""
        until = session.issued + self.seconds
        with self._lock:
            self._local[session.sid] = until
            while len(self._local) > self.max_local:
                self._local.popitem(last=False)
            if store is not None:
                self._pending[session.sid] = until
        if store is not None:
            self._read(store)  # writes it, or keeps it pending until the store answers

    def _read(self, store: ErrorStore) -> dict[str, str] | None:
        if time.monotonic() < self._failed_at + self.backoff:
            return None
        try:
            shared = store.values(SESSION_PREFIX)
            with self._lock:
                pending = dict(self._pending)
            for sid, until in pending.items():
                self._write(store, shared, sid, until)
                with self._lock:
                    self._pending.pop(sid, None)
            self._last_read = time.time()
        except Exception as exc:  # any store failure: refuse old sessions, never answer 500
            self._failed_at = time.monotonic()
            self.failures += 1
            logger.bind(logger="flask_prodready.dashboard").warning(
                "cannot reach the store for dashboard sessions ({}: {}); for {}s only "
                "sessions begun during the outage are let in",
                type(exc).__name__,
                redact_url_passwords(str(exc))[:200],
                self.backoff,
            )
            return None
        return shared

    def _write(self, store: ErrorStore, shared: dict[str, str], sid: str, until: float) -> None:
        now = time.time()
        not_before = shared.get(_NOT_BEFORE_KEY)
        if not_before is not None and _float(not_before) + self.seconds <= now:
            store.set_value(_NOT_BEFORE_KEY, None)  # every session it ended has expired
            del shared[_NOT_BEFORE_KEY]
        live = []
        for key in [k for k in shared if k.startswith(_REVOKED_PREFIX)]:
            if _float(shared[key]) <= now:
                store.set_value(key, None)
                del shared[key]
            else:
                live.append(key)
        if until <= now or _REVOKED_PREFIX + sid in shared:
            return
        if len(live) >= self.max_revoked:
            # Full: end every session begun until now (this one too) with one entry.
            store.set_value(_NOT_BEFORE_KEY, repr(now))
            shared[_NOT_BEFORE_KEY] = repr(now)
            for key in live:
                store.set_value(key, None)
                del shared[key]
            return
        store.set_value(_REVOKED_PREFIX + sid, repr(until))
        shared[_REVOKED_PREFIX + sid] = repr(until)


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
        offline = not self.revocations.reachable(store)
        payload = {"sid": secrets.token_urlsafe(18), "iat": time.time(), "offline": offline}
        return str(self._serializer().dumps(payload))

    def session(self, value: str | None, store: ErrorStore | None = None) -> Session | None:
        """The session of cookie ``value``: signed by us, not expired, not revoked."""
        if not value:
            return None
        try:
            loaded = self._serializer().loads(value, max_age=self.session_seconds)
            session = Session(str(loaded["sid"]), float(loaded["iat"]), bool(loaded["offline"]))
        except (BadSignature, TypeError, KeyError, ValueError):
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
        return str(self._device_serializer().dumps(secrets.token_urlsafe(18)))

    def device(self, value: str | None) -> str | None:
        """The device id in cookie ``value``, when signed by us and not expired."""
        if not value:
            return None
        try:
            loaded = self._device_serializer().loads(value, max_age=DEVICE_SECONDS)
        except BadSignature:
            return None
        return loaded if isinstance(loaded, str) and loaded else None

    def _serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret, salt=_SESSION_SALT)

    def _device_serializer(self) -> URLSafeTimedSerializer:
        # The password hash joins the key: without a SECRET_KEY and a token, the rest is public.
        key = hashlib.sha256(self.secret + (self.password_hash or "").encode()).digest()
        return URLSafeTimedSerializer(key, salt=_DEVICE_SALT)


_LOOPBACK = AccessPolicy()


def new_csrf_secret() -> str:
    """A fresh random CSRF secret for the CSRF cookie."""
    return secrets.token_urlsafe(32)


def csrf_ok(request: Request, expected: str | None = None) -> bool:
    """Whether the request carries the CSRF token (constant-time).

    :param expected: the token; by default the value of the CSRF cookie. A signed-in
        browser's is :meth:`DashboardAccess.session_csrf`.
    """
    if expected is None:
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


def _float(text: str | None) -> float:
    """A stored number; ``0.0`` for none or garbage (an entry that ends nothing)."""
    try:
        return float(text) if text is not None else 0.0
    except ValueError:
        return 0.0
