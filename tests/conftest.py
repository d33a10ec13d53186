"""Shared fixtures: a clean environment per test, apps built from settings files on disk."""

from __future__ import annotations

import base64
import contextlib
import http.server
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from flask import Flask

from example_app import create_app
from flask_prodready import ProdReady, get_state
from flask_prodready.testing import reset_logging

REPO = Path(__file__).resolve().parent.parent

# pytester runs test files written the way users write them (tests/test_testing_plugin.py).
pytest_plugins = ("pytester",)

_OWNED_PREFIXES = ("FLASK_", "PRODREADY_", "DYNACONF_", "EXAMPLE_", "PROMETHEUS_")
T = TypeVar("T")


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Each test starts and ends without the logging set-up of another test's app."""
    yield
    reset_logging()


@pytest.fixture(autouse=True)
def _clean_environment() -> Iterator[None]:
    """Each test starts without settings variables and leaves os.environ as it found it.

    dynaconf and ``.env`` files write into ``os.environ``, so a snapshot is restored.
    """
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(_OWNED_PREFIXES):
            del os.environ[name]
    # The suite makes hundreds of apps; none needs a background alert thread unless it asks.
    os.environ["FLASK_PRODREADY_ALERTS_EVALUATE"] = "false"
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
        app = Flask(
            "settings_test_app", root_path=str(self.root), instance_path=str(self.root / "instance")
        )
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
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Flask:
    """The example app on an in-memory database, for pytest-flask's ``client``."""
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", "sqlite://")
    monkeypatch.setenv("FLASK_PRODREADY_ERROR_STORE_PATH", str(tmp_path / "errors.sqlite3"))
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


class PrometheusServer:
    """A real Prometheus server on loopback, queried through its HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The ``result`` of an instant query; fails unless the query succeeded."""
        body = json.loads(
            http_get(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        )
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


StartPrometheus = Callable[..., PrometheusServer]


@pytest.fixture
def start_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartPrometheus]:
    """Start a Prometheus server (Debian package ``prometheus``) scraping ``targets``.

    ``start(targets, token=None)`` writes a config with a 1 s scrape interval, starts the
    server on a free loopback port with its own storage, waits until it is ready and returns
    it. Every server started is stopped after the test.
    """
    binary = require_executable("prometheus", "install the Debian package prometheus")
    servers: contextlib.ExitStack = contextlib.ExitStack()

    def start(targets: Sequence[str], *, token: str | None = None) -> PrometheusServer:
        root = tmp_path_factory.mktemp("prometheus")
        job: dict[str, Any] = {
            "job_name": "app",
            "metrics_path": "/metrics",
            "static_configs": [{"targets": list(targets)}],
        }
        if token is not None:
            job["authorization"] = {"type": "Bearer", "credentials": token}
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [job],
        }
        (root / "prometheus.yml").write_text(json.dumps(config))  # JSON is valid YAML
        port = free_port()
        command = [
            binary,
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ]
        log = root / "prometheus.log"
        process = servers.enter_context(running(command, log=log, cwd=root))
        url = f"http://127.0.0.1:{port}"
        wait_for(
            lambda: http_get(f"{url}/-/ready") or None,
            what="Prometheus to be ready",
            process=process,
            log=log,
        )
        return PrometheusServer(url)

    with servers:
        yield start


@dataclass
class PostgresServer:
    """A real PostgreSQL server (Debian ``postgresql``) in a temporary data directory."""

    bindir: Path
    datadir: Path
    port: int
    as_user: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str, timeout: float = 60) -> None:
        command = [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            log = self.datadir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise AssertionError(f"pg_ctl {args[-1]} failed: {result.stderr}\n{tail}")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.datadir} -F"
        self.pg_ctl(
            "-o", options, "-l", str(self.datadir / "server.log"), "-w", "-t", "30", "start"
        )

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            self.pg_ctl("-m", "immediate", "-w", "-t", "30", "stop")


def _postgres_bindir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin with initdb (not on PATH on Debian)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        message = (
            "PostgreSQL is not installed; install the Debian package postgresql "
            "(make test does under CI)"
        )
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return found[-1].parent


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on a free loopback port, for the tests of one module.

    PostgreSQL refuses to run as root: as root, it runs as the ``postgres`` user that the
    Debian package creates, from a data directory that user owns.
    """
    bindir = _postgres_bindir()
    as_user: list[str] = []
    datadir = Path(tempfile.mkdtemp(prefix="prodready-pg-"))
    try:
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root, but there is no postgres user to run PostgreSQL")
            os.chown(datadir, owner.pw_uid, owner.pw_gid)
            as_user = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [
                *as_user,
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        server = PostgresServer(bindir, datadir, free_port(), as_user)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(datadir, ignore_errors=True)
