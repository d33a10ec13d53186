"""Profile one request on demand, with cProfile, and keep the result for the dashboard.

Send the profiling header (``X-Prodready-Profile`` unless ``PRODREADY_PROFILING_HEADER``
says otherwise) with the value of ``PRODREADY_PROFILING_TOKEN``; in the ``development``
environment a loopback client may send any value. The request then runs under cProfile,
its response carries ``X-Prodready-Profile-Id``, and the profile is kept (at most
``PRODREADY_PROFILING_KEEP``, in ``prodready-profiles`` in the instance folder, shared by
the workers of a machine) as a ``.prof`` file for snakeviz and a summary of its functions.
A header from anyone else is ignored, and requests without it pay one dictionary lookup.

cProfile rather than a sampling profiler: it measures exactly the one request asked for,
with call counts, comes with Python, and its ``.prof`` files open in snakeviz and pstats.
For a whole busy worker, attach py-spy instead (see the Performance docs).
"""

from __future__ import annotations

import cProfile
import hmac
import ipaddress
import json
import math
import pstats
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask

from ._wsgi import middleware
from .extension import get_state
from .request_id import DEFAULT_HEADER, request_id

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ProfileCapture", "arm", "armed", "init_profiling", "list_profiles", "profile_file"]

_ID_HEADER = "X-Prodready-Profile-Id"
_ARMED_KEY = "profiling.armed"
#: Seconds between two reads of the armed state from the store.
_ARM_REFRESH = 1.0
_TOP = 40


class ProfileCapture:
    """The WSGI wrapper that profiles requests carrying an authorised profiling header.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        wsgi_app: WSGIApplication,
        *,
        header: str,
        token: str | None,
        loopback_ok: bool,
        directory: Path,
        keep: int,
        request_id_header: str = DEFAULT_HEADER,
    ) -> None:
        self.wsgi_app = wsgi_app
        self.request_id_header = request_id_header
        self.environ_key = "HTTP_" + header.upper().replace("-", "_")
        self.token = token
        self.loopback_ok = loopback_ok
        self.directory = directory
        self.keep = keep

    #: Set by init_profiling: the app's URL map and store, for armed profiling.
    url_map: Any = None
    store: Any = None
    #: The shared middleware offers this wrapper every request from this ``perf_counter``
    #: time on (to look for armed profiling), before it only those with the header.
    look_after = -math.inf
    _armed: dict[str, Any] | None = None
    _armed_checked = -math.inf

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve a request as a WSGI app of its own."""
        return self.run(environ, start_response, self.wsgi_app)

    def run(
        self, environ: WSGIEnvironment, start_response: StartResponse, wsgi_app: WSGIApplication
    ) -> Iterable[bytes]:
        """Call ``wsgi_app`` for the request, under cProfile when asked and allowed."""
        asked = environ.get(self.environ_key)
        allowed = asked is not None and self._allowed(str(asked), environ)
        if not allowed and not self._take_armed(environ):
            return wsgi_app(environ, start_response)
        profile_id = f"{int(time.time() * 1000)}-{id(environ):x}"
        seen: dict[str, str] = {}
        id_header = self.request_id_header.lower()

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append((_ID_HEADER, profile_id))
            seen.update((k.lower(), v) for k, v in headers if k.lower() == id_header)
            return start_response(status, headers, exc_info)

        profiler = cProfile.Profile()
        started = time.perf_counter()
        result: Iterable[bytes] = profiler.runcall(wsgi_app, environ, start)
        seconds = time.perf_counter() - started
        self._save(profiler, profile_id, environ, seconds, seen.get(id_header) or request_id())
        return result

    def _take_armed(self, environ: WSGIEnvironment) -> bool:
        """True when the dashboard armed profiling for this request's route (and counts it)."""
        now = time.perf_counter()
        if now - self._armed_checked >= _ARM_REFRESH:
            self._armed_checked = now
            self._armed = _read_armed(self.store)
        armed = self._armed
        if not armed or self.url_map is None:
            self.look_after = self._armed_checked + _ARM_REFRESH
            return False
        self.look_after = -math.inf
        try:
            rule, _ = self.url_map.bind_to_environ(environ).match(return_rule=True)
        except Exception:  # no route: a 404 or 405 is not the route asked for
            return False
        if rule.rule != armed["route"]:
            return False
        remaining = int(armed["remaining"]) - 1
        armed["remaining"] = remaining
        _write_armed(self.store, armed if remaining > 0 else None)
        if remaining <= 0:
            self._armed = None
        return True

    def _allowed(self, value: str, environ: WSGIEnvironment) -> bool:
        if self.token and hmac.compare_digest(value.encode(), self.token.encode()):
            return True
        if self.loopback_ok:
            try:
                return ipaddress.ip_address(str(environ.get("REMOTE_ADDR", ""))).is_loopback
            except ValueError:
                return False
        return False

    def _save(
        self,
        profiler: cProfile.Profile,
        profile_id: str,
        environ: Any,
        seconds: float,
        rid: str | None,
    ) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stats = pstats.Stats(profiler)
        stats.dump_stats(self.directory / f"{profile_id}.prof")
        rows = []
        for (filename, line, name), (
            calls,
            _primitive,
            own,
            cumulative,
            _callers,
        ) in stats.stats.items():  # type: ignore[attr-defined]
            rows.append(
                {
                    "function": f"{Path(filename).name}:{line}({name})",
                    "calls": calls,
                    "own_ms": round(own * 1000, 3),
                    "cumulative_ms": round(cumulative * 1000, 3),
                }
            )
        rows.sort(key=lambda row: row["cumulative_ms"], reverse=True)
        summary = {
            "id": profile_id,
            "time": time.time(),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "request_id": rid,
            "duration_ms": round(seconds * 1000, 3),
            "functions": rows[:_TOP],
        }
        (self.directory / f"{profile_id}.json").write_text(json.dumps(summary))
        self._prune()

    def _prune(self) -> None:
        summaries = sorted(self.directory.glob("*.json"))
        for old in summaries[: max(0, len(summaries) - self.keep)]:
            old.unlink(missing_ok=True)
            old.with_suffix(".prof").unlink(missing_ok=True)


def _read_armed(store: Any) -> dict[str, Any] | None:
    if store is None:
        return None
    try:
        raw = store.values(_ARMED_KEY).get(_ARMED_KEY)
    except Exception:  # the store being down only means nothing is armed
        return None
    return dict(json.loads(raw)) if raw else None


def _write_armed(store: Any, armed: dict[str, Any] | None) -> None:
    if store is None:
        return
    try:
        store.set_value(_ARMED_KEY, json.dumps(armed) if armed else None)
    except Exception:  # best effort: at worst one request more is profiled
        return


def arm(app: Flask, route: str, count: int) -> None:
    """Profile the next ``count`` requests of the route template ``route``, in any worker.

    :raises KeyError: if the app has no error store to share the request with its workers.

    .. versionadded:: 0.1
    """
    capture = _capture(app)
    if capture.store is None:
        raise KeyError("arming needs the error store (PRODREADY_ERROR_STORE)")
    capture.store.set_value(_ARMED_KEY, json.dumps({"route": route, "remaining": count}))
    capture._armed_checked = capture.look_after = -math.inf


def armed(app: Flask) -> dict[str, Any] | None:
    """What is armed now: ``{"route": ..., "remaining": ...}``, or ``None``.

    .. versionadded:: 0.1
    """
    return _read_armed(_capture(app).store)


def _capture(app: Flask) -> ProfileCapture:
    capture: ProfileCapture = get_state(app).components["profiling"]
    return capture


def list_profiles(app: Flask) -> list[dict[str, Any]]:
    """The kept profile summaries of ``app``, newest first.

    .. versionadded:: 0.1
    """
    directory = _capture(app).directory
    if not directory.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"), reverse=True)]


def profile_file(app: Flask, profile_id: str) -> Path | None:
    """The ``.prof`` file of a kept profile, or ``None``.

    .. versionadded:: 0.1
    """
    if not profile_id.replace("-", "").isalnum():
        return None
    path = _capture(app).directory / f"{profile_id}.prof"
    return path if path.is_file() else None


def init_profiling(app: Flask, state: Any) -> None:
    """Install the profiling wrapper (the ``profiling`` part).

    .. versionadded:: 0.1
    """
    directory = state.setting("PRODREADY_PROFILING_DIR") or str(
        Path(app.instance_path) / "prodready-profiles"
    )
    capture = ProfileCapture(
        app.wsgi_app,
        header=state.setting("PRODREADY_PROFILING_HEADER"),
        token=state.setting("PRODREADY_PROFILING_TOKEN"),
        loopback_ok=state.environment == "development",
        directory=Path(directory),
        keep=state.setting("PRODREADY_PROFILING_KEEP"),
        request_id_header=state.setting("PRODREADY_REQUEST_ID_HEADER"),
    )
    capture.url_map = app.url_map
    capture.store = state.components.get("error_store")
    # Inside the shared middleware: no WSGI layer of its own, and the request id is bound.
    middleware(app, state).around = capture
    state.components["profiling"] = capture
