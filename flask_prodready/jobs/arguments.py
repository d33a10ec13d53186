"""A job's arguments as a small, redacted, JSON-ready preview, for its error record.

A job's arguments can be anything: megabytes of text, an open connection, an object whose
``repr`` raises. :func:`preview_arguments` looks at a bounded part of each (the first items
of a collection, the start of a string, a few levels deep), hides the values of
secret-looking names and URL passwords, and never raises.
"""

from __future__ import annotations

import itertools
import reprlib
from collections.abc import Mapping
from typing import Any

import orjson

from flask_prodready.redaction import REDACTED, is_secret_key, redact_url_passwords

__all__ = ["preview_arguments"]

#: Items shown of a list, tuple, set or mapping; the rest are counted.
MAX_ITEMS = 20
#: Characters shown of a string or of an object's ``repr``.
MAX_TEXT = 500
#: Levels of nesting shown.
MAX_DEPTH = 4
#: Values looked at in all, so that nested collections cannot multiply the limits above.
MAX_VALUES = 200

_repr = reprlib.Repr()
_repr.maxstring = MAX_TEXT
_repr.maxother = MAX_TEXT
_repr.maxlevel = 2


def preview_arguments(
    args: tuple[Any, ...] | list[Any], kwargs: Mapping[str, Any], max_chars: int
) -> dict[str, Any]:
    """``{"args": [...], "kwargs": {...}}``, redacted, within about ``max_chars`` characters.

    A preview longer than ``max_chars`` as JSON is cut and kept as text, ending in ``…``;
    ``max_chars`` of 0 keeps nothing. It never raises: what cannot be looked at is shown as
    ``<unprintable TYPE>``.

    ::

        >>> preview_arguments((7,), {"token": "s3cr3t"}, 2000)
        {'args': [7], 'kwargs': {'token': '***'}}

    .. versionadded:: 0.2
    """
    if max_chars <= 0:
        return {}
    try:
        budget = [MAX_VALUES]
        shown: dict[str, Any] = {
            "args": [
                _preview(value, None, 1, budget) for value in itertools.islice(args, MAX_ITEMS)
            ],
            "kwargs": _preview(kwargs, None, 0, budget),
        }
        if len(args) > MAX_ITEMS:
            shown["args"].append(f"… {len(args) - MAX_ITEMS} more")
        text = orjson.dumps(shown, default=str).decode()
    except Exception:  # a job's arguments must never fail the job or its error record
        return {"unprintable": True}
    if len(text) <= max_chars:
        return shown
    return {"truncated": text[: max(max_chars - 1, 0)] + "…"}


def _preview(value: Any, key: object, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        return "…"
    if key is not None and is_secret_key(key) and value is not None and value is not False:
        return REDACTED
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        # JSON holds 64 bits; str() of a huge int is slow, and refused past 4300 digits.
        return value if -(2**63) <= value < 2**63 else f"<int of {value.bit_length()} bits>"
    if isinstance(value, str):
        cut = value[:MAX_TEXT] + ("…" if len(value) > MAX_TEXT else "")
        return redact_url_passwords(cut)
    if depth >= MAX_DEPTH:
        return "…"
    try:
        if isinstance(value, Mapping):
            shown = {
                str(name)[:100]: _preview(item, name, depth + 1, budget)
                for name, item in itertools.islice(value.items(), MAX_ITEMS)
            }
            if len(value) > MAX_ITEMS:
                shown["…"] = f"{len(value) - MAX_ITEMS} more"
            return shown
        if isinstance(value, list | tuple | set | frozenset):
            items = [
                _preview(item, None, depth + 1, budget)
                for item in itertools.islice(value, MAX_ITEMS)
            ]
            if len(value) > MAX_ITEMS:
                items.append(f"… {len(value) - MAX_ITEMS} more")
            return items
        return redact_url_passwords(_repr.repr(value)[:MAX_TEXT])
    except Exception:  # a __repr__, __len__ or __iter__ that raises
        return f"<unprintable {type(value).__qualname__}>"
