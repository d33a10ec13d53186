"""Redaction of secrets, used everywhere flask-prodready shows settings or context.

One rule serves logs, error records, the CLI and the dashboard alike: a value is hidden
when its key *looks* secret (see :data:`SECRET_KEY_PARTS`), at any depth of nested mappings
and sequences, and a password inside a URL (``postgresql://user:pw@host/db``) or a
connection string (``password=pw``, ``PWD=pw;``) is hidden in any string.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

__all__ = [
    "CREDENTIAL_HEADERS",
    "CREDENTIAL_HEADER_SETTINGS",
    "REDACTED",
    "SECRET_KEY_PARTS",
    "URL_SECRET_PARAMETERS",
    "URL_SECRET_WORDS",
    "credential_headers",
    "is_secret_key",
    "is_secret_query_parameter",
    "redact",
    "redact_headers",
    "redact_url_passwords",
]

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

#: Request headers (lower-case) whose value is always a credential. Most names already look
#: secret (``Authorization``, ``Cookie``, ``X-Api-Key``); these are listed for clarity.
CREDENTIAL_HEADERS: frozenset[str] = frozenset({"authorization", "proxy-authorization", "cookie"})

#: The settings that name a request header whose value is a credential: the header joins
#: :data:`CREDENTIAL_HEADERS` under the name the app gives it. (The metrics, health and
#: dashboard tokens travel in ``Authorization`` and the session cookie.)
CREDENTIAL_HEADER_SETTINGS: tuple[str, ...] = ("PRODREADY_PROFILING_HEADER",)

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


# A password's value, after its name: password=value in libpq ("password='a b'"), ODBC
# ("PWD={x};"), query strings ("&pwd=x") and Python calls ("connect(password='x')"), and
# "password": "value" in JSON or a Python dict's repr. A quoted value keeps its quotes ('...',
# "...", ODBC's {...}), closed on the same line, escapes included; a value whose quote is
# never closed (a truncated message) is hidden to the end of its line. A bare value runs to
# a delimiter: whitespace, ";", "&", ",", ")", "]", "}", or a quote that closes the text
# around it, so that dsn="password=hunter2") keeps its '")'.
_KEY_VALUE_PASSWORD_RE = re.compile(
    r"(?P<head>\b(?:\w*(?:password|passwd)|pwd)[ \t]*=(?!=)[ \t]*"
    r"|(?P<key_quote>['\"])\w*(?:password|passwd|pwd)(?P=key_quote)[ \t]*:[ \t]*)"
    r"(?:(?P<quote>['\"])(?:(?!(?P=quote))[^\\\n]|\\.)*(?P=quote)"
    r"|(?P<brace>\{)[^}\n]*\}"
    r"|(?P<unclosed>['\"{])[^\n]*"
    r"|(?:[^\s;&,)\]}'\"]|['\"](?![\s;&,)\]}]|$))+)",
    re.IGNORECASE,
)

#: Words that make a query parameter's name a credential's (``api_key``, ``accessToken``,
#: ``X-Amz-Signature``, ``session_id``), and whole names that are (``sig``: Azure's signed
#: URLs; ``code``: OAuth's). Matched by word, not inside other words: ``keyword`` and
#: ``monkey`` are not secret, as they would be for :func:`is_secret_key`.
URL_SECRET_WORDS: frozenset[str] = frozenset(
    {
        *SECRET_KEY_PARTS,
        "apikey",
        "auth",
        "credentials",
        "jwt",
        "pwd",
        "sig",
        "signature",
        "accesstoken",
        "refreshtoken",
        "idtoken",
        "authtoken",
        "sessionid",
        "clientsecret",
    }
)
URL_SECRET_PARAMETERS: frozenset[str] = frozenset({"code"})

# The words of a parameter's name: split on _ - . [ ] and where a capital follows a letter.
_NAME_WORDS_RE = re.compile(r"[_\-.\[\]\s]+|(?<=[a-z0-9])(?=[A-Z])")

# A query parameter in a URL or a path with its query, as error messages quote them
# ("Max retries exceeded with url: /charges?token=abc"): its name, then its value up to
# the next delimiter (a comma only when a space follows it, as in a sentence).
_QUERY_PARAMETER_RE = re.compile(
    r"(?P<head>[?&;](?P<name>[\w.%\-\[\]]+)=)(?P<value>(?:[^&;#\s'\"<>()\[\]{},]|,(?!\s))*)"
)


@functools.lru_cache(maxsize=4096)
def is_secret_query_parameter(name: str) -> bool:
    """Tell whether a URL's query parameter holds a credential, by its name (percent-decoded
    by the caller): a word of it is one of :data:`URL_SECRET_WORDS`, it ends in
    ``signature``, or it is one of :data:`URL_SECRET_PARAMETERS`.

    ::

        >>> [is_secret_query_parameter(n) for n in ("api_key", "X-Goog-Signature", "keyword")]
        [True, True, False]

    .. versionadded:: 0.2
    """
    lowered = name.lower()
    if lowered in URL_SECRET_PARAMETERS or lowered.endswith("signature"):
        return True
    return any(word.lower() in URL_SECRET_WORDS for word in _NAME_WORDS_RE.split(name))


def _hide_query_value(match: re.Match[str]) -> str:
    if match["value"] and is_secret_query_parameter(unquote(match["name"])):
        return f"{match['head']}{REDACTED}"
    return match[0]


# Most lines name no password: a quick scan for the names spares them the full pattern.
_PASSWORD_NAME_RE = re.compile("pass(?:word|wd)|pwd", re.IGNORECASE)


def _hide_passwords(text: str) -> str:
    """:data:`_KEY_VALUE_PASSWORD_RE` applied to the lines of ``text`` that name a password
    (a match never spans lines), the other lines kept as they are."""
    pieces: list[str] = []
    done = 0
    for name in _PASSWORD_NAME_RE.finditer(text):
        if name.start() < done:  # on a line already done
            continue
        line_start = text.rfind("\n", 0, name.start()) + 1
        line_end = text.find("\n", name.start())
        if line_end < 0:
            line_end = len(text)
        pieces.append(text[done:line_start])
        pieces.append(_KEY_VALUE_PASSWORD_RE.sub(_hide_value, text[line_start:line_end]))
        done = line_end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _hide_value(match: re.Match[str]) -> str:
    """The password's name, then :data:`REDACTED` inside the value's own quotes, if any."""
    head, quote = match["head"], match["quote"]
    if quote:
        return f"{head}{quote}{REDACTED}{quote}"
    if match["brace"]:
        return f"{head}{{{REDACTED}}}"
    if match["unclosed"]:
        return f"{head}{match['unclosed']}{REDACTED}"
    return f"{head}{REDACTED}"


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
    strings, query strings, Python calls) and ``"password": ...`` (JSON, a dict's repr), as
    drivers quote them in their error messages and tracebacks show them.

    The text around a secret is kept as it is, quotes included: a quoted value becomes
    ``'***'`` in its own quotes, and a bare value ends before the quote, bracket or
    delimiter that follows it.

    ::

        >>> redact_url_passwords("postgresql://app:hunter2@db:5432/shop")
        'postgresql://app:***@db:5432/shop'
        >>> redact_url_passwords("host=db user=app password='hunter 2' dbname=shop")
        "host=db user=app password='***' dbname=shop"
        >>> redact_url_passwords('connect(dsn="host=db password=hunter2")')
        'connect(dsn="host=db password=***")'

    The value of a URL's query parameter that holds a credential is hidden as well
    (``?token=***``, ``&sig=***``; see :func:`is_secret_query_parameter`), in a whole URL or
    in a path with its query, as HTTP clients quote them in their errors.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2
        Quotes around and after a value are kept; ``"password": "..."`` is hidden too, and
        so are query parameters that hold a credential.
    """
    if "://" in text:
        text = _URL_PASSWORD_RE.sub(rf"\g<head>{REDACTED}@", text)
    if "=" in text and ("?" in text or "&" in text):
        text = _QUERY_PARAMETER_RE.sub(_hide_query_value, text)
    if "=" in text or ":" in text:
        text = _hide_passwords(text)
    return text


def credential_headers(setting: Callable[[str], Any]) -> frozenset[str]:
    """The request headers (lower-case) whose values are credentials in one app.

    :data:`CREDENTIAL_HEADERS`, and the header each of :data:`CREDENTIAL_HEADER_SETTINGS`
    names in this app (``X-Prodready-Profile`` unless ``PRODREADY_PROFILING_HEADER`` says
    otherwise)::

        >>> sorted(credential_headers({"PRODREADY_PROFILING_HEADER": "X-Profile"}.get))
        ['authorization', 'cookie', 'proxy-authorization', 'x-profile']

    :param setting: reads one setting of the app, e.g. ``get_state(app).setting``; a
        setting it answers ``None`` for (unset or unknown) adds no header.

    .. versionadded:: 0.2
    """
    names = set(CREDENTIAL_HEADERS)
    for name in CREDENTIAL_HEADER_SETTINGS:
        header = setting(name)
        if header:
            names.add(str(header).lower())
    return frozenset(names)


def redact_headers(
    headers: Iterable[tuple[str, object]], credential: Collection[str] = CREDENTIAL_HEADERS
) -> dict[str, str]:
    """Request headers as a dict, with every credential's value hidden.

    A header's value becomes :data:`REDACTED` when its name is in ``credential`` (compared
    case-insensitively) or looks secret (:func:`is_secret_key`); any other value has its URL
    and connection-string passwords hidden (:func:`redact_url_passwords`)::

        >>> redact_headers([("X-Profile", "t0k3n"), ("Accept", "*/*")], {"x-profile"})
        {'X-Profile': '***', 'Accept': '*/*'}

    :param headers: ``(name, value)`` pairs, e.g. ``request.headers.items()``.
    :param credential: lower-case names of the headers that carry credentials, e.g.
        :func:`credential_headers` of the app.

    .. versionadded:: 0.2
    """
    result: dict[str, str] = {}
    for name, value in headers:
        if name.lower() in credential or is_secret_key(name):
            result[name] = REDACTED
        else:
            result[name] = redact_url_passwords(str(value))
    return result


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
