"""What ``init_app`` costs: the first app of a process, and each app after it.

``python -m benchmarks.init_app`` (also the ``init`` suite of ``python -m benchmarks``) prints a
table. The measuring runs in a child process whose stdout is a pipe read by this one, as a
container runtime reads a server's log lines: the start-up lines are written as users get
them.

- **warm**: the median of ``ProdReady(app)`` over many app factories in one process, variants
  alternating; the case of a test suite that builds an app per test, or of an app factory
  called per worker. The budget is 3 ms for the production defaults.
- **cold**: the first ``ProdReady(app)`` of a fresh process, the median over several
  processes: what a worker or a CLI command pays once. Shown twice: with the parts' modules
  already imported, and including their import (which ``init_app`` does on first use).

Each app's folder holds a ``settings.toml`` of a few keys, as an app has; ``Flask()`` itself
is timed beside, for scale, and so is prometheus-flask-exporter's ``PrometheusMetrics(app)``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BUDGET_MS = 3.0
SETTINGS_TOML = """\
[default]
SECRET_KEY = "not-a-real-key"
PRODREADY_SLOW_REQUEST_MS = 800

[production]
PRODREADY_LOG_LEVEL = "INFO"
"""

Setup = Callable[[], Callable[[], Any]]


def _root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="bench-init-"))
    (root / "settings.toml").write_text(SETTINGS_TOML)
    return root


def variants() -> dict[str, Setup]:
    """Each variant: a function making an app, returning the call that is timed."""
    from flask import Flask

    from flask_prodready import ProdReady

    root = _root()

    def app(testing: bool = False) -> Flask:
        made = Flask("bench_init", root_path=str(root), instance_path=str(root / "instance"))
        made.testing = testing
        return made

    def flask_alone() -> Callable[[], Any]:
        return lambda: app()

    def defaults() -> Callable[[], Any]:
        made = app()
        return lambda: ProdReady(made)

    def dashboard_served() -> Callable[[], Any]:
        made = app()
        return lambda: ProdReady(made, dashboard_token="bench-token-0123456789abcdef")

    def testing() -> Callable[[], Any]:
        made = app(testing=True)
        return lambda: ProdReady(made)

    def prometheus_flask_exporter() -> Callable[[], Any]:
        from prometheus_client import CollectorRegistry
        from prometheus_flask_exporter import PrometheusMetrics

        made = app()
        return lambda: PrometheusMetrics(made, registry=CollectorRegistry())

    return {
        "ProdReady(app), production defaults": defaults,
        "ProdReady(app), production, dashboard served (token)": dashboard_served,
        "ProdReady(app), testing app (app.testing)": testing,
        "PrometheusMetrics(app) alone (peer)": prometheus_flask_exporter,
        "Flask() itself (for scale)": flask_alone,
    }


def _timed(setup: Setup) -> float:
    call = setup()
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def warm(apps: int) -> dict[str, float]:
    """The median milliseconds per call of each variant, ``apps`` calls, alternating."""
    chosen = variants()
    samples: dict[str, list[float]] = {name: [] for name in chosen}
    for setup in chosen.values():  # warm-up: imports, first loads
        _timed(setup)
    for _ in range(apps):
        for name, setup in chosen.items():
            samples[name].append(_timed(setup))
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


def cold_once(imported: bool) -> float:
    """Milliseconds of the first ``ProdReady(app)`` of this process, production defaults."""
    if imported:
        import importlib

        from flask_prodready.extension import PARTS

        for part in PARTS:
            importlib.import_module(part.init.partition(":")[0])
        importlib.import_module("flask_prodready.cli")
    setup = variants()["ProdReady(app), production defaults"]
    return _timed(setup) * 1000


def _child(*args: str) -> Any:
    """Run this module in a fresh process, its stdout a pipe we drain; return its answer."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as answer:
        path = answer.name
    env = {name: value for name, value in os.environ.items() if name != "PRODREADY_ENV"}
    try:
        subprocess.run(
            [sys.executable, "-m", "benchmarks.init_app", "--child", path, *args],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            stdout=subprocess.PIPE,  # read (and dropped) by this process, as a runtime would
            check=True,
            timeout=600,
        )
        return json.loads(Path(path).read_text())
    finally:
        os.unlink(path)


def measure(apps: int, processes: int) -> dict[str, Any]:
    """Warm medians over ``apps`` app factories, and the cold median over ``processes``."""
    rows = _child("warm", str(apps))
    colds = [_child("cold", "imported") for _ in range(processes)]
    importing = [_child("cold", "importing") for _ in range(processes)]
    return {
        "apps": apps,
        "processes": processes,
        "warm_median_ms": {name: round(ms, 3) for name, ms in rows.items()},
        "cold_median_ms": round(statistics.median(colds), 2),
        "cold_ms": [round(ms, 2) for ms in colds],
        "cold_with_imports_median_ms": round(statistics.median(importing), 2),
        "budget_ms": BUDGET_MS,
    }


def table(result: dict[str, Any]) -> str:
    """The result as Markdown, with the budget's verdict."""
    lines = ["| call | median ms |", "| --- | ---: |"]
    for name, ms in result["warm_median_ms"].items():
        lines.append(f"| {name} | {ms:.2f} |")
    processes = result["processes"]
    lines.append(
        f"| first ProdReady(app) of a process, production defaults, modules imported (cold, "
        f"median of {processes} processes) | {result['cold_median_ms']:.2f} |"
    )
    lines.append(
        f"| the same, importing the parts' modules (cold, median of {processes} processes) "
        f"| {result['cold_with_imports_median_ms']:.2f} |"
    )
    headline = result["warm_median_ms"]["ProdReady(app), production defaults"]
    verdict = "within" if headline <= result["budget_ms"] else "OVER"
    lines.append("")
    lines.append(
        f"Budget {result['budget_ms']:g} ms median for ProdReady(app) with production "
        f"defaults: {headline:.2f} ms over {result['apps']} apps -> {verdict}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table (``--child`` is the measuring process)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.init_app")
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        path, kind, *rest = args.child
        answer: Any = warm(int(rest[0])) if kind == "warm" else cold_once(rest[0] == "imported")
        Path(path).write_text(json.dumps(answer))
        return 0
    apps, processes = (50, 3) if args.quick else (300, 9)
    print(f"## init_app, {apps} apps alternating; cold over {processes} processes\n")
    print(table(measure(apps, processes)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
