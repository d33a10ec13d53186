"""The app's own ``flask`` commands, each run as a job.

``flask`` finds an app's command through ``app.cli.get_command``. The jobs part wraps that
lookup on the app's own group (never a command object, which several apps may share): the
command it returns is a copy whose ``invoke`` runs inside a :class:`~.run.JobRun` named
``flask <command path>``. Flask's own commands (``run``, ``shell``, ``routes``) and
``flask prodready`` are found elsewhere, and never run as jobs; nor does a command object
invoked directly (``app.test_cli_runner().invoke(command)``). The line that says how a
command's run ended is a ``DEBUG`` line: a command's output stays its own.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import click
from flask import Flask

from .run import JobRun, exit_code_of

__all__ = ["run_commands_as_jobs"]

_WRAPPED = "_prodready_job"


def run_commands_as_jobs(app: Flask) -> None:
    """Run every command that ``flask`` finds in ``app.cli`` as a job (idempotent).

    .. versionadded:: 0.2
    """
    group = app.cli
    if getattr(group, _WRAPPED, False):
        return
    _wrap_lookup(group, app)


def _wrap_lookup(group: click.Group, app: Flask) -> None:
    original = group.get_command

    @functools.wraps(original)
    def get_command(ctx: click.Context, name: str) -> click.Command | None:
        found = original(ctx, name)
        return None if found is None else _as_job(found, app)

    group.get_command = get_command  # type: ignore[method-assign,assignment]
    setattr(group, _WRAPPED, True)


def _as_job(command: click.Command, app: Flask) -> click.Command:
    from flask_prodready.cli import prodready_cli

    if command is prodready_cli or getattr(command, _WRAPPED, False):
        return command
    shown = copy.copy(command)
    if isinstance(shown, click.Group):
        _wrap_lookup(shown, app)  # its subcommands are the jobs
        return shown
    invoke = shown.invoke

    @functools.wraps(invoke)
    def invoke_as_job(ctx: click.Context) -> Any:
        run = JobRun(_job_name(ctx), app=app, kwargs=dict(ctx.params), quiet=True).start()
        try:
            result = invoke(ctx)
        except BaseException as exc:
            run.finish(exc, exit_code=exit_code_of(exc))
            raise
        run.finish(exit_code=0)
        return result

    shown.invoke = invoke_as_job  # type: ignore[method-assign]
    setattr(shown, _WRAPPED, True)
    return shown


def _job_name(ctx: click.Context) -> str:
    """``flask users create``: the command path below the root (its program name varies)."""
    names = []
    current: click.Context | None = ctx
    while current is not None and current.parent is not None:
        names.append(current.info_name or "?")
        current = current.parent
    return " ".join(["flask", *reversed(names)])
