"""Alert rules as a Prometheus rules file, for alerting from Prometheus instead of the app.

The expressions are PromQL over the metrics this package exports
(``flask_http_request_duration_seconds``, ``prodready_health_check_status``), so that
Prometheus can watch the same conditions; ``new_error_group`` and ``error_regressed`` have no
PromQL twin and are left out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from .rules import AlertRule

__all__ = ["export_prometheus_rules"]


def export_prometheus_rules(rules: Sequence[AlertRule], group: str = "flask-prodready") -> str:
    """The rules as a Prometheus rules file (YAML), over the metrics this package exports.

    ``new_error_group`` and ``error_regressed`` have no PromQL twin and are left out (a
    comment says so).

    .. versionadded:: 0.1
    """
    lines = ["groups:", f"  - name: {group}", "    rules:"]
    skipped = []
    for rule in rules:
        expr = _promql(rule)
        if expr is None:
            skipped.append(rule.name)
            continue
        lines += [
            f"      - alert: {rule.name}",
            f"        expr: {json.dumps(expr)}",
            f"        for: {int(rule.for_seconds)}s",
            "        labels:",
            f"          severity: {json.dumps(rule.severity)}",
            "        annotations:",
            f"          summary: {json.dumps(rule.summary or rule.expr)}",
        ]
    if skipped:
        lines.insert(0, f"# Not exported (no PromQL equivalent): {', '.join(skipped)}")
    return "\n".join(lines) + "\n"


def _promql(rule: AlertRule) -> str | None:
    matcher = f'route="{rule.route}"' if rule.route else ""

    def sel(extra: str = "") -> str:
        parts = [p for p in (matcher, extra) if p]
        return "{" + ",".join(parts) + "}" if parts else ""

    def signal_at(window: str, offset: str = "") -> str:
        off = f" offset {offset}" if offset else ""
        total = f"sum(rate(flask_http_request_duration_seconds_count{sel()}[{window}]{off}))"
        if rule.signal == "request_rate":
            return total
        if rule.signal == "error_rate":
            five = sel('status=~"5.."')
            errors = f"sum(rate(flask_http_request_duration_seconds_count{five}[{window}]{off}))"
            return f"({errors} / {total})"
        return (
            "histogram_quantile(0.95, sum by (le) "
            f"(rate(flask_http_request_duration_seconds_bucket{sel()}[{window}]{off})))"
        )

    window = f"{int(rule.window)}s"
    increase = f"sum(increase(flask_http_request_duration_seconds_count{sel()}[{window}]))"
    volume = f"{increase} >= {rule.min_volume}"
    if rule.kind == "health_failing":
        return 'min(prodready_health_check_status{critical="true"}) == 0'
    if rule.kind == "threshold":
        return f"{signal_at(window)} {rule.op} {rule.threshold} and {volume}"
    if rule.kind == "increase":
        return (
            f"{signal_at(window)} >= {rule.factor} * clamp_min({signal_at(window, window)}, "
            f"{rule.floor}) and {volume}"
        )
    return None
