"""Timing one app: CPU seconds per request over direct WSGI calls."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from flask import Flask
from werkzeug.test import EnvironBuilder

__all__ = ["per_request_seconds"]


def per_request_seconds(app: Flask, requests: int, path: str = "/hello") -> float:
    """Mean CPU seconds of this process per request over ``requests`` WSGI calls of ``path``.

    CPU time of the whole process: the background threads' share (log flusher, alert
    evaluation) counts, and time spent waiting for the machine's other work does not.
    """
    environ = EnvironBuilder(path=path).get_environ()

    def start_response(
        status: str, headers: Iterable[tuple[str, str]], exc_info: Any = None
    ) -> None:
        return None

    wsgi = app.wsgi_app
    started = time.process_time()
    for _ in range(requests):
        for _chunk in wsgi(dict(environ), start_response):
            pass
    return (time.process_time() - started) / requests
