"""Calls to other services: metrics by host, breadcrumbs, and the request id passed on.

On by default (``PRODREADY_OUTGOING_ENABLED``) wherever ``requests`` or ``httpx`` is
installed, with nothing to change in the code that calls::

    @app.get("/checkout")
    def checkout():
        answer = requests.post("https://payments.internal/charges", json=order)
        ...

Each call made inside a request or job carries its id (``X-Request-ID``) and a
``traceparent``, unless the caller set them; is counted in
``prodready_outgoing_requests_total{host, method, status_class}`` and
``prodready_outgoing_request_duration_seconds{host}``; and becomes a breadcrumb of that
request or job (``POST payments.internal/charges → 503 in 2.1 s``), so a recorded error
shows the calls made before it. URLs are redacted first: no credentials, no secret query
values. See :mod:`.clients` for how the clients are followed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .calls import HostStats, OutgoingCall, OutgoingCalls, host_stats, redacted_target

if TYPE_CHECKING:
    from flask import Flask

    from flask_prodready.state import ProdReadyState

__all__ = [
    "HostStats",
    "OutgoingCall",
    "OutgoingCalls",
    "host_stats",
    "init_outgoing",
    "redacted_target",
]


def init_outgoing(app: Flask, state: ProdReadyState) -> None:
    """Follow the app's calls to other services (the ``outgoing`` part).

    :param app: the app being set up.
    :param state: the app's :class:`~flask_prodready.ProdReadyState`.

    .. versionadded:: 0.2
    """
    from .clients import follow_clients

    host_label: Callable[[str], str] = str
    if state.metrics is not None:
        # Imported only with metrics on: the metrics package imports prometheus_client.
        from flask_prodready.metrics._families import CappedLabel
        from flask_prodready.metrics.names import OTHER_HOST

        host_label = CappedLabel(state.setting("PRODREADY_OUTGOING_HOSTS_MAX"), OTHER_HOST)
    state.outgoing = OutgoingCalls(
        host_label=host_label,
        propagate=state.setting("PRODREADY_OUTGOING_PROPAGATE"),
        request_id_header=state.setting("PRODREADY_REQUEST_ID_HEADER"),
        metrics=state.metrics,
    )
    follow_clients()
    if state.pipeline is not None:
        # Again before the first request of each process: a client whose import was under
        # way in another thread during set-up is followed then.
        state.pipeline.on_first_request(follow_clients)
