"""Alerts on rates of change: rules over the request metrics, errors and health checks.

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
- ``health_failing``: a critical health check fails.

Signals: ``request_rate`` (requests per second), ``error_rate`` (share of requests answered
5xx, 0 to 1) and ``p95`` (seconds). ``min_volume`` (requests in the current window) keeps
1 → 5 errors from paging anyone.

States follow Prometheus alerting rules: *inactive* → *pending* (the condition holds, for less
than ``for``) → *firing* → *resolved* (the condition stopped holding) → inactive. Every change
to firing or resolved is notified once: a log line, and the webhooks configured.
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import threading
import time
import urllib.request
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from flask import Flask
from loguru import logger

from .exceptions import ConfigError, ConfigProblem
from .pipeline import pipeline
from .snapshots import MetricsSample, SampleStore, histogram_quantile

if TYPE_CHECKING:
    from .state import ProdReadyState

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

SIGNALS = ("request_rate", "error_rate", "p95")
_LEASE = "alerts"
_STATE_KEY = "alerts.states"
_HISTORY_KEY = "alerts.history"
_HISTORY_SIZE = 100
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
    """One alerting rule; see the module documentation for the expression syntax.

    .. versionadded:: 0.1
    """

    name: str
    expr: str
    kind: str  # "threshold", "increase", "new_error_group", "health_failing"
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
    if expr in ("new_error_group", "health_failing"):
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
    if first and first not in (*SIGNALS, "new_error_group", "health_failing"):
        raise ValueError(
            f"unknown signal {first!r} in {expr!r}; signals: {', '.join(SIGNALS)}, "
            "new_error_group, health_failing"
        )
    raise ValueError(
        f"cannot read the expression {expr!r}; write 'error_rate > 0.05', "
        "'error_rate increased 5x over 5m', 'new_error_group' or 'health_failing'"
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


@dataclass(frozen=True)
class WindowStats:
    """Requests, errors and p95 over one window.

    .. versionadded:: 0.1
    """

    seconds: float
    requests: float
    errors: float
    p95: float | None

    def value(self, signal: str) -> float | None:
        """The signal's value: ``request_rate``, ``error_rate`` (5xx share) or ``p95``."""
        if signal == "request_rate":
            return self.requests / self.seconds if self.seconds > 0 else 0.0
        if signal == "error_rate":
            return self.errors / self.requests if self.requests else 0.0
        return self.p95


class SignalSource(Protocol):
    """Where the engine reads request statistics (the metrics part's samples)."""

    def stats(self, start: float, end: float, route: str | None) -> WindowStats | None:
        """Statistics between ``start`` and ``end``; ``None`` without samples covering it."""
        ...


class SampleSignals:
    """Request statistics from the metrics part's samples (aggregated over every worker).

    :param samples: where the samples are kept.
    :param current: a function taking a fresh sample now (``Metrics.sample``), or ``None``
        to use only kept samples (tests).

    .. versionadded:: 0.1
    """

    def __init__(
        self, samples: SampleStore, current: Callable[[], MetricsSample] | None = None
    ) -> None:
        self.samples = samples
        self.current = current

    def stats(self, start: float, end: float, route: str | None) -> WindowStats | None:
        """See :class:`SignalSource`."""
        kept = self.samples.window(start)
        if self.current is not None:
            kept = [*kept, self.current()]
        before = _at_or_before(kept, start)
        after = _at_or_before(kept, end)
        if before is None or after is None or after.time <= before.time:
            return None
        rows_before = _route_rows(before, route)
        rows_after = _route_rows(after, route)
        if rows_after is None:
            return WindowStats(after.time - before.time, 0.0, 0.0, None)
        delta = [
            max(a - b, 0.0)
            for a, b in zip(rows_after, rows_before or [0.0] * len(rows_after), strict=True)
        ]
        requests, errors, buckets = delta[0], delta[1], delta[2:]
        p95 = histogram_quantile(0.95, after.bounds, buckets) if requests else None
        return WindowStats(after.time - before.time, requests, errors, p95)


def _at_or_before(samples: Sequence[MetricsSample], moment: float) -> MetricsSample | None:
    chosen = None
    for sample in samples:
        if sample.time <= moment + 1e-9:
            chosen = sample
    return chosen


def _route_rows(sample: MetricsSample, route: str | None) -> list[float] | None:
    if route is not None:
        row = sample.routes.get(route)
        return list(row) if row is not None else None
    if not sample.routes:
        return None
    total = [0.0] * len(next(iter(sample.routes.values())))
    for row in sample.routes.values():
        for index, value in enumerate(row):
            total[index] += value
    return total


@dataclass(frozen=True)
class AlertState:
    """Where a rule stands.

    :param name: the rule's name.
    :param state: ``inactive``, ``pending``, ``firing`` or ``resolved``.
    :param since: when it entered this state (seconds since the epoch).
    :param value: the value that was compared, when there is one.
    :param severity: the rule's severity.
    :param summary: what it means, for people.

    .. versionadded:: 0.1
    """

    name: str
    state: str = "inactive"
    since: float = 0.0
    active_since: float = 0.0
    value: float | None = None
    severity: str = "warning"
    summary: str = ""


@dataclass
class _Receiver:
    kind: str  # "webhook" or "slack"
    url: str


class Notifier:
    """Sends state changes off the request path: a log line, then each webhook, retried.

    :param receivers: ``(kind, url)`` pairs, kind ``webhook`` (JSON) or ``slack``.
    :param timeout: seconds per attempt.
    :param retries: attempts after the first.

    .. versionadded:: 0.1
    """

    def __init__(
        self, receivers: Iterable[tuple[str, str]], timeout: float = 5.0, retries: int = 2
    ) -> None:
        self.receivers = [_Receiver(kind, url) for kind, url in receivers]
        self.timeout = timeout
        self.retries = retries
        self.sent = 0
        self.failures = 0
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=1000)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def notify(self, change: dict[str, Any]) -> None:
        """Log ``change`` now and queue it for the receivers."""
        level = "WARNING" if change["state"] == "firing" else "INFO"
        logger.bind(
            logger="flask_prodready.alerts", alert=change["alert"], severity=change["severity"]
        ).log(level, "alert {} is {}: {}", change["alert"], change["state"], change["summary"])
        if not self.receivers:
            return
        try:
            self._queue.put_nowait(change)
        except queue.Full:
            with self._lock:
                self.failures += 1
            return
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="prodready-alerts-notify", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            change = self._queue.get()
            for receiver in self.receivers:
                self._send(receiver, change)
            self._queue.task_done()

    def _send(self, receiver: _Receiver, change: dict[str, Any]) -> None:
        if receiver.kind == "slack":
            emoji = ":rotating_light:" if change["state"] == "firing" else ":white_check_mark:"
            text = f"{emoji} [{change['severity']}] {change['alert']} is {change['state']}"
            body = {"text": f"{text}: {change['summary']}"}
        else:
            body = change
        data = json.dumps(body).encode()
        for attempt in range(self.retries + 1):
            try:
                request = urllib.request.Request(  # noqa: S310 - the operator's configured URL
                    receiver.url,
                    data=data,
                    method="POST",
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    if 200 <= response.status < 300:
                        with self._lock:
                            self.sent += 1
                        return
            except (OSError, ValueError):
                pass
            if attempt < self.retries:
                time.sleep(min(0.2 * 2**attempt, 2.0))
        with self._lock:
            self.failures += 1
        logger.bind(logger="flask_prodready.alerts").warning(
            "could not notify {} of alert {} after {} attempts",
            receiver.kind,
            change["alert"],
            self.retries + 1,
        )

    def wait(self, timeout: float = 10.0) -> None:
        """Block until the queued notifications were tried (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)


class AlertEngine:
    """Evaluates the rules every ``interval`` seconds, in exactly one worker per store.

    :param rules: the rules.
    :param signals: request statistics.
    :param store: the error store (new error groups, the lease, shared states); may be None
        for one process.
    :param health: returns the names of critical health checks that fail now.
    :param notifier: where state changes go.
    :param interval: seconds between evaluations.
    :param clock: seconds since the epoch; injectable for tests.
    :param on_change: called with every state after each evaluation (the metrics gauge).

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        rules: Sequence[AlertRule],
        signals: SignalSource,
        *,
        store: Any = None,
        health: Callable[[], list[str]] | None = None,
        notifier: Notifier | None = None,
        interval: float = 15.0,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[AlertState], None] | None = None,
    ) -> None:
        self.rules = list(rules)
        self.signals = signals
        self.store = store
        self.health = health
        self.notifier = notifier or Notifier(())
        self.interval = interval
        self.clock = clock
        self.on_change = on_change
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.evaluations = 0
        self._states: dict[str, AlertState] = {
            rule.name: AlertState(rule.name, severity=rule.severity, summary=rule.summary)
            for rule in self.rules
        }
        self._last_evaluated: float | None = None
        self._local_history: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- reading ---------------------------------------------------------------------------

    def states(self) -> list[AlertState]:
        """Every rule's current state (from the shared store when there is one)."""
        self._load()
        with self._lock:
            return list(self._states.values())

    def firing(self) -> list[AlertState]:
        """The rules firing now (the dashboard's banner)."""
        return [state for state in self.states() if state.state == "firing"]

    def history(self) -> list[dict[str, Any]]:
        """The latest state changes, newest first."""
        if self.store is None:
            return list(self._local_history)
        raw = self._safe(lambda: self.store.values(_HISTORY_KEY).get(_HISTORY_KEY))
        return list(json.loads(raw)) if raw else []

    # -- evaluating ------------------------------------------------------------------------

    def evaluate(self, now: float | None = None) -> list[AlertState] | None:
        """Evaluate every rule once if this worker holds the lease; ``None`` if it does not."""
        now = self.clock() if now is None else now
        if self.store is not None:
            held = self._safe(
                lambda: self.store.acquire_lease(
                    _LEASE, self.holder, max(3 * self.interval, 1.0), now
                )
            )
            if not held:
                return None
            self._load()
        changes = []
        with self._lock:
            for rule in self.rules:
                previous = self._states[rule.name]
                holds, value = self._condition(rule, now)
                state = _next_state(rule, previous, holds, value, now)
                if state.state != previous.state and state.state in ("firing", "resolved"):
                    changes.append(state)
                self._states[rule.name] = state
            self._last_evaluated = now
            self.evaluations += 1
            snapshot = list(self._states.values())
        self._save(snapshot, changes)
        for state in changes:
            self.notifier.notify(
                {
                    "alert": state.name,
                    "state": state.state,
                    "severity": state.severity,
                    "summary": state.summary,
                    "value": state.value,
                    "since": state.since,
                }
            )
        if self.on_change is not None:
            for state in snapshot:
                self.on_change(state)
        return snapshot

    def _condition(self, rule: AlertRule, now: float) -> tuple[bool, float | None]:
        if rule.kind == "health_failing":
            failing = self.health() if self.health is not None else []
            return bool(failing), float(len(failing))
        if rule.kind == "new_error_group":
            return self._new_error_group(rule, now)
        current = self.signals.stats(now - rule.window, now, rule.route)
        if current is None or current.requests < rule.min_volume:
            return False, None
        value = current.value(rule.signal or "")
        if value is None:
            return False, None
        if rule.kind == "threshold":
            return _compare(value, rule.op or ">", rule.threshold), value
        previous = self.signals.stats(now - 2 * rule.window, now - rule.window, rule.route)
        before = previous.value(rule.signal or "") if previous is not None else None
        base = max(before or 0.0, rule.floor)
        if base <= 0:
            return False, value
        return value >= rule.factor * base, value

    def _new_error_group(self, rule: AlertRule, now: float) -> tuple[bool, float | None]:
        if self.store is None:
            return False, None
        since = now - max(rule.keep_firing, self.interval)
        groups = self._safe(lambda: self.store.groups(limit=20)) or []
        fresh = [g for g in groups if g.first_seen >= since]
        return bool(fresh), float(len(fresh))

    # -- shared state ----------------------------------------------------------------------

    def _load(self) -> None:
        if self.store is None:
            return
        raw = self._safe(lambda: self.store.values(_STATE_KEY).get(_STATE_KEY))
        if not raw:
            return
        with self._lock:
            for name, data in json.loads(raw).items():
                if name in self._states:
                    self._states[name] = AlertState(**data)

    def _save(self, states: list[AlertState], changes: list[AlertState]) -> None:
        entries = [dict(asdict(state), at=state.since) for state in changes]
        if self.store is None:
            self._local_history = (entries[::-1] + self._local_history)[:_HISTORY_SIZE]
            return
        document = json.dumps({state.name: asdict(state) for state in states})
        self._safe(lambda: self.store.set_value(_STATE_KEY, document))
        if entries:
            history = (entries[::-1] + self.history())[:_HISTORY_SIZE]
            self._safe(lambda: self.store.set_value(_HISTORY_KEY, json.dumps(history)))

    def _safe(self, work: Callable[[], Any]) -> Any:
        try:
            return work()
        except Exception as exc:  # the store being down must not stop evaluation for good
            logger.bind(logger="flask_prodready.alerts").warning(
                "alert store access failed: {}", exc
            )
            return None

    # -- the background thread -------------------------------------------------------------

    def start(self) -> None:
        """Evaluate every ``interval`` seconds in a daemon thread, once per process.

        The thread holds the engine weakly: when the app (and so its engine) is gone, the
        thread ends at its next wake-up instead of keeping it alive.
        """
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=_evaluate_while_alive,
                args=(weakref.ref(self), self._stop, self.interval),
                name="prodready-alerts",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the background thread."""
        self._stop.set()

    def _after_fork(self) -> None:
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None  # the parent's thread does not exist here


def _evaluate_while_alive(
    engine_ref: weakref.ref[AlertEngine], stop: threading.Event, interval: float
) -> None:
    while not stop.wait(interval):
        engine = engine_ref()
        if engine is None:
            return
        try:
            engine.evaluate()
        except Exception:  # one bad evaluation must not end alerting
            logger.bind(logger="flask_prodready.alerts").exception("alert evaluation failed")
        del engine


#: The engines of this process, for the fork hook; an app's engine goes with its app.
_engines: weakref.WeakSet[AlertEngine] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for engine in list(_engines):
        engine._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _compare(value: float, op: str, threshold: float) -> bool:
    return {
        ">": value > threshold,
        ">=": value >= threshold,
        "<": value < threshold,
        "<=": value <= threshold,
    }[op]


def _next_state(
    rule: AlertRule, previous: AlertState, holds: bool, value: float | None, now: float
) -> AlertState:
    state = previous.state
    if holds:
        if state in ("inactive", "resolved"):
            if rule.for_seconds <= 0:
                return replace(previous, state="firing", since=now, active_since=now, value=value)
            return replace(previous, state="pending", since=now, active_since=now, value=value)
        if state == "pending" and now - previous.active_since >= rule.for_seconds:
            return replace(previous, state="firing", since=now, value=value)
        return replace(previous, value=value)
    if state == "firing":
        return replace(previous, state="resolved", since=now, value=value)
    if state in ("pending", "resolved"):
        return replace(previous, state="inactive", since=now, value=value)
    return replace(previous, value=value)


def export_prometheus_rules(rules: Sequence[AlertRule], group: str = "flask-prodready") -> str:
    """The rules as a Prometheus rules file (YAML), over the metrics this package exports.

    ``new_error_group`` has no PromQL twin and is left out (a comment says so).

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


class _NoSignals:
    def stats(self, start: float, end: float, route: str | None) -> WindowStats | None:
        return None


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
