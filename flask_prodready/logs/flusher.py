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
import signal
import threading
import time
import weakref
from contextlib import suppress
from types import FrameType
from typing import Any, Protocol

__all__ = ["Flushable", "flush_logs", "flush_on_sigterm", "schedule"]


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
        #: Every sink that ever held a line: exit and fork flush them all, including one
        #: the thread is writing right now (its lock makes them wait for that write).
        self._known: weakref.WeakSet[Any] = weakref.WeakSet()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        #: Set once the process exits: from then on every line is written at once.
        self.exiting = False

    def schedule(self, sink: Flushable) -> bool:
        """Flush ``sink`` within its interval; ``False`` if no thread can do it (write now).

        Called with the sink's lock held: it must never call back into the sink.
        """
        if self._pid != os.getpid():
            self.after_fork()  # forked without Python's hooks: nothing here is ours
        with self._lock:
            if self.exiting:
                return False
            self._known.add(sink)
            self._due[id(sink)] = sink
            thread = self._thread
            # A thread that failed to start or died is started again.
            if thread is None or not thread.is_alive():
                thread = threading.Thread(
                    target=self._run, name="prodready-log-flusher", daemon=True
                )
                try:
                    thread.start()
                except RuntimeError:  # can't start new thread: the caller writes at once
                    self._due.pop(id(sink), None)
                    return False
                self._thread, self._pid = thread, os.getpid()
        self._wake.set()
        return True

    def flush_all(self) -> None:
        """Write every line held back, in the calling thread."""
        with self._lock:
            self._due = {}
            known = list(self._known)
        for sink in known:
            sink.flush()

    def at_exit(self) -> None:
        """Write every line held back, and every later line at once."""
        with self._lock:
            self.exiting = True
            known = list(self._known)
        for sink in known:
            sink.flush_seconds = 0.0
        self.flush_all()

    def _run(self) -> None:
        while True:
            try:
                self._wake.wait()
                with self._lock:
                    interval = min((s.flush_seconds for s in self._due.values()), default=0.0)
                # Lines keep arriving meanwhile: they go out with this flush.
                time.sleep(interval)
                self._wake.clear()
                with self._lock:
                    due, self._due = list(self._due.values()), {}
                for sink in due:
                    sink.flush()
            except Exception:  # noqa: S112 - a sink's failure is counted by the sink itself
                continue

    def after_fork(self) -> None:
        # The child has no thread, and nothing held is its own: the parent flushed before
        # forking, or (a fork without Python's hooks) each sink drops the parent's lines.
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._due = {}
        self._thread = None
        self._pid = os.getpid()


_flusher = _Flusher()
os.register_at_fork(before=_flusher.flush_all, after_in_child=_flusher.after_fork)
atexit.register(_flusher.at_exit)
# A multiprocessing (or billiard) child ends in os._exit, without atexit handlers, but after
# threading's own exit callbacks; those are private API, so only where they exist.
_register_threading_atexit = getattr(threading, "_register_atexit", None)
if _register_threading_atexit is not None:
    with suppress(RuntimeError):
        _register_threading_atexit(_flusher.flush_all)


def flush_on_sigterm() -> bool:
    """Write held lines when SIGTERM arrives, then die of it as before; once per process.

    Python's default SIGTERM ends the process without its exit handlers (``docker stop``,
    systemd, Kubernetes outside gunicorn, whose workers exit normally): the lines held back
    would be lost. Only where SIGTERM still has its default action, the app having set no
    handler of its own, and only from the main thread (``signal.signal`` works nowhere
    else). The handler writes the lines, restores the default action and sends SIGTERM
    again, so the process ends exactly as it would have; as PID 1, where the default action
    is to ignore it, the process goes on and the handler stays.

    :return: whether the handler is installed now.
    """
    global _sigterm_installed
    if _sigterm_installed:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False  # the app's, or another library's: theirs decides
    signal.signal(signal.SIGTERM, _flush_then_terminate)
    _sigterm_installed = True
    return True


_sigterm_installed = False


def _flush_then_terminate(signum: int, frame: FrameType | None) -> None:
    _flusher.flush_all()
    signal.signal(signum, signal.SIG_DFL)
    try:
        os.kill(os.getpid(), signum)  # the default action: the process ends here
    finally:
        signal.signal(signum, _flush_then_terminate)  # PID 1 ignored it: keep flushing


def schedule(sink: Flushable) -> bool:
    """Have ``sink.flush()`` called within ``sink.flush_seconds``, by the flusher thread.

    :return: ``False`` when no thread will (the process is exiting, or no thread can be
        started): the caller writes its lines at once.
    """
    return _flusher.schedule(sink)


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
