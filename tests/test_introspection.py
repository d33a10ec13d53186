"""The public read interface: every member on an app with every part on, and with them off."""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

import flask_prodready
import flask_prodready.introspection
from flask_prodready import (
    HealthReport,
    HealthStatus,
    MetricsSnapshot,
    NotInitialisedError,
    ProdReady,
    get_health,
    get_state,
)
from flask_prodready.config_report import SettingRow
from flask_prodready.introspection import AppIntrospection, introspect

from .support import REPO
from .support.apps import AppDir
from .support.requires import require_module

#: Every public member of AppIntrospection; a new one needs its tests below.
MEMBERS = {
    "alert_history",
    "alert_rules",
    "alert_states",
    "alerts_on",
    "app",
    "armed_profiling",
    "config_warnings",
    "environment",
    "error_store",
    "firing_alerts",
    "health_report",
    "health_runner",
    "log_level",
    "log_level_names",
    "log_store_failures",
    "metrics_on",
    "metrics_snapshot",
    "outgoing_calls",
    "outgoing_hosts",
    "outgoing_on",
    "parts",
    "profile",
    "profile_file",
    "profiles",
    "profiling_on",
    "release",
    "release_source",
    "repeated_queries",
    "setting",
    "settings",
    "settings_rows",
    "slow_request_ms",
    "slow_requests",
    "sql_on",
    "version",
}
#: The modules of the parts (and of the command line and the dashboard), which importing the
#: interface must not import.
PART_MODULES = (
    "flask_prodready.alerts",
    "flask_prodready.cli",
    "flask_prodready.config_report",
    "flask_prodready.dashboard",
    "flask_prodready.errors",
    "flask_prodready.health",
    "flask_prodready.logs",
    "flask_prodready.metrics",
    "flask_prodready.outgoing",
    "flask_prodready.profiling",
    "flask_prodready.recording",
    "flask_prodready.snapshots",
    "flask_prodready.sql",
    "flask_prodready.store",
)


def _failing_check() -> None:
    raise ConnectionError("database is down")


@pytest.fixture
def full(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """An app with every part on, SQL watched, and something for each part to tell."""
    require_module("sqlalchemy", "install the example dependency group")
    import sqlalchemy as sa

    from flask_prodready import watch_sql
    from flask_prodready.profiling import arm

    monkeypatch.setenv("PRODREADY_ENV", "development")
    app = app_dir.flask()
    ProdReady(
        app,
        error_store="memory",
        json_orjson=True,
        profiling_token="t0k",
        slow_request_ms=0.001,
        log_levels={"noisy.library": "ERROR"},
        alerts_default_rules=False,
        alerts_rules={"db_down": {"expr": "health_failing", "summary": "the db is down"}},
    )
    database = sa.create_engine("sqlite://")
    watch_sql(app, database)

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    @app.get("/warn")
    def warn() -> str:
        return "ok"

    @app.get("/nplus")
    def nplus() -> str:
        with database.connect() as connection:
            for number in range(12):
                connection.execute(sa.text(f"SELECT {number}"))
        return "ok"

    client = app.test_client()
    assert client.get("/boom").status_code == 500
    assert client.get("/nplus").status_code == 200
    assert client.get("/warn", headers={"X-Prodready-Profile": "t0k"}).status_code == 200
    get_health(app).add("database", _failing_check)
    client.get("/readyz")
    engine = get_state(app).alerts
    assert engine is not None
    engine.evaluate()
    arm(app, "/warn", 2)
    yield app
    database.dispose()


@pytest.fixture
def bare(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """An app with every part that can be switched off switched off."""
    monkeypatch.setenv("PRODREADY_ENV", "development")
    app = app_dir.flask()
    ProdReady(
        app,
        error_store="none",
        logs_enabled=False,
        metrics_enabled=False,
        health_enabled=False,
        profiling_enabled=False,
        alerts_enabled=False,
        dashboard_enabled=False,
    )
    return app


# -- the interface itself ---------------------------------------------------------------


def test_the_members_are_the_documented_ones_each_with_a_docstring() -> None:
    public = {name for name in dir(AppIntrospection) if not name.startswith("_")}
    assert public == MEMBERS
    for name in sorted(public):
        member = inspect.getattr_static(AppIntrospection, name)
        doc = inspect.getdoc(member.fget if isinstance(member, property) else member)
        assert doc, name
        assert ".. versionadded:: 0.2" in doc, name
    assert introspect.__doc__
    assert ".. versionadded:: 0.2" in introspect.__doc__


def test_no_public_signature_says_any_where_a_type_exists() -> None:
    # Settings values are of any type; everything else is typed.
    allowed = {"setting", "settings", "alert_history", "profiles", "profile"}
    for name in sorted(MEMBERS - allowed):
        member = inspect.getattr_static(AppIntrospection, name)
        function = member.fget if isinstance(member, property) else member
        annotations = " ".join(str(value) for value in function.__annotations__.values())
        assert "Any" not in annotations, name


def _modules_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after ``statement``."""
    script = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    modules: list[str] = json.loads(result.stdout)
    return set(modules)


def test_importing_the_interface_imports_no_part() -> None:
    # What importing the interface adds to what the package itself imports.
    added = _modules_after("import flask_prodready.introspection") - _modules_after(
        "import flask_prodready"
    )
    parts = {name for name in added if name.startswith(PART_MODULES)}
    assert not parts, f"importing the interface imports {sorted(parts)}"
    assert added == {"flask_prodready.introspection"}


def test_the_interface_imports_the_parts_inside_its_members_only() -> None:
    # Whatever the package's __init__ imports: at module level, the state and nothing else of
    # ours (the parts are named for the type checker only).
    source = Path(flask_prodready.introspection.__file__).read_text(encoding="utf-8")
    ours = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.level:
            ours.append(node.module)
    assert ours == ["state"]


def test_introspect_reads_the_current_app(full: Flask) -> None:
    with full.app_context():
        info = introspect()
    assert isinstance(info, AppIntrospection)
    assert info.app is full
    assert repr(info).startswith("<AppIntrospection app='settings_test_app' parts=(")


def test_introspect_needs_an_app_set_up_with_flask_prodready() -> None:
    with pytest.raises(NotInitialisedError, match="Did you forget"):
        introspect(Flask("plain"))
    with pytest.raises(RuntimeError, match="application context"):
        introspect()


def test_the_command_line_reexports_the_config_report() -> None:
    from flask_prodready import cli, config_report

    assert cli.settings_rows is config_report.settings_rows
    assert cli.config_warnings is config_report.config_warnings


# -- every part on ----------------------------------------------------------------------


def test_the_app_and_its_settings(full: Flask) -> None:
    info = introspect(full)
    assert info.version == flask_prodready.__version__
    assert info.environment == "development"
    assert info.parts == get_state(full).parts
    assert {"logs", "errors", "metrics", "health", "profiling", "json", "dashboard"} <= set(
        info.parts
    )
    assert "alerts" in info.parts
    assert info.setting("PRODREADY_SLOW_REQUEST_MS") == 0.001
    assert info.settings["PRODREADY_PROFILING_TOKEN"] == "t0k"
    with pytest.raises(TypeError):
        info.settings["PRODREADY_SLOW_REQUEST_MS"] = 1  # type: ignore[index]
    with pytest.raises(KeyError):
        info.setting("NOT_A_SETTING")


def test_settings_rows_and_config_warnings(full: Flask) -> None:
    info = introspect(full)
    rows = {row.key: row for row in info.settings_rows()}
    assert all(isinstance(row, SettingRow) for row in rows.values())
    assert rows["PRODREADY_PROFILING_TOKEN"] == (
        "PRODREADY_PROFILING_TOKEN",
        "***",
        "keyword argument",
    )
    assert rows["PRODREADY_LOG_LEVEL"].source == "default"
    assert info.config_warnings() == []


def test_health(full: Flask) -> None:
    info = introspect(full)
    assert info.health_runner is get_health(full)
    report = info.health_report()
    assert isinstance(report, HealthReport)
    assert report.status is HealthStatus.FAIL
    assert "database" in [outcome.name for outcome in report.checks]


def test_errors_and_metrics(full: Flask) -> None:
    info = introspect(full)
    store = info.error_store
    assert store is not None
    (group,) = store.groups()
    assert "RuntimeError" in group.exception_type
    assert info.metrics_on
    snapshot = info.metrics_snapshot(15)
    assert isinstance(snapshot, MetricsSnapshot)
    assert snapshot.minutes == 15
    with pytest.raises(ValueError, match="more than 0"):
        info.metrics_snapshot(0)


def test_alerts(full: Flask) -> None:
    info = introspect(full)
    assert info.alerts_on
    assert [rule.name for rule in info.alert_rules()] == ["db_down"]
    assert [(s.name, s.state) for s in info.alert_states()] == [("db_down", "firing")]
    assert [s.name for s in info.firing_alerts()] == ["db_down"]
    (change,) = info.alert_history()
    assert (change["name"], change["state"]) == ("db_down", "firing")


def test_logs(full: Flask) -> None:
    info = introspect(full)
    assert info.log_level_names == (
        "TRACE",
        "DEBUG",
        "INFO",
        "SUCCESS",
        "WARNING",
        "ERROR",
        "CRITICAL",
    )
    assert info.log_level() in info.log_level_names
    assert info.log_level("noisy.library") == "ERROR"
    assert info.log_store_failures() == 0


def test_slow_requests_are_a_copy(full: Flask) -> None:
    info = introspect(full)
    assert info.slow_request_ms == 0.001
    slow = info.slow_requests()
    assert {"/boom", "/nplus", "/warn"} <= {request["path"] for request in slow}
    nplus = next(request for request in slow if request["path"] == "/nplus")
    assert (nplus["sql_queries"] or 0) >= 12
    assert nplus["duration_ms"] == pytest.approx(nplus["sql_ms"] + nplus["other_ms"], abs=0.01)
    slow.clear()
    assert info.slow_requests(), "clearing the copy leaves the record alone"


def test_sql(full: Flask) -> None:
    info = introspect(full)
    assert info.sql_on
    (finding,) = info.repeated_queries()
    assert (finding.route, finding.method, finding.statement) == ("/nplus", "GET", "SELECT ?")
    info.repeated_queries().clear()
    assert len(info.repeated_queries()) == 1


def test_profiling(full: Flask) -> None:
    info = introspect(full)
    assert info.profiling_on
    (profile,) = info.profiles()
    assert profile["path"] == "/warn"
    assert info.profile(profile["id"]) == profile
    assert info.profile("nope") is None
    path = info.profile_file(profile["id"])
    assert isinstance(path, Path)
    assert path.is_file()
    assert info.profile_file("nope") is None
    assert info.profile_file("../../etc/passwd") is None
    assert info.armed_profiling() == {"route": "/warn", "remaining": 2}


# -- every part off ---------------------------------------------------------------------


def test_every_member_answers_with_the_parts_off(bare: Flask) -> None:
    info = introspect(bare)
    assert info.app is bare
    assert info.version == flask_prodready.__version__
    assert info.environment == "development"
    for part in ("logs", "metrics", "health", "profiling", "alerts", "dashboard"):
        assert part not in info.parts
    assert info.setting("PRODREADY_METRICS_ENABLED") is False
    assert info.settings["PRODREADY_ERROR_STORE"] == "none"
    assert any(row.key == "PRODREADY_ERROR_STORE" for row in info.settings_rows())
    assert info.config_warnings() == []
    assert info.health_runner is None
    assert info.health_report() is None
    assert info.error_store is None
    assert info.metrics_on is False
    assert info.metrics_snapshot(15) is None
    assert info.alerts_on is False
    assert info.alert_rules() == []
    assert info.alert_states() == []
    assert info.firing_alerts() == []
    assert info.alert_history() == []
    assert "INFO" in info.log_level_names
    assert info.log_level() is None, "no app set logging up"
    assert info.log_level("noisy.library") is None
    assert info.log_store_failures() == 0
    assert info.slow_request_ms == 0.0
    assert info.slow_requests() == []
    assert info.sql_on is False
    assert info.repeated_queries() == []
    assert info.profiling_on is False
    assert info.profiles() == []
    assert info.profile("nope") is None
    assert info.profile_file("nope") is None
    assert info.armed_profiling() is None


def test_slow_requests_off_with_the_logs_part_on(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODREADY_ENV", "development")
    app = app_dir.app(error_store="memory", slow_request_ms=0)
    app.add_url_rule("/", "index", lambda: "ok")
    app.test_client().get("/")
    info = introspect(app)
    assert info.slow_request_ms == 0.0
    assert info.slow_requests() == []
    assert info.sql_on is False
