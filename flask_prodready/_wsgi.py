"""The WSGI middleware around ``app.wsgi_app`` that the request id and access-log parts share.

Working at the WSGI level, outside Flask's hooks, keeps their per-request cost low (Flask
wraps every hook on every request) and makes them hold for every response that leaves the
app: the id header is added in ``start_response``, whatever produced the response.
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

Headers = list[tuple[str, str]]

_KEY = "_wsgi_middleware"
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


class RequestMiddleware:
    """Wraps a WSGI app: request context around it, id header and access line after it.

    Every request pays for this code, so it is written for speed: no work for a part that
    is off, no allocation it can avoid, and parts reached through attributes set once.
    """

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app
        #: Binds the request id first, and names the response header that carries it.
        self.request_ids: RequestIds | None = None
        self._request_id_header = self._request_id_header_lower = ""
        #: Bound in order after the request id, unbound in reverse after the app.
        self.binders: list[Binder] = []
        self.access: AccessWriter | None = None
        self.observers: list[Observer] = []
        #: Runs the app for the requests it wants instead of a plain call (the profiler).
        self.around: Around | None = None
        #: Called once per process, before its first request (background work starts on
        #: first use, never in ``init_app``); ``None`` once they ran.
        self._first_use: list[Callable[[], None]] | None = None
        self._on_first_use: list[Callable[[], None]] = []
        self._first_use_lock = threading.Lock()
        _middlewares.add(self)

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


_middlewares: weakref.WeakSet[RequestMiddleware] = weakref.WeakSet()


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


def middleware(app: Flask, state: Any) -> RequestMiddleware:
    """The app's middleware, installed around ``app.wsgi_app`` on first use."""
    existing: RequestMiddleware | None = state.components.get(_KEY)
    if existing is None:
        existing = RequestMiddleware(app.wsgi_app)
        app.wsgi_app = existing  # type: ignore[method-assign]
        state.components[_KEY] = existing
        got_request_exception.connect(_remember_request, app, weak=False)
    return existing
