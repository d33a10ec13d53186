"""An example service built with flask-prodready: a small orders API.

Run it with ``make run`` and open http://127.0.0.1:5000/_prod,
http://127.0.0.1:5000/openapi.json and http://127.0.0.1:5000/healthz. It uses only public
names of flask-prodready.
"""

from __future__ import annotations

from typing import Any

import requests
from dynaconf import Validator
from flask import Flask, current_app

from flask_prodready import ProdReady, get_state, register_check, watch_sql
from flask_prodready.health import http_check, sqlalchemy_check

from .models import db
from .orders import blueprint as orders_blueprint
from .problems import ProblemApi

#: One extension object for every app this factory makes.
prodready = ProdReady(
    validators=[
        Validator("SQLALCHEMY_DATABASE_URI", must_exist=True, is_type_of=str, len_min=1),
        Validator("ORDERS_PAGE_SIZE", default=20, is_type_of=int, gte=1, lte=100),
        Validator("UPSTREAM_HEALTH_URL", default="", is_type_of=str),
        # Where invoices come from; nothing listens on the discard port, so the invoice
        # route fails as a call to a service that is down does.
        Validator("INVOICE_SERVICE_URL", default="http://127.0.0.1:9", is_type_of=str),
    ]
)

# Every app's own database: the engine is looked up in the app context the check runs in.
# Critical: without its database the service cannot serve, so /readyz answers 503.
prodready.health.add("database", sqlalchemy_check(lambda: db.engine), timeout=2.0)


def create_app(**config: Any) -> Flask:
    """Build the example app.

    Settings come from ``settings.toml`` and ``.secrets.toml`` beside this file and from
    ``FLASK_*`` environment variables; ``PRODREADY_ENV`` picks the environment. Entries of
    ``config`` (for tests) are applied last and win over all of them.
    """
    app = Flask(__name__)
    prodready.init_app(app)
    app.config.update(config)
    db.init_app(app)
    watch_sql(app, db)  # queries per request in the access line, N+1 warnings
    api = ProblemApi(app)
    api.register_blueprint(orders_blueprint)
    app.add_url_rule("/api/orders/<int:order_id>/invoice", "invoice", _invoice)
    with app.app_context():
        db.create_all()
    upstream = app.config["UPSTREAM_HEALTH_URL"]
    if upstream and "health" in get_state(app).parts:
        # A dependency the service can live without for a while: when it is down, /readyz
        # still answers 200, with status "warn".
        register_check(app, "upstream", http_check(upstream, timeout=1.0), critical=False)
    return app


def _invoice(order_id: int) -> str:
    """The order's invoice, from the invoice service. With the default settings that service
    is down, so the dashboard has an error to show, the failed call among its breadcrumbs
    (see traffic.py)."""
    answer = requests.get(
        f"{current_app.config['INVOICE_SERVICE_URL']}/invoices/{order_id}", timeout=2
    )
    answer.raise_for_status()
    return answer.text
