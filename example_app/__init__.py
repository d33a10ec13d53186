"""An example service built with flask-prodready: a small orders API.

Run it with ``make run`` and open http://127.0.0.1:5000/_prod and
http://127.0.0.1:5000/openapi.json. It uses only public names of flask-prodready.
"""

from __future__ import annotations

from typing import Any

from dynaconf import Validator
from flask import Flask
from flask_smorest import Api

from flask_prodready import ProdReady

from .models import db
from .orders import blueprint as orders_blueprint

#: One extension object for every app this factory makes.
prodready = ProdReady(
    validators=[
        Validator("SQLALCHEMY_DATABASE_URI", must_exist=True, is_type_of=str),
        Validator("ORDERS_PAGE_SIZE", default=20, is_type_of=int, gte=1, lte=100),
    ]
)


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
    api = Api(app)
    api.register_blueprint(orders_blueprint)
    with app.app_context():
        db.create_all()
    return app
