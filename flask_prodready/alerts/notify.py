"""Telling people of alert state changes: a log line, then each webhook, off the request path.

A receiver is a JSON webhook (the change as it is) or a Slack incoming webhook (one line of
text). Sending happens in a daemon thread of its own, retried with a short backoff, so a
slow receiver never holds up the evaluation.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from loguru import logger

__all__ = ["Notifier"]


@dataclass
class _Receiver:
    kind: str  # "webhook" or "slack"
    url: str


class Notifier:
    """Sends state changes off the request path: a log line, then each webhook, retried.

    :param receivers: ``(kind, url)`` pairs, kind ``webhook`` (JSON) or ``slack``.
    :param timeout: seconds per attempt.
    :param retries: attempts after the first.

    .. versionadded:: 0.1
    """

    def __init__(
        self, receivers: Iterable[tuple[str, str]], timeout: float = 5.0, retries: int = 2
    ) -> None:
        self.receivers = [_Receiver(kind, url) for kind, url in receivers]
        self.timeout = timeout
        self.retries = retries
        self.sent = 0
        self.failures = 0
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=1000)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def notify(self, change: dict[str, Any]) -> None:
        """Log ``change`` now and queue it for the receivers."""
        level = "WARNING" if change["state"] == "firing" else "INFO"
        logger.bind(
            logger="flask_prodready.alerts", alert=change["alert"], severity=change["severity"]
        ).log(level, "alert {} is {}: {}", change["alert"], change["state"], change["summary"])
        if not self.receivers:
            return
        try:
            self._queue.put_nowait(change)
        except queue.Full:
            with self._lock:
                self.failures += 1
            return
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="prodready-alerts-notify", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            change = self._queue.get()
            for receiver in self.receivers:
                self._send(receiver, change)
            self._queue.task_done()

    def _send(self, receiver: _Receiver, change: dict[str, Any]) -> None:
        if receiver.kind == "slack":
            emoji = ":rotating_light:" if change["state"] == "firing" else ":white_check_mark:"
            text = f"{emoji} [{change['severity']}] {change['alert']} is {change['state']}"
            body = {"text": f"{text}: {change['summary']}"}
        else:
            body = change
        data = json.dumps(body).encode()
        for attempt in range(self.retries + 1):
            try:
                request = urllib.request.Request(  # noqa: S310 - the operator's configured URL
                    receiver.url,
                    data=data,
                    method="POST",
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    if 200 <= response.status < 300:
                        with self._lock:
                            self.sent += 1
                        return
            except (OSError, ValueError):
                pass
            if attempt < self.retries:
                time.sleep(min(0.2 * 2**attempt, 2.0))
        with self._lock:
            self.failures += 1
        logger.bind(logger="flask_prodready.alerts").warning(
            "could not notify {} of alert {} after {} attempts",
            receiver.kind,
            change["alert"],
            self.retries + 1,
        )

    def wait(self, timeout: float = 10.0) -> None:
        """Block until the queued notifications were tried (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
