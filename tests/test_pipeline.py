"""flask_prodready.pipeline: one request passes the declared stages in their order."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_prodready import ProdReady, get_state
from flask_prodready.pipeline import (
    BIND_STAGES,
    OBSERVE_STAGES,
    STAGES,
    RequestPipeline,
    pipeline,
)


class _Recorder:
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.calls = name, calls

    def begin(self, environ: Any) -> object:
        self.calls.append(f"begin {self.name}")
        return self.name

    def end(self, environ: Any, status: int, req: Any, token: object) -> None:
        self.calls.append(f"end {token} {status}")

    def bind(self, environ: Any) -> object:
        self.calls.append(f"bind {self.name}")
        return self.name

    def unbind(self, token: object) -> None:
        self.calls.append(f"unbind {token}")


def _hello(calls: list[str]) -> RequestPipeline:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        calls.append("app")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hi"]

    return RequestPipeline(app)


def _call(wsgi: RequestPipeline) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen.extend(headers)
        return lambda data: None

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.url_scheme": "http"}
    list(wsgi(environ, start_response))
    return seen


def test_the_stages_are_declared_in_the_order_a_request_passes_them() -> None:
    assert STAGES == ("first_use", "observe", "request_id", "bind", "app", "access")
    assert OBSERVE_STAGES == ("metrics", "dashboard")
    assert BIND_STAGES == ("breadcrumbs", "sql")


def test_stages_run_in_declared_order_whatever_order_they_were_filled_in() -> None:
    calls: list[str] = []
    wsgi = _hello(calls)
    wsgi.bind("sql", _Recorder("sql", calls))
    wsgi.observe("dashboard", _Recorder("dashboard", calls))
    wsgi.bind("breadcrumbs", _Recorder("breadcrumbs", calls))
    wsgi.observe("metrics", _Recorder("metrics", calls))
    wsgi.write_access(
        lambda environ, status, headers, req, started: calls.append(f"access {status}")
    )
    _call(wsgi)
    assert calls == [
        "begin metrics",
        "begin dashboard",
        "bind breadcrumbs",
        "bind sql",
        "app",
        "access 200",
        "unbind sql",
        "unbind breadcrumbs",
        "end metrics 200",
        "end dashboard 200",
    ]


def test_filling_a_stage_again_replaces_it() -> None:
    calls: list[str] = []
    wsgi = _hello(calls)
    wsgi.observe("metrics", _Recorder("old", calls))
    wsgi.observe("metrics", _Recorder("new", calls))
    wsgi.bind("sql", _Recorder("sql", calls))
    wsgi.bind("sql", None)
    _call(wsgi)
    assert calls == ["begin new", "app", "end new 200"]


@pytest.mark.parametrize("method", ["observe", "bind"])
def test_an_unknown_stage_is_refused_with_the_known_ones(method: str) -> None:
    wsgi = _hello([])
    with pytest.raises(ValueError, match="unknown pipeline stage 'tracing'; the stages are"):
        getattr(wsgi, method)("tracing", _Recorder("x", []))


def _app(**overrides: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(TESTING=True, PRODREADY_CONFIG_ENABLED=False)
    ProdReady(app, **overrides)
    return app


def test_breadcrumbs_ride_with_the_request_id_when_that_stage_is_on() -> None:
    wsgi = get_state(_app()).pipeline
    assert wsgi is not None
    assert wsgi.request_ids is not None
    assert wsgi.request_ids.breadcrumbs > 0
    assert wsgi.binders == []


def test_breadcrumbs_get_their_own_stage_without_request_ids() -> None:
    wsgi = get_state(_app(request_id_enabled=False)).pipeline
    assert wsgi is not None
    assert wsgi.request_ids is None
    assert [type(b).__name__ for b in wsgi.binders] == ["_BreadcrumbBinder"]


def test_one_pipeline_per_app_whichever_part_asks_first() -> None:
    app = _app()
    state = get_state(app)
    assert pipeline(app, state) is state.pipeline
    assert app.wsgi_app is state.pipeline
