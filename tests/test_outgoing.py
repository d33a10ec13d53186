"""Calls to other services (``flask_prodready.outgoing``), made with real ``requests`` and
``httpx`` clients to a real HTTP server on loopback.

Modules: flask_prodready.outgoing, flask_prodready.outgoing.calls,
flask_prodready.outgoing.clients, flask_prodready.outgoing.settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
from flask import Flask

from flask_prodready import get_state
from flask_prodready.outgoing import OutgoingCall, redacted_target
from flask_prodready.outgoing.clients import follow_clients, followed_clients

from .support import REPO
from .support.apps import AppDir
from .support.servers import free_port


@dataclass
class Upstream:
    """A service the app calls: ``/<status>`` answers that status; it keeps what it got."""

    url: str
    port: int
    seen: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    record: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            record.append({name.lower(): value for name, value in self.headers.items()})
            if self.path.startswith("/slow"):
                time.sleep(1)
            if self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", "/200")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = int(self.path.strip("/").split("?")[0].removeprefix("slow") or 200)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_POST = do_GET  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        yield Upstream(f"http://127.0.0.1:{port}", port, record)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def metric_lines(app: Flask, name: str) -> list[str]:
    body = app.test_client().get("/metrics").get_data(as_text=True)
    return [line for line in body.splitlines() if line.startswith(name)]


def the_error(app: Flask) -> tuple[Any, Any]:
    """The app's one recorded error group and its one occurrence."""
    store = get_state(app).error_store
    assert store is not None
    (group,) = store.groups()
    (occurrence,) = store.occurrences(group.fingerprint)
    return group, occurrence


def calls_of(app: Flask) -> list[OutgoingCall]:
    """The calls the app's outgoing part kept, oldest first."""
    outgoing = get_state(app).outgoing
    assert outgoing is not None
    return outgoing.latest()


def calling_app(app_dir: AppDir, upstream: Upstream, **settings: Any) -> Flask:
    """An app whose ``/call/<client>/<status>`` calls the upstream with that client."""
    app = app_dir.app(**settings)

    @app.get("/call/<client>/<int:status>")
    def call(client: str, status: int) -> dict[str, Any]:
        url = f"{upstream.url}/{status}"
        if client == "requests":
            code = requests.get(url, timeout=5).status_code
        elif client == "httpx":
            with httpx.Client() as session:
                code = session.get(url).status_code
        else:

            async def fetch() -> int:
                async with httpx.AsyncClient() as session:
                    return (await session.get(url)).status_code

            code = asyncio.run(fetch())
        return {"status": code}

    return app


CLIENTS = ["requests", "httpx", "httpx-async"]


@pytest.mark.parametrize("client", CLIENTS)
def test_a_call_inside_a_request_carries_its_id_and_a_traceparent(
    app_dir: AppDir, upstream: Upstream, client: str
) -> None:
    app = calling_app(app_dir, upstream)
    response = app.test_client().get(f"/call/{client}/200")
    assert response.json == {"status": 200}
    (headers,) = upstream.seen
    assert headers["x-request-id"] == response.headers["X-Request-ID"]
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]", headers["traceparent"])


def test_the_callers_own_headers_win(app_dir: AppDir, upstream: Upstream) -> None:
    app = app_dir.app()
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    @app.get("/own")
    def own() -> str:
        requests.get(
            upstream.url, headers={"X-Request-ID": "mine", "traceparent": parent}, timeout=5
        )
        return "ok"

    app.test_client().get("/own")
    (headers,) = upstream.seen
    assert headers["x-request-id"] == "mine"
    assert headers["traceparent"] == parent


def test_the_request_id_goes_under_the_apps_own_header(app_dir: AppDir, upstream: Upstream) -> None:
    app = calling_app(app_dir, upstream, request_id_header="X-Correlation-ID")
    response = app.test_client().get("/call/requests/200")
    (headers,) = upstream.seen
    assert headers["x-correlation-id"] == response.headers["X-Correlation-ID"]
    assert "x-request-id" not in headers


def test_propagation_can_be_turned_off(app_dir: AppDir, upstream: Upstream) -> None:
    app = calling_app(app_dir, upstream, outgoing_propagate=False)
    app.test_client().get("/call/requests/200")
    (headers,) = upstream.seen
    assert "x-request-id" not in headers
    assert "traceparent" not in headers
    assert metric_lines(app, "prodready_outgoing_requests_total{")  # still counted


@pytest.mark.parametrize("client", CLIENTS)
def test_calls_are_counted_by_host_method_and_status_class(
    app_dir: AppDir, upstream: Upstream, client: str
) -> None:
    app = calling_app(app_dir, upstream)
    client_ = app.test_client()
    for status in (200, 200, 503, 404):
        client_.get(f"/call/{client}/{status}")
    counts = metric_lines(app, "prodready_outgoing_requests_total{")
    assert (
        'prodready_outgoing_requests_total{host="127.0.0.1",method="GET",status_class="2xx"} 2.0'
        in counts
    )
    assert (
        'prodready_outgoing_requests_total{host="127.0.0.1",method="GET",status_class="5xx"} 1.0'
        in counts
    )
    assert (
        'prodready_outgoing_requests_total{host="127.0.0.1",method="GET",status_class="4xx"} 1.0'
        in counts
    )
    durations = metric_lines(app, "prodready_outgoing_request_duration_seconds_count")
    assert durations == ['prodready_outgoing_request_duration_seconds_count{host="127.0.0.1"} 4.0']


def test_hosts_beyond_the_cap_are_counted_as_other(app_dir: AppDir, upstream: Upstream) -> None:
    app = app_dir.app(outgoing_hosts_max=1)

    @app.get("/two-hosts")
    def two_hosts() -> str:
        requests.get(f"http://127.0.0.1:{upstream.port}/200", timeout=5)
        requests.get(f"http://localhost:{upstream.port}/200", timeout=5)
        return "ok"

    app.test_client().get("/two-hosts")
    hosts = {
        re.search(r'host="([^"]*)"', line).group(1)  # type: ignore[union-attr]
        for line in metric_lines(app, "prodready_outgoing_requests_total{")
    }
    assert hosts == {"127.0.0.1", "<other>"}


def test_the_calls_before_an_error_are_its_breadcrumbs(app_dir: AppDir, upstream: Upstream) -> None:
    app = app_dir.app()

    @app.get("/checkout")
    def checkout() -> str:
        requests.get(f"{upstream.url}/200", timeout=5)
        requests.post(f"{upstream.url}/503", timeout=5)
        raise RuntimeError("payment failed")

    response = app.test_client().get("/checkout")
    assert response.status_code == 500
    _, occurrence = the_error(app)
    calls = [
        json.loads(line)
        for line in occurrence.breadcrumbs
        if json.loads(line)["logger"] == "flask_prodready.outgoing"
    ]
    assert [call["message"].rsplit(" in ", 1)[0] for call in calls] == [
        "GET 127.0.0.1/200 → 200",
        "POST 127.0.0.1/503 → 503",
    ]
    assert [call["level"] for call in calls] == ["INFO", "WARNING"]
    assert {call["request_id"] for call in calls} == {response.headers["X-Request-ID"]}


def test_credentials_and_secret_query_values_never_reach_a_breadcrumb_or_label(
    app_dir: AppDir, upstream: Upstream
) -> None:
    app = app_dir.app()
    url = f"http://bob:hunter2@127.0.0.1:{upstream.port}/503?token=abc123&api_key=k3y&page=2"

    @app.get("/leaky")
    def leaky() -> str:
        requests.get(url, timeout=5)
        raise RuntimeError("boom")

    app.test_client().get("/leaky")
    _, occurrence = the_error(app)
    kept = "\n".join(occurrence.breadcrumbs)
    assert "GET 127.0.0.1/503?token=***&api_key=***&page=2 → 503" in kept
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    recent = repr(calls_of(app))
    for secret in ("hunter2", "abc123", "k3y", "bob"):
        assert secret not in kept
        assert secret not in metrics
        assert secret not in recent


def test_a_call_that_gets_no_answer_still_fails_as_before_and_is_counted(
    app_dir: AppDir,
) -> None:
    app = app_dir.app()
    closed = free_port()

    @app.get("/refused")
    def refused() -> str:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{closed}/", timeout=5)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{closed}/")
        return "handled"

    assert app.test_client().get("/refused").status_code == 200
    assert [(call.status, call.error, call.status_class) for call in calls_of(app)] == [
        (None, "ConnectionError", "error"),
        (None, "ConnectError", "error"),
    ]
    counts = metric_lines(app, "prodready_outgoing_requests_total{")
    assert (
        'prodready_outgoing_requests_total{host="127.0.0.1",method="GET",status_class="error"}'
        " 2.0" in counts
    )


def test_a_call_outside_any_request_works_without_an_id(
    app_dir: AppDir, upstream: Upstream
) -> None:
    app = app_dir.app()
    with app.app_context():
        assert requests.get(f"{upstream.url}/200", timeout=5).status_code == 200
    assert requests.get(f"{upstream.url}/200", timeout=5).status_code == 200  # no app at all
    assert httpx.get(f"{upstream.url}/200").status_code == 200
    assert all("x-request-id" not in headers for headers in upstream.seen)
    (call,) = calls_of(app)  # only the call made in the app's context is the app's
    assert call.request_id is None


def test_an_app_with_the_part_off_sends_its_calls_untouched(
    app_dir: AppDir, upstream: Upstream
) -> None:
    follow_clients()  # another app of the process follows the clients
    app = calling_app(app_dir, upstream, outgoing_enabled=False)
    app.test_client().get("/call/requests/200")
    (headers,) = upstream.seen
    assert "x-request-id" not in headers
    assert get_state(app).outgoing is None
    assert not metric_lines(app, "prodready_outgoing_requests_total{")


def test_each_client_is_followed_once_however_many_apps(app_dir: AppDir) -> None:
    app_dir.app()
    app_dir.app()
    assert followed_clients() == ("requests", "httpx")
    assert not hasattr(requests.Session.send.__wrapped__, "__wrapped__")  # type: ignore[attr-defined]
    assert not hasattr(httpx.Client.send.__wrapped__, "__wrapped__")  # type: ignore[attr-defined]


def test_the_apps_own_adapters_and_hooks_still_run(app_dir: AppDir, upstream: Upstream) -> None:
    app = app_dir.app()
    hooked: list[int] = []

    class CountingAdapter(requests.adapters.HTTPAdapter):
        sent = 0

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            CountingAdapter.sent += 1
            return super().send(request, *args, **kwargs)

    @app.get("/own-session")
    def own_session() -> str:
        with requests.Session() as session:
            session.mount("http://", CountingAdapter())
            session.hooks["response"].append(lambda r, *a, **k: hooked.append(r.status_code))
            session.get(f"{upstream.url}/200", timeout=5)
        with httpx.Client(event_hooks={"response": [lambda r: hooked.append(r.status_code)]}) as c:
            c.get(f"{upstream.url}/201")
        return "ok"

    app.test_client().get("/own-session")
    assert CountingAdapter.sent == 1
    assert hooked == [200, 201]
    assert all("x-request-id" in headers for headers in upstream.seen)


def test_a_failure_while_recording_never_fails_the_call(
    app_dir: AppDir, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_dir.app()
    outgoing = get_state(app).outgoing
    assert outgoing is not None

    def broken(call: OutgoingCall) -> None:
        raise RuntimeError("recording bug")

    monkeypatch.setattr(outgoing, "record", broken)
    monkeypatch.setattr(outgoing, "prepare", broken)
    with app.test_request_context():
        assert requests.get(f"{upstream.url}/200", timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://API.example.com/v1/charges", ("api.example.com", "api.example.com/v1/charges")),
        ("https://example.com", ("example.com", "example.com/")),
        (
            "https://u:p@example.com:8443/x?password=p&q=1#frag",
            ("example.com", "example.com/x?password=***&q=1"),
        ),
        ("http://[::1]:80/a", ("::1", "::1/a")),
        ("http://[::1/a", ("<invalid>", "<invalid>")),
        ("not a url", ("<invalid>", "<invalid>")),
    ],
)
def test_urls_are_redacted_to_a_host_and_target(url: str, expected: tuple[str, str]) -> None:
    assert redacted_target(url) == expected


def test_a_calls_description_reads_as_one_line() -> None:
    slow = OutgoingCall("GET", "payments.internal", "payments.internal/charges", 503, 2.1)
    fast = OutgoingCall("POST", "a", "a/b", 201, 0.0349)
    lost = OutgoingCall("GET", "a", "a/", None, 10.0, error="ConnectTimeout")
    assert slow.describe() == "GET payments.internal/charges → 503 in 2.1 s"
    assert fast.describe() == "POST a/b → 201 in 35 ms"
    assert lost.describe() == "GET a/ → ConnectTimeout in 10.0 s"
    assert (slow.status_class, fast.status_class, lost.status_class) == ("5xx", "2xx", "error")


def run_python(script: str, *args: str) -> str:
    """Run ``script`` in a fresh interpreter; its stdout (it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


LATE_IMPORT = """
import sys
from flask import Flask
from flask_prodready import ProdReady

app = Flask("late", instance_path={instance!r})
ProdReady(app)
print("imported at set-up:", [m for m in ("requests", "httpx") if m in sys.modules])

@app.get("/late")
def late():
    import httpx  # the app's first import of it, after ProdReady(app)

    return str(httpx.get({url!r}).status_code)

print("answer:", app.test_client().get("/late").get_data(as_text=True))
"""


def test_a_client_imported_after_set_up_is_followed_and_none_is_imported_for_it(
    upstream: Upstream, tmp_path: Any
) -> None:
    script = LATE_IMPORT.format(instance=str(tmp_path / "instance"), url=f"{upstream.url}/200")
    stdout = run_python(textwrap.dedent(script))
    assert "imported at set-up: []" in stdout
    assert "answer: 200" in stdout
    (headers,) = upstream.seen
    assert "x-request-id" in headers


def test_the_dashboard_shows_failing_and_slow_hosts_and_the_failed_calls(
    app_dir: AppDir, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODREADY_ENV", "development")  # the dashboard, for loopback
    app = calling_app(app_dir, upstream)
    client = app.test_client()
    for status in (200, 200, 200, 503):
        client.get(f"/call/requests/{status}")
    answer = client.get("/call/httpx/502")
    page = client.get("/_prod/outgoing")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "<code>127.0.0.1</code>" in text
    assert "40.0 %" in text  # 2 of 5 failed
    assert "GET 127.0.0.1/502 → 502" in text
    assert answer.headers["X-Request-ID"] in text  # the failed call links to its request
    assert 'href="/_prod/outgoing" aria-current="page"' in text


def test_the_dashboard_says_when_outgoing_calls_are_not_followed(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODREADY_ENV", "development")
    app = app_dir.app(outgoing_enabled=False)
    text = app.test_client().get("/_prod/outgoing").get_data(as_text=True)
    assert "PRODREADY_OUTGOING_ENABLED</code> is off" in text


def test_hosts_are_summed_up_failing_first_then_slowest() -> None:
    from flask_prodready.outgoing import host_stats

    calls = [
        OutgoingCall("GET", "fast", "fast/", 200, 0.01),
        OutgoingCall("GET", "slow", "slow/", 200, 2.0),
        OutgoingCall("GET", "slow", "slow/", 200, 0.5),
        OutgoingCall("GET", "down", "down/", None, 5.0, error="ConnectTimeout", at=100.0),
        OutgoingCall("GET", "down", "down/", 200, 0.1, at=200.0),
    ]
    rows = host_stats(calls)
    assert [row.host for row in rows] == ["down", "slow", "fast"]
    down, slow, _ = rows
    assert (down.calls, down.failures, down.error_share, down.last_failure) == (2, 1, 0.5, 100.0)
    assert (slow.p50, slow.p95, slow.slowest) == (0.5, 2.0, 2.0)


def test_a_redirect_followed_by_requests_is_one_call_as_with_httpx(
    app_dir: AppDir, upstream: Upstream
) -> None:
    app = app_dir.app()

    @app.get("/redirected")
    def redirected() -> str:
        requests.get(f"{upstream.url}/redirect", timeout=5)
        httpx.get(f"{upstream.url}/redirect", follow_redirects=True)
        return "ok"

    app.test_client().get("/redirected")
    assert [(call.target, call.status) for call in calls_of(app)] == [
        ("127.0.0.1/redirect", 200),
        ("127.0.0.1/redirect", 200),
    ]
    assert len(upstream.seen) == 4  # each hop was made, and carried the id
    assert all("x-request-id" in headers for headers in upstream.seen)


def test_a_job_outside_an_app_context_passes_its_id_on_and_counts_its_calls(
    app_dir: AppDir, upstream: Upstream
) -> None:
    from flask import has_app_context

    from flask_prodready import job

    app = app_dir.app(request_id_header="X-Correlation-ID")
    assert not has_app_context()
    with job("nightly-sync", app=app) as run:
        requests.get(f"{upstream.url}/200", timeout=5)
    (headers,) = upstream.seen
    assert headers["x-correlation-id"] == run.id
    assert [call.request_id for call in calls_of(app)] == [run.id]


def test_the_calls_of_one_request_share_one_trace_whatever_its_id(
    app_dir: AppDir, upstream: Upstream
) -> None:
    app = app_dir.app()

    @app.get("/twice")
    def twice() -> str:
        requests.get(f"{upstream.url}/200", timeout=5)
        requests.get(f"{upstream.url}/200", timeout=5)
        return "ok"

    app.test_client().get("/twice", headers={"X-Request-ID": "order-7f3b-retry-2"})
    first, second = (headers["traceparent"].split("-") for headers in upstream.seen)
    assert first[1] == second[1], "one trace id"
    assert first[2] != second[2], "a span of its own per call"
    assert {headers["x-request-id"] for headers in upstream.seen} == {"order-7f3b-retry-2"}


def test_a_propagated_client_error_keeps_no_secret_of_its_url(app_dir: AppDir) -> None:
    app = app_dir.app()
    closed = free_port()

    @app.get("/refused-secret")
    def refused_secret() -> str:
        requests.get(f"http://127.0.0.1:{closed}/charges?token=abc123&sig=s1gn&page=2", timeout=5)
        return "unreachable"

    assert app.test_client().get("/refused-secret").status_code == 500
    group, occurrence = the_error(app)
    kept = json.dumps([group.message, occurrence.stack, occurrence.breadcrumbs], default=str)
    assert "token=***" in kept
    for secret in ("abc123", "s1gn"):
        assert secret not in kept


def test_a_client_put_back_by_a_mock_is_followed_again_by_the_next_app(
    app_dir: AppDir, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir.app()
    original = requests.Session.send.__wrapped__  # type: ignore[attr-defined]
    monkeypatch.setattr(requests.Session, "send", original)  # as a mocking library leaves it
    assert "requests" not in followed_clients()
    app = calling_app(app_dir, upstream)
    assert "requests" in followed_clients()
    app.test_client().get("/call/requests/200")
    assert "x-request-id" in upstream.seen[0]


ZIPPED_CLIENT = r"""
import importlib.util, sys, zipfile
archive = sys.argv[1] + "/clients.zip"
with zipfile.ZipFile(archive, "w") as zipped:
    zipped.writestr(
        "requests/__init__.py", "import helper\nfrom requests.sessions import Session\n"
    )
    zipped.writestr(
        "requests/sessions.py",
        "class Session:\n    def send(self, request, **kw):\n        return 'sent'\n",
    )
    zipped.writestr("helper.py", "VALUE = 1\n")
sys.path.insert(0, archive)

from flask import Flask
from flask_prodready import ProdReady
from flask_prodready.outgoing.clients import followed_clients

ProdReady(Flask("zipped", instance_path=sys.argv[1] + "/instance"))
for _ in range(3000):  # probes return specs that are never run
    importlib.util.find_spec("requests")
import requests
import helper
import json, decimal  # unrelated imports keep working
print("followed:", followed_clients())
print("helper loader:", type(helper.__loader__).__name__)
print("requests loader:", type(requests.__loader__).__name__)
"""


def test_a_client_in_a_zip_is_followed_and_the_zips_loader_is_left_alone(tmp_path: Any) -> None:
    stdout = run_python(ZIPPED_CLIENT, str(tmp_path))
    assert "followed: ('requests',)" in stdout
    assert "helper loader: zipimporter" in stdout
    assert "requests loader: zipimporter" in stdout


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://acct.blob.core.windows.net/c/b?sv=2022&sig=AbC%2Fd&se=1", "sig=***"),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Signature=abc&X-Amz-Credential=AKIA",
            "X-Amz-Signature=***&X-Amz-Credential=***",
        ),
        ("https://id.example.com/cb?code=0a1b2c&state=x", "code=***&state=x"),
        ("https://hooks.example.com/in?a8f5f167f44f4964e6c998dee827110c", "in?***"),
        ("https://h.example.com/x?a=1;token=abc", "x?a=1&token=***"),
        ("https://h.example.com/x?include_deleted_records=", "x?include_deleted_records="),
    ],
)
def test_signed_urls_and_bare_secrets_are_redacted(url: str, target: str) -> None:
    assert target in redacted_target(url)[1]


def test_a_call_made_by_another_client_inside_a_followed_call_is_followed_too(
    app_dir: AppDir, upstream: Upstream
) -> None:
    app = app_dir.app()

    def audit(response: Any, *args: Any, **kwargs: Any) -> None:
        with requests.Session() as auditor:  # a hook that calls an audit service
            auditor.get(f"{upstream.url}/202", timeout=5)

    @app.get("/audited")
    def audited() -> str:
        with requests.Session() as session:
            session.hooks["response"].append(audit)
            session.get(f"{upstream.url}/200", timeout=5)
        return "ok"

    app.test_client().get("/audited")
    assert sorted(call.status for call in calls_of(app)) == [200, 202]
    assert all("x-request-id" in headers for headers in upstream.seen)


def test_a_job_inside_a_job_belongs_to_the_outer_jobs_app(
    app_dir: AppDir, upstream: Upstream
) -> None:
    from flask_prodready import job

    app = app_dir.app()
    with job("outer", app=app), job("inner") as inner:
        requests.get(f"{upstream.url}/200", timeout=5)
    assert [call.request_id for call in calls_of(app)] == [inner.id]


def test_a_call_given_up_on_is_counted_as_cancelled_not_failed(
    app_dir: AppDir, upstream: Upstream
) -> None:
    app = app_dir.app()

    @app.get("/impatient")
    def impatient() -> str:
        async def give_up() -> None:
            async with httpx.AsyncClient() as client:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(client.get(f"{upstream.url}/slow200"), 0.1)

        asyncio.run(give_up())
        return "ok"

    app.test_client().get("/impatient")
    (call,) = calls_of(app)
    assert (call.status_class, call.failed, call.error) == ("cancelled", False, "CancelledError")


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("url: /x?token=abc, retrying", "url: /x?token=***, retrying"),
        ("(GET /x?token=abc)", "(GET /x?token=***)"),
        ("/search?keyword=python&monkey=1&tokens=5", "/search?keyword=python&monkey=1&tokens=5"),
        (
            "/o?X-Goog-Signature=dead&access%5Ftoken=ab",
            "/o?X-Goog-Signature=***&access%5Ftoken=***",
        ),
    ],
)
def test_error_text_hides_credentials_in_urls_and_keeps_the_rest(text: str, kept: str) -> None:
    from flask_prodready.redaction import redact_url_passwords

    assert redact_url_passwords(text) == kept
