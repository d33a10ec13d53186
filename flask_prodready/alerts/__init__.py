"""Alerts on rates of change: rules over the request metrics, errors and health checks.

A rule has a name, an expression, a ``for`` duration and a severity::

    [default.PRODREADY_ALERTS_RULES.checkout_errors]
    expr = "error_rate increased 5x over 5m"
    route = "/checkout"        # optional: one route template instead of all
    min_volume = 20            # requests in the window before it may fire
    for = "2m"
    severity = "critical"

States follow Prometheus alerting rules: *inactive* → *pending* (the condition holds, for less
than ``for``) → *firing* → *resolved* (the condition stopped holding) → inactive. Every change
to firing or resolved is notified once: a log line, and the webhooks configured.

One module per job, every name importable from here:

- :mod:`~flask_prodready.alerts.rules`: the expression syntax, :class:`AlertRule`,
  :func:`parse_rule`, :func:`parse_duration` and the default rules;
- :mod:`~flask_prodready.alerts.signals`: the request statistics rules read
  (:class:`SampleSignals`, :class:`WindowStats`);
- :mod:`~flask_prodready.alerts.engine`: :class:`AlertEngine`, :class:`AlertState`, the
  evaluation thread and what happens at a fork;
- :mod:`~flask_prodready.alerts.notify`: the :class:`Notifier` and its receivers;
- :mod:`~flask_prodready.alerts.prometheus_rules`: :func:`export_prometheus_rules`.

This module sets the part up: :func:`init_alerts`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask

from flask_prodready.pipeline import pipeline

from .engine import AlertEngine as AlertEngine
from .engine import AlertState as AlertState
from .engine import _engines
from .notify import Notifier as Notifier
from .prometheus_rules import export_prometheus_rules as export_prometheus_rules
from .rules import DEFAULT_RULES as DEFAULT_RULES
from .rules import SIGNALS as SIGNALS
from .rules import AlertRule as AlertRule
from .rules import parse_duration as parse_duration
from .rules import parse_rule as parse_rule
from .rules import rules_from_settings as rules_from_settings
from .signals import SampleSignals as SampleSignals
from .signals import SignalSource as SignalSource
from .signals import WindowStats as WindowStats
from .signals import _NoSignals

if TYPE_CHECKING:
    from flask_prodready.state import ProdReadyState

__all__ = [
    "DEFAULT_RULES",
    "AlertEngine",
    "AlertRule",
    "AlertState",
    "WindowStats",
    "export_prometheus_rules",
    "parse_duration",
    "parse_rule",
]


def init_alerts(app: Flask, state: ProdReadyState) -> None:
    """Set up alerting for ``app`` (the ``alerts`` part).

    .. versionadded:: 0.1
    """
    setting = state.setting
    rules = rules_from_settings(
        setting("PRODREADY_ALERTS_RULES"),
        setting("PRODREADY_ALERTS_DEFAULT_RULES"),
        state.settings.where_set,
        state.environment,
    )
    rules.extend(state.extension.alert_rules)
    metrics = state.metrics
    if metrics is None:
        signals: SignalSource = _NoSignals()
    else:
        signals = SampleSignals(metrics.store, metrics.sample)
    runner = state.health
    receivers = [("webhook", url) for url in setting("PRODREADY_ALERTS_WEBHOOKS")]
    receivers += [("slack", url) for url in setting("PRODREADY_ALERTS_SLACK_WEBHOOKS")]
    engine = AlertEngine(
        rules,
        signals,
        store=state.error_store,
        health=_critical_failures(runner) if runner is not None else None,
        notifier=Notifier(receivers, timeout=setting("PRODREADY_ALERTS_TIMEOUT")),
        interval=setting("PRODREADY_ALERTS_INTERVAL"),
        on_change=(lambda s: metrics.set_alert_firing(s.name, s.state == "firing"))
        if metrics
        else None,
    )
    state.alerts = engine
    if setting("PRODREADY_ALERTS_EVALUATE"):
        # On first use, once per process (again in each forked worker), never in init_app.
        pipeline(app, state).on_first_request(engine.start)
        _engines.add(engine)
        # The thread ends with the app (an app per test), not at its next wake-up.
        weakref.finalize(app, engine.stop)


def _critical_failures(runner: Any) -> Callable[[], list[str]]:
    def failing() -> list[str]:
        results = runner.last_results()
        return [
            name
            for name, outcome in results.items()
            if getattr(outcome, "critical", False)
            and getattr(outcome.status, "value", "") == "fail"
        ]

    return failing
