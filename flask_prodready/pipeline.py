"""The per-request pipeline: one WSGI middleware around ``app.wsgi_app``, in declared stages.

One request passes the stages of :data:`STAGES` in this order::

    first use   background work of each part starts, once per process (never in init_app)
    observe     metrics, the dashboard's sync: ``begin`` before the app, ``end`` after it
    request_id  the id is read or minted, bound to the log context and echoed as a header;
                the request's breadcrumb buffer is bound with it, in the same context variable
    bind        per-request context of the other parts, in this order: breadcrumbs (when
                the request id stage is off), sql
    app         the Flask app, or the profiler running it for the requests it wants
    access      one access line, after the app answered
    unbind      in the reverse order; then every observer's ``end``

Each part fills its own stage through one method (:meth:`RequestPipeline.observe`,
:meth:`~RequestPipeline.bind`, …) and never edits another part's object. Working at the WSGI
level, outside Flask's hooks, keeps the per-request cost low (Flask wraps every hook on every
request) and makes the stages hold for every response that leaves the app: the id header is
added in ``start_response``, whatever produced the response.

.. versionadded:: 0.2
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterable
from time import perf_counter as _perf_counter
from typing import TYPE_CHECKING, Any, Protocol

from flask import Flask, got_request_exception, request

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .state import ProdReadyState

Headers = list[tuple[str, str]]

__all__ = [
    "BIND_STAGES",
    "OBSERVE_STAGES",
    "STAGES",
    "AccessWriter",
    "Around",
    "Binder",
    "Observer",
    "RequestIds",
    "RequestPipeline",
    "pipeline",
]

#: Every stage of one request, in the order a request passes them.
STAGES: tuple[str, ...] = ("first_use", "observe", "request_id", "bind", "app", "access")
#: The observers, in the order their ``begin`` runs (``end`` runs in the same order).
OBSERVE_STAGES: tuple[str, ...] = ("metrics", "dashboard")
#: The binders after the request id, in the order they bind (they unbind in reverse).
BIND_STAGES: tuple[str, ...] = ("breadcrumbs", "sql")
_FAILED_REQUEST = "prodready.failed_request"


class Binder(Protocol):
    """Binds per-request context (context variables) before the app runs, unbinds it after."""

    def bind(self, environ: WSGIEnvironment) -> object: ...

    def unbind(self, token: object) -> None: ...


class Observer(Protocol):
    """Sees every request: ``begin`` before the app, ``end`` after it (metrics)."""

    def begin(self, environ: WSGIEnvironment) -> object: ...

    def end(self, environ: WSGIEnvironment, status: int, req: Any, token: object) -> None: ...


class Around(Protocol):
    """Runs the app itself for the requests it wants (the profiler).

    The middleware offers it a request that carries ``environ_key``, and every request once
    the ``perf_counter`` time reaches ``look_after`` (for work armed elsewhere); all other
    requests skip it for the price of a dictionary lookup.
    """

    environ_key: str
    look_after: float

    def run(
        self, environ: WSGIEnvironment, start_response: StartResponse, wsgi_app: WSGIApplication
    ) -> Iterable[bytes]: ...


class RequestIds(Protocol):
    """Gives each request its id (and binds it) before the app; unbinds it after."""

    #: How many log lines to keep per request for recorded errors (0: none).
    breadcrumbs: int

    def bind(self, environ: WSGIEnvironment) -> tuple[str, object]: ...

    def unbind(self, token: object) -> None: ...


# (environ, status, response headers, the app's request object if any, start time)
AccessWriter = Callable[["WSGIEnvironment", int, Headers | None, Any, float], None]


class RequestPipeline:
    """Wraps a WSGI app: request context around it, id header and access line after it.

    Parts fill their stage with :meth:`observe`, :meth:`set_request_ids`,
    :meth:`keep_breadcrumbs`, :meth:`bind`, :meth:`run_app_with`, :meth:`write_access` and
    :meth:`on_first_request`. Filling a stage again replaces what it held, so that setting
    a part up twice never runs it twice.

    Every request pays for this code, so it is written for speed: no work for a part that
    is off, no allocation it can avoid, and parts reached through attributes set once.
    """

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app
        #: Binds the request id first, and names the response header that carries it.
        self.request_ids: RequestIds | None = None
        self._request_id_header = self._request_id_header_lower = ""
        self._breadcrumbs = 0
        #: Bound in the order of BIND_STAGES after the request id, unbound in reverse.
        self.binders: list[Binder] = []
        self._binders: dict[str, Binder] = {}
        self.access: AccessWriter | None = None
        #: Called in the order of OBSERVE_STAGES.
        self.observers: list[Observer] = []
        self._observers: dict[str, Observer] = {}
        #: Runs the app for the requests it wants instead of a plain call (the profiler).
        self.around: Around | None = None
        #: Called once per process, before its first request (background work starts on
        #: first use, never in ``init_app``); ``None`` once they ran.
        self._first_use: list[Callable[[], None]] | None = None
        self._on_first_use: list[Callable[[], None]] = []
        self._first_use_lock = threading.Lock()
        _middlewares.add(self)

    # -- filling the stages: each part calls the one method of its stage ------------------

    def observe(self, stage: str, observer: Observer) -> None:
        """Let ``observer`` see every request, as the observer stage named ``stage``.

        :raises ValueError: for a stage that is not in :data:`OBSERVE_STAGES`.
        """
        self._observers[_known(stage, OBSERVE_STAGES)] = observer
        self.observers = [self._observers[s] for s in OBSERVE_STAGES if s in self._observers]

    def bind(self, stage: str, binder: Binder | None) -> None:
        """Bind ``binder`` around the app as the bind stage ``stage``; ``None`` removes it.

        :raises ValueError: for a stage that is not in :data:`BIND_STAGES`.
        """
        if binder is None:
            self._binders.pop(_known(stage, BIND_STAGES), None)
        else:
            self._binders[_known(stage, BIND_STAGES)] = binder
        self.binders = [self._binders[s] for s in BIND_STAGES if s in self._binders]

    def set_request_ids(self, ids: RequestIds, header: str) -> None:
        """Give every request an id through ``ids``, echoed in the response header ``header``."""
        ids.breadcrumbs = self._breadcrumbs
        self.request_ids = ids
        self.request_id_header = header
        self.bind("breadcrumbs", None)  # now bound with the id

    def keep_breadcrumbs(self, count: int, binder: Binder) -> None:
        """Keep ``count`` log lines per request (0: none) for recorded errors.

        With the request id stage on, the buffer is bound with the id, in the same context
        variable (one set per request); without it, ``binder`` binds the buffer as the
        ``breadcrumbs`` bind stage.
        """
        self._breadcrumbs = count
        if self.request_ids is not None:
            self.request_ids.breadcrumbs = count
            self.bind("breadcrumbs", None)
        else:
            self.bind("breadcrumbs", binder if count else None)

    def run_app_with(self, around: Around | None) -> None:
        """Let ``around`` run the app for the requests it wants (the profiler)."""
        self.around = around

    def write_access(self, writer: AccessWriter | None) -> None:
        """Call ``writer`` once per request after the app answered (the access line)."""
        self.access = writer

    def on_first_request(self, start: Callable[[], None]) -> None:
        """Call ``start`` before the first request of each process (again after a fork)."""
        with self._first_use_lock:
            self._on_first_use.append(start)
            self._first_use = list(self._on_first_use)

    def _start_first_use(self) -> None:
        with self._first_use_lock:
            starters, self._first_use = self._first_use, None
        for start in starters or ():
            try:
                start()
            except Exception:  # background work must never fail a request
                from loguru import logger

                logger.bind(logger="flask_prodready").exception("could not start background work")

    def _after_fork(self) -> None:
        self._first_use_lock = threading.Lock()
        self._first_use = list(self._on_first_use) or None

    @property
    def request_id_header(self) -> str:
        """The response header that carries the request id."""
        return self._request_id_header

    @request_id_header.setter
    def request_id_header(self, name: str) -> None:
        self._request_id_header, self._request_id_header_lower = name, name.lower()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self._first_use is not None:
            self._start_first_use()
        started = _perf_counter()
        observers = self.observers
        watching = [o.begin(environ) for o in observers] if observers else None
        ids = self.request_ids
        id_header: tuple[str, str] | None = None
        id_token: object = None
        if ids is not None:
            rid, id_token = ids.bind(environ)
            id_header = (self._request_id_header, rid)
        binders = self.binders
        tokens = [binder.bind(environ) for binder in binders] if binders else None
        status_line: str | None = None
        response_headers: Headers | None = None
        req: Any = None

        def start(status: str, headers: Headers, exc_info: Any = None) -> Any:
            nonlocal status_line, response_headers, req
            if id_header is not None:
                # The app may have set the header itself: ours replaces it.
                lowered = self._request_id_header_lower
                size = len(lowered)
                for name, _ in headers:
                    if len(name) == size and name.lower() == lowered:
                        headers[:] = [(k, v) for k, v in headers if k.lower() != lowered]
                        break
                headers.append(id_header)
            # Flask clears environ["werkzeug.request"] when the request context ends, and
            # start_response runs before that: keep the request for the route template.
            status_line, response_headers = status, headers
            req = environ.get("werkzeug.request")
            return start_response(status, headers, exc_info)

        around = self.around
        try:
            if around is not None and (
                around.environ_key in environ or started >= around.look_after
            ):
                iterable = around.run(environ, start, self.wsgi_app)
            else:
                iterable = self.wsgi_app(environ, start)
        except BaseException:
            # Only when the app propagates errors (testing); the server then answers 500.
            req = environ.get("werkzeug.request") or environ.get(_FAILED_REQUEST)
            if self.access is not None:
                self.access(environ, 500, None, req, started)
            self._after(environ, 500, req, id_token, tokens, watching)
            raise
        if status_line is None:
            status = 500
        else:
            status = _STATUS_CODES.get(status_line) or _status_code(status_line)
        try:
            if self.access is not None and status_line is not None:
                self.access(environ, status, response_headers, req, started)
        finally:
            self._after(environ, status, req, id_token, tokens, watching)
        return iterable

    def _after(
        self,
        environ: WSGIEnvironment,
        status: int,
        req: Any,
        id_token: object,
        tokens: list[object] | None,
        watching: list[object] | None,
    ) -> None:
        if tokens is not None:
            binders = self.binders
            for index in range(len(tokens) - 1, -1, -1):
                binders[index].unbind(tokens[index])
        if self.request_ids is not None:
            self.request_ids.unbind(id_token)
        if watching is not None:
            observers = self.observers
            for index in range(len(watching)):
                observers[index].end(environ, status, req, watching[index])


def _known(stage: str, stages: tuple[str, ...]) -> str:
    if stage not in stages:
        raise ValueError(f"unknown pipeline stage {stage!r}; the stages are {', '.join(stages)}")
    return stage


_middlewares: weakref.WeakSet[RequestPipeline] = weakref.WeakSet()


def _rearm_after_fork() -> None:
    # The child has none of the parent's threads: its first request starts them anew.
    for each in list(_middlewares):
        each._after_fork()


os.register_at_fork(after_in_child=_rearm_after_fork)

#: Status lines seen, and their codes: a lookup costs less than parsing for every request.
_STATUS_CODES: dict[str, int] = {}


def _status_code(status_line: str) -> int:
    code = int(status_line[:3])
    if len(_STATUS_CODES) < 1000:
        _STATUS_CODES[status_line] = code
    return code


def _remember_request(sender: Any, exception: BaseException, **extra: Any) -> None:
    # Flask clears environ["werkzeug.request"] before a propagated exception reaches us.
    request.environ[_FAILED_REQUEST] = request._get_current_object()  # type: ignore[attr-defined]


def pipeline(app: Flask, state: ProdReadyState) -> RequestPipeline:
    """The app's pipeline, installed around ``app.wsgi_app`` by the first part that asks."""
    existing = state.pipeline
    if existing is None:
        existing = RequestPipeline(app.wsgi_app)
        app.wsgi_app = existing  # type: ignore[method-assign]
        state.pipeline = existing
        got_request_exception.connect(_remember_request, app, weak=False)
    return existing
