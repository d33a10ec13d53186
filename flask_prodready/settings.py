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
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Any

from dynaconf.contrib import FlaskDynaconf
from dynaconf.loaders.base import SourceMetadata
from dynaconf.utils import build_env_list
from dynaconf.utils.functional import empty
from dynaconf.utils.parse_conf import boolean_fix, parse_conf_data
from dynaconf.validator import CombinedValidator, OrValidator, ValidationError, Validator
from dynaconf.vendor.dotenv import dotenv_values
from flask import Flask
from flask.helpers import get_debug_flag
from loguru import logger

from . import settings_memo
from .exceptions import ConfigError, ConfigProblem
from .redaction import is_secret_key, redact

__all__ = [
    "DEFAULT_ENVVAR_PREFIX",
    "DEFAULT_SETTINGS_FILES",
    "DOTENV_FILE",
    "ENV_SWITCHER",
    "SETTINGS",
    "LoadedSettings",
    "Setting",
    "load_settings",
    "resolve_environment",
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


class _Cast:
    """A settings type: turns a loaded value into the typed value, or raises ``ValueError``."""

    def __init__(self, expected: str, convert: Callable[[Any], Any]) -> None:
        self.expected = expected
        self._convert = convert
        self.__name__ = expected

    def __call__(self, value: Any) -> Any:
        return self._convert(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(value)


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise ValueError(value)


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(value)


def _to_url_prefix(value: Any) -> str:
    text = _to_str(value)
    if re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", text):
        return text
    raise ValueError(value)


def _to_float(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise ValueError(value) from None
    else:
        raise ValueError(value)
    if not math.isfinite(result):
        raise ValueError(value)
    return result


def _to_optional_str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return _to_str(value)


def _to_str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ValueError(value)


def _to_networks(value: Any) -> tuple[Any, ...]:
    from .access import parse_networks

    return parse_networks(_to_str_list(value))


def _to_paths(value: Any) -> tuple[str, ...]:
    paths = []
    for item in _to_str_list(value):
        if not re.fullmatch(r"/[^\s]*", item):
            raise ValueError(value)
        paths.append(item.rstrip("/") or "/")
    return tuple(paths)


def _to_buckets(value: Any) -> tuple[float, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError(value)
    bounds = tuple(_to_float(item) for item in items)
    finite = all(math.isfinite(bound) and bound > 0 for bound in bounds)
    if not finite or any(low >= high for low, high in pairwise(bounds)):
        raise ValueError(value)
    return bounds


def choice(*options: str) -> _Cast:
    """A settings type that accepts one of ``options``, in any case."""
    canonical = {option.lower(): option for option in options}

    def convert(value: Any) -> str:
        if isinstance(value, str) and value.strip().lower() in canonical:
            return canonical[value.strip().lower()]
        raise ValueError(value)

    return _Cast("one of " + ", ".join(repr(option) for option in options), convert)


def at_least(cast: _Cast, minimum: float) -> _Cast:
    """``cast``, refusing values below ``minimum``."""

    def convert(value: Any) -> Any:
        result = cast(value)
        if result < minimum:
            raise ValueError(value)
        return result

    return _Cast(f"{cast.expected} of at least {minimum}", convert)


BOOL = _Cast("a boolean (true/false, yes/no, on/off or 1/0)", _to_bool)
INT = _Cast("a whole number", _to_int)
STR = _Cast("a string", _to_str)


def _to_level(value: Any) -> str:
    text = _to_str(value).strip().upper()
    if text in _LEVELS:
        return text
    raise ValueError(value)


def _to_callable_ref(value: Any) -> Any:
    if value is None or value == "":
        return None
    if callable(value):
        return value
    text = _to_str(value).strip()
    if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", text):
        return text
    raise ValueError(value)


def _to_level_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(value)
    return {str(name): _to_level(level) for name, level in value.items()}


def _to_header_name(value: Any) -> str:
    text = _to_str(value)
    if re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}", text):
        return text
    raise ValueError(value)


def _to_status_list(value: Any) -> tuple[int, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError(value)
    statuses = tuple(
        _to_int(item.strip() if isinstance(item, str) else item) for item in items if item != ""
    )
    if not all(400 <= status <= 599 for status in statuses):
        raise ValueError(value)
    return statuses


def _to_rule_table(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(value)
    return {str(name): _plain(spec) for name, spec in value.items()}


_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
FLOAT = _Cast("a number", _to_float)
LEVEL = _Cast("a log level: " + ", ".join(_LEVELS), _to_level)
STORE_LEVEL = _Cast(
    "a log level: " + ", ".join(_LEVELS) + ", or OFF",
    lambda value: "OFF" if _to_str(value).strip().upper() == "OFF" else _to_level(value),
)
CALLABLE = _Cast('a callable, or "module:function" naming one, or empty for none', _to_callable_ref)
LEVEL_MAP = _Cast("a table of logger name to log level", _to_level_map)
RULE_TABLE = _Cast("a table of alert rules by name", _to_rule_table)
STATUS_LIST = _Cast("a list of HTTP error statuses (400 to 599)", _to_status_list)
HEADER_NAME = _Cast("an HTTP header name such as X-Request-ID", _to_header_name)
OPTIONAL_STR = _Cast("a string, or empty for none", _to_optional_str)
STR_LIST = _Cast('a list of strings (a TOML array, or text separated by ",")', _to_str_list)
NETWORKS = _Cast(
    'a list of networks such as ["10.0.0.0/8", "::1/128"] (or text separated by ",")',
    _to_networks,
)
URL_PREFIX = _Cast('a URL path such as "/_prod" (starts with "/", no trailing "/")', _to_url_prefix)
PATHS = _Cast(
    'a list of URL paths such as ["/metrics", "/_prod"] (or text separated by ",")', _to_paths
)
BUCKETS = _Cast(
    "a list of increasing positive numbers of seconds such as [0.05, 0.1, 0.5, 1] "
    '(or text separated by ",")',
    _to_buckets,
)
URL_PATH = _Cast('a URL path such as "/readyz" (starts with "/", no trailing "/")', _to_url_prefix)


def _to_environment_names(value: Any) -> tuple[str, ...]:
    names = tuple(name.lower() for name in _to_str_list(value))
    if all(_ENV_NAME_RE.match(name) for name in names):
        return names
    raise ValueError(value)


ENVIRONMENT_NAMES = _Cast(
    'a list of environment names such as ["staging", "qa"] (or text separated by ",")',
    _to_environment_names,
)


@dataclass(frozen=True)
class Setting:
    """One setting of the extension: its key, default, type and meaning.

    :param name: the key in ``app.config`` and the settings files, e.g.
        ``PRODREADY_DASHBOARD_ENABLED``.
    :param default: the value used when no source sets it.
    :param cast: the type, which also turns text from environment variables into the value.
    :param doc: what the setting does, as shown in the configuration reference.

    .. versionadded:: 0.1
    """

    name: str
    default: Any
    cast: _Cast
    doc: str

    @property
    def expected(self) -> str:
        """What a valid value looks like, in words."""
        return self.cast.expected

    def validator(self) -> Validator:
        """The dynaconf validator that applies the default and casts the value."""
        return Validator(
            self.name, default=self.default, cast=self.cast, description=self.cast.expected
        )


#: Every setting of the extension, in the order of the configuration reference.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PRODREADY_CONFIG_ENABLED",
        True,
        BOOL,
        "Load settings files, `.env` and environment variables with dynaconf. When off, "
        "`app.config` is used as the app filled it; the `PRODREADY_*` keys are still validated.",
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
        "More environments whose tables the settings files may hold, e.g. "
        '`["staging"]`, besides `default`, `development`, `production`, `testing`, `global` '
        "and the environment in use. A table of any other name stops start-up, as a "
        "misspelt environment would otherwise be ignored.",
    ),
    Setting(
        "PRODREADY_REQUEST_ID_ENABLED",
        True,
        BOOL,
        "Give every request an id: read from the request id header when valid, else minted; "
        "echoed on every response and bound to every log line of the request.",
    ),
    Setting(
        "PRODREADY_REQUEST_ID_HEADER",
        "X-Request-ID",
        HEADER_NAME,
        "The header the request id is read from and echoed in.",
    ),
    Setting(
        "PRODREADY_REQUEST_ID_TRUST_INCOMING",
        True,
        BOOL,
        "Keep a valid incoming request id. Turn off when clients must never choose the id "
        "(then every request gets a fresh one).",
    ),
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
        "stays as it was.",
    ),
    Setting(
        "PRODREADY_LOG_STDLIB_TAKE_OVER",
        False,
        BOOL,
        "Make our stream the only one for stdlib logging: replace the root logger's handlers, "
        "set its level to `PRODREADY_LOG_LEVEL` and log Python warnings. Off, the app's own "
        "handlers and levels decide what stdlib records exist.",
    ),
    Setting(
        "PRODREADY_LOG_STORE_LEVEL",
        "WARNING",
        STORE_LEVEL,
        "Log lines at this level and above are also kept in the error store's bounded "
        "buffer, so the dashboard shows them from every worker; `OFF` keeps none.",
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
        "PRODREADY_TRUSTED_PROXIES",
        0,
        at_least(INT, 0),
        "How many reverse proxies sit in front of the app and set `X-Forwarded-For`, "
        "`-Proto`, `-Host` and `-Port`; above 0, werkzeug's `ProxyFix` takes the client's "
        "address and scheme from them, for the app, the access line's `remote_addr`, "
        "metrics and the access rules of `/metrics` and health details. Leave 0 when "
        "clients reach the app directly: the headers could be forged.",
    ),
    Setting(
        "PRODREADY_ERRORS_ENABLED",
        True,
        BOOL,
        "Answer the errors that no handler of the app answers as RFC 9457 problem documents, "
        "and record unexpected errors in the error store, whoever answers them.",
    ),
    Setting(
        "PRODREADY_ERRORS_TAKE_OVER",
        False,
        BOOL,
        "Answer every error with a problem document, also those that a class-level "
        "`HTTPException` handler would answer, such as flask-smorest's (its 422 included). "
        "Handlers the app registered for a status code still win.",
    ),
    Setting(
        "PRODREADY_ERRORS_FORMAT",
        "auto",
        choice("auto", "json"),
        "`auto`: problem JSON, or a small HTML page for browsers that ask for HTML; `json`: "
        "always JSON.",
    ),
    Setting(
        "PRODREADY_ERRORS_TYPE_BASE",
        None,
        OPTIONAL_STR,
        "Base URI of problem `type`s, e.g. `https://errors.example.com/` gives "
        "`https://errors.example.com/not_found`; unset, `type` is `about:blank`.",
    ),
    Setting(
        "PRODREADY_ERRORS_RECORD_STATUSES",
        [],
        STATUS_LIST,
        "Statuses of expected errors (`AppError`, `abort`) recorded in the store as well, "
        "e.g. `[404, 503]`. Unexpected exceptions are always recorded.",
    ),
    Setting(
        "PRODREADY_ERRORS_BREADCRUMBS",
        50,
        at_least(INT, 0),
        "How many of a request's latest log lines are kept with its recorded error; 0 keeps none.",
    ),
    Setting(
        "PRODREADY_ERROR_STORE",
        "sqlite",
        choice("sqlite", "memory", "redis", "none"),
        "Where recorded errors go: `sqlite` (one file shared by the workers of a machine), "
        "`memory` (this process), `redis` (every instance), or `none`.",
    ),
    Setting(
        "PRODREADY_ERROR_STORE_PATH",
        None,
        OPTIONAL_STR,
        "The SQLite file; unset, `prodready-errors.sqlite3` in the app's instance folder.",
    ),
    Setting(
        "PRODREADY_ERROR_STORE_URL",
        None,
        OPTIONAL_STR,
        'The Redis URL, e.g. `redis://cache:6379/0`, for `PRODREADY_ERROR_STORE = "redis"`.',
    ),
    Setting(
        "PRODREADY_ERROR_STORE_MAX_GROUPS",
        500,
        at_least(INT, 1),
        "Error groups kept; the least recently seen are dropped first.",
    ),
    Setting(
        "PRODREADY_ERROR_STORE_MAX_OCCURRENCES",
        20,
        at_least(INT, 1),
        "Occurrences kept per group; the oldest are dropped first.",
    ),
    Setting(
        "PRODREADY_ERROR_STORE_RETENTION_HOURS",
        168.0,
        at_least(FLOAT, 0.01),
        "Groups not seen for this long are dropped.",
    ),
    Setting(
        "PRODREADY_METRICS_ENABLED",
        True,
        BOOL,
        "Collect Prometheus metrics and serve them at `PRODREADY_METRICS_PATH`.",
    ),
    Setting(
        "PRODREADY_METRICS_PATH",
        "/metrics",
        URL_PREFIX,
        "Where the Prometheus exposition is served. Requests to it are never counted.",
    ),
    Setting(
        "PRODREADY_METRICS_EXCLUDED_PATHS",
        ("/metrics", "/livez", "/readyz", "/_prod"),
        PATHS,
        "Requests to these paths, and to any path below them, are not counted; `/` is the "
        "root page only.",
    ),
    Setting(
        "PRODREADY_METRICS_BUCKETS",
        (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0),
        BUCKETS,
        "Upper bounds, in seconds, of the request-duration histogram's buckets; `+Inf` is added.",
    ),
    Setting(
        "PRODREADY_METRICS_TOKEN",
        None,
        OPTIONAL_STR,
        "Bearer token that lets any client read the metrics.",
    ),
    Setting(
        "PRODREADY_METRICS_ALLOWED_NETWORKS",
        (),
        NETWORKS,
        "Client networks that may read the metrics without a token.",
    ),
    Setting(
        "PRODREADY_METRICS_ALLOW_LOOPBACK",
        True,
        BOOL,
        "Let clients on the loopback interface read the metrics without a token.",
    ),
    Setting(
        "PRODREADY_METRICS_OPEN",
        False,
        BOOL,
        "Let every client read the metrics.",
    ),
    Setting(
        "PRODREADY_METRICS_MAX_LABEL_VALUES",
        50,
        at_least(INT, 1),
        "How many distinct values a free-form label (exception type, error class, log sink, "
        "health check) may take per process; later ones are counted as `other`.",
    ),
    Setting(
        "PRODREADY_METRICS_APP_VERSION",
        None,
        OPTIONAL_STR,
        "The version shown by `prodready_app_info`; empty for the version of the installed "
        "distribution named like the app's package, else `unknown`.",
    ),
    Setting(
        "PRODREADY_METRICS_SAMPLE_INTERVAL",
        10.0,
        at_least(FLOAT, 1),
        "Seconds between two samples of the request metrics kept for the snapshot API.",
    ),
    Setting(
        "PRODREADY_METRICS_HISTORY_MINUTES",
        60,
        at_least(INT, 1),
        "Minutes of samples kept for the snapshot API.",
    ),
    Setting(
        "PRODREADY_HEALTH_ENABLED",
        True,
        BOOL,
        "Register the health endpoints (`/livez`, `/readyz`, `/startupz`, `/healthz`) and "
        "the health check runner.",
    ),
    Setting(
        "PRODREADY_HEALTH_LIVE_PATH",
        "/livez",
        URL_PATH,
        "Path of the liveness endpoint: checks tagged `live` (none by default).",
    ),
    Setting(
        "PRODREADY_HEALTH_READY_PATH",
        "/readyz",
        URL_PATH,
        "Path of the readiness endpoint: checks tagged `ready`, start-up finished, not "
        "shutting down.",
    ),
    Setting(
        "PRODREADY_HEALTH_STARTUP_PATH",
        "/startupz",
        URL_PATH,
        "Path of the start-up endpoint: start-up tasks finished and checks tagged `startup`.",
    ),
    Setting(
        "PRODREADY_HEALTH_REPORT_PATH",
        "/healthz",
        URL_PATH,
        "Path of the full report: every check, whatever its tags.",
    ),
    Setting(
        "PRODREADY_HEALTH_TIMEOUT",
        2.0,
        at_least(FLOAT, 0.01),
        "Timeout in seconds of a check registered without its own `timeout=`.",
    ),
    Setting(
        "PRODREADY_HEALTH_CACHE_TTL",
        2.0,
        at_least(FLOAT, 0),
        "Seconds a check's result is reused before the check runs again; 0 runs it for "
        "every request (concurrent requests still share one run).",
    ),
    Setting(
        "PRODREADY_HEALTH_MAX_WORKERS",
        8,
        at_least(INT, 1),
        "Most threads that run checks at the same time, per app and process.",
    ),
    Setting(
        "PRODREADY_HEALTH_DETAILS",
        "authorised",
        choice("authorised", "always", "never"),
        "Who sees the checks' details (outputs, observed values): `authorised` callers "
        "(loopback, the token, the allowed networks), `always` everyone, or `never` anyone.",
    ),
    Setting(
        "PRODREADY_HEALTH_TOKEN",
        None,
        OPTIONAL_STR,
        "Bearer token that lets any client see the details.",
    ),
    Setting(
        "PRODREADY_HEALTH_ALLOW_NETWORKS",
        (),
        NETWORKS,
        "Client networks that see the details without the token.",
    ),
    Setting(
        "PRODREADY_HEALTH_HANDLE_SIGTERM",
        "auto",
        choice("auto", "always", "never"),
        "Install the SIGTERM handler that drains: `auto` in a gunicorn worker only, "
        "`always` in any process (init_app must run in the main thread), `never`.",
    ),
    Setting(
        "PRODREADY_HEALTH_DRAIN_SECONDS",
        5.0,
        at_least(FLOAT, 0),
        "After SIGTERM, how long the process keeps serving while `/readyz` answers 503, "
        "before the server's own graceful shutdown starts.",
    ),
    Setting(
        "PRODREADY_HEALTH_DISK_PATH",
        None,
        OPTIONAL_STR,
        "A path whose file system's free space is checked (check `disk`); empty for none.",
    ),
    Setting(
        "PRODREADY_HEALTH_DISK_MIN_FREE_MB",
        100.0,
        at_least(FLOAT, 0),
        "Free space in MiB below which the `disk` check fails.",
    ),
    Setting(
        "PRODREADY_HEALTH_STORE_CHECK",
        False,
        BOOL,
        "Add a non-critical `error_store` check that reads the error store once (SQLite or "
        "Redis answering).",
    ),
    Setting(
        "PRODREADY_HEALTH_MEMORY_MAX_RSS_MB",
        0.0,
        at_least(FLOAT, 0),
        "Resident memory in MiB above which the `memory` check (tagged `live`) fails; 0 for "
        "no check. Linux only.",
    ),
    Setting(
        "PRODREADY_ALERTS_ENABLED",
        True,
        BOOL,
        "Evaluate alert rules over the request metrics, new errors and health checks, and "
        "notify state changes.",
    ),
    Setting(
        "PRODREADY_ALERTS_DEFAULT_RULES",
        True,
        BOOL,
        "Ship the default rules on: error rate jumped 5x in 5 minutes, p95 latency doubled "
        "over 10 minutes, a critical health check failing for 1 minute, a new error group.",
    ),
    Setting(
        "PRODREADY_ALERTS_RULES",
        {},
        RULE_TABLE,
        "Your rules (and changes to the default ones), a table of tables by rule name, each "
        "with `expr`, and optionally `for`, `severity`, `summary`, `route`, `min_volume`, "
        "`floor`, `window`; `name = false` switches a default rule off. See Alerts.",
    ),
    Setting(
        "PRODREADY_ALERTS_INTERVAL",
        15.0,
        at_least(FLOAT, 0.1),
        "Seconds between two evaluations. Only one worker of all that share the store "
        "evaluates (a lease in the store, taken over when its holder dies).",
    ),
    Setting(
        "PRODREADY_ALERTS_EVALUATE",
        True,
        BOOL,
        "Evaluate in a background thread of each worker. Off, rules are evaluated only when "
        "asked (`flask prodready alerts test`, tests).",
    ),
    Setting(
        "PRODREADY_ALERTS_WEBHOOKS",
        [],
        STR_LIST,
        "URLs that receive each state change as a JSON POST.",
    ),
    Setting(
        "PRODREADY_ALERTS_SLACK_WEBHOOKS",
        [],
        STR_LIST,
        "Slack-compatible incoming webhook URLs that receive each state change as a message.",
    ),
    Setting(
        "PRODREADY_ALERTS_TIMEOUT",
        5.0,
        at_least(FLOAT, 0.1),
        "Seconds a receiver may take per attempt; each change is tried three times at most.",
    ),
    Setting(
        "PRODREADY_SLOW_REQUEST_MS",
        1000.0,
        at_least(FLOAT, 0),
        "Requests slower than this many milliseconds are logged once at WARNING with their "
        "time split into SQL and the rest, and kept for the dashboard; 0 turns it off.",
    ),
    Setting(
        "PRODREADY_SQL_REPEAT_THRESHOLD",
        10,
        at_least(INT, 1),
        "With `watch_sql`: how often one statement may run in a request before it is an N+1 "
        "finding.",
    ),
    Setting(
        "PRODREADY_SQL_STRICT",
        False,
        BOOL,
        "With `watch_sql`: raise `RepeatedQueryError` on an N+1 finding instead of logging "
        "it. Meant for tests, so CI catches N+1 before production.",
    ),
    Setting(
        "PRODREADY_PROFILING_ENABLED",
        True,
        BOOL,
        "Profile a request that carries the profiling header with the profiling token (any "
        "value from loopback in development); without the header it costs nothing.",
    ),
    Setting(
        "PRODREADY_PROFILING_HEADER",
        "X-Prodready-Profile",
        HEADER_NAME,
        "The request header that asks for a profile; its value is the profiling token.",
    ),
    Setting(
        "PRODREADY_PROFILING_TOKEN",
        None,
        OPTIONAL_STR,
        "The token that lets a request be profiled; unset, only loopback clients in the "
        "development environment can.",
    ),
    Setting(
        "PRODREADY_PROFILING_KEEP",
        20,
        at_least(INT, 1),
        "Profiles kept; the oldest are deleted first.",
    ),
    Setting(
        "PRODREADY_PROFILING_DIR",
        None,
        OPTIONAL_STR,
        "Where profiles are kept; unset, `prodready-profiles` in the app's instance folder.",
    ),
    Setting(
        "PRODREADY_JSON_ORJSON",
        False,
        BOOL,
        "Serialise the app's JSON with orjson (`app.json`): byte for byte the text Flask's "
        "default provider writes, and the values it reads, up to 3x faster.",
    ),
    Setting(
        "PRODREADY_DASHBOARD_ENABLED",
        True,
        BOOL,
        "Register the `/_prod` dashboard blueprint.",
    ),
    Setting(
        "PRODREADY_DASHBOARD_URL_PREFIX",
        "/_prod",
        URL_PREFIX,
        "Where the dashboard is mounted.",
    ),
    Setting(
        "PRODREADY_DASHBOARD_TOKEN",
        None,
        OPTIONAL_STR,
        "Token mode: the login form asks for this token and sets a signed, HttpOnly, "
        "SameSite=Strict session cookie.",
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
        "Basic mode: the password as a werkzeug hash (`werkzeug.security.generate_password_hash`).",
    ),
    Setting(
        "PRODREADY_DASHBOARD_AUTHORISER",
        None,
        CALLABLE,
        "Callable mode: a function without arguments that answers whether the current "
        'request may see the dashboard, as `"module:function"` or a callable given as a '
        "keyword override.",
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

# Settings of these types keep the exact text of their environment variables.
_TEXT_CASTS = (
    STR,
    OPTIONAL_STR,
    URL_PREFIX,
    URL_PATH,
    STR_LIST,
    HEADER_NAME,
    LEVEL,
    STORE_LEVEL,
    CALLABLE,
    ENVIRONMENT_NAMES,
)

_SETTINGS_BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}
_SETTING_NAMES = frozenset(_SETTINGS_BY_NAME)

#: Tables a settings file may always hold, besides the environment in use and those of
#: ``PRODREADY_ENVIRONMENTS``: dynaconf reads ``[default]`` and ``[global]`` in every
#: environment (and a table named after the prefix, ``[flask]``, as another ``[default]``).
STANDARD_ENVIRONMENTS: tuple[str, ...] = ("default", DEVELOPMENT, PRODUCTION, TESTING, "global")
# Keys dynaconf reads at the top level of a settings file, outside the environment tables.
_DYNACONF_FILE_KEYS = frozenset({"dynaconf_merge", "dynaconf_dotted_lookup"})
_OURS = "PRODREADY_"
# dynaconf's separators of nested keys: PRODREADY_LOG_LEVELS__sqlalchemy sets one entry.
_NESTED = re.compile(r"__|\.")


@dataclass(frozen=True)
class LoadedSettings:
    """What :func:`load_settings` found: the environment and the sources it read.

    :param environment: the settings environment, e.g. ``production``.
    :param envvar_prefix: the prefix of overriding environment variables, e.g. ``FLASK``.
    :param settings_files: the settings files looked for, in order (they may not exist).
    :param dotenv_path: the ``.env`` file looked for.
    :param dynaconf: the dynaconf settings object, or ``None`` when
        ``PRODREADY_CONFIG_ENABLED`` is off.
    :param values: the validated, typed ``PRODREADY_*`` settings.

    .. versionadded:: 0.1
    """

    environment: str
    envvar_prefix: str
    settings_files: tuple[Path, ...]
    dotenv_path: Path
    dynaconf: Any
    values: Mapping[str, Any] = field(default_factory=dict)

    def internal_keys(self) -> set[str]:
        """The names of dynaconf's own settings, which are not the app's."""
        if self.dynaconf is None:
            return set()
        keys: set[str] = set()
        for meta, data in self.dynaconf.loaded_by_loaders.items():
            if meta.identifier in _INTERNAL_IDENTIFIERS:
                keys.update(str(key).upper() for key in data)
                renamed = data.get("RENAMED_VARS")
                if isinstance(renamed, Mapping):
                    keys.update(renamed)
        return keys

    def envvar(self, key: str) -> str:
        """The environment variable that overrides ``key``, e.g. ``FLASK_PORT`` for ``PORT``."""
        return f"{self.envvar_prefix}_{key.upper()}"

    def sources(self, key: str) -> list[str]:
        """Where the value of ``key`` was set, newest (the one in force) first.

        Each entry is ``"<file> [<environment>]"``, ``"environment variable <NAME>"`` or
        ``"keyword argument"``; the list is empty for defaults.
        """
        if self.dynaconf is None:
            return []
        found: list[str] = []
        upper = key.upper()
        for meta, data in reversed(list(self.dynaconf.loaded_by_loaders.items())):
            if meta.identifier in _INTERNAL_IDENTIFIERS or upper not in _upper_keys(data):
                continue
            source = self._describe_source(meta.loader, meta.identifier, meta.env, upper)
            if source is not None and source not in found:
                found.append(source)
        return found

    def _describe_source(self, loader: str, identifier: str, env: str, key: str) -> str | None:
        if loader.startswith("env"):
            return f"environment variable {identifier}_{key}"
        if identifier == _OVERRIDES_LOADER:
            return "keyword argument"
        if identifier == _APP_CONFIG_LOADER:
            return "app code (app.config)"
        if loader in _DEFAULT_LOADERS or identifier in ("validator", _TESTING_LOADER):
            return None
        included = loader.startswith("load_file") and os.path.isfile(identifier)
        if loader in _FILE_LOADERS or included:  # load_file@...: a dynaconf_include file
            return f"{identifier} [{env.lower()}]"
        return "app code (app.config)"

    def where_to_set(self, key: str) -> str:
        """Where a value for ``key`` can be set, in words, for messages."""
        envvar = self.envvar(key)
        if self.dynaconf is None:
            return "set it in app.config before init_app (PRODREADY_CONFIG_ENABLED is off)"
        tables = f"[{self.environment}] or [default]"
        files = " or ".join(str(path) for path in self.settings_files)
        if not files:
            return f"set it with the environment variable {envvar}"
        return f"set it in {files} under {tables}, or with the environment variable {envvar}"

    def where_set(self, key: str) -> str:
        """Where the value in force for ``key`` was set, for messages."""
        sources = self.sources(key)
        if sources:
            return f"it is set by {sources[0]}"
        return self.where_to_set(key)


def _upper_keys(data: Mapping[str, Any]) -> set[str]:
    return {str(k).upper() for k in data}


def resolve_environment(app: Flask) -> str:
    """The settings environment for ``app``: ``PRODREADY_ENV``, else from the app's mode.

    :param app: the app being set up; when ``PRODREADY_ENV`` is unset or empty, its
        ``testing`` flag picks ``testing``, else its ``debug`` flag ``development``, else
        ``production``.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
        A testing app runs in the ``testing`` environment.
    """
    chosen = os.environ.get(ENV_SWITCHER, "").strip()
    if chosen:
        return chosen.lower()
    if app.testing:
        return TESTING
    return DEVELOPMENT if app.debug else PRODUCTION


def load_settings(
    app: Flask,
    *,
    settings_files: Sequence[str | os.PathLike[str]] | None = None,
    envvar_prefix: str = DEFAULT_ENVVAR_PREFIX,
    validators: Iterable[Validator] = (),
    overrides: Mapping[str, Any] | None = None,
) -> LoadedSettings:
    """Load, cast and validate the settings of ``app``; raise one error for every problem.

    With ``PRODREADY_CONFIG_ENABLED`` on (the default) this installs dynaconf's
    ``FlaskDynaconf`` on the app, so ``app.config`` reads the settings files and the
    environment as described in this module's documentation.

    :param app: the app to configure.
    :param settings_files: settings files to read instead of :data:`DEFAULT_SETTINGS_FILES`;
        relative paths are taken relative to ``app.root_path``.
    :param envvar_prefix: prefix of overriding environment variables.
    :param validators: the app's own dynaconf validators, checked with the extension's.
    :param overrides: settings that win over every other source.
    :raises ConfigError: naming every problem found, with where to fix each.

    .. versionadded:: 0.1
    """
    overrides = dict(overrides or {})
    prefix = envvar_prefix.upper()
    if not _PREFIX_RE.match(prefix):
        raise ConfigError(
            [
                ConfigProblem(
                    "envvar_prefix",
                    f"expected letters, digits and '_', got {envvar_prefix!r}",
                    "fix the envvar_prefix argument of ProdReady",
                )
            ]
        )
    root = Path(app.root_path)
    names = settings_files if settings_files is not None else DEFAULT_SETTINGS_FILES
    files = tuple(_resolve(root, name) for name in names)
    dotenv_path = root / DOTENV_FILE
    config_enabled = _config_enabled(app, overrides)
    if config_enabled:
        # Before the environment is chosen: .env may set PRODREADY_ENV.
        _load_dotenv(dotenv_path)
    environment = resolve_environment(app)
    loaded = LoadedSettings(environment, prefix, files, dotenv_path, None)
    # Before dynaconf replaces app.config: the app's own PRODREADY_* keys, to check by name.
    app_keys = tuple(key for key in app.config if _looks_ours(key))

    read: settings_memo.Inputs | None = None
    documents: dict[Path, Mapping[str, Any]] = {}  # the TOML files, parsed once
    problems: list[ConfigProblem] = []
    if not _ENV_NAME_RE.match(environment):
        problems.append(
            ConfigProblem(
                ENV_SWITCHER,
                "expected an environment name of letters, digits, '-' and '_'",
                f"fix the environment variable {ENV_SWITCHER}",
            )
        )
    elif config_enabled:
        read = settings_memo.inputs(
            type(app),
            app.root_path,
            app.config,
            (*files, dotenv_path),
            (names, prefix, overrides),
            tuple(validators),
        )
        remembered = None if read is None else settings_memo.recall(read)
        if remembered is not None:
            return _set_up_as_remembered(app, remembered, validators)
        problems.extend(_check_files(files, documents))
        problems.extend(_check_environment_variables(prefix))
        if not problems:
            loaded = replace(loaded, dynaconf=_install_dynaconf(app, loaded, problems))
    if problems:
        raise ConfigError(problems, environment)

    if loaded.dynaconf is not None:
        _keep_text_of_string_settings(loaded.dynaconf, prefix, validators)
    _apply_overrides(app, loaded, overrides)
    target: Any = loaded.dynaconf if loaded.dynaconf is not None else app.config
    if environment == TESTING:
        _apply_testing_defaults(app, loaded)
    validators = tuple(validators)
    values, problems = _cast_settings(target, loaded)
    # Unknown keys and tables first: a misspelt key explains the problems of the right one.
    problems[:0] = _check_strict(loaded, documents, values, validators, app_keys, overrides)
    _share_typed_values(loaded, target, values, validators)
    for validator in validators:
        problems.extend(_run_validator(validator, target, loaded))
    if not problems:
        problems.extend(_check_debug(app, loaded, values))
    if problems:
        raise ConfigError(problems, environment)
    if loaded.dynaconf is not None:
        _settle_config(app, loaded)
    app.config.update(values)
    loaded = replace(loaded, values=MappingProxyType(values))
    if read is not None and _rememberable(loaded, names, validators):
        settings_memo.remember(
            read, _files_read(loaded.dynaconf), app.config, loaded.dynaconf, loaded
        )
    return loaded


def _rememberable(
    loaded: LoadedSettings, names: Sequence[str | os.PathLike[str]], validators: Iterable[Validator]
) -> bool:
    """Whether a load can be reused: its inputs are all known to :mod:`settings_memo`.

    Not when a file name is a pattern or dynaconf includes files (a new file matching, or an
    include created later, would go unseen), nor when a validator computes its default.
    """
    if any(_GLOB_CHARS.intersection(str(name)) for name in names):
        return False
    settings = loaded.dynaconf
    if settings is None:
        return False
    if settings.get("DYNACONF_INCLUDE") or settings.get("INCLUDES_FOR_DYNACONF"):
        return False
    return not any(callable(leaf.default) for leaf in _leaves(validators))


_GLOB_CHARS = frozenset("*?[")


def _files_read(settings: Any) -> list[str]:
    """The files dynaconf loaded, includes among them."""
    return [
        meta.identifier
        for meta in settings.loaded_by_loaders
        if isinstance(meta.identifier, str) and os.path.isfile(meta.identifier)
    ]


def _set_up_as_remembered(
    app: Flask, remembered: settings_memo.Remembered, validators: Iterable[Validator]
) -> LoadedSettings:
    """Give ``app`` what an earlier load of the same inputs gave, as its own copies."""
    config = app.config_class(app.root_path, app.default_config)
    config.update({key: settings_memo.fresh(value) for key, value in remembered.config.items()})
    app.config = config
    app.dynaconf = remembered.dynaconf  # type: ignore[attr-defined]  # as FlaskDynaconf does
    loaded: LoadedSettings = remembered.loaded
    problems = []
    for validator in validators:  # they may read more than the inputs (files, clocks)
        problems.extend(_run_validator(validator, remembered.dynaconf, loaded))
    if problems:
        raise ConfigError(problems, loaded.environment)
    values = {setting.name: config[setting.name] for setting in SETTINGS}
    return replace(loaded, values=MappingProxyType(values))


def _cast_settings(
    target: Any, loaded: LoadedSettings
) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """Every ``PRODREADY_*`` setting, default applied and cast, and the problems found.

    What :meth:`Setting.validator` would do through dynaconf, without writing each value back
    into dynaconf: a missing key is not looked up case-insensitively (dynaconf scans every
    key for that) but takes its default, so this costs microseconds instead of milliseconds.
    """
    if loaded.dynaconf is not None:
        present = {str(key).upper() for key in target.store}
    else:
        present = set(target)
    values: dict[str, Any] = {}
    problems: list[ConfigProblem] = []
    for setting in SETTINGS:
        name = setting.name
        # dynaconf's get() resolves lazy values (@format, @jinja) as a validator would.
        raw = target.get(name) if name in present else setting.default
        try:
            values[name] = setting.cast(raw)
        except (ValueError, TypeError):
            problems.append(
                ConfigProblem(
                    name,
                    f"expected {setting.cast.expected}, got {_show(name, raw)}",
                    loaded.where_set(name),
                )
            )
    return values, problems


def _share_typed_values(
    loaded: LoadedSettings, target: Any, values: Mapping[str, Any], validators: Sequence[Validator]
) -> None:
    """Let the app's own validators see the typed value of any ``PRODREADY_*`` they name."""
    if loaded.dynaconf is None:
        target.update(values)
        return
    named = {name.upper() for leaf in _leaves(validators) for name in leaf.names}
    for name in named.intersection(values):
        target.set(name, values[name], validate=False, loader_identifier="validator")


def _settle_config(app: Flask, loaded: LoadedSettings) -> None:
    """Give the app a plain Flask config holding the loaded values.

    Flask reads ``app.config`` several times per request, and each read through dynaconf
    costs microseconds; the loaded values do not change after start-up, so requests read a
    plain dict. dynaconf stays at ``app.dynaconf`` and in the state, for inspection.
    """
    internal = loaded.internal_keys()
    values = {
        key: _plain(value)
        for key, value in app.config.items()
        if key not in internal and not key.endswith(_DYNACONF_SUFFIX)
    }
    config = app.config_class(app.root_path, app.default_config)
    config.update(values)
    app.config = config


def _plain(value: Any) -> Any:
    """dynaconf's Box and BoxList as plain dicts and lists, at any depth."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _resolve(root: Path, name: str | os.PathLike[str]) -> Path:
    path = Path(name)
    return path if path.is_absolute() else root / path


def _config_enabled(app: Flask, overrides: Mapping[str, Any]) -> bool:
    key = "PRODREADY_CONFIG_ENABLED"
    raw = overrides.get(key, app.config.get(key, True))
    try:
        return _to_bool(raw)
    except ValueError:
        raise ConfigError(
            [
                ConfigProblem(
                    key, f"expected {BOOL.expected}", "fix the keyword argument or app.config"
                )
            ]
        ) from None


def _load_dotenv(path: Path) -> None:
    """Put the variables of ``.env`` into the environment, never over ones already set."""
    if not path.is_file():
        return
    for name, value in dotenv_values(str(path)).items():  # type: ignore[no-untyped-call]
        if value is not None:
            os.environ.setdefault(name, value)


def _check_files(
    files: Sequence[Path], documents: dict[Path, Mapping[str, Any]]
) -> list[ConfigProblem]:
    """The TOML files that cannot be read or parsed; those that can go into ``documents``."""
    problems = []
    for path in files:
        if path.suffix != ".toml" or not path.is_file():
            continue
        try:
            documents[path] = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            problems.append(
                ConfigProblem(str(path), f"is not valid TOML: {exc}", "fix the file's syntax")
            )
        except OSError as exc:
            problems.append(
                ConfigProblem(str(path), f"cannot be read: {exc.strerror}", "fix its permissions")
            )
    return problems


def _check_environment_variables(prefix: str) -> list[ConfigProblem]:
    """Parse every overriding variable as dynaconf will, to name the one that is malformed."""
    problems = []
    for name, value in sorted(os.environ.items()):
        if not name.startswith(f"{prefix}_") or not value.startswith("@"):
            continue
        try:
            parse_conf_data(boolean_fix(value), tomlfy=True)
        except Exception as exc:  # dynaconf raises several types; the value must stay hidden
            marker = value.split(maxsplit=1)[0]
            problems.append(
                ConfigProblem(
                    name,
                    f"the {marker} value cannot be parsed ({type(exc).__name__})",
                    f"fix the environment variable {name}",
                )
            )
    return problems


def _looks_ours(key: Any) -> bool:
    """Whether ``key`` is in the extension's name space, ``PRODREADY_*`` in any case."""
    return isinstance(key, str) and key.upper().startswith(_OURS)


def _did_you_mean(name: str, candidates: Iterable[str], show: Callable[[str], str] = str) -> str:
    """``"; did you mean X?"`` for the candidate closest to ``name``, or nothing.

    The ``PRODREADY_`` every key shares is left out of the comparison, so that it alone
    makes no two names alike.
    """
    by_tail = {candidate.removeprefix(_OURS): candidate for candidate in sorted(candidates)}
    close = difflib.get_close_matches(name.removeprefix(_OURS), by_tail, n=1)
    return f"; did you mean {show(by_tail[close[0]])}?" if close else ""


def _unknown_key(
    key: str, known: Collection[str], where: str, prefix: str = ""
) -> ConfigProblem | None:
    """The problem of the ``PRODREADY_*`` ``key`` when it names no setting, else ``None``.

    ``key`` is shown as written, after ``prefix`` (``FLASK_`` for a variable); a nested key
    (``PRODREADY_LOG_LEVELS__sqlalchemy``) is known when its first part is.
    """
    name = _NESTED.split(key.upper(), maxsplit=1)[0]
    if name in known:
        return None
    shown = f"{prefix}{key}"
    if name == ENV_SWITCHER:
        return ConfigProblem(
            shown,
            f"chooses no environment: only the variable {ENV_SWITCHER} itself does, in the "
            "process environment or the .env file",
            f"{where}; remove it, and set {ENV_SWITCHER} instead",
        )
    hint = _did_you_mean(name, known, lambda close: f"{prefix}{close}")
    return ConfigProblem(
        shown, f"is not a flask-prodready setting{hint}", f"{where}; fix its name or remove it"
    )


def _check_strict(
    loaded: LoadedSettings,
    documents: Mapping[Path, Mapping[str, Any]],
    values: Mapping[str, Any],
    validators: Sequence[Validator],
    app_keys: Iterable[str],
    overrides: Mapping[str, Any],
) -> list[ConfigProblem]:
    """Every ``PRODREADY_*`` key that names no setting, wherever it is set, and every table of
    a settings file that names no environment in use or known.

    Part of the load, so a load with such a problem is never remembered; the inputs of a
    remembered load decide these problems, so a reuse needs no new check.
    """
    known = _SETTING_NAMES | {name.upper() for leaf in _leaves(validators) for name in leaf.names}
    found = [_unknown_key(key, known, "it is set by app code (app.config)") for key in app_keys]
    found.extend(
        _unknown_key(key, known, "it is set by a keyword argument")
        for key in overrides
        if _looks_ours(key)
    )
    if loaded.dynaconf is not None:
        environments = {
            *STANDARD_ENVIRONMENTS,
            *build_env_list(loaded.dynaconf, loaded.environment),
            *values.get("PRODREADY_ENVIRONMENTS", ()),
        }
        found.extend(_check_file_keys(loaded, documents, environments, known))
        found.extend(_check_variable_keys(loaded, known))
    return list(dict.fromkeys(problem for problem in found if problem is not None))


def _check_file_keys(
    loaded: LoadedSettings,
    documents: Mapping[Path, Mapping[str, Any]],
    environments: Collection[str],
    known: Collection[str],
) -> Iterator[ConfigProblem | None]:
    """The unknown keys and tables of the settings files, in every table, not only those read.

    TOML files are checked whole, as :func:`_check_files` parsed them (``documents``); files
    read another way (YAML, JSON, includes) are checked in the tables dynaconf loaded from
    them.
    """
    parsed = set()
    for path, document in documents.items():
        parsed.add(os.path.realpath(path))
        yield from _check_document(path, document, environments, known)
    for meta, data in loaded.dynaconf.loaded_by_loaders.items():
        identifier = meta.identifier
        if meta.loader not in _FILE_LOADERS or not isinstance(identifier, str):
            continue
        if os.path.realpath(identifier) in parsed:
            continue
        where = f"it is set in {identifier} [{str(meta.env).lower()}]"
        yield from (_unknown_key(str(key), known, where) for key in data if _looks_ours(key))


def _check_document(
    path: Path,
    document: Mapping[str, Any],
    environments: Collection[str],
    known: Collection[str],
) -> Iterator[ConfigProblem | None]:
    """The problems of one parsed TOML settings file: dynaconf reads its top-level tables,
    each named after an environment, and ignores every other top-level key."""
    for name, value in document.items():
        if name.lower() in _DYNACONF_FILE_KEYS:
            continue
        if _looks_ours(name):
            base = _NESTED.split(name.upper(), maxsplit=1)[0]
            unknown = ""
            if base not in known:
                unknown = ", and it is not a flask-prodready setting" + _did_you_mean(base, known)
            yield ConfigProblem(
                name,
                "is outside every table, so it is never read (each top-level table of a "
                f"settings file names an environment){unknown}",
                f"move it under [default] or an environment's table in {path}",
            )
            continue
        if not isinstance(value, Mapping):
            continue  # not ours, and dynaconf ignores it
        env = name.lower()
        if env not in environments:
            hint = _did_you_mean(env, environments, lambda close: f"[{close}]")
            yield ConfigProblem(
                str(path),
                f"the table [{name}] names no environment in use or known, so its settings "
                f"are never read{hint}",
                f"rename the table, or add {env!r} to PRODREADY_ENVIRONMENTS if it is an "
                f"environment of yours (known: {', '.join(sorted(environments))})",
            )
        where = f"it is set in {path} [{env}]"
        yield from (_unknown_key(key, known, where) for key in value if _looks_ours(key))


def _check_variable_keys(
    loaded: LoadedSettings, known: Collection[str]
) -> Iterator[ConfigProblem | None]:
    """The unknown ``<prefix>_PRODREADY_*`` variables (dynaconf also reads ``DYNACONF_*``)."""
    dotenv: dict[str, str | None] = {}
    if loaded.dotenv_path.is_file():
        dotenv = dotenv_values(str(loaded.dotenv_path))  # type: ignore[no-untyped-call]
    for name, text in sorted(os.environ.items()):
        for prefix in dict.fromkeys((loaded.envvar_prefix, "DYNACONF")):
            start = f"{prefix}_"
            if not name.startswith(start) or not _looks_ours(name[len(start) :]):
                continue
            where = f"it is set by the environment variable {name}"
            if dotenv.get(name) == text:
                where += f" (in {loaded.dotenv_path})"
            yield _unknown_key(name[len(start) :], known, where, prefix=start)
            break


def _install_dynaconf(app: Flask, loaded: LoadedSettings, problems: list[ConfigProblem]) -> Any:
    """Install FlaskDynaconf on ``app``; values the app set before stay under the sources."""
    before = dict(app.config)
    try:
        extension = FlaskDynaconf(
            app,
            settings_files=[str(path) for path in loaded.settings_files],
            default_settings_paths=[],
            environments=True,
            env=loaded.environment,
            env_switcher=ENV_SWITCHER,
            envvar_prefix=loaded.envvar_prefix,
            load_dotenv=False,
            root_path=app.root_path,
        )
    except Exception as exc:  # a loader failed in a way the checks above did not foresee
        problems.append(
            ConfigProblem(
                ", ".join(str(path) for path in loaded.settings_files) or "settings",
                f"could not be loaded ({type(exc).__name__})",
                "check the files' syntax and the environment variables",
            )
        )
        return None
    settings = extension.settings
    # dynaconf only knows what it loaded; give it what the app put in app.config before
    # init_app (below every file and variable), so validators see those values, not defaults.
    defaults = {**app.default_config, "DEBUG": get_debug_flag()}
    for key, value in before.items():
        if defaults.get(key, _MISSING) != value and not settings.exists(key):
            settings.set(key, value, loader_identifier=_APP_CONFIG_LOADER)
    return settings


def _keep_text_of_string_settings(
    settings: Any, prefix: str, validators: Iterable[Validator]
) -> None:
    """Keep the exact text of environment variables for secrets and declared strings.

    dynaconf reads ``FLASK_DB_PASSWORD=123456`` as the integer 123456; a password must stay
    the string ``"123456"``. Values with an explicit ``@`` marker are left as dynaconf read them.
    """
    declared = {s.name for s in SETTINGS if s.cast in _TEXT_CASTS}
    for validator in _leaves(validators):
        if validator.operations.get("is_type_of") in (str, "str"):
            declared.update(name.upper() for name in validator.names)
    start = len(prefix) + 1
    source = SourceMetadata("env_global", prefix, "global")
    for name, text in os.environ.items():
        if not name.startswith(f"{prefix}_") or text.startswith("@"):
            continue
        key = name[start:]
        if (is_secret_key(key) or key.upper() in declared) and settings.get(key) != text:
            settings.set(key, text, loader_identifier=source)


def _leaves(validators: Iterable[Validator]) -> Iterator[Validator]:
    """The plain validators, looking inside ``a | b`` and ``a & b`` combinations."""
    for validator in validators:
        if isinstance(validator, CombinedValidator):
            yield from _leaves(validator.validators)
        else:
            yield validator


def _apply_overrides(app: Flask, loaded: LoadedSettings, overrides: Mapping[str, Any]) -> None:
    for key, value in overrides.items():
        if loaded.dynaconf is not None:
            loaded.dynaconf.set(key, value, loader_identifier=_OVERRIDES_LOADER)
        else:
            app.config[key] = value


def _apply_testing_defaults(app: Flask, loaded: LoadedSettings) -> None:
    for key, value in TESTING_DEFAULTS.items():
        if loaded.dynaconf is not None:
            if not loaded.dynaconf.exists(key):
                loaded.dynaconf.set(key, value, loader_identifier=_TESTING_LOADER)
        else:
            app.config.setdefault(key, value)


def _run_validator(
    validator: Validator, target: Any, loaded: LoadedSettings
) -> list[ConfigProblem]:
    """Run one validator, name by name, turning failures into problems without values."""
    if isinstance(validator, CombinedValidator):
        try:
            validator.validate(target)
        except ValidationError:
            names = sorted({name for leaf in _leaves([validator]) for name in leaf.names})
            key = " / ".join(names) or "settings"
            joiner = "one" if isinstance(validator, OrValidator) else "all"
            conditions = "; ".join(
                f"{name} {_condition(name, leaf)}"
                for leaf in _leaves([validator])
                for name in leaf.names
            )
            return [
                ConfigProblem(
                    key,
                    f"the combined validator failed: expected {joiner} of: {conditions}",
                    loaded.where_to_set(names[0] if names else key),
                )
            ]
        return []
    problems = []
    for name in validator.names:
        if isinstance(target, dict) and name not in target and validator.default is not empty:
            # dynaconf casts ``target.get(name)`` for plain dicts, before it stores the default.
            target[name] = validator.default
        single = copy.copy(validator)
        single.names = (name,)
        try:
            single.validate(target)
        except ValidationError:
            problems.append(_problem(name, validator, target, loaded))
        except (ValueError, TypeError):
            problems.append(_problem(name, validator, target, loaded))
    return problems


def _problem(name: str, validator: Validator, target: Any, loaded: LoadedSettings) -> ConfigProblem:
    key = name.upper()
    missing = object()
    value = target.get(name, missing)
    if value is missing:
        return ConfigProblem(key, "is required but not set", loaded.where_to_set(key))
    expected = _expectation(key, validator)
    return ConfigProblem(
        key, f"expected {expected}, got {_show(key, value)}", loaded.where_set(key)
    )


_OPERATION_TEXT: dict[str, str] = {
    "eq": "equal to {!r}",
    "ne": "not equal to {!r}",
    "gt": "greater than {!r}",
    "lt": "less than {!r}",
    "gte": "at least {!r}",
    "lte": "at most {!r}",
    "is_in": "one of {!r}",
    "is_not_in": "none of {!r}",
    "identity": "identical to {!r}",
    "cont": "containing {!r}",
    "len_eq": "of length {!r}",
    "len_ne": "not of length {!r}",
    "len_min": "at least {!r} long",
    "len_max": "at most {!r} long",
    "startswith": "starting with {!r}",
    "endswith": "ending with {!r}",
}
_SAFE_FOR_SECRETS = frozenset({"len_eq", "len_ne", "len_min", "len_max"})


def _expectation(key: str, validator: Validator) -> str:
    if validator.description:
        return str(validator.description)
    secret = is_secret_key(key)
    parts = []
    for operation, operand in validator.operations.items():
        if operation == "is_type_of":
            type_name = getattr(operand, "__name__", str(operand))
            parts.append(f"a value of type {type_name}")
        elif secret and operation not in _SAFE_FOR_SECRETS:
            parts.append("a value that passes its validator")
        else:
            parts.append(_OPERATION_TEXT.get(operation, operation + " {!r}").format(operand))
    if validator.condition is not None:
        parts.append(
            f"a value for which {getattr(validator.condition, '__name__', 'the condition')} holds"
        )
    return " and ".join(dict.fromkeys(parts)) or "a valid value"


def _condition(name: str, validator: Validator) -> str:
    if validator.must_exist and not validator.operations and validator.condition is None:
        return "is set"
    return f"is {_expectation(name.upper(), validator)}"


def _show(key: str, value: Any) -> str:
    if is_secret_key(key):
        return f"a {type(value).__name__} (value hidden)"
    text = repr(redact(value))
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _check_debug(
    app: Flask, loaded: LoadedSettings, values: Mapping[str, Any]
) -> list[ConfigProblem]:
    allowed = values["PRODREADY_ALLOW_DEBUG_IN_PRODUCTION"]
    if loaded.environment != PRODUCTION or not app.debug or allowed:
        return []
    return [
        ConfigProblem(
            "DEBUG",
            "debug mode is on in the production environment; the debugger runs code sent by "
            "any client",
            f"{loaded.where_set('DEBUG')}; turn it off, choose another environment with "
            f"{ENV_SWITCHER}, or set PRODREADY_ALLOW_DEBUG_IN_PRODUCTION = true if you accept "
            "the risk",
        )
    ]


#: Values of ``SECRET_KEY`` that tutorials, templates and defaults use, compared in lower
#: case with only their letters and digits: ``"dev"`` (Flask's tutorial), ``"change-me"``...
WEAK_SECRET_KEYS = frozenset(
    {
        "dev",
        "devkey",
        "development",
        "secret",
        "secretkey",
        "mysecret",
        "mysecretkey",
        "supersecret",
        "supersecretkey",
        "topsecret",
        "flasksecretkey",
        "yoursecretkey",
        "changeme",
        "changethis",
        "test",
        "testkey",
        "testing",
        "default",
        "password",
        "key",
        "flask",
        "keyboardcat",
        "s3cr3t",
    }
)
# Placeholders refused anywhere in a SECRET_KEY, however long it is.
_PLACEHOLDER_PARTS = ("changeme", "changethis", "replaceme", "yoursecret", "insecure", "notsecret")
#: The shortest ``SECRET_KEY`` accepted in production, in bytes (UTF-8 for text).
SECRET_KEY_MIN_BYTES = 32
#: The least Shannon entropy of a ``SECRET_KEY``, in bits per byte: random hex has about 3.8,
#: a key of a few repeated characters far less.
SECRET_KEY_MIN_ENTROPY = 3.0
#: How to make a strong ``SECRET_KEY``.
SECRET_KEY_COMMAND = 'python -c "import secrets; print(secrets.token_hex(32))"'  # noqa: S105 (a command)
# Apps warned about their SECRET_KEY in this process, and why: one warning each.
_warned_secret_keys: set[tuple[str, str, str]] = set()


def secret_key_weakness(value: Any) -> str | None:
    """Why ``value`` is a weak ``SECRET_KEY``, in words that never show it, or ``None``.

    A key is weak when it is unset or empty, not text or bytes, a well-known default or
    placeholder (:data:`WEAK_SECRET_KEYS`, or containing ``change-me``, ``insecure``...),
    shorter than :data:`SECRET_KEY_MIN_BYTES`, or of less Shannon entropy per byte than
    :data:`SECRET_KEY_MIN_ENTROPY` (a few characters repeated).

    .. versionadded:: 0.2
    """
    if value is None or value in ("", b""):
        return "is not set"
    if isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, bytes):
        data = value
    else:
        return f"is a {type(value).__name__}, not a string"
    plain = re.sub(rb"[^a-z0-9]", b"", data.lower()).decode("ascii")
    if plain in WEAK_SECRET_KEYS or any(part in plain for part in _PLACEHOLDER_PARTS):
        return "is a well-known default or placeholder value"
    if len(data) < SECRET_KEY_MIN_BYTES:
        return f"is shorter than {SECRET_KEY_MIN_BYTES} bytes"
    counts = Counter(data).values()
    entropy = -sum(count / len(data) * math.log2(count / len(data)) for count in counts)
    if entropy < SECRET_KEY_MIN_ENTROPY:
        return "does not look random (too few different characters)"
    return None


def secret_key_problem(app: Flask, loaded: LoadedSettings) -> ConfigProblem | None:
    """The problem of the app's ``SECRET_KEY`` in the ``production`` environment, if any.

    ``flask prodready check`` fails with it; ``init_app`` only logs a warning. Other
    environments have none.

    .. versionadded:: 0.2
    """
    if loaded.environment != PRODUCTION:
        return None
    weakness = secret_key_weakness(app.config.get("SECRET_KEY"))
    if weakness is None:
        return None
    envvar = loaded.envvar("SECRET_KEY")
    advice = f"make one with {SECRET_KEY_COMMAND} and put it in .secrets.toml or {envvar}"
    if weakness == "is not set":
        return ConfigProblem(
            "SECRET_KEY", "is not set in production: sessions and signed cookies need it", advice
        )
    return ConfigProblem(
        "SECRET_KEY",
        f"{weakness}; in production, anyone who guesses it can forge sessions and signed cookies",
        f"{loaded.where_set('SECRET_KEY')}; {advice}",
    )


def warn_about_secret_key(app: Flask, loaded: LoadedSettings) -> None:
    """Log one warning per app and process when :func:`secret_key_problem` finds one."""
    problem = secret_key_problem(app, loaded)
    if problem is None:
        return
    seen = (app.import_name, app.root_path, problem.problem)
    if seen in _warned_secret_keys:
        return
    _warned_secret_keys.add(seen)
    logger.warning(
        f"SECRET_KEY {problem.problem}: {problem.where}; `flask prodready check` fails until then"
    )


def setting(name: str) -> Setting:
    """The :class:`Setting` called ``name``; raises ``KeyError`` naming the known ones."""
    try:
        return _SETTINGS_BY_NAME[name]
    except KeyError:
        known = ", ".join(_SETTINGS_BY_NAME)
        raise KeyError(f"{name!r} is not a flask-prodready setting; known: {known}") from None
