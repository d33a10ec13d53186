"""What following a call to another service costs: ``python -m benchmarks.outgoing``.

Also the ``outgoing`` suite of ``python -m benchmarks``. A keep-alive HTTP server on
loopback runs in a process of its own; each variant calls it from a fresh process, the
variants alternating round by round, and the figure is the calling process's CPU time per
call (its other threads included):

- **bare**: the client alone, flask-prodready not even imported;
- **followed**: the same calls from inside a request of an app with ``ProdReady(app)`` and
  its defaults: the ids passed on, the call counted, kept and made a breadcrumb;
- **part off**: the same app and request with ``PRODREADY_OUTGOING_ENABLED = false``.

"followed" minus "part off" is what following a call costs; "part off" minus "bare" is
what the rest of the extension, loaded and inside a request, costs the client's own work
(a larger heap for the garbage collector, other threads). A call over a network costs
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
KINDS = ("bare", "part off", "followed")
VARIANTS = tuple(f"{client}, {kind}" for client in CLIENTS for kind in KINDS)


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
    ProdReady(app, outgoing_enabled=kind == "followed")
    # Inside a real request: its id passed on, the call kept as one of its breadcrumbs.
    app.add_url_rule("/calls/<int:count>", "calls", lambda count: repr(run(count)))
    client = app.test_client()
    client.get("/calls/200")
    out.write_text(client.get(f"/calls/{calls}").get_data(as_text=True))


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
        bare, off, on = (samples[f"{client}, {kind}"] for kind in KINDS)
        rows.append(
            {
                "client": client,
                "bare_us": _us(statistics.median(bare)),
                "part_off_us": _us(statistics.median(off)),
                "followed_us": _us(statistics.median(on)),
                # Round by round: the three ran seconds apart.
                "following_us": _us(statistics.median(f - o for f, o in zip(on, off, strict=True))),
                "against_bare_us": _us(
                    statistics.median(f - b for f, b in zip(on, bare, strict=True))
                ),
            }
        )
    return {"rounds": rounds, "calls": calls, "rows": rows}


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 1)


def table(result: dict[str, Any]) -> str:
    """The result as a Markdown table."""
    lines = [
        f"{result['rounds']} alternating rounds of {result['calls']:,} keep-alive calls to a "
        "loopback server; CPU µs per call of the calling process.",
        "",
        "| client | bare | in a request, part off | followed | following costs | against bare |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        lines.append(
            f"| {row['client']} | {row['bare_us']} µs | {row['part_off_us']} µs "
            f"| {row['followed_us']} µs | +{row['following_us']} µs "
            f"| +{row['against_bare_us']} µs |"
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
