"""Levels: their names and numbers, and :class:`Levels`, the one level filter of the sink.

The filter holds a threshold overall and per logger name (the longest dotted prefix wins).
The process installs one (see :mod:`.process`); loguru asks it about every record, the
access line and :func:`~flask_prodready.testing.capture_logs` ask it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

__all__ = ["LEVELS", "Levels", "level_name", "level_no", "stdlib_level"]

#: The level names accepted by the settings and :func:`~flask_prodready.set_log_level`.
LEVELS: tuple[str, ...] = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


def level_no(name: str) -> int:
    """The number of the level ``name`` (any case), e.g. 20 for ``info``."""
    return int(logger.level(name.upper()).no)


def level_name(number: int) -> str:
    """The name in :data:`LEVELS` of the level ``number``, else the number as text."""
    for name in LEVELS:
        if level_no(name) == number:
            return name
    return str(number)


def stdlib_level(loguru_level: int) -> int:
    """The stdlib level for a loguru level number (stdlib filters by number too)."""
    # loguru's TRACE (5) and SUCCESS (25) have no stdlib twin.
    return max(loguru_level, 1)


@dataclass
class Levels:
    """The level threshold, overall and per logger name (longest dotted prefix wins).

    :param default: the threshold of every logger not named in ``per_logger``.
    :param per_logger: thresholds by dotted logger name, for that logger and its children.
    """

    default: int
    per_logger: dict[str, int] = field(default_factory=dict)
    #: Thresholds by logger name, as found: read directly by the access line.
    _cache: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Levels:
        """The thresholds of ``PRODREADY_LOG_LEVEL`` and ``PRODREADY_LOG_LEVELS``."""
        return cls(
            level_no(settings["PRODREADY_LOG_LEVEL"]),
            {name: level_no(level) for name, level in settings["PRODREADY_LOG_LEVELS"].items()},
        )

    def threshold(self, name: str) -> int:
        """The lowest level number that the logger ``name`` writes."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        result = self.default
        best = -1
        for prefix, level in self.per_logger.items():
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                result, best = level, len(prefix)
        if len(self._cache) < 10_000:
            self._cache[name] = result
        return result

    def accepts(self, record: Mapping[str, Any]) -> bool:
        """The filter: whether the loguru ``record`` reaches the sink.

        Its logger is the bound ``logger`` field (stdlib records carry their logger's
        name there), else the module name loguru gives the record.
        """
        name = record["extra"].get("logger") or record["name"] or ""
        return bool(record["level"].no >= self.threshold(name))

    def set(self, number: int, logger_name: str | None = None) -> None:
        """Set the threshold overall (``logger_name`` ``None``) or for one logger name."""
        if logger_name is None:
            self.default = number
        else:
            self.per_logger[logger_name] = number
        self._cache.clear()

    def lowest(self) -> int:
        """The lowest threshold of all: what the stdlib root logger must let through."""
        return min([self.default, *self.per_logger.values()])

    def set_to(self, other: Levels) -> None:
        """Take ``other``'s thresholds, in place: the installed filter reads this object."""
        self.default = other.default
        self.per_logger = dict(other.per_logger)
        self._cache.clear()
