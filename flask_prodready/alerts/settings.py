"""The settings of the ``alerts`` part."""

from __future__ import annotations

from flask_prodready.settings.casts import BOOL, FLOAT, RULE_TABLE, STR_LIST, at_least
from flask_prodready.settings.schema import Setting

__all__ = ["SETTINGS"]

#: The settings this part declares, in the order of the configuration reference.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PRODREADY_ALERTS_ENABLED",
        True,
        BOOL,
        "Evaluate alert rules over the request metrics, new errors and health checks, and "
        "notify state changes. See [Alerts](alerts.md).",
    ),
    Setting(
        "PRODREADY_ALERTS_DEFAULT_RULES",
        True,
        BOOL,
        "Ship the default rules on: error rate jumped 5x in 5 minutes, p95 latency doubled over "
        "10 minutes, a critical health check failing for 1 minute, a new error group. See "
        "[Alerts](alerts.md).",
    ),
    Setting(
        "PRODREADY_ALERTS_RULES",
        {},
        RULE_TABLE,
        "Your rules (and changes to the default ones), a table of tables by rule name, each "
        "with `expr`, and optionally `for`, `severity`, `summary`, `route`, `min_volume`, "
        "`floor`, `window`; `name = false` switches a default rule off. See "
        "[Alerts](alerts.md).",
    ),
    Setting(
        "PRODREADY_ALERTS_INTERVAL",
        15.0,
        at_least(FLOAT, 0.1),
        "Seconds between two evaluations. Only one worker of all that share the store evaluates "
        "(a lease in the store, taken over when its holder dies). See [Alerts](alerts.md).",
    ),
    Setting(
        "PRODREADY_ALERTS_EVALUATE",
        True,
        BOOL,
        "Evaluate in a background thread of each worker. Off, rules are evaluated only when "
        "asked (`flask prodready alerts test`, tests). See [Alerts](alerts.md).",
    ),
    Setting(
        "PRODREADY_ALERTS_WEBHOOKS",
        [],
        STR_LIST,
        "URLs that receive each state change as a JSON POST. See [Alerts](alerts.md).",
    ),
    Setting(
        "PRODREADY_ALERTS_SLACK_WEBHOOKS",
        [],
        STR_LIST,
        "Slack-compatible incoming webhook URLs that receive each state change as a message. "
        "See [Alerts](alerts.md).",
    ),
    Setting(
        "PRODREADY_ALERTS_TIMEOUT",
        5.0,
        at_least(FLOAT, 0.1),
        "Seconds a receiver may take per attempt; each change is tried three times at most. See "
        "[Alerts](alerts.md).",
    ),
)
