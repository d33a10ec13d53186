"""flask_prodready.compat.flask: ``g.prodready_request_id``, by the mix-in and by its fallback."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, g
from flask.ctx import _AppCtxGlobals

from flask_prodready import ProdReady
from flask_prodready.compat import flask as compat_flask
from flask_prodready.request_id import request_id


def _app() -> Flask:
    app = Flask(__name__)
    app.config.update(TESTING=True, PRODREADY_CONFIG_ENABLED=False)

    @app.get("/")
    def index() -> dict[str, Any]:
        return {
            "attribute": g.prodready_request_id,
            "get": g.get("prodready_request_id"),
            "in": "prodready_request_id" in g,
            "id": request_id(),
        }

    return app


def _answer(app: Flask) -> dict[str, Any]:
    response = app.test_client().get("/", headers={"X-Request-ID": "abc-123"})
    body: dict[str, Any] = response.get_json()
    return body


def test_the_locked_flask_takes_the_mix_in() -> None:
    app = _app()
    ProdReady(app)
    assert compat_flask.mixes_into_g_class(app)
    assert app.app_ctx_globals_class.__name__ == "ProdReadyGlobals"
    assert _answer(app) == {"attribute": "abc-123", "get": "abc-123", "in": True, "id": "abc-123"}
    with app.app_context():
        assert g.get("prodready_request_id", "none") == "none"
        assert "prodready_request_id" not in g


def test_a_globals_class_that_refuses_the_mix_in_gets_the_hook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Sealed(_AppCtxGlobals):
        def __init_subclass__(cls, **kwargs: Any) -> None:
            raise TypeError("sealed")

    app = _app()
    app.app_ctx_globals_class = Sealed
    ProdReady(app)
    assert app.app_ctx_globals_class is Sealed
    assert _answer(app) == {"attribute": "abc-123", "get": "abc-123", "in": True, "id": "abc-123"}


def test_when_flask_changes_g_the_fallback_gives_the_same_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(compat_flask, "mixes_into_g_class", lambda app: False)
    app = _app()
    original = app.app_ctx_globals_class
    ProdReady(app)
    assert app.app_ctx_globals_class is original
    assert _answer(app) == {"attribute": "abc-123", "get": "abc-123", "in": True, "id": "abc-123"}


def test_exposing_twice_adds_nothing() -> None:
    app = _app()
    compat_flask.expose_request_id_on_g(app, request_id)
    mixed = app.app_ctx_globals_class
    compat_flask.expose_request_id_on_g(app, request_id)
    assert app.app_ctx_globals_class is mixed
    assert app.before_request_funcs == {}
