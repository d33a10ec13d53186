"""The settings of the core: how settings load, which environments exist, the trusted proxies."""

from __future__ import annotations

from .casts import BOOL, ENVIRONMENT_NAMES, INT, OPTIONAL_STR, at_least
from .schema import Setting

__all__ = ["SETTINGS"]

#: The settings this part declares, in the order of the configuration reference.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PRODREADY_CONFIG_ENABLED",
        True,
        BOOL,
        "Load settings files, `.env` and environment variables with dynaconf. When off, "
        "`app.config` is used as the app filled it; the `PRODREADY_*` keys are still validated.\n\n"
        "This setting decides whether the files and the environment are read. So it takes "
        "effect only from `app.config` before `init_app` or from the `config_enabled=` keyword. "
        "A value in a settings file or an environment variable cannot switch loading off. When "
        "it is off, a problem message says to `set it in app.config before init_app`.",
    ),
    Setting(
        "PRODREADY_ALLOW_DEBUG_IN_PRODUCTION",
        False,
        BOOL,
        "Start even though `DEBUG` is true in the `production` environment. Debug mode runs "
        "the interactive debugger, which executes code sent by any client: never set this on "
        "a server that is reachable by others.",
    ),
    Setting(
        "PRODREADY_ENVIRONMENTS",
        [],
        ENVIRONMENT_NAMES,
        "More environments whose tables the settings files may hold, besides `default`, "
        "`development`, `production`, `testing`, `global` and the environment in use. A table "
        "of any other name stops start-up, since a misspelt environment such as `[prodution]` "
        "would otherwise be ignored. Set it in `[default]`, so that every environment sees it. "
        "See [Unknown keys and tables](#unknown-keys-and-tables).",
    ),
    Setting(
        "PRODREADY_TRUSTED_PROXIES",
        0,
        at_least(INT, 0),
        "How many reverse proxies sit in front of the app and set `X-Forwarded-For`, `-Proto`, "
        "`-Host` and `-Port`; above 0, werkzeug's `ProxyFix` takes the client's address and "
        "scheme from them, for the app, the access line's `remote_addr`, metrics and the access "
        "rules of `/metrics` and health details. Leave 0 when clients reach the app directly: "
        "the headers could be forged. See [Deploying](deploying.md#behind-a-proxy).",
    ),
    Setting(
        "PRODREADY_RELEASE",
        None,
        OPTIONAL_STR,
        "The running release of the app, e.g. `2.4.1` or the image's git SHA: the `version` "
        "label of `prodready_app_info`, the dashboard's Instances table and `flask prodready "
        "config`. When empty: `PRODREADY_METRICS_APP_VERSION`, then the first of the "
        "environment variables `SENTRY_RELEASE`, `RENDER_GIT_COMMIT`, `K_REVISION` and others "
        "that hosting platforms set, then the installed version of the distribution "
        "named like the app's top-level package, else `unknown`. See "
        "[Releases](deploying.md#releases).",
    ),
)
