"""The app's own ``flask`` commands run as jobs (flask_prodready.jobs.commands): errors
recorded, duration and exit status in the metrics, output and exit status unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import FlaskGroup
from loguru import logger

from flask_prodready import ProdReady, get_state
from flask_prodready.jobs.run import exit_code_of
from flask_prodready.metrics.names import JOB_DURATION, JOB_LAST_EXIT_CODE, JOB_RUNS
from flask_prodready.store.sqlite import SQLiteErrorStore
from flask_prodready.testing import capture_logs

from .support.apps import AppDir

shared = click.Command("shared", callback=lambda: click.echo("shared ran"))


def add_commands(app: Flask) -> None:
    @app.cli.command("sync")
    def sync() -> None:
        logger.info("syncing")
        click.echo("synced")

    @app.cli.command("explode")
    def explode() -> None:
        logger.info("about to explode")
        raise RuntimeError("the import file is missing")

    @app.cli.command("quit")
    @click.argument("code", type=int)
    def quit_with(code: int) -> None:
        sys.exit(code)

    @app.cli.command("refuse")
    def refuse() -> None:
        raise click.ClickException("no such user")

    users = click.Group("users")

    @users.command("create")
    @click.option("--password")
    def create(password: str | None) -> None:
        raise ValueError("duplicate user")

    app.cli.add_command(users)
    app.cli.add_command(shared)


def make(app_dir: AppDir, **settings: object) -> Flask:
    app = app_dir.flask()
    add_commands(app)
    ProdReady(app, error_store="memory", **settings)
    return app


def flask_command(app: Flask) -> Callable[..., Result]:
    """``flask ARGS`` as the ``flask`` executable runs it, for ``app``."""
    group = FlaskGroup(create_app=lambda: app)

    def run(*args: str) -> Result:
        return CliRunner().invoke(group, list(args))

    return run


def split(output: str) -> tuple[list[str], list[dict[str, object]]]:
    """A command's own output, and the JSON log lines among it."""
    plain = [line for line in output.splitlines() if not line.startswith('{"ts"')]
    logged = [json.loads(line) for line in output.splitlines() if line.startswith('{"ts"')]
    return plain, logged


def runs(app: Flask, job: str, outcome: str) -> float:
    registry = get_state(app).metrics.registry  # type: ignore[union-attr]
    return registry.get_sample_value(JOB_RUNS, {"job": job, "outcome": outcome}) or 0.0


def exit_gauge(app: Flask, job: str) -> float | None:
    registry = get_state(app).metrics.registry  # type: ignore[union-attr]
    return registry.get_sample_value(JOB_LAST_EXIT_CODE, {"job": job})


def test_a_command_runs_as_a_job_with_its_output_unchanged(app_dir: AppDir) -> None:
    app = make(app_dir)
    with capture_logs() as lines:
        result = flask_command(app)("sync")
    assert result.exit_code == 0
    plain, logged = split(result.output)
    assert plain == ["synced"]
    assert [line["message"] for line in logged] == ["syncing"]  # no line of ours
    line = next(line for line in lines if line["message"] == "syncing")
    assert line["job"] == "flask sync"
    assert line["request_id"]
    assert runs(app, "flask sync", "success") == 1
    assert exit_gauge(app, "flask sync") == 0
    registry = get_state(app).metrics.registry  # type: ignore[union-attr]
    assert registry.get_sample_value(f"{JOB_DURATION}_count", {"job": "flask sync"}) == 1


def test_a_failing_command_is_recorded_and_fails_as_before(app_dir: AppDir) -> None:
    app = make(app_dir)
    plain = app_dir.flask()
    add_commands(plain)
    with_us, without = flask_command(app)("explode"), flask_command(plain)("explode")
    assert with_us.exit_code == without.exit_code == 1
    ours, theirs = split(with_us.output), split(without.output)
    assert ours[0] == theirs[0]
    assert [line["message"] for line in ours[1]] == [line["message"] for line in theirs[1]]
    assert type(with_us.exception) is type(without.exception) is RuntimeError
    store = get_state(app).error_store
    assert store is not None
    [group] = store.groups()
    assert (group.method, group.route) == ("JOB", "flask explode")
    [occurrence] = store.occurrences(group.fingerprint)
    assert any("about to explode" in line for line in occurrence.breadcrumbs)
    assert runs(app, "flask explode", "failure") == 1
    assert exit_gauge(app, "flask explode") == 1


@pytest.mark.parametrize(("code", "outcome"), [(0, "success"), (3, "failure")])
def test_an_exit_status_is_in_the_metrics_and_opens_no_group(
    app_dir: AppDir, code: int, outcome: str
) -> None:
    app = make(app_dir)
    result = flask_command(app)("quit", str(code))
    assert result.exit_code == code
    assert runs(app, "flask quit", outcome) == 1
    assert exit_gauge(app, "flask quit") == code
    store = get_state(app).error_store
    assert store is not None
    assert store.groups() == []


def test_a_usage_error_of_the_command_fails_the_run_without_a_group(app_dir: AppDir) -> None:
    app = make(app_dir)
    result = flask_command(app)("refuse")
    assert result.exit_code == 1
    assert "no such user" in result.output
    assert runs(app, "flask refuse", "failure") == 1
    assert get_state(app).error_store.groups() == []  # type: ignore[union-attr]


def test_a_subcommand_is_the_job_and_its_secret_options_are_redacted(app_dir: AppDir) -> None:
    app = make(app_dir)
    result = flask_command(app)("users", "create", "--password", "hunter2")
    assert isinstance(result.exception, ValueError)
    store = get_state(app).error_store
    assert store is not None
    [group] = store.groups()
    assert group.route == "flask users create"
    [occurrence] = store.occurrences(group.fingerprint)
    assert occurrence.context["arguments"]["kwargs"] == {"password": "***"}


def test_flask_s_own_commands_and_ours_are_not_jobs(app_dir: AppDir) -> None:
    app = make(app_dir)
    run = flask_command(app)
    assert run("routes").exit_code == 0
    assert run("prodready", "config", "--json").exit_code == 0
    registry = get_state(app).metrics.registry  # type: ignore[union-attr]
    assert (
        registry.get_sample_value(JOB_RUNS, {"job": "flask routes", "outcome": "success"}) is None
    )
    exposition, _ = get_state(app).metrics.exposition()  # type: ignore[union-attr]
    assert 'job="flask prodready' not in exposition


def test_a_command_shared_by_two_apps_reports_to_the_app_that_runs_it(app_dir: AppDir) -> None:
    first, second = make(app_dir), make(app_dir)
    assert flask_command(second)("shared").output == "shared ran\n"
    assert runs(second, "flask shared", "success") == 1
    assert runs(first, "flask shared", "success") == 0
    # and the command object itself is untouched
    assert "invoke" not in vars(shared)


def test_the_setting_turns_it_off(app_dir: AppDir) -> None:
    app = make(app_dir, jobs_cli=False)
    result = flask_command(app)("explode")
    assert isinstance(result.exception, RuntimeError)
    assert get_state(app).error_store.groups() == []  # type: ignore[union-attr]
    assert runs(app, "flask explode", "failure") == 0


def test_the_test_cli_runner_gives_the_same_output_and_result(app_dir: AppDir) -> None:
    app = make(app_dir)
    plain = app_dir.flask()
    add_commands(plain)
    for args in (["sync"], ["explode"], ["quit", "4"], ["refuse"]):
        with_us = app.test_cli_runner().invoke(args=args)
        without = plain.test_cli_runner().invoke(args=args)
        ours, theirs = split(with_us.output), split(without.output)
        assert ours[0] == theirs[0], args
        assert [line["message"] for line in ours[1]] == [line["message"] for line in theirs[1]]
        # The app's own lines gain the job's id and name, on purpose.
        assert all(line["job"] == f"flask {args[0]}" for line in ours[1]), args
        assert with_us.exit_code == without.exit_code, args
        assert type(with_us.exception) is type(without.exception), args


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (SystemExit(None), 0),
        (SystemExit("bye"), 1),
        (SystemExit(5), 5),
        (click.exceptions.Exit(2), 2),
        (click.UsageError("bad"), 2),
        (click.Abort(), 1),
        (KeyboardInterrupt(), 1),
        (RuntimeError("x"), 1),
    ],
)
def test_exit_codes_are_those_the_flask_command_ends_with(error: BaseException, code: int) -> None:
    assert exit_code_of(error) == code


def test_the_real_flask_command_records_a_failing_command(tmp_path: Path) -> None:
    (tmp_path / "tool.py").write_text(
        textwrap.dedent(
            """
            from flask import Flask
            from loguru import logger
            from flask_prodready import ProdReady

            app = Flask(__name__)
            ProdReady(app, error_store="sqlite", error_store_path="errors.sqlite3")

            @app.cli.command("import-orders")
            def import_orders():
                logger.info("importing")
                raise RuntimeError("orders.csv is missing")
            """
        )
    )
    env = {**os.environ, "FLASK_APP": "tool", "PRODREADY_ENV": "development"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    done = subprocess.run(
        [sys.executable, "-m", "flask", "import-orders"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "orders.csv is missing" in done.stderr
    store = SQLiteErrorStore(tmp_path / "errors.sqlite3")
    [group] = store.groups()
    assert group.route == "flask import-orders"
    assert group.method == "JOB"
    store.close()
