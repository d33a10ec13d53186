"""A store that is opened on first use, so that ``init_app`` does no I/O and opens no file."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from loguru import logger

from ._types import ErrorStore, StoreLimits

__all__ = ["LazyStore"]


class LazyStore:
    """Stands in for the store that ``open`` returns, opening it on the first call.

    When opening fails (a read-only disk, a locked file), the error is logged once and the
    store falls back to one in memory, so that errors are still kept and the app still
    serves. Every attribute and method of the opened store is reached through this object.

    :param open: opens the real store; may raise.
    :param kind: the store's kind, for the log line (``sqlite``, ``redis``…).
    :param limits: the bounds of the fallback memory store.

    .. versionadded:: 0.2
    """

    def __init__(self, open: Callable[[], ErrorStore], kind: str, limits: StoreLimits) -> None:
        self._open = open
        self._kind = kind
        self._limits = limits
        self._store: ErrorStore | None = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> bool:
        """Whether the real store (or its fallback) has been opened."""
        return self._store is not None

    def target(self) -> ErrorStore:
        """The opened store, opening it now if needed."""
        store = self._store
        if store is None:
            with self._lock:
                store = self._store
                if store is None:
                    store = self._store = self._open_or_fall_back()
        return store

    def _open_or_fall_back(self) -> ErrorStore:
        try:
            return self._open()
        except Exception as exc:  # a read-only disk must not stop the app: keep errors in memory
            from .memory import MemoryErrorStore

            logger.bind(logger="flask_prodready.errors").error(
                "cannot open the {} error store ({}); recording errors in memory instead",
                self._kind,
                exc,
            )
            return MemoryErrorStore(self._limits)

    def close(self) -> None:
        """Close the opened store, if it was opened; the next call opens it again."""
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()

    def retire(self) -> None:
        """Close the opened store for good: later calls reach a store in memory.

        For the app's finalizer: a background thread that still holds this store (the log
        shipper writes to the latest app's) must not open its file again once the app is gone.
        """
        from .memory import MemoryErrorStore

        with self._lock:
            store, self._store = self._store, MemoryErrorStore(self._limits)
        if store is not None:
            store.close()

    def __getattr__(self, name: str) -> Any:
        # Only reached for names this class lacks: the store's own methods and attributes.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.target(), name)

    def __repr__(self) -> str:
        state = repr(self._store) if self._store is not None else "not opened yet"
        return f"<LazyStore {self._kind}: {state}>"
