"""One call to another service, and what the app keeps of it.

:class:`OutgoingCall` is a finished call with its URL already redacted; :class:`OutgoingCalls`
is the ``outgoing`` part of an app (``get_state(app).outgoing``): it passes the request id
on, and records each call in the metrics, in the breadcrumbs of the current request or job,
and in a bounded list of recent calls.
"""

from __future__ import annotations

import functools
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from flask_prodready.logs.breadcrumbs import add_breadcrumb
from flask_prodready.redaction import REDACTED, is_secret_query_parameter
from flask_prodready.request_id import outgoing_headers

if TYPE_CHECKING:
    from flask_prodready.metrics import Metrics

__all__ = ["HostStats", "OutgoingCall", "OutgoingCalls", "host_stats", "redacted_target"]

#: The ``logger`` field of a call's breadcrumb.
OUTGOING_LOGGER = "flask_prodready.outgoing"


def redacted_target(url: str) -> tuple[str, str]:
    """The host name and the ``host/path?query`` of ``url``, safe to show and to keep.

    Credentials and the port are left out; the value of each query parameter that holds a
    credential (``token=``, ``api_key=``, ``sig=``…; see
    :func:`~flask_prodready.redaction.is_secret_query_parameter`) is replaced by ``***``,
    and so is a long parameter without ``=`` (``?<token>``); parameters are split on ``&``
    and ``;`` and joined with ``&``; the fragment is dropped, and the result is cut to
    :data:`MAX_TARGET_LENGTH` characters. A secret in the path itself is not recognised::

        >>> redacted_target("https://bob:hunter2@API.example.com:8443/v1/charges?token=abc&id=7")
        ('api.example.com', 'api.example.com/v1/charges?token=***&id=7')

    A URL that cannot be parsed gives ``("<invalid>", "<invalid>")``. The answers for the
    latest 1024 URLs without a query are remembered (an app calls the same URLs again and
    again); a URL with a query, which may hold a secret, is never kept.

    .. versionadded:: 0.2
    """
    if "?" in url:
        return _redacted_target(url)
    return _remembered_target(url)


def _redacted_target(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:  # e.g. an invalid IPv6 literal or port
        return "<invalid>", "<invalid>"
    if not host:
        return "<invalid>", "<invalid>"
    target = host + (parts.path or "/")
    if parts.query:
        shown = []
        for parameter in _PARAMETER_SEPARATORS.split(parts.query):
            name, equals, _ = parameter.partition("=")
            if equals and is_secret_query_parameter(unquote(name)):
                parameter = f"{name}={REDACTED}"
            elif not equals and len(parameter) >= _LONG_BARE_PARAMETER:
                parameter = REDACTED
            shown.append(parameter)
        target += "?" + "&".join(shown)
    return host, target[:MAX_TARGET_LENGTH]


_remembered_target = functools.lru_cache(maxsize=1024)(_redacted_target)
_PARAMETER_SEPARATORS = re.compile("[&;]")


#: How much of a call's ``host/path?query`` is kept.
MAX_TARGET_LENGTH = 500
#: A query parameter without ``=`` and at least this long may be a credential.
_LONG_BARE_PARAMETER = 16


@dataclass(frozen=True)
class OutgoingCall:
    """One finished call to another service.

    :param method: the HTTP method, upper case.
    :param host: the host name called (lower case, without port or credentials).
    :param target: ``host/path?query``, redacted by :func:`redacted_target`.
    :param status: the answer's status code; ``None`` when no answer came.
    :param seconds: how long the call took: until the whole answer was read, or until its
        headers with ``stream=True``.
    :param error: the exception's type name when no answer came (``ConnectTimeout``).
    :param request_id: the id of the request or job that made the call, if any.
    :param at: when the call ended, in seconds since the epoch.
    :param cancelled: whether the caller gave up on it (``asyncio`` cancellation, a timeout
        around the call, ``KeyboardInterrupt``): counted as ``cancelled``, not as a failure.

    .. versionadded:: 0.2
    """

    method: str
    host: str
    target: str
    status: int | None
    seconds: float
    error: str | None = None
    request_id: str | None = None
    at: float = field(default_factory=time.time)
    cancelled: bool = False

    @property
    def status_class(self) -> str:
        """``2xx`` … ``5xx`` by the status; ``error`` when no answer came; ``cancelled``
        when the caller gave up on it."""
        if self.cancelled:
            return "cancelled"
        if self.status is None or not 100 <= self.status <= 599:
            return "error"
        return f"{self.status // 100}xx"

    @property
    def failed(self) -> bool:
        """Whether the call got no answer or a 5xx (a cancelled call did not fail)."""
        return not self.cancelled and (self.status is None or self.status >= 500)

    def describe(self) -> str:
        """One line for people: ``GET payments.internal/charges → 503 in 2.1 s``."""
        outcome = str(self.status) if self.status is not None else (self.error or "no answer")
        return f"{self.method} {self.target} → {outcome} in {_duration(self.seconds)}"


@dataclass(frozen=True)
class HostStats:
    """What the calls to one host came to: the dashboard's Outgoing table.

    :param host: the host name.
    :param calls: how many calls.
    :param failures: how many got no answer or a 5xx.
    :param p50: the median duration, in seconds.
    :param p95: the 95th percentile duration, in seconds (nearest rank).
    :param slowest: the longest duration, in seconds.
    :param last_failure: when the latest failure ended (seconds since the epoch), or ``None``.

    .. versionadded:: 0.2
    """

    host: str
    calls: int
    failures: int
    p50: float
    p95: float
    slowest: float
    last_failure: float | None

    @property
    def error_share(self) -> float:
        """Failures over calls, 0 to 1."""
        return self.failures / self.calls if self.calls else 0.0


def host_stats(calls: Iterable[OutgoingCall]) -> list[HostStats]:
    """``calls`` summed up by host: failing hosts first (by error share), then the slowest
    (by p95).

    .. versionadded:: 0.2
    """
    by_host: dict[str, list[OutgoingCall]] = {}
    for call in calls:
        by_host.setdefault(call.host, []).append(call)
    rows = []
    for host, made in by_host.items():
        durations = sorted(call.seconds for call in made)
        failed = [call.at for call in made if call.failed]
        rows.append(
            HostStats(
                host=host,
                calls=len(made),
                failures=len(failed),
                p50=_nearest_rank(durations, 0.50),
                p95=_nearest_rank(durations, 0.95),
                slowest=durations[-1],
                last_failure=max(failed) if failed else None,
            )
        )
    rows.sort(key=lambda row: (-row.error_share, -row.p95, row.host))
    return rows


def _nearest_rank(ordered: list[float], quantile: float) -> float:
    return ordered[max(0, math.ceil(quantile * len(ordered)) - 1)]


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.1f} s"
    return f"{seconds * 1000:.0f} ms"


@dataclass
class OutgoingCalls:
    """The ``outgoing`` part of one app: ``get_state(app).outgoing``.

    ::

        calls = get_state(app).outgoing
        slowest = max(calls.recent, key=lambda call: call.seconds)

    :param host_label: caps the ``host`` label (``<other>`` beyond
        ``PRODREADY_OUTGOING_HOSTS_MAX``).
    :param propagate: whether calls carry the request id and ``traceparent``.
    :param request_id_header: the request id header's name.
    :param metrics: the app's metrics part, if on.

    .. versionadded:: 0.2
    """

    host_label: Callable[[str], str]
    propagate: bool = True
    request_id_header: str = "X-Request-ID"
    metrics: Metrics | None = None
    #: The latest calls, newest last, for the dashboard.
    recent: deque[OutgoingCall] = field(default_factory=lambda: deque(maxlen=500))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def prepare(self, headers: MutableMapping[str, str]) -> None:
        """Add the request id header and ``traceparent`` to ``headers`` (a case-insensitive
        mapping, as both clients give), unless already there; nothing outside a request or
        job, or with ``PRODREADY_OUTGOING_PROPAGATE`` off."""
        if not self.propagate:
            return
        for name, value in outgoing_headers(self.request_id_header).items():
            if name not in headers:
                headers[name] = value

    def record(self, call: OutgoingCall) -> None:
        """Count ``call`` in the metrics, add it to the current request's or job's
        breadcrumbs, and keep it in :attr:`recent`."""
        if self.metrics is not None:
            host = self.host_label(call.host)
            self.metrics.observe_outgoing(host, call.method, call.status_class, call.seconds)
        add_breadcrumb(
            "WARNING" if call.failed else "INFO",
            OUTGOING_LOGGER,
            call.describe(),
            method=call.method,
            host=call.host,
            target=call.target,
            status=call.status,
            error=call.error,
            duration_ms=round(call.seconds * 1000, 3),
        )
        with self._lock:
            self.recent.append(call)

    def latest(self) -> list[OutgoingCall]:
        """A copy of :attr:`recent`, oldest first, taken under its lock."""
        with self._lock:
            return list(self.recent)
