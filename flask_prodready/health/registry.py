"""Registering health checks: :class:`HealthCheck` and the app-less :class:`HealthRegistry`.

``ProdReady()`` owns one registry, ``prodready.health``; it holds no app. Every app set up
by that extension object gets its own runner, which reads the registry's checks (also those
registered after ``init_app``) and adds the app's own checks.
"""

from __future__ import annotations

import math
import re
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from flask_prodready.exceptions import SetupError

from .result import HealthResult

if TYPE_CHECKING:
    from .runner import HealthRunner

__all__ = ["TAGS", "CheckFunction", "HealthCheck", "HealthRegistry", "make_check"]

#: A check: called without arguments; returns ``None`` or a :class:`HealthResult` to pass
#: (or to warn), raises or returns a ``fail`` result to fail.
CheckFunction = Callable[[], HealthResult | None]

#: The tags a check may carry: which endpoints consult it.
TAGS = frozenset({"live", "ready", "startup"})

#: Tags of a check registered without ``tags=``.
DEFAULT_TAGS: tuple[str, ...] = ("ready",)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

F = TypeVar("F", bound=CheckFunction)


@dataclass(frozen=True)
class HealthCheck:
    """A registered check.

    :param name: unique name, shown in reports (letters, digits, ``_``, ``.``, ``-``).
    :param func: the check itself.
    :param critical: a failure fails the endpoints (503); otherwise it only degrades them
        to ``warn`` (200).
    :param timeout: seconds the runner waits for a result; ``None`` for
        ``PRODREADY_HEALTH_TIMEOUT``.
    :param tags: the endpoints that consult the check: ``live`` (``/livez``), ``ready``
        (``/readyz``), ``startup`` (``/startupz``). ``/healthz`` consults every check.

    .. versionadded:: 0.1
    """

    name: str
    func: CheckFunction
    critical: bool = True
    timeout: float | None = None
    tags: frozenset[str] = frozenset(DEFAULT_TAGS)


def make_check(
    name: str,
    func: CheckFunction,
    *,
    critical: bool = True,
    timeout: float | None = None,
    tags: Iterable[str] = DEFAULT_TAGS,
) -> HealthCheck:
    """A validated :class:`HealthCheck`.

    :raises TypeError: if ``func`` is not callable or ``tags`` is a single string.
    :raises ValueError: for a bad name, timeout or tag, naming what is allowed.

    .. versionadded:: 0.1
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            f"a health check name is 1 to 64 letters, digits, '_', '.' or '-' starting with "
            f"a letter or digit, got {name!r}"
        )
    if not callable(func):
        raise TypeError(f"the health check {name!r} must be callable, got {type(func).__name__}")
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ValueError(
            f"the timeout of the health check {name!r} must be a positive number of "
            f"seconds, got {timeout!r}"
        )
    if isinstance(tags, str):
        raise TypeError(f"tags must be a list of tags such as ('ready',), got the string {tags!r}")
    tag_set = frozenset(tags)
    unknown = sorted(tag_set - TAGS)
    if unknown:
        raise ValueError(
            f"unknown tag(s) {', '.join(map(repr, unknown))} for the health check {name!r}; "
            f"use {', '.join(map(repr, sorted(TAGS)))}"
        )
    return HealthCheck(
        name, func, bool(critical), None if timeout is None else float(timeout), tag_set
    )


class CheckDecorator:
    """The decorator form of ``add``, shared by :class:`HealthRegistry` and the runner.

    .. versionadded:: 0.1
    """

    def add(
        self,
        name: str,
        func: CheckFunction,
        *,
        critical: bool = True,
        timeout: float | None = None,
        tags: Iterable[str] = DEFAULT_TAGS,
    ) -> HealthCheck:
        """Register ``func`` as a check (implemented by the classes that use the mixin)."""
        raise NotImplementedError

    def check(
        self,
        name: str,
        *,
        critical: bool = True,
        timeout: float | None = None,
        tags: Iterable[str] = DEFAULT_TAGS,
    ) -> Callable[[F], F]:
        """Register the decorated function as a check; see :class:`HealthCheck`.

        :raises SetupError: if a check of that name is already registered.
        """

        def decorator(func: F) -> F:
            self.add(name, func, critical=critical, timeout=timeout, tags=tags)
            return func

        return decorator


class HealthRegistry(CheckDecorator):
    """The checks registered on a :class:`~flask_prodready.ProdReady` object, for every app.

    ::

        prodready = ProdReady()

        @prodready.health.check("database", critical=True, timeout=2.0, tags=("ready",))
        def database() -> None:
            db.session.execute(text("SELECT 1"))

        prodready.health.add("cache", redis_check("redis://cache:6379/0"), critical=False)

    It holds no app: each app set up by the extension object runs these checks in its own
    runner (see :func:`~flask_prodready.health.get_health`), together with the checks
    registered for that app alone (:func:`~flask_prodready.health.register_check`).

    .. versionadded:: 0.1
    """

    def __init__(self) -> None:
        self._checks: dict[str, HealthCheck] = {}
        self._lock = threading.Lock()
        self._runners: weakref.WeakSet[HealthRunner] = weakref.WeakSet()

    def add(
        self,
        name: str,
        func: CheckFunction,
        *,
        critical: bool = True,
        timeout: float | None = None,
        tags: Iterable[str] = DEFAULT_TAGS,
    ) -> HealthCheck:
        """Register ``func`` as a check; the function form of :meth:`check`.

        :raises SetupError: if a check of that name is already registered here or for an
            app set up by this extension object.
        """
        check = make_check(name, func, critical=critical, timeout=timeout, tags=tags)
        with self._lock:
            if name in self._checks:
                raise SetupError(
                    f"a health check named {name!r} is already registered; give each check "
                    "its own name"
                )
            for runner in list(self._runners):
                if runner.has_own_check(name):
                    raise SetupError(
                        f"a health check named {name!r} is already registered for the app "
                        f"{runner.app_name!r}; give each check its own name"
                    )
            self._checks[name] = check
        return check

    @property
    def checks(self) -> tuple[HealthCheck, ...]:
        """The registered checks, in registration order."""
        with self._lock:
            return tuple(self._checks.values())

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._checks

    def _attach(self, runner: HealthRunner) -> None:
        """Remember ``runner`` (weakly) to refuse names it already uses."""
        with self._lock:
            self._runners.add(runner)

    def __repr__(self) -> str:
        return f"<HealthRegistry checks={[check.name for check in self.checks]}>"
