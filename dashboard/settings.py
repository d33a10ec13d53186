"""The settings of the dashboard add-on."""

from __future__ import annotations

from flask_prodready.settings.casts import (
    BOOL,
    CALLABLE,
    FLOAT,
    INT,
    OPTIONAL_STR,
    URL_PREFIX,
    at_least,
)
from flask_prodready.settings.schema import Setting

__all__ = ["SETTINGS"]

#: The settings this part declares, in the order of the configuration reference.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PRODREADY_DASHBOARD_ENABLED",
        True,
        BOOL,
        "Register the `/_prod` dashboard blueprint. See [Dashboard](dashboard.md).",
    ),
    Setting(
        "PRODREADY_DASHBOARD_URL_PREFIX",
        "/_prod",
        URL_PREFIX,
        "Where the dashboard is mounted.\n\n"
        'A wrong value is reported as `expected a URL path such as "/_prod" (starts with "/", '
        "no trailing \"/\"), got '/prod/' (str)`.",
    ),
    Setting(
        "PRODREADY_DASHBOARD_TOKEN",
        None,
        OPTIONAL_STR,
        "Token mode: the login form asks for this token and sets a signed, HttpOnly, "
        "SameSite=Strict session cookie.\n\n"
        "Keep it in `.secrets.toml` or the environment. Changing it ends every session.",
    ),
    Setting(
        "PRODREADY_DASHBOARD_USERNAME",
        None,
        OPTIONAL_STR,
        "Basic mode: the HTTP basic auth user name (with `PRODREADY_DASHBOARD_PASSWORD_HASH`).",
    ),
    Setting(
        "PRODREADY_DASHBOARD_PASSWORD_HASH",
        None,
        OPTIONAL_STR,
        "Basic mode: the password as a werkzeug hash "
        "(`werkzeug.security.generate_password_hash`).\n\n"
        "Make one with `python -c 'from werkzeug.security import generate_password_hash as h; "
        'print(h("…"))\'`; keep it in `.secrets.toml` or the environment.',
    ),
    Setting(
        "PRODREADY_DASHBOARD_AUTHORISER",
        None,
        CALLABLE,
        "Callable mode: a function without arguments that answers whether the current request "
        'may see the dashboard, as `"module:function"` or a callable given as a keyword '
        "override.\n\n"
        "For example `ProdReady(app, dashboard_authoriser=lambda: current_user.is_admin)`. An "
        "import string that cannot be imported stops start-up with a `SetupError`. See "
        "[Dashboard](dashboard.md#who-can-see-it).",
    ),
    Setting(
        "PRODREADY_DASHBOARD_POLL_SECONDS",
        5.0,
        at_least(FLOAT, 0.2),
        "How often the dashboard's live parts refresh in the browser.",
    ),
    Setting(
        "PRODREADY_DASHBOARD_SESSION_SECONDS",
        8 * 3600,
        at_least(INT, 60),
        "How long a token login lasts, and how long a verified basic auth header is trusted "
        "without hashing it again.",
    ),
    Setting(
        "PRODREADY_DASHBOARD_LOGIN_ATTEMPTS",
        5,
        at_least(INT, 1),
        "Failed logins allowed per client and user name and minute, per worker (the client is "
        "the browser once it has signed in, else its address); more answer 429 (token) or 401 "
        "(basic). Ten times as many over all clients hold back only browsers that never signed "
        "in.",
    ),
)
