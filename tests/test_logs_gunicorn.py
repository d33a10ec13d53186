"""Logging under real gunicorn workers: every worker logs, and a HUP reload never hangs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent

WSGI = """
import time
from flask import Flask
from flask_prodready import ProdReady

app = Flask(__name__)
ProdReady(app)

@app.get("/slow")
def slow():
    time.sleep(0.03)
    return "ok"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Gunicorn:
    """A gunicorn master on a loopback port, its stdout collected in a file."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.out = root / "stdout.log"
        self.err = root / "stderr.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(REPO)])}
        env.pop("PRODREADY_ENV", None)
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--preload",
            "-w",
            "3",
            "-b",
            f"127.0.0.1:{self.port}",
            "--graceful-timeout",
            "5",
            "wsgi:app",
        ]
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=err)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]

    def wait_until_serving(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited: {self.err.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/slow", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"gunicorn did not serve in {timeout}s: {self.err.read_text()}")

    def hammer(self, count: int) -> None:
        def get(_: int) -> int:
            with urllib.request.urlopen(f"{self.url}/slow", timeout=10) as response:
                return int(response.status)

        with ThreadPoolExecutor(12) as pool:
            assert set(pool.map(get, range(count))) == {200}

    def access_pids(self) -> set[int]:
        return {line["process"] for line in self.lines() if line["logger"].endswith("access")}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Gunicorn]:
    (tmp_path / "wsgi.py").write_text(textwrap.dedent(WSGI))
    server = Gunicorn(tmp_path)
    try:
        server.wait_until_serving()
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_every_preloaded_worker_logs_json_lines(gunicorn: Gunicorn) -> None:
    deadline = time.monotonic() + 30
    while len(gunicorn.access_pids()) < 3 and time.monotonic() < deadline:
        gunicorn.hammer(60)
    assert len(gunicorn.access_pids()) == 3, "each of the 3 workers wrote access lines"
    lines = gunicorn.lines()  # every line parsed as JSON
    booted = [line for line in lines if line["message"].startswith("Booting worker")]
    assert len(booted) == 3, "gunicorn's own lines come through the same sink, once each"
    assert all(line["logger"] == "gunicorn.error" for line in booted)


@pytest.mark.slow
def test_hup_reload_completes_and_new_workers_log(gunicorn: Gunicorn) -> None:
    gunicorn.hammer(30)
    old = gunicorn.access_pids()
    gunicorn.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    new: set[int] = set()
    while not new and time.monotonic() < deadline:
        gunicorn.hammer(12)
        new = gunicorn.access_pids() - old
    assert new, "requests are served and logged by the reloaded workers within 10 s"
    assert gunicorn.process.poll() is None
