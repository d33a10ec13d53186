"""The ``/_prod`` dashboard, installed as ``flask_prodready.dashboard``.

Server-rendered pages (Overview, Errors, Requests, Logs, Health, Config) that htmx refreshes
in place; every page is complete and readable with JavaScript off. It reads what the core
knows only through :mod:`flask_prodready.introspection`, keeps its own objects in
``state.add_ons["dashboard"]`` and sees every request as an observer of the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request
from loguru import logger

from flask_prodready.introspection import AppIntrospection
from flask_prodready.pipeline import pipeline
from flask_prodready.routes import lazy_url_builders
from flask_prodready.state import ProdReadyState, get_state

from .auth import DashboardAccess
from .sync import HealthHistory, WorkerSync

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from flask_prodready.store import ErrorStore

    from .views import BLUEPRINT_NAME as BLUEPRINT_NAME

__all__ = ["BLUEPRINT_NAME", "COMPONENT", "Dashboard", "init_dashboard"]


def __getattr__(name: str) -> object:
    # The views (and flask_htmx, the templates) are imported when the dashboard is set up,
    # not with the package: the settings schema imports dashboard.settings, which runs this
    # module, for every app, also one with the dashboard off.
    if name == "BLUEPRINT_NAME":
        from .views import BLUEPRINT_NAME

        return BLUEPRINT_NAME
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: The dashboard's key in ``state.add_ons``.
COMPONENT = "dashboard"

#: The Content-Security-Policy of every dashboard response.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


@dataclass
class Dashboard:
    """The dashboard's per-app objects, in ``state.add_ons["dashboard"]``.

    :param access: who may see it.
    :param prefix: where it is mounted.
    :param poll_ms: refresh interval of the live parts, in milliseconds.
    :param sync: this worker's heartbeat and log-level synchronisation.
    :param history: recent health results seen by this worker.

    .. versionadded:: 0.1
    """

    access: DashboardAccess
    prefix: str
    poll_ms: int
    sync: WorkerSync
    history: HealthHistory = field(default_factory=HealthHistory)


def init_dashboard(app: Flask, state: ProdReadyState) -> None:
    """Register the dashboard on ``app`` at ``PRODREADY_DASHBOARD_URL_PREFIX``.

    In production with no access mode set, nothing is registered (``/_prod`` answers 404)
    and a warning says how to set one.

    :param app: the app being set up.
    :param state: the app's flask-prodready state.

    .. versionadded:: 0.1
    """
    info = AppIntrospection(app, state)
    values = info.settings
    access = DashboardAccess.from_settings(app, values)
    prefix = values["PRODREADY_DASHBOARD_URL_PREFIX"]
    development = info.environment == "development" or app.debug
    if not access.modes and not development:
        if info.environment == "testing":
            return  # an app per test: nothing to say, the dashboard is simply not served
        logger.warning(
            "the dashboard is not served at {}: in {} it needs an access mode; set "
            "PRODREADY_DASHBOARD_TOKEN, PRODREADY_DASHBOARD_USERNAME with "
            "PRODREADY_DASHBOARD_PASSWORD_HASH, or PRODREADY_DASHBOARD_AUTHORISER",
            prefix,
            info.environment,
        )
        return
    dashboard = Dashboard(
        access=access,
        prefix=prefix,
        poll_ms=int(values["PRODREADY_DASHBOARD_POLL_SECONDS"] * 1000),
        sync=WorkerSync(info.release),
    )
    state.add_ons[COMPONENT] = dashboard
    runner = info.health_runner
    if runner is not None:
        runner.add_listener(dashboard.history.add)
    from .views import make_blueprint

    blueprint = make_blueprint()
    # On the blueprint, not the app: Flask dispatches app hooks on every request.
    blueprint.after_request(_security_headers)
    with lazy_url_builders(app):
        app.register_blueprint(blueprint, url_prefix=prefix)
    # An observer of the shared middleware rather than a before_request hook: Flask
    # dispatches every hook on every request, and this one only acts every few seconds.
    pipeline(app, state).observe("dashboard", _SyncObserver(dashboard.sync, info.error_store))


class _SyncObserver:
    """Applies shared log levels and writes heartbeats, at most every few seconds."""

    def __init__(self, sync: WorkerSync, store: ErrorStore | None) -> None:
        self.sync = sync
        self.store = store

    def begin(self, environ: WSGIEnvironment) -> None:
        self.sync.maybe_run(self.store)

    def end(self, environ: WSGIEnvironment, status: int, req: Any, token: object) -> None:
        return None


def _security_headers(response: Response) -> Response:
    dashboard = get_state().add_ons.get(COMPONENT)
    if not isinstance(dashboard, Dashboard):
        return response
    path = request.path
    if path == dashboard.prefix or path.startswith(dashboard.prefix + "/"):
        response.headers.update(SECURITY_HEADERS)
    return response
