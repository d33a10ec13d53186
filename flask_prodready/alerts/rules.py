"""Alert rules: what a rule says, and reading rules from their settings tables.

A rule has a name, an expression, a ``for`` duration and a severity::

    [default.PRODREADY_ALERTS_RULES.checkout_errors]
    expr = "error_rate increased 5x over 5m"
    route = "/checkout"        # optional: one route template instead of all
    min_volume = 20            # requests in the window before it may fire
    for = "2m"
    severity = "critical"

Expressions:

- ``SIGNAL OP NUMBER``: a threshold, e.g. ``error_rate > 0.05``, ``p95 > 0.8``,
  ``request_rate < 1`` (``OP`` is ``>``, ``>=``, ``<`` or ``<=``), over ``window``
  (default ``5m``);
- ``SIGNAL increased Nx over DURATION``: the value over the last ``DURATION`` is at least
  ``N`` times the value over the ``DURATION`` before it (a previous value below ``floor`` counts
  as ``floor``), e.g. ``error_rate increased 5x over 5m``;
- ``new_error_group``: an error group was first seen since the last evaluation;
- ``error_regressed``: a resolved error group happened again in another release (see
  :attr:`~flask_prodready.store.ErrorGroup.regressed`);
- ``health_failing``: a critical health check fails.

Signals: ``request_rate`` (requests per second), ``error_rate`` (share of requests answered
5xx, 0 to 1) and ``p95`` (seconds). ``min_volume`` (requests in the current window) keeps
1 → 5 errors from paging anyone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_prodready.exceptions import ConfigError, ConfigProblem

__all__ = ["DEFAULT_RULES", "AlertRule", "parse_duration", "parse_rule"]

#: The signals a threshold or increase expression may name.
SIGNALS = ("request_rate", "error_rate", "p95")
#: The expressions that are a signal on their own, with no operator.
_EVENTS = ("new_error_group", "error_regressed", "health_failing")
_THRESHOLD = re.compile(r"^\s*(request_rate|error_rate|p95)\s*(>=|<=|>|<)\s*([0-9.eE+-]+)\s*$")
_INCREASE = re.compile(
    r"^\s*(request_rate|error_rate|p95)\s+increased\s+([0-9.]+)\s*x\s+over\s+(\S+)\s*$"
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

#: The rules that ship on (``PRODREADY_ALERTS_DEFAULT_RULES``), by name.
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "error_rate_jump": {
        "expr": "error_rate increased 5x over 5m",
        "min_volume": 20,
        "floor": 0.01,
        "for": "1m",
        "severity": "critical",
        "summary": "The share of 5xx answers jumped 5x in 5 minutes",
    },
    "latency_doubled": {
        "expr": "p95 increased 2x over 10m",
        "min_volume": 50,
        "floor": 0.05,
        "for": "5m",
        "severity": "warning",
        "summary": "p95 latency doubled over 10 minutes",
    },
    "health_check_failing": {
        "expr": "health_failing",
        "for": "1m",
        "severity": "critical",
        "summary": "A critical health check has failed for a minute",
    },
    "new_error_group": {
        "expr": "new_error_group",
        "for": "0s",
        "severity": "warning",
        "summary": "An error never seen before happened",
        "keep_firing": "5m",
    },
    "error_regressed": {
        "expr": "error_regressed",
        "for": "0s",
        "severity": "warning",
        "summary": "An error marked resolved happened again in a new release",
        "keep_firing": "5m",
    },
}


def parse_duration(value: Any) -> float:
    """Seconds in ``"90s"``, ``"5m"``, ``"1h"``, ``"250ms"`` or a plain number of seconds.

    :raises ValueError: for anything else.

    .. versionadded:: 0.1
    """
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 1h")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule; see :mod:`flask_prodready.alerts.rules` for the expression syntax.

    .. versionadded:: 0.1
    """

    name: str
    expr: str
    kind: str  # "threshold", "increase", "new_error_group", "error_regressed", "health_failing"
    signal: str | None = None
    op: str | None = None
    threshold: float = 0.0
    factor: float = 1.0
    window: float = 300.0
    route: str | None = None
    min_volume: int = 0
    floor: float = 0.0
    for_seconds: float = 0.0
    keep_firing: float = 0.0
    severity: str = "warning"
    summary: str = ""


def parse_rule(name: str, spec: Mapping[str, Any]) -> AlertRule:
    """Build a rule from its settings table.

    :raises ValueError: naming what is wrong (bad expression, unknown signal, bad duration).

    .. versionadded:: 0.1
    """
    if not isinstance(spec, Mapping):
        raise ValueError("expected a table with at least expr")
    known = {
        "expr",
        "route",
        "min_volume",
        "floor",
        "for",
        "severity",
        "summary",
        "window",
        "keep_firing",
    }
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(f"unknown keys {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    expr = str(spec.get("expr", "")).strip()
    base: dict[str, Any] = {
        "name": name,
        "expr": expr,
        "route": spec.get("route") or None,
        "min_volume": int(spec.get("min_volume", 0)),
        "floor": float(spec.get("floor", 0.0)),
        "for_seconds": parse_duration(spec.get("for", "0s")),
        "keep_firing": parse_duration(spec.get("keep_firing", "0s")),
        "severity": str(spec.get("severity", "warning")),
        "summary": str(spec.get("summary", "")),
        "window": parse_duration(spec.get("window", "5m")),
    }
    if expr in _EVENTS:
        return AlertRule(kind=expr, **base)
    threshold = _THRESHOLD.match(expr)
    if threshold:
        signal, op, number = threshold.groups()
        return AlertRule(kind="threshold", signal=signal, op=op, threshold=float(number), **base)
    increase = _INCREASE.match(expr)
    if increase:
        signal, factor, window = increase.groups()
        base["window"] = parse_duration(window)
        return AlertRule(kind="increase", signal=signal, factor=float(factor), **base)
    first = expr.split()[0] if expr.split() else ""
    if first and first not in (*SIGNALS, *_EVENTS):
        raise ValueError(
            f"unknown signal {first!r} in {expr!r}; signals: {', '.join((*SIGNALS, *_EVENTS))}"
        )
    raise ValueError(
        f"cannot read the expression {expr!r}; write 'error_rate > 0.05', "
        "'error_rate increased 5x over 5m', 'new_error_group', 'error_regressed' or "
        "'health_failing'"
    )


def rules_from_settings(
    configured: Mapping[str, Any],
    with_defaults: bool,
    where: Callable[[str], str],
    environment: str | None = None,
) -> list[AlertRule]:
    """The rules of the settings, defaults first; one ConfigError for every bad rule."""
    specs: dict[str, Any] = dict(DEFAULT_RULES) if with_defaults else {}
    specs.update(configured)
    rules, problems = [], []
    for name, spec in specs.items():
        if spec in (None, False):  # `name = false` switches a default rule off
            continue
        try:
            rules.append(parse_rule(str(name), spec))
        except (ValueError, TypeError) as exc:
            problems.append(
                ConfigProblem(
                    f"PRODREADY_ALERTS_RULES.{name}", str(exc), where("PRODREADY_ALERTS_RULES")
                )
            )
    if problems:
        raise ConfigError(problems, environment)
    return rules
