"""A fast JSON provider for Flask (``app.json``) built on orjson, identical to Flask's own.

:class:`OrjsonProvider` is Flask's :class:`~flask.json.provider.DefaultJSONProvider` with a
fast path: whatever Flask's provider would write, it writes the same text, byte for byte;
whatever Flask's provider would raise, it raises (the same exception, from :func:`json.dumps`
itself). ``default`` (the class's, ``app.json.default`` or ``dumps(default=...)``),
``ensure_ascii``, ``sort_keys`` and ``compact`` are honoured as Flask honours them, and
``jsonify`` answers the same body in debug mode and out of it. ``loads`` gives what
:func:`json.loads` gives, for everything it accepts, and raises what it raises.

orjson is used only where its output is known to be the same: a value is checked first
(cheaply, by type), and anything orjson would write differently goes to :func:`json.dumps`
with Flask's exact arguments. See :meth:`OrjsonProvider.dumps` and
:meth:`OrjsonProvider.loads` for the exact rules.

::

    from flask_prodready.json import OrjsonProvider

    app.json = OrjsonProvider(app)   # or PRODREADY_JSON_ORJSON = true

.. versionadded:: 0.1

.. versionchanged:: 0.2
    Identical to Flask's default provider for every value, instead of the same values in
    another form.
"""

from __future__ import annotations

import enum
import json
import math
import re
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from itertools import chain, compress
from typing import TYPE_CHECKING, Any

import orjson
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from .settings.casts import BOOL
from .settings.schema import Setting

if TYPE_CHECKING:
    from .state import ProdReadyState

__all__ = ["OrjsonProvider", "init_json"]

#: The settings the ``json`` part declares, in the order of the configuration reference.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PRODREADY_JSON_ORJSON",
        False,
        BOOL,
        "Serialise the app's JSON with orjson (`app.json`): byte for byte the text Flask's "
        "default provider writes, and the values it reads, up to 3x faster. See "
        "[Performance](performance.md).",
    ),
)

#: Flask's own ``default`` (``flask.json.provider._default``), as the class attribute gives it.
_FLASK_DEFAULT: Callable[[Any], Any] = DefaultJSONProvider.default

# Subclasses of str, int, list, tuple, dict and float go to `default`, as do dates and
# dataclasses: orjson itself then writes only str, int, float, bool, None, list, tuple, dict,
# UUID, Enum members and Fragments. The check below rules out the last three and the floats
# that orjson writes otherwise.
_OPTION = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
_MAX_DEPTH = 200  # levels checked before orjson runs; deeper goes to json
# json's recursion is bounded by Python's recursion limit: it raises RecursionError where the
# stack lacks room for the nesting. orjson nests at most 254 containers and 254 calls of
# `default` (it raises beyond), for which json needs at most three frames per level
# (indented; two when compact), reading at most one. orjson is used only when the stack has
# that room, so that json would never have run out of it.
_DUMPS_ROOM = 3 * 255 + 50
_LOADS_ROOM = 255 + 50
_MAX_NESTING = 254  # orjson's: past it, orjson.dumps raises
_FLOAT_LOW = 1e-4  # repr() writes floats in [1e-4, 1e16) without an exponent, like orjson
_FLOAT_HIGH = 1e16

# What a type is to the check: written by orjson as json writes it, a container to look
# into, a float to look at, a UUID (identical only with Flask's `default`), or never fast.
_PLAIN, _DICT, _SEQUENCE, _FLOAT, _UUID, _NEVER = range(6)
_KINDS: dict[type, int] = {
    str: _PLAIN,
    int: _PLAIN,
    bool: _PLAIN,
    type(None): _PLAIN,
    dict: _DICT,
    list: _SEQUENCE,
    tuple: _SEQUENCE,
    float: _FLOAT,
    uuid.UUID: _UUID,
}
_HAS_FLOAT, _HAS_DICT, _HAS_SEQUENCE, _HAS_UUID, _HAS_NEVER = 1, 2, 4, 8, 16
_KIND_FLAGS = {
    _PLAIN: 0,
    _DICT: _HAS_DICT,
    _SEQUENCE: _HAS_SEQUENCE,
    _FLOAT: _HAS_FLOAT,
    _UUID: _HAS_UUID,
    _NEVER: _HAS_NEVER,
}
_SHAPES: dict[frozenset[type], int] = {}  # the flags of a set of types, once worked out
_IS_FLOAT = frozenset({float}).__contains__
_IS_DICT = frozenset({dict}).__contains__
_IS_SEQUENCE = frozenset({list, tuple}).__contains__
_FRAGMENT: type | None = getattr(orjson, "Fragment", None)
_MAX_KINDS = 4096  # types remembered; past that, classified each time

# json.loads gives ints of any size; orjson gives a float past 64 bits. Any run of 19 digits
# (also inside a string: harmless) sends the text to json.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# How `dumps` keyword arguments map to orjson: the layout, or None when orjson cannot write it.
_COMPACT, _INDENTED, _SPACED = range(3)
_PASSED_THROUGH = frozenset({"default", "ensure_ascii", "sort_keys", "indent", "separators"})
# These change nothing in the text of a value that the fast path writes.
_HARMLESS = frozenset({"allow_nan", "check_circular", "skipkeys"})
_ITEM_BREAK = re.compile(rb",\n *")
_BREAK = re.compile(rb"\n *")


class _NotExactError(Exception):
    """orjson would not write what json writes: use json."""


def _stack_room(frames: int) -> bool:
    """Whether the stack is at least ``frames`` frames short of Python's recursion limit."""
    try:
        sys._getframe(sys.getrecursionlimit() - frames)
    except ValueError:  # the stack is not that deep
        return True
    return False


def _kind(cls: type) -> int:
    kind = _KINDS.get(cls)
    if kind is None:
        # orjson writes Enum members and Fragments itself; anything else it hands to
        # `default`, whose answer is checked in turn.
        kind = _NEVER if isinstance(cls, enum.EnumMeta) or cls is _FRAGMENT else _PLAIN
        if len(_KINDS) < _MAX_KINDS:
            _KINDS[cls] = kind
    return kind


def _float_exact(value: float) -> bool:
    return _FLOAT_LOW <= abs(value) < _FLOAT_HIGH or value == 0.0


def _shape(types: frozenset[type]) -> int:
    """What the values of these types need looked at: the ``_HAS_*`` flags."""
    shape = _SHAPES.get(types)
    if shape is None:
        shape = 0
        for cls in types:
            shape |= _KIND_FLAGS[_kind(cls)]
        if len(_SHAPES) < _MAX_KINDS:
            _SHAPES[types] = shape
    return shape


def _floats_exact(floats: list[float]) -> bool:
    """Whether each float is 0 or of magnitude in [1e-4, 1e16): checked in C, not one by one."""
    magnitudes = list(map(abs, floats))
    if not sum(magnitudes) < math.inf:  # NaN, infinity (or a sum past the largest float)
        return False
    return max(magnitudes) < _FLOAT_HIGH and min(filter(None, magnitudes), default=1.0) >= (
        _FLOAT_LOW
    )


def _exact(value: Any, uuid_exact: bool) -> bool:
    """Whether orjson writes ``value`` as json does (the answers of ``default`` aside).

    The values are looked at level by level, each level's types at once: the loops run in C.
    """
    values = [value]
    for _ in range(_MAX_DEPTH):
        classes = list(map(type, values))
        shape = _shape(frozenset(classes))
        if not shape:
            return True
        if shape & _HAS_NEVER or (shape & _HAS_UUID and not uuid_exact):
            return False
        if shape & _HAS_FLOAT and not _floats_exact(
            list(compress(values, map(_IS_FLOAT, classes)))
        ):
            return False
        if shape & _HAS_DICT:
            dicts = compress(values, map(_IS_DICT, classes))
            if shape & _HAS_SEQUENCE:
                sequences = compress(values, map(_IS_SEQUENCE, classes))
                values = [
                    *chain.from_iterable(map(dict.values, dicts)),
                    *chain.from_iterable(sequences),
                ]
            else:
                values = list(chain.from_iterable(map(dict.values, dicts)))
        elif shape & _HAS_SEQUENCE:
            values = list(chain.from_iterable(compress(values, map(_IS_SEQUENCE, classes))))
        else:
            return True
    return False  # deeper than _MAX_DEPTH, or a cycle: json decides


def _shallow(value: Any) -> bool:
    """Whether ``value`` (parsed by orjson) nests at most 254 containers: orjson.dumps says."""
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return True


_NOT_EXACT = object()


def _orjson_loads(s: object) -> Any:
    """What orjson reads in ``s`` when json.loads reads the same, else ``_NOT_EXACT``."""
    if isinstance(s, str):
        try:
            data: bytes | bytearray = s.encode()
        except UnicodeEncodeError:  # lone surrogates: orjson rejects them
            return _NOT_EXACT
    elif isinstance(s, bytes | bytearray):  # not a memoryview, as json.loads
        data = s
    else:
        return _NOT_EXACT
    if _LONG_DIGITS in data.translate(_DIGITS_AS_ZERO):
        return _NOT_EXACT
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:  # NaN, 1e400, a BOM, UTF-16, ...: json decides
        return _NOT_EXACT
    if data.count(b"[") + data.count(b"{") > _MAX_NESTING and not _shallow(value):
        return _NOT_EXACT
    return value


def _http_date(value: date) -> str:
    # werkzeug.http.http_date of a date (midnight UTC) or of a naive or UTC datetime: the
    # format of email.utils.format_datetime(..., usegmt=True), from the same timetuple.
    t = value.timetuple()
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (  # noqa: UP031 - email.utils's own
        _DAYS[t[6]],
        t[2],
        _MONTHS[t[1] - 1],
        t[0],
        t[3],
        t[4],
        t[5],
    )


def _orjson_default(default: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """The ``default`` for orjson: what json would write for the objects orjson hands over."""
    flasks = uuid_exact = default is _FLASK_DEFAULT

    def convert(value: Any) -> Any:
        cls = type(value)
        if flasks and (
            cls is date or (cls is datetime and (value.tzinfo is None or value.tzinfo is UTC))
        ):
            return _http_date(value)  # Flask's `_default`, its commonest case done directly
        # The order of json's encoder: subclasses of its types are written as those types.
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, int):
            return int.__int__(value)
        if isinstance(value, float):
            raise _NotExactError  # json compares a float subclass with itself to find NaN
        if isinstance(value, list | tuple):
            result: Any = list(value)  # json iterates subclasses as this does
        elif isinstance(value, dict):
            items = list(value.items())  # json calls items() on a dict subclass
            result = dict(items)
            if len(result) != len(items):
                raise _NotExactError
        elif default is None:
            raise _NotExactError
        else:
            result = default(value)
        if not _exact(result, uuid_exact):
            raise _NotExactError
        return result

    return convert


def _layout(kwargs: dict[str, Any]) -> int | None:
    """How orjson can lay out what json.dumps(**kwargs) writes, or None if it cannot."""
    if any(name not in _PASSED_THROUGH and name not in _HARMLESS for name in kwargs):
        return None
    indent = kwargs.get("indent")
    separators = kwargs.get("separators")
    if separators is not None:
        if not isinstance(separators, tuple | list) or len(separators) != 2:
            return None
        separators = tuple(separators)
    if indent is None:
        if separators == (",", ":"):
            return _COMPACT
        if separators is None or separators == (", ", ": "):
            return _SPACED
        return None
    two = (type(indent) is int and indent == 2) or (type(indent) is str and indent == "  ")
    if two and (separators is None or separators == (",", ": ")):
        return _INDENTED
    return None


def _probe() -> bool:
    """Whether this orjson writes ASCII text and the floats we let through as json does."""
    text = "".join(map(chr, range(128)))
    if orjson.dumps(text) != json.dumps(text, ensure_ascii=False).encode():
        return False
    floats = [0.0, -0.0, 0.1, 0.2 + 0.1, 1 / 3, 2 / 3, math.pi, 1e-4, 1e16]
    for exponent in range(-4, 16):
        for mantissa in (1.0, 1.5, 2.5, 9.999999999999999, 1 / 3):
            floats.append(mantissa * 10.0**exponent)
    floats += [math.nextafter(1e-4, math.inf), math.nextafter(1e16, 0.0)]
    floats += [-value for value in floats]
    return all(
        orjson.dumps(value) == repr(value).encode() for value in floats if _float_exact(value)
    )


if not _probe():  # pragma: no cover - an orjson that writes these otherwise: never fast
    _KINDS[float] = _NEVER


class OrjsonProvider(DefaultJSONProvider):
    """Flask's default JSON provider, with orjson wherever orjson writes the same text.

    Every method gives exactly what :class:`~flask.json.provider.DefaultJSONProvider` gives
    (the same ``str``, the same result, the same exception); only the time differs. Its
    attributes (``default``, ``ensure_ascii``, ``sort_keys``, ``compact``) and their
    overrides on a subclass or an instance (``app.json.default = ...``) act as on Flask's.

    .. versionadded:: 0.1

    .. versionchanged:: 0.2
        Byte-identical to Flask's provider: falls back on :func:`json.dumps` and
        :func:`json.loads` wherever orjson would differ.
    """

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialise ``obj`` exactly as :meth:`DefaultJSONProvider.dumps` does.

        ``default``, ``ensure_ascii`` and ``sort_keys`` default to the attributes, and the
        text is that of :func:`json.dumps`. orjson writes it when the layout is one orjson
        has (``separators=(",", ":")`` as ``jsonify`` passes; ``indent=2`` as in debug; or
        json's default spacing), no other argument changes the text, and every value is one
        orjson writes the same way: str keys; ints within 64 bits; floats that are 0 or of
        magnitude in [1e-4, 1e16); no Enum members; ``UUID`` only with Flask's ``default``;
        with ``ensure_ascii``, text that comes out ASCII. Objects json hands to ``default``
        go to the same ``default``, and its answers are checked in turn. Anything else, and
        any error, goes to :func:`json.dumps` with Flask's arguments, which then gives the
        text or raises; a ``default`` may therefore be called twice for one object.

        :param obj: The data to serialise.
        :param kwargs: Passed to :func:`json.dumps`, as by Flask.

        .. versionchanged:: 0.2
            Byte-identical to Flask's provider for every value and argument.
        """
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        kwargs.setdefault("sort_keys", self.sort_keys)
        layout = _layout(kwargs)
        if layout is not None and _stack_room(_DUMPS_ROOM):
            text = self._orjson_dumps(obj, kwargs, layout)
            if text is not None:
                return text
        return json.dumps(obj, **kwargs)

    @staticmethod
    def _orjson_dumps(obj: Any, kwargs: dict[str, Any], layout: int) -> str | None:
        default = kwargs["default"]
        if not _exact(obj, default is _FLASK_DEFAULT):
            return None
        option = _OPTION
        if kwargs["sort_keys"]:
            option |= orjson.OPT_SORT_KEYS
        if layout != _COMPACT:
            option |= orjson.OPT_INDENT_2
        try:
            data = orjson.dumps(obj, default=_orjson_default(default), option=option)
        except orjson.JSONEncodeError as exc:
            cause = exc.__cause__
            if isinstance(cause, BaseException) and not isinstance(cause, Exception):
                raise cause from None  # KeyboardInterrupt and the like, from `default`
            return None
        if kwargs["ensure_ascii"] and (not data.isascii() or b"\x7f" in data):
            return None  # json would escape these; DEL is ASCII but json escapes it too
        if layout == _SPACED:
            # Indented, line breaks are only ever layout (strings escape "\n"): join the lines.
            data = _BREAK.sub(b"", _ITEM_BREAK.sub(b", ", data))
        return data.decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse JSON text exactly as :meth:`DefaultJSONProvider.loads` (:func:`json.loads`).

        orjson parses it when no argument is given, ``s`` is ``str``, ``bytes`` or
        ``bytearray``, and it holds no run of 19 digits (json gives big ints exactly, orjson
        a float); whatever orjson rejects (NaN, Infinity, 1e400, a BOM, UTF-16 and UTF-32,
        lone surrogates, very deep nesting, invalid text) goes to :func:`json.loads`, which
        gives its result or raises its own exception.

        :param s: Text, or bytes in UTF-8, UTF-16 or UTF-32.
        :param kwargs: Passed to :func:`json.loads`.

        .. versionchanged:: 0.2
            The same results and exceptions as Flask's provider for every input.
        """
        if not kwargs and _stack_room(_LOADS_ROOM):
            value = _orjson_loads(s)
            if value is not _NOT_EXACT:
                return value
        return json.loads(s, **kwargs)


def init_json(app: Flask, state: ProdReadyState) -> None:
    """Install :class:`OrjsonProvider` as ``app.json`` when ``PRODREADY_JSON_ORJSON`` is on.

    .. versionadded:: 0.1
    """
    if state.setting("PRODREADY_JSON_ORJSON"):
        app.json = OrjsonProvider(app)
