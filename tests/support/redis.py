"""A real ``redis-server`` (Debian package ``redis-server``) on a loopback port."""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .requires import require_executable
from .servers import free_port, stop_process, wait_until

INSTALL_HINT = "install it with `apt-get install redis-server` (make test does under CI)"


@dataclass
class RedisServer:
    """A real redis-server on a loopback port, without persistence."""

    executable: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        wait_until(self._answers, 10, f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    """A running redis-server working in ``workdir``, stopped on the way out.

    Skips (fails under CI) when ``redis-server`` is not installed.
    """
    executable = require_executable("redis-server", INSTALL_HINT)
    server = RedisServer(executable, free_port(), workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
