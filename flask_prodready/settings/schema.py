"""The schema of the ``PRODREADY_*`` settings: :class:`Setting`, collected from every part."""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Any

from dynaconf.validator import Validator

from .casts import (
    CALLABLE,
    ENVIRONMENT_NAMES,
    HEADER_NAME,
    LEVEL,
    OPTIONAL_STR,
    STORE_LEVEL,
    STR,
    STR_LIST,
    URL_PATH,
    URL_PREFIX,
    _Cast,
)

__all__ = [
    "DECLARED_IN",
    "OPTIONAL",
    "Setting",
    "all_settings",
    "declared",
    "setting",
    "setting_names",
    "settings_by_name",
]


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


#: Where the parts declare their settings, in the order of the configuration reference:
#: ``module:attribute`` naming a tuple of :class:`Setting`. Each part declares its settings
#: beside its code; a part that is not installed (an add-on such as the dashboard) declares
#: none.
DECLARED_IN: tuple[str, ...] = (
    "flask_prodready.settings.core:SETTINGS",
    "flask_prodready.request_id:SETTINGS",
    "flask_prodready.logs.settings:SETTINGS",
    "flask_prodready.errors.settings:SETTINGS",
    "flask_prodready.store.settings:SETTINGS",
    "flask_prodready.metrics.settings:SETTINGS",
    "flask_prodready.health.settings:SETTINGS",
    "flask_prodready.alerts.settings:SETTINGS",
    "flask_prodready.jobs.settings:SETTINGS",
    "flask_prodready.outgoing.settings:SETTINGS",
    "flask_prodready.sql:SETTINGS",
    "flask_prodready.profiling:SETTINGS",
    "flask_prodready.json:SETTINGS",
    "flask_prodready.dashboard.settings:SETTINGS",
)
#: Declarations that may be missing: the add-ons the core runs without.
OPTIONAL: frozenset[str] = frozenset({"flask_prodready.dashboard.settings"})


@functools.cache
def declared() -> tuple[tuple[str, tuple[Setting, ...]], ...]:
    """Each declaring module with its settings, in the order of :data:`DECLARED_IN`."""
    found = []
    for reference in DECLARED_IN:
        module_name, _, attribute = reference.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if (
                module_name in OPTIONAL
                and exc.name is not None
                and module_name.startswith(exc.name)
            ):
                continue
            raise
        found.append((module_name, tuple(getattr(module, attribute))))
    return tuple(found)


@functools.cache
def all_settings() -> tuple[Setting, ...]:
    """Every setting of the extension, in the order of the configuration reference."""
    return tuple(setting for _, settings in declared() for setting in settings)


@functools.cache
def settings_by_name() -> dict[str, Setting]:
    """Every setting by its name."""
    return {setting.name: setting for setting in all_settings()}


@functools.cache
def setting_names() -> frozenset[str]:
    """The names of every setting."""
    return frozenset(settings_by_name())


def __getattr__(name: str) -> Any:
    # SETTINGS is collected from the parts on first use: the parts import this module.
    if name == "SETTINGS":
        return all_settings()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


def setting(name: str) -> Setting:
    """The :class:`Setting` called ``name``; raises ``KeyError`` naming the known ones."""
    try:
        return settings_by_name()[name]
    except KeyError:
        known = ", ".join(settings_by_name())
        raise KeyError(f"{name!r} is not a flask-prodready setting; known: {known}") from None
