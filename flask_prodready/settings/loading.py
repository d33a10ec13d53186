"""Loading: dynaconf reads the files, ``.env`` and environment variables; values are cast."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from dynaconf.utils.parse_conf import boolean_fix, parse_conf_data
from dynaconf.validator import Validator
from dynaconf.vendor.dotenv import dotenv_values
from flask import Flask

from flask_prodready.exceptions import ConfigError, ConfigProblem

from . import memo as settings_memo
from .casts import BOOL, _plain, _to_bool
from .loaded import LoadedSettings
from .schema import all_settings
from .sources import (
    _DYNACONF_SUFFIX,
    _ENV_NAME_RE,
    _PREFIX_RE,
    DEFAULT_ENVVAR_PREFIX,
    DEFAULT_SETTINGS_FILES,
    DEVELOPMENT,
    DOTENV_FILE,
    ENV_SWITCHER,
    PRODUCTION,
    TESTING,
)
from .strict import _check_strict, _looks_ours
from .validation import (
    _apply_overrides,
    _apply_testing_defaults,
    _check_debug,
    _install_dynaconf,
    _keep_text_of_string_settings,
    _leaves,
    _run_validator,
    _show,
)

__all__ = [
    "load_settings",
    "resolve_environment",
]


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
    values = {setting.name: config[setting.name] for setting in all_settings()}
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
    for setting in all_settings():
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
