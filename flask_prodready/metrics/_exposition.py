"""The exposition endpoint: who may read the metrics, and what a refused client gets instead.

The endpoint (``PRODREADY_METRICS_PATH``, :data:`~flask_prodready.metrics.METRICS_ENDPOINT`)
asks the :class:`~flask_prodready.access.AccessPolicy` first. A refused client gets a small
problem document and no metrics; an allowed one gets prometheus-flask-exporter's exposition,
with its content negotiation and ``name[]`` filters, added up over every worker in
multiprocess mode.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from flask import Response, request

from flask_prodready.access import AccessDecision, AccessPolicy

__all__ = ["serve_exposition"]


def serve_exposition(policy: AccessPolicy, exporter: Any) -> Response:
    """Answer a scrape of the current request.

    :param policy: who may read the metrics.
    :param exporter: the ``PrometheusMetrics`` bound to the app's registry.
    """
    decision = policy.check(request)
    if decision is AccessDecision.UNAUTHENTICATED:
        return _problem(
            HTTPStatus.UNAUTHORIZED,
            "Reading the metrics from this address needs a bearer token: send "
            "'Authorization: Bearer <token>'.",
            {"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    if decision is not AccessDecision.ALLOWED:
        return _problem(HTTPStatus.FORBIDDEN, "This client may not read the metrics.")
    names = request.args.getlist("name[]") or None
    body, content_type = exporter.generate_metrics(request.headers.get("Accept"), names)
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


def _problem(status: HTTPStatus, detail: str, headers: dict[str, str] | None = None) -> Response:
    """A small RFC 9457 problem document; the errors part brings the full machinery."""
    document = {
        "type": "about:blank",
        "title": status.phrase,
        "status": int(status),
        "detail": detail,
    }
    response = Response(json.dumps(document), int(status), mimetype="application/problem+json")
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = "no-store"
    return response
