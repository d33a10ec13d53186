"""The health runner: checks in parallel on a bounded pool, each with its own deadline.

For every check the runner keeps one slot:

- a result younger than the cache TTL is reused;
- otherwise, if a run of the check is already under way, the caller waits for *that* run
  (single flight), never past the run's deadline (start + timeout);
- otherwise a new run is queued on the pool.

A run that misses its deadline is reported ``fail`` (``timeout after 2.0s``) and the answer
is sent anyway. The run itself cannot be killed (no thread can be), but while it is still
running the check is not started again: later callers get the timeout at once, so a hung
dependency holds one thread and one connection, not one per probe.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Flask, current_app

from flask_prodready.exceptions import SetupError
from flask_prodready.redaction import redact, redact_url_passwords

from ._pool import BoundedPool
from .registry import (
    DEFAULT_TAGS,
    CheckDecorator,
    CheckFunction,
    HealthCheck,
    HealthRegistry,
    make_check,
)
from .result import CheckOutcome, HealthReport, HealthResult, HealthStatus, overall_status

__all__ = ["DEFAULT_CACHE_TTL", "DEFAULT_TIMEOUT", "HealthRunner", "StartupTask"]

_log = logging.getLogger("flask_prodready.health")

#: Seconds a check may run when neither the check nor the settings give a timeout.
DEFAULT_TIMEOUT = 2.0
#: Seconds a result is reused.
DEFAULT_CACHE_TTL = 2.0
#: Most threads running checks at once, per runner.
DEFAULT_MAX_WORKERS = 8
#: Longest output kept from a check, in characters.
MAX_OUTPUT = 500

F = TypeVar("F", bound=CheckFunction)
Listener = Callable[[CheckOutcome], None]


@dataclass
class _Slot:
    """The runtime state of one check."""

    future: Future[CheckOutcome] | None = None
    work: _Work | None = None
    deadline: float = 0.0
    cached: CheckOutcome | None = None
    fresh_until: float = 0.0
    latest: CheckOutcome | None = None
    reported: Future[CheckOutcome] | None = None


class StartupTask:
    """Start-up work the app declared; ``/startupz`` answers 503 until every task is done.

    ::

        task = get_health(app).startup_task("warm-cache")
        with task:          # done on success, failed (and re-raised) on an exception
            warm_the_cache()

    Or call :meth:`done` / :meth:`fail` yourself, e.g. from a background thread. Get tasks from
    :meth:`HealthRunner.startup_task`.

    :param name: the task's name, shown by ``/startupz`` to authorised callers.

    .. versionadded:: 0.1
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._state = "pending"
        self._error: str | None = None

    @property
    def state(self) -> str:
        """``pending``, ``done`` or ``failed``."""
        return self._state

    @property
    def error(self) -> str | None:
        """Why the task failed (redacted), or ``None``."""
        return self._error

    def done(self) -> None:
        """Mark the task finished."""
        self._state = "done"

    def fail(self, reason: str) -> None:
        """Mark the task failed: ``/startupz`` keeps answering 503 with ``reason``."""
        self._error = _short(redact_url_passwords(str(reason)))
        self._state = "failed"

    def __enter__(self) -> StartupTask:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc is None:
            self.done()
        else:
            self.fail(_describe(exc))

    def __repr__(self) -> str:
        return f"<StartupTask {self.name!r} {self._state}>"


class HealthRunner(CheckDecorator):
    """Runs one app's health checks: the public object behind the health endpoints.

    ``init_app`` creates one per app and stores it in the app's state; get it with
    :func:`~flask_prodready.health.get_health`. It holds no app: runs use the current
    app (or the ``app=`` given) and push its app context in the check's thread.

    ::

        runner = get_health(app)
        report = runner.run(app=app)          # every check, like /healthz
        report.status, report.http_status     # HealthStatus.PASS, 200

    :param registry: the extension's checks, read at every run (so checks registered after
        ``init_app`` count too); ``None`` for an empty one.
    :param app_name: the app's name, for thread names and messages.
    :param timeout: seconds a check without its own timeout may run.
    :param cache_ttl: seconds a result is reused; ``0`` to run for every caller (callers
        that arrive during a run still share it).
    :param max_workers: most threads running checks at once; more checks wait in a queue.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        registry: HealthRegistry | None = None,
        *,
        app_name: str = "app",
        timeout: float = DEFAULT_TIMEOUT,
        cache_ttl: float = DEFAULT_CACHE_TTL,
        max_workers: int = DEFAULT_MAX_WORKERS,
    ) -> None:
        if not math.isfinite(timeout) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if not math.isfinite(cache_ttl) or cache_ttl < 0:
            raise ValueError(f"cache_ttl must be 0 or more seconds, got {cache_ttl!r}")
        self.app_name = app_name
        self.timeout = float(timeout)
        self.cache_ttl = float(cache_ttl)
        self._registry = registry if registry is not None else HealthRegistry()
        self._own: dict[str, HealthCheck] = {}
        self._lock = threading.Lock()
        self._slots: dict[str, _Slot] = {}
        self._pool = BoundedPool(max_workers, f"prodready-health-{next(_SERIAL)}[{app_name}]")
        self._tasks: dict[str, StartupTask] = {}
        self._started = False
        self._draining: str | None = None
        self._listeners: list[Listener] = []
        self._registry._attach(self)
        _track(self)

    # -- registering -----------------------------------------------------------------------

    def add(
        self,
        name: str,
        func: CheckFunction,
        *,
        critical: bool = True,
        timeout: float | None = None,
        tags: Iterable[str] = DEFAULT_TAGS,
    ) -> HealthCheck:
        """Register ``func`` as a check of this app only; see
        :class:`~flask_prodready.health.HealthCheck` for the arguments.

        :raises SetupError: if a check of that name is registered for this app or on the
            extension object.
        """
        check = make_check(name, func, critical=critical, timeout=timeout, tags=tags)
        with self._lock:
            if name in self._own or name in self._registry:
                raise SetupError(
                    f"a health check named {name!r} is already registered for the app "
                    f"{self.app_name!r}; give each check its own name"
                )
            self._own[name] = check
        return check

    def has_own_check(self, name: str) -> bool:
        """Whether ``name`` is a check registered for this app alone."""
        with self._lock:
            return name in self._own

    @property
    def checks(self) -> tuple[HealthCheck, ...]:
        """Every check of the app: the extension's first, then the app's own."""
        with self._lock:
            own = tuple(self._own.values())
        return (*self._registry.checks, *own)

    def timeout_of(self, check: HealthCheck) -> float:
        """The timeout that applies to ``check``, in seconds."""
        return check.timeout if check.timeout is not None else self.timeout

    # -- running ---------------------------------------------------------------------------

    def run(
        self,
        tag: str | None = None,
        *,
        app: Flask | None = None,
        use_cache: bool = True,
    ) -> HealthReport:
        """Run the checks carrying ``tag`` (every check for ``None``) and report.

        Returns within the longest timeout of those checks, whatever the checks do.

        :param tag: ``live``, ``ready``, ``startup`` or ``None``.
        :param app: the app whose context the checks run in; defaults to the current app.
        :param use_cache: reuse results younger than the cache TTL.
        :raises RuntimeError: without ``app`` outside an app context.
        """
        target = app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]
        selected = [check for check in self.checks if tag is None or tag in check.tags]
        outcomes: dict[str, CheckOutcome] = {}
        waits: list[tuple[HealthCheck, Future[CheckOutcome], float]] = []
        now = time.monotonic()
        with self._lock:
            for check in selected:
                slot = self._slots.setdefault(check.name, _Slot())
                if (
                    slot.future is None
                    and use_cache
                    and slot.cached is not None
                    and now < slot.fresh_until
                ):
                    outcomes[check.name] = slot.cached
                    continue
                if slot.future is None:
                    slot.future = Future()
                    slot.deadline = now + self.timeout_of(check)
                    slot.work = _Work(self, target, check, slot, slot.future)
                    self._pool.submit(slot.work)
                waits.append((check, slot.future, slot.deadline))
        for check, future, deadline in sorted(waits, key=lambda item: item[2]):
            outcomes[check.name] = self._wait(check, future, deadline)
        ordered = tuple(outcomes[check.name] for check in selected)
        return HealthReport(overall_status(ordered), ordered)

    def _wait(
        self, check: HealthCheck, future: Future[CheckOutcome], deadline: float
    ) -> CheckOutcome:
        try:
            return future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeoutError:
            pass
        timeout = self.timeout_of(check)
        with self._lock:
            slot = self._slots[check.name]
            if future.cancel():
                # Never started: every thread is busy (with hung checks, most likely). Take
                # it off the queue, so that probes during the hang queue nothing.
                if slot.future is future:
                    if slot.work is not None:
                        self._pool.discard(slot.work)
                    slot.future = slot.work = None
                output = (
                    f"not started within {timeout}s: all {self._pool.max_workers} health "
                    "check threads are busy"
                )
            else:
                output = f"timeout after {timeout}s"
            outcome = _outcome(check, HealthResult(HealthStatus.FAIL, output), timeout)
            if slot.reported is future:
                return outcome  # another caller already reported this run's timeout
            slot.reported = future
            previous, slot.latest = slot.latest, outcome
        self._announce(previous, outcome)
        return outcome

    def _finish(
        self,
        check: HealthCheck,
        slot: _Slot,
        future: Future[CheckOutcome],
        result: HealthResult,
        duration: float,
    ) -> None:
        timeout = self.timeout_of(check)
        if duration > timeout:
            result = HealthResult(
                HealthStatus.FAIL, f"timeout after {timeout}s (the run took {duration:.1f}s)"
            )
        outcome = _outcome(check, result, duration)
        with self._lock:
            if slot.future is future:
                slot.future = slot.work = None
            slot.cached = outcome
            slot.fresh_until = time.monotonic() + self.cache_ttl
            previous, slot.latest = slot.latest, outcome
        # Listeners (metrics, logs) first, so that whoever waits on the result sees them done.
        self._announce(previous, outcome)
        future.set_result(outcome)

    def _announce(self, previous: CheckOutcome | None, outcome: CheckOutcome) -> None:
        if previous is None or previous.status is not outcome.status:
            level = logging.INFO if outcome.status is HealthStatus.PASS else logging.WARNING
            _log.log(
                level,
                "health check %s: %s%s",
                outcome.name,
                outcome.status.value,
                f" ({outcome.output})" if outcome.output else "",
            )
        for listener in list(self._listeners):
            try:
                listener(outcome)
            except Exception:  # a listener never breaks a probe; it is logged
                _log.exception("health listener %r failed", listener)

    # -- the endpoints ---------------------------------------------------------------------

    def liveness(self, *, app: Flask | None = None) -> HealthReport:
        """``/livez``: the checks tagged ``live`` (none by default)."""
        return self.run("live", app=app)

    def readiness(self, *, app: Flask | None = None) -> HealthReport:
        """``/readyz``: ``fail`` at once while shutting down or starting, else the checks
        tagged ``ready``."""
        if self._draining is not None:
            return HealthReport(HealthStatus.FAIL, output=self._draining)
        if not self._started:
            startup = self.startup(app=app)
            if startup.status is HealthStatus.FAIL:
                return startup
        return self.run("ready", app=app)

    def startup(self, *, app: Flask | None = None) -> HealthReport:
        """``/startupz``: ``fail`` until every start-up task is done and the checks tagged
        ``startup`` pass; then ``pass`` for good."""
        if self._started:
            return HealthReport(HealthStatus.PASS)
        with self._lock:
            tasks = list(self._tasks.values())
        failed = [task for task in tasks if task.state == "failed"]
        if failed:
            reasons = "; ".join(f"{task.name}: {task.error}" for task in failed)
            return HealthReport(HealthStatus.FAIL, output=f"start-up failed: {reasons}")
        pending = [task.name for task in tasks if task.state == "pending"]
        if pending:
            return HealthReport(
                HealthStatus.FAIL, output=f"starting: waiting for {', '.join(pending)}"
            )
        report = self.run("startup", app=app)
        if report.status is not HealthStatus.FAIL:
            self._started = True
        return report

    def report(self, *, app: Flask | None = None) -> HealthReport:
        """``/healthz``: every check; start-up and shutdown appear as notes."""
        result = self.run(None, app=app)
        notes = []
        if self._draining is not None:
            notes.append(self._draining)
        if not self._started:
            with self._lock:
                pending = [t.name for t in self._tasks.values() if t.state != "done"]
            if pending:
                notes.append(f"start-up not finished: {', '.join(pending)}")
        return HealthReport(result.status, result.checks, notes=tuple(notes))

    # -- start-up and shutdown -------------------------------------------------------------

    def startup_task(self, name: str) -> StartupTask:
        """Declare start-up work; ``/startupz`` and ``/readyz`` answer 503 until it is done.

        :raises SetupError: if the name is taken or start-up already finished.
        """
        with self._lock:
            if self._started:
                raise SetupError(
                    f"start-up of the app {self.app_name!r} already finished; declare "
                    "start-up tasks before the first probe, e.g. in the app factory"
                )
            if name in self._tasks:
                raise SetupError(f"a start-up task named {name!r} is already declared")
            task = StartupTask(name)
            self._tasks[name] = task
        return task

    @property
    def started(self) -> bool:
        """Whether start-up finished (``/startupz`` passed once)."""
        return self._started

    def drain(self, reason: str = "shutting down") -> None:
        """From now on ``/readyz`` answers 503 at once (without running checks).

        Called by the SIGTERM handler (see :mod:`flask_prodready.health.shutdown`); the
        first reason is kept.
        """
        # No lock: this runs in signal handlers, which interrupt the main thread anywhere,
        # possibly while it holds the runner's lock (a sync worker serves in its main thread).
        if self._draining is not None:
            return
        self._draining = reason
        _log.warning("health of %s: %s; /readyz now answers 503", self.app_name, reason)

    @property
    def draining(self) -> bool:
        """Whether :meth:`drain` was called."""
        return self._draining is not None

    # -- for metrics and the dashboard -----------------------------------------------------

    def last_results(self) -> Mapping[str, CheckOutcome]:
        """The latest outcome of every check that ran, by name: its status and duration.

        A run that timed out appears as soon as it times out. This is the hook for the
        metrics part (a gauge per check for status and duration) and the dashboard.
        """
        with self._lock:
            return {name: slot.latest for name, slot in self._slots.items() if slot.latest}

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(outcome)`` after every finished or timed-out run.

        It runs in the check's thread or the caller's; an exception is logged and ignored.
        """
        self._listeners.append(listener)

    @property
    def pool_threads(self) -> int:
        """How many threads the runner's pool has alive."""
        return self._pool.threads

    @property
    def thread_name_prefix(self) -> str:
        """The prefix of the names of the runner's threads."""
        return self._pool.name

    def close(self) -> None:
        """End the pool's idle threads now instead of after 30 idle seconds.

        Runs under way are not interrupted, and later runs start threads again.
        """
        self._pool.close()

    def _after_fork(self) -> None:
        """In a forked child (gunicorn ``preload_app``): forget the parent's runs."""
        self._lock = threading.Lock()
        self._pool.after_fork()
        for slot in self._slots.values():
            slot.future = slot.work = slot.reported = None

    def __repr__(self) -> str:
        return f"<HealthRunner app={self.app_name!r} checks={[c.name for c in self.checks]}>"


class _Work:
    """One queued run of a check: the pool calls it in a worker thread."""

    __slots__ = ("app", "check", "future", "runner", "slot")

    def __init__(
        self,
        runner: HealthRunner,
        app: Flask,
        check: HealthCheck,
        slot: _Slot,
        future: Future[CheckOutcome],
    ) -> None:
        self.runner = runner
        self.app = app
        self.check = check
        self.slot = slot
        self.future = future

    def __call__(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        started = time.monotonic()
        result = _call(self.app, self.check.func)
        duration = time.monotonic() - started
        self.runner._finish(self.check, self.slot, self.future, result, duration)


def _call(app: Flask, func: CheckFunction) -> HealthResult:
    try:
        with app.app_context():
            value = func()
    except BaseException as exc:  # a check's failure, whatever it is, is its result
        return HealthResult(HealthStatus.FAIL, _describe(exc))
    if value is None:
        return HealthResult(HealthStatus.PASS)
    if isinstance(value, HealthResult):
        return value
    return HealthResult(
        HealthStatus.FAIL,
        f"the check returned a {type(value).__name__}; return None or a HealthResult",
    )


def _outcome(check: HealthCheck, result: HealthResult, duration: float) -> CheckOutcome:
    output = None if result.output is None else _short(redact_url_passwords(str(result.output)))
    return CheckOutcome(
        name=check.name,
        status=HealthStatus(result.status),
        critical=check.critical,
        duration=duration,
        time=datetime.now(UTC),
        output=output,
        observed_value=_jsonable(redact(result.observed_value)),
        observed_unit=result.observed_unit,
    )


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _short(text: str) -> str:
    return text if len(text) <= MAX_OUTPUT else text[: MAX_OUTPUT - 3] + "..."


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return _short(redact_url_passwords(str(value)))
    return value


# Numbers the runners, so that each pool's threads have names of their own.
_SERIAL = itertools.count(1)
# Runners of this process, for the SIGTERM handler and for resetting after fork.
_RUNNERS: weakref.WeakSet[HealthRunner] = weakref.WeakSet()
_FORK_HOOK = threading.Lock()
_fork_hook_installed = False


def _track(runner: HealthRunner) -> None:
    global _fork_hook_installed
    _RUNNERS.add(runner)
    with _FORK_HOOK:
        if not _fork_hook_installed and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_in_child)
            _fork_hook_installed = True


def _after_fork_in_child() -> None:
    for runner in list(_RUNNERS):
        runner._after_fork()


def live_runners() -> Iterator[HealthRunner]:
    """Every health runner alive in this process."""
    yield from list(_RUNNERS)
