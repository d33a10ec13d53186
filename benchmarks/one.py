"""Measure one variant in a process of its own: ``python -m benchmarks.one NAME REQUESTS OUT``.

Peers configure loguru and logging globally, so each is measured alone; the caller alternates
the processes round by round. The app's log lines go to this process's stdout, a pipe the
caller reads; the CPU seconds per request are written to the file ``OUT``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .measure import per_request_seconds
from .variants import VARIANTS


def main() -> None:
    """Measure ``sys.argv[1]`` for ``sys.argv[2]`` requests after a warm-up."""
    name, requests, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    app = VARIANTS[name].make()
    per_request_seconds(app, 500)
    seconds = per_request_seconds(app, requests)
    out.write_text(repr(seconds))


if __name__ == "__main__":
    main()
