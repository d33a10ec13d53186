"""One redaction rule for settings, logs and the dashboard."""

from __future__ import annotations

import pytest

from flask_prodready import REDACTED, is_secret_key, redact
from flask_prodready.redaction import SECRET_KEY_PARTS, redact_url_passwords


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "DB_PASSWD",
        "SECRET_KEY",
        "api_token",
        "AWS_ACCESS_KEY_ID",
        "gcp_credentials",
        "SENTRY_DSN",
        "session_cookie",
        "Authorization",
        "SESSION",
    ],
)
def test_secret_looking_keys_are_recognised(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["PORT", "DATABASE_URL", "user", 42, None])
def test_ordinary_keys_are_not_secret(key: object) -> None:
    assert not is_secret_key(key)


def test_every_documented_key_part_redacts() -> None:
    data = {f"my_{part.upper()}_x": "value" for part in SECRET_KEY_PARTS}
    assert set(redact(data).values()) == {REDACTED}


def test_nested_secrets_are_redacted_at_any_depth() -> None:
    data = {
        "database": {"primary": {"password": "hunter2", "host": "db"}},
        "clients": [{"name": "a", "token": "t0k3n"}, ("x", {"api_key": "k"})],
        "port": 5432,
    }
    result = redact(data)
    assert result == {
        "database": {"primary": {"password": REDACTED, "host": "db"}},
        "clients": [{"name": "a", "token": REDACTED}, ("x", {"api_key": REDACTED})],
        "port": 5432,
    }
    assert data["database"]["primary"]["password"] == "hunter2", "the input is never modified"


def test_a_secret_key_hides_a_whole_nested_value() -> None:
    assert redact({"credentials": {"user": "u", "pw": "p"}}) == {"credentials": REDACTED}


def test_amounts_under_secret_looking_names_stay_readable() -> None:
    from datetime import timedelta

    settings = {
        "PRODREADY_DASHBOARD_SESSION_SECONDS": 28800,
        "PERMANENT_SESSION_LIFETIME": timedelta(days=31),
        "TOKEN_TTL": 3600.0,
        "API_KEY": 123456,
        "SESSION_TIMEOUT": "42",
        "SECRET_KEY_SIZE": "s3cr3t",
    }
    assert redact(settings) == {
        "PRODREADY_DASHBOARD_SESSION_SECONDS": 28800,
        "PERMANENT_SESSION_LIFETIME": timedelta(days=31),
        "TOKEN_TTL": 3600.0,
        "API_KEY": REDACTED,
        "SESSION_TIMEOUT": REDACTED,
        "SECRET_KEY_SIZE": REDACTED,
    }


def test_none_and_booleans_under_secret_keys_stay_readable() -> None:
    assert redact({"SESSION_COOKIE_SECURE": True, "SECRET_KEY": None}) == {
        "SESSION_COOKIE_SECURE": True,
        "SECRET_KEY": None,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("postgresql://u:p@ss@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("see https://bot:tok@example.com?x=1 now", "see https://bot:***@example.com?x=1 now"),
        ("amqp://guest:guest@rabbit", "amqp://guest:***@rabbit"),
        ("http://u@h/path", "http://u@h/path"),
        ("http://host/a@b", "http://host/a@b"),
        ("mailto:a@b.c", "mailto:a@b.c"),
    ],
)
def test_url_passwords_are_hidden(text: str, expected: str) -> None:
    assert redact_url_passwords(text) == expected
    assert redact({"DATABASE_URL": text}) == {"DATABASE_URL": expected}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "could not connect: host=db user=app password='hunter 2' dbname=shop",
            "could not connect: host=db user=app password=*** dbname=shop",
        ),
        ("host=db password=s3cr3t sslpassword=k3y", "host=db password=*** sslpassword=***"),
        ("DRIVER={ODBC};UID=u;PWD={p;w};DATABASE=y", "DRIVER={ODBC};UID=u;PWD=***;DATABASE=y"),
        ("https://x/cb?user=a&password=abc&next=1", "https://x/cb?user=a&password=***&next=1"),
        (
            'FATAL: password authentication failed for user "app"',
            'FATAL: password authentication failed for user "app"',
        ),
    ],
)
def test_connection_string_passwords_are_hidden(text: str, expected: str) -> None:
    assert redact_url_passwords(text) == expected
    assert redact({"error": text}) == {"error": expected}
