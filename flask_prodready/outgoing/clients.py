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
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from flask import current_app, has_app_context

from flask_prodready.request_id import request_id
from flask_prodready.state import EXTENSION_KEY

from .calls import OutgoingCall, OutgoingCalls, redacted_target

__all__ = ["follow_clients", "followed_clients"]

#: Marks a ``send`` we wrapped, so that a second app (or a reload) never wraps it twice.
_MARK = "__prodready_outgoing__"
_lock = threading.Lock()
_clients_followed: list[str] = []
#: The clients to follow as soon as they are imported.
_waiting: set[str] = set()


def followed_clients() -> tuple[str, ...]:
    """The clients followed in this process so far: ``requests``, ``httpx``, both or none."""
    return tuple(_clients_followed)


def follow_clients() -> None:
    """Follow ``requests`` and ``httpx``: at once if imported, else right after their first
    import. Once per process, however many apps ask; a client never imported (or not
    installed) costs nothing, and is never imported by us.
    """
    with _lock:
        for name in _FOLLOWERS:
            if name in _clients_followed or name in _waiting:
                continue
            module = sys.modules.get(name)
            if module is not None:
                _follow(name, module)
            else:
                _waiting.add(name)
        if _waiting and _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)


def _follow(name: str, module: ModuleType) -> None:
    try:
        _FOLLOWERS[name](module)
    except Exception:  # another version's internals: its calls go unfollowed, not failed
        return
    _clients_followed.append(name)


class _FollowOnImport(importlib.abc.MetaPathFinder):
    """Follows a waiting client right after its package first runs.

    Asked first for every import, it answers only for a waiting client's top-level package:
    it finds the spec the other finders give and has the loader follow the client once the
    package ran. Gone from ``sys.meta_path`` once nothing waits.
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
        loader = None if spec is None else spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def run_then_follow(module: ModuleType) -> None:
            run(module)
            with _lock:
                if fullname in _waiting:
                    _waiting.discard(fullname)
                    _follow(fullname, module)
                if not _waiting and self in sys.meta_path:
                    sys.meta_path.remove(self)

        # The loader is this one module's own (finders make one per spec).
        setattr(loader, "exec_module", run_then_follow)  # noqa: B010
        return spec


_finder = _FollowOnImport()


def _part() -> OutgoingCalls | None:
    """The current app's ``outgoing`` part; ``None`` outside an app context or with it off."""
    if not has_app_context():
        return None
    state = current_app.extensions.get(EXTENSION_KEY)
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
            )
        )
    except Exception:  # noqa: S110 - recording must never fail the call
        pass


def _followed(send: Callable[..., Any]) -> Callable[..., Any]:
    """``send(client, request, **kwargs)`` of either client, followed."""

    @functools.wraps(send)
    def followed_send(self: Any, request: Any, **kwargs: Any) -> Any:
        part = _part()
        if part is None:
            return send(self, request, **kwargs)
        started = _begin(part, request.headers)
        try:
            response = send(self, request, **kwargs)
        except BaseException as exc:
            _finish(part, request, None, started, exc)
            raise
        _finish(part, request, response, started)
        return response

    setattr(followed_send, _MARK, True)
    return followed_send


def _followed_async(send: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``await send(client, request, **kwargs)`` of ``httpx.AsyncClient``, followed."""

    @functools.wraps(send)
    async def followed_send(self: Any, request: Any, **kwargs: Any) -> Any:
        part = _part()
        if part is None:
            return await send(self, request, **kwargs)
        started = _begin(part, request.headers)
        try:
            response = await send(self, request, **kwargs)
        except BaseException as exc:
            _finish(part, request, None, started, exc)
            raise
        _finish(part, request, response, started)
        return response

    setattr(followed_send, _MARK, True)
    return followed_send


def _follow_requests(requests: Any) -> None:
    if not getattr(requests.Session.send, _MARK, False):
        requests.Session.send = _followed(requests.Session.send)


def _follow_httpx(httpx: Any) -> None:
    if not getattr(httpx.Client.send, _MARK, False):
        httpx.Client.send = _followed(httpx.Client.send)
        httpx.AsyncClient.send = _followed_async(httpx.AsyncClient.send)


_FOLLOWERS: dict[str, Callable[[Any], None]] = {
    "requests": _follow_requests,
    "httpx": _follow_httpx,
}
