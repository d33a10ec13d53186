"""The orders API: list, get, create and delete, documented with OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from loguru import logger
from marshmallow import Schema, fields, validate

from flask_prodready import ConflictError, NotFoundError

from .models import Order, db

blueprint = Blueprint("orders", __name__, url_prefix="/api/orders", description="Orders")


class UtcDateTime(fields.DateTime):
    """A date-time stored in UTC; SQLite hands it back without its offset, which is added."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class OrderSchema(Schema):
    """An order as the API shows it."""

    id = fields.Integer(dump_only=True)
    customer = fields.String(required=True, validate=validate.Length(min=1, max=200))
    item = fields.String(required=True, validate=validate.Length(min=1, max=200))
    quantity = fields.Integer(required=True, validate=validate.Range(min=1, max=1000))
    created_at = UtcDateTime(dump_only=True)


class OrderQuerySchema(Schema):
    """Filters for the order list."""

    customer = fields.String()


@blueprint.route("/")
class Orders(MethodView):
    """The collection of orders."""

    @blueprint.arguments(OrderQuerySchema, location="query")
    @blueprint.response(200, OrderSchema(many=True))
    def get(self, query: dict[str, Any]) -> list[Order]:
        """List the newest orders, optionally of one customer."""
        statement = db.select(Order).order_by(Order.id.desc())
        if "customer" in query:
            statement = statement.where(Order.customer == query["customer"])
        limit = current_app.config["ORDERS_PAGE_SIZE"]
        return list(db.session.scalars(statement.limit(limit)))

    @blueprint.arguments(OrderSchema)
    @blueprint.response(201, OrderSchema)
    def post(self, data: dict[str, Any]) -> Order:
        """Create an order."""
        order = Order(**data)
        db.session.add(order)
        db.session.commit()
        # The request id is added to this line by flask-prodready; no need to pass it.
        logger.bind(order_id=order.id, customer=order.customer).info("order created")
        return order


@blueprint.route("/<int:order_id>")
class OrderById(MethodView):
    """One order."""

    @blueprint.response(200, OrderSchema)
    def get(self, order_id: int) -> Order:
        """Get one order."""
        return _get_or_404(order_id)

    @blueprint.response(204)
    def delete(self, order_id: int) -> None:
        """Delete one order; shipped orders (quantity over 100 here) cannot be deleted."""
        order = _get_or_404(order_id)
        if order.quantity > 100:
            raise ConflictError(
                f"order {order_id} is too large to cancel", details={"order": order_id}
            )
        db.session.delete(order)
        db.session.commit()


def _get_or_404(order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFoundError(f"order {order_id} does not exist")
    return order
