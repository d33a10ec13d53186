"""The app's release: read from a setting, a platform's variable or the package, shown alike.

Modules: flask_prodready.release
"""

from __future__ import annotations

import json
import os
import re
import time
from importlib import metadata
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from dashboard.sync import INSTANCE_PREFIX
from flask_prodready import get_state
from flask_prodready.introspection import introspect
from flask_prodready.metrics import APP_INFO
from flask_prodready.release import RELEASE_VARIABLES, UNKNOWN_RELEASE, Release, find_release

from .support.apps import AppDir


def app_info_version(app: Flask) -> str:
    body = app.test_client().get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(body):
        if family.name == APP_INFO:
            (sample,) = family.samples
            return sample.labels["version"]
    raise AssertionError(f"no {APP_INFO} in /metrics")


def test_the_setting_comes_first_then_the_older_setting() -> None:
    environ = {"RENDER_GIT_COMMIT": "abc123"}
    both = {"PRODREADY_RELEASE": "2.4.1", "PRODREADY_METRICS_APP_VERSION": "1.0"}
    assert find_release("shop", both, environ) == Release("2.4.1", "setting PRODREADY_RELEASE")
    older = {"PRODREADY_RELEASE": None, "PRODREADY_METRICS_APP_VERSION": "1.0"}
    assert find_release("shop", older, environ) == Release(
        "1.0", "setting PRODREADY_METRICS_APP_VERSION"
    )


def test_platform_variables_are_read_in_their_documented_order() -> None:
    environ = {name: f"from-{name}" for name in RELEASE_VARIABLES}
    for name in RELEASE_VARIABLES:
        assert find_release("shop", {}, environ) == Release(
            f"from-{name}", f"environment variable {name}"
        )
        del environ[name]
    deploying = (Path(__file__).parent.parent / "docs" / "deploying.md").read_text()
    listed = deploying.split("## Releases", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"`([A-Z][A-Z0-9_]+)`", listed.split("3. ", 1)[1].split("4. ", 1)[0]) == (
        list(RELEASE_VARIABLES)
    ), "docs/deploying.md lists the variables in the order they are read"


def test_variables_of_a_build_or_a_ci_job_are_not_a_release() -> None:
    # They are missing in production, and would name a release in the app's own tests.
    environ = {"GITHUB_SHA": "beef", "SOURCE_VERSION": "f00d", "CI_COMMIT_SHA": "cafe"}
    assert find_release("shop", {}, environ) == Release(UNKNOWN_RELEASE, "none")


def test_the_package_metadata_then_unknown() -> None:
    assert find_release("pytest.plugin", {}, {}) == Release(
        metadata.version("pytest"), "package metadata of pytest"
    )
    assert find_release("no_such_distribution_here", {}, {}) == Release(UNKNOWN_RELEASE, "none")
    assert find_release("__main__", {}, {}).version == UNKNOWN_RELEASE


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  v2\n", "v2"),
        ("v2\nnot=a label\x1b[31m", "v2 not=a label [31m"),
        ("a \x00 b", "a b"),
        ("x" * 99 + " y", "x" * 99),
        ("x" * 500, "x" * 100),
    ],
)
def test_a_release_is_one_printable_line_of_at_most_100_characters(
    value: str, expected: str
) -> None:
    assert find_release("shop", {}, {"RENDER_GIT_COMMIT": value}).version == expected


def test_a_blank_value_falls_through_to_the_next_source() -> None:
    found = find_release(
        "shop", {"PRODREADY_RELEASE": "  "}, {"SENTRY_RELEASE": " \t", "RENDER_GIT_COMMIT": "beef"}
    )
    assert found == Release("beef", "environment variable RENDER_GIT_COMMIT")


def test_metrics_dashboard_and_config_show_the_same_release(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RENDER_GIT_COMMIT", "0a1b2c3d")
    monkeypatch.setenv("PRODREADY_ENV", "development")
    app = app_dir.app(error_store="memory")
    assert get_state(app).release == Release("0a1b2c3d", "environment variable RENDER_GIT_COMMIT")
    assert app_info_version(app) == "0a1b2c3d"
    client = app.test_client()
    client.get("/metrics")
    overview = client.get("/_prod/").get_data(as_text=True)
    assert f"<td>{os.getpid()}</td><td>0a1b2c3d</td>" in overview.replace(' class="num"', "")
    result = app.test_cli_runner().invoke(args=["prodready", "config", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["release"] == {
        "version": "0a1b2c3d",
        "source": "environment variable RENDER_GIT_COMMIT",
    }
    text = app.test_cli_runner().invoke(args=["prodready", "config"]).output
    assert "release: 0a1b2c3d  (environment variable RENDER_GIT_COMMIT)" in text


def test_the_prefixed_setting_wins_over_a_platform_variable(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RENDER_GIT_COMMIT", "0a1b2c3d")
    monkeypatch.setenv("FLASK_PRODREADY_RELEASE", "2026.12.1")
    app = app_dir.app(error_store="memory", dashboard_enabled=False)
    assert app_info_version(app) == "2026.12.1"
    assert get_state(app).release.source == (
        "setting PRODREADY_RELEASE from environment variable FLASK_PRODREADY_RELEASE"
    )
    # Digits only, or what TOML would read as a number: a short git SHA stays text.
    monkeypatch.setenv("FLASK_PRODREADY_RELEASE", "12e4567")
    assert app_info_version(app_dir.app(error_store="memory", dashboard_enabled=False)) == (
        "12e4567"
    )


def test_without_any_source_the_release_is_unknown_everywhere(app_dir: AppDir) -> None:
    app = app_dir.app(error_store="memory", dashboard_enabled=False)
    assert get_state(app).release == Release(UNKNOWN_RELEASE, "none")
    assert app_info_version(app) == UNKNOWN_RELEASE


def test_a_release_from_a_settings_file_or_a_keyword(app_dir: AppDir) -> None:
    path = app_dir.write("settings.toml", "[default]\nPRODREADY_RELEASE = '3.0.0rc1'\n")
    app = app_dir.app(error_store="memory", dashboard_enabled=False)
    assert app_info_version(app) == "3.0.0rc1"
    assert introspect(app).release == "3.0.0rc1"
    assert introspect(app).release_source == f"setting PRODREADY_RELEASE from {path} [default]"
    keyword = app_dir.app(error_store="memory", dashboard_enabled=False, release="3.0.0")
    assert introspect(keyword).release == "3.0.0"
    assert introspect(keyword).release_source == "setting PRODREADY_RELEASE from keyword argument"


def test_the_instances_table_shows_each_instance_s_own_release_escaped(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODREADY_ENV", "development")
    app = app_dir.app(error_store_path=str(app_dir.root / "errors.sqlite3"), release="1.1")
    store = get_state(app).error_store
    assert store is not None
    # A worker still on the earlier release, sharing the store, has sent its heartbeat.
    older = {"host": "web-2", "pid": 4242, "version": "1.0 <b>old</b>"}
    now = time.time()
    store.set_value(
        f"{INSTANCE_PREFIX}web-2:4242", json.dumps({**older, "started": now - 60, "heartbeat": now})
    )
    client = app.test_client()
    client.get("/metrics")
    overview = client.get("/_prod/").get_data(as_text=True).replace(' class="num"', "")
    assert f"<td>{os.getpid()}</td><td>1.1</td>" in overview
    assert "<td>4242</td><td>1.0 &lt;b&gt;old&lt;/b&gt;</td>" in overview


def test_an_empty_release_variable_as_an_image_without_the_build_arg_sets_it(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The generated Dockerfile sets FLASK_PRODREADY_RELEASE="" when built without RELEASE.
    monkeypatch.setenv("FLASK_PRODREADY_RELEASE", "")
    monkeypatch.setenv("K_REVISION", "shop-00042")
    app = app_dir.app(error_store="memory", dashboard_enabled=False)
    assert get_state(app).release == Release("shop-00042", "environment variable K_REVISION")
