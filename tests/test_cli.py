"""``flask prodready config`` and ``flask prodready check``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from dynaconf import Validator
from flask import Flask
from flask.cli import ScriptInfo

from flask_prodready import ProdReady
from flask_prodready.cli import prodready_cli

from .support.apps import AppDir

# A SECRET_KEY that passes the production check (random-looking, 64 characters).
STRONG_KEY = "9f2c4e7a1b8d3f6e0a5c2b9d8e7f1a3c4b6d8e0f2a4c6e8b1d3f5a7c9e0b2d4f"


def test_config_shows_redacted_values_and_their_sources(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir.write(
        "settings.toml",
        """
        [default]
        DATABASE_URL = "postgresql://shop:url-SENTINEL@db/shop"
        PORT = 8000
        [default.cache]
        host = "redis"
        password = "nested-SENTINEL"
        """,
    )
    monkeypatch.setenv("FLASK_PORT", "9000")
    app = app_dir.app()
    result = app.test_cli_runner().invoke(args=["prodready", "config", "--json"])
    assert result.exit_code == 0, result.output
    assert "SENTINEL" not in result.output
    document = json.loads(result.output)
    settings = document["settings"]
    assert document["environment"] == "production"
    assert document["envvar_prefix"] == "FLASK"
    assert settings["DATABASE_URL"] == {
        "value": "postgresql://shop:***@db/shop",
        "source": f"{app_dir.root / 'settings.toml'} [default]",
    }
    assert settings["CACHE"]["value"] == {"host": "redis", "password": "***"}
    assert settings["PORT"] == {"value": 9000, "source": "environment variable FLASK_PORT"}
    assert settings["PRODREADY_DASHBOARD_ENABLED"] == {"value": True, "source": "default"}
    assert not any(key.endswith("_FOR_DYNACONF") for key in settings)


def test_config_json_shows_networks_as_text(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_PRODREADY_METRICS_ALLOWED_NETWORKS", "10.0.0.0/8,::1")
    result = app_dir.app().test_cli_runner().invoke(args=["prodready", "config", "--json"])
    assert result.exit_code == 0, result.output
    settings = json.loads(result.output)["settings"]
    assert settings["PRODREADY_METRICS_ALLOWED_NETWORKS"]["value"] == ["10.0.0.0/8", "::1/128"]
    assert settings["PRODREADY_METRICS_BUCKETS"]["value"][0] == 0.005


def test_config_as_text(app_dir: AppDir) -> None:
    app_dir.write(".secrets.toml", "[default]\nSECRET_KEY = 'text-SENTINEL'\n")
    result = app_dir.app().test_cli_runner().invoke(args=["prodready", "config"])
    assert result.exit_code == 0, result.output
    assert "SENTINEL" not in result.output
    assert "environment: production" in result.output
    line = next(line for line in result.output.splitlines() if line.startswith("SECRET_KEY "))
    assert "'***'" in line
    assert ".secrets.toml [default]" in line


def test_check_passes_on_good_settings(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_SECRET_KEY", STRONG_KEY)  # production needs one
    result = app_dir.app().test_cli_runner().invoke(args=["prodready", "check"])
    assert result.exit_code == 0, result.output
    assert "configuration ok (environment production)" in result.output


def test_check_lists_every_problem_and_exits_1(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_PRODREADY_DASHBOARD_ENABLED", "sometimes")
    monkeypatch.setenv("FLASK_API_TOKEN", "tok-SENTINEL")

    def create_app() -> Flask:
        app = app_dir.flask()
        ProdReady(
            app, validators=[Validator("DATABASE_URL", "API_TOKEN", must_exist=True, len_min=99)]
        )
        return app

    result = CliRunner().invoke(prodready_cli, ["check"], obj=ScriptInfo(create_app=create_app))
    assert result.exit_code == 1
    assert "found 3 configuration problems" in result.output
    for key in ("PRODREADY_DASHBOARD_ENABLED", "DATABASE_URL", "API_TOKEN"):
        assert f"  - {key}: " in result.output
    assert "SENTINEL" not in result.output


def test_check_warns_about_secrets_in_the_committed_file(app_dir: AppDir) -> None:
    app_dir.write(
        "settings.toml",
        f"[production]\nSECRET_KEY = '{STRONG_KEY}'\n[default.mail]\nsmtp_password = 'y'\n",
    )
    result = app_dir.app().test_cli_runner().invoke(args=["prodready", "check"])
    assert result.exit_code == 0
    assert STRONG_KEY not in result.output
    assert "SECRET_KEY is set in settings.toml [production]" in result.stderr
    assert "FLASK_SECRET_KEY" in result.stderr
    assert "MAIL.smtp_password is set in settings.toml [default]" in result.stderr
    assert "x'" not in result.stderr


@pytest.fixture
def git_repo(app_dir: AppDir) -> Path:
    repo = app_dir.root.parent
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def test_check_warns_when_secret_files_are_not_git_ignored(app_dir: AppDir, git_repo: Path) -> None:
    result = app_dir.app().test_cli_runner().invoke(args=["prodready", "check"])
    assert f"{app_dir.root / '.secrets.toml'} is not git-ignored" in result.stderr
    assert f"{app_dir.root / '.env'} is not git-ignored" in result.stderr
    (git_repo / ".gitignore").write_text(".secrets.toml\n.env\n")
    result = app_dir.app().test_cli_runner().invoke(args=["prodready", "check"])
    assert "git-ignored" not in result.stderr


def test_the_flask_command_finds_the_group_as_a_plugin(app_dir: AppDir, tmp_path: Path) -> None:
    app_dir.write(
        "wsgi.py",
        "from flask import Flask\napp = Flask(__name__)\n"
        "from flask_prodready import ProdReady\nProdReady(app)\n",
    )
    app_dir.write("settings.toml", "[default]\nPRODREADY_DASHBOARD_ENABLED = 'later'\n")
    app_dir.write(".env", "FLASK_GREETING=hi\nnot a dotenv line\n")
    command = [
        sys.executable,
        "-m",
        "flask",
        "--app",
        str(app_dir.root / "wsgi.py"),
        "prodready",
        "check",
    ]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result.stderr
    assert "PRODREADY_DASHBOARD_ENABLED: expected a boolean" in result.stderr
    assert "Traceback" not in result.stderr
