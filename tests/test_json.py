"""The orjson provider is byte-identical to Flask's default provider, value by value.

Each case is written by both providers, under every layout and option Flask's provider takes
(plain ``dumps``, ``jsonify``'s compact form, debug's indented form, ``sort_keys`` and
``ensure_ascii`` off, a custom ``default``), and must give the same text or the same exception.
"""

from __future__ import annotations

import collections
import dataclasses
import decimal
import enum
import http
import json
import math
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any, NamedTuple

import orjson
import pytest
from flask import Flask, jsonify, request
from flask.json.provider import DefaultJSONProvider
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from flask_prodready import get_state
from flask_prodready import json as prodready_json
from flask_prodready.json import OrjsonProvider

from .support.apps import AppDir

# --- The values --------------------------------------------------------------------------


@dataclasses.dataclass
class Point:
    x: int
    label: str


@dataclasses.dataclass
class Shape:
    name: str
    points: list[Point]
    scale: float
    meta: dict[Any, Any]


class Pair(NamedTuple):
    left: Any
    right: Any


class Colour(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    HIGH = 3


class Mode(enum.StrEnum):
    FAST = "fast"


class Text(str):
    pass


class Number(int):
    def __str__(self) -> str:
        return "number"


class Shout(str):
    def __str__(self) -> str:
        return "SHOUT"


class Real(float):
    pass


class Items(list[Any]):
    pass


class Reversed(list[Any]):
    def __iter__(self) -> Iterator[Any]:
        return reversed(list(super().__iter__()))


class Mapping(dict[Any, Any]):
    pass


class Filtered(dict[Any, Any]):
    def items(self) -> Any:
        return [(k, v) for k, v in super().items() if not str(k).startswith("_")]


class Doubled(dict[Any, Any]):
    def items(self) -> Any:
        return [*super().items(), *super().items()]


class NamedUUID(uuid.UUID):
    def __str__(self) -> str:
        return "named"


class Stamp(datetime):
    pass


class Html:
    def __html__(self) -> str:
        return "<i>html</i>"


class Money:
    """A type only a custom ``default`` knows."""

    def __init__(self, cents: int) -> None:
        self.cents = cents


def money_default(value: Any) -> Any:
    if isinstance(value, Money):
        return {"cents": value.cents, "ratio": value.cents / 100}
    return DefaultJSONProvider.default(value)


def _nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def _nested_dicts(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = {f"k{level}": value}
    return value


def _circular() -> Any:
    value: list[Any] = [1]
    value.append(value)
    return value


def _moved() -> collections.OrderedDict[str, int]:
    ordered = collections.OrderedDict(a=1, b=2, c=3)
    ordered.move_to_end("a")
    return ordered


ORDINARY = [
    {
        "id": n,
        "name": f"user {n}",
        "email": f"user{n}@example.com",
        "score": n * 1.25,
        "active": n % 2 == 0,
        "manager": None,
        "joined": date(2024, 1, 1) + timedelta(days=n),
        "updated": datetime(2024, 5, 1, 12, 30, n % 60),
        "tags": ["a", "b"],
    }
    for n in range(50)
]

TRICKY: list[Any] = [
    # floats
    math.nan,
    math.inf,
    -math.inf,
    -0.0,
    0.0,
    1e16,
    1e15,
    9999999999999998.0,
    1e-4,
    9.999999999999999e-05,
    1e-5,
    1e-7,
    1.5e-10,
    5e-324,
    sys.float_info.max,
    0.1 + 0.2,
    1 / 3,
    [1.0, 2.5, -3.75, 1e22, 1e-5, math.nan],
    {"x": math.inf, "y": 1.5},
    [1.5, 2.5, math.nan],
    {"a": 1.5, "b": -math.nan, "c": 0.0},
    [0.0, -0.0, 0.5],
    # ints
    2**63 - 1,
    2**64 - 1,
    2**64,
    2**64 + 1,
    -(2**63),
    -(2**63) - 1,
    10**100,
    [2**64, 1, -(2**63) - 1],
    # keys
    {1: "a", 2: "b"},
    {10: "a", 9: "b"},
    {1: "a", "b": 2},
    {1.5: 1, True: 2, None: 3},
    {True: 1, False: 0},
    {math.nan: 1},
    {date(2020, 1, 1): 1},
    {(1, 2): 1},
    {uuid.UUID(int=1): 1},
    {Text("k"): 1, "a": 2},
    {"b": 1, "a": 2, "A": 3, "_": 4, "aa": 5, "": 6},
    {"\uffff": 1, "\U0001f600": 2, "a": 3, "é": 4, "\u00e9\u0301": 5},
    # sequences
    (1, 2),
    [(1, "a"), ((2,),)],
    Pair(1, "two"),
    [Pair(Pair(1, 2), [3])],
    Items([1, Items([2])]),
    Reversed([1, 2, 3]),
    # mappings
    _moved(),
    collections.defaultdict(int, {"b": 1, "a": 2}),
    collections.Counter("abca"),
    Mapping(b=1, a=Mapping(c=2)),
    Filtered({"a": 1, "_secret": 2}),
    Doubled(a=1),
    # Flask's extra types
    Point(1, "p"),
    Shape("tri", [Point(1, "a"), Point(2, "b")], 0.5, {"k": date(2020, 2, 2)}),
    Shape("nan", [], math.nan, {}),
    Shape("intkeys", [], 1.0, {2: "b", 1: "a"}),
    Point,
    decimal.Decimal("10.50"),
    decimal.Decimal("NaN"),
    decimal.Decimal("-0E-8"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)],
    NamedUUID(int=5),
    date(2024, 2, 29),
    date(1, 1, 1),
    datetime(2015, 10, 21, 7, 28),
    datetime(2015, 10, 21, 7, 28, 5, 999999, tzinfo=UTC),
    datetime(2015, 10, 21, 9, 28, tzinfo=timezone(timedelta(hours=2))),
    datetime(9999, 12, 31, 23, 59, 59),
    Stamp(2020, 1, 1, 1, 1, 1),
    time(1, 2),
    timedelta(seconds=1),
    Markup("<b>bold</b> é"),
    Html(),
    {"nested": {"when": date(2020, 1, 1), "id": uuid.UUID(int=1), "pt": Point(2, "q")}},
    # text
    "é ☃",
    "\U0001f600 astral",
    "\ud800 lone",
    "\udfff\ud800",
    "".join(map(chr, range(32))),
    "\x7f",
    "\u2028\u2029",
    '"\\/\b\f\n\r\t',
    "\x00",
    Text("sub\nclass é"),
    Shout("quiet"),
    {"k": Shout("v")},
    # enums, subclasses
    Colour.RED,
    Level.HIGH,
    Mode.FAST,
    http.HTTPStatus.OK,
    [Colour.RED],
    {"level": Level.HIGH},
    Number(7),
    Real(2.5),
    Real(math.nan),
    # depth and cycles
    _nested(150),
    _nested(300),
    _nested_dicts(120),
    _nested(5000),
    _circular(),
    # not serialisable
    orjson.Fragment(b"[1]"),
    b"bytes",
    bytearray(b"x"),
    {1, 2},
    frozenset({1}),
    complex(1, 2),
    object(),
    iter([1]),
    Money(150),
    # the plain ones
    {},
    [],
    "",
    None,
    True,
    False,
    0,
    -1,
    {"b": 1, "a": [1, 2.5, None, True, "x"], "c": {"d": []}},
    ORDINARY,
]

# The keyword arguments Flask passes, or a caller may.
LAYOUTS: list[dict[str, Any]] = [
    {},
    {"separators": (",", ":")},
    {"indent": 2},
    {"indent": "  ", "separators": (",", ": ")},
    {"separators": [", ", ": "]},
    {"sort_keys": False, "separators": (",", ":")},
    {"sort_keys": False, "indent": 2},
    {"ensure_ascii": False, "separators": (",", ":")},
    {"ensure_ascii": False},
    {"ensure_ascii": False, "sort_keys": False, "indent": 2},
    {"default": money_default, "separators": (",", ":")},
    {"default": str, "indent": 2},
    {"default": None},
    {"allow_nan": False, "separators": (",", ":")},
    {"skipkeys": True, "check_circular": False, "separators": (",", ":")},
    {"indent": 4},
    {"indent": 0},
    {"separators": (";", "=")},
    {"cls": json.JSONEncoder},
]


def _outcome(call: Callable[..., str], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "text", call(*args, **kwargs)
    except Exception as exc:  # the same exception, with the same message
        return type(exc).__name__, str(exc)


def _providers(
    app: Flask | None = None, **attributes: Any
) -> tuple[DefaultJSONProvider, OrjsonProvider]:
    app = app or Flask("json")
    flask, ours = DefaultJSONProvider(app), OrjsonProvider(app)
    for name, value in attributes.items():
        setattr(flask, name, value)
        setattr(ours, name, value)
    return flask, ours


def assert_same_dumps(value: Any, providers: tuple[DefaultJSONProvider, OrjsonProvider]) -> None:
    flask, ours = providers
    for layout in LAYOUTS:
        expected = _outcome(flask.dumps, value, **layout)
        assert _outcome(ours.dumps, value, **layout) == expected, layout


# --- dumps, case by case ------------------------------------------------------------------


def test_there_are_enough_tricky_cases() -> None:
    assert len(TRICKY) >= 70


@pytest.mark.parametrize("value", TRICKY, ids=lambda value: type(value).__name__)
def test_dumps_is_byte_identical(value: Any) -> None:
    assert_same_dumps(value, _providers())


@pytest.mark.parametrize(
    "attributes",
    [
        {"ensure_ascii": False},
        {"sort_keys": False},
        {"default": money_default},
        {"default": staticmethod(money_default)},
        {"ensure_ascii": 0, "sort_keys": 1},
    ],
    ids=str,
)
@pytest.mark.parametrize("value", [*TRICKY[::3], Money(5), [Money(1), uuid.UUID(int=3)]])
def test_dumps_is_byte_identical_with_attributes_set(
    value: Any, attributes: dict[str, Any]
) -> None:
    assert_same_dumps(value, _providers(**attributes))


class MoneyFlask(DefaultJSONProvider):
    """A subclass overriding ``default`` with a method, and the class attributes."""

    ensure_ascii = False
    sort_keys = False

    def default(self, value: Any) -> Any:  # type: ignore[override]
        if isinstance(value, uuid.UUID):
            return value.hex  # not Flask's form: orjson's own UUIDs must not be used
        return money_default(value)


class MoneyOrjson(OrjsonProvider, MoneyFlask):
    pass


@pytest.mark.parametrize("value", [Money(3), uuid.UUID(int=9), {"id": uuid.UUID(int=1)}, ORDINARY])
def test_a_subclass_overriding_default_and_attributes(value: Any) -> None:
    app = Flask("json")
    assert_same_dumps(value, (MoneyFlask(app), MoneyOrjson(app)))


def test_app_json_default_handles_a_custom_class() -> None:
    flask, ours = _providers(default=money_default)
    payload = {"price": Money(250), "items": [Money(1), Money(3)]}
    assert ours.dumps(payload) == flask.dumps(payload)
    assert ours.dumps(payload) == '{"items": [{"cents": 1, "ratio": 0.01}, ' + (
        '{"cents": 3, "ratio": 0.03}], "price": {"cents": 250, "ratio": 2.5}}'
    )
    with pytest.raises(TypeError, match="Money is not JSON serializable"):
        OrjsonProvider(Flask("json")).dumps(Money(1))


def test_dumps_default_argument_is_honoured() -> None:
    flask, ours = _providers()
    for value in [Money(1), {"id": uuid.UUID(int=1)}, date(2020, 1, 1), Colour.RED]:
        expected = flask.dumps(value, default=repr)
        assert ours.dumps(value, default=repr) == expected
    assert (
        ours.dumps(uuid.UUID(int=1), default=repr)
        == "\"UUID('00000000-0000-0000-0000-000000000001')\""
    )


def test_a_default_answering_what_orjson_writes_otherwise() -> None:
    answers: list[Any] = [math.nan, 2**70, Colour.RED, {3: 1, 1: 2}, uuid.UUID(int=1), 1e-9]
    for answer in answers:
        flask, ours = _providers(default=lambda _value, answer=answer: answer)
        assert_same_dumps([Money(1)], (flask, ours))


def test_ordinary_payloads_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    flask, ours = _providers()
    expected = {
        "plain": flask.dumps(ORDINARY),
        "compact": flask.dumps(ORDINARY, separators=(",", ":")),
        "indented": flask.dumps(ORDINARY, indent=2),
    }

    def no_json(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("json.dumps was called")

    monkeypatch.setattr(prodready_json.json, "dumps", no_json)
    assert ours.dumps(ORDINARY) == expected["plain"]
    assert ours.dumps(ORDINARY, separators=(",", ":")) == expected["compact"]
    assert ours.dumps(ORDINARY, indent=2) == expected["indented"]


# --- dumps, generated values --------------------------------------------------------------

_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
_KEYS = _TEXT | st.sampled_from(["a", "b", "A", "_", "é", "\U0001f600", "\ufffd"])
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**65), max_value=2**65)
    | st.floats()
    | st.floats(min_value=-1e-3, max_value=1e-3)
    | st.sampled_from([1e16, -1e16, 1e15, 1e-4, 1e-5, -0.0, math.nan, math.inf])
    | _TEXT
    | st.dates()
    | st.datetimes()
    | st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))]))
    | st.decimals(allow_nan=False)
    | st.uuids()
    | st.sampled_from([Colour.RED, Level.HIGH, Mode.FAST, Markup("<m>"), Text("t"), Number(2)])
)
_VALUES = st.recursive(
    _LEAVES,
    lambda children: (
        st.lists(children, max_size=5)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(_KEYS, children, max_size=5)
        | st.dictionaries(st.integers(-20, 20), children, max_size=3)
        | st.builds(Pair, children, children)
        | st.builds(Point, st.integers(), _TEXT)
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(_VALUES)
def test_generated_values_are_byte_identical(value: Any) -> None:
    assert_same_dumps(value, _providers())


@settings(max_examples=150, deadline=None)
@given(_VALUES)
def test_generated_values_with_options_off_are_byte_identical(value: Any) -> None:
    assert_same_dumps(value, _providers(ensure_ascii=False, sort_keys=False))


@settings(max_examples=300, deadline=None)
@given(st.floats() | st.integers(), st.floats(min_value=1e-4, max_value=1e16))
def test_generated_numbers_are_byte_identical(number: float, ranged: float) -> None:
    flask, ours = _providers()
    for value in (number, ranged, -ranged, [number, ranged]):
        assert ours.dumps(value, separators=(",", ":")) == flask.dumps(value, separators=(",", ":"))


# --- loads --------------------------------------------------------------------------------

LOADS: list[Any] = [
    "NaN",
    "-Infinity",
    '{"a": Infinity}',
    "1e400",
    "-1e400",
    "1e-400",
    "-1e-400",
    "-0",
    "-0.0",
    "0.1",
    "1E5",
    "123456789012345678901234567890.5",
    "0.1000000000000000055511151231257827021181583404541015625",
    str(2**64 + 1),
    str(2**64 - 1),
    str(-(2**63) - 1),
    str(-(2**63)),
    str(10**100),
    '{"a": 1, "b": 2, "a": 3}',
    '"\\ud800"',
    '"\\ud83d\\ude00"',
    '"\\u00e9 é \U0001f600"',
    "\ufeff{}",
    b"\xef\xbb\xbf{}",
    '{"a": [1, 2.5]}'.encode("utf-16"),
    '{"a": [1, 2.5]}'.encode("utf-16-le"),
    '{"a": [1, 2.5]}'.encode("utf-16-be"),
    '{"a": "é"}'.encode("utf-32"),
    '{"a": "é"}'.encode("utf-32-le"),
    b"1\x00",
    b'"\xed\xa0\x80"',
    b"\xff",
    b'{"a": 1}',
    bytearray(b"[1, 2]"),
    memoryview(b"[1]"),
    '"\x01"',
    '"\x7f"',
    " \x0c1",
    "\xa01",
    "[1,]",
    "01",
    "1.",
    ".5",
    '"\\x"',
    "",
    " ",
    '{"a":1}x',
    "[" * 100 + "]" * 100,
    "[" * 254 + "]" * 254,
    "[" * 255 + "]" * 255,
    '{"a": ' * 300 + "1" + "}" * 300,
    "[" * 1000 + "]" * 1000,
    "[" * 2000 + "]" * 2000,
    "[" + "[]," * 400 + "[]]",
    "[" * 100_000,
    12,
    None,
]


def _loads_outcome(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, str]:
    try:
        return "value", repr(
            call(*args, **kwargs)
        )  # repr tells 1 from 1.0, -0.0 from 0.0, nan apart
    except Exception as exc:
        return type(exc).__name__, str(exc)


def assert_same_loads(text: Any, **kwargs: Any) -> None:
    flask, ours = _providers()
    expected = _loads_outcome(flask.loads, text, **kwargs)
    assert _loads_outcome(ours.loads, text, **kwargs) == expected


@pytest.mark.parametrize("text", LOADS, ids=lambda text: repr(text)[:30])
def test_loads_gives_what_flask_gives(text: Any) -> None:
    assert_same_loads(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"parse_float": decimal.Decimal},
        {"parse_int": float},
        {"parse_constant": str},
        {"object_hook": lambda obj: sorted(obj)},
        {"object_pairs_hook": list},
        {"strict": False},
    ],
    ids=str,
)
def test_loads_arguments_are_honoured(kwargs: dict[str, Any]) -> None:
    for text in ['{"b": 1.10, "a": [NaN, 2]}', '{"a": "\x01"}', b'{"x": 0.5}']:
        assert_same_loads(text, **kwargs)
    assert OrjsonProvider(Flask("json")).loads("1.10", parse_float=decimal.Decimal) == (
        decimal.Decimal("1.10")
    )


def test_invalid_text_raises_jsons_decode_error() -> None:
    with pytest.raises(json.JSONDecodeError, match="Expecting value"):
        OrjsonProvider(Flask("json")).loads("[1,]")


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_loads_of_generated_documents(value: Any) -> None:
    text = DefaultJSONProvider(Flask("json")).dumps(value, default=str, sort_keys=False)
    assert_same_loads(text)
    assert_same_loads(text.encode())
    raw = json.dumps(value, default=str, ensure_ascii=False)
    assert_same_loads(raw.encode("utf-8", "surrogatepass"))
    assert_same_loads(text.encode("utf-16"))


@settings(max_examples=500, deadline=None)
@given(
    st.from_regex(r"\A-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][-+]?[0-9]{1,3})?\Z")
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
def test_loads_of_generated_numbers_and_noise(text: str | bytes) -> None:
    assert_same_loads(text)
    assert_same_loads(f"[{text!r}, {text}]" if isinstance(text, str) else b"[" + text + b"]")


# --- deep values, near the recursion limit ------------------------------------------------


def _at_stack_depth(frames: int, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    if frames <= 0:
        return call(*args, **kwargs)
    return _at_stack_depth(frames - 1, call, *args, **kwargs)


class Link:
    """Each needs ``default``, whose answer holds the next: a chain of 2 frames a level."""

    def __init__(self, length: int) -> None:
        self.length = length


def link_default(value: Any) -> Any:
    if isinstance(value, Link):
        return {"next": Link(value.length - 1)} if value.length else None
    return DefaultJSONProvider.default(value)


DEEP = [
    _nested(100),
    _nested(254),
    _nested_dicts(200),
    Link(100),
    Link(200),
    Link(250),
    [Link(120)],
]


@pytest.mark.parametrize("frames", [0, 150, 250, 300, 400, 500, 700, 850, 950])
def test_deep_values_at_any_stack_depth(frames: int) -> None:
    flask, ours = _providers(default=link_default)
    for value in DEEP:
        for layout in ({"separators": (",", ":")}, {"indent": 2}, {}):
            expected = _at_stack_depth(frames, _outcome, flask.dumps, value, **layout)
            got = _at_stack_depth(frames, _outcome, ours.dumps, value, **layout)
            assert got == expected, (frames, layout)
    for depth in (100, 254, 300, 600, 900):
        text = "[" * depth + "]" * depth
        expected = _at_stack_depth(frames, _loads_outcome, flask.loads, text)
        assert _at_stack_depth(frames, _loads_outcome, ours.loads, text) == expected


# --- through a real app -------------------------------------------------------------------

BODIES: list[Any] = [
    b'{"a": 1}',
    b"[NaN, Infinity, -Infinity, 1e400]",
    b"\xef\xbb\xbf[1]",
    '{"a": "é"}'.encode("utf-16"),
    '{"a": "é"}'.encode("utf-32-le"),
    str(2**64 + 1).encode(),
    b"[1,]",
    b"\xff",
    b"",
]


def _twins(debug: bool, compact: bool | None) -> tuple[Flask, Flask]:
    apps = []
    for fast in (False, True):
        app = Flask("json_app")
        app.debug = debug
        if fast:
            app.json = OrjsonProvider(app)
        app.json.compact = compact  # type: ignore[attr-defined]

        @app.post("/echo")
        def echo() -> Any:
            return repr(request.get_json())

        @app.get("/case/<int:index>")
        def case(index: int) -> Any:
            return jsonify(TRICKY[index])

        @app.get("/ordinary")
        def ordinary() -> Any:
            return {"users": ORDINARY, "count": len(ORDINARY), "ratio": 0.5}

        @app.get("/kwargs")
        def kwargs() -> Any:
            return jsonify(a=math.nan, b=2**64, c="é")

        apps.append(app)
    return apps[0], apps[1]


def _answer(app: Flask, method: str, path: str, body: bytes | None = None) -> Any:
    client = app.test_client()
    try:  # in debug mode the test client raises the view's exception
        response = client.open(path, method=method, data=body, content_type="application/json")
    except Exception as exc:
        return type(exc).__name__, str(exc)
    return response.status_code, response.get_data(), sorted(response.headers.items())


@pytest.mark.parametrize(
    ("debug", "compact"), [(False, None), (True, None), (False, False), (True, True)]
)
def test_jsonify_and_get_json_are_identical_through_an_app(
    debug: bool, compact: bool | None
) -> None:
    flask_app, fast_app = _twins(debug, compact)
    assert isinstance(fast_app.json, OrjsonProvider)
    paths = ["/ordinary", "/kwargs"] + [f"/case/{index}" for index in range(len(TRICKY))]
    for path in paths:
        assert _answer(fast_app, "GET", path) == _answer(flask_app, "GET", path), path
    for body in BODIES:
        assert _answer(fast_app, "POST", "/echo", body) == _answer(flask_app, "POST", "/echo", body)


def test_get_json_reads_what_orjson_alone_rejects() -> None:
    _, app = _twins(debug=False, compact=None)
    client = app.test_client()
    response = client.post(
        "/echo", data=b"[NaN, 18446744073709551617]", content_type="application/json"
    )
    assert response.status_code == 200
    assert response.get_data() == b"[nan, 18446744073709551617]"
    assert client.get("/kwargs").get_data() == b'{"a":NaN,"b":18446744073709551616,"c":"\\u00e9"}\n'


def test_setting_installs_it_and_responses_use_it(app_dir: AppDir) -> None:
    app = app_dir.app(json_orjson=True)
    assert isinstance(app.json, OrjsonProvider)
    app.add_url_rule("/", "index", lambda: {"when": date(2024, 1, 2), "ok": True})
    assert app.test_client().get("/").get_data() == (
        b'{"ok":true,"when":"Tue, 02 Jan 2024 00:00:00 GMT"}\n'
    )
    assert get_state(app).setting("PRODREADY_JSON_ORJSON") is True


def test_off_by_default(app_dir: AppDir) -> None:
    assert not isinstance(app_dir.app().json, OrjsonProvider)
