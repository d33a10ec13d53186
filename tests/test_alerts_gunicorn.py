"""Alerts under three real gunicorn workers sharing one SQLite store: one evaluator at a time."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .support.servers import free_port, running, wait_for
from .test_alerts import Receiver

REPO = Path(__file__).resolve().parent.parent

WSGI = """
from flask import Flask
from flask_prodready import ProdReady

prodready = ProdReady(alerts_rules={"db_down": {"expr": "health_failing", "for": "0s"}},
                      alerts_default_rules=False)

@prodready.health.check("database")
def database():
    raise ConnectionError("database is down")

app = Flask(__name__)
prodready.init_app(app)
"""


def lease_holder_pid(store: Path) -> int | None:
    try:
        with sqlite3.connect(store, timeout=5) as db:
            row = db.execute(
                "SELECT holder FROM prodready_leases WHERE name = 'alerts' AND expires > ?",
                (time.time(),),
            ).fetchone()
    except sqlite3.Error:
        return None
    return int(row[0].split(":")[1]) if row else None


def poke(url: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            response.read()
    except urllib.error.HTTPError as error:
        error.read()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.mark.slow
def test_three_workers_send_one_notification_and_hand_over_the_lease(
    tmp_path: Path, receiver: Receiver
) -> None:
    (tmp_path / "wsgi.py").write_text(textwrap.dedent(WSGI))
    store = tmp_path / "errors.sqlite3"
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
        "FLASK_PRODREADY_ERROR_STORE_PATH": str(store),
        "FLASK_PRODREADY_ALERTS_EVALUATE": "true",
        "FLASK_PRODREADY_ALERTS_INTERVAL": "0.3",
        "FLASK_PRODREADY_ALERTS_WEBHOOKS": receiver.url,
        "FLASK_PRODREADY_HEALTH_CACHE_TTL": "0",
        "FLASK_PRODREADY_HEALTH_DRAIN_SECONDS": "0",
        "FLASK_PRODREADY_LOG_DESTINATION": str(tmp_path / "app.log"),
    }
    command = [sys.executable, "-m", "gunicorn", "-w", "3", "-b", f"127.0.0.1:{port}", "wsgi:app"]
    url = f"http://127.0.0.1:{port}/readyz"
    log = tmp_path / "gunicorn.log"

    def notified() -> bool | None:
        for _ in range(6):  # probes reach every worker, so each knows the check fails
            with contextlib.suppress(OSError):
                poke(url)
        return True if receiver.bodies else None

    def taken_over() -> int | None:
        for _ in range(6):
            poke(url)
        new_holder = lease_holder_pid(store)
        return new_holder if new_holder not in (None, holder) else None

    with running(command, log=log, env=env, cwd=tmp_path) as process:
        wait_for(notified, what="a notification", process=process, log=log)
        holder = lease_holder_pid(store)
        assert holder is not None
        time.sleep(2)  # several more evaluation rounds, by one worker only
        assert [b["state"] for b in receiver.bodies] == ["firing"]
        os.kill(holder, signal.SIGKILL)
        wait_for(taken_over, what="another worker to take the lease over", timeout=15, log=log)
        time.sleep(1.5)
        assert [b["state"] for b in receiver.bodies] == ["firing"], "no repeat after takeover"
