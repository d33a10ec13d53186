"""The dashboard's token-login sessions: the signed cookie, and logouts shared by every worker.

A session carries a random id in a signed, HttpOnly, ``SameSite=Strict`` cookie
(:data:`SESSION_COOKIE`, ``Secure`` under HTTPS). A logout revokes the id in the store's
shared key/value, so every worker refuses the cookie afterwards
(:class:`SessionRevocations`).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from itsdangerous import BadSignature, URLSafeTimedSerializer
from loguru import logger

from flask_prodready.redaction import redact_url_passwords
from flask_prodready.store import ErrorStore

__all__ = [
    "MAX_REVOKED",
    "SESSION_COOKIE",
    "SESSION_PREFIX",
    "Session",
    "SessionRevocations",
    "read_session_cookie",
    "session_cookie",
]

#: The cookie of a token login.
SESSION_COOKIE = "prodready_dashboard"
#: Key prefix of the session revocations in the store's shared key/value.
SESSION_PREFIX = "dashboard_session:"
#: Revoked sessions kept in the store; one more logout ends every session begun before it.
MAX_REVOKED = 100
_REVOKED_PREFIX = SESSION_PREFIX + "revoked:"
_NOT_BEFORE_KEY = SESSION_PREFIX + "not_before"
_SESSION_SALT = "flask-prodready-dashboard-session-v2"


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


def session_cookie(secret: bytes, offline: bool) -> str:
    """A signed cookie value for a new session, signed with ``secret``.

    :param offline: the store could not be reached at the login; see
        :class:`SessionRevocations`.

    .. versionadded:: 0.2
    """
    payload = {"sid": secrets.token_urlsafe(18), "iat": time.time(), "offline": offline}
    return str(_serializer(secret).dumps(payload))


def read_session_cookie(secret: bytes, value: str | None, max_age: int) -> Session | None:
    """The session of cookie ``value``, when signed with ``secret`` less than ``max_age``
    seconds ago; revocations are not looked at here.

    .. versionadded:: 0.2
    """
    if not value:
        return None
    try:
        loaded = _serializer(secret).loads(value, max_age=max_age)
        return Session(str(loaded["sid"]), float(loaded["iat"]), bool(loaded["offline"]))
    except (BadSignature, TypeError, KeyError, ValueError):
        return None


def _serializer(secret: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SESSION_SALT)


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


def _float(text: str | None) -> float:
    """A stored number; ``0.0`` for none or garbage (an entry that ends nothing)."""
    try:
        return float(text) if text is not None else 0.0
    except ValueError:
        return 0.0
