"""One redaction rule for settings, logs and the dashboard."""

from __future__ import annotations

from typing import Any

import pytest

from flask_prodready import REDACTED, get_state, is_secret_key, redact
from flask_prodready.redaction import (
    CREDENTIAL_HEADERS,
    SECRET_KEY_PARTS,
    credential_headers,
    redact_headers,
    redact_url_passwords,
)
from flask_prodready.testing import capture_logs

from .support.apps import AppDir


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
    data: dict[str, Any] = {
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
            "could not connect: host=db user=app password='***' dbname=shop",
        ),
        ("host=db password=s3cr3t sslpassword=k3y", "host=db password=*** sslpassword=***"),
        ("DRIVER={ODBC};UID=u;PWD={p;w};DATABASE=y", "DRIVER={ODBC};UID=u;PWD={***};DATABASE=y"),
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('password="hunter2"', 'password="***"'),
        ("password='hunter2'", "password='***'"),
        ("password = 'hunter 2' next", "password = '***' next"),
        ('password=""', 'password="***"'),
        ('(password=hunter2")', '(password=***")'),
        ('connect(dsn="host=db password=hunter2")', 'connect(dsn="host=db password=***")'),
        (
            "connect(conninfo='host=db password=hunter2 dbname=x')",
            "connect(conninfo='host=db password=*** dbname=x')",
        ),
        ("?password=x&y=1", "?password=***&y=1"),
        ("PWD=secret;Server=db;UID=u", "PWD=***;Server=db;UID=u"),
        ("[password=x], {pwd=y}", "[password=***], {pwd=***}"),
        ('{"password": "hunter2", "user": "app"}', '{"password": "***", "user": "app"}'),
        ('{"db_password":"hunter2"}', '{"db_password":"***"}'),
        ('{"password": 12345}', '{"password": ***}'),
        ("{'password': 'hunter2', 'host': 'db'}", "{'password': '***', 'host': 'db'}"),
        ("db_passwd=x y", "db_passwd=*** y"),
    ],
)
def test_redaction_keeps_the_quoting_around_a_secret(text: str, expected: str) -> None:
    assert redact_url_passwords(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password='it\\'s' x", "password='***' x"),
        ('password="a\\"b" x', 'password="***" x'),
        ('password=ab"cd x', "password=*** x"),
        ("password='never closed, then more text", "password='***"),
        ("password='a'\nnext='b'", "password='***'\nnext='b'"),
    ],
)
def test_a_quote_inside_a_value_never_leaks_part_of_it(text: str, expected: str) -> None:
    assert redact_url_passwords(text) == expected


def test_a_logged_stack_trace_keeps_its_code_readable() -> None:
    stack = (
        "Traceback (most recent call last):\n"
        '  File "/app/shop/db.py", line 12, in connect\n'
        "    return psycopg.connect(host='db', password='hunter2')\n"
        '  File "/app/shop/db.py", line 20, in engine\n'
        '    return create_engine("postgresql://shop:hunter2@db:5432/shop")\n'
        '  File "/app/shop/db.py", line 28, in odbc\n'
        '    return pyodbc.connect("DRIVER={ODBC};PWD={hun;ter2};")\n'
        "    if password == 'hunter2':\n"
        'psycopg.OperationalError: connection failed: host=db password=hunter2")\n'
    )
    assert redact_url_passwords(stack) == (
        "Traceback (most recent call last):\n"
        '  File "/app/shop/db.py", line 12, in connect\n'
        "    return psycopg.connect(host='db', password='***')\n"
        '  File "/app/shop/db.py", line 20, in engine\n'
        '    return create_engine("postgresql://shop:***@db:5432/shop")\n'
        '  File "/app/shop/db.py", line 28, in odbc\n'
        '    return pyodbc.connect("DRIVER={ODBC};PWD={***};")\n'
        "    if password == 'hunter2':\n"
        'psycopg.OperationalError: connection failed: host=db password=***")\n'
    ), "a comparison in the app's source is code, not a runtime secret"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'requests.get("https://bot:t0k@api.example.com/v1")',
            ('requests.get("https://bot:***@api.example.com/v1")'),
        ),
        (
            "Redis.from_url('redis://:s3cret@cache:6379/0')",
            ("Redis.from_url('redis://:***@cache:6379/0')"),
        ),
        ('"url": "amqp://guest:guest@rabbit"}', '"url": "amqp://guest:***@rabbit"}'),
    ],
)
def test_quoted_urls_keep_their_quotes(text: str, expected: str) -> None:
    assert redact_url_passwords(text) == expected


def test_credential_headers_come_from_the_apps_settings() -> None:
    settings = {"PRODREADY_PROFILING_HEADER": "X-Shop-Profile"}
    assert credential_headers(settings.get) == CREDENTIAL_HEADERS | {"x-shop-profile"}
    assert credential_headers(lambda name: None) == CREDENTIAL_HEADERS


def test_credential_headers_of_a_real_app(app_dir: AppDir) -> None:
    app = app_dir.app(profiling_header="X-Shop-Profile")
    names = credential_headers(get_state(app).setting)
    assert names == CREDENTIAL_HEADERS | {"x-shop-profile"}


def test_credential_headers_are_hidden_whatever_their_case() -> None:
    headers = [
        ("X-Prodready-Profile", "secret-token"),
        ("authorization", "Bearer t0k"),
        ("Cookie", "session=abc"),
        ("X-Api-Key", "k"),
        ("Referer", "https://u:pw@shop.example.com/"),
        ("Accept", "text/html"),
    ]
    assert redact_headers(headers, CREDENTIAL_HEADERS | {"x-prodready-profile"}) == {
        "X-Prodready-Profile": REDACTED,
        "authorization": REDACTED,
        "Cookie": REDACTED,
        "X-Api-Key": REDACTED,
        "Referer": "https://u:***@shop.example.com/",
        "Accept": "text/html",
    }


def test_a_logged_and_recorded_stack_trace_keeps_its_quotes(app_dir: AppDir) -> None:
    app = app_dir.app()

    @app.get("/connect")
    def connect() -> str:
        raise ConnectionError('connect(dsn="host=db password=hunter2") failed')

    with capture_logs() as lines:
        app.test_client().get("/connect")
    (logged,) = [line for line in lines if line.get("exception")]
    store = get_state(app).components["error_store"]
    (occurrence,) = store.occurrences(store.groups()[0].fingerprint)
    for text in (
        logged["exception"]["message"],
        logged["exception"]["stack"],
        occurrence.message,
        occurrence.stack,
    ):
        assert 'connect(dsn="host=db password=***") failed' in text
        assert "hunter2" not in text
