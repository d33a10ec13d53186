"""Strict settings: unknown ``PRODREADY_*`` keys and tables, a weak ``SECRET_KEY`` in
production, and the ``flask`` command printing a ConfigError without a traceback.

Covers ``flask_prodready.settings.strict``, ``flask_prodready.settings.secret_key``.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from dynaconf import Validator
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo

from flask_prodready import ConfigError, ProdReady, get_state
from flask_prodready.cli import CommandLineConfigError, prodready_cli
from flask_prodready.settings import load_settings, loading, secret_key_weakness
from flask_prodready.settings import memo as settings_memo

from .support.apps import AppDir

STRONG_KEY = secrets.token_hex(32)


def problems_of(app_dir: AppDir, **kwargs: Any) -> list[str]:
    """The problems, as text, of setting up an app in ``app_dir``; fails if there are none."""
    with pytest.raises(ConfigError) as caught:
        app_dir.app(**kwargs)
    return [str(problem) for problem in caught.value.problems]


@pytest.fixture(autouse=True)
def _forget_loads() -> None:
    settings_memo.clear()


# Unknown keys in settings files


def test_a_misspelt_key_in_default_names_the_file_the_table_and_the_setting(
    app_dir: AppDir,
) -> None:
    path = app_dir.write("settings.toml", "[default]\nPRODREADY_SLOW_REQEST_MS = 500\n")
    assert problems_of(app_dir) == [
        "PRODREADY_SLOW_REQEST_MS: is not a flask-prodready setting; did you mean "
        f"PRODREADY_SLOW_REQUEST_MS?; it is set in {path} [default]; fix its name or remove it"
    ]


def test_the_misspelt_token_fails_instead_of_a_hint_to_move_it(app_dir: AppDir) -> None:
    app_dir.write("settings.toml", "[default]\nPRODREADY_DASHBORD_TOKEN = 'abc'\n")
    (problem,) = problems_of(app_dir)
    assert "did you mean PRODREADY_DASHBOARD_TOKEN?" in problem
    assert "abc" not in problem


def test_every_table_is_checked_not_only_the_current_one(app_dir: AppDir) -> None:
    path = app_dir.write(
        ".secrets.toml",
        "[development]\nprodready_dashboard_tokn = 'x'\n[testing]\nPRODREADY_SQL_STRCT = 1\n",
    )
    problems = problems_of(app_dir)  # production
    assert len(problems) == 2
    assert problems[0].startswith("prodready_dashboard_tokn: is not a flask-prodready setting")
    assert f"it is set in {path} [development]" in problems[0]
    assert "did you mean PRODREADY_SQL_STRICT?" in problems[1]
    assert f"{path} [testing]" in problems[1]


def test_every_problem_is_reported_at_once_unknown_keys_first(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir.write(
        "settings.toml",
        "[default]\nPRODREADY_LOG_LEVL = 'DEBUG'\nPRODREADY_DASHBOARD_ENABLED = 'maybe'\n",
    )
    monkeypatch.setenv("FLASK_PRODREADY_HEALT_ENABLED", "false")
    problems = problems_of(app_dir)
    assert [problem.split(":", 1)[0] for problem in problems] == [
        "PRODREADY_LOG_LEVL",
        "FLASK_PRODREADY_HEALT_ENABLED",
        "PRODREADY_DASHBOARD_ENABLED",
    ]


def test_a_key_outside_every_table_is_never_read_and_says_so(app_dir: AppDir) -> None:
    path = app_dir.write(
        "settings.toml",
        "PRODREADY_SLOW_REQUEST_MS = 500\nPRODREADY_SQL_STRIT = true\n[default]\nX = 1\n",
    )
    problems = problems_of(app_dir)
    assert problems[0] == (
        "PRODREADY_SLOW_REQUEST_MS: is outside every table, so it is never read (each "
        "top-level table of a settings file names an environment); move it under [default] "
        f"or an environment's table in {path}"
    )
    unknown = "and it is not a flask-prodready setting; did you mean PRODREADY_SQL_STRICT?"
    assert unknown in problems[1]


def test_what_dynaconf_reads_or_ignores_is_accepted(app_dir: AppDir) -> None:
    app_dir.write(
        "settings.toml",
        """
        dynaconf_merge = true
        NOT_OURS_AT_THE_TOP = 1
        [default]
        PRODREADY_LOG_LEVELS__sqlalchemy = "WARNING"
        dynaconf_merge = true
        [flask]
        PRODREADY_PROFILING_KEEP = 7
        [global]
        PRODREADY_SQL_REPEAT_THRESHOLD = 3
        [production.cache]
        host = "redis"
        """,
    )
    app = app_dir.app()
    assert app.config["PRODREADY_LOG_LEVELS"] == {"sqlalchemy": "WARNING"}
    assert app.config["PRODREADY_PROFILING_KEEP"] == 7
    assert app.config["PRODREADY_SQL_REPEAT_THRESHOLD"] == 3


def test_a_key_of_the_apps_own_validators_counts_as_a_setting(app_dir: AppDir) -> None:
    app_dir.write("settings.toml", "[default]\nPRODREADY_SHOP_COLOUR = 'red'\n")
    app = app_dir.app(validators=[Validator("PRODREADY_SHOP_COLOUR", is_type_of=str)])
    assert app.config["PRODREADY_SHOP_COLOUR"] == "red"


def test_prodready_env_in_a_file_chooses_nothing(app_dir: AppDir) -> None:
    app_dir.write("settings.toml", "[default]\nPRODREADY_ENV = 'development'\n")
    (problem,) = problems_of(app_dir)
    assert problem.startswith("PRODREADY_ENV: chooses no environment")
    assert "set PRODREADY_ENV instead" in problem


# Unknown tables


def test_a_misspelt_table_suggests_the_environment(app_dir: AppDir) -> None:
    path = app_dir.write("settings.toml", "[prodution]\nPRODREADY_SQL_STRICT = true\n")
    (problem,) = problems_of(app_dir)
    assert problem.startswith(
        f"{path}: the table [prodution] names no environment in use or known, so its "
        "settings are never read; did you mean [production]?; rename the table, or add "
        "'prodution' to PRODREADY_ENVIRONMENTS"
    )


def test_the_environment_in_use_and_declared_ones_are_known(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir.write("settings.toml", "[default]\nCOLOUR = 'grey'\n[Staging]\nCOLOUR = 'amber'\n")
    assert any("[Staging] names no environment" in p for p in problems_of(app_dir))
    monkeypatch.setenv("PRODREADY_ENV", "staging")
    assert app_dir.app().config["COLOUR"] == "amber"
    monkeypatch.delenv("PRODREADY_ENV")
    app_dir.write(
        "settings.toml",
        "[default]\nPRODREADY_ENVIRONMENTS = ['Staging', 'qa']\n[staging]\nCOLOUR = 'amber'\n"
        "[qa]\nCOLOUR = 'blue'\n",
    )
    app = app_dir.app()
    assert app.config["PRODREADY_ENVIRONMENTS"] == ("staging", "qa")


def test_declared_environments_are_names(app_dir: AppDir) -> None:
    (problem,) = problems_of(app_dir, environments=["ok", "not a name"])
    assert problem.startswith("PRODREADY_ENVIRONMENTS: expected a list of environment names")


# Environment variables, app.config, overrides


def test_a_misspelt_variable_is_named_with_the_one_meant(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_PRODREADY_SLOW_REQEST_MS", "500")
    monkeypatch.setenv("DYNACONF_PRODREADY_SQL_STRIKT", "true")
    monkeypatch.setenv("PRODREADY_UNRELATED_FLAG", "1")  # no prefix: dynaconf does not read it
    problems = problems_of(app_dir)
    assert problems == [
        "DYNACONF_PRODREADY_SQL_STRIKT: is not a flask-prodready setting; did you mean "
        "DYNACONF_PRODREADY_SQL_STRICT?; it is set by the environment variable "
        "DYNACONF_PRODREADY_SQL_STRIKT; fix its name or remove it",
        "FLASK_PRODREADY_SLOW_REQEST_MS: is not a flask-prodready setting; did you mean "
        "FLASK_PRODREADY_SLOW_REQUEST_MS?; it is set by the environment variable "
        "FLASK_PRODREADY_SLOW_REQEST_MS; fix its name or remove it",
    ]


def test_a_variable_from_dotenv_names_the_file(app_dir: AppDir) -> None:
    dotenv = app_dir.write(".env", "FLASK_PRODREADY_DASHBORD_ENABLED=false\n")
    (problem,) = problems_of(app_dir)
    assert f"environment variable FLASK_PRODREADY_DASHBORD_ENABLED (in {dotenv})" in problem


def test_variables_follow_the_prefix(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_PRODREADY_NOT_READ_WITH_MYAPP", "1")
    monkeypatch.setenv("MYAPP_PRODREADY_SQL_STRIKT", "1")
    monkeypatch.setenv("MYAPP_PRODREADY_LOG_LEVELS__werkzeug", "ERROR")
    (problem,) = problems_of(app_dir, envvar_prefix="myapp")
    assert problem.startswith("MYAPP_PRODREADY_SQL_STRIKT: is not a flask-prodready setting")
    assert "did you mean MYAPP_PRODREADY_SQL_STRICT?" in problem


def test_the_switcher_with_a_prefix_chooses_nothing(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_PRODREADY_ENV", "development")
    (problem,) = problems_of(app_dir)
    assert problem.startswith("FLASK_PRODREADY_ENV: chooses no environment")


@pytest.mark.parametrize("config_enabled", [True, False])
def test_a_misspelt_key_in_app_config(app_dir: AppDir, config_enabled: bool) -> None:
    app = app_dir.flask()
    app.config["PRODREADY_CONFIG_ENABLED"] = config_enabled
    app.config["PRODREADY_TRUSTED_PROXY"] = 1
    with pytest.raises(ConfigError) as caught:
        ProdReady(app)
    (problem,) = caught.value.problems
    assert str(problem) == (
        "PRODREADY_TRUSTED_PROXY: is not a flask-prodready setting; did you mean "
        "PRODREADY_TRUSTED_PROXIES?; it is set by app code (app.config); fix its name or "
        "remove it"
    )


def test_a_misspelt_override_of_load_settings(app_dir: AppDir) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(app_dir.flask(), overrides={"PRODREADY_SQL_STRICTLY": True})
    (problem,) = caught.value.problems
    assert "did you mean PRODREADY_SQL_STRICT?; it is set by a keyword argument" in str(problem)


# The per-process memo


def test_a_bad_load_is_never_remembered_and_a_good_one_is_reused_unchecked(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir.write("settings.toml", "[default]\nPRODREADY_SQL_STRIKT = true\n")
    for _ in range(2):
        with pytest.raises(ConfigError):
            app_dir.app()
    app_dir.write("settings.toml", "[default]\nPRODREADY_SQL_STRICT = true\n")
    calls = []
    check = loading._check_strict

    def counting(*args: Any) -> Any:
        calls.append(args)
        return check(*args)

    monkeypatch.setattr(loading, "_check_strict", counting)
    assert app_dir.app().config["PRODREADY_SQL_STRICT"] is True
    assert app_dir.app().config["PRODREADY_SQL_STRICT"] is True
    assert len(calls) == 1, "the second app reuses the first load"
    app_dir.write("settings.toml", "[default]\nPRODREADY_SQL_STRIKT = true\n")
    with pytest.raises(ConfigError):
        app_dir.app()


# SECRET_KEY


@pytest.mark.parametrize(
    ("value", "weakness"),
    [
        (None, "is not set"),
        ("", "is not set"),
        ("dev", "is a well-known default or placeholder value"),
        ("Change-Me", "is a well-known default or placeholder value"),
        ("your-secret-key", "is a well-known default or placeholder value"),
        ("please-change-me-before-going-to-production", "is a well-known default"),
        ("x" * 31, "is shorter than 32 bytes"),
        ("ab" * 20, "does not look random (too few different characters)"),
        (12345, "is a int, not a string"),
        (STRONG_KEY, None),
        (secrets.token_urlsafe(32), None),
        (secrets.token_bytes(32), None),
    ],
)
def test_secret_key_weakness(value: Any, weakness: str | None) -> None:
    found = secret_key_weakness(value)
    if weakness is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(weakness)


def check(app_dir: AppDir, **env: str) -> Any:
    for name, value in env.items():
        os.environ[name] = value
    return app_dir.app().test_cli_runner().invoke(args=["prodready", "check"])


def test_check_fails_in_production_without_a_secret_key(app_dir: AppDir) -> None:
    result = check(app_dir)
    assert result.exit_code == 1
    assert 'found 1 configuration problem in environment "production"' in result.stderr
    assert "  - SECRET_KEY: is not set in production" in result.stderr
    assert 'python -c "import secrets; print(secrets.token_hex(32))"' in result.stderr
    assert "configuration ok" not in result.output


def test_check_fails_on_a_weak_secret_key_without_showing_it(app_dir: AppDir) -> None:
    app_dir.write(".secrets.toml", "[production]\nSECRET_KEY = 'changeme-SENTINEL'\n")
    result = check(app_dir)
    assert result.exit_code == 1
    assert "SECRET_KEY: is a well-known default or placeholder value" in result.stderr
    assert f"it is set by {app_dir.root / '.secrets.toml'} [production]" in result.stderr
    assert "SENTINEL" not in result.output


def test_check_passes_with_a_strong_key_or_outside_production(app_dir: AppDir) -> None:
    result = check(app_dir, FLASK_SECRET_KEY=STRONG_KEY)
    assert result.exit_code == 0, result.output
    del os.environ["FLASK_SECRET_KEY"]
    result = check(app_dir, PRODREADY_ENV="development")
    assert result.exit_code == 0, result.output
    assert "configuration ok (environment development)" in result.output


def log_messages(capsys: pytest.CaptureFixture[str]) -> list[str]:
    lines = capsys.readouterr().out.splitlines()
    return [json.loads(line)["message"] for line in lines if line.startswith("{")]


def test_start_up_in_production_warns_once_and_goes_on(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLASK_SECRET_KEY", "secret-SENTINEL")
    app = app_dir.app(dashboard_enabled=False)
    assert get_state(app).environment == "production"
    warnings = [m for m in log_messages(capsys) if "SECRET_KEY" in m]
    assert warnings == [
        "SECRET_KEY is shorter than 32 bytes; in production, anyone who guesses it can forge "
        "sessions and signed cookies: it is set by environment variable FLASK_SECRET_KEY; make "
        'one with python -c "import secrets; print(secrets.token_hex(32))" and put it in '
        ".secrets.toml or FLASK_SECRET_KEY; `flask prodready check` fails until then"
    ]
    app_dir.app(dashboard_enabled=False)
    assert not [m for m in log_messages(capsys) if "SECRET_KEY" in m], "once per process"


@pytest.mark.parametrize("environment", ["development", "testing"])
def test_start_up_outside_production_says_nothing_of_the_key(
    app_dir: AppDir,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    environment: str,
) -> None:
    monkeypatch.setenv("PRODREADY_ENV", environment)
    monkeypatch.setenv("FLASK_PRODREADY_LOG_FORMAT", "json")
    app_dir.app(dashboard_enabled=False)
    assert not [m for m in log_messages(capsys) if "SECRET_KEY" in m]


# The flask command


def write_module(app_dir: AppDir, settings_text: str) -> Path:
    app_dir.write("settings.toml", settings_text)
    return app_dir.write(
        "shop.py",
        """
        import click
        from flask import Flask
        from flask_prodready import ProdReady

        app = Flask(__name__)
        ProdReady(app)

        @app.cli.command("hello")
        def hello():
            click.echo("hello")
        """,
    )


def flask(module: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flask", "--app", str(module), *args]
    return subprocess.run(
        command, cwd=module.parent.parent, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    "args", [("run", "--port", "0"), ("routes",), ("hello",), ("prodready", "check")]
)
def test_the_flask_command_prints_the_one_message_without_a_traceback(
    app_dir: AppDir, args: tuple[str, ...]
) -> None:
    module = write_module(app_dir, "[default]\nPRODREADY_SLOW_REQEST_MS = 500\n")
    result = flask(module, *args)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("flask-prodready found 1 configuration problem") == 1
    assert "did you mean PRODREADY_SLOW_REQUEST_MS?" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 2, result.stderr
    assert "hello" not in result.stdout


def test_flask_help_shows_the_message_without_a_traceback(app_dir: AppDir) -> None:
    module = write_module(app_dir, "[prodution]\nX = 1\n")
    result = flask(module, "--help")
    assert "Traceback" not in result.stderr
    assert "the table [prodution] names no environment" in result.stderr
    assert "Usage:" in result.stdout


def test_the_flask_command_works_with_good_settings(app_dir: AppDir) -> None:
    module = write_module(app_dir, "[default]\nPRODREADY_SLOW_REQUEST_MS = 500\n")
    result = flask(module, "hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "hello"  # after the start-up's log lines


def test_the_error_is_a_config_error_in_code_and_under_a_flask_group(app_dir: AppDir) -> None:
    app_dir.write("settings.toml", "[default]\nPRODREADY_SQL_STRIKT = true\n")

    def create_app() -> Flask:
        return app_dir.app()

    with pytest.raises(ConfigError) as caught:
        create_app()
    assert type(caught.value) is ConfigError, "embedding code sees the plain error"

    seen: list[BaseException] = []

    def recording_factory() -> Flask:
        try:
            return create_app()
        except BaseException as exc:
            seen.append(exc)
            raise

    result = CliRunner().invoke(FlaskGroup(create_app=recording_factory), ["routes"])
    assert result.exit_code == 1
    assert "did you mean PRODREADY_SQL_STRICT?" in result.output
    assert isinstance(seen[0], CommandLineConfigError)
    assert isinstance(seen[0], ConfigError)
    assert seen[0].problems == caught.value.problems

    result = CliRunner().invoke(prodready_cli, ["check"], obj=ScriptInfo(create_app=create_app))
    assert result.exit_code == 1
    assert "did you mean PRODREADY_SQL_STRICT?" in result.output
