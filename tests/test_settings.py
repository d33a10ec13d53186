"""Settings: files beside the app, environments, variables, casting and start-up validation.

Covers ``flask_prodready.settings.casts``, ``flask_prodready.settings.core``,
``flask_prodready.settings.loaded``, ``flask_prodready.settings.schema``,
``flask_prodready.settings.sources``, ``flask_prodready.settings.validation``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dynaconf import Validator

from flask_prodready import ConfigError, get_state

from .support.apps import AppDir


def problems_of(excinfo: pytest.ExceptionInfo[ConfigError]) -> dict[str, str]:
    return {p.key: f"{p.problem}; {p.where}" for p in excinfo.value.problems}


def test_files_are_found_beside_the_app_whatever_the_working_directory(
    app_dir: AppDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir.write("settings.toml", "[default]\nGREETING = 'from file'\n")
    app_dir.write(".secrets.toml", "[default]\nAPI_TOKEN = 'tok'\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "settings.toml").write_text("[default]\nGREETING = 'from cwd'\n")
    monkeypatch.chdir(elsewhere)
    app = app_dir.app()
    assert app.config["GREETING"] == "from file"
    assert app.config["API_TOKEN"] == "tok"


def test_no_settings_files_is_fine(app_dir: AppDir) -> None:
    app = app_dir.app()
    assert get_state(app).environment == "production"
    assert app.config["PRODREADY_DASHBOARD_ENABLED"] is True


def test_environment_tables_override_default(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir.write(
        "settings.toml",
        """
        [default]
        COLOUR = "grey"
        SIZE = 1
        PRODREADY_ENVIRONMENTS = ["staging"]
        [development]
        COLOUR = "green"
        [production]
        COLOUR = "red"
        [staging]
        COLOUR = "amber"
        """,
    )
    assert app_dir.app().config["COLOUR"] == "red", "production without debug"
    assert app_dir.app(debug=True).config["COLOUR"] == "green", "development in debug mode"
    monkeypatch.setenv("PRODREADY_ENV", "staging")
    staging = app_dir.app()
    assert staging.config["COLOUR"] == "amber"
    assert staging.config["SIZE"] == 1
    assert get_state(staging).environment == "staging"


def test_secrets_file_wins_over_settings_file(app_dir: AppDir) -> None:
    app_dir.write("settings.toml", "[default]\nDB_PASSWORD = 'placeholder'\n")
    app_dir.write(".secrets.toml", "[production]\nDB_PASSWORD = 'real'\n")
    assert app_dir.app().config["DB_PASSWORD"] == "real"


def test_environment_variables_override_files(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir.write("settings.toml", "[production]\nPORT = 1\nNAME = 'file'\n")
    monkeypatch.setenv("FLASK_PORT", "8080")
    monkeypatch.setenv("FLASK_NAME", "env")
    app = app_dir.app()
    assert app.config["PORT"] == 8080
    assert app.config["NAME"] == "env"
    assert get_state(app).settings.sources("PORT")[0] == "environment variable FLASK_PORT"


def test_envvar_prefix_is_configurable(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_NAME", "shop")
    monkeypatch.setenv("FLASK_NAME", "flask")
    assert app_dir.app(envvar_prefix="SHOP").config["NAME"] == "shop"


def test_dotenv_beside_the_app_is_loaded_and_never_beats_real_variables(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir.write(
        ".env",
        """
        FLASK_FROM_DOTENV=loaded
        FLASK_BOTH=from-dotenv
        this line is not valid dotenv syntax
        """,
    )
    monkeypatch.setenv("FLASK_BOTH", "from-environment")
    app = app_dir.app()
    assert app.config["FROM_DOTENV"] == "loaded"
    assert app.config["BOTH"] == "from-environment"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("false", False),
        ("0", False),
        ("no", False),
        ("Off", False),
        ("true", True),
        ("1", True),
        ("YES", True),
        ("on", True),
    ],
)
def test_booleans_from_environment_variables(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch, text: str, expected: bool
) -> None:
    monkeypatch.setenv("FLASK_PRODREADY_DASHBOARD_ENABLED", text)
    app = app_dir.app()
    assert app.config["PRODREADY_DASHBOARD_ENABLED"] is expected
    assert get_state(app).setting("PRODREADY_DASHBOARD_ENABLED") is expected


@pytest.mark.parametrize(("text", "expected"), [("-1", -1), ("123456", 123456), ("+7", 7)])
def test_whole_numbers_from_environment_variables(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch, text: str, expected: int
) -> None:
    monkeypatch.setenv("FLASK_WORKERS", text)
    app = app_dir.app(validators=[Validator("WORKERS", is_type_of=int)])
    assert app.config["WORKERS"] == expected
    assert type(app.config["WORKERS"]) is int


@pytest.mark.parametrize("key", ["DB_PASSWORD", "API_TOKEN", "SECRET_KEY"])
def test_secrets_keep_their_exact_text(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv(f"FLASK_{key}", "123456")
    assert app_dir.app().config[key] == "123456"


def test_a_declared_string_keeps_its_exact_text(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_BUILD_ID", "123456")
    monkeypatch.setenv("FLASK_RELEASE", "true")
    app = app_dir.app(
        validators=[Validator("BUILD_ID", "RELEASE", is_type_of=str)],
    )
    assert app.config["BUILD_ID"] == "123456"
    assert app.config["RELEASE"] == "true"


def test_an_explicit_marker_is_respected_even_for_a_secret(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_TOKEN_TTL", "@int 60")
    monkeypatch.setenv("FLASK_LIMITS", '@json {"a": 1}')
    app = app_dir.app()
    assert app.config["TOKEN_TTL"] == 60
    assert app.config["LIMITS"] == {"a": 1}


def test_invalid_boolean_names_key_expectation_and_source(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_PRODREADY_DASHBOARD_ENABLED", "maybe")
    with pytest.raises(ConfigError) as excinfo:
        app_dir.app()
    message = str(excinfo.value)
    assert "PRODREADY_DASHBOARD_ENABLED: expected a boolean" in message
    assert "'maybe'" in message
    assert "environment variable FLASK_PRODREADY_DASHBOARD_ENABLED" in message


def test_missing_required_key_names_key_files_and_variable(app_dir: AppDir) -> None:
    with pytest.raises(ConfigError) as excinfo:
        app_dir.app(validators=[Validator("DATABASE_URL", must_exist=True)])
    message = str(excinfo.value)
    assert "DATABASE_URL: is required but not set" in message
    assert str(app_dir.root / "settings.toml") in message
    assert str(app_dir.root / ".secrets.toml") in message
    assert "[production]" in message
    assert "FLASK_DATABASE_URL" in message


def test_all_problems_are_reported_at_once(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir.write("settings.toml", "[default]\nPORT = 2\n")
    monkeypatch.setenv("FLASK_PRODREADY_DASHBOARD_URL_PREFIX", "no-slash")
    with pytest.raises(ConfigError) as excinfo:
        app_dir.app(
            validators=[Validator("DATABASE_URL", must_exist=True), Validator("PORT", gte=1024)]
        )
    problems = problems_of(excinfo)
    assert set(problems) == {"PRODREADY_DASHBOARD_URL_PREFIX", "DATABASE_URL", "PORT"}
    assert "expected at least 1024, got 2" in problems["PORT"]
    assert f"{app_dir.root / 'settings.toml'} [default]" in problems["PORT"]
    assert str(excinfo.value).startswith("flask-prodready found 3 configuration problems")


def test_secret_values_never_appear_in_messages(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir.write(".secrets.toml", "[default]\nAPI_TOKEN = 'tok-SENTINEL-1'\n")
    monkeypatch.setenv("FLASK_DB_PASSWORD", "pw-SENTINEL-2")
    monkeypatch.setenv("FLASK_DATABASE_URL", "postgresql://app:pw-SENTINEL-3@db/shop")
    monkeypatch.setenv("FLASK_SIGNING_KEY", '@json {"k": "SENTINEL-4"')
    validators = [
        Validator("API_TOKEN", len_min=40),
        Validator("DB_PASSWORD", eq="pw-SENTINEL-5"),
        Validator("DATABASE_URL", startswith="mysql://"),
    ]
    with pytest.raises(ConfigError) as excinfo:
        app_dir.app(validators=validators)
    assert [p.key for p in excinfo.value.problems] == ["FLASK_SIGNING_KEY"]
    assert "SENTINEL" not in str(excinfo.value)
    monkeypatch.delenv("FLASK_SIGNING_KEY")
    with pytest.raises(ConfigError) as excinfo:
        app_dir.app(validators=validators)
    assert set(problems_of(excinfo)) == {"API_TOKEN", "DB_PASSWORD", "DATABASE_URL"}
    assert "SENTINEL" not in str(excinfo.value)
    assert "postgresql://app:***@db/shop" in str(excinfo.value)


def test_malformed_toml_names_the_file(app_dir: AppDir) -> None:
    path = app_dir.write("settings.toml", "[default]\nPORT = = 1\n")
    with pytest.raises(ConfigError) as excinfo:
        app_dir.app()
    problem = excinfo.value.problems[0]
    assert problem.key == str(path)
    assert "is not valid TOML" in problem.problem
    assert "line 2" in problem.problem


def test_malformed_json_variable_is_named_without_its_value(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_FEATURES", '@json {"beta": tru')
    with pytest.raises(ConfigError) as excinfo:
        app_dir.app()
    assert problems_of(excinfo) == {
        "FLASK_FEATURES": "the @json value cannot be parsed (DynaconfParseError); "
        "fix the environment variable FLASK_FEATURES"
    }
    assert "beta" not in str(excinfo.value)


def test_malformed_dotenv_json_is_named(app_dir: AppDir) -> None:
    app_dir.write(".env", "FLASK_FEATURES='@json [1, 2'\n")
    with pytest.raises(ConfigError) as excinfo:
        app_dir.app()
    assert "FLASK_FEATURES" in problems_of(excinfo)


def test_debug_in_production_is_refused(app_dir: AppDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODREADY_ENV", "production")
    with pytest.raises(ConfigError) as excinfo:
        app_dir.app(debug=True)
    problem = problems_of(excinfo)["DEBUG"]
    assert "debug mode is on in the production environment" in problem
    assert "PRODREADY_ALLOW_DEBUG_IN_PRODUCTION" in problem


def test_debug_from_a_variable_in_production_is_refused(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_DEBUG", "1")
    monkeypatch.setenv("PRODREADY_ENV", "production")
    with pytest.raises(ConfigError) as excinfo:
        app_dir.app()
    assert "environment variable FLASK_DEBUG" in problems_of(excinfo)["DEBUG"]


def test_debug_in_production_starts_with_the_documented_override(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODREADY_ENV", "production")
    monkeypatch.setenv("FLASK_PRODREADY_ALLOW_DEBUG_IN_PRODUCTION", "yes")
    assert app_dir.app(debug=True).debug is True


def test_debug_in_development_is_fine(app_dir: AppDir) -> None:
    app = app_dir.app(debug=True)
    assert get_state(app).environment == "development"


def test_invalid_environment_name_is_reported(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODREADY_ENV", "prod;rm -rf")
    with pytest.raises(ConfigError) as excinfo:
        app_dir.app()
    assert "PRODREADY_ENV" in problems_of(excinfo)


def test_keyword_overrides_win_over_every_source(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir.write("settings.toml", "[default]\nPRODREADY_DASHBOARD_URL_PREFIX = '/ops'\n")
    monkeypatch.setenv("FLASK_PRODREADY_DASHBOARD_URL_PREFIX", "/admin")
    app = app_dir.app(dashboard_url_prefix="/status")
    assert get_state(app).setting("PRODREADY_DASHBOARD_URL_PREFIX") == "/status"
    assert get_state(app).settings.sources("PRODREADY_DASHBOARD_URL_PREFIX")[0] == (
        "keyword argument"
    )


def test_custom_settings_files_relative_to_the_app(app_dir: AppDir) -> None:
    (app_dir.root / "conf").mkdir()
    app_dir.write("conf/app.toml", "[default]\nNAME = 'custom'\n")
    app_dir.write("settings.toml", "[default]\nNAME = 'ignored'\n")
    assert app_dir.app(settings_files=["conf/app.toml"]).config["NAME"] == "custom"


def test_config_loading_can_be_switched_off(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir.write("settings.toml", "[default]\nNAME = 'file'\n")
    monkeypatch.setenv("FLASK_NAME", "env")
    app = app_dir.flask()
    app.config["NAME"] = "code"
    app.config["PRODREADY_DASHBOARD_ENABLED"] = "no"
    from flask_prodready import ProdReady

    ProdReady(app, config_enabled=False)
    assert app.config["NAME"] == "code"
    assert get_state(app).setting("PRODREADY_DASHBOARD_ENABLED") is False
    assert "NAME" not in os.environ or os.environ["FLASK_NAME"] == "env"


def test_switched_off_config_is_still_validated(app_dir: AppDir) -> None:
    app = app_dir.flask()
    app.config["PRODREADY_DASHBOARD_URL_PREFIX"] = 3
    from flask_prodready import ProdReady

    with pytest.raises(ConfigError) as excinfo:
        ProdReady(app, config_enabled=False)
    assert "PRODREADY_DASHBOARD_URL_PREFIX" in problems_of(excinfo)
    assert "in app.config before init_app" in problems_of(excinfo)["PRODREADY_DASHBOARD_URL_PREFIX"]


def test_requests_read_a_plain_flask_config_not_dynaconf(app_dir: AppDir) -> None:
    from flask import Config

    app_dir.write("settings.toml", "[default]\nNAME = 'file'\n[default.cache]\nhost = 'redis'\n")
    app = app_dir.app()
    assert type(app.config) is Config
    assert app.config["CACHE"] == {"host": "redis"}
    assert type(app.config["CACHE"]) is dict
    assert not any(key.endswith("_FOR_DYNACONF") for key in app.config)
    assert app.dynaconf.get("NAME") == "file", "dynaconf stays reachable for inspection"


def test_values_the_app_set_before_init_app_sit_below_files_and_variables(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask_prodready import ProdReady

    app_dir.write("settings.toml", "[default]\nFROM_FILE = 'file'\n")
    monkeypatch.setenv("FLASK_FROM_ENV", "env")
    app = app_dir.flask()
    app.config.update(
        PRODREADY_DASHBOARD_URL_PREFIX="/ops",
        PAGE_SIZE=50,
        FROM_FILE="code",
        FROM_ENV="code",
    )
    ProdReady(app, validators=[Validator("PAGE_SIZE", default=20, is_type_of=int)])
    assert get_state(app).setting("PRODREADY_DASHBOARD_URL_PREFIX") == "/ops"
    assert app.config["PAGE_SIZE"] == 50, "a validator default never beats a value the app set"
    assert (app.config["FROM_FILE"], app.config["FROM_ENV"]) == ("file", "env")
    assert get_state(app).settings.sources("PAGE_SIZE") == ["app code (app.config)"]


def test_prodready_env_may_come_from_dotenv(app_dir: AppDir) -> None:
    app_dir.write(".env", "PRODREADY_ENV=staging\n")
    app_dir.write("settings.toml", "[default]\nCOLOUR = 'grey'\n[staging]\nCOLOUR = 'amber'\n")
    app = app_dir.app()
    assert get_state(app).environment == "staging"
    assert app.config["COLOUR"] == "amber"


def test_combined_validators_are_checked_and_reported(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    either = Validator("DATABASE_URL", must_exist=True) | Validator(
        "DATABASE_HOST", must_exist=True
    )
    monkeypatch.setenv("FLASK_DATABASE_HOST", "db")
    assert app_dir.app(validators=[either]).config["DATABASE_HOST"] == "db"
    monkeypatch.delenv("FLASK_DATABASE_HOST")
    with pytest.raises(ConfigError) as excinfo:
        app_dir.app(validators=[either, Validator("NAME", is_type_of=str)])
    (problem,) = excinfo.value.problems
    assert problem.key == "DATABASE_HOST / DATABASE_URL"
    assert problem.problem == (
        "the combined validator failed: expected one of: DATABASE_URL is set; DATABASE_HOST is set"
    )


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity", float("nan"), float("inf")])
def test_numbers_must_be_finite(value: object) -> None:
    from flask_prodready.settings import FLOAT

    assert FLOAT("0.5") == 0.5
    with pytest.raises(ValueError, match=r"nan|inf|Infinity"):
        FLOAT(value)
