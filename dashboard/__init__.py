"""The ``/_prod`` dashboard, installed as ``flask_prodready.dashboard``.

This first version is a placeholder page; the live dashboard (health, errors, metrics)
arrives in a later release. It only answers clients on the loopback interface.
"""

from __future__ import annotations

from flask import Flask

from flask_prodready.extension import ProdReadyState

from .views import BLUEPRINT_NAME, make_blueprint

__all__ = ["BLUEPRINT_NAME", "init_dashboard"]


def init_dashboard(app: Flask, state: ProdReadyState) -> None:
    """Register the dashboard blueprint on ``app`` at ``PRODREADY_DASHBOARD_URL_PREFIX``.

    :param app: the app being set up.
    :param state: the app's flask-prodready state.

    .. versionadded:: 0.1
    """
    app.register_blueprint(
        make_blueprint(), url_prefix=state.setting("PRODREADY_DASHBOARD_URL_PREFIX")
    )
