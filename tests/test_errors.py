"""Every error answer is one problem document; unexpected ones are logged once and recorded.

Covers ``flask_prodready.exceptions``, ``flask_prodready.errors.family``,
``flask_prodready.errors.handlers``, ``flask_prodready.errors.problems``,
``flask_prodready.errors.settings``, ``flask_prodready.errors._hooks``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask, abort, request
from flask.views import MethodView
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields

from flask_prodready import (
    AppError,
    BadRequestError,
    ConflictError,
    DependencyError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
    ValidationError,
    get_state,
)
from flask_prodready.errors import PROBLEM_CONTENT_TYPE
from flask_prodready.testing import capture_logs

from .support.apps import AppDir

FAMILY = [
    (BadRequestError, 400, "bad_request"),
    (UnauthorizedError, 401, "unauthorized"),
    (ForbiddenError, 403, "forbidden"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (ValidationError, 422, "validation_failed"),
    (RateLimitedError, 429, "rate_limited"),
    (DependencyError, 503, "dependency_unavailable"),
]


class OutOfStockError(ConflictError):
    code = "out_of_stock"


@pytest.fixture
def app(app_dir: AppDir) -> Flask:
    application = app_dir.app()
    raised: dict[str, BaseException] = {}

    @application.get("/raise/<name>")
    def raise_named(name: str) -> str:
        raise raised[name]

    @application.get("/abort/<int:status>")
    def abort_with(status: int) -> str:
        abort(status)

    @application.get("/boom")
    def boom() -> str:
        secret = "postgresql://shop:pw-SENTINEL@db/shop"
        raise RuntimeError(f"cannot reach {secret} <script>alert(1)</script>")

    @application.post("/upload")
    def upload() -> bytes:
        return request.get_data()

    application.config["MAX_CONTENT_LENGTH"] = 10
    application.extensions["raised"] = raised
    return application


def problem(response: Any) -> dict[str, Any]:
    assert response.content_type == PROBLEM_CONTENT_TYPE
    return dict(response.get_json())


@pytest.mark.parametrize(("kind", "status", "code"), FAMILY)
def test_each_app_error_answers_its_problem_document(
    app: Flask, kind: type[AppError], status: int, code: str
) -> None:
    app.extensions["raised"]["e"] = kind("it went wrong")
    response = app.test_client().get("/raise/e")
    body = problem(response)
    assert response.status_code == status
    assert body == {
        "type": "about:blank",
        "title": body["title"],
        "status": status,
        "detail": "it went wrong",
        "instance": "/raise/e",
        "code": code,
        "request_id": response.headers["X-Request-ID"],
    }
    assert body["title"]
    assert response.headers["Cache-Control"] == "no-store"


def test_rate_limited_sends_retry_after(app: Flask) -> None:
    app.extensions["raised"]["e"] = RateLimitedError("slow down", retry_after=30)
    response = app.test_client().get("/raise/e")
    assert response.headers["Retry-After"] == "30"


def test_a_user_subclass_keeps_its_own_code_details_and_headers(app: Flask) -> None:
    app.extensions["raised"]["e"] = OutOfStockError(
        "item 7 is out of stock",
        details={"item": 7, "errors": {"json": {"quantity": ["too many"]}}},
        headers={"X-Stock": "0"},
    )
    response = app.test_client().get("/raise/e")
    body = problem(response)
    assert (response.status_code, body["code"], body["item"]) == (409, "out_of_stock", 7)
    assert body["errors"] == {"json": {"quantity": ["too many"]}}
    assert response.headers["X-Stock"] == "0"


def test_type_base_setting_builds_problem_types(app_dir: AppDir) -> None:
    app = app_dir.app(errors_type_base="https://errors.example.com/")

    @app.get("/")
    def index() -> str:
        raise NotFoundError("gone")

    assert app.test_client().get("/").get_json()["type"] == "https://errors.example.com/not_found"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 418, 429, 500, 501, 503])
def test_abort_keeps_its_status_and_is_not_recorded(app: Flask, status: int) -> None:
    response = app.test_client().get(f"/abort/{status}")
    body = problem(response)
    assert (response.status_code, body["status"]) == (status, status)
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert get_state(app).components["error_store"].groups() == []


def test_unknown_path_is_a_404_problem(app: Flask) -> None:
    response = app.test_client().get("/no/such/page")
    assert (response.status_code, problem(response)["code"]) == (404, "not_found")


def test_405_keeps_its_allow_header(app: Flask) -> None:
    response = app.test_client().delete("/boom")
    assert response.status_code == 405
    assert problem(response)["status"] == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}


def test_413_for_a_too_large_body(app: Flask) -> None:
    response = app.test_client().post("/upload", data="x" * 100)
    assert (response.status_code, problem(response)["status"]) == (413, 413)


def test_unexpected_exception_answers_a_generic_500_and_is_logged_once(app: Flask) -> None:
    with capture_logs() as lines:
        response = app.test_client().get("/boom")
    body = problem(response)
    assert response.status_code == 500
    assert body["code"] == "internal_error"
    text = response.get_data(as_text=True)
    for leak in ("RuntimeError", "Traceback", "SENTINEL", "cannot reach", "script"):
        assert leak not in text
    assert body["request_id"] == response.headers["X-Request-ID"]
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert len(errors) == 1
    assert errors[0]["exception"]["type"] == "RuntimeError"
    assert "raise RuntimeError" in errors[0]["exception"]["stack"]
    assert "SENTINEL" not in json.dumps(lines)


def test_unexpected_errors_are_grouped_in_the_store(app: Flask) -> None:
    client = app.test_client()
    for _ in range(101):
        client.get("/boom", headers={"Authorization": "Bearer tok-SENTINEL"})
    store = get_state(app).components["error_store"]
    (group,) = store.groups()
    assert group.count == 101
    assert group.status == 500
    assert (group.route, group.method) == ("/boom", "GET")
    assert group.exception_type == "builtins.RuntimeError"
    assert group.first_seen <= group.last_seen


def test_html_is_escaped_and_stored_as_plain_text(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/boom", headers={"Accept": "text/html"})
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "<script>" not in page
    assert response.headers["X-Request-ID"] in page
    path = "/nope/<b>bold</b>"
    page = client.get(path, headers={"Accept": "text/html"}).get_data(as_text=True)
    assert "<b>" not in page
    assert "&lt;b&gt;" in page
    store = get_state(app).components["error_store"]
    (occurrence,) = store.occurrences(store.groups()[0].fingerprint)
    assert "<script>alert(1)</script>" in occurrence.message
    assert "pw-SENTINEL" not in occurrence.message + occurrence.stack


def test_json_only_setting_never_answers_html(app_dir: AppDir) -> None:
    app = app_dir.app(errors_format="json")
    response = app.test_client().get("/missing", headers={"Accept": "text/html"})
    assert response.content_type == PROBLEM_CONTENT_TYPE


def test_secret_headers_and_query_are_never_stored_or_logged(app: Flask) -> None:
    with capture_logs() as lines:
        app.test_client().get(
            "/boom?token=q-SENTINEL&page=2",
            headers={
                "Authorization": "Bearer a-SENTINEL",
                "Cookie": "session=c-SENTINEL",
                "X-Api-Key": "k-SENTINEL",
            },
        )
    store = get_state(app).components["error_store"]
    (occurrence,) = store.occurrences(store.groups()[0].fingerprint)
    stored = json.dumps(occurrence.to_dict())
    assert "SENTINEL" not in stored
    assert "SENTINEL" not in json.dumps(lines)
    assert occurrence.headers["Authorization"] == "***"
    assert occurrence.query == {"token": "***", "page": "2"}


def test_the_stored_occurrence_carries_the_log_lines_of_its_request(app_dir: AppDir) -> None:
    from loguru import logger

    app = app_dir.app()

    @app.get("/pay")
    def pay() -> str:
        logger.info("charging card")
        logger.warning("gateway slow")
        raise TimeoutError("gateway timed out")

    response = app.test_client().get("/pay")
    store = get_state(app).components["error_store"]
    (occurrence,) = store.occurrences(store.groups()[0].fingerprint)
    messages = [json.loads(line)["message"] for line in occurrence.breadcrumbs]
    assert messages[:2] == ["charging card", "gateway slow"]
    assert all(
        json.loads(line)["request_id"] == response.headers["X-Request-ID"]
        for line in occurrence.breadcrumbs
    )
    assert occurrence.request_id == response.headers["X-Request-ID"]


def test_breadcrumbs_keep_the_latest_lines_up_to_the_limit(app_dir: AppDir) -> None:
    from loguru import logger

    app = app_dir.app(errors_breadcrumbs=3)

    @app.get("/chatty")
    def chatty() -> str:
        for n in range(10):
            logger.info("step {}", n)
        raise TimeoutError("gave up")

    app.test_client().get("/chatty")
    store = get_state(app).components["error_store"]
    (occurrence,) = store.occurrences(store.groups()[0].fingerprint)
    messages = [json.loads(line)["message"] for line in occurrence.breadcrumbs]
    # The last is Flask's own "Exception on /chatty [GET]", logged before it is recorded.
    assert messages == ["step 8", "step 9", "Exception on /chatty [GET]"]


def test_breadcrumbs_are_kept_with_request_ids_off(app_dir: AppDir) -> None:
    from loguru import logger

    app = app_dir.app(request_id_enabled=False)

    @app.get("/pay")
    def pay() -> str:
        logger.info("charging card")
        raise TimeoutError("gateway timed out")

    first = app.test_client().get("/pay")
    second = app.test_client().get("/pay")
    assert "X-Request-ID" not in first.headers
    assert second.status_code == 500
    store = get_state(app).components["error_store"]
    occurrences = store.occurrences(store.groups()[0].fingerprint)
    assert len(occurrences) == 2
    for occurrence in occurrences:
        messages = [json.loads(line)["message"] for line in occurrence.breadcrumbs]
        assert messages[0] == "charging card", "each request keeps only its own lines"
        assert messages.count("charging card") == 1


def test_chosen_4xx_statuses_are_recorded(app_dir: AppDir) -> None:
    app = app_dir.app(errors_record_statuses=[404])
    app.test_client().get("/missing")
    (group,) = get_state(app).components["error_store"].groups()
    assert (group.status, group.route) == (404, "<unmatched>")


def test_an_error_in_an_error_handler_still_answers_a_500_problem(app: Flask) -> None:
    @app.errorhandler(ConflictError)
    def broken(error: ConflictError) -> str:
        raise KeyError("handler bug")

    app.extensions["raised"]["e"] = ConflictError("x")
    response = app.test_client().get("/raise/e")
    assert (response.status_code, problem(response)["code"]) == (500, "internal_error")


def test_an_error_in_after_request_still_answers_a_500_problem(app: Flask) -> None:
    @app.after_request
    def broken(response: Any) -> Any:
        raise ValueError("after_request bug")

    response = app.test_client().get("/abort/404")
    assert response.status_code == 500
    assert problem(response)["request_id"] == response.headers["X-Request-ID"]


class Query(Schema):
    page = fields.Integer(required=True)


class Body(Schema):
    name = fields.String(required=True)


def test_smorest_validation_errors_become_422_problems_with_field_errors(app_dir: AppDir) -> None:
    app = app_dir.flask()
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.1.0")
    from flask_prodready import ProdReady

    ProdReady(app, errors_take_over=True)
    api = Api(app)  # registers its own HTTPException handler after ours
    blueprint = Blueprint("things", __name__, url_prefix="/things")

    @blueprint.route("/")
    class Things(MethodView):
        @blueprint.arguments(Query, location="query")
        @blueprint.arguments(Body)
        def post(self, query: dict[str, Any], body: dict[str, Any]) -> str:
            return "ok"

    api.register_blueprint(blueprint)
    response = app.test_client().post("/things/?page=x", json={})
    body = problem(response)
    assert response.status_code == 422
    assert body["errors"] == {"query": {"page": ["Not a valid integer."]}}
    response = app.test_client().post("/things/?page=1", json={"name": 5})
    assert problem(response)["errors"] == {"json": {"name": ["Not a valid string."]}}


def test_app_error_rejects_a_non_error_status() -> None:
    with pytest.raises(ValueError, match="4xx or 5xx"):
        AppError("x", status=200)


def test_redis_store_needs_a_url(app_dir: AppDir) -> None:
    from flask_prodready import ConfigError

    with pytest.raises(ConfigError, match="PRODREADY_ERROR_STORE_URL"):
        app_dir.app(error_store="redis")


def test_an_unwritable_store_path_falls_back_to_memory(app_dir: AppDir) -> None:
    from flask_prodready.store import MemoryErrorStore

    app = app_dir.app(error_store_path="/proc/no-such-dir/errors.sqlite3")

    @app.get("/fails")
    def fails() -> str:
        raise RuntimeError("kept all the same")

    assert app.test_client().get("/missing").status_code == 404
    assert app.test_client().get("/fails").status_code == 500
    store = get_state(app).components["error_store"]
    assert isinstance(store.target(), MemoryErrorStore)
    assert [group.message for group in store.groups()] == ["kept all the same"]


def test_smorest_keeps_its_own_error_bodies_by_default(app_dir: AppDir) -> None:
    app = app_dir.flask()
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.1.0")
    from flask_prodready import ProdReady

    ProdReady(app)
    api = Api(app)
    blueprint = Blueprint("things", __name__, url_prefix="/things")

    @blueprint.route("/")
    class Things(MethodView):
        @blueprint.arguments(Body)
        def post(self, body: dict[str, Any]) -> str:
            return "ok"

    api.register_blueprint(blueprint)
    response = app.test_client().post("/things/", json={"name": 5})
    assert response.status_code == 422
    assert response.mimetype == "application/json"
    assert response.get_json()["status"] == "Unprocessable Entity"
    assert response.get_json()["errors"] == {"json": {"name": ["Not a valid string."]}}
    assert response.headers["X-Request-ID"]


def test_in_testing_mode_unexpected_exceptions_reach_the_test_client(app: Flask) -> None:
    app.testing = True
    with capture_logs() as lines, pytest.raises(RuntimeError, match="cannot reach"):
        app.test_client().get("/boom")
    assert [line["level"] for line in lines if line["level"] == "ERROR"] == ["ERROR"]
    assert get_state(app).components["error_store"].groups()[0].count == 1
