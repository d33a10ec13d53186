"""The WSGI middleware around ``app.wsgi_app`` that the request id and access-log parts share.

Working at the WSGI level, outside Flask's hooks, keeps their per-request cost low (Flask
wraps every hook on every request) and makes them hold for every response that leaves the
app: the id header is added in ``start_response``, whatever produced the response.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
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


# (environ, status, response headers, the app's request object if any, start time)
AccessWriter = Callable[["WSGIEnvironment", int, Headers | None, Any, float], None]


class RequestMiddleware:
    """Wraps a WSGI app: request context around it, id header and access line after it."""

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app
        #: Bound in order before the app, unbound in reverse after it.
        self.binders: list[Binder] = []
        #: ``(header name, value getter)`` added to every response, e.g. the request id.
        self.response_header: tuple[str, Callable[[], str | None]] | None = None
        self.access: AccessWriter | None = None
        self.observers: list[Observer] = []
        #: Runs the app for a request instead of a plain call (the profiler), if set.
        self.around: Callable[[Any, Any, Any], Iterable[bytes]] | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        watching = [(o, o.begin(environ)) for o in self.observers]
        tokens = [binder.bind(environ) for binder in self.binders]
        extra_header = None
        if self.response_header is not None:
            name, getter = self.response_header
            value = getter()
            if value is not None:
                extra_header = (name, value)
        seen: list[Any] = []

        def start(status: str, headers: Headers, exc_info: Any = None) -> Any:
            if extra_header is not None:
                lowered = extra_header[0].lower()
                if any(k.lower() == lowered for k, _ in headers):
                    headers[:] = [(k, v) for k, v in headers if k.lower() != lowered]
                headers.append(extra_header)
            # Flask clears environ["werkzeug.request"] when the request context ends, and
            # start_response runs before that: keep the request for the route template.
            seen[:] = (status, headers, environ.get("werkzeug.request"))
            return start_response(status, headers, exc_info)

        try:
            if self.around is None:
                iterable = self.wsgi_app(environ, start)
            else:
                iterable = self.around(environ, start, self.wsgi_app)
        except BaseException:
            # Only when the app propagates errors (testing); the server then answers 500.
            req = environ.get("werkzeug.request") or environ.get(_FAILED_REQUEST)
            if self.access is not None:
                self.access(environ, 500, None, req, started)
            self._unbind(tokens)
            for observer, token in watching:
                observer.end(environ, 500, req, token)
            raise
        status = int(seen[0][:3]) if seen else 500
        req = seen[2] if seen else None
        try:
            if self.access is not None and seen:
                self.access(environ, status, seen[1], req, started)
        finally:
            self._unbind(tokens)
            for observer, token in watching:
                observer.end(environ, status, req, token)
        return iterable

    def _unbind(self, tokens: list[object]) -> None:
        for binder, token in zip(reversed(self.binders), reversed(tokens), strict=True):
            binder.unbind(token)


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
