"""Casts: the type of each setting, which also turns an environment variable's text into it."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from itertools import pairwise
from typing import Any

from .sources import _ENV_NAME_RE, _FALSE, _TRUE

__all__ = [
    "BOOL",
    "BUCKETS",
    "CALLABLE",
    "ENVIRONMENT_NAMES",
    "FLOAT",
    "HEADER_NAME",
    "INT",
    "LEVEL",
    "LEVEL_MAP",
    "NETWORKS",
    "OPTIONAL_STR",
    "PATHS",
    "RULE_TABLE",
    "STATUS_LIST",
    "STORE_LEVEL",
    "STR",
    "STR_LIST",
    "URL_PATH",
    "URL_PREFIX",
    "at_least",
    "choice",
]


class _Cast:
    """A settings type: turns a loaded value into the typed value, or raises ``ValueError``."""

    def __init__(self, expected: str, convert: Callable[[Any], Any]) -> None:
        self.expected = expected
        self._convert = convert
        self.__name__ = expected

    def __call__(self, value: Any) -> Any:
        return self._convert(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(value)


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise ValueError(value)


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(value)


def _to_url_prefix(value: Any) -> str:
    text = _to_str(value)
    if re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", text):
        return text
    raise ValueError(value)


def _to_float(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise ValueError(value) from None
    else:
        raise ValueError(value)
    if not math.isfinite(result):
        raise ValueError(value)
    return result


def _to_optional_str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return _to_str(value)


def _to_str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ValueError(value)


def _to_networks(value: Any) -> tuple[Any, ...]:
    from flask_prodready.access import parse_networks

    return parse_networks(_to_str_list(value))


def _to_paths(value: Any) -> tuple[str, ...]:
    paths = []
    for item in _to_str_list(value):
        if not re.fullmatch(r"/[^\s]*", item):
            raise ValueError(value)
        paths.append(item.rstrip("/") or "/")
    return tuple(paths)


def _to_buckets(value: Any) -> tuple[float, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError(value)
    bounds = tuple(_to_float(item) for item in items)
    finite = all(math.isfinite(bound) and bound > 0 for bound in bounds)
    if not finite or any(low >= high for low, high in pairwise(bounds)):
        raise ValueError(value)
    return bounds


def choice(*options: str) -> _Cast:
    """A settings type that accepts one of ``options``, in any case."""
    canonical = {option.lower(): option for option in options}

    def convert(value: Any) -> str:
        if isinstance(value, str) and value.strip().lower() in canonical:
            return canonical[value.strip().lower()]
        raise ValueError(value)

    return _Cast("one of " + ", ".join(repr(option) for option in options), convert)


def at_least(cast: _Cast, minimum: float) -> _Cast:
    """``cast``, refusing values below ``minimum``."""

    def convert(value: Any) -> Any:
        result = cast(value)
        if result < minimum:
            raise ValueError(value)
        return result

    return _Cast(f"{cast.expected} of at least {minimum}", convert)


BOOL = _Cast("a boolean (true/false, yes/no, on/off or 1/0)", _to_bool)
INT = _Cast("a whole number", _to_int)
STR = _Cast("a string", _to_str)


def _to_level(value: Any) -> str:
    text = _to_str(value).strip().upper()
    if text in _LEVELS:
        return text
    raise ValueError(value)


def _to_callable_ref(value: Any) -> Any:
    if value is None or value == "":
        return None
    if callable(value):
        return value
    text = _to_str(value).strip()
    if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", text):
        return text
    raise ValueError(value)


def _to_level_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValueError(value)
    return {str(name): _to_level(level) for name, level in value.items()}


def _to_header_name(value: Any) -> str:
    text = _to_str(value)
    if re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}", text):
        return text
    raise ValueError(value)


def _to_status_list(value: Any) -> tuple[int, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError(value)
    statuses = tuple(
        _to_int(item.strip() if isinstance(item, str) else item) for item in items if item != ""
    )
    if not all(400 <= status <= 599 for status in statuses):
        raise ValueError(value)
    return statuses


def _to_rule_table(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(value)
    return {str(name): _plain(spec) for name, spec in value.items()}


_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
FLOAT = _Cast("a number", _to_float)
LEVEL = _Cast("a log level: " + ", ".join(_LEVELS), _to_level)
STORE_LEVEL = _Cast(
    "a log level: " + ", ".join(_LEVELS) + ", or OFF",
    lambda value: "OFF" if _to_str(value).strip().upper() == "OFF" else _to_level(value),
)
CALLABLE = _Cast('a callable, or "module:function" naming one, or empty for none', _to_callable_ref)
LEVEL_MAP = _Cast("a table of logger name to log level", _to_level_map)
RULE_TABLE = _Cast("a table of alert rules by name", _to_rule_table)
STATUS_LIST = _Cast("a list of HTTP error statuses (400 to 599)", _to_status_list)
HEADER_NAME = _Cast("an HTTP header name such as X-Request-ID", _to_header_name)
OPTIONAL_STR = _Cast("a string, or empty for none", _to_optional_str)
STR_LIST = _Cast('a list of strings (a TOML array, or text separated by ",")', _to_str_list)
NETWORKS = _Cast(
    'a list of networks such as ["10.0.0.0/8", "::1/128"] (or text separated by ",")',
    _to_networks,
)
URL_PREFIX = _Cast('a URL path such as "/_prod" (starts with "/", no trailing "/")', _to_url_prefix)
PATHS = _Cast(
    'a list of URL paths such as ["/metrics", "/_prod"] (or text separated by ",")', _to_paths
)
BUCKETS = _Cast(
    "a list of increasing positive numbers of seconds such as [0.05, 0.1, 0.5, 1] "
    '(or text separated by ",")',
    _to_buckets,
)
URL_PATH = _Cast('a URL path such as "/readyz" (starts with "/", no trailing "/")', _to_url_prefix)


def _to_environment_names(value: Any) -> tuple[str, ...]:
    names = tuple(name.lower() for name in _to_str_list(value))
    if all(_ENV_NAME_RE.match(name) for name in names):
        return names
    raise ValueError(value)


ENVIRONMENT_NAMES = _Cast(
    'a list of environment names such as ["staging", "qa"] (or text separated by ",")',
    _to_environment_names,
)


def _plain(value: Any) -> Any:
    """dynaconf's Box and BoxList as plain dicts and lists, at any depth."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
