"""The settings of the ``errors`` part."""

from __future__ import annotations

from flask_prodready.settings.casts import BOOL, INT, OPTIONAL_STR, STATUS_LIST, at_least, choice
from flask_prodready.settings.schema import Setting

__all__ = ["SETTINGS"]

#: The settings this part declares, in the order of the configuration reference.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PRODREADY_ERRORS_ENABLED",
        True,
        BOOL,
        "Answer the errors that no handler of the app answers as RFC 9457 problem documents, "
        "and record unexpected errors in the error store, whoever answers them. See "
        "[Errors](errors.md).",
    ),
    Setting(
        "PRODREADY_ERRORS_TAKE_OVER",
        False,
        BOOL,
        "Answer every error with a problem document, also those that a class-level "
        "`HTTPException` handler would answer, such as flask-smorest's (its 422 included). "
        "Handlers the app registered for a status code still win. See [Errors](errors.md).",
    ),
    Setting(
        "PRODREADY_ERRORS_FORMAT",
        "auto",
        choice("auto", "json"),
        "`auto`: problem JSON, or a small HTML page for browsers that ask for HTML; `json`: "
        "always JSON. See [Errors](errors.md).",
    ),
    Setting(
        "PRODREADY_ERRORS_TYPE_BASE",
        None,
        OPTIONAL_STR,
        "Base URI of problem `type`s, e.g. `https://errors.example.com/` gives "
        "`https://errors.example.com/not_found`; unset, `type` is `about:blank`. See "
        "[Errors](errors.md).",
    ),
    Setting(
        "PRODREADY_ERRORS_RECORD_STATUSES",
        [],
        STATUS_LIST,
        "Statuses of expected errors (`AppError`, `abort`) recorded in the store as well, e.g. "
        "`[404, 503]`. Unexpected exceptions are always recorded. See [Errors](errors.md).",
    ),
    Setting(
        "PRODREADY_ERRORS_BREADCRUMBS",
        50,
        at_least(INT, 0),
        "How many of a request's latest log lines are kept with its recorded error; 0 keeps "
        "none. See [Errors](errors.md).",
    ),
)
