"""A fast JSON provider for Flask (``app.json``) built on orjson.

It gives the same values as Flask's default provider: dates and datetimes as HTTP dates
(``Wed, 21 Oct 2015 07:28:00 GMT``), ``UUID`` and ``Decimal`` as strings, dataclasses as
objects, ``__html__`` objects as their markup, keys sorted when ``sort_keys`` is true; and
raises ``TypeError`` for anything else. The text differs only in form: compact separators,
and UTF-8 instead of ``\\u`` escapes (``ensure_ascii`` is not honoured).

::

    from flask_prodready.json import OrjsonProvider

    app.json = OrjsonProvider(app)   # or PRODREADY_JSON_ORJSON = true

.. versionadded:: 0.1
"""

from __future__ import annotations

import dataclasses
import decimal
import uuid
from datetime import date
from typing import Any

import orjson
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.http import http_date

__all__ = ["OrjsonProvider", "init_json"]


def _default(value: Any) -> Any:
    if isinstance(value, date):
        return http_date(value)
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "__html__"):
        return str(value.__html__())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider on orjson: the same values as the default one, faster.

    .. versionadded:: 0.1
    """

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialise ``obj``; ``sort_keys`` and ``indent`` (any value: two spaces) apply."""
        option = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
        option |= orjson.OPT_NON_STR_KEYS
        if kwargs.get("sort_keys", self.sort_keys):
            option |= orjson.OPT_SORT_KEYS
        if kwargs.get("indent"):
            option |= orjson.OPT_INDENT_2
        try:
            return orjson.dumps(obj, default=_default, option=option).decode()
        except orjson.JSONEncodeError as exc:
            # orjson wraps the TypeError of `default`; callers expect json's TypeError.
            raise TypeError(str(exc)) from exc

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON text."""
        return orjson.loads(s)


def init_json(app: Flask, state: Any) -> None:
    """Install :class:`OrjsonProvider` as ``app.json`` when ``PRODREADY_JSON_ORJSON`` is on."""
    if state.setting("PRODREADY_JSON_ORJSON"):
        app.json = OrjsonProvider(app)
