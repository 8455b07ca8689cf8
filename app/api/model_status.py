"""``POST /cloud/model_status``: producers report a model version's new status."""

from __future__ import annotations

import logging

from flask import current_app, g
from flask_smorest import Blueprint

from app import events
from app.api.guards import guard
from app.schemas import ErrorEnvelope, ModelStatusAccepted, ModelStatusIn

log = logging.getLogger("modelhooks.api")

blp = Blueprint("model_status", __name__, url_prefix="/cloud/model_status",
                description="Status changes of model versions, from producers.")
guard(blp)

# An instance, not the class: webargs would build a schema (a deep copy of its
# fields) for every report from a class.
REPORT_SCHEMA = ModelStatusIn()


@blp.route("", methods=["POST"])
@blp.arguments(REPORT_SCHEMA)
@blp.response(202, ModelStatusAccepted)
@blp.alt_response(400, schema=ErrorEnvelope)
@blp.alt_response(401, schema=ErrorEnvelope)
@blp.alt_response(503, schema=ErrorEnvelope)
def report_status(report):
    """Record a status change; a triggering one is delivered to matching callbacks.

    The answer comes once the event is stored: from then on its deliveries
    happen even if the broker is down at this moment.
    """
    settings = current_app.config["MODELHOOKS_SETTINGS"]
    change = events.record(g.account, report, settings.trigger_statuses)

    if change.triggered:
        current_app.extensions["modelhooks.broker"].publish_fan_out(change.event_id)

    return {
        "event_id": change.event_id,
        "old_status": change.old_status,
        "new_status": change.new_status,
        "triggered": change.triggered,
    }
