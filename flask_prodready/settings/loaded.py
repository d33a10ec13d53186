"""What a load found: :class:`LoadedSettings`, the environment, the sources and the values."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .sources import (
    _APP_CONFIG_LOADER,
    _DEFAULT_LOADERS,
    _FILE_LOADERS,
    _INTERNAL_IDENTIFIERS,
    _OVERRIDES_LOADER,
    _TESTING_LOADER,
)

__all__ = [
    "LoadedSettings",
]


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
