"""Redaction of secrets, used everywhere flask-prodready shows settings or context.

One rule serves logs, error records, the CLI and the dashboard alike: a value is hidden
when its key *looks* secret (see :data:`SECRET_KEY_PARTS`), at any depth of nested mappings
and sequences, and a password inside a URL (``postgresql://user:pw@host/db``) or a
connection string (``password=pw``, ``PWD=pw;``) is hidden in any string.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

__all__ = ["REDACTED", "SECRET_KEY_PARTS", "is_secret_key", "redact", "redact_url_passwords"]

#: What a redacted value is replaced by.
REDACTED = "***"

#: A key whose name contains any of these (case-insensitive) has its value redacted.
SECRET_KEY_PARTS: tuple[str, ...] = (
    "password",
    "passwd",
    "secret",
    "token",
    "key",
    "credential",
    "dsn",
    "cookie",
    "authorization",
    "session",
)

_SECRET_KEY_RE = re.compile("|".join(SECRET_KEY_PARTS), re.IGNORECASE)

# A number or duration under a name ending like these is an amount, not a secret, even when
# the name looks secret (PRODREADY_DASHBOARD_SESSION_SECONDS, PERMANENT_SESSION_LIFETIME).
_AMOUNT_SUFFIX_RE = re.compile(
    r"_(SECONDS|MINUTES|HOURS|DAYS|MS|TIMEOUT|TTL|LIFETIME|MAX_AGE|SIZE|BYTES|COUNT|LIMIT)$",
    re.IGNORECASE,
)

# scheme://user:password@host — the password may itself hold "@" (badly quoted), so the
# match runs to the last "@" before the host part.
_URL_PASSWORD_RE = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:)(?P<password>\S*?)@"
    r"(?=[^\s@/?#]*(?:[/?#\s]|$))"
)


# password=value in libpq ("password='a b'"), ODBC ("PWD={x};") and query strings ("&pwd=x").
_KEY_VALUE_PASSWORD_RE = re.compile(
    r"(?P<head>\b(?:\w*password|passwd|pwd)\s*=\s*)"
    r"(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\{[^}]*\}|[^\s;&,)]+)",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=4096)
def _secret_name(name: str) -> bool:
    return _SECRET_KEY_RE.search(name) is not None


def is_secret_key(key: object) -> bool:
    """Tell whether a key's name looks secret, so that its value must be hidden.

    ::

        >>> is_secret_key("DATABASE_PASSWORD"), is_secret_key("PORT")
        (True, False)

    :param key: a mapping key; keys that are not strings are never secret.

    .. versionadded:: 0.1
    """
    return isinstance(key, str) and _secret_name(key)


def redact_url_passwords(text: str) -> str:
    """Hide the password of every URL in ``text``, keeping scheme, user and host, and the
    value of every ``password=``, ``passwd=`` or ``pwd=`` (libpq and ODBC connection
    strings, query strings), as drivers quote them in their error messages.

    ::

        >>> redact_url_passwords("postgresql://app:hunter2@db:5432/shop")
        'postgresql://app:***@db:5432/shop'
        >>> redact_url_passwords("host=db user=app password='hunter 2' dbname=shop")
        'host=db user=app password=*** dbname=shop'

    .. versionadded:: 0.1
    """
    if "://" in text:
        text = _URL_PASSWORD_RE.sub(rf"\g<head>{REDACTED}@", text)
    if "=" in text:
        text = _KEY_VALUE_PASSWORD_RE.sub(rf"\g<head>{REDACTED}", text)
    return text


def redact(value: Any, *, key: object = None) -> Any:
    """Return a copy of ``value`` with secrets hidden, at any depth.

    Mappings are copied into plain dicts, lists and tuples keep their type; the value of a
    secret-looking key becomes :data:`REDACTED` (``None`` and booleans are kept, as they
    cannot hold a secret, and so are numbers and durations under names that end in a unit
    or amount such as ``_SECONDS`` or ``_LIFETIME``), and URL passwords in strings are
    hidden. Anything else is returned as it is.

    ::

        >>> redact({"db": {"url": "redis://:pw@cache:6379/0", "password": "pw"}, "port": 80})
        {'db': {'url': 'redis://:***@cache:6379/0', 'password': '***'}, 'port': 80}

    :param value: the data to redact; it is never modified.
    :param key: the key ``value`` is stored under, if any.

    .. versionadded:: 0.1
    """
    if (
        is_secret_key(key)
        and value is not None
        and not isinstance(value, bool)
        and not (_is_amount(value) and _AMOUNT_SUFFIX_RE.search(str(key)))
    ):
        return REDACTED
    if isinstance(value, str):
        return redact_url_passwords(value)
    if isinstance(value, Mapping):
        return {k: redact(v, key=k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, tuple):
        return tuple(redact(item) for item in value)
    if isinstance(value, set | frozenset):
        return type(value)(redact(item) for item in value)
    return value


def _is_amount(value: Any) -> bool:
    return isinstance(value, int | float | timedelta)
