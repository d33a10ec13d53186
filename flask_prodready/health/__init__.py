"""Health checks: liveness, readiness and start-up endpoints that never hang.

::

    prodready = ProdReady(app)

    @prodready.health.check("database", critical=True, timeout=2.0, tags=("ready",))
    def database() -> None:
        db.session.execute(text("SELECT 1"))   # raise, or return HealthResult("fail"), to fail

    # or, for one app, e.g. in an app factory after init_app:
    register_check(app, "payments", http_check("http://payments/livez"), critical=False)

``init_app`` registers ``/livez``, ``/readyz``, ``/startupz`` and ``/healthz`` and stores the
app's :class:`HealthRunner` in its state (``get_health(app)``). See the "Health checks" page
of the documentation for the semantics of each endpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask

from flask_prodready.access import AccessPolicy
from flask_prodready.exceptions import ConfigError, ConfigProblem, SetupError
from flask_prodready.routes import lazy_url_builders

from .checks import (
    disk_check,
    http_check,
    memory_check,
    redis_check,
    sqlalchemy_check,
    store_check,
)
from .registry import TAGS, CheckFunction, HealthCheck, HealthRegistry
from .result import HEALTH_JSON, CheckOutcome, HealthReport, HealthResult, HealthStatus
from .runner import HealthRunner, StartupTask
from .shutdown import drain, install_for_setting, install_sigterm_handler
from .views import BLUEPRINT_NAME, ENDPOINTS, make_blueprint

if TYPE_CHECKING:
    from flask_prodready.state import ProdReadyState

__all__ = [
    "BLUEPRINT_NAME",
    "COMPONENT",
    "HEALTH_JSON",
    "TAGS",
    "CheckFunction",
    "CheckOutcome",
    "HealthCheck",
    "HealthRegistry",
    "HealthReport",
    "HealthResult",
    "HealthRunner",
    "HealthStatus",
    "StartupTask",
    "disk_check",
    "drain",
    "get_health",
    "http_check",
    "init_health",
    "install_sigterm_handler",
    "memory_check",
    "redis_check",
    "register_check",
    "sqlalchemy_check",
    "store_check",
]

#: The runner's key in the read-only ``get_state(app).components`` view.
COMPONENT = "health"


def init_health(app: Flask, state: ProdReadyState) -> None:
    """Set up health checks on ``app``: its runner, the built-in checks switched on by
    settings, the endpoints and, where it applies, the SIGTERM handler.

    :param app: the app being set up.
    :param state: the app's flask-prodready state; the runner goes to
        ``state.health``.
    :raises ConfigError: if two endpoints share a path.

    .. versionadded:: 0.1
    """
    setting = state.setting
    paths = {endpoint.setting: setting(endpoint.setting) for endpoint in ENDPOINTS}
    _check_distinct_paths(paths, state)
    runner = HealthRunner(
        state.extension.health,
        app_name=app.name,
        timeout=setting("PRODREADY_HEALTH_TIMEOUT"),
        cache_ttl=setting("PRODREADY_HEALTH_CACHE_TTL"),
        max_workers=setting("PRODREADY_HEALTH_MAX_WORKERS"),
    )
    disk_path = setting("PRODREADY_HEALTH_DISK_PATH")
    if disk_path:
        runner.add(
            "disk", disk_check(disk_path, min_free_mb=setting("PRODREADY_HEALTH_DISK_MIN_FREE_MB"))
        )
    store = state.error_store
    if setting("PRODREADY_HEALTH_STORE_CHECK") and store is not None:
        runner.add("error_store", store_check(store), critical=False)
    max_rss = setting("PRODREADY_HEALTH_MEMORY_MAX_RSS_MB")
    if max_rss > 0:
        runner.add("memory", memory_check(max_rss), tags=("live",))
    state.health = runner
    metrics = state.metrics
    if metrics is not None:
        # Each finished run sets the check's status and duration gauges.
        runner.add_listener(
            lambda outcome: metrics.observe_health_check(
                outcome.name,
                outcome.status is not HealthStatus.FAIL,
                outcome.duration,
                outcome.critical,
            )
        )
    with lazy_url_builders(app):
        app.register_blueprint(make_blueprint(runner, paths, _details_policy(state)))
    install_for_setting(
        setting("PRODREADY_HEALTH_HANDLE_SIGTERM"), setting("PRODREADY_HEALTH_DRAIN_SECONDS")
    )


def get_health(app: Flask | None = None) -> HealthRunner:
    """The health runner of ``app``, or of the current app.

    ::

        get_health(app).startup_task("migrations")

    :raises NotInitialisedError: if flask-prodready was not set up on the app.
    :raises SetupError: if health checks are switched off for the app.

    .. versionadded:: 0.1
    """
    from flask_prodready.state import get_state

    state = get_state(app)
    runner = state.health
    if runner is None:
        raise SetupError(
            "health checks are switched off for this app; set PRODREADY_HEALTH_ENABLED = "
            "true to use them"
        )
    return runner


def register_check(
    app: Flask,
    name: str,
    func: CheckFunction,
    *,
    critical: bool = True,
    timeout: float | None = None,
    tags: Iterable[str] = ("ready",),
) -> HealthCheck:
    """Register a check for ``app`` alone (call it after ``init_app``, e.g. in a factory).

    ::

        def create_app():
            app = Flask(__name__)
            prodready.init_app(app)
            register_check(app, "payments", http_check(PAYMENTS_URL), critical=False)
            return app

    The arguments are those of :class:`HealthCheck`.

    :raises SetupError: if the name is taken, or health checks are off for ``app``.

    .. versionadded:: 0.1
    """
    return get_health(app).add(name, func, critical=critical, timeout=timeout, tags=tags)


def _details_policy(state: ProdReadyState) -> AccessPolicy | None:
    mode = state.setting("PRODREADY_HEALTH_DETAILS")
    if mode == "never":
        return None
    if mode == "always":
        return AccessPolicy(open=True)
    return AccessPolicy(
        token=state.setting("PRODREADY_HEALTH_TOKEN"),
        networks=state.setting("PRODREADY_HEALTH_ALLOW_NETWORKS"),
    )


def _check_distinct_paths(paths: dict[str, str], state: ProdReadyState) -> None:
    seen: dict[str, str] = {}
    problems = []
    for key, path in paths.items():
        if path in seen:
            problems.append(
                ConfigProblem(
                    key,
                    f"{path!r} is already the path of {seen[path]}",
                    state.settings.where_set(key),
                )
            )
        seen.setdefault(path, key)
    if problems:
        raise ConfigError(problems, state.environment)
