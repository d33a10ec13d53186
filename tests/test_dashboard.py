"""The dashboard placeholder: mounted where configured, loopback only, never cached."""

from __future__ import annotations

from .conftest import AppDir


def test_placeholder_answers_loopback_clients(app_dir: AppDir) -> None:
    client = app_dir.app().test_client()
    response = client.get("/_prod/")
    assert response.status_code == 200
    assert "flask-prodready" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    css = client.get("/_prod/static/prodready/prodready.css")
    assert css.status_code == 200
    css.close()


def test_placeholder_refuses_other_clients(app_dir: AppDir) -> None:
    client = app_dir.app().test_client()
    response = client.get("/_prod/", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 403


def test_prefix_is_configurable(app_dir: AppDir) -> None:
    client = app_dir.app(dashboard_url_prefix="/ops/status").test_client()
    assert client.get("/ops/status/").status_code == 200
    assert client.get("/_prod/").status_code == 404
