"""Logging: JSON lines, stdlib routed in once, access lines, redaction, safety, levels.

Covers ``flask_prodready.logs.render``, ``flask_prodready.logs.sink``,
``flask_prodready.logs.stdlib``, ``flask_prodready.logs.levels``,
``flask_prodready.logs.settings``, ``flask_prodready.logs.breadcrumbs``.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from loguru import logger

from flask_prodready import flush_logs, get_log_level, set_log_level
from flask_prodready.logs import ACCESS_LOGGER, sink_failures
from flask_prodready.testing import capture_logs

from .support.apps import AppDir

TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def stdout_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every line the sink wrote to stdout, each parsed as JSON (a line that is not fails)."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


@pytest.fixture
def app(app_dir: AppDir) -> Flask:
    application = app_dir.app()

    @application.get("/orders/<int:order_id>")
    def order(order_id: int) -> dict[str, int]:
        logger.bind(order_id=order_id).info("looked up order")
        return {"id": order_id}

    @application.get("/stdlib")
    def stdlib() -> str:
        logging.getLogger("shop.payments").warning("card declined for %s", "order-7")
        return "ok"

    @application.get("/explode")
    def explode() -> str:
        password = "hunter2-local"  # noqa: F841 - a local that diagnose would print
        raise ValueError("cannot connect to postgresql://app:pw-in-url@db/shop")

    return application


def test_every_line_is_json_in_the_documented_schema(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = app.test_client().get("/orders/42", headers={"User-Agent": "probe/1"})
    lines = stdout_lines(capsys)
    rid = response.headers["X-Request-ID"]
    looked_up, access = lines
    assert list(looked_up)[:5] == ["ts", "level", "logger", "message", "request_id"]
    assert TS.fullmatch(looked_up["ts"])
    moment = datetime.strptime(looked_up["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 60, "UTC, not local time"
    assert looked_up["level"] == "INFO"
    assert looked_up["logger"] == "tests.test_logs"
    assert looked_up["message"] == "looked up order"
    assert looked_up["request_id"] == rid
    assert looked_up["order_id"] == 42
    assert (looked_up["module"], looked_up["function"]) == ("test_logs", "order")
    assert all(isinstance(looked_up[k], int) for k in ("line", "process", "thread"))
    assert access["logger"] == ACCESS_LOGGER
    assert access["request_id"] == rid
    assert access["method"] == "GET"
    assert access["route"] == "/orders/<int:order_id>"
    assert access["path"] == "/orders/42"
    assert access["status"] == 200
    assert isinstance(access["duration_ms"], float)
    assert access["duration_ms"] >= 0
    assert access["bytes"] == len(response.data)
    assert access["remote_addr"] == "127.0.0.1"
    assert access["user_agent"] == "probe/1"


def test_unmatched_routes_get_one_label(app: Flask) -> None:
    with capture_logs() as lines:
        app.test_client().get("/nope/123")
    (access,) = [line for line in lines if line["logger"] == ACCESS_LOGGER]
    assert (access["route"], access["status"]) == ("<unmatched>", 404)


def test_exception_lines_carry_type_and_stack_without_locals_or_url_passwords(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    app.testing = False
    capsys.readouterr()
    app.test_client().get("/explode")
    output = capsys.readouterr().out
    assert "hunter2-local" not in output
    assert "pw-in-url" not in output
    errors = [json.loads(line) for line in output.splitlines() if '"exception"' in line]
    assert len(errors) == 1
    exception = errors[0]["exception"]
    assert exception["type"] == "ValueError"
    assert exception["message"] == "cannot connect to postgresql://app:***@db/shop"
    assert "Traceback (most recent call last)" in exception["stack"]
    assert 'in explode\n    raise ValueError("cannot connect to' in exception["stack"]


def test_values_json_cannot_hold_become_strings(app: Flask) -> None:
    class Opaque:
        def __str__(self) -> str:
            return "opaque-thing"

    with capture_logs() as lines:
        logger.bind(thing=Opaque(), huge=2**70, tags={1, 2}, raw=b"\x00").info("odd values")
    (line,) = lines
    assert line["thing"] == "opaque-thing"
    assert line["huge"] in (str(2**70), 2**70)
    assert line["tags"] in ("{1, 2}", [1, 2])
    assert isinstance(line["raw"], str)


def test_stdlib_logging_comes_out_once_as_json_with_the_request_id(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = app.test_client().get("/stdlib")
    captured = capsys.readouterr()
    assert captured.err == ""
    declined = [line for line in stdout_lines_from(captured.out) if "declined" in line["message"]]
    assert len(declined) == 1, "printed exactly once"
    (line,) = declined
    assert line["message"] == "card declined for order-7"
    assert line["logger"] == "shop.payments"
    assert line["level"] == "WARNING"
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert line["function"] == "stdlib", "the caller, not the logging module"


def stdout_lines_from(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_werkzeug_logger_is_routed_once(app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    logging.getLogger("werkzeug").info("serving")
    lines = stdout_lines(capsys)
    assert [line["logger"] for line in lines] == ["werkzeug"]


def test_secrets_in_bound_fields_are_redacted(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    logger.bind(
        password="pw-SENTINEL",
        authorization="Bearer tok-SENTINEL",
        headers={"Cookie": "session=ck-SENTINEL", "Accept": "*/*"},
        dsn_url="redis://:url-SENTINEL@cache:6379",
    ).info("login attempt")
    output = capsys.readouterr().out
    assert "SENTINEL" not in output
    (line,) = stdout_lines_from(output)
    assert line["password"] == "***"
    assert line["headers"] == {"Cookie": "***", "Accept": "*/*"}


@pytest.mark.parametrize(
    "emit",
    [
        lambda: logger.info("literal {braces} and %s and {0}"),
        lambda: logger.bind(value="{x} %d").info("value {}", "{y}"),
        lambda: logging.getLogger("lib").warning("100% done {ok}"),
        lambda: logging.getLogger("lib").warning("%d items", "not-a-number"),
    ],
)
def test_braces_and_percent_signs_never_crash(
    app: Flask, capsys: pytest.CaptureFixture[str], emit: Any
) -> None:
    capsys.readouterr()
    emit()
    captured = capsys.readouterr()
    (line,) = stdout_lines_from(captured.out)
    assert line["message"]
    assert "Logging error" not in captured.err


def test_a_failing_sink_never_fails_the_request(app_dir: AppDir) -> None:
    app = app_dir.app(log_destination="/dev/full")
    app.add_url_rule("/", "index", lambda: "ok")
    before = sink_failures()
    response = app.test_client().get("/")
    assert response.status_code == 200
    flush_logs()  # the access line was held back, to be written with others
    assert sink_failures() > before


def test_level_changes_at_run_time(app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    client = app.test_client()
    capsys.readouterr()
    set_log_level("WARNING")
    client.get("/orders/1")
    assert stdout_lines(capsys) == [], "INFO lines dropped from the next request on"
    assert get_log_level() == "WARNING"
    set_log_level("INFO", ACCESS_LOGGER)
    client.get("/orders/2")
    assert [line["logger"] for line in stdout_lines(capsys)] == [ACCESS_LOGGER]
    set_log_level("DEBUG")
    set_log_level("ERROR", "tests")
    client.get("/orders/3")
    assert [line["logger"] for line in stdout_lines(capsys)] == [ACCESS_LOGGER]
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        set_log_level("LOUD")


def test_level_setting_and_per_logger_levels(
    app_dir: AppDir, capsys: pytest.CaptureFixture[str]
) -> None:
    app_dir.write(
        "settings.toml",
        '[default]\nPRODREADY_LOG_LEVEL = "warning"\n'
        '[default.PRODREADY_LOG_LEVELS]\n"shop.audit" = "DEBUG"\n',
    )
    app_dir.app()
    capsys.readouterr()
    logging.getLogger("shop.audit.trail").debug("kept")
    logging.getLogger("shop.other").info("dropped")
    assert [line["message"] for line in stdout_lines(capsys)] == ["kept"]


def test_access_lines_skip_configured_paths(app_dir: AppDir) -> None:
    app = app_dir.app(access_log_skip_paths=["/livez", "/internal"])
    for rule in ("/livez", "/internal/x", "/internally"):
        app.add_url_rule(rule, rule, lambda: "ok")
    with capture_logs() as lines:
        for path in ("/livez", "/internal/x", "/internally"):
            app.test_client().get(path)
    assert [line["path"] for line in lines if line["logger"] == ACCESS_LOGGER] == ["/internally"]


def test_skipping_the_root_path_skips_only_the_root_page(app_dir: AppDir) -> None:
    app = app_dir.app(access_log_skip_paths=["/"])
    for rule in ("/", "/orders"):
        app.add_url_rule(rule, rule, lambda: "ok")
    with capture_logs() as lines:
        for path in ("/", "/orders"):
            app.test_client().get(path)
    assert [line["path"] for line in lines if line["logger"] == ACCESS_LOGGER] == ["/orders"]


def test_remote_address_honours_trusted_proxies(app_dir: AppDir) -> None:
    app = app_dir.app(trusted_proxies=1)
    app.add_url_rule("/", "index", lambda: "ok")
    client = app.test_client()
    with capture_logs() as lines:
        client.get("/", headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9"})
        client.get("/")
    assert [line["remote_addr"] for line in lines if line["logger"] == ACCESS_LOGGER] == [
        "203.0.113.9",
        "127.0.0.1",
    ]


def test_access_log_can_be_switched_off(app_dir: AppDir) -> None:
    app = app_dir.app(access_log_enabled=False)
    app.add_url_rule("/", "index", lambda: "ok")
    with capture_logs() as lines:
        app.test_client().get("/")
    assert lines == []


def test_pretty_format_in_development(app_dir: AppDir, capsys: pytest.CaptureFixture[str]) -> None:
    app = app_dir.app(debug=True)
    app.add_url_rule("/", "index", lambda: "ok")
    capsys.readouterr()
    rid = app.test_client().get("/").headers["X-Request-ID"]
    logger.bind(token="tok-SENTINEL").info("plain {braces}")
    output = capsys.readouterr().out
    assert not output.lstrip().startswith("{")
    assert f"{rid} flask_prodready.logs" in output or rid in output
    assert "GET / 200" in output
    assert "plain {braces}" in output
    assert "tok-SENTINEL" not in output
    assert "token='***'" in output


def test_diagnose_is_refused_outside_development(
    app_dir: AppDir, capsys: pytest.CaptureFixture[str]
) -> None:
    app_dir.app(log_format="pretty", log_diagnose=True)
    capsys.readouterr()

    def fail() -> None:
        secret_local = "local-SENTINEL"  # noqa: F841
        raise RuntimeError("x")

    try:
        fail()
    except RuntimeError:
        logger.exception("failed")
    output = capsys.readouterr().out
    assert "RuntimeError" in output
    assert "local-SENTINEL" not in output


def test_file_destination_rotates(app_dir: AppDir, tmp_path: Path) -> None:
    path = tmp_path / "logs" / "app.log"
    app_dir.app(log_destination=str(path), log_file_max_bytes=2000, log_file_backups=2)
    for n in range(60):
        logger.info("line {}", n)
    flush_logs()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["app.log", "app.log.1", "app.log.2"]
    assert all(p.stat().st_size <= 2000 for p in path.parent.iterdir())
    last = json.loads(path.read_text().splitlines()[-1])
    assert last["message"] == "line 59"


def test_invalid_log_settings_are_reported(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask_prodready import ConfigError

    monkeypatch.setenv("FLASK_PRODREADY_LOG_LEVEL", "LOUD")
    monkeypatch.setenv("FLASK_PRODREADY_LOG_FORMAT", "xml")
    monkeypatch.setenv("FLASK_PRODREADY_REQUEST_ID_HEADER", "X Bad")
    with pytest.raises(ConfigError) as excinfo:
        app_dir.app()
    assert {p.key for p in excinfo.value.problems} == {
        "PRODREADY_LOG_LEVEL",
        "PRODREADY_LOG_FORMAT",
        "PRODREADY_REQUEST_ID_HEADER",
    }


def test_a_device_destination_is_never_rotated(app_dir: AppDir) -> None:
    import stat

    app_dir.app(log_destination="/dev/null", log_file_max_bytes=100)
    for n in range(20):
        logger.info("into the void {}", n)
    assert stat.S_ISCHR(Path("/dev/null").stat().st_mode)
    assert not Path("/dev/null.1").exists()


def test_the_dev_servers_own_access_line_is_dropped_and_colours_stripped(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.info("%s - - [%s] %s", "127.0.0.1", "26/Nov/2026 12:00:00", '"GET / HTTP/1.1" 200 -')
    werkzeug.info("\x1b[31m\x1b[1mWARNING: This is a development server.\x1b[0m")
    lines = stdout_lines(capsys)
    assert [line["message"] for line in lines] == ["WARNING: This is a development server."]
