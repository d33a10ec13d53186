"""Throttling of failed dashboard logins, and the device cookie that marks a trusted browser.

Failed logins are counted per client and user name, with a cap over all clients that never
applies to a browser that signed in before (:class:`LoginThrottle`). Such a browser carries
the signed device cookie :data:`DEVICE_COOKIE`, set after every successful login: a
throttling key, not a credential.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from itsdangerous import BadSignature, URLSafeTimedSerializer

__all__ = [
    "DEVICE_COOKIE",
    "DEVICE_SECONDS",
    "LoginThrottle",
    "device_cookie",
    "read_device_cookie",
]

#: The cookie that marks a browser which signed in before: a throttling key, not a credential.
DEVICE_COOKIE = "prodready_device"
#: How long the device cookie lasts; every successful login renews it.
DEVICE_SECONDS = 90 * 24 * 3600
_DEVICE_SALT = "flask-prodready-dashboard-device"


@dataclass
class LoginThrottle:
    """Failed logins per key within a sliding window, and over all keys (per process).

    A key is one client and one user name (see
    :meth:`~flask_prodready.dashboard.auth.DashboardAccess.client_key`). A key with
    ``attempts`` failures in the last ``window`` seconds is refused until the oldest of
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


def device_cookie(key: bytes) -> str:
    """A new device cookie value, signed with ``key``, set after a successful login.

    .. versionadded:: 0.2
    """
    return str(_serializer(key).dumps(secrets.token_urlsafe(18)))


def read_device_cookie(key: bytes, value: str | None) -> str | None:
    """The device id in cookie ``value``, when signed with ``key`` and not expired.

    .. versionadded:: 0.2
    """
    if not value:
        return None
    try:
        loaded = _serializer(key).loads(value, max_age=DEVICE_SECONDS)
    except BadSignature:
        return None
    return loaded if isinstance(loaded, str) and loaded else None


def _serializer(key: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=_DEVICE_SALT)
