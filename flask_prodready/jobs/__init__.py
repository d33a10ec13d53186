"""Jobs: work outside requests, with the ids, log lines, errors and metrics of a request.

::

    from flask_prodready import job

    with job("nightly-report", app=app):
        build_report()

The package, one job per module:

- :mod:`.run`: :func:`job` and :class:`JobRun`, one run of a job;
- :mod:`.arguments`: a job's arguments as a small, redacted preview for its error;
- :mod:`.commands`: the app's own ``flask`` commands, each run as a job;
- :mod:`.settings`: the part's settings.

This module sets the part up (:func:`init_jobs`) and re-exports the names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from .run import OUTCOMES as OUTCOMES
from .run import JobRun as JobRun
from .run import job as job

if TYPE_CHECKING:
    from flask_prodready.state import ProdReadyState

__all__ = ["OUTCOMES", "JobRun", "Jobs", "init_jobs", "job"]


class Jobs:
    """The jobs part of one app, in ``get_state(app).jobs``: what every run of it reads.

    :param state: the app's state; runs report to its error recorder and metrics.
    :param breadcrumbs: how many of a run's latest log lines its error keeps (0: none).
    :param arguments_max_chars: how many characters of a failed run's arguments are kept.
    :param commands: whether the app's ``flask`` commands run as jobs.

    .. versionadded:: 0.2
    """

    def __init__(
        self,
        state: ProdReadyState,
        *,
        breadcrumbs: int,
        arguments_max_chars: int,
        commands: bool,
    ) -> None:
        self.state = state
        self.breadcrumbs = breadcrumbs
        self.arguments_max_chars = arguments_max_chars
        self.commands = commands

    def __repr__(self) -> str:
        return f"<Jobs commands={'on' if self.commands else 'off'}>"


def init_jobs(app: Flask, state: ProdReadyState) -> None:
    """Set the ``jobs`` part up on ``app``.

    :param app: the app being set up.
    :param state: the app's :class:`~flask_prodready.ProdReadyState`.

    .. versionadded:: 0.2
    """
    from flask_prodready.logs.breadcrumbs import breadcrumbs_kept

    settings = state.settings.values
    jobs = Jobs(
        state,
        breadcrumbs=breadcrumbs_kept(settings),
        arguments_max_chars=settings["PRODREADY_JOBS_ARGUMENTS_MAX_CHARS"],
        commands=settings["PRODREADY_JOBS_CLI"],
    )
    state.jobs = jobs
    if jobs.commands:
        from .commands import run_commands_as_jobs

        run_commands_as_jobs(app)
