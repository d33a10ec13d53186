"""Settings: dynaconf loading, the ``PRODREADY_*`` schema, casting and start-up validation.

Where a value comes from, lowest precedence first:

1. the defaults of :data:`SETTINGS` (and Flask's own defaults, and anything the app put in
   ``app.config`` before ``init_app``);
2. ``settings.toml``, then ``.secrets.toml``, found next to the app (``app.root_path``, never
   the current working directory): the ``[default]`` table, then the table of the current
   environment (``[development]``, ``[production]``, or any other name);
3. environment variables named ``<prefix>_<KEY>`` (prefix ``FLASK`` unless changed), including
   those a ``.env`` file next to the app defines;
4. keyword overrides given to :class:`~flask_prodready.ProdReady`.

The environment is the value of ``PRODREADY_ENV``; without it, ``testing`` when the Flask
app is in testing mode (``TESTING = True`` before ``init_app``), ``development`` when it runs
in debug mode, and ``production`` otherwise. The ``testing`` environment starts from
:data:`TESTING_DEFAULTS` (errors in memory, no background evaluation).

The package, one job per module:

- :mod:`~flask_prodready.settings.sources`: names of the sources (files, environments, loaders);
- :mod:`~flask_prodready.settings.casts`: the type of each setting;
- :mod:`~flask_prodready.settings.schema`: :class:`Setting`, and the settings every part
  declares beside its code (``flask_prodready/logs/settings.py``, …), collected in order;
- :mod:`~flask_prodready.settings.core`: the core's own settings;
- :mod:`~flask_prodready.settings.loading`: :func:`load_settings` and :class:`LoadedSettings`;
- :mod:`~flask_prodready.settings.strict`: unknown keys and tables;
- :mod:`~flask_prodready.settings.validation`: validators, and the problems they report;
- :mod:`~flask_prodready.settings.secret_key`: ``SECRET_KEY`` in production;
- :mod:`~flask_prodready.settings.memo`: the per-process memo of loaded settings;
- :mod:`~flask_prodready.settings.reference`: the configuration reference, generated.
"""

from __future__ import annotations

from typing import Any

from .casts import (
    BOOL,
    BUCKETS,
    CALLABLE,
    ENVIRONMENT_NAMES,
    FLOAT,
    HEADER_NAME,
    INT,
    LEVEL,
    LEVEL_MAP,
    NETWORKS,
    OPTIONAL_STR,
    PATHS,
    RULE_TABLE,
    STATUS_LIST,
    STORE_LEVEL,
    STR,
    STR_LIST,
    URL_PATH,
    URL_PREFIX,
    at_least,
    choice,
)
from .loaded import (
    LoadedSettings,
)
from .loading import (
    load_settings,
    resolve_environment,
)
from .schema import (
    DECLARED_IN,
    Setting,
    all_settings,
    declared,
    setting,
    setting_names,
    settings_by_name,
)
from .secret_key import (
    SECRET_KEY_COMMAND,
    SECRET_KEY_MIN_BYTES,
    SECRET_KEY_MIN_ENTROPY,
    WEAK_SECRET_KEYS,
    secret_key_problem,
    secret_key_weakness,
    warn_about_secret_key,
)
from .sources import (
    DEFAULT_ENVVAR_PREFIX,
    DEFAULT_SETTINGS_FILES,
    DEVELOPMENT,
    DOTENV_FILE,
    ENV_SWITCHER,
    PRODUCTION,
    STANDARD_ENVIRONMENTS,
    TESTING,
    TESTING_DEFAULTS,
)

__all__ = [
    "BOOL",
    "BUCKETS",
    "CALLABLE",
    "DECLARED_IN",
    "DEFAULT_ENVVAR_PREFIX",
    "DEFAULT_SETTINGS_FILES",
    "DEVELOPMENT",
    "DOTENV_FILE",
    "ENVIRONMENT_NAMES",
    "ENV_SWITCHER",
    "FLOAT",
    "HEADER_NAME",
    "INT",
    "LEVEL",
    "LEVEL_MAP",
    "NETWORKS",
    "OPTIONAL_STR",
    "PATHS",
    "PRODUCTION",
    "RULE_TABLE",
    "SECRET_KEY_COMMAND",
    "SECRET_KEY_MIN_BYTES",
    "SECRET_KEY_MIN_ENTROPY",
    "SETTINGS",
    "STANDARD_ENVIRONMENTS",
    "STATUS_LIST",
    "STORE_LEVEL",
    "STR",
    "STR_LIST",
    "TESTING",
    "TESTING_DEFAULTS",
    "URL_PATH",
    "URL_PREFIX",
    "WEAK_SECRET_KEYS",
    "LoadedSettings",
    "Setting",
    "all_settings",
    "at_least",
    "choice",
    "declared",
    "load_settings",
    "resolve_environment",
    "secret_key_problem",
    "secret_key_weakness",
    "setting",
    "setting_names",
    "settings_by_name",
    "warn_about_secret_key",
]


def __getattr__(name: str) -> Any:
    # SETTINGS is collected from the parts on first use, since the parts import this package.
    if name == "SETTINGS":
        return all_settings()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
