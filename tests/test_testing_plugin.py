"""The pytest plugin of ``flask_prodready.testing``, used from test files written the way a
user of flask-prodready writes them, run by pytester in a separate process.

Covers ``flask_prodready.logs.capture``, ``flask_prodready.testing._fixtures``,
``flask_prodready.testing._helpers``.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

USER_CONFTEST = """
import pytest
from flask import Flask
from loguru import logger

from flask_prodready import NotFoundError, ProdReady


@pytest.fixture
def app(tmp_path):
    app = Flask("shop", root_path=str(tmp_path), instance_path=str(tmp_path / "instance"))
    ProdReady(app, dashboard_enabled=False)

    @app.get("/orders/<int:order_id>")
    def order(order_id):
        raise NotFoundError(f"order {order_id} does not exist")

    @app.get("/hello")
    def hello():
        logger.bind(who="ada").info("said hello")
        return {"hello": "ada"}

    @app.get("/boom")
    def boom():
        raise RuntimeError("kaboom")

    return app


@pytest.fixture
def client(app):
    return app.test_client()
"""

USER_TESTS = """
import pytest


def test_the_lines_of_one_request(client, prodready_logs):
    client.get("/hello")
    response = client.get("/hello")
    lines = prodready_logs.of_request(response)
    assert [line["message"] for line in lines] == ["said hello", "GET /hello 200"]
    assert lines[0]["who"] == "ada"
    assert [line["status"] for line in prodready_logs.access()] == [200, 200]


def test_a_problem_answer(client, assert_problem):
    document = assert_problem(client.get("/orders/7"), status=404, code="not_found")
    assert document["detail"] == "order 7 does not exist"


def test_assert_problem_says_what_differs(client, assert_problem):
    with pytest.raises(AssertionError, match="expected status 409, got 404"):
        assert_problem(client.get("/orders/7"), status=409)
    with pytest.raises(AssertionError, match="expected a application/problem[+]json answer"):
        assert_problem(client.get("/hello"))


def test_the_error_store_records_unexpected_errors(client, prodready_store):
    assert client.get("/boom").status_code == 500
    assert client.get("/boom").status_code == 500
    (group,) = prodready_store.groups()
    assert (group.exception_type, group.count, group.route) == ("builtins.RuntimeError", 2, "/boom")


def test_each_test_gets_an_empty_store(client, prodready_store):
    assert prodready_store.groups() == []


def test_a_frozen_alert_clock(app, client, prodready_alert_clock):
    from flask_prodready import register_check

    def database():
        raise ConnectionError("down")

    register_check(app, "database", database)
    client.get("/readyz")
    states = {s.name: s.state for s in prodready_alert_clock.evaluate()}
    assert states["health_check_failing"] == "pending"
    prodready_alert_clock.advance(61)
    states = {s.name: s.state for s in prodready_alert_clock.evaluate()}
    assert states["health_check_failing"] == "firing"
"""


def test_the_fixtures_in_a_users_test_file(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(test_shop=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=6)


def test_the_plugin_is_registered_by_its_entry_point_and_can_be_turned_off(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(
        test_shop="""
        def test_uses_it(prodready_logs):
            assert prodready_logs == []
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=1)
    result = pytester.runpytest_subprocess(
        "-p", "no:prodready", "-p", "no:cacheprovider", timeout=120
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'prodready_logs' not found*"])


def test_the_plugin_does_nothing_to_tests_that_do_not_ask(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
        import logging

        from loguru import logger


        def test_logging_is_untouched():
            assert logging.getLogger().handlers == []
            assert len(logger._core.handlers) == 1  # loguru's own stderr handler only
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:logging", timeout=120
    )
    result.assert_outcomes(passed=1)
