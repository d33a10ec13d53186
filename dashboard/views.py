"""The dashboard's blueprint and views."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue

from flask_prodready._version import __version__
from flask_prodready.access import AccessPolicy
from flask_prodready.extension import get_state

#: The name of the dashboard's blueprint, for ``url_for("prodready_dashboard.index")``.
BLUEPRINT_NAME = "prodready_dashboard"


def make_blueprint() -> Blueprint:
    """A new dashboard blueprint, with its templates and static files."""
    blueprint = Blueprint(
        BLUEPRINT_NAME,
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
    blueprint.before_request(_loopback_only)
    blueprint.add_url_rule("/", "index", index)
    return blueprint


_LOOPBACK_ONLY = AccessPolicy()


def _loopback_only() -> None:
    if not _LOOPBACK_ONLY.allows(request):
        abort(403)


def index() -> ResponseReturnValue:
    """The overview page."""
    state = get_state()
    response = render_template("prodready/placeholder.html", state=state, version=__version__)
    return response, 200, {"Cache-Control": "no-store"}
