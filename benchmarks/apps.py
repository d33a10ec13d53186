"""The apps the benchmarks compare: bare Flask, flask-prodready variants, and peers."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from flask import Flask, abort

from flask_prodready import ProdReady

AppFactory = Callable[[], Flask]


def _routes(app: Flask) -> Flask:
    app.add_url_rule("/hello", "hello", lambda: "hello")

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    @app.get("/missing")
    def missing() -> str:
        abort(404)

    return app


def bare() -> Flask:
    """Flask alone."""
    return _routes(Flask("bench_bare"))


def prodready(**overrides: Any) -> AppFactory:
    """Flask with ``ProdReady(app, **overrides)``, settings and store in a fresh folder.

    Without overrides these are the defaults as users get them: production, JSON lines to
    stdout, the error store on its default backend (SQLite in the instance folder), alerts
    evaluated in the background.
    """

    def make() -> Flask:
        root = tempfile.mkdtemp(prefix="bench-")
        app = Flask("bench_prodready", root_path=root, instance_path=os.path.join(root, "instance"))
        ProdReady(app, **overrides)
        return _routes(app)

    return make


def exporter_alone() -> Flask:
    """prometheus-flask-exporter's defaults, and nothing else."""
    from prometheus_client import CollectorRegistry
    from prometheus_flask_exporter import PrometheusMetrics

    app = Flask("bench_exporter")
    PrometheusMetrics(app, registry=CollectorRegistry())
    return _routes(app)


def naive_stack() -> Flask:
    """What teams stitch by hand: prometheus-flask-exporter's defaults, and loguru JSON
    (``serialize=True``) with a request id bound and one access line per request."""
    import uuid

    from flask import g, request
    from loguru import logger
    from prometheus_client import CollectorRegistry
    from prometheus_flask_exporter import PrometheusMetrics

    app = Flask("bench_naive")
    PrometheusMetrics(app, registry=CollectorRegistry())
    logger.remove()
    logger.add(sys.stdout, serialize=True)  # loguru flushes a stream after each line

    @app.before_request
    def bind() -> None:
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex

    @app.after_request
    def access(response: Any) -> Any:
        logger.bind(request_id=g.request_id).info(
            "{} {} {}", request.method, request.path, response.status_code
        )
        response.headers["X-Request-ID"] = g.request_id
        return response

    return _routes(app)


def monitoring_dashboard() -> Flask:
    """Flask-MonitoringDashboard with its defaults, on a SQLite file of its own."""
    import flask_monitoringdashboard as dashboard

    app = Flask("bench_fmd")
    dashboard.config.database_name = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "fmd.db")
    _routes(app)
    dashboard.bind(app)
    return app
