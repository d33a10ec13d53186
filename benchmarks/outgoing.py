"""What following a call to another service costs: ``python -m benchmarks.outgoing``.

Also the ``outgoing`` suite of ``python -m benchmarks``. A keep-alive HTTP server on
loopback runs in a process of its own; each variant calls it from a fresh process, the
variants alternating round by round, and the figure is the calling process's CPU time per
call (its other threads included):

- **bare**: the client alone, flask-prodready not even imported;
- **followed**: the same calls from inside a request of an app with ``ProdReady(app)`` and
  its defaults: the ids passed on, the call counted, kept and made a breadcrumb.

The added microseconds are the instrumentation's cost per call; a call over a network costs
milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import headline

__all__ = ["measure", "table"]

SERVER = """
import http.server, sys

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each keep-alive answer waits for a delayed ACK

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

CLIENTS = ("requests", "httpx")
VARIANTS = tuple(f"{client}, {kind}" for client in CLIENTS for kind in ("bare", "followed"))


def child(variant: str, calls: int, url: str, out: Path) -> None:
    """In the measured process: ``calls`` calls of ``variant`` after a warm-up."""
    client, kind = variant.split(", ")
    if client == "requests":
        import requests

        session: Any = requests.Session()
    else:
        import httpx

        session = httpx.Client()

    def run(count: int) -> float:
        started = time.process_time()
        for _ in range(count):
            session.get(url).close()
        return (time.process_time() - started) / count

    if kind == "bare":
        run(200)
        out.write_text(repr(run(calls)))
        return
    import tempfile as _tempfile

    from flask import Flask

    from flask_prodready import ProdReady

    app = Flask("bench_outgoing", instance_path=_tempfile.mkdtemp())
    ProdReady(app)
    with app.test_request_context("/"):
        app.preprocess_request()
        run(200)
        out.write_text(repr(run(calls)))


def measure(rounds: int, calls: int) -> dict[str, Any]:
    """Each variant ``rounds`` times, alternating; the median CPU µs per call of each."""
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}/"
        samples: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        with tempfile.TemporaryDirectory(prefix="bench-outgoing-") as folder:
            out = Path(folder) / "seconds"
            for index in range(rounds):
                env = headline.clean_environment() | {"PYTHONHASHSEED": str(index + 1)}
                for variant in VARIANTS:
                    subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "benchmarks.outgoing",
                            "--child",
                            variant,
                            "--calls",
                            str(calls),
                            "--url",
                            url,
                            "--out",
                            str(out),
                        ],
                        cwd=headline.REPO,
                        env=env,
                        capture_output=True,
                        timeout=600,
                        check=True,
                    )
                    samples[variant].append(float(out.read_text()))
    finally:
        server.terminate()
        server.wait(timeout=10)
    rows = []
    for client in CLIENTS:
        bare, followed = samples[f"{client}, bare"], samples[f"{client}, followed"]
        added = statistics.median(f - b for f, b in zip(followed, bare, strict=True))
        rows.append(
            {
                "client": client,
                "bare_us": round(statistics.median(bare) * 1e6, 1),
                "followed_us": round(statistics.median(followed) * 1e6, 1),
                "added_us": round(added * 1e6, 1),
            }
        )
    return {"rounds": rounds, "calls": calls, "rows": rows}


def table(result: dict[str, Any]) -> str:
    """The result as a Markdown table."""
    lines = [
        f"{result['rounds']} alternating rounds of {result['calls']:,} keep-alive calls to a "
        "loopback server; CPU µs per call of the calling process.",
        "",
        "| client | bare | followed by flask-prodready | added per call |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['client']} | {row['bare_us']} µs | {row['followed_us']} µs "
            f"| +{row['added_us']} µs |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table (or, with ``--child``, measure one variant)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.calls, args.url, args.out)
        return 0
    print(table(measure(args.rounds, args.calls)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
