"""Problem documents (RFC 9457): one answer format for every error, JSON or a page for browsers.

::

    {"type": "about:blank", "title": "Not Found", "status": 404,
     "detail": "order 7 does not exist", "instance": "/orders/7",
     "code": "not_found", "request_id": "7f3b…"}

with ``errors`` (field errors grouped by location: ``json``, ``query``, ``path``…) when
there are some. Browsers asking for HTML get a small HTML page with the same facts.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from flask import Response, request
from werkzeug.http import HTTP_STATUS_CODES

from flask_prodready.request_id import request_id

__all__ = ["PROBLEM_CONTENT_TYPE", "problem_document", "problem_response"]

#: The content type of problem documents (RFC 9457).
PROBLEM_CONTENT_TYPE = "application/problem+json"


def _code_for_status(status: int) -> str:
    phrase = HTTP_STATUS_CODES.get(status, "error")
    return "".join(c if c.isalnum() else "_" for c in phrase.lower()).strip("_")


def problem_document(
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    code: str | None = None,
    errors: Any = None,
    extra: Mapping[str, Any] | None = None,
    type_base: str | None = None,
) -> dict[str, Any]:
    """A problem document for the current request.

    .. versionadded:: 0.1
    """
    code = code or _code_for_status(status)
    document: dict[str, Any] = {
        "type": f"{type_base}{code}" if type_base else "about:blank",
        "title": title or HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail or HTTP_STATUS_CODES.get(status, "Error"),
        "instance": request.path,
        "code": code,
        "request_id": request_id(),
    }
    if errors:
        document["errors"] = errors
    for key, value in (extra or {}).items():
        document.setdefault(key, value)
    return document


def problem_response(
    document: Mapping[str, Any],
    headers: Mapping[str, str] | None = None,
    *,
    json_only: bool = False,
) -> Response:
    """The response for a problem ``document``: JSON, or an HTML page for browsers.

    :param document: from :func:`problem_document`.
    :param headers: extra headers (``Allow``, ``Retry-After``, ``WWW-Authenticate``…).
    :param json_only: never answer HTML.

    .. versionadded:: 0.1
    """
    from flask import current_app

    status = int(document["status"])
    if not json_only and _wants_html():
        body = _html_page(document)
        response = Response(body, status=status, mimetype="text/html")
    else:
        response = current_app.response_class(
            current_app.json.dumps(document), status=status, mimetype=PROBLEM_CONTENT_TYPE
        )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _wants_html() -> bool:
    accept = request.accept_mimetypes
    best = accept.best_match(["application/json", PROBLEM_CONTENT_TYPE, "text/html"])
    return best == "text/html" and accept["text/html"] > accept["application/json"]


def _html_page(document: Mapping[str, Any]) -> str:
    def esc(value: Any) -> str:
        return html.escape(str(value), quote=True)

    rows = "".join(
        f"<tr><th>{esc(key)}</th><td>{esc(document[key])}</td></tr>"
        for key in ("status", "code", "instance", "request_id")
        if document.get(key) is not None
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{esc(document['status'])} {esc(document['title'])}</title></head><body>"
        f"<h1>{esc(document['title'])}</h1><p>{esc(document['detail'])}</p>"
        f"<table>{rows}</table></body></html>"
    )
