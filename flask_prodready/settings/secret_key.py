"""``SECRET_KEY`` in production: refused by ``check`` when missing or weak, warned at start-up."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

from flask import Flask
from loguru import logger

from flask_prodready.exceptions import ConfigProblem

from .loaded import LoadedSettings
from .sources import PRODUCTION

__all__ = [
    "SECRET_KEY_COMMAND",
    "SECRET_KEY_MIN_BYTES",
    "SECRET_KEY_MIN_ENTROPY",
    "WEAK_SECRET_KEYS",
    "secret_key_problem",
    "secret_key_weakness",
    "warn_about_secret_key",
]

WEAK_SECRET_KEYS = frozenset(
    {
        "dev",
        "devkey",
        "development",
        "secret",
        "secretkey",
        "mysecret",
        "mysecretkey",
        "supersecret",
        "supersecretkey",
        "topsecret",
        "flasksecretkey",
        "yoursecretkey",
        "changeme",
        "changethis",
        "test",
        "testkey",
        "testing",
        "default",
        "password",
        "key",
        "flask",
        "keyboardcat",
        "s3cr3t",
    }
)
# Placeholders refused anywhere in a SECRET_KEY, however long it is.
_PLACEHOLDER_PARTS = ("changeme", "changethis", "replaceme", "yoursecret", "insecure", "notsecret")
#: The shortest ``SECRET_KEY`` accepted in production, in bytes (UTF-8 for text).
SECRET_KEY_MIN_BYTES = 32
#: The least Shannon entropy of a ``SECRET_KEY``, in bits per byte: random hex has about 3.8,
#: a key of a few repeated characters far less.
SECRET_KEY_MIN_ENTROPY = 3.0
#: How to make a strong ``SECRET_KEY``.
SECRET_KEY_COMMAND = 'python -c "import secrets; print(secrets.token_hex(32))"'  # noqa: S105 (a command)
# Apps warned about their SECRET_KEY in this process, and why: one warning each.
_warned_secret_keys: set[tuple[str, str, str]] = set()


def secret_key_weakness(value: Any) -> str | None:
    """Why ``value`` is a weak ``SECRET_KEY``, in words that never show it, or ``None``.

    A key is weak when it is unset or empty, not text or bytes, a well-known default or
    placeholder (:data:`WEAK_SECRET_KEYS`, or containing ``change-me``, ``insecure``...),
    shorter than :data:`SECRET_KEY_MIN_BYTES`, or of less Shannon entropy per byte than
    :data:`SECRET_KEY_MIN_ENTROPY` (a few characters repeated).

    .. versionadded:: 0.2
    """
    if value is None or value in ("", b""):
        return "is not set"
    if isinstance(value, str):
        data = value.encode("utf-8")
    elif isinstance(value, bytes):
        data = value
    else:
        return f"is a {type(value).__name__}, not a string"
    plain = re.sub(rb"[^a-z0-9]", b"", data.lower()).decode("ascii")
    if plain in WEAK_SECRET_KEYS or any(part in plain for part in _PLACEHOLDER_PARTS):
        return "is a well-known default or placeholder value"
    if len(data) < SECRET_KEY_MIN_BYTES:
        return f"is shorter than {SECRET_KEY_MIN_BYTES} bytes"
    counts = Counter(data).values()
    entropy = -sum(count / len(data) * math.log2(count / len(data)) for count in counts)
    if entropy < SECRET_KEY_MIN_ENTROPY:
        return "does not look random (too few different characters)"
    return None


def secret_key_problem(app: Flask, loaded: LoadedSettings) -> ConfigProblem | None:
    """The problem of the app's ``SECRET_KEY`` in the ``production`` environment, if any.

    ``flask prodready check`` fails with it; ``init_app`` only logs a warning. Other
    environments have none.

    .. versionadded:: 0.2
    """
    if loaded.environment != PRODUCTION:
        return None
    weakness = secret_key_weakness(app.config.get("SECRET_KEY"))
    if weakness is None:
        return None
    envvar = loaded.envvar("SECRET_KEY")
    advice = f"make one with {SECRET_KEY_COMMAND} and put it in .secrets.toml or {envvar}"
    if weakness == "is not set":
        return ConfigProblem(
            "SECRET_KEY", "is not set in production: sessions and signed cookies need it", advice
        )
    return ConfigProblem(
        "SECRET_KEY",
        f"{weakness}; in production, anyone who guesses it can forge sessions and signed cookies",
        f"{loaded.where_set('SECRET_KEY')}; {advice}",
    )


def warn_about_secret_key(app: Flask, loaded: LoadedSettings) -> None:
    """Log one warning per app and process when :func:`secret_key_problem` finds one."""
    problem = secret_key_problem(app, loaded)
    if problem is None:
        return
    seen = (app.import_name, app.root_path, problem.problem)
    if seen in _warned_secret_keys:
        return
    _warned_secret_keys.add(seen)
    logger.warning(
        f"SECRET_KEY {problem.problem}: {problem.where}; `flask prodready check` fails until then"
    )
