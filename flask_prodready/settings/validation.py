"""Validation: dynaconf's validators run, and each failure becomes a problem that names the fix."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from dynaconf.contrib import FlaskDynaconf
from dynaconf.loaders.base import SourceMetadata
from dynaconf.utils.functional import empty
from dynaconf.validator import CombinedValidator, OrValidator, ValidationError, Validator
from flask import Flask
from flask.helpers import get_debug_flag

from flask_prodready.exceptions import ConfigProblem
from flask_prodready.redaction import is_secret_key, redact

from .loaded import LoadedSettings
from .schema import _TEXT_CASTS, all_settings
from .sources import (
    _APP_CONFIG_LOADER,
    _MISSING,
    _OVERRIDES_LOADER,
    _TESTING_LOADER,
    ENV_SWITCHER,
    PRODUCTION,
    TESTING_DEFAULTS,
)

__all__: list[str] = []


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
    declared = {s.name for s in all_settings() if s.cast in _TEXT_CASTS}
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
