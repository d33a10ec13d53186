"""The example app starts and serves its API, its OpenAPI document and the dashboard."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from example_app import create_app
from example_app.models import db
from flask_prodready import get_state

REPO = Path(__file__).resolve().parent.parent


def test_orders_can_be_created_listed_fetched_and_deleted(client: FlaskClient) -> None:
    created = client.post("/api/orders/", json={"customer": "ada", "item": "gear", "quantity": 3})
    assert created.status_code == 201
    order = created.get_json()
    assert order["customer"] == "ada"
    assert client.get("/api/orders/").get_json() == [order]
    assert client.get(f"/api/orders/{order['id']}").get_json() == order
    assert client.get("/api/orders/?customer=bob").get_json() == []
    assert client.delete(f"/api/orders/{order['id']}").status_code == 204
    assert client.get(f"/api/orders/{order['id']}").status_code == 404


def test_invalid_order_is_refused_with_field_errors(client: FlaskClient) -> None:
    response = client.post("/api/orders/", json={"customer": "ada", "quantity": 0})
    assert response.status_code == 422
    errors = response.get_json()["errors"]["json"]
    assert set(errors) == {"item", "quantity"}
    assert client.get("/api/orders/").get_json() == [], "nothing was stored"


def test_openapi_document_is_served(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["info"]["title"] == "Orders example"
    assert "/api/orders/{order_id}" in spec["paths"]


def test_example_uses_its_own_settings_file(client: FlaskClient) -> None:
    state = get_state(client.application)
    assert state.environment == "production"
    assert client.application.config["ORDERS_PAGE_SIZE"] == 20
    # Production without a dashboard access mode: not served at all.
    assert client.get("/_prod/").status_code == 404


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_flask_run_serves_the_example_like_make_run(tmp_path: Path) -> None:
    """The command behind ``make run``, from another working directory."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "example_app",
        "run",
        "--debug",
        "--no-reload",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "FLASK_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'run.db'}",
    }
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_prod/", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stdout.read() if process.stdout else "") from None
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/orders/", timeout=5) as r:
            assert r.status == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_creating_an_order_logs_one_json_line_with_the_request_id(client: FlaskClient) -> None:
    from flask_prodready.testing import capture_logs

    with capture_logs() as lines:
        response = client.post("/api/orders/", json={"customer": "ada", "item": "x", "quantity": 1})
    (created,) = [line for line in lines if line["message"] == "order created"]
    assert created["request_id"] == response.headers["X-Request-ID"]
    assert created["order_id"] == response.get_json()["id"]


def test_domain_errors_answer_problem_documents(client: FlaskClient) -> None:
    missing = client.get("/api/orders/999")
    assert missing.status_code == 404
    assert missing.content_type == "application/problem+json"
    assert missing.get_json()["detail"] == "order 999 does not exist"
    big = client.post("/api/orders/", json={"customer": "ada", "item": "x", "quantity": 500})
    conflict = client.delete(f"/api/orders/{big.get_json()['id']}")
    assert (conflict.status_code, conflict.get_json()["code"]) == (409, "conflict")


def test_example_checks_its_database(client: FlaskClient) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200
    checks = ready.get_json(force=True)["checks"]
    assert set(checks) == {"database"}, "no upstream URL in the production settings"
    assert checks["database"][0]["critical"] is True


def test_example_database_down_fails_readiness(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    database = tmp_path / "orders.db"
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", f"sqlite:///{database}")
    monkeypatch.setenv("FLASK_PRODREADY_HEALTH_CACHE_TTL", "0")
    app = create_app()
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    database.unlink()
    database.mkdir()  # the database file can no longer be opened
    with app.app_context():
        db.engine.dispose()
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 503


def test_example_upstream_is_a_non_critical_http_check(
    monkeypatch: pytest.MonkeyPatch, upstream: str
) -> None:
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", "sqlite://")
    monkeypatch.setenv("FLASK_UPSTREAM_HEALTH_URL", f"{upstream}/200")
    up = create_app().test_client().get("/readyz").get_json(force=True)
    assert up["status"] == "pass"
    assert up["checks"]["upstream"][0]["critical"] is False
    monkeypatch.setenv("FLASK_UPSTREAM_HEALTH_URL", f"{upstream}/503")
    down = create_app().test_client().get("/readyz")
    assert down.status_code == 200
    body = down.get_json(force=True)
    assert body["status"] == "warn"
    assert body["checks"]["upstream"][0]["output"].endswith("answered 503, expected 200-299")


def test_the_invoice_route_fails_on_its_service_and_keeps_the_call(client: FlaskClient) -> None:
    client.application.config["PROPAGATE_EXCEPTIONS"] = False  # answered as in production
    answer = client.get("/api/orders/7/invoice")
    assert answer.status_code == 500
    store = get_state(client.application).error_store
    assert store is not None
    (group,) = [g for g in store.groups() if "invoice" in g.route]
    (occurrence,) = store.occurrences(group.fingerprint)
    calls = [line for line in occurrence.breadcrumbs if "flask_prodready.outgoing" in line]
    assert len(calls) == 1
    assert "GET 127.0.0.1/invoices/7 → ConnectionError" in calls[0]
    assert occurrence.request_id == answer.headers["X-Request-ID"]
