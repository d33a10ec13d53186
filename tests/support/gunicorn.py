"""A real gunicorn master and its workers, serving a WSGI app written into a folder.

:class:`Gunicorn` runs whatever ``wsgi.py`` and ``gunicorn.conf.py`` a test writes;
:func:`serve_wsgi` writes them from an app's source, with flask-prodready's gunicorn hooks and
two workers, in an environment of its own (the dashboard browser tests, ``make screenshots``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import REPO
from .requires import require_module
from .servers import free_port, running, stop_process, wait_for, wait_until

INSTALL_HINT = "it is in the dev dependencies: run make venv"


@dataclass
class Gunicorn:
    """A real gunicorn master (and its workers) serving ``wsgi:app`` from a folder."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.folder / "gunicorn.log"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, env: dict[str, str] | None = None) -> None:
        require_module("gunicorn", INSTALL_HINT)
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(self.folder), str(REPO)]),
            **(env or {}),
        }
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=self.folder,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(lambda: self.get("/livez")[0] == 200, 30, lambda: f"gunicorn: {self.log()}")

    def get(self, path: str, timeout: float = 10) -> tuple[int, bytes]:
        """Status and body of GET ``path``; status 0 when nothing answers."""
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {self.log()}")
        try:
            with urllib.request.urlopen(self.url(path), timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read()
        except OSError:
            return 0, b""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.is_file() else ""

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, signal.SIGQUIT)


@contextlib.contextmanager
def gunicorn_folder(folder: Path) -> Iterator[Gunicorn]:
    """A :class:`Gunicorn` for ``folder`` (created) on a free port, stopped on the way out."""
    folder.mkdir()
    server = Gunicorn(folder, free_port())
    try:
        yield server
    finally:
        server.stop()


CONF = """
from flask_prodready.gunicorn import child_exit, on_exit, on_starting, when_ready  # noqa: F401
workers = {workers}
bind = "127.0.0.1:{port}"
"""


@dataclass
class LiveServer:
    """An app served by :func:`serve_wsgi`: its base URL and gunicorn's log."""

    url: str
    log: Path

    def get(self, path: str) -> int:
        """The status of GET ``path`` (error statuses included)."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return int(exc.code)


@contextlib.contextmanager
def serve_wsgi(
    root: Path,
    wsgi: str,
    *,
    workers: int = 2,
    ready_path: str = "/ok",
    env: Mapping[str, str] | None = None,
) -> Iterator[LiveServer]:
    """Serve the app of ``wsgi`` (the source of ``wsgi.py``, dedented; it defines ``app``)
    with gunicorn from ``root``, until the way out.

    The config imports flask-prodready's gunicorn hooks. The environment is only PATH, HOME,
    PYTHONPATH and the app's settings: the development environment, a multiprocess metrics
    folder, an SQLite error store in ``root`` and JSON logs, then ``env`` (more settings, or
    other values for these). Ready once GET ``ready_path`` answers 200.
    """
    require_module("gunicorn", INSTALL_HINT)
    (root / "wsgi.py").write_text(textwrap.dedent(wsgi))
    port = free_port()
    (root / "gunicorn.conf.py").write_text(CONF.format(port=port, workers=workers))
    (root / "multiproc").mkdir()
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "PYTHONPATH": os.pathsep.join([str(root), str(REPO)]),
        "PRODREADY_ENV": "development",
        "PROMETHEUS_MULTIPROC_DIR": str(root / "multiproc"),
        "FLASK_PRODREADY_ERROR_STORE_PATH": str(root / "errors.sqlite3"),
        "FLASK_PRODREADY_LOG_FORMAT": "json",
        **(env or {}),
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    log = root / "gunicorn.log"
    with running(command, log=log, env=environment, cwd=root) as process:
        server = LiveServer(f"http://127.0.0.1:{port}", log)
        wait_for(
            lambda: server.get(ready_path) == 200 or None,
            what="gunicorn",
            process=process,
            log=log,
        )
        yield server
