"""The error store under real conditions: gunicorn workers sharing SQLite, Redis going away."""

from __future__ import annotations

import os
import sys
import textwrap
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from flask_prodready import get_state
from flask_prodready.store import SQLiteErrorStore

from .support.apps import AppDir
from .support.redis import RedisServer
from .support.servers import free_port, running, wait_for

REPO = Path(__file__).resolve().parent.parent

WSGI = """
from flask import Flask
from flask_prodready import ProdReady

app = Flask(__name__)
ProdReady(app)

@app.get("/boom")
def boom():
    raise RuntimeError("boom")
"""


def get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)


@pytest.mark.slow
def test_four_gunicorn_workers_share_one_sqlite_store_without_losing_errors(
    tmp_path: Path,
) -> None:
    (tmp_path / "wsgi.py").write_text(textwrap.dedent(WSGI))
    store_path = tmp_path / "errors.sqlite3"
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
        "FLASK_PRODREADY_ERROR_STORE_PATH": str(store_path),
        "FLASK_PRODREADY_LOG_DESTINATION": str(tmp_path / "app.log"),
    }
    command = [sys.executable, "-m", "gunicorn", "-w", "4", "-b", f"127.0.0.1:{port}", "wsgi:app"]
    log = tmp_path / "gunicorn.log"
    url = f"http://127.0.0.1:{port}/boom"
    with running(command, log=log, env=env, cwd=tmp_path) as process:
        wait_for(lambda: get_status(url), what="gunicorn to serve", process=process, log=log)
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(get_status, [url] * 200))
        assert set(statuses) == {500}
    store = SQLiteErrorStore(store_path)
    (group,) = store.groups()
    assert group.count == 201, "the start-up probe and the 200 requests, none lost"
    pids = {o.pid for o in store.occurrences(group.fingerprint)}
    assert pids, "occurrences name their worker"
    store.close()


def test_requests_keep_answering_when_redis_dies_mid_run(
    app_dir: AppDir, redis_server: RedisServer
) -> None:
    app = app_dir.app(error_store="redis", error_store_url=redis_server.url)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    client = app.test_client()
    for _ in range(5):
        assert client.get("/boom").status_code == 500
    recorder = get_state(app).components["error_recorder"]
    assert recorder.recorded == 5
    redis_server.stop()
    started = time.monotonic()
    for _ in range(50):
        response = client.get("/boom")
        assert response.status_code == 500
        assert response.get_json()["code"] == "internal_error"
    assert time.monotonic() - started < 10, "one store timeout, not one per request"
    assert recorder.dropped == 50
    assert recorder.recorded == 5
