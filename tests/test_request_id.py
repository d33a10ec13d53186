"""Request ids: validated, minted, echoed, bound to logs, carried into threads and onwards."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask, abort, g
from loguru import logger

from flask_prodready import ProdReady, bind_context, outgoing_headers, request_id
from flask_prodready.logs import set_log_level
from flask_prodready.request_id import current_trace, is_valid_request_id
from flask_prodready.testing import capture_logs

from .support.apps import AppDir

HEX32 = re.compile(r"[0-9a-f]{32}")
TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"


@pytest.fixture
def app(app_dir: AppDir) -> Flask:
    application = app_dir.flask()
    ProdReady(application)

    @application.get("/")
    def index() -> dict[str, str | None]:
        logger.info("handled")
        assert "prodready_request_id" in g
        assert g.get("prodready_request_id") == request_id()
        return {"id": request_id(), "g": g.prodready_request_id}

    @application.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    @application.get("/bad")
    def bad() -> str:
        abort(400)

    @application.get("/outgoing")
    def outgoing() -> dict[str, str]:
        return outgoing_headers()

    return application


@pytest.mark.parametrize(
    "incoming",
    [
        "7f3b9c1e8f2a4d5b9c0e1f2a3b4c5d6e",  # nginx $request_id
        "6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e",  # Heroku, UUIDs
        "req_01HZX3K9Q8ABCDEF:worker@eu/1+2=3.",
        "a",
        "x" * 128,
    ],
)
def test_valid_incoming_ids_are_echoed_unchanged(app: Flask, incoming: str) -> None:
    response = app.test_client().get("/", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming
    assert response.get_json() == {"id": incoming, "g": incoming}


@pytest.mark.parametrize(
    "incoming",
    [
        "abc\r\nSet-Cookie: x=1",
        "abc\ndef",
        "has space",
        'quote"d',
        "it's",
        "caf\xe9",
        "x" * 129,
        "",
        "<script>",
    ],
)
def test_invalid_incoming_ids_are_replaced(app: Flask, incoming: str) -> None:
    set_log_level("DEBUG")
    with capture_logs() as lines:
        response = app.test_client().get("/", environ_base={"HTTP_X_REQUEST_ID": incoming})
    minted = response.headers["X-Request-ID"]
    assert HEX32.fullmatch(minted)
    assert response.get_json()["id"] == minted
    notes = [line for line in lines if "replaced an invalid incoming request id" in line["message"]]
    assert len(notes) == 1
    (note,) = notes
    assert (note["level"], note["length"], note["request_id"]) == ("DEBUG", len(incoming), minted)
    logged = note["message"] + note["shown"]
    assert not any(char in logged for char in "\r\n\xe9"), "control and non-ASCII escaped"
    assert len(note["shown"]) <= 32, "cut short"


def test_minted_ids_are_unique(app: Flask) -> None:
    client = app.test_client()
    ids = {client.get("/").headers["X-Request-ID"] for _ in range(200)}
    assert len(ids) == 200


def test_header_name_is_configurable(app_dir: AppDir) -> None:
    app = app_dir.app(request_id_header="X-Correlation-ID")
    app.add_url_rule("/", "index", lambda: {"id": request_id()})
    response = app.test_client().get("/", headers={"X-Correlation-ID": "abc-123"})
    assert response.headers["X-Correlation-ID"] == "abc-123"
    assert "X-Request-ID" not in response.headers


def test_incoming_ids_can_be_distrusted(app_dir: AppDir) -> None:
    app = app_dir.app(request_id_trust_incoming=False)
    app.add_url_rule("/", "index", lambda: "ok")
    response = app.test_client().get("/", headers={"X-Request-ID": "chosen-by-client"})
    assert HEX32.fullmatch(response.headers["X-Request-ID"])


@pytest.mark.parametrize("path", ["/no-such-page", "/boom", "/bad"])
def test_the_id_is_echoed_on_errors_and_404s(app: Flask, path: str) -> None:
    app.testing = False
    response = app.test_client().get(path, headers={"X-Request-ID": "err-1"})
    assert response.status_code in (404, 500, 400)
    assert response.headers["X-Request-ID"] == "err-1"


def test_request_id_is_none_outside_a_request(app: Flask) -> None:
    assert request_id() is None
    with app.app_context():
        assert request_id() is None
        assert outgoing_headers() == {}


def test_traceparent_is_parsed_into_the_log_context(app: Flask) -> None:
    with capture_logs() as lines:
        app.test_client().get("/", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
    handled = next(line for line in lines if line["message"] == "handled")
    assert handled["trace_id"] == TRACE
    assert re.fullmatch(r"[0-9a-f]{16}", handled["span_id"])
    assert handled["span_id"] != PARENT


def test_the_note_on_a_replaced_id_carries_the_trace(app: Flask) -> None:
    set_log_level("DEBUG")
    with capture_logs() as lines:
        app.test_client().get(
            "/", headers={"X-Request-ID": "has space", "traceparent": f"00-{TRACE}-{PARENT}-01"}
        )
    (note,) = [line for line in lines if "replaced an invalid" in line["message"]]
    assert note["trace_id"] == TRACE


def test_an_app_inside_another_request_keeps_its_request_id(app: Flask, app_dir: AppDir) -> None:
    """An inner app with request ids off (breadcrumbs on) logs with the outer request's id."""
    inner = Flask("inner", root_path=str(app_dir.root), instance_path=str(app_dir.root / "i2"))
    ProdReady(inner, request_id_enabled=False, alerts_evaluate=False)

    @inner.get("/inner")
    def inner_view() -> str:
        logger.info("inside")
        return "ok"

    @app.get("/outer")
    def outer_view() -> str:
        inner.test_client().get("/inner")
        return request_id() or ""

    with capture_logs() as lines:
        response = app.test_client().get(
            "/outer", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"}
        )
    outer_id = response.get_data(as_text=True)
    (inside,) = [line for line in lines if line["message"] == "inside"]
    assert inside["request_id"] == outer_id == response.headers["X-Request-ID"]


def test_outgoing_headers_carry_the_id_and_a_child_traceparent(app: Flask) -> None:
    response = app.test_client().get(
        "/outgoing",
        headers={"traceparent": f"00-{TRACE}-{PARENT}-01", "X-Request-ID": "out-1"},
    )
    headers = response.get_json()
    assert headers["X-Request-ID"] == "out-1"
    version, trace, parent, flags = headers["traceparent"].split("-")
    assert (version, trace, flags) == ("00", TRACE, "01")
    assert parent != PARENT
    assert re.fullmatch(r"[0-9a-f]{16}", parent)


def test_outgoing_headers_start_a_trace_when_none_came_in(app: Flask) -> None:
    response = app.test_client().get("/outgoing")
    rid = response.headers["X-Request-ID"]
    assert response.get_json()["traceparent"].startswith(f"00-{rid}-")


@pytest.mark.parametrize(
    "traceparent",
    [
        f"01-{TRACE}-{PARENT}-01",
        f"00-{TRACE.upper()}-{PARENT}-01",
        f"00-{'0' * 32}-{PARENT}-01",
        f"00-{TRACE}-{'0' * 16}-01",
        f"00-{TRACE[:-1]}-{PARENT}-01",
        "garbage",
        "",
    ],
)
def test_malformed_traceparent_is_ignored(app: Flask, traceparent: str) -> None:
    with capture_logs() as lines:
        response = app.test_client().get("/", headers={"traceparent": traceparent})
    assert response.status_code == 200
    handled = next(line for line in lines if line["message"] == "handled")
    assert "trace_id" not in handled
    assert handled["request_id"] == response.headers["X-Request-ID"]


def test_the_id_survives_into_threads_and_executors(app_dir: AppDir) -> None:
    app = app_dir.app()
    seen: dict[str, object] = {}

    def work(name: str) -> None:
        seen[name] = request_id()
        logger.info("background {}", name)

    @app.get("/")
    def index() -> str:
        thread = threading.Thread(target=bind_context(work), args=("thread",))
        thread.start()
        thread.join()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(bind_context(work), "executor").result()
        plain = threading.Thread(target=work, args=("unbound",))
        plain.start()
        plain.join()
        return "ok"

    with capture_logs() as lines:
        rid = app.test_client().get("/").headers["X-Request-ID"]
    assert seen == {"thread": rid, "executor": rid, "unbound": None}
    by_message = {line["message"]: line["request_id"] for line in lines}
    assert by_message["background thread"] == rid
    assert by_message["background executor"] == rid
    assert by_message["background unbound"] is None


def test_trace_is_cleared_after_the_request(app: Flask) -> None:
    app.test_client().get("/", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
    assert current_trace() is None
    assert request_id() is None


def test_is_valid_request_id_rule() -> None:
    assert is_valid_request_id("A-z_0.9:@/+=")
    assert not is_valid_request_id("a,b")


@pytest.fixture
def threaded_server(app_dir: AppDir) -> Iterator[str]:
    from werkzeug.serving import make_server

    app = app_dir.app()

    @app.get("/work/<int:n>")
    def work(n: int) -> str:
        log = logger.bind(nonce=n)
        log.info("step one")
        threading.Event().wait(0.002)
        log.info("step two")
        done = threading.Thread(target=bind_context(lambda: log.info("from a thread")))
        done.start()
        done.join()
        return str(n)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_concurrent_requests_keep_their_own_ids_in_their_own_lines(threaded_server: str) -> None:
    import urllib.request

    def fetch(n: int) -> tuple[int, str]:
        with urllib.request.urlopen(f"{threaded_server}/work/{n}", timeout=30) as response:
            return n, response.headers["X-Request-ID"]

    with capture_logs() as lines, ThreadPoolExecutor(32) as pool:
        results = dict(pool.map(fetch, range(200)))
    assert len(set(results.values())) == 200
    for n, rid in results.items():
        own = [line for line in lines if line.get("nonce") == n]
        assert len(own) == 3
        assert {line["request_id"] for line in own} == {rid}
        tagged = [line for line in lines if line["request_id"] == rid and "nonce" in line]
        assert {line["nonce"] for line in tagged} == {n}


def test_g_has_no_request_id_outside_a_request(app: Flask) -> None:
    with app.app_context():
        assert g.get("prodready_request_id", "none") == "none"
        assert "prodready_request_id" not in g
        g.other = 1
        assert g.get("other") == 1
