"""The settings of the ``metrics`` part."""

from __future__ import annotations

from flask_prodready.settings.casts import (
    BOOL,
    BUCKETS,
    FLOAT,
    INT,
    NETWORKS,
    OPTIONAL_STR,
    PATHS,
    URL_PREFIX,
    at_least,
)
from flask_prodready.settings.schema import Setting

__all__ = ["SETTINGS"]

#: The settings this part declares, in the order of the configuration reference.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PRODREADY_METRICS_ENABLED",
        True,
        BOOL,
        "Collect Prometheus metrics and serve them at "
        "[`PRODREADY_METRICS_PATH`](#prodready_metrics_path). See [Metrics](metrics.md).",
    ),
    Setting(
        "PRODREADY_METRICS_PATH",
        "/metrics",
        URL_PREFIX,
        "Where the Prometheus exposition is served. Requests to it are never counted.",
    ),
    Setting(
        "PRODREADY_METRICS_EXCLUDED_PATHS",
        ("/metrics", "/livez", "/readyz", "/_prod"),
        PATHS,
        "Requests to these paths, and to any path below them (`/_prod` also excludes "
        "`/_prod/static/prodready.css`), are not counted by the request metrics; `/` is the "
        "root page only. An empty list counts everything except the exposition itself.",
    ),
    Setting(
        "PRODREADY_METRICS_BUCKETS",
        (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0),
        BUCKETS,
        "The upper bounds of the buckets of `flask_http_request_duration_seconds`. `+Inf` is "
        "always added. Every bucket is one more series per method, route and status: keep the "
        "list short.",
    ),
    Setting(
        "PRODREADY_METRICS_TOKEN",
        None,
        OPTIONAL_STR,
        "A bearer token that lets any client read the metrics (`Authorization: Bearer "
        "<token>`). It is compared in constant time. Put it in `.secrets.toml` or the "
        "environment, never in `settings.toml`.",
    ),
    Setting(
        "PRODREADY_METRICS_ALLOWED_NETWORKS",
        (),
        NETWORKS,
        "Clients in these networks may read the metrics without a token.",
    ),
    Setting(
        "PRODREADY_METRICS_ALLOW_LOOPBACK",
        True,
        BOOL,
        "Clients on the loopback interface (`127.0.0.0/8`, `::1`) may read the metrics without "
        "a token. Turn it off when a reverse proxy on the same machine forwards `/metrics`.",
    ),
    Setting(
        "PRODREADY_METRICS_OPEN",
        False,
        BOOL,
        "Every client may read the metrics. Use it only where the network already keeps "
        "strangers out.",
    ),
    Setting(
        "PRODREADY_METRICS_MAX_LABEL_VALUES",
        50,
        at_least(INT, 1),
        "How many distinct values each free-form label may take in one process: the exception "
        "`type`, the error `class`, the store's drop `reason`, the log `sink` and the health "
        "`check`. Later values are counted under `other`.",
    ),
    Setting(
        "PRODREADY_METRICS_APP_VERSION",
        None,
        OPTIONAL_STR,
        "The older name of `PRODREADY_RELEASE`, read when that is empty. See "
        "[Releases](deploying.md#releases).",
    ),
    Setting(
        "PRODREADY_METRICS_SAMPLE_INTERVAL",
        10.0,
        at_least(FLOAT, 1),
        "How often the request metrics are sampled for the [snapshot "
        "API](metrics.md#the-snapshot-api).",
    ),
    Setting(
        "PRODREADY_METRICS_HISTORY_MINUTES",
        60,
        at_least(INT, 1),
        "How many minutes of samples are kept for the snapshot API; older ones are dropped.",
    ),
)
