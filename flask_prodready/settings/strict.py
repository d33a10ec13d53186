"""Strict settings: an unknown ``PRODREADY_*`` key or table stops start-up, with "did you mean"."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from dynaconf.utils import build_env_list
from dynaconf.validator import Validator
from dynaconf.vendor.dotenv import dotenv_values

from flask_prodready.exceptions import ConfigProblem

from .loaded import LoadedSettings
from .schema import setting_names
from .sources import (
    _DYNACONF_FILE_KEYS,
    _FILE_LOADERS,
    _NESTED,
    _OURS,
    ENV_SWITCHER,
    STANDARD_ENVIRONMENTS,
)
from .validation import _leaves

__all__: list[str] = []


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
    known = setting_names() | {name.upper() for leaf in _leaves(validators) for name in leaf.names}
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
