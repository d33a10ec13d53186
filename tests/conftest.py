"""Shared fixtures: a clean environment per test, apps built from settings files on disk."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import textwrap
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest
from flask import Flask

from example_app import create_app
from flask_prodready import ProdReady
from flask_prodready.testing import reset_logging

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
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A real redis-server on a loopback port, without persistence; stop() and start() it."""

    def __init__(self, executable: str, directory: Path) -> None:
        self.executable = executable
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

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
            str(self.directory),
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real Redis server for this test (Debian package redis-server)."""
    executable = require_executable(
        "redis-server", "install it with: sudo apt-get install redis-server"
    )
    server = RedisServer(executable, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wait_until(
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
        wait_until(
            lambda: http_get(f"{url}/-/ready") or None,
            what="Prometheus to be ready",
            process=process,
            log=log,
        )
        return PrometheusServer(url)

    with servers:
        yield start
