"""The settings of the ``health`` part."""

from __future__ import annotations

from flask_prodready.settings.casts import (
    BOOL,
    FLOAT,
    INT,
    NETWORKS,
    OPTIONAL_STR,
    URL_PATH,
    at_least,
    choice,
)
from flask_prodready.settings.schema import Setting

__all__ = ["SETTINGS"]

#: The settings this part declares, in the order of the configuration reference.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PRODREADY_HEALTH_ENABLED",
        True,
        BOOL,
        "Register the health endpoints and the app's health runner. See [Health "
        "checks](health.md). When off, no endpoint is registered, `get_health(app)` raises "
        "`SetupError`, and checks registered on `prodready.health` are kept but never run.",
    ),
    Setting(
        "PRODREADY_HEALTH_LIVE_PATH",
        "/livez",
        URL_PATH,
        "Path of the liveness endpoint. It runs the checks tagged `live`; no check has that tag "
        "unless you give it, so by default it answers 200 whenever the process can serve a "
        "request.",
    ),
    Setting(
        "PRODREADY_HEALTH_READY_PATH",
        "/readyz",
        URL_PATH,
        "Path of the readiness endpoint. It answers 503 at once while the process shuts down or "
        "start-up is not finished, and otherwise runs the checks tagged `ready` (the default "
        "tag).",
    ),
    Setting(
        "PRODREADY_HEALTH_STARTUP_PATH",
        "/startupz",
        URL_PATH,
        "Path of the start-up endpoint. It answers 503 until every declared start-up task is "
        "done and the checks tagged `startup` pass, then 200 for the rest of the process's "
        "life.",
    ),
    Setting(
        "PRODREADY_HEALTH_REPORT_PATH",
        "/healthz",
        URL_PATH,
        "Path of the full report, which runs every check whatever its tags. The four paths must "
        "differ; two endpoints on one path stop start-up with a problem naming the second key, "
        "e.g. `PRODREADY_HEALTH_REPORT_PATH: '/readyz' is already the path of "
        "PRODREADY_HEALTH_READY_PATH`.",
    ),
    Setting(
        "PRODREADY_HEALTH_TIMEOUT",
        2.0,
        at_least(FLOAT, 0.01),
        "Timeout of a check registered without its own `timeout=`. A check that has not "
        "answered by then is reported `fail` with the output `timeout after 2.0s`, and the "
        "endpoint answers anyway.",
    ),
    Setting(
        "PRODREADY_HEALTH_CACHE_TTL",
        2.0,
        at_least(FLOAT, 0),
        "How long a check's result is reused before the check runs again. `0` runs the check "
        "for every request; requests that arrive while a run is under way still share that run.",
    ),
    Setting(
        "PRODREADY_HEALTH_MAX_WORKERS",
        8,
        at_least(INT, 1),
        "The most threads that run checks at the same time, per app and process. More checks "
        "wait in a queue; a check still waiting when its timeout is over is reported `fail` "
        "with the output `not started within 2.0s: all 8 health check threads are busy`. Give "
        "it at least the number of checks that can hang at the same time, plus one.",
    ),
    Setting(
        "PRODREADY_HEALTH_DETAILS",
        "authorised",
        choice("authorised", "always", "never"),
        "Who sees the details of a health answer (`checks`, their outputs and observed values, "
        "`output` and `notes`): `authorised` callers only (clients on the loopback interface, "
        "callers with [`PRODREADY_HEALTH_TOKEN`](#prodready_health_token), clients in "
        "[`PRODREADY_HEALTH_ALLOW_NETWORKS`](#prodready_health_allow_networks)), everyone "
        '(`always`), or no one (`never`). Everyone else gets `{"status": "..."}` with the same '
        "status code. See [Who sees the details](health.md#who-sees-the-details).",
    ),
    Setting(
        "PRODREADY_HEALTH_TOKEN",
        None,
        OPTIONAL_STR,
        "A bearer token that lets any client see the details: `Authorization: Bearer <token>`. "
        "It is compared in constant time. Its name looks secret, so it is redacted wherever "
        "settings are shown; keep it in `.secrets.toml` or the environment.",
    ),
    Setting(
        "PRODREADY_HEALTH_ALLOW_NETWORKS",
        (),
        NETWORKS,
        "Client networks that see the details without the token, for example the network of "
        "your monitoring system. A value that is not a network is named in the error, e.g. "
        "`'10.0.0.300/8' is not a network such as 10.0.0.0/8`.",
    ),
    Setting(
        "PRODREADY_HEALTH_HANDLE_SIGTERM",
        "auto",
        choice("auto", "always", "never"),
        "When `init_app` installs the SIGTERM handler that drains the process (see [Graceful "
        "shutdown](health.md#graceful-shutdown)): `auto` only in the main thread of a gunicorn "
        "worker, `always` in any process (then `init_app` must run in the main thread, or "
        "start-up stops with a `SetupError`), `never` not at all.",
    ),
    Setting(
        "PRODREADY_HEALTH_DRAIN_SECONDS",
        5.0,
        at_least(FLOAT, 0),
        "After SIGTERM, how long the process keeps serving requests while `/readyz` answers "
        "503, before the server's own graceful shutdown starts (for gunicorn: stop accepting "
        "connections, finish the requests in flight). `0` starts it at once. Keep this plus "
        "your longest request below gunicorn's `graceful_timeout`.",
    ),
    Setting(
        "PRODREADY_HEALTH_DISK_PATH",
        None,
        OPTIONAL_STR,
        "Switches on the built-in check `disk` (tagged `ready`, critical): it fails when the "
        "file system holding this path has less free space than "
        "[`PRODREADY_HEALTH_DISK_MIN_FREE_MB`](#prodready_health_disk_min_free_mb).",
    ),
    Setting(
        "PRODREADY_HEALTH_DISK_MIN_FREE_MB",
        100.0,
        at_least(FLOAT, 0),
        "The least free space, in MiB, that the `disk` check accepts. Used only with "
        "[`PRODREADY_HEALTH_DISK_PATH`](#prodready_health_disk_path).",
    ),
    Setting(
        "PRODREADY_HEALTH_STORE_CHECK",
        False,
        BOOL,
        "Add a non-critical `error_store` check that reads the error store once (SQLite or "
        "Redis answering). See [Health checks](health.md).",
    ),
    Setting(
        "PRODREADY_HEALTH_MEMORY_MAX_RSS_MB",
        0.0,
        at_least(FLOAT, 0),
        "Above `0`, switches on the built-in check `memory` (tagged `live`, critical): it fails "
        "when the process's resident memory is above this many MiB, so that the liveness probe "
        "restarts a leaking process. It reads `/proc/self/statm` and works on Linux only; "
        "elsewhere start-up stops with a `SetupError` that says so.",
    ),
)
