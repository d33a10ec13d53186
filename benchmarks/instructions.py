"""Instructions per request, counted by valgrind: ``python -m benchmarks.instructions``.

Timings on a shared machine move by 10% from run to run; the number of instructions a
request executes does not. This runs each variant of :data:`benchmarks.variants.VARIANTS` in
a process of its own under callgrind, counting only the requests (inside ``functools.reduce``,
not the imports and set-up), and prints instructions per request against bare Flask.

An instruction count is not a time: cache misses and system calls (the access line's write)
are not in it. Use it to see whether a change to the hot path does less work; use
``make bench`` for the budgets. Needs Debian's ``valgrind``; takes about 20 s a variant.
"""

from __future__ import annotations

import argparse
import functools
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

from .__main__ import REPO, quiet_stdout
from .measure import per_request_seconds
from .variants import BARE, DEFAULTS, VARIANTS


def child(name: str, requests: int) -> None:
    """In the measured process: set the variant up, warm it, then run ``requests``."""
    with quiet_stdout():
        app = VARIANTS[name].make()
        per_request_seconds(app, 200)
        environ = EnvironBuilder(path="/hello").get_environ()
        wsgi = app.wsgi_app

        def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
            return None

        def one(total: int, _: int) -> int:
            for _chunk in wsgi(dict(environ), start_response):
                pass
            return total

        functools.reduce(one, range(requests), 0)


def count(name: str, requests: int) -> float:
    """Instructions per request of variant ``name``."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--toggle-collect=functools_reduce",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "benchmarks.instructions",
                "--child",
                name,
                "--requests",
                str(requests),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    collected = re.search(r"Collected : (\d+)", result.stderr)
    if collected is None:
        raise RuntimeError(f"callgrind printed no count for {name!r}:\n{result.stderr[-2000:]}")
    return int(collected.group(1)) / requests


def main(argv: list[str] | None = None) -> int:
    """Count each variant (all by default) and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("variants", nargs="*", choices=[*VARIANTS, []], default=[])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.requests)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (sudo apt-get install valgrind)", file=sys.stderr)
        return 2
    chosen = args.variants or [DEFAULTS]
    names = [BARE, *[v for v in chosen if v != BARE]]
    counts = {name: count(name, args.requests) for name in names}
    base = counts[BARE]
    print("| variant | instructions/request | x bare Flask | added |")
    print("| --- | ---: | ---: | ---: |")
    for name, value in counts.items():
        print(f"| {name} | {value:,.0f} | {value / base:.2f} | {value - base:+,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
