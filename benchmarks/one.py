"""Measure one variant in a process of its own: ``python -m benchmarks.one NAME REQUESTS``.

Peers configure loguru and logging globally, so each is measured alone; the caller alternates
the processes round by round. Prints the CPU seconds per request.
"""

from __future__ import annotations

import sys

from .__main__ import PEERS, per_request_seconds, quiet_stdout


def main() -> None:
    """Measure ``sys.argv[1]`` for ``sys.argv[2]`` requests after a warm-up."""
    name, requests = sys.argv[1], int(sys.argv[2])
    with quiet_stdout():
        app = PEERS[name]()
        per_request_seconds(app, 300)
        seconds = per_request_seconds(app, requests)
    print(repr(seconds))


if __name__ == "__main__":
    main()
