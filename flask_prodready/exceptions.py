"""Errors that flask-prodready raises when it is set up or configured wrongly.

These are errors of the *extension*, raised at start-up or on misuse; the HTTP error family
that applications raise from their views lives in :mod:`flask_prodready.errors`.

Hierarchy::

    ProdReadyError                  root of every error raised by the extension itself
     ├── ConfigError                settings are missing, malformed or invalid
     └── SetupError (RuntimeError)  the extension was set up wrongly
          └── NotInitialisedError   an app was used before ``init_app``
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "NotInitialisedError",
    "ProdReadyError",
    "SetupError",
]


class ProdReadyError(Exception):
    """Root of every error the extension itself raises.

    .. versionadded:: 0.1
    """


@dataclass(frozen=True)
class ConfigProblem:
    """One configuration problem found at start-up.

    :param key: the setting's name, e.g. ``PRODREADY_DASHBOARD_ENABLED``, or the settings
        file or environment variable that could not be read.
    :param problem: what is wrong, e.g. ``"expected a boolean, got 'maybe'"``. It never holds
        the value of a secret-looking key.
    :param where: where to fix it: the file and environment variable that set the value, or,
        for a missing key, where it can be set.

    .. versionadded:: 0.1
    """

    key: str
    problem: str
    where: str

    def __str__(self) -> str:
        return f"{self.key}: {self.problem}; {self.where}"


class ConfigError(ProdReadyError):
    """The settings are missing, malformed or invalid; start-up stops.

    Every problem found is reported at once: :attr:`problems` lists them and the message
    names each key, what was expected and where to set it. Values of secret-looking keys
    are never part of the message.

    :param problems: the problems found, at least one.
    :param environment: the settings environment that was loaded, e.g. ``production``.

    .. versionadded:: 0.1
    """

    def __init__(self, problems: Sequence[ConfigProblem], environment: str | None = None) -> None:
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        self.environment = environment
        super().__init__(self._format())

    def _format(self) -> str:
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        env = f' in environment "{self.environment}"' if self.environment else ""
        lines = [f"flask-prodready found {count} configuration {noun}{env}:"]
        lines.extend(f"  - {problem}" for problem in self.problems)
        return "\n".join(lines)


class SetupError(ProdReadyError, RuntimeError):
    """The extension was set up wrongly, e.g. ``init_app`` called twice on one app.

    .. versionadded:: 0.1
    """


class NotInitialisedError(SetupError):
    """The current app has no flask-prodready state: ``init_app`` was not called for it.

    .. versionadded:: 0.1
    """
