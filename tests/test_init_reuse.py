"""Set-up reused across apps: the settings memo, lazy URL builders and the kept log sink.

A process that builds many apps (a test suite, an app per test) pays for each ``init_app``
less than for the first: a settings load with the same inputs is remembered, our rules compile
their URL builders on first use, and a log sink of the same shape is kept. None of this may
show: every app must see exactly what a fresh load and plain rules would give it.

Covers ``flask_prodready.settings_memo``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dynaconf import Validator
from flask import Flask, url_for
from loguru import logger
from werkzeug.routing import Rule

from flask_prodready import ConfigError, ProdReady, get_state, logs
from flask_prodready.cli import settings_rows
from flask_prodready.settings import loading
from flask_prodready.settings import memo as settings_memo

READYZ = "prodready_health.readyz"
METRICS = "prodready_metrics"
DASHBOARD = "prodready_dashboard.index"
# Our parts that add rules, each through lazy_url_builders.
RULE_MODULES = ("flask_prodready.health", "flask_prodready.metrics", "flask_prodready.dashboard")


@pytest.fixture(autouse=True)
def _fresh_memo() -> Iterator[None]:
    """Each test starts and ends with no remembered settings load."""
    settings_memo.clear()
    yield
    settings_memo.clear()


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The root path of every app whose settings were loaded through dynaconf (a memo miss)."""
    calls: list[str] = []
    original = loading._install_dynaconf

    def counting(app: Flask, loaded: Any, problems: Any) -> Any:
        calls.append(app.root_path)
        return original(app, loaded, problems)

    monkeypatch.setattr(loading, "_install_dynaconf", counting)
    return calls


def make_app(
    root: Path,
    *,
    config: dict[str, Any] | None = None,
    testing: bool = True,
    app_class: type[Flask] = Flask,
    **kwargs: Any,
) -> Flask:
    """A Flask app in ``root`` with ``config`` set before ``ProdReady(app, **kwargs)``."""
    app = app_class("t", root_path=str(root), instance_path=str(root / "instance"))
    if testing:
        app.config["TESTING"] = True
    app.config.update(config or {})
    ProdReady(app, **kwargs)
    return app


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def prodready_config(app: Flask) -> dict[str, Any]:
    return {key: value for key, value in app.config.items() if key.startswith("PRODREADY_")}


# Settings memo


def test_a_second_app_from_the_same_inputs_is_set_up_without_loading_again(
    tmp_path: Path, loads: list[str]
) -> None:
    write(tmp_path / "settings.toml", '[default]\nGREETING = "hello"\nPORT = 8000\n')
    first = make_app(tmp_path)
    second = make_app(tmp_path)
    assert len(loads) == 1, "the second app was set up from the remembered load"
    assert prodready_config(second) == prodready_config(first)
    assert get_state(second).settings.values == get_state(first).settings.values
    assert (second.config["GREETING"], second.config["PORT"]) == ("hello", 8000)
    assert second.config is not first.config
    assert first.dynaconf is not None
    assert second.dynaconf is first.dynaconf
    assert second.dynaconf.get("GREETING") == "hello"


def test_a_rewritten_settings_file_of_the_same_size_and_time_is_read_again(
    tmp_path: Path, loads: list[str]
) -> None:
    path = write(tmp_path / "settings.toml", '[default]\nGREETING = "aaa"\n')
    before = os.stat(path)
    assert make_app(tmp_path).config["GREETING"] == "aaa"
    write(path, '[default]\nGREETING = "bbb"\n')
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(path).st_size == before.st_size
    assert make_app(tmp_path).config["GREETING"] == "bbb"
    assert len(loads) == 2


def test_an_environment_variable_set_or_unset_between_apps_is_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loads: list[str]
) -> None:
    name = "PRODREADY_SLOW_REQUEST_MS"

    def slow_ms() -> float:
        app = make_app(tmp_path)
        assert app.config[name] == get_state(app).setting(name)
        value: float = get_state(app).setting(name)
        return value

    assert slow_ms() == 1000.0
    monkeypatch.setenv(f"FLASK_{name}", "250")
    assert slow_ms() == 250.0
    monkeypatch.delenv(f"FLASK_{name}")
    assert slow_ms() == 1000.0
    assert len(loads) == 2, "back to the first inputs: the first load is reused"


def test_what_the_app_put_in_its_config_before_init_is_part_of_the_inputs(
    tmp_path: Path, loads: list[str]
) -> None:
    debug = make_app(tmp_path, config={"PRODREADY_LOG_LEVEL": "DEBUG"})
    plain = make_app(tmp_path)
    again = make_app(tmp_path, config={"PRODREADY_LOG_LEVEL": "DEBUG"})
    assert get_state(debug).setting("PRODREADY_LOG_LEVEL") == "DEBUG"
    assert get_state(plain).setting("PRODREADY_LOG_LEVEL") == "INFO"
    assert plain.config["PRODREADY_LOG_LEVEL"] == "INFO"
    assert get_state(again).setting("PRODREADY_LOG_LEVEL") == "DEBUG"
    assert len(loads) == 2


def test_each_app_owns_the_dicts_and_lists_of_its_config(tmp_path: Path, loads: list[str]) -> None:
    write(
        tmp_path / "settings.toml",
        '[default]\nTAGS = ["x"]\n[default.SOME_TABLE]\na = 1\n',
    )

    def meddle(app: Flask) -> None:
        app.config["SOME_TABLE"]["a"] = 99
        app.config["SOME_TABLE"]["added"] = True
        app.config["TAGS"].append("y")
        app.config["PRODREADY_LOG_LEVELS"]["shop"] = "DEBUG"

    first = make_app(tmp_path)
    meddle(first)
    second = make_app(tmp_path)
    assert second.config["SOME_TABLE"] == {"a": 1}
    assert second.config["TAGS"] == ["x"]
    assert second.config["PRODREADY_LOG_LEVELS"] == {}
    assert get_state(second).setting("PRODREADY_LOG_LEVELS") == {}
    meddle(second)
    third = make_app(tmp_path)
    assert third.config["SOME_TABLE"] == {"a": 1}
    assert third.config["TAGS"] == ["x"]
    assert get_state(third).setting("PRODREADY_LOG_LEVELS") == {}
    assert first.config["SOME_TABLE"] == {"a": 99, "added": True}, "meddling stays in its app"
    assert len(loads) == 1


def test_a_dict_the_app_changes_after_init_does_not_change_what_is_remembered(
    tmp_path: Path, loads: list[str]
) -> None:
    own = {"a": 1}
    first = make_app(tmp_path, config={"OWN": own})
    own["a"] = 2
    assert first.config["OWN"] == {"a": 1}
    assert make_app(tmp_path, config={"OWN": {"a": 1}}).config["OWN"] == {"a": 1}
    assert len(loads) == 1
    assert make_app(tmp_path, config={"OWN": own}).config["OWN"] == {"a": 2}
    assert len(loads) == 2


class Client:
    """An object that says it is equal to another of the same name, whatever its state."""

    def __init__(self, name: str, connections: int) -> None:
        self.name = name
        self.connections = connections

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Client) and other.name == self.name

    __hash__ = None  # type: ignore[assignment]


def test_an_app_holding_any_other_object_in_its_config_is_always_loaded(
    tmp_path: Path, loads: list[str]
) -> None:
    write(tmp_path / "settings.toml", '[default]\nGREETING = "hello"\n')
    one, two = Client("db", 1), Client("db", 2)
    first = make_app(tmp_path, config={"CLIENT": one})
    second = make_app(tmp_path, config={"CLIENT": two})
    third = make_app(tmp_path, config={"CLIENT": two})
    assert len(loads) == 3
    assert first.config["CLIENT"].connections == 1
    assert second.config["CLIENT"].connections == 2
    assert third.config["CLIENT"].connections == 2
    assert third.config["GREETING"] == "hello"


def test_a_change_to_a_file_dynaconf_included_is_seen(tmp_path: Path, loads: list[str]) -> None:
    write(tmp_path / "settings.toml", '[default]\ndynaconf_include = ["extra.toml"]\nA = 1\n')
    extra = write(tmp_path / "extra.toml", '[default]\nB = "one"\n')
    assert make_app(tmp_path).config["B"] == "one"
    write(extra, '[default]\nB = "two"\n')
    second = make_app(tmp_path)
    assert (second.config["A"], second.config["B"]) == (1, "two")
    write(tmp_path / "more.toml", '[default]\nC = "new"\n')  # an include created later
    write(tmp_path / "settings.toml", '[default]\ndynaconf_include = ["extra.toml", "more.toml"]\n')
    assert make_app(tmp_path).config["C"] == "new"
    assert len(loads) == 3, "a load with includes is never reused"


def test_settings_files_named_by_a_pattern_are_looked_for_again(
    tmp_path: Path, loads: list[str]
) -> None:
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf" / "a.toml", "[default]\nA = 1\n")
    assert make_app(tmp_path, settings_files=["conf/*.toml"]).config["A"] == 1
    write(tmp_path / "conf" / "b.toml", "[default]\nB = 2\n")
    assert make_app(tmp_path, settings_files=["conf/*.toml"]).config["B"] == 2
    assert len(loads) == 2


@pytest.mark.parametrize(
    ("first", "then"),
    [(1, True), (True, 1), (1, 1.0), ({"a": 1, "b": 2}, {"b": 2, "a": 1}), ({1}, frozenset({1}))],
)
def test_equal_values_of_another_type_or_order_are_other_inputs(
    tmp_path: Path, first: Any, then: Any
) -> None:
    make_app(tmp_path, config={"FEATURE": first})
    value = make_app(tmp_path, config={"FEATURE": then}).config["FEATURE"]
    assert type(value) is type(then)
    assert value == then
    if isinstance(then, dict):
        assert list(value) == list(then)


def test_a_validator_computing_its_default_computes_it_for_each_app(tmp_path: Path) -> None:
    counter = iter(range(100))
    validators = [Validator("INSTANCE", default=lambda settings, validator: next(counter))]
    seen = [make_app(tmp_path, validators=validators).config["INSTANCE"] for _ in range(3)]
    assert seen == [0, 1, 2]


def test_a_failed_load_is_not_remembered(tmp_path: Path, loads: list[str]) -> None:
    path = write(tmp_path / "settings.toml", '[default]\nPRODREADY_SLOW_REQUEST_MS = "soon"\n')
    with pytest.raises(ConfigError) as first:
        make_app(tmp_path)
    with pytest.raises(ConfigError) as second:
        make_app(tmp_path)
    assert [p.key for p in second.value.problems] == ["PRODREADY_SLOW_REQUEST_MS"]
    assert "'soon'" in str(second.value)
    assert str(second.value) == str(first.value)
    assert len(loads) == 2
    write(path, "[default]\nPRODREADY_SLOW_REQUEST_MS = 5\n")
    assert get_state(make_app(tmp_path)).setting("PRODREADY_SLOW_REQUEST_MS") == 5.0


def test_the_apps_validators_run_again_for_a_remembered_load(
    tmp_path: Path, loads: list[str]
) -> None:
    write(tmp_path / "settings.toml", '[default]\nGREETING = "hello"\n')
    gate = {"open": True}

    def gate_is_open(value: Any) -> bool:
        return gate["open"]

    validators = [Validator("GREETING", condition=gate_is_open)]
    assert make_app(tmp_path, validators=validators).config["GREETING"] == "hello"
    gate["open"] = False
    with pytest.raises(ConfigError) as failed:
        make_app(tmp_path, validators=validators)
    assert [p.key for p in failed.value.problems] == ["GREETING"]
    assert "gate_is_open" in str(failed.value)
    gate["open"] = True
    assert make_app(tmp_path, validators=validators).config["GREETING"] == "hello"
    assert len(loads) == 1, "every app after the first was a memo hit"


def test_sources_are_right_for_an_app_set_up_from_a_remembered_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loads: list[str]
) -> None:
    write(tmp_path / "settings.toml", '[default]\nGREETING = "hello"\n')
    monkeypatch.setenv("FLASK_PORT", "9000")
    apps = [make_app(tmp_path), make_app(tmp_path)]
    assert len(loads) == 1
    from_file = f"{tmp_path / 'settings.toml'} [default]"
    for app in apps:
        rows = {key: (value, source) for key, value, source in settings_rows(app)}
        assert rows["GREETING"] == ("hello", from_file)
        assert rows["PORT"] == (9000, "environment variable FLASK_PORT")
        assert rows["PRODREADY_DASHBOARD_ENABLED"] == (True, "default")
        assert get_state(app).settings.where_set("GREETING") == f"it is set by {from_file}"
    result = apps[1].test_cli_runner().invoke(args=["prodready", "config", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["settings"]["GREETING"] == {"value": "hello", "source": from_file}


# Lazy URL builders


def our_rules(app: Flask) -> list[Rule]:
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("prodready_")]


SAMPLE_VALUES = {"fingerprint": "abc123", "profile_id": "p-1", "filename": "prodready/app.css"}


def built_urls(app: Flask) -> dict[str, list[str]]:
    """Every URL ``url_for`` builds for our endpoints: plain, with a query and external."""
    urls: dict[str, list[str]] = {}
    with app.test_request_context():
        for rule in our_rules(app):
            values: dict[str, Any] = {name: SAMPLE_VALUES[name] for name in rule.arguments}
            urls[rule.endpoint] = [
                url_for(rule.endpoint, **values),
                url_for(rule.endpoint, **values, page=2, q="a b"),
                url_for(rule.endpoint, **values, _external=True),
            ]
    return urls


def test_our_rules_build_the_urls_plain_rules_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lazy = make_app(tmp_path, dashboard_token="letmein")
    for name in RULE_MODULES:
        monkeypatch.setattr(
            importlib.import_module(name), "lazy_url_builders", lambda app: contextlib.nullcontext()
        )
    plain = make_app(tmp_path, dashboard_token="letmein")
    assert all(type(rule) is Rule for rule in our_rules(plain))
    assert all(type(rule) is not Rule for rule in our_rules(lazy)), "the rules are lazy"
    assert {READYZ, METRICS, DASHBOARD} <= {rule.endpoint for rule in our_rules(lazy)}
    assert built_urls(lazy) == built_urls(plain)
    with lazy.test_request_context():
        assert url_for(READYZ) == "/readyz"
        assert url_for(METRICS) == "/metrics"
        assert url_for(DASHBOARD) == "/_prod/"
    assert sorted(map(repr, lazy.url_map.iter_rules())) == sorted(
        map(repr, plain.url_map.iter_rules())
    )
    readyz = next(lazy.url_map.iter_rules(READYZ))
    assert type(readyz).__name__ == "Rule"
    assert repr(readyz).startswith("<Rule '/readyz' (")
    assert isinstance(readyz, Rule)


def test_the_apps_rule_class_is_left_as_it_was(tmp_path: Path) -> None:
    app = make_app(tmp_path, dashboard_token="letmein")
    assert app.url_rule_class is Flask.url_rule_class
    assert "url_rule_class" not in app.__dict__

    @app.get("/mine")
    def mine() -> str:
        return "mine"

    assert type(next(app.url_map.iter_rules("mine"))) is Flask.url_rule_class
    assert app.test_client().get("/mine").text == "mine"


class TaggedRule(Rule):
    """An app's own rule class."""


class TaggedFlask(Flask):
    url_rule_class = TaggedRule


@pytest.mark.parametrize("where", ["class", "instance"])
def test_an_apps_own_rule_class_is_kept_and_extended_by_our_rules(
    tmp_path: Path, where: str
) -> None:
    app = Flask("t", root_path=str(tmp_path), instance_path=str(tmp_path / "instance"))
    if where == "class":
        app = TaggedFlask("t", root_path=str(tmp_path), instance_path=str(tmp_path / "instance"))
    else:
        app.url_rule_class = TaggedRule
    app.config["TESTING"] = True
    ProdReady(app, dashboard_token="letmein")
    assert app.url_rule_class is TaggedRule
    assert ("url_rule_class" in app.__dict__) == (where == "instance")
    rules = our_rules(app)
    assert rules
    assert all(isinstance(rule, TaggedRule) for rule in rules)
    assert all(type(rule).__name__ == "TaggedRule" for rule in rules)

    @app.get("/mine")
    def mine() -> str:
        return "mine"

    assert type(next(app.url_map.iter_rules("mine"))) is TaggedRule
    with app.test_request_context():
        assert url_for(READYZ, verbose=1) == "/readyz?verbose=1"


def test_nested_lazy_blocks_keep_one_lazy_class(tmp_path: Path) -> None:
    from flask_prodready.routes import lazy_url_builders

    app = Flask("t", root_path=str(tmp_path))
    with lazy_url_builders(app):
        outer = app.url_rule_class
        with lazy_url_builders(app):
            assert app.url_rule_class is outer
            app.add_url_rule("/inner", "inner", lambda: "inner")
        assert app.url_rule_class is outer
    assert app.url_rule_class is Flask.url_rule_class
    with app.test_request_context():
        assert url_for("inner") == "/inner"


def test_lazy_rules_answer_requests_and_build_urls_with_query_arguments(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path, dashboard_token="letmein")
    client = app.test_client()
    assert client.get("/livez").status_code == 200
    assert client.get("/metrics").status_code == 200
    with app.test_request_context():
        assert url_for(READYZ, verbose=1) == "/readyz?verbose=1"
        assert url_for(READYZ) == "/readyz"
        assert url_for(METRICS, _external=True) == "http://localhost/metrics"
        assert url_for("prodready_dashboard.error", fingerprint="a b") == "/_prod/errors/a%20b"
    assert client.get("/readyz").status_code == 200


# Sink reuse: the autouse fixture of conftest (reset_logging) removes every sink afterwards.


def stdout_messages(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [json.loads(line)["message"] for line in capsys.readouterr().out.splitlines() if line]


def production_app(root: Path, config: dict[str, Any] | None = None) -> Flask:
    return make_app(
        root, config=config, testing=False, dashboard_enabled=False, error_store="memory"
    )


def test_a_sink_of_the_same_shape_is_kept_with_the_new_apps_levels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    production_app(tmp_path)
    assert logs._installed is not None
    handler_id = logs._installed.handler_id
    capsys.readouterr()
    logger.info("info from the first app")
    assert stdout_messages(capsys) == ["info from the first app"]
    production_app(tmp_path, {"PRODREADY_LOG_LEVEL": "WARNING"})
    assert logs._installed.handler_id == handler_id
    capsys.readouterr()
    logger.info("dropped")
    logger.warning("kept")
    assert stdout_messages(capsys) == ["kept"]


def test_a_new_format_replaces_the_sink(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    production_app(tmp_path)
    assert logs._installed is not None
    handler_id = logs._installed.handler_id
    production_app(tmp_path, {"PRODREADY_LOG_FORMAT": "pretty"})
    assert logs._installed.handler_id != handler_id
    capsys.readouterr()
    logger.warning("a pretty line")
    output = capsys.readouterr().out
    assert output.count("a pretty line") == 1, "one sink only"
    with pytest.raises(json.JSONDecodeError):
        json.loads(output.splitlines()[0])


def test_a_sink_removed_from_loguru_is_installed_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    production_app(tmp_path)
    logger.remove()
    production_app(tmp_path)
    capsys.readouterr()
    logger.info("back again")
    assert stdout_messages(capsys) == ["back again"]


def test_pytests_per_test_variable_does_not_defeat_reuse(
    tmp_path: Path, loads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "tests/a.py::one (call)")
    make_app(tmp_path)
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "tests/a.py::two (setup)")
    make_app(tmp_path)
    assert len(loads) == 1
