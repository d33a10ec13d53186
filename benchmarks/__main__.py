"""flask-prodready's cost against bare Flask and its peers, measured in one run.

``make bench`` (``python -m benchmarks``) measures, and writes ``benchmarks/results/*.json``:

1. **parts**: each part alone and all parts on, in-process (direct WSGI calls of a
   hello-world route, rounds alternating the variants so that drift hits them alike; CPU
   time of this process per request, median and fastest round);
2. **peers**: every part on with default settings, against bare Flask, a hand-rolled stack
   (prometheus-flask-exporter + loguru JSON) and Flask-MonitoringDashboard (budget: at most
   1.5x bare Flask);
3. **memory**: RSS after 10 000 and after 200 000 mixed requests (200/404/500) with every part
   on (budget: within 10 MB);
4. **init**: ``ProdReady(app)`` per app factory, warm and cold (``benchmarks/init_app.py``;
   budget: at most 3 ms median with the production defaults);
5. **gunicorn**: 2 real workers under wrk on loopback for 20 s, bare Flask and every part on,
   the load alternating between the two servers in 10 rounds (budget: at least 80% of bare
   Flask's throughput; p99 reported). Needs Debian's ``wrk``.

``python -m benchmarks parts peers`` runs only those; ``--quick`` shortens everything.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.test import EnvironBuilder

from flask_prodready import __version__
from flask_prodready.metrics import MULTIPROC_DIR_ENV

from . import init_app
from .apps import AppFactory, bare, monitoring_dashboard, naive_stack, prodready

RESULTS = Path(__file__).resolve().parent / "results"
_ALL = ("parts", "peers", "memory", "init", "gunicorn")
REPO = Path(__file__).resolve().parent.parent

# Log lines go to /dev/null: the cost measured is rendering and writing, not the terminal.
_QUIET = {"log_destination": "/dev/null"}
_NONE = {
    "request_id_enabled": False,
    "logs_enabled": False,
    "errors_enabled": False,
    "metrics_enabled": False,
    "health_enabled": False,
    "profiling_enabled": False,
    "dashboard_enabled": False,
    "alerts_enabled": False,
}

PARTS: dict[str, AppFactory] = {
    "flask": bare,
    "settings only (all parts off)": prodready(**_NONE),
    "request ids alone": prodready(**{**_NONE, "request_id_enabled": True}),
    "logs alone (JSON access line)": prodready(**{**_NONE, **_QUIET, "logs_enabled": True}),
    "metrics alone": prodready(**{**_NONE, "metrics_enabled": True}),
    "request ids + JSON access line": prodready(
        **{**_NONE, **_QUIET, "request_id_enabled": True, "logs_enabled": True}
    ),
    "all parts on": prodready(**_QUIET),
}

PEERS: dict[str, AppFactory] = {
    "flask": bare,
    "flask-prodready, every part on, defaults": prodready(),
    "prometheus-flask-exporter + loguru JSON": naive_stack,
    "Flask-MonitoringDashboard": monitoring_dashboard,
}


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Lines written to stdout (the default log destination) go to /dev/null meanwhile."""
    saved = sys.stdout
    with open(os.devnull, "w") as devnull:
        sys.stdout = devnull
        try:
            yield
        finally:
            sys.stdout = saved


def per_request_seconds(app: Flask, requests: int, path: str = "/hello") -> float:
    """Mean CPU seconds per request over ``requests`` WSGI calls of ``GET path``."""
    environ = EnvironBuilder(path=path).get_environ()

    def start_response(
        status: str, headers: Iterable[tuple[str, str]], exc_info: Any = None
    ) -> None:
        return None

    wsgi = app.wsgi_app
    started = time.process_time()
    for _ in range(requests):
        for _chunk in wsgi(dict(environ), start_response):
            pass
    return (time.process_time() - started) / requests


def compare(variants: dict[str, AppFactory], rounds: int, requests: int) -> list[dict[str, Any]]:
    """Each variant's cost per request against the first one, measured in alternation."""
    with quiet_stdout():
        apps = {name: make() for name, make in variants.items()}
        for app in apps.values():
            per_request_seconds(app, 300)  # warm-up
        samples: dict[str, list[float]] = {name: [] for name in apps}
        for _ in range(rounds):
            for name, app in apps.items():
                samples[name].append(per_request_seconds(app, requests))
    return _rows(samples)


def _rows(samples: dict[str, list[float]]) -> list[dict[str, Any]]:
    base = next(iter(samples))
    median_base, fastest_base = statistics.median(samples[base]), min(samples[base])
    rows = []
    for name, values in samples.items():
        median, fastest = statistics.median(values), min(values)
        rows.append(
            {
                "variant": name,
                "median_us": round(median * 1e6, 1),
                "fastest_us": round(fastest * 1e6, 1),
                "ratio_median": round(median / median_base, 2),
                "ratio_fastest": round(fastest / fastest_base, 2),
                "added_median_us": round((median - median_base) * 1e6, 1),
                "added_fastest_us": round((fastest - fastest_base) * 1e6, 1),
            }
        )
    return rows


def compare_isolated(
    variants: dict[str, AppFactory], rounds: int, requests: int
) -> list[dict[str, Any]]:
    """Like :func:`compare`, each variant in a fresh process, alternated round by round."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name in variants:
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.one", name, str(requests)],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=True,
                timeout=600,
            ).stdout
            samples[name].append(float(out.strip().splitlines()[-1]))
    return _rows(samples)


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| variant | µs/request, median | fastest | x bare Flask, median / fastest | added µs |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['median_us']:.1f} | {r['fastest_us']:.1f} "
            f"| {r['ratio_median']:.2f} / {r['ratio_fastest']:.2f} | {r['added_fastest_us']:+.1f} |"
        )
    return "\n".join(lines)


def rss_mb() -> float:
    """This process's resident set size in MB (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def memory(total: int, first: int) -> dict[str, Any]:
    """RSS after ``first`` and after ``total`` mixed requests, every part on."""
    with quiet_stdout():
        app = prodready()()
        paths = ["/hello"] * 8 + ["/missing", "/boom"]
        environs = [EnvironBuilder(path=p).get_environ() for p in paths]

        def start_response(*args: Any) -> None:
            return None

        wsgi = app.wsgi_app
        after_first = 0.0
        for n in range(total):
            for _chunk in wsgi(dict(environs[n % len(environs)]), start_response):
                pass
            if n + 1 == first:
                after_first = rss_mb()
        after_total = rss_mb()
    return {
        "requests": total,
        "rss_mb_after_first": round(after_first, 1),
        "first": first,
        "rss_mb_after_total": round(after_total, 1),
        "growth_mb": round(after_total - after_first, 1),
    }


WSGI = """
import os, sys
sys.path.insert(0, {repo!r})
from benchmarks.apps import bare, prodready
app = bare() if os.environ["BENCH_VARIANT"] == "flask" else prodready(log_destination="/dev/null")()
"""


GUNICORN_CONF = (
    "from flask_prodready.gunicorn import child_exit, on_exit, on_starting, when_ready\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def gunicorn_server(variant: str) -> Iterator[str]:
    """2 gunicorn workers serving ``variant`` ("flask" or "prodready"); yields the URL."""
    folder = Path(tempfile.mkdtemp(prefix="bench-gunicorn-"))
    (folder / "wsgi_bench.py").write_text(textwrap.dedent(WSGI.format(repo=str(REPO))))
    # The documented deployment: our hooks, so metrics add up over the workers (files in
    # PROMETHEUS_MULTIPROC_DIR), for both variants alike.
    (folder / "gunicorn.conf.py").write_text(GUNICORN_CONF)
    port = free_port()
    env = {**os.environ, "BENCH_VARIANT": variant, "PYTHONPATH": str(folder)}
    env.pop(MULTIPROC_DIR_ENV, None)
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "gunicorn.conf.py",
        "-w",
        "2",
        "-b",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
        "--no-control-socket",
        "wsgi_bench:app",
    ]
    server = subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"gunicorn for {variant} did not start")
            time.sleep(0.2)
        url = f"http://127.0.0.1:{port}/hello"
        subprocess.run(["wrk", "-t2", "-c8", "-d2s", url], capture_output=True, check=True)
        yield url
    finally:
        server.send_signal(signal.SIGQUIT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def wrk(url: str, seconds: int, connections: int) -> tuple[int, float | None]:
    """Requests answered and p99 latency (ms) of one wrk run against ``url``."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return done, float(p99.group(1)) * scale[p99.group(2)] if p99 else None


def under_gunicorn(seconds: int, rounds: int, connections: int) -> dict[str, Any]:
    """Bare Flask and every part on, 2 gunicorn workers each, loaded by wrk in turns.

    Both servers run side by side (the idle one costs nothing), and the load alternates
    between them in ``rounds`` rounds (ABBA order) that add up to ``seconds`` each, so that
    a machine that gets busier or quieter during the run affects both alike.
    """
    turn = seconds // rounds  # wrk takes whole seconds
    totals = {"flask": 0, "prodready": 0}
    p99s: dict[str, list[float]] = {"flask": [], "prodready": []}
    shares = []
    with gunicorn_server("flask") as bare_url, gunicorn_server("prodready") as ours_url:
        urls = {"flask": bare_url, "prodready": ours_url}
        for index in range(rounds):
            order = ["flask", "prodready"] if index % 2 == 0 else ["prodready", "flask"]
            done = {}
            for variant in order:
                done[variant], p99 = wrk(urls[variant], turn, connections)
                totals[variant] += done[variant]
                if p99 is not None:
                    p99s[variant].append(p99)
            shares.append(done["prodready"] / done["flask"])
    runs = [
        {
            "variant": variant,
            "requests_per_second": round(totals[variant] / seconds, 1),
            "p99_ms": round(statistics.median(p99s[variant]), 2) if p99s[variant] else None,
        }
        for variant in ("flask", "prodready")
    ]
    return {
        "seconds": seconds,
        "rounds": rounds,
        "workers": 2,
        "connections": connections,
        "runs": runs,
        "throughput_share": round(totals["prodready"] / totals["flask"], 3),
        "round_shares": [round(share, 3) for share in shares],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks (all by default) and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "which",
        nargs="*",
        default=[],
        choices=[*_ALL, []],
    )
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and requests")
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS / "latest.json",
        help="where to write the figures as JSON (default: benchmarks/results/latest.json)",
    )
    args = parser.parse_args(argv)
    args.which = args.which or list(_ALL)
    if args.quick:
        args.rounds, args.requests = 3, 500
    args.results.parent.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "flask_prodready": __version__,
        "python": sys.version.split()[0],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
    }
    if "parts" in args.which:
        rows = compare(PARTS, args.rounds, args.requests)
        document["parts"] = rows
        print("## Each part\n\n" + table(rows) + "\n")
    if "peers" in args.which:
        rows = compare_isolated(PEERS, args.rounds, args.requests)
        document["peers"] = rows
        ours = rows[1]
        verdict = "within" if ours["ratio_fastest"] <= 1.5 else "OVER"
        print("## Every part on, against peers\n\n" + table(rows))
        print(f"\nBudget 1.5x bare Flask: {ours['ratio_fastest']:.2f}x (fastest) -> {verdict}\n")
    if "memory" in args.which:
        total, first = (20_000, 2_000) if args.quick else (200_000, 10_000)
        result = memory(total, first)
        document["memory"] = result
        verdict = "within" if result["growth_mb"] <= 10 else "OVER"
        print(
            f"## Memory\n\nRSS {result['rss_mb_after_first']} MB after {first:,} requests, "
            f"{result['rss_mb_after_total']} MB after {total:,}: +{result['growth_mb']} MB "
            f"(budget 10 MB) -> {verdict}\n"
        )
    if "init" in args.which:
        apps, processes = (50, 3) if args.quick else (300, 9)
        result = init_app.measure(apps, processes)
        document["init"] = result
        print(f"## init_app, {apps} app factories alternating\n\n" + init_app.table(result) + "\n")
    if "gunicorn" in args.which:
        if not shutil_which("wrk"):
            print("## gunicorn\n\nskipped: wrk is not installed (sudo apt-get install wrk)\n")
        else:
            seconds, rounds = (6, 3) if args.quick else (20, 10)
            result = under_gunicorn(seconds, rounds, 16)
            document["gunicorn"] = result
            share = result["throughput_share"]
            verdict = "within" if share >= 0.8 else "OVER"
            print(f"## gunicorn, 2 workers, wrk -t2 -c16, {rounds} alternating rounds\n")
            for run in result["runs"]:
                print(
                    f"- {run['variant']}: {run['requests_per_second']:.0f} requests/s, "
                    f"p99 {run['p99_ms']} ms (median of the rounds)"
                )
            each = ", ".join(f"{value:.0%}" for value in result["round_shares"])
            print(
                f"\nThroughput with every part on: {share:.0%} of bare Flask over {seconds} s "
                f"each (rounds: {each}; budget 80%) -> {verdict}\n"
            )
    args.results.write_text(json.dumps(document, indent=2) + "\n")
    return 0


def shutil_which(name: str) -> str | None:
    import shutil

    return shutil.which(name)


if __name__ == "__main__":
    raise SystemExit(main())
