"""Apps for the tests: folders of settings files, health test apps, the example app."""

from __future__ import annotations

import textwrap
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from flask_prodready import ProdReady, get_state


class AppDir:
    """A folder standing for an app's package: settings files go in, apps come out."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, name: str, text: str) -> Path:
        """Write ``text`` (dedented) to the file ``name`` in the app's folder."""
        path = self.root / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    def flask(self, *, debug: bool = False) -> Flask:
        """A bare Flask app whose root path is this folder."""
        app = Flask(
            "settings_test_app", root_path=str(self.root), instance_path=str(self.root / "instance")
        )
        app.debug = debug
        return app

    def app(self, *, debug: bool = False, **kwargs: Any) -> Flask:
        """A Flask app in this folder with ProdReady(app, **kwargs) set up."""
        app = self.flask(debug=debug)
        ProdReady(app, **kwargs)
        return app


def make_app_dir(tmp_path: Path) -> AppDir:
    """An empty app folder under ``tmp_path``, away from the current working directory."""
    root = tmp_path / "project" / "myapp"
    root.mkdir(parents=True)
    return AppDir(root)


@dataclass
class HealthApps:
    """Builds apps with flask-prodready for health tests; lets hung checks go at teardown."""

    app_dir: AppDir
    release: threading.Event = field(default_factory=threading.Event)
    apps: list[Flask] = field(default_factory=list)

    def make(self, **overrides: Any) -> tuple[Flask, ProdReady]:
        """A new app in the app folder and the ProdReady(**overrides) that set it up."""
        prodready = ProdReady(**{"dashboard_enabled": False, **overrides})
        app = self.app_dir.flask()
        prodready.init_app(app)
        app.config["TESTING"] = True
        self.apps.append(app)
        return app, prodready

    def close(self) -> None:
        """Free hung checks and let the runners' idle threads end."""
        self.release.set()
        for app in self.apps:
            runner = get_state(app).health
            if runner is not None:
                runner.close()

    def hang(self) -> None:
        """A check body that blocks until the test ends (at most 60 s)."""
        self.release.wait(60)


def example_app() -> Flask:
    """The example app (``example_app.create_app``) with ``TESTING`` on.

    ``example_app`` is imported here, when an app is made, not when the tests are collected.
    The settings come from the environment: set ``FLASK_SQLALCHEMY_DATABASE_URI`` first.
    """
    from example_app import create_app

    application = create_app()
    application.config["TESTING"] = True
    return application
