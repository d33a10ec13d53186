"""The example app against a real PostgreSQL and a real Redis, tested with
``flask_prodready.testing``'s fixtures (``assert_problem``, ``prodready_logs``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from example_app import create_app
from example_app.models import db
from flask_prodready import get_state
from flask_prodready.store.redis import RedisErrorStore

from .support.postgres import PostgresServer
from .support.redis import RedisServer
from .support.requires import require_module

pytestmark = pytest.mark.slow


@pytest.fixture
def app(
    postgres_server: PostgresServer, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Flask]:
    """The example on PostgreSQL, recording errors in Redis; tables dropped after the test."""
    require_module("psycopg", "it is in the test dependencies: run make venv")
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", postgres_server.url)
    monkeypatch.setenv("FLASK_PRODREADY_ERROR_STORE", "redis")
    monkeypatch.setenv("FLASK_PRODREADY_ERROR_STORE_URL", redis_server.url)
    monkeypatch.setenv("FLASK_PRODREADY_HEALTH_CACHE_TTL", "0")
    application = create_app()
    yield application
    with application.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_orders_round_trip_through_postgresql(
    app: Flask, client: FlaskClient, prodready_logs: Any
) -> None:
    with app.app_context():
        assert db.engine.dialect.name == "postgresql"
    created = client.post("/api/orders/", json={"customer": "ada", "item": "tea", "quantity": 3})
    assert created.status_code == 201
    order = created.json
    assert order is not None
    assert client.get(f"/api/orders/{order['id']}").json == order
    client.post("/api/orders/", json={"customer": "bob", "item": "jam", "quantity": 1})
    listed = client.get("/api/orders/?customer=ada").json
    assert [o["customer"] for o in listed or []] == ["ada"]
    (line,) = [ln for ln in prodready_logs.of_request(created) if ln["message"] == "order created"]
    assert line["order_id"] == order["id"]


def test_missing_and_conflicting_orders_are_problems(
    client: FlaskClient, assert_problem: Callable[..., dict[str, Any]]
) -> None:
    assert_problem(client.get("/api/orders/424242"), status=404, code="not_found")
    big = client.post("/api/orders/", json={"customer": "ada", "item": "tea", "quantity": 500})
    order_id = (big.json or {})["id"]
    document = assert_problem(client.delete(f"/api/orders/{order_id}"), status=409)
    assert document["order"] == order_id
    invalid = client.post("/api/orders/", json={"customer": "", "quantity": 0})
    assert set(assert_problem(invalid, status=422)["errors"]["json"]) == {
        "customer",
        "item",
        "quantity",
    }


def test_database_down_fails_readiness_and_the_error_lands_in_redis(
    app: Flask,
    client: FlaskClient,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    assert_problem: Callable[..., dict[str, Any]],
) -> None:
    assert client.get("/readyz").status_code == 200
    with app.app_context():
        db.engine.dispose()
    postgres_server.stop()
    try:
        assert client.get("/readyz").status_code == 503
        assert client.get("/livez").status_code == 200, "liveness ignores the database"
        assert_problem(client.get("/api/orders/"), status=500, code="internal_error")
    finally:
        postgres_server.start()
    assert isinstance(get_state(app).components["error_store"].target(), RedisErrorStore)
    # Another process (another instance of the service) sees the error through Redis.
    other = RedisErrorStore(redis_server.url)
    try:
        (group,) = other.groups()
        assert group.route == "/api/orders/"
        assert "OperationalError" in group.exception_type
    finally:
        other.close()
    assert client.get("/readyz").status_code == 200
