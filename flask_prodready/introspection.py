"""What flask-prodready knows about one app, read through one public, typed interface.

Anything outside the core (the dashboard, an admin page of your own, the command line)
reads through :func:`introspect` instead of reaching into the parts' objects::

    from flask_prodready.introspection import introspect

    @app.get("/admin/status")
    def status():
        info = introspect()
        report = info.health_report()
        snapshot = info.metrics_snapshot(15)
        return {
            "environment": info.environment,
            "health": report.status.value if report else None,
            "p95": snapshot.overall.p95 if snapshot else None,
            "slow": len(info.slow_requests()),
        }

Every member answers for a part that is switched off too: ``None``, ``False``, ``0`` or an
empty list, never an exception. The parts' modules are imported only by the members that
need them, so importing this module costs nothing.

.. versionadded:: 0.2
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypedDict, cast

from flask import Flask

from .state import get_state

if TYPE_CHECKING:
    from pathlib import Path

    from .alerts import AlertRule, AlertState
    from .config_report import SettingRow
    from .health import HealthReport, HealthRunner
    from .outgoing import HostStats, OutgoingCall
    from .snapshots import MetricsSnapshot
    from .sql import RepeatedQuery
    from .state import ProdReadyState
    from .store import ErrorStore

__all__ = ["AppIntrospection", "ArmedProfiling", "SlowRequest", "introspect"]


class SlowRequest(TypedDict):
    """One request slower than ``PRODREADY_SLOW_REQUEST_MS``, as the logs part kept it.

    .. versionadded:: 0.2
    """

    #: When it ended, in seconds since the epoch.
    time: float
    method: str
    #: The URL rule that matched, or ``<unmatched>``.
    route: str
    path: str
    status: int
    duration_ms: float
    #: Time spent in SQL (0 when the app's SQL is not watched).
    sql_ms: float
    #: ``duration_ms`` less ``sql_ms``.
    other_ms: float
    #: Queries run, when the app's SQL is watched.
    sql_queries: int | None
    request_id: str | None


class ArmedProfiling(TypedDict):
    """What the dashboard armed: the next ``remaining`` requests of ``route`` are profiled.

    .. versionadded:: 0.2
    """

    #: The URL rule, e.g. ``/orders/<int:order_id>``.
    route: str
    remaining: int


def introspect(app: Flask | None = None) -> AppIntrospection:
    """What flask-prodready knows about ``app``, or about the current app.

    ::

        info = introspect(app)
        if info.profiling_on:
            print([profile["path"] for profile in info.profiles()])

    The object reads the app's state when a member is asked, so it always answers what
    is known now; make one where you need it rather than keeping it.

    :param app: the app; defaults to :data:`flask.current_app`.
    :raises NotInitialisedError: if flask-prodready was not set up on the app.

    .. versionadded:: 0.2
    """
    if app is None:
        from flask import current_app

        app = current_app._get_current_object()  # type: ignore[attr-defined]
    return AppIntrospection(app, get_state(app))


class AppIntrospection:
    """A read-only view of what flask-prodready knows about one app; see :func:`introspect`.

    :param app: the app.
    :param state: its flask-prodready state, ``get_state(app)``.

    .. versionadded:: 0.2
    """

    __slots__ = ("_app", "_state")

    def __init__(self, app: Flask, state: ProdReadyState) -> None:
        self._app = app
        self._state = state

    def __repr__(self) -> str:
        return f"<AppIntrospection app={self._app.name!r} parts={self.parts!r}>"

    # -- the app and its settings ---------------------------------------------------------

    @property
    def app(self) -> Flask:
        """The app this view reads.

        .. versionadded:: 0.2
        """
        return self._app

    @property
    def version(self) -> str:
        """The version of flask-prodready, :data:`flask_prodready.__version__`.

        .. versionadded:: 0.2
        """
        import flask_prodready

        return flask_prodready.__version__

    @property
    def release(self) -> str:
        """The app's running release, e.g. ``2.4.1`` or a git SHA (``unknown`` if none).

        .. versionadded:: 0.2
        """
        return self._state.release.version

    @property
    def release_source(self) -> str:
        """Where :attr:`release` was read, e.g. ``environment variable GITHUB_SHA``.

        .. versionadded:: 0.2
        """
        return self._state.release.source

    @property
    def environment(self) -> str:
        """The settings environment, e.g. ``production``.

        .. versionadded:: 0.2
        """
        return self._state.environment

    @property
    def parts(self) -> tuple[str, ...]:
        """The names of the parts that are on, in the order they were set up.

        .. versionadded:: 0.2
        """
        return self._state.parts

    @property
    def settings(self) -> Mapping[str, Any]:
        """The validated ``PRODREADY_*`` settings by name, read-only.

        .. versionadded:: 0.2
        """
        return MappingProxyType(self._state.settings.values)

    def setting(self, name: str) -> Any:
        """The validated value of the ``PRODREADY_*`` setting ``name``.

        :raises KeyError: for a name that is not a flask-prodready setting.

        .. versionadded:: 0.2
        """
        return self._state.setting(name)

    def settings_rows(self) -> list[SettingRow]:
        """The effective settings, redacted, with their sources, as ``flask prodready
        config`` shows them; see :func:`~flask_prodready.config_report.settings_rows`.

        .. versionadded:: 0.2
        """
        from .config_report import settings_rows

        return settings_rows(self._app)

    def config_warnings(self) -> list[str]:
        """The warnings of ``flask prodready check``; see
        :func:`~flask_prodready.config_report.config_warnings`.

        .. versionadded:: 0.2
        """
        from .config_report import config_warnings

        return config_warnings(self._app)

    # -- health ---------------------------------------------------------------------------

    @property
    def health_runner(self) -> HealthRunner | None:
        """The runner of the app's health checks, or ``None`` with the health part off.

        .. versionadded:: 0.2
        """
        return self._state.health

    def health_report(self) -> HealthReport | None:
        """Every check's outcome, as ``/healthz`` reports it (results younger than the
        cache TTL are reused); ``None`` with the health part off.

        .. versionadded:: 0.2
        """
        runner = self._state.health
        return runner.report(app=self._app) if runner is not None else None

    # -- errors and metrics ---------------------------------------------------------------

    @property
    def error_store(self) -> ErrorStore | None:
        """Where errors, log lines and the shared key/value are kept, or ``None`` with
        ``PRODREADY_ERROR_STORE = "none"``.

        .. versionadded:: 0.2
        """
        return self._state.error_store

    @property
    def metrics_on(self) -> bool:
        """Whether the metrics part is on.

        .. versionadded:: 0.2
        """
        return self._state.metrics is not None

    def metrics_snapshot(self, minutes: float = 5.0) -> MetricsSnapshot | None:
        """Request rate, error rate and latency over the last ``minutes``; ``None`` with the
        metrics part off. See :func:`~flask_prodready.snapshots.metrics_snapshot`.

        :raises ValueError: if ``minutes`` is not more than 0.

        .. versionadded:: 0.2
        """
        if not minutes > 0:
            raise ValueError(f"minutes must be more than 0, got {minutes!r}")
        metrics = self._state.metrics
        return metrics.snapshot(minutes) if metrics is not None else None

    # -- alerts ---------------------------------------------------------------------------

    @property
    def alerts_on(self) -> bool:
        """Whether the alerts part is on.

        .. versionadded:: 0.2
        """
        return self._state.alerts is not None

    def alert_rules(self) -> list[AlertRule]:
        """The alert rules, in their order; empty with the alerts part off.

        .. versionadded:: 0.2
        """
        engine = self._state.alerts
        return list(engine.rules) if engine is not None else []

    def alert_states(self) -> list[AlertState]:
        """Where every rule stands now (shared by the workers through the store); empty
        with the alerts part off.

        .. versionadded:: 0.2
        """
        engine = self._state.alerts
        return engine.states() if engine is not None else []

    def firing_alerts(self) -> list[AlertState]:
        """The rules firing now; empty with the alerts part off.

        .. versionadded:: 0.2
        """
        engine = self._state.alerts
        return engine.firing() if engine is not None else []

    def alert_history(self) -> list[dict[str, Any]]:
        """The latest state changes of the rules, newest first: each a stored
        :class:`~flask_prodready.alerts.AlertState` as a dictionary, with ``at``; empty with
        the alerts part off.

        .. versionadded:: 0.2
        """
        engine = self._state.alerts
        return engine.history() if engine is not None else []

    # -- logs -----------------------------------------------------------------------------

    @property
    def log_level_names(self) -> tuple[str, ...]:
        """The level names :func:`~flask_prodready.set_log_level` accepts, lowest first.

        .. versionadded:: 0.2
        """
        from .logs import LEVELS

        return LEVELS

    def log_level(self, logger_name: str | None = None) -> str | None:
        """The level in force in this process for ``logger_name`` (or overall), or ``None``
        while no app set logging up.

        .. versionadded:: 0.2
        """
        from .logs import get_log_level

        try:
            return get_log_level(logger_name)
        except RuntimeError:  # logging is not set up: no level is in force
            return None

    def log_store_failures(self) -> int:
        """How many batches of this app's log lines its error store failed to write, in
        this process (other apps' failures, e.g. an earlier test's, are not counted).

        .. versionadded:: 0.2
        """
        from .logs.process import log_process

        return log_process.shipper.failures_of(self._state)

    @property
    def slow_request_ms(self) -> float:
        """The slow-request threshold in milliseconds; ``0`` when none is kept (off, or
        the logs part off).

        .. versionadded:: 0.2
        """
        access = self._state.logs
        return access.slow_ms if access is not None else 0.0

    def slow_requests(self) -> list[SlowRequest]:
        """The latest slow requests of this process, newest first (a copy); empty with
        the logs part off.

        .. versionadded:: 0.2
        """
        access = self._state.logs
        if access is None:
            return []
        return cast("list[SlowRequest]", list(access.slow))

    # -- SQL ------------------------------------------------------------------------------

    @property
    def sql_on(self) -> bool:
        """Whether the app's SQL is watched (:func:`~flask_prodready.watch_sql` ran).

        .. versionadded:: 0.2
        """
        return self._state.sql is not None

    def repeated_queries(self) -> list[RepeatedQuery]:
        """The latest N+1 findings of this process, oldest first (a copy); empty while the
        app's SQL is not watched.

        .. versionadded:: 0.2
        """
        sql = self._state.sql
        return list(sql.repeated) if sql is not None else []

    # -- profiling ------------------------------------------------------------------------

    @property
    def profiling_on(self) -> bool:
        """Whether the profiling part is on.

        .. versionadded:: 0.2
        """
        return self._state.profiling is not None

    def profiles(self) -> list[dict[str, Any]]:
        """The kept profile summaries, newest first (the JSON documents the profiling part
        writes); empty with the profiling part off.
        See :func:`~flask_prodready.profiling.list_profiles`.

        .. versionadded:: 0.2
        """
        if self._state.profiling is None:
            return []
        from .profiling import list_profiles

        return list_profiles(self._app)

    def profile(self, profile_id: str) -> dict[str, Any] | None:
        """The kept profile summary ``profile_id``, or ``None``.

        .. versionadded:: 0.2
        """
        for found in self.profiles():
            if found.get("id") == profile_id:
                return found
        return None

    def profile_file(self, profile_id: str) -> Path | None:
        """The ``.prof`` file of the kept profile ``profile_id``, or ``None``.

        .. versionadded:: 0.2
        """
        if self._state.profiling is None:
            return None
        from .profiling import profile_file

        return profile_file(self._app, profile_id)

    def armed_profiling(self) -> ArmedProfiling | None:
        """What is armed for profiling now, in any worker, or ``None`` (nothing armed, the
        store unreadable, or the profiling part off).
        See :func:`~flask_prodready.profiling.armed`.

        .. versionadded:: 0.2
        """
        if self._state.profiling is None:
            return None
        from .profiling import armed

        found = armed(self._app)
        if found is None:
            return None
        return ArmedProfiling(route=found["route"], remaining=found["remaining"])

    # -- outgoing calls -------------------------------------------------------------------

    @property
    def outgoing_on(self) -> bool:
        """Whether the outgoing part is on.

        .. versionadded:: 0.2
        """
        return self._state.outgoing is not None

    def outgoing_calls(self, *, failed_only: bool = False) -> list[OutgoingCall]:
        """This process's latest calls to other services, newest first; empty with the
        outgoing part off.

        :param failed_only: only the calls that got no answer or a 5xx.

        .. versionadded:: 0.2
        """
        outgoing = self._state.outgoing
        if outgoing is None:
            return []
        calls = outgoing.latest()
        calls.reverse()
        return [call for call in calls if call.failed] if failed_only else calls

    def outgoing_hosts(self) -> list[HostStats]:
        """This process's latest calls summed up by host, failing hosts first.
        See :func:`~flask_prodready.outgoing.host_stats`.

        .. versionadded:: 0.2
        """
        from .outgoing import host_stats

        return host_stats(self.outgoing_calls())
