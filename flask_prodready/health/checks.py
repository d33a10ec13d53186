"""Built-in checks. Each factory returns a check function to register in one line::

    prodready.health.add("database", sqlalchemy_check(engine))
    prodready.health.add("cache", redis_check("redis://cache:6379/0"), critical=False)
    prodready.health.add("payments", http_check("http://payments/livez"), critical=False)
    prodready.health.add("disk", disk_check("/var/lib/shop", min_free_mb=500))
    prodready.health.add("memory", memory_check(max_rss_mb=1024), tags=("live",))

``disk`` and ``memory`` can also be switched on by settings
(``PRODREADY_HEALTH_DISK_PATH``, ``PRODREADY_HEALTH_MEMORY_MAX_RSS_MB``).

The runner cannot stop a thread, so a check that waits on the network should bound its own
wait: :func:`redis_check` and :func:`http_check` pass their ``timeout`` to the socket; for
:func:`sqlalchemy_check`, give the driver a connect timeout (for example
``connect_args={"connect_timeout": 2}`` with psycopg).
"""

from __future__ import annotations

import base64
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask_prodready._version import __version__
from flask_prodready.exceptions import SetupError
from flask_prodready.redaction import redact_url_passwords

from .registry import CheckFunction
from .result import HealthResult, HealthStatus

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["disk_check", "http_check", "memory_check", "redis_check", "sqlalchemy_check"]

_MIB = 1024 * 1024
#: Where Linux publishes the process's memory use, in pages.
STATM = Path("/proc/self/statm")


def sqlalchemy_check(engine: Engine | Callable[[], Engine]) -> CheckFunction:
    """A check that runs ``SELECT 1`` on a SQLAlchemy engine.

    ::

        with app.app_context():
            register_check(app, "database", sqlalchemy_check(db.engine))

    :param engine: the engine, or a function returning it (called at every run).

    .. versionadded:: 0.1
    """

    def check() -> None:
        from sqlalchemy import text

        target = engine() if callable(engine) else engine
        with target.connect() as connection:
            connection.execute(text("SELECT 1"))

    return check


def redis_check(
    url: str | None = None, *, client: Any = None, timeout: float = 2.0
) -> CheckFunction:
    """A check that sends ``PING`` to a Redis server (needs the ``redis`` extra).

    ::

        prodready.health.add("cache", redis_check("redis://cache:6379/0"), critical=False)

    :param url: the server's URL; the client is made once, with ``timeout`` as socket and
        connect timeout.
    :param client: a ``redis.Redis`` client to use instead of ``url``.
    :param timeout: socket timeout in seconds for a client made from ``url``.
    :raises SetupError: if the ``redis`` package is not installed.
    :raises TypeError: without ``url`` or ``client``.

    .. versionadded:: 0.1
    """
    if client is None:
        if url is None:
            raise TypeError("redis_check needs a url or a client")
        try:
            import redis
        except ImportError:
            raise SetupError(
                "redis_check needs the redis package: pip install 'flask-prodready[redis]'"
            ) from None
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)

    def check() -> None:
        client.ping()

    return check


def http_check(
    url: str,
    *,
    expect_status: int | Iterable[int] = range(200, 300),
    timeout: float = 2.0,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
) -> CheckFunction:
    """A check that sends an HTTP request and expects a status code.

    Uses the standard library (``urllib``, which follows redirects and honours the
    ``*_proxy`` environment variables). The observed value is the status code.

    ::

        prodready.health.add(
            "payments", http_check("http://payments:8000/livez", timeout=1.0), critical=False
        )

    :param url: an ``http://`` or ``https://`` URL; a user and password in it are sent as
        Basic authentication, and the password never appears in outputs.
    :param expect_status: the status code, or codes, that pass; any 2xx by default.
    :param timeout: socket timeout in seconds.
    :param method: the HTTP method.
    :param headers: extra request headers.
    :raises ValueError: for a URL that is not HTTP(S).

    .. versionadded:: 0.1
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(
            f"http_check needs an http:// or https:// URL, got {redact_url_passwords(url)!r}"
        )
    expected = frozenset([expect_status] if isinstance(expect_status, int) else expect_status)
    shown = redact_url_passwords(url)
    request_headers = {"User-Agent": f"flask-prodready/{__version__} health check"}
    target = url
    if parts.username is not None or parts.password is not None:
        # urllib does not send the user and password of a URL: send them as Basic auth.
        user = urllib.parse.unquote(parts.username or "")
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        request_headers["Authorization"] = f"Basic {token}"
        target = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    request_headers.update(headers or {})

    def check() -> HealthResult:
        # The scheme was checked above: only http and https reach urllib.
        request = urllib.request.Request(target, method=method, headers=request_headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        if status in expected:
            return HealthResult(HealthStatus.PASS, observed_value=status)
        return HealthResult(
            HealthStatus.FAIL,
            f"{method} {shown} answered {status}, expected {_describe_codes(expected)}",
            observed_value=status,
        )

    return check


def disk_check(path: str | os.PathLike[str], *, min_free_mb: float = 100.0) -> CheckFunction:
    """A check that fails when the file system holding ``path`` has less free space.

    The observed value is the free space in MiB.

    :param path: any path on the file system to watch.
    :param min_free_mb: the least free space, in MiB, that passes.

    .. versionadded:: 0.1
    """

    def check() -> HealthResult:
        free = shutil.disk_usage(path).free / _MIB
        observed = round(free, 1)
        if free < min_free_mb:
            return HealthResult(
                HealthStatus.FAIL,
                f"{free:.1f} MiB free on {path}, below {min_free_mb:g} MiB",
                observed_value=observed,
                observed_unit="MiB",
            )
        return HealthResult(HealthStatus.PASS, observed_value=observed, observed_unit="MiB")

    return check


def store_check(store: Any) -> CheckFunction:
    """A check that the extension's error store answers: one small read.

    Non-critical by default when registered through ``PRODREADY_HEALTH_STORE_CHECK``: a
    store that is down costs recorded errors, not the app's ability to serve.

    :param store: the error store, e.g. ``get_state(app).components["error_store"]``.

    .. versionadded:: 0.1
    """

    def check() -> HealthResult:
        store.groups(limit=1)
        return HealthResult(HealthStatus.PASS, output=type(store).__name__)

    return check


def memory_check(max_rss_mb: float) -> CheckFunction:
    """A check that fails when the process's resident memory (RSS) is above a limit.

    Register it with ``tags=("live",)`` so that a leaking process is restarted. It reads
    ``/proc/self/statm`` and so works on Linux only. The observed value is the RSS in MiB.

    :param max_rss_mb: the largest RSS, in MiB, that passes.
    :raises SetupError: where ``/proc/self/statm`` does not exist (not Linux).

    .. versionadded:: 0.1
    """
    if not STATM.is_file():
        raise SetupError(
            f"memory_check reads the process's resident memory from {STATM}, which exists "
            "only on Linux; leave PRODREADY_HEALTH_MEMORY_MAX_RSS_MB at 0 on this system"
        )
    page_size = os.sysconf("SC_PAGE_SIZE")

    def check() -> HealthResult:
        rss = process_rss_bytes(page_size) / _MIB
        observed = round(rss, 1)
        if rss > max_rss_mb:
            return HealthResult(
                HealthStatus.FAIL,
                f"resident memory {rss:.1f} MiB is above {max_rss_mb:g} MiB",
                observed_value=observed,
                observed_unit="MiB",
            )
        return HealthResult(HealthStatus.PASS, observed_value=observed, observed_unit="MiB")

    return check


def process_rss_bytes(page_size: int | None = None) -> int:
    """The resident set size of this process in bytes, from ``/proc/self/statm`` (Linux).

    .. versionadded:: 0.1
    """
    size = page_size if page_size is not None else os.sysconf("SC_PAGE_SIZE")
    return int(STATM.read_text(encoding="ascii").split()[1]) * size


def _describe_codes(codes: frozenset[int]) -> str:
    ordered = sorted(codes)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return " or ".join(str(code) for code in ordered)
