"""A real Prometheus server (Debian package ``prometheus``) scraping the app under test."""

from __future__ import annotations

import contextlib
import json
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .requires import require_executable
from .servers import free_port, http_get, running, wait_for

INSTALL_HINT = "install the Debian package prometheus"


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


#: ``start(targets, token=None)``: see :func:`prometheus_servers`.
StartPrometheus = Callable[..., PrometheusServer]


@contextlib.contextmanager
def prometheus_servers(make_root: Callable[[], Path]) -> Iterator[StartPrometheus]:
    """A function that starts Prometheus servers, each stopped on the way out.

    ``start(targets, token=None)`` writes a config with a 1 s scrape interval into a new
    folder from ``make_root``, starts the server on a free loopback port with its own storage
    there, waits until it is ready and returns it. Skips (fails under CI) when ``prometheus``
    is not installed.
    """
    binary = require_executable("prometheus", INSTALL_HINT)
    servers: contextlib.ExitStack = contextlib.ExitStack()

    def start(targets: Sequence[str], *, token: str | None = None) -> PrometheusServer:
        root = make_root()
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
