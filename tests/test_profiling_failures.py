"""Profiling is best effort: a folder that refuses the profile, or a broken armed state,
never changes a response; the failure is counted and logged once.

The folders are real. A read-only folder is a ``chmod 0o555`` one for a normal user; root
ignores permissions, so as root (under ``CI=true`` only) it is a tmpfs remounted read-only.
A full folder is a 64 KiB tmpfs filled to the last byte, which needs root and ``CI=true``.
Elsewhere these tests skip, saying how to run them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_prodready import get_state
from flask_prodready.profiling import FAILURE_KINDS, arm, armed, failures, list_profiles
from flask_prodready.testing import capture_logs

from .support.apps import AppDir
from .support.gunicorn import Gunicorn
from .support.requires import in_ci
from .support.servers import wait_until

TOKEN = "prof-token"
PROFILE = {"X-Prodready-Profile": TOKEN}
ID_HEADER = "X-Prodready-Profile-Id"
BODY = str(sum(i * i for i in range(2000)))


def _root() -> bool:
    return os.geteuid() == 0


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = f"mount {' '.join(args)} failed: {done.stderr.strip()}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def _tmpfs(path: Path, size: str = "64k") -> Iterator[None]:
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


class Folder:
    """A profiles folder that refuses writes until :meth:`allow_writes`."""

    def __init__(self, path: Path, allow: Any) -> None:
        self.path = path
        self._allow = allow

    def allow_writes(self) -> None:
        """Make the folder writable again (the operator fixed it)."""
        self._allow()

    def contents(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir())


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Folder]:
    """A real folder that refuses every write: EACCES for a user, EROFS for root."""
    path = tmp_path / "profiles"
    if not _root():
        path.mkdir()
        path.chmod(0o555)
        try:
            yield Folder(path, lambda: path.chmod(0o755))
        finally:
            path.chmod(0o755)
        return
    if not in_ci():
        pytest.skip(
            "as root, permissions do not stop writes: run as a normal user, or as root with "
            "CI=true (the test then mounts a tmpfs and remounts it read-only)"
        )
    with _tmpfs(path):
        _mount("-o", "remount,ro", str(path))
        yield Folder(path, lambda: _mount("-o", "remount,rw", str(path)))


@pytest.fixture
def full_folder(tmp_path: Path) -> Iterator[Folder]:
    """A real 64 KiB tmpfs, filled until it answers ENOSPC."""
    if not (_root() and in_ci()):
        pytest.skip(
            "a full folder is a small tmpfs, which needs root: run as root with CI=true "
            "(e.g. CI=true make test in the CI container)"
        )
    path = tmp_path / "profiles"
    with _tmpfs(path):
        filler = path / "filler"
        with filler.open("wb", buffering=0) as out:
            try:
                while out.write(b"\0" * 512):
                    pass
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
        yield Folder(path, lambda: filler.unlink())


@pytest.fixture(params=["read-only", "full"])
def refusing_folder(request: pytest.FixtureRequest) -> Folder:
    """A read-only folder, then a full one."""
    folder: Folder = request.getfixturevalue(f"{request.param.replace('-', '_')}_folder")
    return folder


def make(app_dir: AppDir, folder: Path, **overrides: Any) -> Flask:
    app = app_dir.app(
        profiling_token=TOKEN, profiling_dir=str(folder), error_store="memory", **overrides
    )

    @app.get("/work")
    def work() -> str:
        return str(sum(i * i for i in range(2000)))

    return app


def comparable(response: Any) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Status, body and headers, without the request id (a new one per request)."""
    headers = [(k, v) for k, v in response.headers.items() if k != "X-Request-ID"]
    return response.status_code, response.get_data(), sorted(headers)


def warnings(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        line
        for line in lines
        if line.get("logger") == "flask_prodready.profiling" and line["level"] == "WARNING"
    ]


def test_a_profile_the_folder_refuses_leaves_the_response_untouched(
    app_dir: AppDir, refusing_folder: Folder
) -> None:
    app = make(app_dir, refusing_folder.path)
    client = app.test_client()
    plain = client.get("/work")
    before = refusing_folder.contents()
    with capture_logs() as lines:
        profiled = [client.get("/work", headers=PROFILE) for _ in range(3)]
    for response in profiled:
        assert comparable(response) == comparable(plain)
        assert ID_HEADER not in response.headers, "no id for a profile that was not kept"
    assert refusing_folder.contents() == before, "no partial file is left behind"
    assert list_profiles(app) == []
    assert failures(app) == {**dict.fromkeys(FAILURE_KINDS, 0), "write": 3}
    (warning,) = warnings(lines)
    assert str(refusing_folder.path) in warning["message"]
    assert "dropped" in warning["message"]
    access = [line for line in lines if line.get("logger") == "flask_prodready.access"]
    assert [(line["status"], line["route"]) for line in access] == [(200, "/work")] * 3

    refusing_folder.allow_writes()
    response = client.get("/work", headers=PROFILE)
    assert response.get_data(as_text=True) == BODY
    (summary,) = list_profiles(app)
    assert summary["id"] == response.headers[ID_HEADER], "profiling resumes once it can write"


def test_a_missing_folder_that_cannot_be_created_drops_the_profile(
    app_dir: AppDir, read_only_folder: Folder
) -> None:
    app = make(app_dir, read_only_folder.path / "profiles" / "below")
    response = app.test_client().get("/work", headers=PROFILE)
    assert (response.status_code, response.get_data(as_text=True)) == (200, BODY)
    assert ID_HEADER not in response.headers
    assert failures(app)["write"] == 1


def test_armed_requests_with_a_refusing_folder_all_answer(
    app_dir: AppDir, read_only_folder: Folder
) -> None:
    app = make(app_dir, read_only_folder.path)
    client = app.test_client()
    arm(app, "/work", 5)
    with capture_logs() as lines:
        answers = [client.get("/work") for _ in range(20)]
    assert [(r.status_code, r.get_data(as_text=True)) for r in answers] == [(200, BODY)] * 20
    assert not any(ID_HEADER in r.headers for r in answers)
    assert failures(app)["write"] == 5, "the five armed requests were profiled, then dropped"
    assert armed(app) is None, "the armed count was used up all the same"
    assert len(warnings(lines)) == 1


class BrokenStore:
    """A store every read and write of which fails, as a dead Redis does."""

    def values(self, *keys: str) -> dict[str, str]:
        raise ConnectionError("Error 111 connecting to redis://:hunter2@cache:6379/0")

    def set_value(self, key: str, value: str | None) -> None:
        raise ConnectionError("Error 111 connecting to redis://:hunter2@cache:6379/0")


def test_a_store_that_fails_while_armed_never_fails_a_request(
    app_dir: AppDir, tmp_path: Path
) -> None:
    app = make(app_dir, tmp_path / "profiles")
    client = app.test_client()
    arm(app, "/work", 3)
    capture = get_state(app).components["profiling"]
    capture.store = BrokenStore()
    with capture_logs() as lines:
        answers = [client.get("/work") for _ in range(5)]
    assert [r.status_code for r in answers] == [200] * 5
    assert not any(ID_HEADER in r.headers for r in answers), "an unreadable store: not armed"
    assert armed(app) is None
    assert failures(app)["armed"] >= 2, "the poll and the dashboard's read both count"
    (warning,) = warnings(lines)
    assert "armed profiling state" in warning["message"]
    assert "hunter2" not in json.dumps(lines)


@pytest.mark.parametrize(
    "stored",
    ["not json", "[1, 2]", '{"route": "/work"}', '{"route": 7, "remaining": 1}'],
)
def test_a_malformed_armed_state_means_nothing_is_armed(app_dir: AppDir, stored: str) -> None:
    app = make(app_dir, app_dir.root / "profiles")
    store = get_state(app).components["error_store"]
    store.set_value("profiling.armed", stored)
    capture = get_state(app).components["profiling"]
    capture.look_after = capture._armed_checked = float("-inf")
    response = app.test_client().get("/work")
    assert (response.status_code, response.get_data(as_text=True)) == (200, BODY)
    assert ID_HEADER not in response.headers
    assert armed(app) is None
    assert failures(app)["armed"] >= 1


def test_profiled_requests_at_the_same_time_all_answer(app_dir: AppDir) -> None:
    """Python 3.12+ allows one cProfile per process; the others run unprofiled."""
    app = make(app_dir, app_dir.root / "profiles")
    together = threading.Barrier(4, timeout=5)

    @app.get("/together")
    def at_once() -> str:
        together.wait()
        return "done"

    answers: list[Any] = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(app.test_client().get("/together", headers=PROFILE))
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [(r.status_code, r.get_data(as_text=True)) for r in answers] == [(200, "done")] * 4
    kept = {summary["id"] for summary in list_profiles(app)}
    assert {r.headers[ID_HEADER] for r in answers if ID_HEADER in r.headers} == kept
    assert len(kept) + failures(app)["profiler"] == 4


WSGI = """
from flask import Flask
from flask_prodready import ProdReady

app = Flask(__name__)
ProdReady(app)

@app.get("/work")
def work():
    return str(sum(i * i for i in range(2000)))
"""

GUNICORN_CONF = """
bind = "127.0.0.1:{port}"
workers = 1
worker_class = "gthread"
threads = 2
"""


@pytest.mark.slow
def test_under_gunicorn_a_refused_profile_keeps_the_connection_and_the_answer(
    gunicorn_server: Gunicorn, read_only_folder: Folder
) -> None:
    server = gunicorn_server
    (server.folder / "wsgi.py").write_text(WSGI)
    (server.folder / "gunicorn.conf.py").write_text(GUNICORN_CONF.format(port=server.port))
    server.start(
        env={
            "FLASK_PRODREADY_PROFILING_TOKEN": TOKEN,
            "FLASK_PRODREADY_PROFILING_DIR": str(read_only_folder.path),
            "FLASK_PRODREADY_ERROR_STORE": "memory",
        }
    )
    request = urllib.request.Request(server.url("/work"), headers=PROFILE)
    for _ in range(3):
        with urllib.request.urlopen(request, timeout=10) as response:
            assert (response.status, response.read().decode()) == (200, BODY)
            assert response.headers.get(ID_HEADER) is None

    def access_lines() -> list[dict[str, Any]]:
        lines = [json.loads(x) for x in server.log().splitlines() if x.startswith("{")]
        return [x for x in lines if x.get("logger") == "flask_prodready.access"]

    def work() -> list[tuple[int, str]]:
        return [(x["status"], x["route"]) for x in access_lines() if x["path"] == "/work"]

    wait_until(lambda: len(work()) >= 3, 10, server.log)
    assert work() == [(200, "/work")] * 3
    assert server.log().count("could not save a profile") == 1, "one warning per process"
    assert "Traceback" not in server.log()
