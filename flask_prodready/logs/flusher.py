"""The process's one flusher thread: it writes the lines a sink holds back, a moment later.

A line written to a pipe costs a system call and wakes the process that reads it (a
container runtime, a log shipper): under load that was the largest part of the access
line's cost. A sink with a flush interval (``PRODREADY_LOG_FLUSH_MS``) therefore keeps
its lines for that long and writes them as one. This module wakes once per interval with
lines waiting, never per line, and sleeps while nothing waits.

Nothing held back is lost on the way out: the lines are written before the process forks
(a child would write them again), at interpreter exit, and by :func:`flush_logs`.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from typing import Protocol

__all__ = ["Flushable", "flush_logs", "schedule"]


class Flushable(Protocol):
    """What the flusher writes out: a sink holding lines back."""

    flush_seconds: float

    def flush(self) -> None:
        """Write the lines held back, at once."""


class _Flusher:
    """The thread and the sinks it will flush; one per process (:data:`_flusher`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._due: dict[int, Flushable] = {}
        self._thread: threading.Thread | None = None

    def schedule(self, sink: Flushable) -> None:
        """Flush ``sink`` within its interval; starts the thread on first use."""
        with self._lock:
            self._due[id(sink)] = sink
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="prodready-log-flusher", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def flush_all(self) -> None:
        """Write every line held back, in the calling thread."""
        with self._lock:
            due, self._due = list(self._due.values()), {}
        for sink in due:
            sink.flush()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            with self._lock:
                interval = min((s.flush_seconds for s in self._due.values()), default=0.0)
            # Lines keep arriving meanwhile: they go out with this flush.
            time.sleep(interval)
            self._wake.clear()
            self.flush_all()

    def after_fork(self) -> None:
        # The child has no thread; the parent flushed before forking, so nothing is due.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._due = {}
        self._thread = None


_flusher = _Flusher()
os.register_at_fork(before=_flusher.flush_all, after_in_child=_flusher.after_fork)
atexit.register(_flusher.flush_all)


def schedule(sink: Flushable) -> None:
    """Have ``sink.flush()`` called within ``sink.flush_seconds``, by the flusher thread."""
    _flusher.schedule(sink)


def flush_logs() -> None:
    """Write the log lines held back for ``PRODREADY_LOG_FLUSH_MS``, now.

    The lines go out by themselves within that interval, before a fork and at exit; call
    this where a process ends without Python's exit handlers (``os._exit``), or before
    reading the log destination yourself::

        flush_logs()
        assert "GET /orders 200" in Path("instance/app.log").read_text()

    .. versionadded:: 0.1
    """
    _flusher.flush_all()
