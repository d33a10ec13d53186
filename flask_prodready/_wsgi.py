"""The WSGI middleware around ``app.wsgi_app`` that the request id and access-log parts share.

Working at the WSGI level, outside Flask's hooks, keeps their per-request cost low (Flask
wraps every hook on every request) and makes them hold for every response that leaves the
app: the id header is added in ``start_response``, whatever produced the response.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from flask import Flask

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Headers = list[tuple[str, str]]

_KEY = "_wsgi_middleware"


class Binder(Protocol):
    """Binds a request's context before the app runs, and unbinds it after."""

    header: str

    def bind(self, environ: WSGIEnvironment) -> tuple[str, object]: ...

    def unbind(self, tokens: object) -> None: ...


# (environ, status, response headers, the app's request object if any, start time)
AccessWriter = Callable[["WSGIEnvironment", int, Headers | None, Any, float], None]


class RequestMiddleware:
    """Wraps a WSGI app: request context around it, id header and access line after it."""

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self.wsgi_app = wsgi_app
        self.binder: Binder | None = None
        self.access: AccessWriter | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        binder = self.binder
        rid, tokens = binder.bind(environ) if binder is not None else (None, None)
        seen: list[Any] = []

        def start(status: str, headers: Headers, exc_info: Any = None) -> Any:
            if rid is not None:
                assert binder is not None
                name = binder.header.lower()
                headers[:] = [(k, v) for k, v in headers if k.lower() != name]
                headers.append((binder.header, rid))
            # Flask clears environ["werkzeug.request"] when the request context ends, and
            # start_response runs before that: keep the request for the route template.
            seen[:] = (status, headers, environ.get("werkzeug.request"))
            return start_response(status, headers, exc_info)

        try:
            iterable = self.wsgi_app(environ, start)
        except BaseException:
            # Only when the app propagates errors (testing); the server then answers 500.
            if self.access is not None:
                self.access(environ, 500, None, environ.get("werkzeug.request"), started)
            if binder is not None:
                binder.unbind(tokens)
            raise
        try:
            if self.access is not None and seen:
                self.access(environ, int(seen[0][:3]), seen[1], seen[2], started)
        finally:
            if binder is not None:
                binder.unbind(tokens)
        return iterable


def middleware(app: Flask, state: Any) -> RequestMiddleware:
    """The app's middleware, installed around ``app.wsgi_app`` on first use."""
    existing: RequestMiddleware | None = state.components.get(_KEY)
    if existing is None:
        existing = RequestMiddleware(app.wsgi_app)
        app.wsgi_app = existing  # type: ignore[method-assign]
        state.components[_KEY] = existing
    return existing
