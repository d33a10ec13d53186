"""The suite's fixtures and pytest hooks; the harnesses behind them live in tests/support.

A fixture needing a real part (redis-server, gunicorn, Prometheus, PostgreSQL, chromium) skips
when it is missing, with a reason that says how to install it, and fails under ``CI=true``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from flask_prodready.release import RELEASE_VARIABLES
from flask_prodready.testing import reset_logging

from .support.apps import AppDir, HealthApps, example_app, make_app_dir
from .support.gunicorn import Gunicorn, gunicorn_folder
from .support.postgres import PostgresServer
from .support.postgres import postgres_server as run_postgres
from .support.prometheus import StartPrometheus, prometheus_servers
from .support.redis import RedisServer
from .support.redis import redis_server as run_redis
from .support.servers import upstream_server

# pytester runs test files written the way users write them (tests/test_testing_plugin.py).
pytest_plugins = ("pytester",)

_OWNED_PREFIXES = ("FLASK_", "PRODREADY_", "DYNACONF_", "EXAMPLE_", "PROMETHEUS_")


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Each test starts and ends without the logging set-up of another test's app."""
    yield
    reset_logging()


@pytest.fixture(autouse=True)
def _clean_environment() -> Iterator[None]:
    """Each test starts without settings variables or release variables (a CI job sets
    GITHUB_SHA), and leaves os.environ as it found it.

    dynaconf and ``.env`` files write into ``os.environ``, so a snapshot is restored.
    """
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(_OWNED_PREFIXES) or name in RELEASE_VARIABLES:
            del os.environ[name]
    # The suite makes hundreds of apps; none needs a background alert thread unless it asks.
    os.environ["FLASK_PRODREADY_ALERTS_EVALUATE"] = "false"
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def app_dir(tmp_path: Path) -> AppDir:
    """An empty app folder away from the current working directory."""
    return make_app_dir(tmp_path)


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Flask:
    """The example app on an in-memory database, for pytest-flask's ``client``."""
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", "sqlite://")
    monkeypatch.setenv("FLASK_PRODREADY_ERROR_STORE_PATH", str(tmp_path / "errors.sqlite3"))
    return example_app()


@pytest.fixture
def health_apps(app_dir: AppDir) -> Iterator[HealthApps]:
    """Health test apps; checks blocked in :meth:`HealthApps.hang` are freed at teardown."""
    apps = HealthApps(app_dir)
    yield apps
    apps.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running redis-server; the test may stop it early with ``.stop()``."""
    with run_redis(tmp_path) as server:
        yield server


@pytest.fixture
def gunicorn_server(tmp_path: Path) -> Iterator[Gunicorn]:
    """A gunicorn to configure: write wsgi.py and gunicorn.conf.py into ``.folder``, then
    ``.start()``; stopped (quick shutdown) at teardown."""
    with gunicorn_folder(tmp_path / "server") as server:
        yield server


@pytest.fixture
def upstream() -> Iterator[str]:
    """The base URL of an HTTP server on loopback standing for a dependency."""
    with upstream_server() as url:
        yield url


@pytest.fixture
def start_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartPrometheus]:
    """Start a Prometheus server (Debian package ``prometheus``) scraping ``targets``.

    ``start(targets, token=None)`` writes a config with a 1 s scrape interval, starts the
    server on a free loopback port with its own storage, waits until it is ready and returns
    it. Every server started is stopped after the test.
    """
    with prometheus_servers(lambda: tmp_path_factory.mktemp("prometheus")) as start:
        yield start


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on a free loopback port, for the tests of one module.

    PostgreSQL refuses to run as root: as root, it runs as the ``postgres`` user that the
    Debian package creates, from a data directory that user owns.
    """
    with run_postgres() as server:
        yield server
