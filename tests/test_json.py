"""The orjson provider gives the same JSON values as Flask's default provider."""

from __future__ import annotations

import dataclasses
import decimal
import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from markupsafe import Markup

from flask_prodready import get_state
from flask_prodready.json import OrjsonProvider

from .conftest import AppDir


@dataclasses.dataclass
class Point:
    x: int
    label: str


CASES: list[Any] = [
    {"b": 1, "a": [1, 2.5, None, True, "é ☃"]},
    datetime(2015, 10, 21, 7, 28, tzinfo=UTC),
    datetime(2015, 10, 21, 7, 28),
    date(2024, 2, 29),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    decimal.Decimal("10.50"),
    Point(1, "p"),
    {"nested": {"when": date(2020, 1, 1), "id": uuid.UUID(int=1), "pt": Point(2, "q")}},
    Markup("<b>bold</b>"),
    [],
    "",
]


@pytest.mark.parametrize("value", CASES)
def test_same_values_as_flasks_default_provider(value: Any) -> None:
    app = Flask("json")
    default, fast = DefaultJSONProvider(app), OrjsonProvider(app)
    assert json.loads(fast.dumps(value)) == json.loads(default.dumps(value))


def test_keys_are_sorted_like_the_default() -> None:
    app = Flask("json")
    assert list(json.loads(OrjsonProvider(app).dumps({"b": 1, "a": 2, "c": 3}))) == ["a", "b", "c"]


def test_an_unsupported_object_raises_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        OrjsonProvider(Flask("json")).dumps({"x": object()})


def test_setting_installs_it_and_responses_use_it(app_dir: AppDir) -> None:
    app = app_dir.app(json_orjson=True)
    assert isinstance(app.json, OrjsonProvider)
    app.add_url_rule("/", "index", lambda: {"when": date(2024, 1, 2), "ok": True})
    assert app.test_client().get("/").get_json() == {
        "ok": True,
        "when": "Tue, 02 Jan 2024 00:00:00 GMT",
    }
    assert get_state(app).setting("PRODREADY_JSON_ORJSON") is True


def test_off_by_default(app_dir: AppDir) -> None:
    assert not isinstance(app_dir.app().json, OrjsonProvider)
