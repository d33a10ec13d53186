"""What ``flask prodready config`` and ``flask prodready check`` report about the settings.

::

    from flask_prodready.config_report import config_warnings, settings_rows

    for key, value, source in settings_rows(app):
        print(key, value, source)       # secret-looking values are redacted
    for warning in config_warnings(app):
        print("warning:", warning)

The command line prints these, and the dashboard's Config page shows them (through
:class:`~flask_prodready.introspection.AppIntrospection`).

.. versionadded:: 0.2
   Moved here from :mod:`flask_prodready.cli`, which still re-exports both functions.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from flask import Flask

from .redaction import is_secret_key, redact
from .settings import LoadedSettings
from .state import get_state

__all__ = ["SettingRow", "config_warnings", "settings_rows"]


class SettingRow(NamedTuple):
    """One effective setting as ``flask prodready config`` shows it; unpacks as a tuple.

    :param key: the configuration key, e.g. ``PRODREADY_LOG_LEVEL``.
    :param value: its value, redacted when the key or the value looks secret.
    :param source: where the value came from, e.g. ``default``, ``keyword argument`` or
        ``environment variable FLASK_PORT``.

    .. versionadded:: 0.2
    """

    key: str
    value: object
    source: str


def settings_rows(app: Flask) -> list[SettingRow]:
    """The effective settings of ``app`` as ``flask prodready config`` shows them, by key.

    Each row is ``(key, value, source)``; secret-looking values are redacted, and the
    settings loader's own keys are left out.

    :param app: an app set up with flask-prodready.
    :raises NotInitialisedError: if flask-prodready was not set up on the app.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       The rows are :class:`SettingRow` tuples; the function moved here from
       :mod:`flask_prodready.cli`.
    """
    loaded = get_state(app).settings
    internal = loaded.internal_keys()
    rows = []
    for key in sorted(app.config.keys()):
        if key in internal or key.endswith("_FOR_DYNACONF"):
            continue
        sources = loaded.sources(key)
        value = redact(app.config.get(key), key=key)
        rows.append(SettingRow(key, value, sources[0] if sources else "default"))
    return rows


def config_warnings(app: Flask) -> list[str]:
    """The warnings of ``flask prodready check``: secrets in committed files, secret files
    git would commit.

    :param app: an app set up with flask-prodready.
    :raises NotInitialisedError: if flask-prodready was not set up on the app.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
       Moved here from :mod:`flask_prodready.cli`.
    """
    return list(_warnings(get_state(app).settings))


def _warnings(loaded: LoadedSettings) -> Iterator[str]:
    """Secrets in committed files, and secret files git would commit."""
    if loaded.dynaconf is not None:
        for meta, data in loaded.dynaconf.loaded_by_loaders.items():
            path = Path(meta.identifier)
            if meta.loader == "validator" or not path.is_file() or path.name.startswith(".secrets"):
                continue
            for key_path in _secret_paths(data):
                top = key_path.split(".", 1)[0]
                yield (
                    f"{key_path} is set in {path.name} [{meta.env.lower()}], a file that is "
                    f"usually committed; move it to .secrets.toml or the environment variable "
                    f"{loaded.envvar(top)}"
                )
    secret_files = [p for p in loaded.settings_files if p.name.startswith(".secrets")]
    yield from _not_ignored([*secret_files, loaded.dotenv_path])


def _secret_paths(data: Mapping[str, Any], parent: str = "") -> Iterator[str]:
    for key, value in data.items():
        path = f"{parent}.{key}" if parent else str(key)
        if is_secret_key(key) and value not in (None, "") and not isinstance(value, bool):
            yield path
        elif isinstance(value, Mapping):
            yield from _secret_paths(value, path)


def _not_ignored(paths: list[Path]) -> Iterator[str]:
    git = shutil.which("git")
    if git is None or not paths:
        return
    for path in paths:
        result = subprocess.run(
            [git, "-C", str(path.parent), "check-ignore", "-q", path.name],
            capture_output=True,
            check=False,
        )
        if result.returncode == 1:
            yield (
                f"{path} is not git-ignored; add {path.name} to .gitignore so it is never committed"
            )
