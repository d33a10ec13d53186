"""flask-prodready's cost against bare Flask and its peers, measured in one run.

``make bench`` (``python -m benchmarks --write-docs``) measures, prints, and writes
``benchmarks/results/latest.json`` and ``latest.md``:

1. **headline**: flask-prodready's defaults as users get them (production, JSON lines to
   stdout read through a pipe by this process, alerts on, the default store),
   against bare Flask; beside it, in the same run, the peers (prometheus-flask-exporter
   alone and with a loguru JSON access line, Flask-MonitoringDashboard), the defaults with
   one part off each, and other labelled configurations. Each variant in a process of its
   own, alternating round by round (``benchmarks/headline.py``; budget: at most 1.5x bare
   Flask). ``--write-docs`` puts the tables into ``README.md`` and ``docs/performance.md``.
2. **memory**: RSS after 10 000 and after 200 000 mixed requests (200/404/500) with the
   defaults (budget: within 10 MB);
3. **init**: ``ProdReady(app)`` per app factory, warm and cold (``benchmarks/init_app.py``;
   budget: at most 3 ms median with the production defaults);
4. **scale**: the dashboard overview with the store at its caps and 24 h of samples, and
   one alert evaluation with 100 routes (``benchmarks/scale.py``; budgets 50 ms and 5 ms);
5. **outgoing**: a call made with ``requests`` and ``httpx`` to a loopback server, bare and
   followed by the outgoing part (``benchmarks/outgoing.py``);
6. **gunicorn**: 2 real workers under wrk on loopback for 20 s, bare Flask and the defaults
   (stdout a pipe read by this process), the load alternating between the two servers in 10
   rounds (budget: at least 90% of bare Flask's throughput; p99 reported). Needs ``wrk``.

``python -m benchmarks headline memory`` runs only those; ``--quick`` shortens everything.
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
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

from flask_prodready import __version__

from . import headline, init_app, outgoing, scale
from .apps import prodready
from .variants import QUICK, VARIANTS

RESULTS = Path(__file__).resolve().parent / "results"
_ALL = ("headline", "memory", "init", "scale", "outgoing", "gunicorn")
GUNICORN_BUDGET = 0.9
REPO = Path(__file__).resolve().parent.parent


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
app = bare() if os.environ["BENCH_VARIANT"] == "flask" else prodready()()
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
    env = {**headline.clean_environment(), "BENCH_VARIANT": variant, "PYTHONPATH": str(folder)}
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
    # stdout is a pipe this process reads, as a container runtime reads a server's lines.
    server = subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    drain = threading.Thread(target=_drain, args=(server.stdout,), daemon=True)
    drain.start()
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


def _drain(stream: Any) -> None:
    while stream.read(65536):
        pass


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
    parser.add_argument("which", nargs="*", default=[], choices=[*_ALL, []])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, requests and rows")
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS / "latest.json",
        help="where to write the figures as JSON (default: benchmarks/results/latest.json)",
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="put the headline tables into README.md and docs/performance.md",
    )
    args = parser.parse_args(argv)
    args.which = args.which or list(_ALL)
    if args.quick:
        args.rounds, args.requests = 3, 500
    args.results.parent.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}"
    document: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "flask_prodready": __version__,
        "python": sys.version.split()[0],
        "machine": machine,
    }
    if "headline" in args.which:
        names = list(QUICK) if args.quick else list(VARIANTS)
        rows = headline.measure(names, args.rounds, args.requests)
        document["headline"] = rows
        about = (
            f"Measured by `make bench` on {document['date']}: {machine}, Python "
            f"{document['python']}; {args.rounds} alternating rounds of {args.requests:,} "
            "requests of a hello-world route per variant, each in a process of its own whose "
            "stdout is a pipe read by the benchmark, each round with a string hash seed of its "
            "own; CPU time of that process per request. "
            "x bare Flask is the median over the rounds of each round's ratio to its own bare "
            "Flask, and µs/request that ratio times bare Flask's median."
        )
        text = headline.tables(rows, about)
        print("## Headline\n\n" + text)
        args.results.with_suffix(".md").write_text(text, encoding="utf-8")
        if args.write_docs:
            for page in (REPO / "README.md", REPO / "docs" / "performance.md"):
                headline.write_into(page, text)
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
    if "scale" in args.which:
        result = scale.measure(quick=args.quick)
        document["scale"] = result
        print("## Scale\n\n" + scale.table(result) + "\n")
    if "outgoing" in args.which:
        rounds, calls = (3, 300) if args.quick else (7, 1000)
        result = outgoing.measure(rounds, calls)
        document["outgoing"] = result
        print("## Outgoing calls\n\n" + outgoing.table(result) + "\n")
    if "gunicorn" in args.which:
        if not shutil_which("wrk"):
            print("## gunicorn\n\nskipped: wrk is not installed (sudo apt-get install wrk)\n")
        else:
            seconds, rounds = (6, 3) if args.quick else (20, 10)
            result = under_gunicorn(seconds, rounds, 16)
            document["gunicorn"] = result
            share = result["throughput_share"]
            verdict = "within" if share >= GUNICORN_BUDGET else "OVER"
            print(f"## gunicorn, 2 workers, wrk -t2 -c16, {rounds} alternating rounds\n")
            for run in result["runs"]:
                print(
                    f"- {run['variant']}: {run['requests_per_second']:.0f} requests/s, "
                    f"p99 {run['p99_ms']} ms (median of the rounds)"
                )
            each = ", ".join(f"{value:.0%}" for value in result["round_shares"])
            print(
                f"\nThroughput with the defaults: {share:.0%} of bare Flask over {seconds} s "
                f"each (rounds: {each}; budget {GUNICORN_BUDGET:.0%}) -> {verdict}\n"
            )
    args.results.write_text(json.dumps(document, indent=2) + "\n")
    return 0


def shutil_which(name: str) -> str | None:
    import shutil

    return shutil.which(name)


if __name__ == "__main__":
    raise SystemExit(main())
