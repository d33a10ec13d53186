"""Jobs: ``flask_prodready.job`` gives work outside requests a request's ids, lines, errors
and metrics, and never changes how the job itself ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from flask import Flask
from loguru import logger

from flask_prodready import ProdReady, get_state, job, request_id
from flask_prodready.exceptions import ConfigError
from flask_prodready.jobs.arguments import preview_arguments
from flask_prodready.jobs.run import MAX_NAME_LENGTH, OUTCOMES
from flask_prodready.jobs.settings import SETTINGS
from flask_prodready.metrics.names import (
    JOB_DURATION,
    JOB_LAST_SUCCESS,
    JOB_OUTCOMES,
    JOB_QUEUE_WAIT,
    JOB_RUNS,
)
from flask_prodready.recording import JOB_METHOD
from flask_prodready.request_id import current_trace
from flask_prodready.store import StoreError
from flask_prodready.testing import capture_logs

from .support.apps import AppDir

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def app(app_dir: AppDir) -> Flask:
    application = app_dir.flask()
    ProdReady(application, error_store="memory")
    return application


def runs(app: Flask, name: str, outcome: str) -> float:
    state = get_state(app)
    assert state.metrics is not None
    value = state.metrics.registry.get_sample_value(JOB_RUNS, {"job": name, "outcome": outcome})
    return value or 0.0


def test_every_line_of_a_job_carries_its_id_and_name(app: Flask) -> None:
    with capture_logs() as lines, job("nightly-report", app=app) as run:
        logger.info("building")
        inside = request_id()
    assert inside == run.id
    assert run.id is not None
    line = next(line for line in lines if line["message"] == "building")
    assert line["request_id"] == run.id
    assert line["job"] == "nightly-report"
    assert "parent_request_id" not in line
    end = lines[-1]
    assert end["logger"] == "flask_prodready.jobs"
    assert end["job_outcome"] == "success"
    assert end["duration_ms"] >= 0
    assert request_id() is None


def test_a_job_started_in_a_request_names_the_request_as_its_parent(app: Flask) -> None:
    @app.get("/enqueue")
    def enqueue() -> dict[str, Any]:
        with job("send-receipt") as run:
            logger.info("sending")
        return {"request": request_id(), "job": run.id, "parent": run.parent_request_id}

    with capture_logs() as lines:
        answer = app.test_client().get("/enqueue", headers={"traceparent": TRACEPARENT}).json
    assert answer["parent"] == answer["request"] != answer["job"]
    line = next(line for line in lines if line["message"] == "sending")
    assert line["request_id"] == answer["job"]
    assert line["parent_request_id"] == answer["request"]
    # The job's span is a child in the request's trace.
    assert line["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    access = next(line for line in lines if line.get("path") == "/enqueue")
    assert access["request_id"] == answer["request"]


def test_a_job_continues_a_given_traceparent_and_keeps_a_given_id(app: Flask) -> None:
    with job("task", app=app, job_id="celery-7", traceparent=TRACEPARENT) as run:
        trace = current_trace()
    assert run.id == "celery-7"
    assert trace is not None
    assert trace.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert trace.parent_span_id == "b7ad6b7169203331"
    with job("task", app=app, job_id="not valid\r\n") as other:
        pass
    assert other.id is not None
    assert other.id != "not valid\r\n"
    assert len(other.id) == 32


def test_a_failing_job_is_recorded_like_a_request_error_and_raises_as_before(app: Flask) -> None:
    error = ZeroDivisionError("no orders today")

    def nightly_report() -> None:
        logger.info("summing orders")
        raise error

    with pytest.raises(ZeroDivisionError) as raised, job("nightly-report", app=app) as run:
        nightly_report()
    assert raised.value is error
    store = get_state(app).error_store
    assert store is not None
    [group] = store.groups()
    assert (group.method, group.route, group.status) == (JOB_METHOD, "nightly-report", 500)
    assert group.last_request_id == run.id
    [occurrence] = store.occurrences(group.fingerprint)
    assert occurrence.context["job_id"] == run.id
    assert any("summing orders" in line for line in occurrence.breadcrumbs)
    assert any("failed after" in line for line in occurrence.breadcrumbs)
    assert "no orders today" in occurrence.message
    assert "raise error" in occurrence.stack
    assert run.outcome == "failure"
    assert runs(app, "nightly-report", "failure") == 1


def test_the_same_failure_twice_is_one_group(app: Flask) -> None:
    @job("flaky", app=app)
    def flaky(n: int) -> None:
        raise ValueError(f"bad {n}")

    for n in range(3):
        with pytest.raises(ValueError, match="bad"):
            flaky(n)
    store = get_state(app).error_store
    assert store is not None
    [group] = store.groups()
    assert group.count == 3
    assert runs(app, "flaky", "failure") == 3


def test_the_decorator_runs_each_call_as_its_own_run(app: Flask) -> None:
    seen: list[str | None] = []

    @job()
    def double(value: int) -> int:
        seen.append(request_id())
        return value * 2

    with app.app_context():
        assert double(2) == 4
        assert double(value=3) == 6
    assert len(set(seen)) == 2
    assert None not in seen
    assert double.__name__ == "double"
    name = f"{__name__}.test_the_decorator_runs_each_call_as_its_own_run.<locals>.double"
    assert runs(app, name, "success") == 2


def test_a_coroutine_function_is_a_job_per_call(app: Flask) -> None:
    @job("async-sync", app=app)
    async def sync_orders() -> str | None:
        await asyncio.sleep(0)
        return request_id()

    first, second = asyncio.run(sync_orders()), asyncio.run(sync_orders())
    assert first
    assert second
    assert first != second
    assert runs(app, "async-sync", "success") == 2


def test_metrics_count_runs_and_time_them(app: Flask) -> None:
    import time

    with job("import", app=app, enqueued_at=time.time() - 3):
        pass
    registry = get_state(app).metrics.registry  # type: ignore[union-attr]
    assert runs(app, "import", "success") == 1
    assert registry.get_sample_value(f"{JOB_DURATION}_count", {"job": "import"}) == 1
    wait = registry.get_sample_value(f"{JOB_QUEUE_WAIT}_sum", {"job": "import"})
    assert wait is not None
    assert 3 <= wait < 10
    last = registry.get_sample_value(JOB_LAST_SUCCESS, {"job": "import"})
    assert last is not None
    assert abs(last - time.time()) < 10
    exposition, _ = get_state(app).metrics.exposition()  # type: ignore[union-attr]
    assert 'prodready_job_runs_total{job="import",outcome="success"} 1.0' in exposition


def test_an_explicit_outcome_counts_as_given(app: Flask) -> None:
    run = job("retried", app=app).start()
    run.finish(RuntimeError("try again"), outcome="retry")
    assert runs(app, "retried", "retry") == 1
    store = get_state(app).error_store
    assert store is not None
    assert store.groups()
    odd = job("odd", app=app).start()
    with capture_logs() as lines:
        odd.finish(outcome="sideways")
    assert odd.outcome == "failure"
    assert any("unknown outcome" in line["message"] for line in lines)


@pytest.mark.parametrize(
    "exit_error", [SystemExit(0), SystemExit(None)], ids=["exit-0", "exit-none"]
)
def test_an_exit_with_status_0_is_a_success(app: Flask, exit_error: SystemExit) -> None:
    with pytest.raises(SystemExit), job("exits", app=app):
        raise exit_error
    assert runs(app, "exits", "success") == 1


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), SystemExit(2)], ids=["ctrl-c", "exit-2"])
def test_an_interrupt_or_exit_fails_the_run_and_opens_no_group(
    app: Flask, stop: BaseException
) -> None:
    with pytest.raises(type(stop)), job("stopped", app=app):
        raise stop
    assert runs(app, "stopped", "failure") == 1
    store = get_state(app).error_store
    assert store is not None
    assert store.groups() == []
    assert request_id() is None


# -- bad input and failure -------------------------------------------------------------------


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


def test_arguments_that_cannot_be_shown_or_are_huge_are_capped_and_never_fail_the_job(
    app: Flask,
) -> None:
    huge = "x" * 5_000_000
    many = list(range(1_000_000))
    args = (huge, many, Unprintable(), 2**200, {"nested": {"deeper": {"deepest": {"end": 1}}}})
    kwargs = {"password": "hunter2", "dsn": "postgresql://u:pw@db/x", "note": object()}

    @job("capped", app=app)
    def capped(*args: Any, **kwargs: Any) -> None:
        raise LookupError("missing")

    with pytest.raises(LookupError):
        capped(*args, **kwargs)
    store = get_state(app).error_store
    assert store is not None
    [occurrence] = store.occurrences(store.groups()[0].fingerprint)
    shown = occurrence.context["arguments"]
    text = repr(shown)
    assert len(text) < 2_200
    assert "hunter2" not in text
    assert ":pw@" not in text
    # And with the job succeeding, the same arguments cost nothing and change nothing.

    @job("fine", app=app)
    def fine(*args: Any, **kwargs: Any) -> int:
        return len(args)

    assert fine(*args, **kwargs) == len(args)


def test_the_preview_shows_what_it_can_and_redacts() -> None:
    shown = preview_arguments(
        (7, "a" * 600, [1] * 30, Unprintable(), 2**70),
        {
            "api_token": "s3cr3t",
            "url": "redis://:pw@cache/0",
            "depth": {"a": {"b": {"c": {"d": 1}}}},
        },
        10_000,
    )
    assert shown["args"][0] == 7
    assert shown["args"][1].endswith("…")
    assert len(shown["args"][1]) == 501
    assert shown["args"][2][-1] == "… 10 more"
    assert shown["args"][3].startswith("<Unprintable")  # its repr raised
    assert shown["args"][4] == "<int of 71 bits>"
    assert shown["kwargs"]["api_token"] == "***"
    assert shown["kwargs"]["url"] == "redis://:***@cache/0"
    assert shown["kwargs"]["depth"]["a"]["b"]["c"] == "…"
    assert preview_arguments((1,), {}, 0) == {}
    cut = preview_arguments(("y" * 400,), {}, 100)
    assert set(cut) == {"truncated"}
    assert len(cut["truncated"]) == 100


def test_a_store_that_fails_never_changes_how_the_job_ends(app: Flask) -> None:
    class DownStore:
        def record(self, occurrence: object) -> None:
            raise StoreError("redis is down")

    recorder = get_state(app).error_recorder
    assert recorder is not None
    recorder.store = DownStore()  # type: ignore[assignment]
    error = KeyError("order 7")
    with capture_logs() as lines, pytest.raises(KeyError) as raised, job("sync", app=app):
        raise error
    assert raised.value is error
    assert any("could not record an error" in line["message"] for line in lines)
    assert runs(app, "sync", "failure") == 1
    assert request_id() is None
    with job("sync", app=app):  # the next run works as usual
        pass
    assert runs(app, "sync", "success") == 1


def test_a_reporting_failure_is_logged_and_the_ids_still_unbind(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = get_state(app).metrics
    assert metrics is not None

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("metrics broke")

    monkeypatch.setattr(metrics, "observe_job", broken)
    with capture_logs() as lines, job("reported", app=app) as run:
        pass
    assert run.outcome == "success"
    assert any("could not report the end of job reported" in line["message"] for line in lines)
    assert request_id() is None


def test_a_run_never_finished_leaks_nothing_into_the_next_task_of_a_pooled_thread(
    app: Flask,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def crashing_task() -> str | None:
        run = job("abandoned", app=app).start()  # never finished
        assert request_id() == run.id
        return run.id  # the run is dropped with the task's frame

    def next_task() -> tuple[str | None, object]:
        with job("next", app=app) as run:
            pass
        return request_id(), run.parent_request_id

    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(crashing_task).result() is not None
        assert pool.submit(next_task).result() == (None, None)


def test_a_run_finished_in_another_context_leaves_nothing_where_it_started(app: Flask) -> None:
    import contextvars

    run = job("hooks", app=app, traceparent=TRACEPARENT).start()
    assert current_trace() is not None
    contextvars.copy_context().run(run.finish)
    assert run.outcome == "success"
    assert request_id() is None
    assert current_trace() is None
    with capture_logs() as lines:
        logger.info("after")
    assert lines[-1]["request_id"] is None
    assert "job" not in lines[-1]
    run.finish()  # a second finish does nothing


def test_runs_finished_out_of_order_never_bind_a_finished_id_again(app: Flask) -> None:
    first = job("first", app=app).start()
    second = job("second", app=app).start()
    first.finish()
    assert request_id() != first.id
    second.finish()
    assert request_id() is None


def test_nested_collections_cannot_multiply_the_preview(app: Flask) -> None:
    import tracemalloc

    leaf = ["x" * 600] * 20
    args = tuple([[[leaf] * 20] * 20] * 20)
    tracemalloc.start()
    try:
        shown = preview_arguments(args, {}, 2000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000
    assert len(shown["truncated"]) <= 2000


def test_an_error_whose_str_raises_is_still_recorded_and_counted(app: Flask) -> None:
    class BrokenError(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

    with pytest.raises(BrokenError), job("broken", app=app):
        raise BrokenError
    assert runs(app, "broken", "failure") == 1
    store = get_state(app).error_store
    assert store is not None
    [group] = store.groups()
    assert "str() failed" in group.message


def test_a_cancelled_coroutine_fails_the_run_without_a_group(app: Flask) -> None:
    @job("cancelled", app=app)
    async def waits() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(waits())
    assert runs(app, "cancelled", "failure") == 1
    assert get_state(app).error_store.groups() == []  # type: ignore[union-attr]


def test_a_generator_function_is_refused_with_a_clear_error() -> None:
    def rows() -> Any:
        yield 1

    with pytest.raises(TypeError, match="generator function"):
        job("rows")(rows)


def test_nested_runs_restore_the_outer_one(app: Flask) -> None:
    with job("outer", app=app) as outer:
        with job("inner", app=app) as inner:
            assert request_id() == inner.id
        assert inner.parent_request_id == outer.id
        assert request_id() == outer.id
    assert request_id() is None


def test_a_job_without_an_app_binds_ids_and_says_once_what_it_cannot_record() -> None:
    with capture_logs() as lines:
        for _ in range(2):
            with job("lonely") as run:
                logger.info("alone")
    assert run.id is not None
    warnings = [line for line in lines if "without flask-prodready's jobs part" in line["message"]]
    assert len(warnings) == 1
    assert "outside an app context" in warnings[0]["message"]
    assert [line["job"] for line in lines if line["message"] == "alone"] == ["lonely", "lonely"]


def test_a_job_of_an_app_with_jobs_off_reports_nothing(app_dir: AppDir) -> None:
    application = app_dir.flask()
    ProdReady(application, error_store="memory", jobs_enabled=False)
    assert get_state(application).jobs is None
    with pytest.raises(RuntimeError), job("quiet-one", app=application):
        raise RuntimeError("x")
    store = get_state(application).error_store
    assert store is not None
    assert store.groups() == []


@pytest.mark.parametrize(
    ("name", "error"),
    [(123, TypeError), ("", ValueError), ("   ", ValueError)],
)
def test_a_bad_name_is_refused_with_a_clear_error(name: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="name"):
        job(name)


def test_a_run_cannot_start_twice_or_without_a_name(app: Flask) -> None:
    run = job("once", app=app).start()
    with pytest.raises(RuntimeError, match="started already"):
        run.start()
    run.finish()
    with pytest.raises(ValueError, match="needs a name"), job(app=app):
        pass
    assert request_id() is None


def test_the_state_names_the_part(app: Flask) -> None:
    state = get_state(app)
    assert "jobs" in state.parts
    assert state.jobs is not None
    assert state.jobs.commands is True
    assert repr(state.jobs) == "<Jobs commands=on>"
    with job("shown", app=app) as run:
        assert repr(run).startswith("<JobRun 'shown'")
        assert "running" in repr(run)
    assert "success" in repr(run)


def test_the_settings_are_declared_and_a_bad_value_stops_start_up(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert [setting.name for setting in SETTINGS] == [
        "PRODREADY_JOBS_ENABLED",
        "PRODREADY_JOBS_CLI",
        "PRODREADY_JOBS_ARGUMENTS_MAX_CHARS",
    ]
    monkeypatch.setenv("FLASK_PRODREADY_JOBS_ARGUMENTS_MAX_CHARS", "-1")
    with pytest.raises(ConfigError, match="PRODREADY_JOBS_ARGUMENTS_MAX_CHARS"):
        ProdReady(app_dir.flask())


def test_outcomes_and_name_length_are_those_the_metrics_use(app: Flask) -> None:
    assert OUTCOMES == JOB_OUTCOMES
    with job("x" * (MAX_NAME_LENGTH + 1), app=app) as run:
        pass
    assert run.name is not None
    assert len(run.name) == MAX_NAME_LENGTH
