"""Flask's JSON provider against ours on an ordinary payload.

``python -m benchmarks.json_provider`` prints a small table; it writes no results file.

The payload is a list of 50 users (str, int, float, bool, None, date and datetime values), as
an API answers it. Each operation is timed with both providers, rounds alternating so that
drift hits them alike (CPU time of this process, median and fastest round), after checking
that both give the same text and value:

- ``jsonify``: ``dumps`` with ``separators=(",", ":")``, as ``jsonify`` calls it;
- ``jsonify, debug``: ``dumps`` with ``indent=2``, as ``jsonify`` calls it in debug mode;
- ``dumps()``: json's default spacing;
- ``get_json``: ``loads`` of the compact text, as bytes.

``--quick`` shortens the run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from flask_prodready.json import OrjsonProvider


def payload(users: int = 50) -> list[dict[str, Any]]:
    """An ordinary API answer: ``users`` dicts of str, int, float, bool, None and dates."""
    return [
        {
            "id": n,
            "name": f"User {n}",
            "email": f"user{n}@example.com",
            "score": round(n * 1.37 + 0.5, 2),
            "active": n % 3 != 0,
            "manager_id": None if n % 5 else n // 5,
            "joined": date(2024, 1, 1) + timedelta(days=n),
            "last_seen": datetime(2024, 6, 1, 8, 30) + timedelta(minutes=17 * n),
        }
        for n in range(users)
    ]


def operations(
    provider: DefaultJSONProvider, data: Any, text: bytes
) -> dict[str, Callable[[], Any]]:
    """The operations timed, for one provider."""
    return {
        "jsonify": lambda: provider.dumps(data, separators=(",", ":")),
        "jsonify, debug": lambda: provider.dumps(data, indent=2),
        "dumps()": lambda: provider.dumps(data),
        "get_json": lambda: provider.loads(text),
    }


def seconds_per_call(call: Callable[[], Any], calls: int) -> float:
    """Mean CPU seconds per call over ``calls`` calls."""
    started = time.process_time()
    for _ in range(calls):
        call()
    return (time.process_time() - started) / calls


def measure(rounds: int, calls: int) -> list[dict[str, Any]]:
    """Each operation's cost with Flask's provider and ours, rounds alternating."""
    app = Flask("bench_json")
    data = payload()
    flask, ours = DefaultJSONProvider(app), OrjsonProvider(app)
    text = flask.dumps(data, separators=(",", ":")).encode()
    theirs, mine = operations(flask, data, text), operations(ours, data, text)
    rows = []
    for name in theirs:
        if mine[name]() != theirs[name]():
            raise SystemExit(f"{name}: the providers differ")
        samples: dict[str, list[float]] = {"flask": [], "ours": []}
        seconds_per_call(theirs[name], calls // 10)  # warm-up
        seconds_per_call(mine[name], calls // 10)
        for _ in range(rounds):
            samples["flask"].append(seconds_per_call(theirs[name], calls))
            samples["ours"].append(seconds_per_call(mine[name], calls))
        flask_median, ours_median = (statistics.median(samples[k]) for k in ("flask", "ours"))
        flask_fastest, ours_fastest = (min(samples[k]) for k in ("flask", "ours"))
        rows.append(
            {
                "operation": name,
                "flask_median_us": round(flask_median * 1e6, 1),
                "flask_fastest_us": round(flask_fastest * 1e6, 1),
                "ours_median_us": round(ours_median * 1e6, 1),
                "ours_fastest_us": round(ours_fastest * 1e6, 1),
                "speedup_median": round(flask_median / ours_median, 2),
                "speedup_fastest": round(flask_fastest / ours_fastest, 2),
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| operation (50 users) | Flask µs, median / fastest | ours µs, median / fastest "
        "| speed-up, median / fastest |",
        "| --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['operation']} | {r['flask_median_us']:.1f} / {r['flask_fastest_us']:.1f} "
            f"| {r['ours_median_us']:.1f} / {r['ours_fastest_us']:.1f} "
            f"| {r['speedup_median']:.2f}x / {r['speedup_fastest']:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.json_provider")
    parser.add_argument("--quick", action="store_true", help="a short run")
    args = parser.parse_args(argv)
    rounds, calls = (3, 200) if args.quick else (9, 2000)
    print(f"## JSON provider, {rounds} alternating rounds of {calls} calls\n")
    print(table(measure(rounds, calls)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
