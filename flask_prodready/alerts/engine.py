"""The alert engine: evaluating every rule on a clock, in exactly one worker per store.

States follow Prometheus alerting rules: *inactive* → *pending* (the condition holds, for less
than ``for``) → *firing* → *resolved* (the condition stopped holding) → inactive. Every change
to firing or resolved is notified once: a log line, and the webhooks configured.

The workers that share an error store take turns through a lease in it: the one holding the
lease evaluates, and saves the states and their history in the store, where every worker
reads them. Each process evaluates in a daemon thread of its own (:meth:`AlertEngine.start`),
which a forked worker starts anew.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from typing import Any

from loguru import logger

from .notify import Notifier
from .rules import AlertRule
from .signals import SignalSource

__all__ = ["AlertEngine", "AlertState"]

_LEASE = "alerts"
_STATE_KEY = "alerts.states"
_HISTORY_KEY = "alerts.history"
_HISTORY_SIZE = 100


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
        one_evaluation = getattr(self.signals, "one_evaluation", nullcontext)
        with self._lock, one_evaluation():
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
        if rule.kind == "error_regressed":
            return self._error_regressed(rule, now)
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

    def _error_regressed(self, rule: AlertRule, now: float) -> tuple[bool, float | None]:
        if self.store is None:
            return False, None
        since = now - max(rule.keep_firing, self.interval)
        groups = self._safe(lambda: self.store.groups(resolved=False, limit=20)) or []
        back = [g for g in groups if g.regressed and g.last_seen >= since]
        return bool(back), float(len(back))

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
