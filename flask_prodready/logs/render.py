"""Rendering of log records: the JSON line of the documented schema, and the pretty text.

A JSON line holds, in this order: ``ts`` (UTC, RFC 3339 with milliseconds and ``Z``),
``level``, ``logger``, ``message``, ``request_id`` (``null`` outside a request), ``trace_id``
and ``span_id`` when the request came with a W3C ``traceparent``, ``module``, ``function``,
``line``, ``process`` (pid), ``thread`` (id), then every bound field, and ``exception``
(``type``, ``message``, ``stack``) when there is one. Values of secret-looking fields and URL
passwords are redacted; values JSON cannot hold are written as strings.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from flask_prodready.redaction import REDACTED, is_secret_key, redact, redact_url_passwords

__all__ = [
    "CONTEXT_FIELDS",
    "MILLISECONDS",
    "SCHEMA_FIELDS",
    "dumps",
    "pretty_format",
    "render_json",
    "second_prefix",
    "timestamp_ms",
]

#: Fields of the schema; a bound field of the same name is written as ``extra_<name>``.
SCHEMA_FIELDS = frozenset(
    {
        "ts",
        "level",
        "logger",
        "message",
        "request_id",
        "trace_id",
        "span_id",
        "module",
        "function",
        "line",
        "process",
        "thread",
        "exception",
    }
)
#: Bound fields that the schema places itself rather than among the bound fields.
CONTEXT_FIELDS = frozenset({"request_id", "trace_id", "span_id", "logger"})
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE

#: ``.000Z`` to ``.999Z``: the end of a timestamp, looked up rather than formatted.
MILLISECONDS = tuple(f".{ms:03d}Z" for ms in range(1000))


def second_prefix(second: int) -> str:
    """A timestamp up to its second, ``2026-01-31T12:00:00``: callers cache it per second."""
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")


_second_cache: tuple[int, str] = (-1, "")


def timestamp_ms(millis: int) -> str:
    """RFC 3339 in UTC with milliseconds for ``millis`` since the epoch; the text up to the
    second is reused within it.

    .. versionadded:: 0.2
    """
    global _second_cache
    second = millis // 1000
    cached_second, prefix = _second_cache  # read once: another thread may replace it
    if second != cached_second:
        prefix = second_prefix(second)
        _second_cache = (second, prefix)
    return prefix + MILLISECONDS[millis - second * 1000]


def _utc_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds for a loguru record's time."""
    return timestamp_ms(int(moment.timestamp() * 1000))


def render_json(record: Mapping[str, Any]) -> bytes:
    """One JSON line (ending in a newline) for a loguru ``record``, in the documented schema.

    ::

        logger.add(lambda message: sys.stdout.buffer.write(render_json(message.record)))

    It never raises: a value JSON cannot hold is written as its ``str()``.

    :param record: a loguru record (``message.record`` in a sink).

    .. versionadded:: 0.1
    """
    extra = record["extra"]
    payload: dict[str, Any] = {
        "ts": _utc_timestamp(record["time"]),
        "level": record["level"].name,
        "logger": extra.get("logger") or record["name"],
        "message": record["message"],
        "request_id": extra.get("request_id"),
    }
    if "trace_id" in extra:
        payload["trace_id"] = extra["trace_id"]
        payload["span_id"] = extra.get("span_id")
    payload["module"] = record["module"]
    payload["function"] = record["function"]
    payload["line"] = record["line"]
    payload["process"] = record["process"].id
    payload["thread"] = record["thread"].id
    for key, value in extra.items():
        if key in CONTEXT_FIELDS:
            continue
        payload[f"extra_{key}" if key in SCHEMA_FIELDS else key] = _redact_field(key, value)
    exception = record["exception"]
    if exception is not None and exception.type is not None:
        stack = "".join(
            traceback.format_exception(exception.type, exception.value, exception.traceback)
        )
        payload["exception"] = {
            "type": _qualified_name(exception.type),
            "message": redact_url_passwords(str(exception.value)),
            "stack": redact_url_passwords(stack),
        }
    return dumps(payload)


def dumps(payload: dict[str, Any]) -> bytes:
    """``payload`` as one JSON line ending in a newline; never raises."""
    try:
        return orjson.dumps(payload, default=str, option=_ORJSON_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        # e.g. an integer beyond 64 bits, or a circular structure
        return (json.dumps(payload, default=str, ensure_ascii=False) + "\n").encode()


def _redact_field(key: str, value: Any) -> Any:
    """:func:`redact` for one bound field, with a fast path for the common scalar types."""
    kind = type(value)
    if kind is str:
        if is_secret_key(key):
            return REDACTED
        return redact_url_passwords(value) if "://" in value else value
    if value is None or kind is bool:
        return value
    if kind is int or kind is float:
        return REDACTED if is_secret_key(key) else value
    return redact(value, key=key)


def _qualified_name(kind: type) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def pretty_format(record: Mapping[str, Any]) -> str:
    """loguru's format for the pretty text: time, level, request id, logger, bound fields."""
    extra = record["extra"]
    rid = " <magenta>{extra[request_id]}</magenta>" if "request_id" in extra else ""
    fields = [key for key in extra if key not in CONTEXT_FIELDS]
    # Bound fields are shown redacted; their text is escaped into the format string.
    shown = " ".join(f"{key}={redact(extra[key], key=key)!r}" for key in fields)
    shown = " <dim>" + shown.replace("{", "{{").replace("}", "}}").replace("<", r"\<") + "</dim>"
    return (
        "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <8}</level>"
        + rid
        + " <cyan>{name}</cyan>:<cyan>{line}</cyan> <level>{message}</level>"
        + (shown if fields else "")
        + "\n{exception}"
    )
