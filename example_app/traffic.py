"""Send some good and some failing requests to a running example app, for the dashboard.

::

    make run        # in one terminal
    make traffic    # in another, then open http://127.0.0.1:5000/_prod/

``python -m example_app.traffic --url http://127.0.0.1:5000 --rounds 50``
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import urllib.error
import urllib.request


def send(base: str, method: str, path: str, body: object | None = None) -> int:
    """One request; its status (0 when nothing answers)."""
    data = json.dumps(body).encode() if body is not None else None
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {base!r}")
    request = urllib.request.Request(  # noqa: S310 - checked above
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - local URL
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)
    except OSError:
        return 0


def main(argv: list[str] | None = None) -> int:
    """Run the traffic; exit 1 when the app does not answer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    rng = random.Random(8)
    counts: dict[int, int] = {}
    for n in range(args.rounds):
        requests = [
            ("GET", "/api/orders/", None),
            (
                "POST",
                "/api/orders/",
                {"customer": "ada", "item": f"widget {n}", "quantity": rng.randint(1, 5)},
            ),
            ("GET", f"/api/orders/{rng.randint(1, 3)}", None),
            ("GET", f"/api/orders/{100_000 + n}", None),  # 404
            ("POST", "/api/orders/", {"quantity": "many"}),  # 422
        ]
        if n % 5 == 0:
            requests.append(("GET", f"/api/orders/{n}/invoice", None))  # 500, recorded
        for method, path, body in requests:
            status = send(args.url, method, path, body)
            if status == 0:
                print(f"nothing answers at {args.url}; start it with `make run`", file=sys.stderr)
                return 1
            counts[status] = counts.get(status, 0) + 1
        time.sleep(0.05)
    summary = ", ".join(f"{count} x {status}" for status, count in sorted(counts.items()))
    print(f"sent {sum(counts.values())} requests: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
