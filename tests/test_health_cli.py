"""``flask prodready health``: runs every check once, prints a table or JSON, exits 0 or 1."""

from __future__ import annotations

import json
import subprocess
import sys

from flask_prodready import HealthResult

from .support import REPO
from .support.apps import AppDir, HealthApps


def test_all_passing_exits_0_with_a_table(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make()
    prodready.health.add("database", lambda: None)
    prodready.health.add("report-only", lambda: None, tags=())
    result = app.test_cli_runner().invoke(args=["prodready", "health"])
    assert result.exit_code == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "CRITICAL", "DURATION", "OUTPUT"]
    assert lines[1].split()[:3] == ["database", "pass", "yes"]
    assert lines[2].split()[:3] == ["report-only", "pass", "yes"]
    assert lines[-1] == "status: pass (2 checks)"


def test_a_degraded_app_exits_0(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make()
    prodready.health.add(
        "lag", lambda: HealthResult("warn", "lag 9s", observed_value=9, observed_unit="s")
    )
    prodready.health.add("search", lambda: HealthResult("fail", "index gone"), critical=False)
    result = app.test_cli_runner().invoke(args=["prodready", "health"])
    assert result.exit_code == 0, result.stdout
    assert "lag 9s; observed 9 s" in result.stdout
    assert result.stdout.splitlines()[-1] == "status: warn (2 checks)"


def test_a_critical_failure_exits_1_and_hides_secrets(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make()

    @prodready.health.check("database")
    def database() -> None:
        raise ConnectionError("cannot reach postgresql://user:secret@db/app")

    result = app.test_cli_runner().invoke(args=["prodready", "health"])
    assert result.exit_code == 1
    assert "ConnectionError: cannot reach postgresql://user:***@db/app" in result.stdout
    assert "secret" not in result.stdout
    assert result.stdout.splitlines()[-1] == "status: fail (1 checks)"


def test_json_prints_the_health_document(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make()
    prodready.health.add("database", lambda: HealthResult("fail", "down"))
    result = app.test_cli_runner().invoke(args=["prodready", "health", "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["status"] == "fail"
    assert document["checks"]["database"][0]["output"] == "down"


def test_the_command_runs_every_check_afresh(health_apps: HealthApps) -> None:
    app, prodready = health_apps.make(health_cache_ttl=60)
    calls: list[int] = []
    prodready.health.add("counted", lambda: calls.append(1))
    app.test_client().get("/readyz")
    assert app.test_cli_runner().invoke(args=["prodready", "health"]).exit_code == 0
    assert len(calls) == 2, "the command runs every check once, fresh"


def test_switched_off_health_exits_1(health_apps: HealthApps) -> None:
    app, _ = health_apps.make(health_enabled=False)
    result = app.test_cli_runner().invoke(args=["prodready", "health"])
    assert result.exit_code == 1
    assert "PRODREADY_HEALTH_ENABLED is false" in result.output


def test_the_flask_command_exit_codes(app_dir: AppDir) -> None:
    app_dir.write(
        "wsgi.py",
        """
        import os
        from flask import Flask
        from flask_prodready import ProdReady

        app = Flask(__name__)
        prodready = ProdReady(app)

        @prodready.health.check("switch")
        def switch():
            if os.environ.get("BROKEN"):
                raise RuntimeError("broken on purpose")
        """,
    )
    command = [sys.executable, "-m", "flask", "--app", str(app_dir.root / "wsgi.py")]
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    ok = subprocess.run(
        [*command, "prodready", "health"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=base,
    )
    assert ok.returncode == 0, ok.stderr
    assert "status: pass" in ok.stdout
    broken = subprocess.run(
        [*command, "prodready", "health", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**base, "BROKEN": "1"},
    )
    assert broken.returncode == 1, broken.stderr
    assert json.loads(broken.stdout)["checks"]["switch"][0]["output"] == (
        "RuntimeError: broken on purpose"
    )
