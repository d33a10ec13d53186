"""The settings of the ``logs`` part."""

from __future__ import annotations

from flask_prodready.settings.casts import (
    BOOL,
    FLOAT,
    INT,
    LEVEL,
    LEVEL_MAP,
    STORE_LEVEL,
    STR,
    STR_LIST,
    at_least,
    choice,
)
from flask_prodready.settings.schema import Setting

__all__ = ["SETTINGS"]

#: The settings this part declares, in the order of the configuration reference.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PRODREADY_LOGS_ENABLED",
        True,
        BOOL,
        "Send loguru and stdlib logging to one sink as JSON lines or pretty text, and write "
        "an access line per request.",
    ),
    Setting(
        "PRODREADY_LOG_FORMAT",
        "auto",
        choice("auto", "json", "pretty"),
        "`json` lines, `pretty` coloured text, or `auto`: pretty in the `development` "
        "environment, JSON everywhere else.",
    ),
    Setting(
        "PRODREADY_LOG_LEVEL",
        "INFO",
        LEVEL,
        "The lowest level written. Change it at run time with `set_log_level`.",
    ),
    Setting(
        "PRODREADY_LOG_LEVELS",
        {},
        LEVEL_MAP,
        'Levels for single loggers and their children, e.g. `{ "sqlalchemy.engine" = '
        '"WARNING" }`; they win over `PRODREADY_LOG_LEVEL`.',
    ),
    Setting(
        "PRODREADY_LOG_DESTINATION",
        "stdout",
        STR,
        "`stdout`, `stderr`, or a file path (rotated by size). Under gunicorn or in a "
        "container prefer `stdout`: several processes rotating one file lose lines.",
    ),
    Setting(
        "PRODREADY_LOG_FLUSH_MS",
        50.0,
        at_least(FLOAT, 0),
        "Lines may wait this many milliseconds (or until 32 KiB wait) to be written together: "
        "under load, writing each line to a pipe cost more than making it. A line at WARNING "
        "or above is written at once, with every line before it; held lines are also written "
        "before a fork, at exit, on SIGTERM and by `flush_logs()`; a process killed by "
        "SIGKILL loses the last ones. 0 writes each line at once, as on a terminal and in "
        "the `testing` environment. See [Logging](logging.md#lines-written-together).",
    ),
    Setting(
        "PRODREADY_LOG_FILE_MAX_BYTES",
        10 * 1024 * 1024,
        at_least(INT, 0),
        "Size at which a log file is rotated; 0 never rotates.",
    ),
    Setting(
        "PRODREADY_LOG_FILE_BACKUPS",
        5,
        at_least(INT, 0),
        "How many rotated log files (`app.log.1`, `app.log.2`, …) are kept.",
    ),
    Setting(
        "PRODREADY_LOG_DIAGNOSE",
        False,
        BOOL,
        "Show local variables in pretty tracebacks (loguru's `diagnose`). Honoured only in "
        "the `development` environment: variables hold secrets.",
    ),
    Setting(
        "PRODREADY_LOG_INTERCEPT_STDLIB",
        True,
        BOOL,
        "Route stdlib `logging` (werkzeug, sqlalchemy, gunicorn, your libraries) into the same "
        "sink: one handler joins the root logger's, and every handler and level the app set "
        "stays as it was. See [Logging](logging.md).",
    ),
    Setting(
        "PRODREADY_LOG_STDLIB_TAKE_OVER",
        False,
        BOOL,
        "Make our stream the only one for stdlib logging: replace the root logger's handlers, "
        "set its level to `PRODREADY_LOG_LEVEL` and log Python warnings. Off, the app's own "
        "handlers and levels decide what stdlib records exist. See [Logging](logging.md).",
    ),
    Setting(
        "PRODREADY_LOG_STORE_LEVEL",
        "WARNING",
        STORE_LEVEL,
        "Log lines at this level and above are also kept in the error store's bounded buffer, "
        "so the dashboard shows them from every worker; `OFF` keeps none.\n\n"
        "Lines go to the store from a background thread in batches; a full queue drops the "
        "oldest line and a failed write is counted, so logging never waits for the store.",
    ),
    Setting(
        "PRODREADY_ACCESS_LOG_ENABLED",
        True,
        BOOL,
        "Write one INFO access line per request: method, route, path, status, "
        "duration_ms, bytes, remote_addr, user_agent.",
    ),
    Setting(
        "PRODREADY_ACCESS_LOG_SKIP_PATHS",
        ["/livez", "/readyz", "/startupz", "/metrics"],
        STR_LIST,
        "Paths without an access line; a path also covers everything below it, except `/`, "
        "which is the root page only.",
    ),
    Setting(
        "PRODREADY_SLOW_REQUEST_MS",
        1000.0,
        at_least(FLOAT, 0),
        "Requests slower than this many milliseconds are logged once at WARNING with their time "
        "split into SQL and the rest, and kept for the dashboard; 0 turns it off. See "
        "[Performance](performance.md).",
    ),
)
