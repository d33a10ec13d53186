"""Following ``requests`` and ``httpx``: each client's ``send``, wrapped once per process.

Neither library has a process-wide hook: ``requests`` takes hooks and adapters per session,
``httpx`` event hooks and transports per client, and an app makes its clients in many
places (or calls ``requests.get``, which makes a session per call). Like OpenTelemetry's
instrumentations, we wrap the one method every call goes through — ``requests.Session.send``,
``httpx.Client.send`` and ``httpx.AsyncClient.send`` — so the app's own adapters,
transports and hooks all stay in place and run as before.

The wrapper asks the current app (``current_app``) what to do: an app whose ``outgoing``
part is off, or a call outside any app context, goes through untouched. Whatever happens
in our recording is swallowed: following a call must never fail it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.abc
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from flask import current_app, has_app_context

from flask_prodready.request_id import _scope, request_id
from flask_prodready.state import EXTENSION_KEY

from .calls import OutgoingCall, OutgoingCalls, redacted_target

__all__ = ["follow_clients", "followed_clients"]

#: Marks a ``send`` we wrapped, so that a second app (or a reload) never wraps it twice.
_MARK = "__prodready_outgoing__"
_lock = threading.Lock()
#: The clients to follow as soon as their import has run.
_waiting: set[str] = set()
#: The client whose followed ``send`` is running: its own ``send`` made meanwhile
#: (requests follows redirects by calling ``send`` again) is part of the same call, while a
#: call by another client (a hook or adapter that calls an audit service) is one of its own.
_sending: ContextVar[object] = ContextVar("prodready_outgoing_sending", default=None)


def followed_clients() -> tuple[str, ...]:
    """The clients whose calls are followed in this process now."""
    return tuple(
        name
        for name, (_, followed) in _FOLLOWERS.items()
        if name in sys.modules and _quietly(followed, sys.modules[name])
    )


def follow_clients() -> None:
    """Follow ``requests`` and ``httpx``: at once if imported, else right after their first
    import. Safe to call again (each app's set-up does): a client is wrapped once, and
    wrapped anew if someone put the original back. A client never imported, or not
    installed, costs nothing and is never imported by us.
    """
    with _lock:
        for name in _FOLLOWERS:
            module = sys.modules.get(name)
            if module is None or _initializing(module):
                _waiting.add(name)  # the finder follows it, or the next call does
            else:
                _waiting.discard(name)
                _follow(name, module)
        _keep_finder(bool(_waiting))


def _initializing(module: ModuleType) -> bool:
    """Whether ``module`` is still being imported (by another thread)."""
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def _quietly(check: Callable[[Any], bool], module: ModuleType) -> bool:
    try:
        return check(module)
    except Exception:  # another version's internals
        return False


def _follow(name: str, module: ModuleType) -> None:
    with contextlib.suppress(Exception):  # another version's internals: its calls go as before
        _FOLLOWERS[name][0](module)


def _keep_finder(wanted: bool) -> None:
    """Put the finder first in ``sys.meta_path`` when a client waits. It is never taken out
    (it answers nothing once nothing waits): removing a finder while another thread imports
    could make that import skip the next one, and rebinding the list could lose a finder
    another thread adds meanwhile."""
    if wanted and _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


class _FollowOnImport(importlib.abc.MetaPathFinder):
    """Follows a waiting client right after its package first runs.

    Asked first for every import, it answers only for a waiting client's top-level package,
    with the spec the other finders give and a loader of its own around theirs (theirs is
    never changed: a zip importer's serves every module of its archive).
    """

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if path is not None or fullname not in _waiting:
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _FollowingLoader(spec.loader, fullname)
        return spec


class _FollowingLoader(importlib.abc.Loader):
    """Runs a client's package with its own loader, then follows the client."""

    def __init__(self, loader: Any, name: str) -> None:
        self.loader = loader
        self.name = name

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self.loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        # The package sees its own loader, as without us (importlib.resources, pkgutil).
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        with _lock:
            if module.__name__ == self.name and self.name in _waiting:
                _waiting.discard(self.name)
                _follow(self.name, module)
            _keep_finder(bool(_waiting))

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.loader, attribute)


_finder = _FollowOnImport()


def _part() -> OutgoingCalls | None:
    """The ``outgoing`` part of the current app, or of the job running (a job started with
    ``job(name, app=app)`` outside an app context); ``None`` without either, or with the
    part off."""
    if has_app_context():
        app: Any = current_app
    else:
        scope = _scope.get()
        app = scope[4] if type(scope) is list and len(scope) > 4 else None
        if app is None:
            return None
    state = app.extensions.get(EXTENSION_KEY)
    return getattr(state, "outgoing", None)


def _begin(part: OutgoingCalls, headers: Any) -> float:
    with contextlib.suppress(Exception):  # passing the id on must never fail the call
        part.prepare(headers)
    return time.perf_counter()


def _finish(
    part: OutgoingCalls,
    request: Any,
    response: Any,
    started: float,
    error: BaseException | None = None,
) -> None:
    seconds = time.perf_counter() - started
    try:
        host, target = redacted_target(str(request.url))
        part.record(
            OutgoingCall(
                method=str(request.method).upper(),
                host=host,
                target=target,
                status=None if response is None else int(response.status_code),
                seconds=seconds,
                error=None if error is None else type(error).__name__,
                request_id=request_id(),
                # Cancelled (asyncio, a timeout around the call, Ctrl-C): not the host's fault.
                cancelled=error is not None and not isinstance(error, Exception),
            )
        )
    except Exception:  # noqa: S110 - recording must never fail the call
        pass


def _followed(send: Callable[..., Any]) -> Callable[..., Any]:
    """``send(client, request, **kwargs)`` of either client, followed."""

    @functools.wraps(send)
    def followed_send(self: Any, request: Any, **kwargs: Any) -> Any:
        part = None if _sending.get() is self else _part()
        if part is None:
            return send(self, request, **kwargs)
        started = _begin(part, request.headers)
        token = _sending.set(self)
        try:
            response = send(self, request, **kwargs)
        except BaseException as exc:
            _finish(part, request, None, started, exc)
            raise
        finally:
            _sending.reset(token)
        _finish(part, request, response, started)
        return response

    setattr(followed_send, _MARK, True)
    return followed_send


def _followed_async(send: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``await send(client, request, **kwargs)`` of ``httpx.AsyncClient``, followed."""

    @functools.wraps(send)
    async def followed_send(self: Any, request: Any, **kwargs: Any) -> Any:
        part = None if _sending.get() is self else _part()
        if part is None:
            return await send(self, request, **kwargs)
        started = _begin(part, request.headers)
        token = _sending.set(self)
        try:
            response = await send(self, request, **kwargs)
        except BaseException as exc:
            _finish(part, request, None, started, exc)
            raise
        finally:
            _sending.reset(token)
        _finish(part, request, response, started)
        return response

    setattr(followed_send, _MARK, True)
    return followed_send


def _follow_requests(requests: Any) -> None:
    if not getattr(requests.Session.send, _MARK, False):
        requests.Session.send = _followed(requests.Session.send)


def _requests_followed(requests: Any) -> bool:
    return bool(getattr(requests.Session.send, _MARK, False))


def _follow_httpx(httpx: Any) -> None:
    if not getattr(httpx.Client.send, _MARK, False):
        httpx.Client.send = _followed(httpx.Client.send)
    if not getattr(httpx.AsyncClient.send, _MARK, False):
        httpx.AsyncClient.send = _followed_async(httpx.AsyncClient.send)


def _httpx_followed(httpx: Any) -> bool:
    return bool(
        getattr(httpx.Client.send, _MARK, False) and getattr(httpx.AsyncClient.send, _MARK, False)
    )


#: Each client: how to follow it, and whether it is followed.
_FOLLOWERS: dict[str, tuple[Callable[[Any], None], Callable[[Any], bool]]] = {
    "requests": (_follow_requests, _requests_followed),
    "httpx": (_follow_httpx, _httpx_followed),
}
