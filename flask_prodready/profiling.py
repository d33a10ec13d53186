"""Profile one request on demand, with cProfile, and keep the result for the dashboard.

Send the profiling header (``X-Prodready-Profile`` unless ``PRODREADY_PROFILING_HEADER``
says otherwise) with the value of ``PRODREADY_PROFILING_TOKEN``; in the ``development``
environment a loopback client may send any value. The request then runs under cProfile,
its response carries ``X-Prodready-Profile-Id``, and the profile is kept (at most
``PRODREADY_PROFILING_KEEP``, in ``prodready-profiles`` in the instance folder, shared by
the workers of a machine) as a ``.prof`` file for snakeviz and a summary of its functions.
A header from anyone else is ignored, and requests without it pay one dictionary lookup.
The header's value is a credential: the app behind the wrapper, and so error records and
logs, see it as ``***``.

Profiling is best effort: when a profile cannot be saved (a read-only or full folder) it is
dropped, the response goes out unchanged (without the id header), and the failure is
counted (:func:`failures`) and logged once per kind and process. A store that cannot be read
for armed profiling means nothing is armed.

cProfile rather than a sampling profiler: it measures exactly the one request asked for,
with call counts, comes with Python, and its ``.prof`` files open in snakeviz and pstats.
For a whole busy worker, attach py-spy instead (see the Performance docs).
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask
from loguru import logger

from .exceptions import SetupError
from .pipeline import pipeline
from .redaction import REDACTED, redact_url_passwords
from .request_id import DEFAULT_HEADER, request_id
from .settings.casts import BOOL, HEADER_NAME, INT, OPTIONAL_STR, at_least
from .settings.schema import Setting
from .state import get_state

if TYPE_CHECKING:
    import cProfile
    import pstats

    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .state import ProdReadyState

__all__ = [
    "FAILURE_KINDS",
    "ProfileCapture",
    "arm",
    "armed",
    "failures",
    "init_profiling",
    "list_profiles",
    "profile_file",
]

#: The settings the ``profiling`` part declares, in the order of the configuration reference.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PRODREADY_PROFILING_ENABLED",
        True,
        BOOL,
        "Profile a request that carries the profiling header with the profiling token (any "
        "value from loopback in development); without the header it costs nothing. See "
        "[Performance](performance.md).",
    ),
    Setting(
        "PRODREADY_PROFILING_HEADER",
        "X-Prodready-Profile",
        HEADER_NAME,
        "The request header that asks for a profile; its value is the profiling token. See "
        "[Performance](performance.md).",
    ),
    Setting(
        "PRODREADY_PROFILING_TOKEN",
        None,
        OPTIONAL_STR,
        "The token that lets a request be profiled; unset, only loopback clients in the "
        "development environment can. See [Performance](performance.md).",
    ),
    Setting(
        "PRODREADY_PROFILING_KEEP",
        20,
        at_least(INT, 1),
        "Profiles kept; the oldest are deleted first. See [Performance](performance.md).",
    ),
    Setting(
        "PRODREADY_PROFILING_DIR",
        None,
        OPTIONAL_STR,
        "Where profiles are kept; unset, `prodready-profiles` in the app's instance folder. See "
        "[Performance](performance.md).",
    ),
)

_ID_HEADER = "X-Prodready-Profile-Id"
_ARMED_KEY = "profiling.armed"
#: Seconds between two reads of the armed state from the store.
_ARM_REFRESH = 1.0
_TOP = 40
_LOGGER = "flask_prodready.profiling"

#: What :func:`failures` counts: ``write``, a profile that could not be saved and was
#: dropped; ``prune``, old profiles that could not be deleted; ``armed``, the armed state
#: that could not be read or updated in the store; ``profiler``, cProfile that could not
#: start (another profiler active in the process). None of them fails a request.
FAILURE_KINDS: tuple[str, ...] = ("write", "prune", "armed", "profiler")

_FAILURE_MESSAGES = {
    "write": "could not save a profile in {directory}; it was dropped",
    "prune": "could not delete old profiles in {directory}",
    "armed": "could not read or update the armed profiling state in the store; "
    "nothing counts as armed until it can",
    "profiler": "could not start cProfile; the request ran without it",
}


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
        #: Failures of the best-effort work, by kind (:data:`FAILURE_KINDS`), in this process.
        self.failures: dict[str, int] = dict.fromkeys(FAILURE_KINDS, 0)
        self._warned: set[tuple[str, str]] = set()
        self._failures_lock = threading.Lock()
        #: Set by init_profiling: the app's state, whose metrics part (if on) counts
        #: failures.
        self.state: ProdReadyState | None = None

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
        """Call ``wsgi_app`` for the request, under cProfile when asked and allowed.

        The app's ``start_response`` is held until the profile is saved, so that the id
        header goes out only with a profile that was written; nothing else of the response
        changes, and no failure of the profiling itself reaches the request.
        """
        asked = environ.get(self.environ_key)
        if asked is not None:
            # A credential: the app, its error records and its logs never see the value.
            environ[self.environ_key] = REDACTED
        allowed = asked is not None and self._allowed(str(asked), environ)
        if not allowed and not self._armed_for(environ):
            return wsgi_app(environ, start_response)
        # Imported here, on the first profiled request: the settings schema imports this
        # module for every app, also one that never profiles.
        import cProfile

        profiler = cProfile.Profile()
        try:
            profiler.enable()
        except Exception as error:  # Python 3.12+: one profiler at a time per process
            self._failed("profiler", error)
            return wsgi_app(environ, start_response)
        held = _HeldStart(environ, start_response)
        started = time.perf_counter()
        try:
            result: Iterable[bytes] = wsgi_app(environ, held)
        finally:
            profiler.disable()
        seconds = time.perf_counter() - started
        profile_id = f"{int(time.time() * 1000)}-{id(environ):x}"
        rid = held.header(self.request_id_header) or request_id()
        saved = self._save(profiler, profile_id, environ, seconds, rid)
        held.release((_ID_HEADER, profile_id) if saved else None)
        return result

    def _armed_for(self, environ: WSGIEnvironment) -> bool:
        """:meth:`_take_armed`, where any failure means "not armed" (counted, logged once)."""
        try:
            return self._take_armed(environ)
        except Exception as error:  # a malformed armed state: never the request's problem
            self._failed("armed", error)
            return False

    def _failed(self, kind: str, error: BaseException) -> None:
        """Count a failure of ``kind``; log the first of each kind and cause per process."""
        cause = f"{type(error).__name__}{getattr(error, 'errno', None) or ''}"
        with self._failures_lock:
            self.failures[kind] += 1
            first = (kind, cause) not in self._warned
            self._warned.add((kind, cause))
        metrics = self.state.metrics if self.state is not None else None
        if metrics is not None:
            metrics.count_profiling_failure(kind)
        if first:
            logger.bind(logger=_LOGGER).warning(
                "{} ({}: {}); the request was answered as usual, and further failures like "
                "this one are counted (flask_prodready.profiling.failures), not logged",
                _FAILURE_MESSAGES[kind].format(directory=self.directory),
                type(error).__name__,
                redact_url_passwords(str(error))[:300],
            )

    def _take_armed(self, environ: WSGIEnvironment) -> bool:
        """True when the dashboard armed profiling for this request's route (and counts it)."""
        now = time.perf_counter()
        if now - self._armed_checked >= _ARM_REFRESH:
            self._armed_checked = now
            try:
                self._armed = _read_armed(self.store)
            except Exception as error:  # the store down or the state malformed: not armed
                self._armed = None
                self._failed("armed", error)
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
        if remaining <= 0:
            self._armed = None
        try:
            _write_armed(self.store, armed if remaining > 0 else None)
        except Exception as error:  # at worst another worker profiles one request more
            self._failed("armed", error)
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
    ) -> bool:
        """Save the profile; on any failure drop it, leaving no partial file, and say so.

        The summary is written under a hidden name and renamed, so that readers never see
        half of it. True when the profile was kept.
        """
        prof = self.directory / f"{profile_id}.prof"
        partial = self.directory / f".{profile_id}.json.partial"
        import pstats

        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            stats = pstats.Stats(profiler)
            stats.dump_stats(prof)
            summary = self._summary(stats, profile_id, environ, seconds, rid)
            partial.write_text(json.dumps(summary))
            os.replace(partial, self.directory / f"{profile_id}.json")
        except Exception as error:  # read-only, full, gone: the request must not notice
            for path in (prof, partial):
                with contextlib.suppress(OSError):  # a folder that refuses even this kept nothing
                    path.unlink(missing_ok=True)
            self._failed("write", error)
            return False
        try:
            self._prune()
        except OSError as error:
            self._failed("prune", error)
        return True

    def _summary(
        self,
        stats: pstats.Stats,
        profile_id: str,
        environ: Any,
        seconds: float,
        rid: str | None,
    ) -> dict[str, Any]:
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
        return {
            "id": profile_id,
            "time": time.time(),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "request_id": rid,
            "duration_ms": round(seconds * 1000, 3),
            "functions": rows[:_TOP],
        }

    def _prune(self) -> None:
        summaries = sorted(self.directory.glob("*.json"))
        for old in summaries[: max(0, len(summaries) - self.keep)]:
            old.unlink(missing_ok=True)
            old.with_suffix(".prof").unlink(missing_ok=True)


class _HeldStart:
    """A ``start_response`` that holds the app's status and headers until :meth:`release`.

    Holding them lets the profiler add its id header only once the profile is saved. The
    request the app was served with is kept too: Flask detaches it from the environ when
    its request context ends, and the middleware's ``start_response`` reads it there (the
    access line's route). An app that writes with the legacy ``write()`` before returning
    gets its headers sent at once, without the id header.
    """

    def __init__(self, environ: WSGIEnvironment, start_response: StartResponse) -> None:
        self.environ = environ
        self.start_response = start_response
        self.holding = True
        self.held: tuple[str, list[tuple[str, str]], OptExcInfo | None, Any] | None = None
        self.extra: tuple[str, str] | None = None
        self.write: Callable[[bytes], object] | None = None

    def __call__(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: OptExcInfo | None = None,
        /,
    ) -> Callable[[bytes], object]:
        if not self.holding:  # an app that starts its response while it is iterated
            return self._send(status, headers, exc_info)
        self.held = (status, headers, exc_info, self.environ.get("werkzeug.request"))
        return self._write

    def header(self, name: str) -> str | None:
        """The value of the held response header ``name``, if the app set it."""
        if self.held is None:
            return None
        lowered = name.lower()
        return next((v for k, v in self.held[1] if k.lower() == lowered), None)

    def release(self, extra: tuple[str, str] | None) -> None:
        """Stop holding: start the response as the app asked, with the ``extra`` header."""
        self.holding, self.extra = False, extra
        if self.held is None:
            return
        (status, headers, exc_info, req), self.held = self.held, None
        environ = self.environ
        restore = req is not None and environ.get("werkzeug.request") is None
        if restore:
            environ["werkzeug.request"] = req
        try:
            self._send(status, headers, exc_info)
        finally:
            if restore:
                environ["werkzeug.request"] = None

    def _send(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None
    ) -> Callable[[bytes], object]:
        if self.extra is not None:
            headers.append(self.extra)
        self.write = self.start_response(status, headers, exc_info)
        return self.write

    def _write(self, data: bytes) -> object:
        if self.write is None:  # write() before the app returned: the headers go first
            self.release(None)
        if self.write is None:
            raise RuntimeError("the app called write() before start_response()")
        return self.write(data)


def _read_armed(store: Any) -> dict[str, Any] | None:
    """The armed state in ``store``; raises when the store or the state is broken."""
    if store is None:
        return None
    raw = store.values(_ARMED_KEY).get(_ARMED_KEY)
    if not raw:
        return None
    state = json.loads(raw)
    if not (
        isinstance(state, dict)
        and isinstance(state.get("route"), str)
        and isinstance(state.get("remaining"), int)
    ):
        raise ValueError(f"malformed armed profiling state in the store: {str(raw)[:100]!r}")
    return state


def _write_armed(store: Any, armed: dict[str, Any] | None) -> None:
    if store is not None:
        store.set_value(_ARMED_KEY, json.dumps(armed) if armed else None)


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
    """What is armed now: ``{"route": ..., "remaining": ...}``, or ``None`` (also when the
    store cannot be read; the failure is counted in :func:`failures`).

    .. versionadded:: 0.1
    """
    capture = _capture(app)
    try:
        return _read_armed(capture.store)
    except Exception as error:  # the dashboard shows "nothing armed" rather than a 500
        capture._failed("armed", error)
        return None


def failures(app: Flask) -> dict[str, int]:
    """How often the best-effort work of profiling failed in this process, by kind.

    The kinds are :data:`FAILURE_KINDS`; each failure also logs one WARNING the first time
    its kind and cause are seen in the process. A request never fails for any of them::

        >>> failures(app)
        {'write': 0, 'prune': 0, 'armed': 0, 'profiler': 0}

    .. versionadded:: 0.2
    """
    capture = _capture(app)
    with capture._failures_lock:
        return dict(capture.failures)


def _capture(app: Flask) -> ProfileCapture:
    capture = get_state(app).profiling
    if capture is None:
        raise SetupError(
            f"profiling is off for the app {app.name!r}; set PRODREADY_PROFILING_ENABLED = true"
        )
    return capture


def list_profiles(app: Flask) -> list[dict[str, Any]]:
    """The kept profile summaries of ``app``, newest first.

    .. versionadded:: 0.1
    """
    directory = _capture(app).directory
    try:
        paths = sorted(directory.glob("*.json"), reverse=True)
    except OSError:  # an unreadable folder holds no profile we can show
        return []
    profiles = []
    for path in paths:
        try:
            profiles.append(json.loads(path.read_text()))
        except (OSError, ValueError):  # deleted by another worker's pruning meanwhile
            continue
    return profiles


def profile_file(app: Flask, profile_id: str) -> Path | None:
    """The ``.prof`` file of a kept profile, or ``None``.

    .. versionadded:: 0.1
    """
    if not profile_id.replace("-", "").isalnum():
        return None
    path = _capture(app).directory / f"{profile_id}.prof"
    return path if path.is_file() else None


def init_profiling(app: Flask, state: ProdReadyState) -> None:
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
    capture.store = state.error_store
    capture.state = state
    # Inside the shared middleware: no WSGI layer of its own, and the request id is bound.
    pipeline(app, state).run_app_with(capture)
    state.profiling = capture
