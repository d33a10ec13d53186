"""Shipping: log lines at or above a level go to the error store of the app that logged them.

Each app that sets logs up tells the shipper its level (``PRODREADY_LOG_STORE_LEVEL``, or
none) with :meth:`LineShipper.ship_for`. A line logged inside an app context goes to that
app's store; a line logged outside any (a background thread, the gunicorn master) goes to
the most recently set up live app that ships. The shipper holds the apps' states through
weak references only: an app that is gone (an app per test) leaves nothing behind, and its
queued lines are dropped.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from flask import current_app, has_app_context

from flask_prodready.state import EXTENSION_KEY

if TYPE_CHECKING:
    from flask_prodready.state import ProdReadyState
    from flask_prodready.store import LogLine

__all__ = ["NEVER", "LineShipper"]

#: A level above every level: the shipper's :attr:`~LineShipper.level` when no app ships.
NEVER = 1 << 30


class _Shipping(NamedTuple):
    """How one app ships: at ``level`` and above (``None``: not at all), at once or not."""

    level: int | None
    synchronous: bool


class LineShipper:
    """Sends log lines at or above a level to the store, in batches, from its own thread.

    :meth:`offer` only appends to a bounded queue, so logging never waits for the store; a
    full queue drops the oldest line. A failed write is counted (:attr:`failures`) and the
    batch is lost. The thread starts on the first line of each process (so after a fork,
    too). The store is read from the app's state at each flush, because the errors part
    opens it after the logs part.

    :param capacity: how many lines wait at most.
    :param interval: how long the thread sleeps between two flushes, in seconds.
    """

    def __init__(self, capacity: int = 1000, interval: float = 0.25) -> None:
        self.capacity = capacity
        self.interval = interval
        #: The lowest level that a live app ships (:data:`NEVER` when none does): the sink
        #: offers nothing below it, so an app that ships nothing costs nothing per line.
        self.level = NEVER
        #: Batches that the store failed to write, in this process.
        self.failures = 0
        self._failures_of: weakref.WeakKeyDictionary[ProdReadyState, int] = (
            weakref.WeakKeyDictionary()
        )
        #: Lines dropped because the queue was full.
        self.dropped = 0
        self._apps: weakref.WeakKeyDictionary[ProdReadyState, _Shipping] = (
            weakref.WeakKeyDictionary()
        )
        self._default: weakref.ref[ProdReadyState] | None = None
        self._flushing = False
        self._pending: deque[tuple[LogLine, weakref.ref[ProdReadyState]]] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def ship_for(self, state: ProdReadyState, level: int | None, synchronous: bool) -> None:
        """Ship the lines of ``state``'s app at ``level`` and above (``None``: none).

        :param state: the app's state, held weakly.
        :param level: the lowest level number shipped, or ``None`` for none.
        :param synchronous: write each line at once, in the caller's thread (the
            ``testing`` environment: no background thread, and a test sees the line in
            the store straight away).
        """
        with self._lock:
            self._apps.pop(state, None)  # set up again: now the most recent one
            self._apps[state] = _Shipping(level, synchronous)
            self._refresh()

    def stop_all(self) -> None:
        """Ship nothing for any app from now on, and drop the queued lines."""
        with self._lock:
            self._apps.clear()
            self._pending.clear()
            self._refresh()

    def apps(self) -> int:
        """How many live apps the shipper knows (shipping or not)."""
        return len(self._apps)

    def _refresh(self) -> None:
        shipping = [(state, each.level) for state, each in self._apps.items()]
        levels = [level for _, level in shipping if level is not None]
        self.level = min(levels, default=NEVER)
        latest = next((state for state, level in reversed(shipping) if level is not None), None)
        self._default = None if latest is None else weakref.ref(latest)

    def _target(self) -> tuple[ProdReadyState, _Shipping] | None:
        """The app a line logged now belongs to, and how it ships; ``None``: no app."""
        apps = self._apps
        if has_app_context():
            state: ProdReadyState | None = current_app.extensions.get(EXTENSION_KEY)
            if state is not None:
                shipping = apps.get(state)
                if shipping is not None:
                    return state, shipping
        # Outside an app context, or in an app that did not set logs up.
        latest = self._latest()
        if latest is None:
            return None
        shipping = apps.get(latest)
        return None if shipping is None else (latest, shipping)

    def _latest(self) -> ProdReadyState | None:
        """The most recently set up live app that ships."""
        default = self._default
        if default is None:
            return None
        state = default()
        if state is None:  # gone: the app set up before it, if one ships
            with self._lock:
                self._refresh()
                state = None if self._default is None else self._default()
        return state

    def offer(self, record: Mapping[str, Any], text: str) -> None:
        """Queue one line (``text``, its JSON) for the store of the app that logged it."""
        if threading.current_thread() is self._thread:
            return  # a line logged while writing to the store must not loop back
        target = self._target()
        if target is None:
            return
        state, shipping = target
        if shipping.level is None or record["level"].no < shipping.level:
            return
        from flask_prodready.store import LogLine

        if len(self._pending) >= self.capacity:
            self.dropped += 1
        line = LogLine(
            record["time"].timestamp(),
            record["level"].name,
            record["extra"].get("request_id"),
            text,
        )
        self._pending.append((line, weakref.ref(state)))
        if shipping.synchronous:
            if not self._flushing:
                self._flushing = True
                try:
                    self.flush()
                finally:
                    self._flushing = False
        elif self._pid != os.getpid():
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name="prodready-log-shipper", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Write the queued lines now, each app's to its store (the thread calls it)."""
        batches: dict[ProdReadyState, list[LogLine]] = {}
        while self._pending:
            try:
                line, app = self._pending.popleft()
            except IndexError:
                break
            state = app()
            if state is not None:
                batches.setdefault(state, []).append(line)
        for state, batch in batches.items():
            store = state.error_store
            if store is None:
                continue
            try:
                store.add_log_lines(batch)
            except Exception:  # the store is down or locked: count it, never raise
                self.failures += 1
                self._failures_of[state] = self._failures_of.get(state, 0) + 1

    def failures_of(self, state: ProdReadyState) -> int:
        """Batches of ``state``'s app that its store failed to write, in this process."""
        return self._failures_of.get(state, 0)

    def after_fork(self) -> None:
        """Renew the lock and forget the parent's thread in a forked child."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
