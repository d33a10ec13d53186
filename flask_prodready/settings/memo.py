"""The settings a process loaded, kept to set up the next app with the same inputs at once.

Loading through dynaconf costs about 10 ms per app; a test suite that builds an app per test
pays it thousands of times for the same files and environment. :func:`load_settings
<flask_prodready.settings.load_settings>` asks :func:`recall` first and, on a miss, loads and
:func:`remember`\\ s the result.

A loaded result is reused only for the very same inputs, compared by value:

- the app's class, ``root_path`` and everything in ``app.config`` before ``init_app`` (only
  plain values: str, numbers, bytes, paths, dates, types and functions, and dicts, lists,
  tuples and sets of them; an app holding any other object in its config is always loaded
  afresh, since its equality says nothing about its state);
- the whole environment (``os.environ``), which holds the prefixed variables, dynaconf's own
  ``*_FOR_DYNACONF`` and anything ``@format`` reads;
- the bytes of every settings file looked for or loaded (``.env`` included), and which of
  them exist;
- the ``ProdReady`` arguments: settings files, prefix, overrides, validators.

Values are compared with their types and, for dicts, their order (``1`` is not ``True``). A
load is never reused when a settings file name is a pattern, when dynaconf includes files
(``dynaconf_include``), or when a validator computes its default: a new matching file, an
include created later or a new default would go unseen.

Each app gets its own ``app.config``, with fresh copies of dicts, lists and sets; the dynaconf
object (``app.dynaconf``) is shared by the apps set up from one result, read-only as after
any load.

.. versionadded:: 0.2
"""

from __future__ import annotations

import datetime
import decimal
import enum
import os
import threading
import types
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

__all__ = ["Inputs", "Remembered", "clear", "fresh", "inputs", "recall", "remember"]

#: Results kept per process; the oldest is dropped beyond this.
LIMIT = 8

# Values compared by value that cannot change in place, or compared by identity (types,
# functions): equal inputs then mean an equal load.
_IMMUTABLE = (
    str,
    bytes,
    int,
    float,
    complex,
    bool,
    type(None),
    PurePath,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    decimal.Decimal,
    uuid.UUID,
    enum.Enum,
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
)
_MAX_DEPTH = 20


class _NotPlainError(Exception):
    """A value that cannot be snapshotted safely: the app is loaded afresh."""


@dataclass(frozen=True)
class Inputs:
    """Everything a settings load reads, as a snapshot compared by value."""

    app_class: type
    root_path: str
    config: Any
    environ: dict[str, str]
    files: tuple[tuple[str, bytes | None], ...]
    arguments: tuple[Any, ...]
    validators: tuple[Any, ...]

    def same_as(self, other: Inputs) -> bool:
        """Whether ``other`` would load exactly what these inputs loaded."""
        try:
            return bool(
                self.app_class is other.app_class
                and self.root_path == other.root_path
                and len(self.validators) == len(other.validators)
                and all(a is b for a, b in zip(self.validators, other.validators, strict=True))
                and self.files == other.files
                and self.arguments == other.arguments
                and self.environ == other.environ
                and self.config == other.config
            )
        except Exception:  # an __eq__ that raises (numpy arrays do): not the same
            return False


@dataclass(frozen=True)
class Remembered:
    """A successful load: what to give the next app with the same inputs.

    :param inputs: what the load read.
    :param included: files dynaconf read beyond those looked for (includes), with their bytes.
    :param config: the app's config after the load, as a plain dict.
    :param dynaconf: the dynaconf settings object, shared.
    :param loaded: the :class:`~flask_prodready.settings.LoadedSettings` (its ``values``
        are rebuilt per app).
    """

    inputs: Inputs
    included: tuple[tuple[str, bytes | None], ...]
    config: dict[str, Any]
    dynaconf: Any
    loaded: Any

    def still_valid(self) -> bool:
        """Whether the included files still hold what was loaded from them."""
        return all(_read(path) == data for path, data in self.included)


_lock = threading.Lock()
_remembered: list[Remembered] = []


def _snapshot(value: Any, depth: int = 0) -> Any:
    """A form of ``value`` that compares equal only to the same types, values and order.

    ``1 == 1.0 == True`` and dicts compare regardless of order, but an app with ``1`` must not
    get the ``True`` of an earlier app: each value is tagged with its type, dicts keep their
    order. No later change to ``value`` can reach the snapshot. Raises ``_NotPlainError``
    for anything else than plain values.
    """
    cls = type(value)
    if isinstance(value, _IMMUTABLE):
        return (cls, value)
    if depth > _MAX_DEPTH:
        raise _NotPlainError
    if cls is dict:
        return (
            cls,
            tuple((_snapshot(k, depth + 1), _snapshot(v, depth + 1)) for k, v in value.items()),
        )
    if cls is list or cls is tuple:
        return (cls, tuple(_snapshot(item, depth + 1) for item in value))
    if cls is set or cls is frozenset:
        return (cls, frozenset(_snapshot(item, depth + 1) for item in value))
    raise _NotPlainError


def fresh(value: Any) -> Any:
    """``value`` with its dicts, lists and sets copied, at any depth, for one app to own."""
    if type(value) is dict:
        return {key: fresh(item) for key, item in value.items()}
    if type(value) is list:
        return [fresh(item) for item in value]
    if type(value) is set:
        return {fresh(item) for item in value}
    return value


def _read(path: str | os.PathLike[str]) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return None


def inputs(
    app_class: type,
    root_path: str,
    config: Mapping[str, Any],
    files: Iterable[str | os.PathLike[str]],
    arguments: tuple[Any, ...],
    validators: tuple[Any, ...],
) -> Inputs | None:
    """The snapshot of a load's inputs, or ``None`` when they cannot be compared safely."""
    try:
        snapshot = _snapshot(dict(config))  # in order: the key order is kept too
        arguments = _snapshot(arguments)
    except _NotPlainError:
        return None
    return Inputs(
        app_class,
        root_path,
        snapshot,
        _environment(),
        tuple((str(path), _read(path)) for path in files),
        arguments,
        validators,
    )


#: Variables that change under a test runner on every test and no setting reads.
_VOLATILE = frozenset({"PYTEST_CURRENT_TEST"})


def _environment() -> dict[str, str]:
    """The environment a load may read: all of it, less what pytest changes per test."""
    return {name: value for name, value in os.environ.items() if name not in _VOLATILE}


def recall(wanted: Inputs) -> Remembered | None:
    """The result remembered for inputs equal to ``wanted``, if any (then kept newest)."""
    with _lock:
        for index, remembered in enumerate(_remembered):
            if remembered.inputs.same_as(wanted) and remembered.still_valid():
                if index:
                    _remembered.insert(0, _remembered.pop(index))
                return remembered
    return None


def remember(
    read: Inputs, more_files: Iterable[str], config: Mapping[str, Any], dynaconf: Any, loaded: Any
) -> None:
    """Keep a successful load; ``more_files`` are files dynaconf read beyond those looked for."""
    known = {path for path, _ in read.files}
    included = tuple((path, _read(path)) for path in sorted(set(more_files) - known))
    config = {key: fresh(value) for key, value in config.items()}
    with _lock:
        _remembered.insert(0, Remembered(read, included, config, dynaconf, loaded))
        del _remembered[LIMIT:]


def clear() -> None:
    """Forget every remembered load: the next app is loaded from its sources."""
    with _lock:
        _remembered.clear()
