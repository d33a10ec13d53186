"""Per-request profiling: for authorised callers only, kept with a cap, readable by snakeviz."""

from __future__ import annotations

import pstats
import time

from flask import Flask

from flask_prodready.profiling import list_profiles, profile_file

from .conftest import AppDir


def make(app_dir: AppDir, **overrides: object) -> Flask:
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
