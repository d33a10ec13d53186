"""One run of a job: its id bound to the log context, its lines, its error, its metrics.

:func:`job` is the one entry point, as a context manager or a decorator::

    with job("nightly-report"):
        build_report()

    @job("send-receipt")
    def send_receipt(order_id: int) -> None: ...

While a run is open, :func:`~flask_prodready.request_id.request_id` returns the run's id,
every log line carries it as ``request_id`` with the job's name as ``job`` (and the id of
the request that started it as ``parent_request_id``), and the run keeps its latest lines
as breadcrumbs. When it ends, one line says how it went; an exception is recorded in the
error store like a request's (method ``JOB``, the job's name as route) and re-raised; the
metrics count the run by outcome.

Nothing of ours can fail the job: reporting failures are logged and the job's own result
or exception passes through untouched.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, suppress
from contextvars import Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import click
from flask import Flask, current_app, has_app_context
from loguru import logger

from flask_prodready.logs.flusher import flush_logs
from flask_prodready.metrics.names import JOB_OUTCOMES
from flask_prodready.request_id import (
    TraceContext,
    _new_span_id,
    _scope,
    _trace,
    current_trace,
    is_valid_request_id,
    new_request_id,
    parse_traceparent,
    request_id,
)
from flask_prodready.state import EXTENSION_KEY

from .arguments import preview_arguments

if TYPE_CHECKING:
    from . import Jobs

__all__ = ["OUTCOMES", "JobRun", "exit_code_of", "job"]

#: How a run can end, the ``outcome`` label of ``prodready_job_runs_total``.
OUTCOMES: tuple[str, ...] = JOB_OUTCOMES
#: The longest job name kept; longer names are cut (they are metric labels).
MAX_NAME_LENGTH = 200

# The lines of this part name its logger, whichever module logs them.
_logger = logger.bind(logger="flask_prodready.jobs")

#: Exceptions that end a run without a bug behind them: an exit, an interrupt, a usage
#: error of a command. They decide the outcome but open no error group.
_NOT_BUGS: tuple[type[BaseException], ...] = (
    SystemExit,
    KeyboardInterrupt,
    GeneratorExit,
    asyncio.CancelledError,
    click.exceptions.Exit,
    click.exceptions.Abort,
    click.ClickException,
)

#: What :meth:`JobRun.start` bound: the run's scope, what it showed before, the token, and
#: the finaliser that empties the scope of a run that is never finished.
_Bound = tuple[list[Any], list[Any], Token[Any], "weakref.finalize[Any, Any]"]

P = ParamSpec("P")
R = TypeVar("R")

_warned_lock = threading.Lock()
_warned: set[str] = set()


class JobRun(AbstractContextManager["JobRun"]):
    """One run of the job :attr:`name`; make it with :func:`job`.

    :param name: the job's name: its ``job`` log field and metric label, and the route of
        its errors. A decorator without a name uses the function's ``module.qualname``.
    :param app: the app whose error store and metrics the run reports to; defaults to the
        current app. Outside an app context, with no ``app``, the run still binds its id
        and logs, but records no error and no metric (and says so once per job name).
    :param job_id: the run's id, e.g. a Celery task id; minted when missing or invalid
        (the rules of request ids apply).
    :param parent_request_id: the id of the request that started the job; defaults to the
        current request's (or outer job's) id.
    :param traceparent: a W3C ``traceparent`` to continue; defaults to the current trace.
    :param args: the job's positional arguments, kept (redacted, capped) with its error.
    :param kwargs: the job's keyword arguments, likewise.
    :param enqueued_at: when the job was put in its queue, in seconds since the epoch, for
        the queue wait metric.
    :param quiet: write the line that says how the run ended at ``DEBUG``, so that it
        shows only when asked for (the app's ``flask`` commands: their output stays theirs).

    .. versionadded:: 0.2
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        app: Flask | None = None,
        job_id: str | None = None,
        parent_request_id: str | None = None,
        traceparent: str | None = None,
        args: tuple[Any, ...] | list[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        enqueued_at: float | None = None,
        quiet: bool = False,
    ) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"a job's name is a string, got {type(name).__name__}")
        if name is not None and not name.strip():
            raise ValueError("a job's name must not be empty, e.g. job('nightly-report')")
        self.name = name[:MAX_NAME_LENGTH] if name is not None else None
        self._app = app
        self._job_id = job_id
        self._parent = parent_request_id
        self._traceparent = traceparent
        self.args = args
        self.kwargs: Mapping[str, Any] = kwargs if kwargs is not None else {}
        self.enqueued_at = enqueued_at
        self.quiet = quiet
        #: The run's id: the ``request_id`` of its log lines and error, set by :meth:`start`.
        self.id: str | None = None
        #: The id of the request (or job) that started this run, set by :meth:`start`.
        self.parent_request_id: str | None = None
        #: ``success``, ``failure`` or ``retry`` once the run has ended.
        self.outcome: str | None = None
        #: When the run started, in seconds since the epoch.
        self.started_at: float | None = None
        #: How long the run took, in seconds, once it has ended.
        self.duration: float | None = None
        self._jobs: Jobs | None = None
        self._started = 0.0
        self._bound: _Bound | None = None

    # -- as a context manager ------------------------------------------------------------

    def __enter__(self) -> JobRun:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.finish(error=exc)

    # -- as a decorator --------------------------------------------------------------------

    def __call__(self, function: Callable[P, R]) -> Callable[P, R]:
        """Run every call of ``function`` as a run of its own."""
        if self.id is not None:
            raise RuntimeError("a job run that has started cannot decorate a function")
        name = self.name or f"{function.__module__}.{function.__qualname__}"
        if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
            raise TypeError(
                f"job() cannot decorate the generator function {function.__qualname__}: its "
                "work runs while it is iterated, after the call returned; run the loop that "
                "consumes it as the job instead"
            )

        def fresh(args: tuple[Any, ...], kwargs: dict[str, Any]) -> JobRun:
            return JobRun(
                name,
                app=self._app,
                parent_request_id=self._parent,
                traceparent=self._traceparent,
                args=args,
                kwargs=kwargs,
                quiet=self.quiet,
            )

        if inspect.iscoroutinefunction(function):
            coroutine = cast(Callable[..., Awaitable[Any]], function)

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with fresh(args, kwargs):
                    return await coroutine(*args, **kwargs)

            return cast(Callable[P, R], run_async)

        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with fresh(args, kwargs):
                return function(*args, **kwargs)

        return run

    # -- explicit start and finish (for integrations whose hooks open and close a run) -----

    def start(self) -> JobRun:
        """Open the run: bind its id, trace and log fields in the current context.

        :raises RuntimeError: if the run was started before.
        :raises ValueError: if the run has no name.
        """
        if self.id is not None:
            raise RuntimeError(f"the job run {self.name!r} was started already; make a new one")
        if self.name is None:
            raise ValueError("a job run needs a name, e.g. with job('nightly-report'): ...")
        shown_before = _outer_scope()
        # A run started without an app inside one that has it (a job calling a job,
        # outside an app context) belongs to the same app.
        app = self._app if self._app is not None or len(shown_before) < 5 else shown_before[4]
        self._jobs = _jobs_of(app, self.name)
        outer = request_id()
        self.parent_request_id = self._parent if self._parent is not None else outer
        given = self._job_id
        self.id = given if given is not None and is_valid_request_id(given) else new_request_id()
        crumbs = self._jobs.breadcrumbs if self._jobs is not None else 0
        fields: dict[str, Any] = {"job": self.name}
        if self.parent_request_id is not None:
            fields["parent_request_id"] = self.parent_request_id
        # The id, the breadcrumbs, the fields of its log lines, its span, and the app it
        # was given (for the parts that look it up outside an app context: outgoing calls).
        scope: list[Any] = [
            self.id,
            [crumbs] if crumbs else None,
            fields,
            _child_trace(self._traceparent),
            app,
        ]
        token = _scope.set(scope)
        # A run never finished (a crash, a dropped reference) must not leave its id bound in
        # a pooled thread: once the run is collected, its scope shows the outer one again.
        closer = weakref.finalize(self, _empty, scope, shown_before)
        self._bound = (scope, shown_before, token, closer)
        self.started_at = time.time()
        self._started = time.perf_counter()
        return self

    def finish(
        self,
        error: BaseException | None = None,
        *,
        outcome: str | None = None,
        exit_code: int | None = None,
    ) -> None:
        """Close the run: report how it ended, then unbind what :meth:`start` bound.

        Calling it again does nothing. It never raises.

        :param error: the exception that ended the run, if any.
        :param outcome: ``success``, ``failure`` or ``retry``; by default ``failure`` with
            an error and ``success`` without.
        :param exit_code: the exit status, for a command.
        """
        bound = self._bound
        if bound is None:
            return
        self.duration = time.perf_counter() - self._started
        if outcome is None:
            outcome = "failure" if error is not None and exit_code_of(error) != 0 else "success"
        elif outcome not in OUTCOMES:
            _logger.warning("job {} ended with the unknown outcome {!r}", self.name, outcome)
            outcome = "failure"
        self.outcome = outcome
        try:
            self._report(error, outcome, exit_code)
        except Exception:  # reporting must never change how the job itself ended
            _logger.opt(exception=True).warning("could not report the end of job {}", self.name)
        finally:
            self._bound = None
            _unbind(bound)
            # A job's lines are out when it ends: a command's output is read right after.
            flush_logs()

    def _report(self, error: BaseException | None, outcome: str, exit_code: int | None) -> None:
        name = cast(str, self.name)
        milliseconds = round(cast(float, self.duration) * 1000, 3)
        line = _logger.bind(job_outcome=outcome, duration_ms=milliseconds)
        if exit_code is not None:
            line = line.bind(exit_code=exit_code)
        quiet = self.quiet
        if error is not None and not isinstance(error, _NOT_BUGS):
            line.opt(exception=error).log(
                "DEBUG" if quiet else "ERROR",
                "job {} failed after {} ms: {}",
                name,
                milliseconds,
                type(error).__name__,
            )
            try:
                self._record(error)
            except Exception:  # the run is still counted below
                _logger.opt(exception=True).warning("could not record the error of job {}", name)
        elif outcome == "success":
            line.log("DEBUG" if quiet else "INFO", "job {} succeeded in {} ms", name, milliseconds)
        else:
            line.log(
                "DEBUG" if quiet else "WARNING",
                "job {} ended with {} after {} ms",
                name,
                outcome,
                milliseconds,
            )
        jobs = self._jobs
        metrics = jobs.state.metrics if jobs is not None else None
        if metrics is not None:
            wait = None
            if self.enqueued_at is not None and self.started_at is not None:
                wait = max(self.started_at - self.enqueued_at, 0.0)
            metrics.observe_job(
                name, outcome, self.duration or 0.0, queue_wait=wait, exit_code=exit_code
            )

    def _record(self, error: BaseException) -> None:
        jobs = self._jobs
        recorder = jobs.state.error_recorder if jobs is not None else None
        if jobs is None or recorder is None:
            return
        context: dict[str, Any] = {"job": self.name, "job_id": self.id}
        if self.parent_request_id is not None:
            context["parent_request_id"] = self.parent_request_id
        arguments = preview_arguments(self.args, self.kwargs, jobs.arguments_max_chars)
        if arguments:
            context["arguments"] = arguments
        recorder.save(recorder.job_occurrence(error, cast(str, self.name), context))

    def __repr__(self) -> str:
        state = self.outcome or ("running" if self._bound is not None else "not started")
        return f"<JobRun {self.name!r} {self.id or ''} {state}>".replace("  ", " ")


def job(name: str | None = None, **options: Any) -> JobRun:
    """Run a block or a function as a job: ids, log lines, errors and metrics, as a request.

    ::

        from flask_prodready import job

        with job("nightly-report", app=app) as run:
            logger.info("building")          # carries request_id=run.id, job="nightly-report"
            build_report()                   # an exception is recorded, then re-raised

        @job("send-receipt")                 # every call is a run of its own
        def send_receipt(order_id: int) -> None: ...

    The keyword ``options`` are those of :class:`JobRun` (``app``, ``job_id``,
    ``parent_request_id``, ``traceparent``, ``args``, ``kwargs``, ``enqueued_at``).

    .. versionadded:: 0.2
    """
    return JobRun(name, **options)


def _jobs_of(app: Flask | None, name: str) -> Jobs | None:
    """The jobs part of ``app`` (or of the current app); ``None``, said once, without one."""
    target = app
    if target is None and has_app_context():
        target = current_app._get_current_object()  # type: ignore[attr-defined]
    state = target.extensions.get(EXTENSION_KEY) if target is not None else None
    jobs: Jobs | None = state.jobs if state is not None else None
    if jobs is None and _first_warning(name):
        where = "outside an app context" if target is None else f"in the app {target.name!r}"
        _logger.warning(
            "job {} runs {} without flask-prodready's jobs part: its id and log lines are "
            "bound, but its errors and metrics are not recorded. Run it inside "
            "app.app_context(), or pass job(..., app=app)",
            name,
            where,
        )
    return jobs


def _first_warning(name: str) -> bool:
    with _warned_lock:
        if name in _warned or len(_warned) >= 1000:
            return False
        _warned.add(name)
        return True


def _child_trace(traceparent: str | None) -> TraceContext | None:
    """The run's own span: in the given trace, else in the current one, else none."""
    parsed = parse_traceparent(traceparent)
    if parsed is not None:
        trace_id, parent, flags = parsed
        return TraceContext(trace_id, _new_span_id(), parent, flags)
    outer = current_trace()
    if outer is None:
        return None
    return TraceContext(outer.trace_id, _new_span_id(), outer.span_id, outer.flags)


def exit_code_of(error: BaseException) -> int:
    """The exit status a command ends with, for an exception that ended it: 0 is a success.

    .. versionadded:: 0.2
    """
    if isinstance(error, click.exceptions.Exit):
        return int(error.exit_code)
    if isinstance(error, click.ClickException):
        return int(error.exit_code)
    if isinstance(error, click.exceptions.Abort | KeyboardInterrupt):
        return 1  # click turns Ctrl-C into Abort, and flask exits with 1
    if isinstance(error, SystemExit):
        code = error.code
        if code is None:
            return 0
        return code if isinstance(code, int) else 1
    return 1


def _outer_scope() -> list[Any]:
    """What the current context shows before a run starts, as a job's scope list."""
    scope = _scope.get()
    if scope is None:
        return [None, None, {}, _trace.get()]
    if type(scope) is list:
        return list(scope)
    return [scope[0], scope[1], {}, _trace.get()]


def _empty(scope: list[Any], outer: list[Any]) -> None:
    """Make a run's scope show the outer one, wherever it is still bound."""
    scope[:] = outer


def _unbind(bound: _Bound) -> None:
    scope, outer, token, closer = bound
    closer.detach()
    # Emptied in place first: a context that still holds the list (the run ended in another
    # context, or runs ended out of order) shows the outer ids, never this run's.
    _empty(scope, outer)
    with suppress(ValueError):  # ended in another context than it started in: emptied will do
        _scope.reset(token)
