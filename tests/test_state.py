"""flask_prodready.state: one typed field per part, and the 0.1 ``components`` view."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from flask import Flask

from flask_prodready import NotInitialisedError, ProdReady
from flask_prodready.alerts import AlertEngine
from flask_prodready.health import HealthRunner
from flask_prodready.metrics import Metrics
from flask_prodready.state import EXTENSION_KEY, ProdReadyState, get_state


def _app(**overrides: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(TESTING=True, PRODREADY_CONFIG_ENABLED=False)
    ProdReady(app, **overrides)
    return app


def test_each_part_on_fills_its_typed_field() -> None:
    state = get_state(_app())
    assert app_state_is(state)
    assert isinstance(state.health, HealthRunner)
    assert isinstance(state.metrics, Metrics)
    assert isinstance(state.alerts, AlertEngine)
    assert state.error_store is not None
    assert state.error_recorder is not None
    assert state.error_recorder.store is state.error_store
    assert state.request_ids is not None
    assert state.request_ids.header == "X-Request-ID"
    assert state.logs is not None
    assert state.sql is None  # only after watch_sql


def app_state_is(state: object) -> bool:
    return isinstance(state, ProdReadyState)


def test_a_part_switched_off_leaves_its_field_none() -> None:
    state = get_state(_app(metrics_enabled=False, health_enabled=False, alerts_enabled=False))
    assert state.metrics is None
    assert state.health is None
    assert state.alerts is None
    assert "metrics" not in state.parts


def test_components_is_a_read_only_view_with_the_01_names() -> None:
    state = get_state(_app())
    view = state.components
    assert view["error_store"] is state.error_store
    assert view["metrics"] is state.metrics
    assert view["request_id"] is state.request_ids
    assert view["errors"] is state.error_handlers
    assert view.get("dashboard") is state.add_ons.get("dashboard")
    assert "sql" not in view
    with pytest.raises(TypeError):
        view["metrics"] = None  # type: ignore[index]


def test_the_state_is_in_app_extensions() -> None:
    app = _app()
    assert app.extensions[EXTENSION_KEY] is get_state(app)


def test_get_state_of_an_app_without_the_extension_says_how_to_set_it_up() -> None:
    with pytest.raises(NotInitialisedError, match=r"ProdReady\(app\)"):
        get_state(Flask("bare"))


def test_importing_the_state_imports_no_part_beyond_the_package_itself() -> None:
    code = (
        "import sys, flask_prodready\n"
        "before = set(sys.modules)\n"
        "import flask_prodready.state\n"
        "print(sorted(m for m in set(sys.modules) - before if m.startswith('flask_prodready')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
