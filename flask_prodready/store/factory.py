"""Open the store that the settings name."""

from __future__ import annotations

from pathlib import Path

from ._types import ErrorStore, StoreLimits

__all__ = [
    "open_store",
]


def open_store(kind: str, *, path: str | Path, url: str | None, limits: StoreLimits) -> ErrorStore:
    """Open the ``memory``, ``sqlite`` or ``redis`` store.

    :raises StoreError: when the store cannot be opened.

    .. versionadded:: 0.1
    """
    if kind == "memory":
        from .memory import MemoryErrorStore

        return MemoryErrorStore(limits)
    if kind == "sqlite":
        from .sqlite import SQLiteErrorStore

        return SQLiteErrorStore(path, limits)
    if kind == "redis":
        from .redis import RedisErrorStore

        if not url:
            raise ValueError("the redis store needs PRODREADY_ERROR_STORE_URL")
        return RedisErrorStore(url, limits)
    raise ValueError(f"unknown store {kind!r}; expected memory, sqlite or redis")
