"""Graceful shutdown: SIGTERM flips readiness to 503 while requests in flight finish."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from flask_prodready import SetupError, get_health
from flask_prodready.health import drain
from flask_prodready.health.shutdown import in_gunicorn_worker, install_sigterm_handler

from .support import REPO
from .support.apps import AppDir, HealthApps
from .support.gunicorn import Gunicorn
from .support.servers import wait_until

WSGI = """
import os
import time
from pathlib import Path

from flask import Flask

from flask_prodready import ProdReady

app = Flask(__name__)
ProdReady(app)


@app.get("/pid")
def pid():
    return str(os.getpid())


@app.get("/slow")
def slow():
    Path(os.environ["SLOW_MARKER"]).write_text("started")
    time.sleep(3.5)
    return "finished"
"""

GUNICORN_CONF = """
bind = "127.0.0.1:{port}"
workers = 1
worker_class = "gthread"
threads = 4
graceful_timeout = 20
timeout = 30
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_sigterm_to_a_gunicorn_worker_fails_readiness_while_requests_finish(
    gunicorn_server: Gunicorn, tmp_path: Path
) -> None:
    server = gunicorn_server
    (server.folder / "wsgi.py").write_text(WSGI)
    (server.folder / "gunicorn.conf.py").write_text(GUNICORN_CONF.format(port=server.port))
    marker = tmp_path / "slow-started"
    server.start(env={"FLASK_PRODREADY_HEALTH_DRAIN_SECONDS": "2", "SLOW_MARKER": str(marker)})
    assert server.get("/readyz")[0] == 200
    worker = int(server.get("/pid")[1])

    slow: dict[str, tuple[int, bytes]] = {}
    in_flight = threading.Thread(target=lambda: slow.update(response=server.get("/slow", 30)))
    in_flight.start()
    try:
        wait_until(marker.exists, 10, "the slow request to start")
        os.kill(worker, signal.SIGTERM)
        answers: list[int] = []
        wait_until(
            lambda: answers.append(server.get("/readyz")[0]) or answers[-1] == 503,
            5,
            lambda: f"/readyz to answer 503 (answers: {answers}); {server.log()}",
        )
        assert in_flight.is_alive(), "the flip came while the slow request was in flight"
        assert server.get("/livez")[0] == 200, "draining is not dead"
        assert int(server.get("/pid")[1]) == worker, "the draining worker still serves"
    finally:
        in_flight.join(timeout=30)
    assert slow["response"] == (200, b"finished")
    wait_until(lambda: not alive(worker), 20, lambda: f"the worker to exit: {server.log()}")
    assert "draining for 2s" in server.log()


def test_always_installs_the_handler_outside_gunicorn(app_dir: AppDir) -> None:
    script = textwrap.dedent(
        """
        import os, signal, sys, time
        from flask import Flask
        from flask_prodready import ProdReady

        app = Flask("always", root_path=sys.argv[1])
        ProdReady(app, health_handle_sigterm="always", health_drain_seconds=0.5)
        client = app.test_client()
        print(client.get("/readyz").status_code, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        print(client.get("/readyz").status_code, flush=True)
        print(client.get("/livez").status_code, flush=True)
        time.sleep(30)
        print("still alive after the drain", flush=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(app_dir.root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO), "FLASK_PRODREADY_LOG_DESTINATION": "stderr"},
    )
    assert result.stdout.split() == ["200", "503", "200"], result.stderr
    assert result.returncode == -signal.SIGTERM, "after the drain, the default action ran"


def test_auto_installs_nothing_outside_gunicorn(health_apps: HealthApps) -> None:
    before = signal.getsignal(signal.SIGTERM)
    health_apps.make()
    assert signal.getsignal(signal.SIGTERM) is before
    assert not in_gunicorn_worker()


def test_always_needs_the_main_thread(health_apps: HealthApps) -> None:
    errors: list[BaseException] = []

    def set_up() -> None:
        try:
            health_apps.make(health_handle_sigterm="always")
        except SetupError as exc:
            errors.append(exc)

    thread = threading.Thread(target=set_up)
    thread.start()
    thread.join(timeout=30)
    assert len(errors) == 1
    assert "main thread" in str(errors[0])
    assert (
        install_sigterm_handler() is False or threading.current_thread() is threading.main_thread()
    )


def test_drain_reaches_every_runner_of_the_process(health_apps: HealthApps) -> None:
    first, _ = health_apps.make()
    second, _ = health_apps.make()
    assert drain("maintenance") >= 2
    for app in (first, second):
        assert get_health(app).draining
        response = app.test_client().get("/readyz")
        assert response.status_code == 503
        assert response.get_json(force=True)["output"] == "maintenance"
