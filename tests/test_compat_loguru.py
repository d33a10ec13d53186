"""flask_prodready.compat.loguru: each reading of loguru's internals, and its fallback."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from loguru import logger

from flask_prodready import ProdReady
from flask_prodready.compat import loguru as compat
from flask_prodready.logs import ACCESS_LOGGER, log_process
from flask_prodready.testing import capture_logs


def make_app(root: Path, **kwargs: Any) -> Flask:
    app = Flask("t", root_path=str(root), instance_path=str(root / "instance"))
    app.config["TESTING"] = True
    ProdReady(app, **{"log_destination": str(root / "app.log"), "error_store": "memory", **kwargs})
    app.add_url_rule("/", "index", lambda: "ok")
    return app


def lines(root: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (root / "app.log").read_text().splitlines()]


# -- has_handler ---------------------------------------------------------------------------


def test_has_handler_reads_loguru_s_handlers() -> None:
    handler_id = logger.add(lambda message: None)
    assert compat.has_handler(handler_id)
    logger.remove(handler_id)
    assert not compat.has_handler(handler_id)


class LoguruWithoutCore:
    """A loguru whose logger has no ``_core`` (a future version), as the compat module sees it."""

    def __getattr__(self, name: str) -> Any:
        if name == "_core":
            raise AttributeError(name)
        return getattr(logger, name)


def test_has_handler_without_loguru_s_core_answers_no(monkeypatch: pytest.MonkeyPatch) -> None:
    handler_id = logger.add(lambda message: None)
    monkeypatch.setattr(compat, "logger", LoguruWithoutCore())
    assert not compat.has_handler(handler_id)
    logger.remove(handler_id)


def test_has_handler_without_the_handler_table_answers_no(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler_id = logger.add(lambda message: None)
    core = logger._core  # type: ignore[attr-defined]
    monkeypatch.setattr(core, "handlers", [handler_id])  # not a mapping any more
    assert not compat.has_handler(handler_id)
    monkeypatch.undo()
    logger.remove(handler_id)


def test_without_loguru_s_core_the_sink_is_added_again_and_writes_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_app(tmp_path)
    assert log_process.installed is not None
    kept = log_process.installed.handler_id
    make_app(tmp_path)
    assert log_process.installed.handler_id == kept, "the fast path keeps the sink"
    monkeypatch.setattr(compat, "logger", LoguruWithoutCore())
    make_app(tmp_path)
    assert log_process.installed.handler_id != kept, "the public path: removed, added again"
    logger.info("written once")
    assert [line["message"] for line in lines(tmp_path)].count("written once") == 1


# -- record_location -----------------------------------------------------------------------


def where() -> None:
    logger.info("here")


def test_record_location_is_what_loguru_writes_for_a_line_on_the_first_line() -> None:
    with capture_logs() as captured:
        where()
    (line,) = captured
    location = compat.record_location(where)
    assert (location.function, location.line + 1) == (line["function"], line["line"])


def test_record_location_unwraps_a_wrapper_without_code() -> None:
    class Wrapper:
        __wrapped__ = staticmethod(where)

        def __call__(self) -> None:
            where()

    wrapper = functools.update_wrapper(Wrapper(), where)
    assert not hasattr(wrapper, "__code__")
    assert compat.record_location(wrapper) == compat.record_location(where)


def test_record_location_of_a_callable_without_code_falls_back_to_its_name() -> None:
    assert compat.record_location(len) == compat.RecordLocation("len", 0)


def test_the_access_line_names_the_function_that_writes_it(tmp_path: Path) -> None:
    from flask_prodready.logs.access import _log_access

    app = make_app(tmp_path)
    with capture_logs() as captured:
        app.test_client().get("/")
    (access,) = [line for line in captured if line["logger"] == ACCESS_LOGGER]
    expected = compat.record_location(_log_access)
    assert (access["module"], access["function"], access["line"]) == (
        "logs",
        expected.function,
        expected.line,
    )
