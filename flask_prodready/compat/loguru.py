"""loguru: what the logs part reads of loguru beyond its documented API, and its fallbacks.

Checked against loguru 0.7.0 to 0.7.3 (the lock pins 0.7.3; ``pyproject.toml`` asks for
0.7 or newer). Each function says what it reads and what it does when a later loguru no
longer has it; the fallback is always correct output, at some extra cost.

- :func:`has_handler` reads ``logger._core.handlers``: keeping a sink across ``init_app``
  calls saves milliseconds per app, and an app per test pays them every time.
- :func:`record_location` gives the ``function`` and ``line`` that loguru would write in a
  record, for the access line, which is written without going through loguru at all.

.. versionadded:: 0.2
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from loguru import logger

__all__ = ["RecordLocation", "has_handler", "record_location"]


def has_handler(handler_id: int) -> bool:
    """Whether loguru still has the handler ``handler_id`` (``logger.remove()`` drops all).

    Reads ``logger._core.handlers``, the dictionary of handlers by id in loguru 0.7.0 to
    0.7.3; loguru's public API has no way to ask. Without that dictionary it answers
    ``False``: the caller then adds its handler again through ``logger.add`` (after a
    ``logger.remove`` of the old id), which costs a few milliseconds and writes the same
    lines.

    :param handler_id: an id that ``logger.add`` returned.
    """
    handlers = getattr(getattr(logger, "_core", None), "handlers", None)
    return isinstance(handlers, Mapping) and handler_id in handlers


class RecordLocation(NamedTuple):
    """The ``function`` and ``line`` fields of a record, as loguru fills them."""

    function: str
    line: int


def record_location(function: Callable[..., Any]) -> RecordLocation:
    """The ``function`` and ``line`` loguru would write for a line logged in ``function``.

    loguru 0.7.0 to 0.7.3 take them from the caller's frame: ``record["function"]`` is the
    code's ``co_name`` and ``record["line"]`` the line number. A line written without
    loguru (the access line) names the first line of the function that writes it, read from
    ``function.__code__``. A callable without one (compiled, or a wrapper) is unwrapped
    first; failing that, its ``__name__`` and line 0 are used, as loguru does for a frame
    it cannot read.

    :param function: the function that writes the line.
    """
    code = getattr(inspect.unwrap(function), "__code__", None)
    if code is None:
        return RecordLocation(getattr(function, "__name__", "<unknown>"), 0)
    return RecordLocation(code.co_name, code.co_firstlineno)
