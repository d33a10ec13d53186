"""Turn an exception in a request into a stored, redacted occurrence, never failing the request."""

from __future__ import annotations

import hashlib
import os
import socket
import sysconfig
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import request
from loguru import logger

from .redaction import redact_headers, redact_url_passwords
from .release import UNKNOWN_RELEASE
from .request_id import request_id
from .store import ErrorGroup, ErrorOccurrence, ErrorStore

if TYPE_CHECKING:
    from .state import ProdReadyState

__all__ = ["JOB_METHOD", "ErrorRecorder", "fingerprint"]

#: The ``method`` of an error recorded in a job rather than a request.
JOB_METHOD = "JOB"

_LIBRARY_DIRS = tuple(
    {
        str(Path(p).resolve())
        for p in (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"])
    }
)
_OWN_DIR = str(Path(__file__).resolve().parent)
_HOST = socket.gethostname()


def _is_app_frame(filename: str) -> bool:
    if filename.startswith("<"):
        return False
    path = str(Path(filename).resolve())
    return not (
        path.startswith(_LIBRARY_DIRS)
        or path.startswith(_OWN_DIR)
        or "site-packages" in path
        or "dist-packages" in path
    )


def fingerprint(error: BaseException) -> str:
    """A stable id for "the same error": its type and the app's own frames.

    Frames are named by file and function, not line number, so an edit elsewhere in a file
    keeps the fingerprint; the message is left out, so ``order 7`` and ``order 8`` are one
    error. When no frame is the app's, the innermost frame stands in.

    .. versionadded:: 0.1
    """
    kind = type(error)
    parts = [f"{kind.__module__}.{kind.__qualname__}"]
    frames = traceback.extract_tb(error.__traceback__)
    own = [f for f in frames if _is_app_frame(f.filename)] or frames[-1:]
    for frame in own:
        parts.append(f"{Path(frame.filename).name}:{frame.name}")
    return hashlib.sha1("|".join(parts).encode(), usedforsecurity=False).hexdigest()[:16]


def _text_of(error: BaseException) -> str:
    """``str(error)``, or a stand-in when its ``__str__`` raises."""
    try:
        return str(error)
    except Exception:  # an exception class of the app with a broken __str__
        return f"<{type(error).__qualname__}: str() failed>"


def _stack(error: BaseException) -> str:
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    return redact_url_passwords("".join(lines))


class ErrorRecorder:
    """Records errors into a store; store failures are counted and logged, never raised.

    After a failure the store is left alone for ``backoff`` seconds, so a dead Redis or a
    locked file costs one timeout, not one per request; errors meanwhile are dropped and
    counted.

    :param store: where occurrences go.
    :param breadcrumbs: returns the current request's recent log lines.
    :param backoff: seconds to skip the store after a failure.
    :param state: the app's state, whose metrics part (if on) counts recorded and dropped
        errors.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       ``state`` instead of ``components``.
    """

    def __init__(
        self,
        store: ErrorStore,
        breadcrumbs: Any = None,
        backoff: float = 5.0,
        state: ProdReadyState | None = None,
    ) -> None:
        self.store = store
        self._state = state
        self.breadcrumbs = breadcrumbs
        self.backoff = backoff
        self.recorded = 0
        self.dropped = 0
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def occurrence(self, error: BaseException, status: int) -> ErrorOccurrence:
        """The occurrence for ``error`` in the current request, redacted."""
        rule = request.url_rule
        return ErrorOccurrence(
            **self._about(error),
            status=status,
            method=request.method,
            route=rule.rule if rule is not None else "<unmatched>",
            path=request.path,
            headers=redact_headers(request.headers.items()),
            # The same rule for query parameters: a secret-looking name hides the value.
            query=redact_headers(request.args.items(multi=True)),
        )

    def job_occurrence(
        self, error: BaseException, job: str, context: dict[str, Any] | None = None
    ) -> ErrorOccurrence:
        """The occurrence for ``error`` in the job ``job``, outside any request.

        :param error: the exception that ended the job.
        :param job: the job's name, which stands for the route (method ``JOB``).
        :param context: what the job knows of itself (``job_id``, ``parent_request_id``,
            ``arguments``), already redacted.

        .. versionadded:: 0.2
        """
        return ErrorOccurrence(
            **self._about(error),
            status=500,
            method=JOB_METHOD,
            route=job,
            path=job,
            context=dict(context or {}),
        )

    def _about(self, error: BaseException) -> dict[str, Any]:
        """What every occurrence says of its error and of where it happened, redacted."""
        return {
            "fingerprint": fingerprint(error),
            "timestamp": time.time(),
            "exception_type": f"{type(error).__module__}.{type(error).__qualname__}",
            "message": redact_url_passwords(_text_of(error))[:2000],
            "stack": _stack(error)[:20000],
            "request_id": request_id(),
            "breadcrumbs": list(self.breadcrumbs() if self.breadcrumbs else ()),
            "host": _HOST,
            "pid": os.getpid(),
            "release": self._release(),
        }

    def _release(self) -> str:
        # "unknown" is no release: it would make every later known release a regression.
        release = self._state.release if self._state is not None else None
        return "" if release is None or release.version == UNKNOWN_RELEASE else release.version

    def record(self, error: BaseException, status: int) -> ErrorGroup | None:
        """Record ``error``; ``None`` when it was dropped (store down or backing off)."""
        # Checked before the occurrence is built: while backing off, no work is done for it.
        if self._backing_off():
            return None
        return self._store(self.occurrence(error, status))

    def save(self, occurrence: ErrorOccurrence) -> ErrorGroup | None:
        """Store ``occurrence``; ``None`` when it was dropped (store down or backing off).

        .. versionadded:: 0.2
        """
        if self._backing_off():
            return None
        return self._store(occurrence)

    def _backing_off(self) -> bool:
        """True, counting a dropped error, while the store is left alone after a failure."""
        if time.monotonic() < self._retry_at:
            self._count(dropped=True)
            return True
        return False

    def _store(self, occurrence: ErrorOccurrence) -> ErrorGroup | None:
        try:
            group = self.store.record(occurrence)
        except Exception as exc:  # any store failure: the request must still get its answer
            self._retry_at = time.monotonic() + self.backoff
            self._count(dropped=True)
            logger.bind(logger="flask_prodready.errors").warning(
                "could not record an error in the store ({}: {}); skipping the store for {}s",
                type(exc).__name__,
                redact_url_passwords(str(exc))[:200],
                self.backoff,
            )
            return None
        self._count(dropped=False)
        return group

    def _count(self, *, dropped: bool) -> None:
        with self._lock:
            if dropped:
                self.dropped += 1
            else:
                self.recorded += 1
        metrics = self._state.metrics if self._state is not None else None
        if metrics is not None:
            if dropped:
                metrics.count_error_dropped("failure")
            else:
                metrics.count_error_recorded()
