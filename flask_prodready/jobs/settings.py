"""The settings of the ``jobs`` part."""

from __future__ import annotations

from flask_prodready.settings.casts import BOOL, INT, at_least
from flask_prodready.settings.schema import Setting

__all__ = ["SETTINGS"]

#: The settings this part declares, in the order of the configuration reference.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PRODREADY_JOBS_ENABLED",
        True,
        BOOL,
        "Give work outside requests the ids, log lines, error records and metrics of a "
        "request: code run with `flask_prodready.job(name)`, and the app's own `flask` "
        "commands. See [Jobs](jobs.md).",
    ),
    Setting(
        "PRODREADY_JOBS_CLI",
        True,
        BOOL,
        "Run each of the app's own `flask` commands as a job: its errors recorded, its "
        "duration and exit status in the metrics. Flask's commands (`run`, `shell`, `routes`) "
        "and `flask prodready` are never jobs. See [Jobs](jobs.md).",
    ),
    Setting(
        "PRODREADY_JOBS_ARGUMENTS_MAX_CHARS",
        2000,
        at_least(INT, 0),
        "How many characters of a failed job's arguments are kept with its error, redacted; "
        "0 keeps none. See [Jobs](jobs.md).",
    ),
)
