"""``/cloud/callback/model_status/<id>/deliveries``: what was sent, and how it went."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint
from marshmallow import RAISE

from app import callbacks, deliveries
from app.api.guards import guard
from app.schemas import DeliveriesQuery, DeliveryPage, ErrorEnvelope

blp = Blueprint("deliveries", __name__, url_prefix="/cloud/callback/model_status",
                description="The deliveries log of a callback.")
guard(blp)


@blp.route("/<int:callback_id>/deliveries", methods=["GET"])
@blp.arguments(DeliveriesQuery, location="query", unknown=RAISE)
@blp.response(200, DeliveryPage)
@blp.alt_response(400, schema=ErrorEnvelope)
@blp.alt_response(401, schema=ErrorEnvelope)
@blp.alt_response(404, schema=ErrorEnvelope)
def list_deliveries(query, callback_id):
    """The callback's deliveries, newest first, each with every attempt."""
    callback = callbacks.get(g.account, callback_id)
    limit, offset = query["limit"], query["offset"]
    page, total = deliveries.page_for_callback(callback, limit, offset)
    return {"deliveries": page, "total": total, "limit": limit, "offset": offset}
