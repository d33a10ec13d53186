"""A small bounded pool of daemon threads for running health checks.

``concurrent.futures.ThreadPoolExecutor`` is not used because its threads are joined when
the interpreter exits: one hung check would keep a gunicorn worker from exiting until it is
killed. Here threads are daemons, started only when work is waiting and no thread is idle,
never more than ``max_workers``, and they end after ``idle_seconds`` without work.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

_log = logging.getLogger("flask_prodready.health")

#: Seconds an idle thread waits for work before it ends.
IDLE_SECONDS = 30.0


class BoundedPool:
    """Run callables on at most ``max_workers`` daemon threads, queueing the rest.

    :param max_workers: the most threads alive at once.
    :param name: the prefix of the threads' names.
    :param idle_seconds: how long an idle thread waits for work before it ends.
    """

    def __init__(self, max_workers: int, name: str, idle_seconds: float = IDLE_SECONDS) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self.max_workers = max_workers
        self.name = name
        self.idle_seconds = idle_seconds
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._work: deque[Callable[[], None]] = deque()
        self._threads = 0
        self._idle = 0
        self._serial = 0
        self._generation = 0

    def after_fork(self) -> None:
        """Forget the threads of the parent process, which do not exist in a forked child."""
        self._reset()

    @property
    def threads(self) -> int:
        """How many threads are alive (busy or idle)."""
        with self._cond:
            return self._threads

    @property
    def busy(self) -> int:
        """How many threads are running work."""
        with self._cond:
            return self._threads - self._idle

    def submit(self, work: Callable[[], None]) -> None:
        """Queue ``work``; a thread runs it as soon as one is free."""
        with self._cond:
            self._work.append(work)
            if len(self._work) > self._idle and self._threads < self.max_workers:
                self._serial += 1
                thread = threading.Thread(
                    target=self._loop, name=f"{self.name}-{self._serial}", daemon=True
                )
                self._threads += 1
                thread.start()
            self._cond.notify()

    @property
    def queued(self) -> int:
        """How many callables wait for a thread."""
        with self._cond:
            return len(self._work)

    def discard(self, work: Callable[[], None]) -> bool:
        """Take ``work`` out of the queue if no thread has taken it yet."""
        with self._cond:
            try:
                self._work.remove(work)
            except ValueError:
                return False
            return True

    def close(self) -> None:
        """End the threads that are idle now (busy ones end after ``idle_seconds`` without
        work); later work starts threads again."""
        with self._cond:
            self._generation += 1
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._idle += 1
                generation = self._generation
                deadline = time.monotonic() + self.idle_seconds
                while not self._work and self._generation == generation:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                self._idle -= 1
                if not self._work:
                    self._threads -= 1
                    return
                work = self._work.popleft()
            try:
                work()
            except BaseException:  # the work reports its own errors; keep the thread alive
                _log.exception("health check pool %s: unexpected error", self.name)
