"""Where settings come from: the environment switch, the files, environments, dynaconf's loaders."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "DEFAULT_ENVVAR_PREFIX",
    "DEFAULT_SETTINGS_FILES",
    "DEVELOPMENT",
    "DOTENV_FILE",
    "ENV_SWITCHER",
    "PRODUCTION",
    "STANDARD_ENVIRONMENTS",
    "TESTING",
    "TESTING_DEFAULTS",
]

#: Environment variable that selects the settings environment.
ENV_SWITCHER = "PRODREADY_ENV"
#: Prefix of the environment variables that override settings (``FLASK_PORT`` sets ``PORT``).
DEFAULT_ENVVAR_PREFIX = "FLASK"
#: Settings files read, relative to ``app.root_path``, later ones winning.
DEFAULT_SETTINGS_FILES: tuple[str, ...] = ("settings.toml", ".secrets.toml")
#: The dotenv file read, relative to ``app.root_path``, when it exists.
DOTENV_FILE = ".env"
#: Environment used when ``PRODREADY_ENV`` is unset and the app runs in debug mode.
DEVELOPMENT = "development"
#: Environment used when ``PRODREADY_ENV`` is unset and the app does not run in debug mode.
PRODUCTION = "production"
#: Environment used when ``PRODREADY_ENV`` is unset and the app is in testing mode
#: (``app.testing``, ``TESTING = True``).
TESTING = "testing"
#: Defaults that differ in the ``testing`` environment: an app per test keeps its errors in
#: memory, starts no background thread and writes no file. A source that sets one wins.
TESTING_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "PRODREADY_ERROR_STORE": "memory",
        "PRODREADY_ALERTS_EVALUATE": False,
        "PRODREADY_LOG_FLUSH_MS": 0.0,
    }
)

_ENV_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_PREFIX_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
# Where a loaded value came from, as dynaconf's loaders name it; used to say where to fix it.
_OVERRIDES_LOADER = "prodready_overrides"
_APP_CONFIG_LOADER = "app_config"
_TESTING_LOADER = "prodready_testing_defaults"
_MISSING = object()
# Validators record the defaults they apply under these loaders.
_DEFAULT_LOADERS = frozenset({"validator", "setdefault"})
_FILE_LOADERS = frozenset({"toml", "yaml", "json", "ini", "py"})
_DYNACONF_SUFFIX = "_FOR_DYNACONF"
_INTERNAL_IDENTIFIERS = frozenset({"default_settings", "init_kwargs", "settings_module_method"})


#: Tables a settings file may always hold, besides the environment in use and those of
#: ``PRODREADY_ENVIRONMENTS``: dynaconf reads ``[default]`` and ``[global]`` in every
#: environment (and a table named after the prefix, ``[flask]``, as another ``[default]``).
STANDARD_ENVIRONMENTS: tuple[str, ...] = ("default", DEVELOPMENT, PRODUCTION, TESTING, "global")
# Keys dynaconf reads at the top level of a settings file, outside the environment tables.
_DYNACONF_FILE_KEYS = frozenset({"dynaconf_merge", "dynaconf_dotted_lookup"})
_OURS = "PRODREADY_"
# dynaconf's separators of nested keys: PRODREADY_LOG_LEVELS__sqlalchemy sets one entry.
_NESTED = re.compile(r"__|\.")
