"""Servers on the loopback interface: free ports, waiting for them, child processes.

Also :func:`upstream_server`, an HTTP server standing for a dependency of the app.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str | Callable[[], str]
) -> None:
    """Poll ``condition`` every 50 ms; fail naming ``what`` (text, or a function giving it
    when the wait fails) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            text = what if isinstance(what, str) else what()
            raise AssertionError(f"timed out after {timeout}s waiting for {text}")
        time.sleep(0.05)


def wait_for(
    probe: Callable[[], T | None],
    *,
    what: str,
    timeout: float = 30.0,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> T:
    """Call ``probe`` until it returns something other than ``None`` (or raises no OSError).

    Fails after ``timeout`` seconds, or as soon as ``process`` has exited, with its log.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = probe()
        except OSError:
            result = None
        if result is not None:
            return result
        exited = process is not None and process.poll() is not None
        if exited or time.monotonic() > deadline:
            output = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
            state = "the process exited" if exited else f"timed out after {timeout:.0f} s"
            raise AssertionError(f"{state} waiting for {what}\n{output}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    """Stop ``process`` and its process group: ``sig``, then SIGKILL after 10 s."""
    if process.poll() is None:
        process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # children left behind, if any
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


@contextlib.contextmanager
def running(
    command: Sequence[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` with its output in ``log``; stop it (TERM, then KILL) on the way out."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            list(command), env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> str:
    """The body of a GET of ``url``, a loopback ``http`` address (which must answer 2xx)."""
    assert url.startswith("http://127.0.0.1:"), url
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body: bytes = response.read()
        return body.decode()


def http_status(url: str, timeout: float = 10.0) -> int:
    """The status of a GET of ``url`` (error statuses included); 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)
    except OSError:
        return 0


class _UpstreamHandler(http.server.BaseHTTPRequestHandler):
    """``/<code>`` answers that status; ``/private`` wants Basic ``user:hunter2``."""

    def do_GET(self) -> None:
        if self.path == "/private":
            expected = "Basic " + base64.b64encode(b"user:hunter2").decode()
            code = 200 if self.headers.get("Authorization") == expected else 401
        else:
            code = int(self.path.strip("/") or 200)
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def upstream_server() -> Iterator[str]:
    """The base URL of an HTTP server on loopback standing for a dependency.

    ``GET /<code>`` answers with that status (``/`` with 200); ``GET /private`` answers 200
    with the Basic credentials ``user:hunter2`` and 401 without.
    """
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _UpstreamHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
