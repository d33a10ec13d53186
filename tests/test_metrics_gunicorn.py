"""A real gunicorn with 3 workers, set up by the example's gunicorn.conf.py, and a real
Prometheus server scraping it.

The app runs as it would in production: multiprocess metrics through the hooks of
``flask_prodready.gunicorn``, loopback not trusted, a bearer token for scrapes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families

from flask_prodready.metrics import IN_FLIGHT, REQUESTS

from .support.prometheus import StartPrometheus
from .support.requires import require_executable
from .support.servers import free_port, http_get, running, wait_for

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
TOKEN = "scrape-token-for-the-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ITEM_ROUTE = "/api/orders/<int:order_id>"
LIST_ROUTE = "/api/orders/"
#: The two Grafana queries of docs/metrics.md, run against the real Prometheus.
DOCUMENTED_QUERIES = (
    "sum by (route) (rate(flask_http_request_total[5m]))",
    "histogram_quantile(0.95, sum by (le, route) "
    "(rate(flask_http_request_duration_seconds_bucket[5m])))",
)


@dataclass
class Gunicorn:
    """The running server."""

    process: subprocess.Popen[bytes]
    url: str
    multiproc_dir: Path
    log: Path

    def workers(self) -> set[int]:
        """The live (not zombie) worker processes of the master."""
        found = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path("/proc", entry, "stat").read_text()
            except OSError:
                continue
            state, parent = stat.rsplit(")", 1)[1].split()[:2]
            if int(parent) == self.process.pid and state != "Z":
                found.add(int(entry))
        return found

    def scrape(self) -> str:
        return http_get(f"{self.url}/metrics", AUTH)

    def requests_by_route(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for family in text_string_to_metric_families(self.scrape()):
            for sample in family.samples:
                if sample.name == REQUESTS:
                    route = sample.labels["route"]
                    totals[route] = totals.get(route, 0.0) + sample.value
        return totals

    def total(self) -> float:
        return sum(self.requests_by_route().values())

    def get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    def send(self, paths: list[str]) -> list[int]:
        """GET every path, six at a time, so that every worker gets some."""
        with ThreadPoolExecutor(max_workers=6) as pool:
            return list(pool.map(self.get, paths))


def workload(count: int, rng: random.Random) -> list[str]:
    """``count`` paths: two thirds unknown order ids (404), one third the list (200)."""
    paths = [f"/api/orders/{rng.randint(1, 10**9)}" for _ in range(count * 2 // 3)]
    paths += [LIST_ROUTE] * (count - len(paths))
    rng.shuffle(paths)
    return paths


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    root = tmp_path_factory.mktemp("gunicorn")
    multiproc = root / "multiproc"
    multiproc.mkdir()
    # Left by an earlier run: on_starting must remove it, or every total would be 1000 more.
    stale = MmapedDict(str(multiproc / "counter_999999.db"))
    labels = ["method", "route", "status"]
    key = mmap_key("flask_http_request", REQUESTS, labels, ["GET", LIST_ROUTE, "200"], "help")
    stale.write_value(key, 1000.0, 0.0)
    stale.close()
    (multiproc / "notes.txt").write_text("not a metrics file: stays")

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "PYTHONPATH": str(REPO),
        "FLASK_SQLALCHEMY_DATABASE_URI": f"sqlite:///{root / 'orders.db'}",
        "FLASK_PRODREADY_METRICS_TOKEN": TOKEN,
        "FLASK_PRODREADY_METRICS_ALLOW_LOOPBACK": "false",
    }
    # Create the tables once, so that three workers starting together do not race for it.
    subprocess.run(
        [sys.executable, "-c", "from example_app import create_app; create_app()"],
        env=env,
        cwd=REPO,
        check=True,
        timeout=120,
    )
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "example_app/gunicorn.conf.py",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "3",
        "--no-control-socket",
    ]
    log = root / "gunicorn.log"
    env["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc)
    with running(command, log=log, env=env, cwd=REPO) as process:
        server = Gunicorn(process, f"http://127.0.0.1:{port}", multiproc, log)
        wait_for(
            lambda: len(server.workers()) == 3 or None, what="3 workers", process=process, log=log
        )
        wait_for(lambda: server.scrape(), what="the first scrape", process=process, log=log)
        yield server


def test_one_scrape_adds_up_every_worker(gunicorn: Gunicorn) -> None:
    assert gunicorn.total() == 0, "the files of an earlier run were removed at start-up"
    assert (gunicorn.multiproc_dir / "notes.txt").exists(), "only metrics files are removed"
    statuses = gunicorn.send(workload(300, random.Random(3)))
    assert statuses.count(404) == 200
    assert statuses.count(200) == 100
    assert gunicorn.requests_by_route() == {ITEM_ROUTE: 200.0, LIST_ROUTE: 100.0}
    writers = {
        int(path.stem.rsplit("_", 1)[1]) for path in gunicorn.multiproc_dir.glob("counter_*.db")
    }
    assert len(writers & gunicorn.workers()) >= 2, "the requests were spread over workers"


def test_totals_survive_a_worker_restart(gunicorn: Gunicorn) -> None:
    gunicorn.send(workload(30, random.Random(4)))
    before = gunicorn.total()
    assert before >= 30
    workers = gunicorn.workers()
    victim = min(workers)
    os.kill(victim, signal.SIGTERM)

    def replaced_workers() -> set[int] | None:
        now = gunicorn.workers()
        return now if len(now) == 3 and victim not in now else None

    replaced = wait_for(
        replaced_workers,
        what="the master to replace the worker",
        process=gunicorn.process,
        log=gunicorn.log,
    )
    assert len(replaced - workers) == 1
    assert gunicorn.total() == before, "the dead worker's counts stay"
    assert not (gunicorn.multiproc_dir / f"gauge_livesum_{victim}.db").exists(), "child_exit"
    assert (gunicorn.multiproc_dir / f"counter_{victim}.db").exists()
    gunicorn.send(workload(30, random.Random(5)))
    assert gunicorn.total() == before + 30
    in_flight = [
        sample.value
        for family in text_string_to_metric_families(gunicorn.scrape())
        for sample in family.samples
        if sample.name == IN_FLIGHT
    ]
    assert in_flight == [0.0]


def test_scrapes_need_the_token_even_on_loopback(gunicorn: Gunicorn) -> None:
    assert gunicorn.get("/metrics") == 401
    with pytest.raises(urllib.error.HTTPError) as refused:
        http_get(f"{gunicorn.url}/metrics", {"Authorization": "Bearer wrong"})
    assert refused.value.code == 403
    assert refused.value.headers["Content-Type"] == "application/problem+json"
    assert b"flask_http" not in refused.value.read()


def test_multiprocess_exposition_passes_promtool(gunicorn: Gunicorn) -> None:
    promtool = require_executable("promtool", "install the Debian package prometheus")
    gunicorn.send(["/api/orders/1", LIST_ROUTE, "/nowhere"])
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=gunicorn.scrape(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_the_app(gunicorn: Gunicorn, start_prometheus: StartPrometheus) -> None:
    gunicorn.send(workload(12, random.Random(6)))
    expected = gunicorn.total()
    prometheus = start_prometheus([gunicorn.url.removeprefix("http://")], token=TOKEN)

    def counted() -> float | None:
        result = prometheus.query('sum(flask_http_request_total{job="app"})')
        value = float(result[0]["value"][1]) if result else None
        return value if value == expected else None

    assert wait_for(counted, what=f"Prometheus to count {expected} requests") == expected
    assert prometheus.query('up{job="app"}')[0]["value"][1] == "1"
    by_route = {
        row["metric"]["route"]: float(row["value"][1])
        for row in prometheus.query("sum by (route) (flask_http_request_total)")
    }
    assert by_route == gunicorn.requests_by_route()
    documented = (DOCS / "metrics.md").read_text(encoding="utf-8")
    for query in DOCUMENTED_QUERIES:
        assert query in documented
        # rate() needs two scrapes inside its range
        wait_for(lambda q=query: prometheus.query(q) or None, what=f"a result for {query}")
