"""Per-request profiling: for authorised callers only, kept with a cap, readable by snakeviz."""

from __future__ import annotations

import json
import pstats
import time
from typing import Any

import pytest
from flask import Flask, Response, request

from flask_prodready import get_state
from flask_prodready.profiling import failures, list_profiles, profile_file

from .support.apps import AppDir


def make(app_dir: AppDir, **overrides: Any) -> Flask:
    app = app_dir.app(profiling_token="prof-token", profiling_keep=3, **overrides)

    @app.get("/work")
    def work() -> str:
        return str(sum(i * i for i in range(2000)))

    return app


def test_an_authorised_profile_header_returns_a_profile_record(app_dir: AppDir) -> None:
    app = make(app_dir)
    response = app.test_client().get("/work", headers={"X-Prodready-Profile": "prof-token"})
    profile_id = response.headers["X-Prodready-Profile-Id"]
    (summary,) = list_profiles(app)
    assert summary["id"] == profile_id
    assert summary["path"] == "/work"
    assert summary["request_id"] == response.headers["X-Request-ID"]
    assert any("(work)" in row["function"] for row in summary["functions"])
    assert summary["functions"][0]["cumulative_ms"] >= summary["functions"][-1]["cumulative_ms"]
    path = profile_file(app, profile_id)
    assert path is not None
    assert pstats.Stats(str(path)).total_calls > 0  # type: ignore[attr-defined]


def test_profile_headers_from_anyone_else_are_ignored(app_dir: AppDir) -> None:
    app = make(app_dir)
    client = app.test_client()
    for value in ("wrong", "", "prof-token-and-more"):
        response = client.get("/work", headers={"X-Prodready-Profile": value})
        assert response.status_code == 200
        assert "X-Prodready-Profile-Id" not in response.headers
    assert list_profiles(app) == []
    assert profile_file(app, "../../etc/passwd") is None


def test_loopback_may_profile_in_development_only(app_dir: AppDir) -> None:
    dev = make(app_dir, debug=True)
    assert (
        "X-Prodready-Profile-Id"
        in dev.test_client().get("/work", headers={"X-Prodready-Profile": "1"}).headers
    )
    remote = dev.test_client().get(
        "/work", headers={"X-Prodready-Profile": "1"}, environ_base={"REMOTE_ADDR": "203.0.113.4"}
    )
    assert "X-Prodready-Profile-Id" not in remote.headers


def test_the_store_keeps_at_most_the_cap(app_dir: AppDir) -> None:
    app = make(app_dir)
    client = app.test_client()
    ids = []
    for _ in range(5):
        ids.append(
            client.get("/work", headers={"X-Prodready-Profile": "prof-token"}).headers[
                "X-Prodready-Profile-Id"
            ]
        )
        time.sleep(0.002)
    kept = [summary["id"] for summary in list_profiles(app)]
    assert kept == ids[::-1][:3]
    assert profile_file(app, ids[0]) is None


@pytest.mark.parametrize("value", ["prof-token", "secret-token"])
@pytest.mark.parametrize("header", ["X-Prodready-Profile", "X-Shop-Profile"])
def test_the_profiling_token_is_never_stored_or_shown(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch, header: str, value: str
) -> None:
    monkeypatch.setenv("PRODREADY_ENV", "development")  # the dashboard, for loopback
    app = make(app_dir, error_store="memory", profiling_header=header)
    seen: list[str | None] = []

    @app.get("/boom")
    def boom() -> str:
        seen.append(request.headers.get(header))
        raise RuntimeError("boom")

    client = app.test_client()
    assert client.get("/boom", headers={header: value}).status_code == 500
    store = get_state(app).components["error_store"]
    (group,) = store.groups()
    (occurrence,) = store.occurrences(group.fingerprint)
    assert occurrence.headers[header] == "***"
    assert value not in json.dumps(occurrence.to_dict())
    assert seen == ["***"], "the app behind the profiler never sees the credential"
    page = client.get(f"/_prod/errors/{group.fingerprint}")
    assert page.status_code == 200
    assert header in page.get_data(as_text=True)
    assert value not in page.get_data(as_text=True)


def test_a_broken_or_vanished_summary_is_skipped(
    app_dir: AppDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODREADY_ENV", "development")
    app = make(app_dir)
    client = app.test_client()
    kept = client.get("/work", headers={"X-Prodready-Profile": "prof-token"})
    directory = get_state(app).components["profiling"].directory
    (directory / "9999999999999-0.json").write_text('{"id": "9999999999999-0", "ti')
    assert [p["id"] for p in list_profiles(app)] == [kept.headers["X-Prodready-Profile-Id"]]
    assert client.get("/_prod/performance").status_code == 200
    assert failures(app) == {"write": 0, "prune": 0, "armed": 0, "profiler": 0}


def test_a_streaming_response_is_profiled_and_keeps_its_body(app_dir: AppDir) -> None:
    app = make(app_dir)

    @app.get("/stream")
    def stream() -> Response:
        return app.response_class((str(i) for i in range(3)), mimetype="text/plain")

    response = app.test_client().get("/stream", headers={"X-Prodready-Profile": "prof-token"})
    assert response.get_data(as_text=True) == "012"
    (summary,) = list_profiles(app)
    assert summary["id"] == response.headers["X-Prodready-Profile-Id"]
