"""The extension object: app factory, several apps in one process, state and parts."""

from __future__ import annotations

import pytest
from dynaconf import Validator
from flask import Flask

from flask_prodready import ConfigError, NotInitialisedError, ProdReady, SetupError, get_state
from flask_prodready.extension import EXTENSION_KEY, PARTS

from .support.apps import AppDir


def test_factory_pattern_sets_state_in_app_extensions(app_dir: AppDir) -> None:
    prodready = ProdReady()
    app = app_dir.flask()
    prodready.init_app(app)
    state = app.extensions[EXTENSION_KEY]
    assert state is get_state(app)
    assert state.extension is prodready
    assert state.parts == (
        "request_id",
        "logs",
        "errors",
        "metrics",
        "health",
        "profiling",
        "jobs",
        "outgoing",
        "dashboard",
        "alerts",
    )
    assert not any(isinstance(v, Flask) for v in vars(prodready).values()), "no app on self"


def test_one_extension_serves_two_apps_with_their_own_settings(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    prodready = ProdReady(validators=[Validator("NAME", must_exist=True)])
    apps = []
    for name in ("first", "second"):
        root = tmp_path_factory.mktemp(name)
        (root / "settings.toml").write_text(
            f"[default]\nNAME = '{name}'\nPRODREADY_DASHBOARD_URL_PREFIX = '/_{name}'\n"
            "PRODREADY_DASHBOARD_AUTHORISER = 'builtins:object'\n"  # object() is truthy: open
        )
        app = Flask(name, root_path=str(root))
        prodready.init_app(app)
        apps.append(app)
    first, second = apps
    assert (first.config["NAME"], second.config["NAME"]) == ("first", "second")
    assert first.test_client().get("/_first/").status_code == 200
    assert first.test_client().get("/_second/").status_code == 404
    assert second.test_client().get("/_second/").status_code == 200
    with first.app_context():
        assert get_state().settings.values["PRODREADY_DASHBOARD_URL_PREFIX"] == "/_first"


def test_second_init_app_on_one_app_is_refused(app_dir: AppDir) -> None:
    prodready = ProdReady()
    app = app_dir.flask()
    prodready.init_app(app)
    with pytest.raises(SetupError, match="already set up on the app") as excinfo:
        prodready.init_app(app)
    assert isinstance(excinfo.value, RuntimeError)
    with pytest.raises(SetupError):
        ProdReady(app)


def test_failed_init_app_leaves_no_state_and_can_be_retried(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_dir.flask()
    monkeypatch.setenv("FLASK_PRODREADY_DASHBOARD_ENABLED", "perhaps")
    with pytest.raises(ConfigError):
        ProdReady(app)
    assert EXTENSION_KEY not in app.extensions
    monkeypatch.setenv("FLASK_PRODREADY_DASHBOARD_ENABLED", "off")
    ProdReady(app)
    assert "dashboard" not in get_state(app).parts


def test_state_of_an_app_without_the_extension_names_the_fix() -> None:
    app = Flask("bare")
    with pytest.raises(NotInitialisedError, match=r"Did you forget to call ProdReady\(app\)"):
        get_state(app)
    with app.app_context(), pytest.raises(NotInitialisedError):
        get_state()


def test_unknown_override_is_a_type_error_with_a_suggestion() -> None:
    with pytest.raises(TypeError, match="did you mean dashboard_enabled"):
        ProdReady(dashbord_enabled=False)


def test_overrides_accept_short_and_full_names(app_dir: AppDir) -> None:
    app = app_dir.app(PRODREADY_DASHBOARD_ENABLED=False, metrics_enabled=False)
    assert "dashboard" not in get_state(app).parts
    assert "metrics" not in get_state(app).parts
    assert ProdReady(dashboard_enabled=False).overrides == {"PRODREADY_DASHBOARD_ENABLED": False}


def test_validators_must_be_dynaconf_validators() -> None:
    with pytest.raises(TypeError, match="dynaconf Validator"):
        ProdReady(validators=["DATABASE_URL"])  # type: ignore[list-item]


def test_each_part_has_a_boolean_setting_and_a_loadable_init() -> None:
    from flask_prodready.settings import BOOL, setting

    for part in PARTS:
        assert setting(part.setting).cast is BOOL
        assert callable(part.load())


def test_parts_follow_the_documented_order() -> None:
    documented = (
        "config",
        "request_id",
        "logs",
        "errors",
        "metrics",
        "health",
        "profiling",
        "json",
        "jobs",
        "outgoing",
        "dashboard",
        "alerts",
    )
    names = [part.name for part in PARTS]
    assert names == sorted(names, key=documented.index)


def test_switched_off_part_registers_nothing(app_dir: AppDir) -> None:
    app = app_dir.app(dashboard_enabled=False)
    assert "prodready_dashboard" not in app.blueprints
    assert app.test_client().get("/_prod/").status_code == 404


def test_init_app_registers_the_cli_group(app_dir: AppDir) -> None:
    app = app_dir.app()
    assert "prodready" in app.cli.commands
