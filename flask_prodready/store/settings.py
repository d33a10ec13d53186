"""The settings of the error store."""

from __future__ import annotations

from flask_prodready.settings.casts import FLOAT, INT, OPTIONAL_STR, at_least, choice
from flask_prodready.settings.schema import Setting

__all__ = ["SETTINGS"]

#: The settings this part declares, in the order of the configuration reference.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PRODREADY_ERROR_STORE",
        "sqlite",
        choice("sqlite", "memory", "redis", "none"),
        "Where recorded errors go: `sqlite` (one file shared by the workers of a machine), "
        "`memory` (this process), `redis` (every instance), or `none`. See [Errors](errors.md).",
    ),
    Setting(
        "PRODREADY_ERROR_STORE_PATH",
        None,
        OPTIONAL_STR,
        "The SQLite file; unset, `prodready-errors.sqlite3` in the app's instance folder. See "
        "[Errors](errors.md).",
    ),
    Setting(
        "PRODREADY_ERROR_STORE_URL",
        None,
        OPTIONAL_STR,
        'The Redis URL, e.g. `redis://cache:6379/0`, for `PRODREADY_ERROR_STORE = "redis"`. See '
        "[Errors](errors.md).",
    ),
    Setting(
        "PRODREADY_ERROR_STORE_MAX_GROUPS",
        500,
        at_least(INT, 1),
        "Error groups kept; the least recently seen are dropped first. See [Errors](errors.md).",
    ),
    Setting(
        "PRODREADY_ERROR_STORE_MAX_OCCURRENCES",
        20,
        at_least(INT, 1),
        "Occurrences kept per group; the oldest are dropped first. See [Errors](errors.md).",
    ),
    Setting(
        "PRODREADY_ERROR_STORE_RETENTION_HOURS",
        168.0,
        at_least(FLOAT, 0.01),
        "Groups not seen for this long are dropped. See [Errors](errors.md).",
    ),
)
