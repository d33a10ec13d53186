"""Graceful shutdown: on SIGTERM, ``/readyz`` answers 503 while the process drains.

When a gunicorn worker gets SIGTERM (the master forwards it on shutdown, on reload and
when Kubernetes stops the pod), the handler installed here:

1. calls :func:`drain`: every health runner of the process answers ``/readyz`` with 503
   at once, so load balancers stop sending new requests;
2. keeps serving normally for ``PRODREADY_HEALTH_DRAIN_SECONDS``;
3. then hands SIGTERM to the handler it replaced (gunicorn's), which stops accepting
   connections and lets in-flight requests finish within gunicorn's ``graceful_timeout``.

``init_app`` installs the handler itself when ``PRODREADY_HEALTH_HANDLE_SIGTERM`` is
``auto`` (the default) and it runs in the main thread of a gunicorn worker, or when the
setting is ``always``. With gunicorn's ``preload_app`` the app is loaded in the master,
before the workers exist; install the handler from ``gunicorn.conf.py`` instead::

    from flask_prodready.health.shutdown import install_sigterm_handler

    def post_worker_init(worker):
        install_sigterm_handler(drain_seconds=5.0)

Any other hook (``worker_int``, ``worker_abort``, ``on_exit``…) may call :func:`drain`.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

from flask_prodready.exceptions import SetupError

from .runner import live_runners

__all__ = ["drain", "in_gunicorn_worker", "install_sigterm_handler"]

_log = logging.getLogger("flask_prodready.health")

#: The reason the runners give while draining after SIGTERM.
SIGTERM_REASON = "shutting down (SIGTERM received)"


def drain(reason: str = "shutting down") -> int:
    """Make every health runner of this process answer ``/readyz`` with 503 from now on.

    Safe to call from a signal handler, a gunicorn hook or any thread.

    :param reason: shown to authorised callers as the output of ``/readyz``.
    :returns: how many runners were drained.

    .. versionadded:: 0.1
    """
    count = 0
    for runner in live_runners():
        runner.drain(reason)
        count += 1
    return count


def in_gunicorn_worker() -> bool:
    """Whether this process is a gunicorn worker whose SIGTERM handler is gunicorn's (or
    already ours).

    .. versionadded:: 0.1
    """
    handler = signal.getsignal(signal.SIGTERM)
    if isinstance(handler, _SigtermHandler):
        return handler.gunicorn
    return _is_gunicorn_worker_handler(handler)


def install_sigterm_handler(drain_seconds: float = 5.0) -> bool:
    """Install the draining SIGTERM handler in this process (see the module's docs).

    Installing twice keeps one handler, with the longer drain.

    :param drain_seconds: how long to keep serving after SIGTERM before handing the signal
        to the previous handler; ``0`` hands it over at once (``/readyz`` still flips).
    :returns: ``False`` when not called from the main thread (signals can only be handled
        there), ``True`` otherwise.

    .. versionadded:: 0.1
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    current = signal.getsignal(signal.SIGTERM)
    if isinstance(current, _SigtermHandler):
        current.drain_seconds = max(current.drain_seconds, drain_seconds)
        return True
    handler = _SigtermHandler(current, drain_seconds, _is_gunicorn_worker_handler(current))
    signal.signal(signal.SIGTERM, handler)
    if hasattr(signal, "siginterrupt"):
        # Like gunicorn: SIGTERM must not interrupt system calls of requests in flight.
        signal.siginterrupt(signal.SIGTERM, False)
    return True


def install_for_setting(mode: str, drain_seconds: float) -> bool:
    """What ``init_app`` does for ``PRODREADY_HEALTH_HANDLE_SIGTERM``.

    :raises SetupError: for ``always`` outside the main thread.

    :meta private:
    """
    if mode == "never":
        return False
    main = threading.current_thread() is threading.main_thread()
    if mode == "always":
        if not main:
            raise SetupError(
                "PRODREADY_HEALTH_HANDLE_SIGTERM is 'always' but init_app runs outside the "
                "main thread, where no signal handler can be installed; call init_app in the "
                "main thread or set it to 'auto'"
            )
        return install_sigterm_handler(drain_seconds)
    if main and in_gunicorn_worker():
        return install_sigterm_handler(drain_seconds)
    return False


class _SigtermHandler:
    """Drain, wait, then hand SIGTERM over to the handler that was there before."""

    def __init__(self, previous: Any, drain_seconds: float, gunicorn: bool) -> None:
        self.previous = previous
        self.drain_seconds = drain_seconds
        self.gunicorn = gunicorn
        self.received = False
        self.handing_over = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.handing_over:
            self._hand_over(signum, frame)
            return
        if self.received:
            return
        self.received = True
        drain(SIGTERM_REASON)
        if self.drain_seconds <= 0:
            self._hand_over(signum, frame)
            return
        _log.warning(
            "SIGTERM: draining for %gs before shutting down (pid %d)",
            self.drain_seconds,
            os.getpid(),
        )
        timer = threading.Timer(self.drain_seconds, self._drained)
        timer.daemon = True
        timer.start()

    def _drained(self) -> None:
        # Back in the main thread through the signal, where the handler can be replaced.
        self.handing_over = True
        os.kill(os.getpid(), signal.SIGTERM)

    def _hand_over(self, signum: int, frame: FrameType | None) -> None:
        previous = self.previous
        if previous is None:
            previous = signal.SIG_DFL
        signal.signal(signal.SIGTERM, previous)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            os.kill(os.getpid(), signal.SIGTERM)


def _is_gunicorn_worker_handler(handler: Any) -> bool:
    module = sys.modules.get("gunicorn.workers.base")
    if module is None:
        return False
    return isinstance(getattr(handler, "__self__", None), module.Worker)
