"""The ``flask prodready`` command group: ``config``, ``check``, ``health`` and ``init``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup, NoAppException, ScriptInfo

from .config_report import config_warnings as config_warnings
from .config_report import settings_rows as settings_rows
from .exceptions import ConfigError, ConfigProblem
from .introspection import introspect
from .settings import ENV_SWITCHER, secret_key_problem
from .state import get_state

__all__ = [
    "CommandLineConfigError",
    "config_warnings",
    "for_flask_command",
    "prodready_cli",
    "settings_rows",
]

#: The command group, registered on every app by ``init_app`` and as a Flask CLI plugin.
prodready_cli = AppGroup("prodready", help="Inspect and check flask-prodready's set-up.")


class CommandLineConfigError(ConfigError, click.ClickException):
    """The :class:`~flask_prodready.exceptions.ConfigError` that ``init_app`` raises while a
    ``flask`` command loads the app (``flask run``, ``flask routes``, the app's commands).

    click prints its message alone, in red on stderr, and the command exits with status 1:
    no traceback before the message. Elsewhere (gunicorn, tests, code) ``init_app`` raises
    a plain ``ConfigError``; this class is one too.

    .. versionadded:: 0.2
    """

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        """Print the message, as ``flask prodready check`` prints configuration problems."""
        click.secho(self.format_message(), file=file, err=file is None, fg="red")


class _ListingConfigError(CommandLineConfigError, NoAppException):
    """The error while ``flask --help`` lists the app's commands: flask prints the message of
    a ``NoAppException`` there, and the traceback of anything else."""


def for_flask_command(error: ConfigError) -> ConfigError:
    """``error`` as a :class:`CommandLineConfigError` while the ``flask`` command (a
    :class:`flask.cli.FlaskGroup`) runs, else ``error`` itself.

    .. versionadded:: 0.2
    """
    context = click.get_current_context(silent=True)
    if context is None or not isinstance(context.find_root().command, FlaskGroup):
        return error
    kind = _ListingConfigError if _listing_commands() else CommandLineConfigError
    return kind(error.problems, error.environment)


def _listing_commands() -> bool:
    """Whether ``FlaskGroup.list_commands`` is on the stack (then the app's commands are being
    listed for ``--help``). Should flask change, the error keeps its traceback there only."""
    code = FlaskGroup.list_commands.__code__
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _load_app() -> Flask:
    """Load the app the way ``flask`` does, turning a ConfigError into exit status 1."""
    info = click.get_current_context().ensure_object(ScriptInfo)
    # Our commands print to stdout (tables, --json); log lines, including those logged while
    # the app is set up, go to stderr.
    from .logs import send_to_stderr

    send_to_stderr()
    try:
        app = info.load_app()
    except ConfigError as exc:
        click.secho(str(exc), err=True, fg="red")
        raise SystemExit(1) from None
    send_to_stderr()  # again: the app may have been loaded (and logging set up) before
    return app


def _jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: lists element by element, anything else as text."""
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


@prodready_cli.command("config", with_appcontext=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document for machines.")
def config_command(as_json: bool) -> None:
    """Print the effective settings, redacted, with where each value came from."""
    app = _load_app()
    with app.app_context():
        state = get_state(app)
        loaded = state.settings
        rows = settings_rows(app)
    if as_json:
        document = {
            "environment": loaded.environment,
            "envvar_prefix": loaded.envvar_prefix,
            "release": {"version": state.release.version, "source": state.release.source},
            "settings_files": [
                {"path": str(path), "exists": path.is_file()} for path in loaded.settings_files
            ],
            "settings": {
                key: {"value": _jsonable(value), "source": source} for key, value, source in rows
            },
        }
        click.echo(json.dumps(document, indent=2, sort_keys=True))
        return
    click.echo(f"environment: {loaded.environment}  (chosen by {ENV_SWITCHER} or debug mode)")
    click.echo(f"environment variables: {loaded.envvar_prefix}_<KEY>")
    click.echo(f"release: {state.release.version}  ({state.release.source})")
    for path in loaded.settings_files:
        click.echo(f"settings file: {path}{'' if path.is_file() else '  (not found)'}")
    width = max((len(key) for key, _, _ in rows), default=0)
    for key, value, source in rows:
        click.echo(f"{key.ljust(width)}  {value!r}  [{source}]")


@prodready_cli.command("check", with_appcontext=False)
def check_command() -> None:
    """Validate the settings: exit 0 when they are fine, 1 with the list of problems.

    Besides what start-up refuses, production needs a strong SECRET_KEY.
    """
    app = _load_app()
    loaded = get_state(app).settings
    for warning in config_warnings(app):
        click.secho(f"warning: {warning}", err=True, fg="yellow")
    problems: list[ConfigProblem] = []
    secret_key = secret_key_problem(app, loaded)
    if secret_key is not None:
        problems.append(secret_key)
    if problems:
        click.secho(str(ConfigError(problems, loaded.environment)), err=True, fg="red")
        raise SystemExit(1)
    click.echo(f"configuration ok (environment {loaded.environment})")


@prodready_cli.command("health", with_appcontext=False)
@click.option("--json", "as_json", is_flag=True, help="Print the health+json report.")
def health_command(as_json: bool) -> None:
    """Run every health check once: exit 0 unless a critical check fails, then 1."""
    from .health import HealthStatus

    app = _load_app()
    runner = introspect(app).health_runner
    if runner is None:
        click.secho(
            "health checks are switched off (PRODREADY_HEALTH_ENABLED is false)", err=True, fg="red"
        )
        raise SystemExit(1)
    with app.app_context():
        report = runner.run(app=app, use_cache=False)
    if as_json:
        click.echo(json.dumps(report.to_dict(details=True), indent=2, sort_keys=True))
    else:
        rows = [
            (
                outcome.name,
                outcome.status.value,
                "yes" if outcome.critical else "no",
                f"{outcome.duration * 1000:.0f} ms",
                _health_detail(outcome.output, outcome.observed_value, outcome.observed_unit),
            )
            for outcome in report.checks
        ]
        header = ("CHECK", "STATUS", "CRITICAL", "DURATION", "OUTPUT")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
        for row in [header, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            click.echo("  ".join([*cells, row[4]]).rstrip())
        colour = {"pass": "green", "warn": "yellow", "fail": "red"}[report.status.value]
        click.secho(f"status: {report.status.value} ({len(rows)} checks)", fg=colour)
    if report.status is HealthStatus.FAIL:
        raise SystemExit(1)


@prodready_cli.command("init", with_appcontext=False)
@click.argument(
    "directory", default=".", type=click.Path(file_okay=False, path_type=Path), required=False
)
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
@click.option("--port", default=8000, show_default=True, help="The port gunicorn listens on.")
@click.option(
    "--wsgi-app",
    default=None,
    help="gunicorn's module:variable (or module:factory()) for the app; found from --app "
    "when left out.",
)
def init_command(directory: Path, force: bool, port: int, wsgi_app: str | None) -> None:
    """Write production files for the app: Dockerfile, gunicorn.conf.py, docker-compose.yml,
    nginx.conf, prometheus/, k8s/, ignore entries and, when the project has no lock or
    requirements file, a requirements.txt from pyproject.toml. Existing files are kept unless
    --force.
    """
    from .scaffold import find_wsgi_app, render_files, scaffold_context, write_files

    app = _load_app()
    info = click.get_current_context().ensure_object(ScriptInfo)
    if wsgi_app is None:
        # A create_app callback (FlaskGroup, test runner) wins over --app in ScriptInfo.
        from_callback = info.create_app is not None
        wsgi_app = find_wsgi_app(
            app, None if from_callback else info.app_import_path, default_files=not from_callback
        )
    if wsgi_app is None:
        click.secho(
            f"cannot tell how gunicorn should load the app {app.import_name!r}: nothing was "
            "written. Name it with --wsgi-app, e.g. --wsgi-app myapp:app for a variable or "
            "--wsgi-app 'myapp:create_app()' for a factory.",
            err=True,
            fg="red",
        )
        raise SystemExit(1)
    try:
        context = scaffold_context(app, target=directory, wsgi_app=wsgi_app, port=port)
    except ValueError as exc:
        click.secho(str(exc), err=True, fg="red")
        raise SystemExit(1) from None
    try:
        done = write_files(render_files(context), directory, force=force)
    except FileExistsError as exc:
        click.secho(str(exc), err=True, fg="red")
        raise SystemExit(1) from None
    for path, action in done:
        click.echo(f"{action.value:<11} {directory / path}")
    click.echo(f"gunicorn loads the app as {wsgi_app} (wsgi_app in gunicorn.conf.py)")
    for note in context["notes"]:
        click.secho(f"warning: {note}", err=True, fg="yellow")


def _health_detail(output: str | None, value: Any, unit: str | None) -> str:
    parts = [output] if output else []
    if value is not None:
        parts.append(f"observed {value}{' ' + unit if unit else ''}")
    return "; ".join(parts)


@prodready_cli.group("alerts")
def alerts_group() -> None:
    """Alert rules: export them for Prometheus, or evaluate them now."""


@alerts_group.command("export-rules", with_appcontext=False)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to this file.")
def export_rules_command(output: str | None) -> None:
    """Write the app's alert rules as a Prometheus rules file (YAML)."""
    from .alerts import export_prometheus_rules

    app = _load_app()
    info = introspect(app)
    if not info.alerts_on:
        click.secho("alerts are off (PRODREADY_ALERTS_ENABLED is false)", err=True, fg="red")
        raise SystemExit(1)
    rules = info.alert_rules()
    text = export_prometheus_rules(rules)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(rules)} rules to {output}", err=True)
    else:
        click.echo(text, nl=False)


@alerts_group.command("test", with_appcontext=False)
def test_alerts_command() -> None:
    """Evaluate every rule once against the current store and print the states."""
    app = _load_app()
    engine = get_state(app).alerts
    if engine is None:
        click.secho("alerts are off (PRODREADY_ALERTS_ENABLED is false)", err=True, fg="red")
        raise SystemExit(1)
    with app.app_context():
        states = engine.evaluate() or engine.states()
    width = max((len(s.name) for s in states), default=4)
    click.echo(f"{'RULE'.ljust(width)}  STATE     SEVERITY  VALUE")
    for state in states:
        value = "-" if state.value is None else f"{state.value:.4g}"
        click.echo(f"{state.name.ljust(width)}  {state.state:<8}  {state.severity:<8}  {value}")
