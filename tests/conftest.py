"""Shared fixtures: a clean environment per test, apps built from settings files on disk."""

from __future__ import annotations

import base64
import contextlib
import http.server
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from example_app import create_app
from flask_prodready import ProdReady, get_state

REPO = Path(__file__).resolve().parent.parent

_OWNED_PREFIXES = ("FLASK_", "PRODREADY_", "DYNACONF_", "EXAMPLE_")


@pytest.fixture(autouse=True)
def _clean_environment() -> Iterator[None]:
    """Each test starts without settings variables and leaves os.environ as it found it.

    dynaconf and ``.env`` files write into ``os.environ``, so a snapshot is restored.
    """
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(_OWNED_PREFIXES):
            del os.environ[name]
    yield
    os.environ.clear()
    os.environ.update(saved)


def in_ci() -> bool:
    """True under CI, where a missing external part fails instead of skipping."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_executable(name: str, install_hint: str) -> str:
    """The path of ``name``; under CI a missing one fails, elsewhere the test skips."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed; {install_hint}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


def require_module(name: str, install_hint: str) -> None:
    """Like :func:`require_executable`, for a Python package of the test environment."""
    if importlib.util.find_spec(name) is None:
        message = f"the Python package {name} is not installed; {install_hint}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


class AppDir:
    """A folder standing for an app's package: settings files go in, apps come out."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, name: str, text: str) -> Path:
        """Write ``text`` (dedented) to the file ``name`` in the app's folder."""
        path = self.root / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    def flask(self, *, debug: bool = False) -> Flask:
        """A bare Flask app whose root path is this folder."""
        app = Flask("settings_test_app", root_path=str(self.root))
        app.debug = debug
        return app

    def app(self, *, debug: bool = False, **kwargs: Any) -> Flask:
        """A Flask app in this folder with ProdReady(app, **kwargs) set up."""
        app = self.flask(debug=debug)
        ProdReady(app, **kwargs)
        return app


@pytest.fixture
def app_dir(tmp_path: Path) -> AppDir:
    """An empty app folder away from the current working directory."""
    root = tmp_path / "project" / "myapp"
    root.mkdir(parents=True)
    return AppDir(root)


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The example app on an in-memory database, for pytest-flask's ``client``."""
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", "sqlite://")
    application = create_app()
    application.config["TESTING"] = True
    return application


MakeApp = Callable[..., Flask]


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


@dataclass
class HealthApps:
    """Builds apps with flask-prodready for health tests; lets hung checks go at teardown."""

    app_dir: AppDir
    release: threading.Event
    apps: list[Flask] = field(default_factory=list)

    def make(self, **overrides: Any) -> tuple[Flask, ProdReady]:
        """A new app in the app folder and the ProdReady(**overrides) that set it up."""
        prodready = ProdReady(**{"dashboard_enabled": False, **overrides})
        app = self.app_dir.flask()
        prodready.init_app(app)
        app.config["TESTING"] = True
        self.apps.append(app)
        return app, prodready

    def close(self) -> None:
        """Free hung checks and let the runners' idle threads end."""
        self.release.set()
        for app in self.apps:
            runner = get_state(app).components.get("health")
            if runner is not None:
                runner.close()

    def hang(self) -> None:
        """A check body that blocks until the test ends (at most 60 s)."""
        self.release.wait(60)


@pytest.fixture
def health_apps(app_dir: AppDir) -> Iterator[HealthApps]:
    """Health test apps; checks blocked in :meth:`HealthApps.hang` are freed at teardown."""
    apps = HealthApps(app_dir, threading.Event())
    yield apps
    apps.close()


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


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running redis-server; the test may stop it early with ``.stop()``."""
    executable = require_executable(
        "redis-server", "install it with `apt-get install redis-server` (make test does under CI)"
    )
    server = RedisServer(executable, free_port(), tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.stop()


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
        require_module("gunicorn", "it is in the dev dependencies: run make venv")
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
            with urllib.request.urlopen(self.url(path), timeout=timeout) as response:  # noqa: S310
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


@pytest.fixture
def gunicorn_server(tmp_path: Path) -> Iterator[Gunicorn]:
    """A gunicorn to configure: write wsgi.py and gunicorn.conf.py into ``.folder``, then
    ``.start()``; stopped (quick shutdown) at teardown."""
    folder = tmp_path / "server"
    folder.mkdir()
    server = Gunicorn(folder, free_port())
    try:
        yield server
    finally:
        server.stop()


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


@pytest.fixture
def upstream() -> Iterator[str]:
    """The base URL of an HTTP server on loopback standing for a dependency."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _UpstreamHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
