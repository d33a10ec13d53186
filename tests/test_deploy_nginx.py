"""A real nginx, configured by the generated nginx.conf, in front of a real gunicorn serving
the example app with its generated gunicorn.conf.py and PRODREADY_TRUSTED_PROXIES=1."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .support import REPO
from .support.servers import free_port, running, wait_for
from .test_scaffold import _nginx, local_nginx_conf

pytestmark = pytest.mark.slow

#: The client connects from this loopback address; nginx reaches gunicorn from 127.0.0.1.
CLIENT_ADDRESS = "127.0.0.2"


@dataclass
class Stack:
    port: int
    app_log: Path
    nginx_log: Path

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=10, source_address=(CLIENT_ADDRESS, 0)
        )
        try:
            payload = None if body is None else json.dumps(body).encode()
            sent = {"Content-Type": "application/json"} if body is not None else {}
            connection.request(method, path, body=payload, headers={**sent, **(headers or {})})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def app_lines(self, request_id: str) -> list[dict[str, Any]]:
        lines = []
        for text in self.app_log.read_text(errors="replace").splitlines():
            if text.startswith("{"):
                line = json.loads(text)
                if line.get("request_id") == request_id:
                    lines.append(line)
        return lines


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Started once for the module: the tests only send requests."""
    nginx = _nginx()
    tmp_path = tmp_path_factory.mktemp("stack")
    app_port, nginx_port = free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(REPO),
        "PRODREADY_ENV": "production",
        "FLASK_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'orders.db'}",
        "FLASK_PRODREADY_ERROR_STORE_PATH": str(tmp_path / "errors.sqlite3"),
        "FLASK_PRODREADY_TRUSTED_PROXIES": "1",
        "BIND": f"127.0.0.1:{app_port}",
        "WEB_CONCURRENCY": "2",
    }
    # Create the tables once, so that two workers starting together do not race for it.
    subprocess.run(
        [sys.executable, "-c", "from example_app import create_app; create_app()"],
        env=env,
        cwd=REPO,
        check=True,
        timeout=120,
    )
    root = tmp_path / "nginx"
    root.mkdir()
    root.chmod(0o755)
    text = (REPO / "example_app/nginx.conf").read_text()
    conf = root / "nginx.conf"
    conf.write_text(
        local_nginx_conf(text, upstream=f"127.0.0.1:{app_port}", listen=nginx_port, root=root)
    )
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    app_log, nginx_log = tmp_path / "gunicorn.log", root / "nginx.out"
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "example_app/gunicorn.conf.py"]
    with running(gunicorn, log=app_log, env=env, cwd=REPO) as process:
        wait_for(lambda: _answers(app_port) or None, what="gunicorn", process=process, log=app_log)
        command = [nginx, "-p", str(root), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"]
        with running(command, log=nginx_log) as proxy:
            wait_for(
                lambda: _answers(nginx_port) or None, what="nginx", process=proxy, log=nginx_log
            )
            yield Stack(nginx_port, app_log, root / "access.log")


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/livez")
        return connection.getresponse().status == 200
    finally:
        connection.close()


def test_nginx_request_id_reaches_the_log_line_and_the_response(stack: Stack) -> None:
    status, headers, _ = stack.request(
        "POST", "/api/orders/", {"customer": "ada", "item": "tea", "quantity": 2}
    )
    assert status == 201
    request_id = headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id), "nginx's $request_id"
    wait_for(
        lambda: len(stack.app_lines(request_id)) >= 2 or None,
        what="the app's log lines",
        timeout=10,
        log=stack.app_log,
    )
    lines = stack.app_lines(request_id)
    assert any(line["message"] == "order created" for line in lines)
    (access,) = [line for line in lines if line["logger"] == "flask_prodready.access"]
    assert access["remote_addr"] == CLIENT_ADDRESS, "the client's address, not nginx's"
    assert access["status"] == 201
    wait_for(
        lambda: f"request_id={request_id}" in stack.nginx_log.read_text() or None,
        what="nginx's access line",
        timeout=10,
    )
    assert f"{CLIENT_ADDRESS} - " in stack.nginx_log.read_text()


def test_a_client_request_id_is_passed_through(stack: Stack) -> None:
    status, headers, _ = stack.request("GET", "/api/orders/", headers={"X-Request-ID": "abc-123"})
    assert status == 200
    assert headers["X-Request-ID"] == "abc-123"
    wait_for(lambda: stack.app_lines("abc-123") or None, what="the access line", timeout=10)


def test_operational_endpoints_are_not_public(stack: Stack) -> None:
    assert stack.request("GET", "/metrics")[0] == 403
    assert stack.request("GET", "/_prod/")[0] == 403
    assert stack.request("GET", "/readyz")[0] == 200
    status, headers, body = stack.request("GET", "/api/orders/999")
    assert status == 404
    assert headers["Content-Type"].startswith("application/problem+json")
    assert json.loads(body)["status"] == 404
