"""The settings of the ``outgoing`` part."""

from __future__ import annotations

from flask_prodready.settings.casts import BOOL, INT, at_least
from flask_prodready.settings.schema import Setting

__all__ = ["SETTINGS"]

#: The settings this part declares, in the order of the configuration reference.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "PRODREADY_OUTGOING_ENABLED",
        True,
        BOOL,
        "Follow the calls the app makes to other services with `requests` and `httpx` (those "
        "installed): metrics by host, a breadcrumb of the request or job per call, and the "
        "request id passed on. See [Outgoing calls](outgoing.md).",
    ),
    Setting(
        "PRODREADY_OUTGOING_PROPAGATE",
        True,
        BOOL,
        "Add the request id header (`PRODREADY_REQUEST_ID_HEADER`) and a W3C `traceparent` "
        "to each outgoing call made inside a request or job, unless the caller set them. "
        "See [Outgoing calls](outgoing.md).",
    ),
    Setting(
        "PRODREADY_OUTGOING_HOSTS_MAX",
        50,
        at_least(INT, 1),
        "How many distinct host names the outgoing metrics label; calls to any further host "
        "are counted under `<other>`. See [Outgoing calls](outgoing.md).",
    ),
)
