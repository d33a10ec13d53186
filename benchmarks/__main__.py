"""Per-request cost of flask-prodready, as ratios against bare Flask measured in the same run.

Run with ``make bench`` (or ``python -m benchmarks``). Each variant answers a hello-world
route through a direct WSGI call (no network, no test client), in rounds that alternate the
variants so that drift of the machine's speed hits them alike. Results are printed and written
to ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.test import EnvironBuilder

from flask_prodready import ProdReady, __version__

RESULTS = Path(__file__).resolve().parent / "results"


def bare() -> Flask:
    """Flask alone."""
    app = Flask("bench_bare")
    app.add_url_rule("/hello", "hello", lambda: "hello")
    return app


def prodready(**overrides: Any) -> Callable[[], Flask]:
    """Flask with ``ProdReady(app, **overrides)``, settings from an empty folder."""

    def make() -> Flask:
        root = tempfile.mkdtemp(prefix="bench-")
        app = Flask("bench_prodready", root_path=root)
        ProdReady(app, **overrides)
        app.add_url_rule("/hello", "hello", lambda: "hello")
        return app

    return make


# Log lines go to /dev/null: the cost measured is rendering and writing, not the terminal.
_QUIET = {"log_destination": "/dev/null"}
_NONE = {
    "request_id_enabled": False,
    "logs_enabled": False,
    "errors_enabled": False,
    "metrics_enabled": False,
    "dashboard_enabled": False,
}

VARIANTS: dict[str, Callable[[], Flask]] = {
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


def per_request_seconds(app: Flask, requests: int) -> float:
    """Mean CPU seconds per request over ``requests`` WSGI calls of ``GET /hello``.

    CPU time of this process, not wall time: other processes on a shared machine then
    disturb the figures less.
    """
    environ = EnvironBuilder(path="/hello").get_environ()

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


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one row per variant."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args(argv)
    apps = {name: make() for name, make in VARIANTS.items()}
    for app in apps.values():
        per_request_seconds(app, 500)  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(args.rounds):
        for name, app in apps.items():
            samples[name].append(per_request_seconds(app, args.requests))
    baseline = statistics.median(samples["flask"])
    fastest_baseline = min(samples["flask"])
    rows = []
    for name, values in samples.items():
        median = statistics.median(values)
        fastest = min(values)
        rows.append(
            {
                "variant": name,
                "median_us": round(median * 1e6, 2),
                "min_us": round(fastest * 1e6, 2),
                "ratio_vs_flask": round(median / baseline, 3),
                "added_us": round((median - baseline) * 1e6, 2),
                "added_min_us": round((fastest - fastest_baseline) * 1e6, 2),
            }
        )
    print("| variant | µs/request (median) | vs Flask | added µs (median) | added µs (best) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['variant']} | {row['median_us']:.1f} | {row['ratio_vs_flask']:.2f} "
            f"| {row['added_us']:+.1f} | {row['added_min_us']:+.1f} |"
        )
    RESULTS.mkdir(exist_ok=True)
    document = {
        "date": time.strftime("%Y-%m-%d"),
        "flask_prodready": __version__,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "rounds": args.rounds,
        "requests_per_round": args.requests,
        "results": rows,
    }
    (RESULTS / "latest.json").write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
