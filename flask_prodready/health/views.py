"""The health blueprint: ``/livez``, ``/readyz``, ``/startupz`` and ``/healthz``.

Every answer is ``application/health+json`` with ``Cache-Control: no-store``; the status
code is 200 for ``pass`` and ``warn`` and 503 for ``fail``. Everyone gets the status; the
details (``checks``, ``output``, ``notes``) only callers that the details policy allows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, request

from flask_prodready.access import AccessPolicy

from .result import HEALTH_JSON, HealthReport
from .runner import HealthRunner

__all__ = ["BLUEPRINT_NAME", "ENDPOINTS", "HealthEndpoint", "make_blueprint"]

#: The name of the health blueprint, for ``url_for("prodready_health.readyz")``.
BLUEPRINT_NAME = "prodready_health"


@dataclass(frozen=True)
class HealthEndpoint:
    """One health endpoint: its view name, the setting holding its path, what it runs.

    :meta private:
    """

    name: str
    setting: str
    report: Callable[[HealthRunner, Flask], HealthReport]


#: The endpoints, by view name.
ENDPOINTS: tuple[HealthEndpoint, ...] = (
    HealthEndpoint(
        "livez", "PRODREADY_HEALTH_LIVE_PATH", lambda runner, app: runner.liveness(app=app)
    ),
    HealthEndpoint(
        "readyz", "PRODREADY_HEALTH_READY_PATH", lambda runner, app: runner.readiness(app=app)
    ),
    HealthEndpoint(
        "startupz", "PRODREADY_HEALTH_STARTUP_PATH", lambda runner, app: runner.startup(app=app)
    ),
    HealthEndpoint(
        "healthz", "PRODREADY_HEALTH_REPORT_PATH", lambda runner, app: runner.report(app=app)
    ),
)


def make_blueprint(
    runner: HealthRunner, paths: Mapping[str, str], details: AccessPolicy | None
) -> Blueprint:
    """A health blueprint answering for ``runner``.

    :param runner: the app's runner.
    :param paths: the path of each endpoint, by the name of its setting.
    :param details: who sees the details; ``None`` for no one.
    """
    blueprint = Blueprint(BLUEPRINT_NAME, __name__)
    for endpoint in ENDPOINTS:
        blueprint.add_url_rule(
            paths[endpoint.setting],
            endpoint.name,
            _view(runner, endpoint, details),
            methods=["GET"],
        )
    return blueprint


def _view(
    runner: HealthRunner, endpoint: HealthEndpoint, details: AccessPolicy | None
) -> Callable[[], Response]:
    def view() -> Response:
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        report = endpoint.report(runner, app)
        shown = details is not None and details.allows(request)
        response = app.response_class(
            app.json.dumps(report.to_dict(details=shown)),
            status=report.http_status,
            mimetype=HEALTH_JSON,
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    view.__name__ = endpoint.name
    view.__doc__ = f"The {endpoint.name} health endpoint."
    return view
