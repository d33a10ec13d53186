"""Stores of recent errors: one :class:`ErrorStore` protocol, three backends.

- :class:`MemoryErrorStore`: in this process only; for tests and single-process apps.
- :class:`SQLiteErrorStore`: the default; one file (WAL mode) shared safely by every worker
  of one machine.
- :class:`RedisErrorStore`: shared by every instance of a service (``redis`` extra).

Errors are grouped by fingerprint (exception type and the app's own frames; line numbers and
message values do not count). Every store is bounded: at most ``max_groups`` groups (the
least recently seen go first), ``max_occurrences`` kept per group (the oldest go first),
nothing older than ``retention_seconds``.

Stores also keep a bounded buffer of recent WARNING+ log lines from every worker
(:class:`LogLine`) and a small shared key/value (desired log levels, instance heartbeats).
"""

from __future__ import annotations

from ._types import (
    ErrorGroup,
    ErrorOccurrence,
    ErrorStore,
    LogLine,
    StoreError,
    StoreLimits,
)
from .factory import open_store
from .memory import MemoryErrorStore
from .sqlite import SQLiteErrorStore

__all__ = [
    "ErrorGroup",
    "ErrorOccurrence",
    "ErrorStore",
    "LogLine",
    "MemoryErrorStore",
    "SQLiteErrorStore",
    "StoreError",
    "StoreLimits",
    "open_store",
]
