"""``/cloud/callback/model_status``: managing callbacks, MindsDB-compatible."""

from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint

from app import callbacks
from app.api.guards import guard
from app.schemas import (
    CallbackCreate,
    CallbackCreated,
    CallbackOut,
    CallbackUpdate,
    Deleted,
    ErrorEnvelope,
)

blp = Blueprint(
    "callbacks", __name__, url_prefix="/cloud/callback/model_status",
    description="Callbacks: URLs to POST to when a model version changes status.",
)
guard(blp)


def _settings():
    return current_app.config["MODELHOOKS_SETTINGS"]


def _resolve():
    return current_app.extensions["modelhooks.resolve"]


@blp.route("")
class CallbackCollection(MethodView):
    @blp.response(200, CallbackOut(many=True))
    @blp.alt_response(401, schema=ErrorEnvelope)
    def get(self):
        """List the account's callbacks."""
        return [callbacks.to_dict(c) for c in callbacks.list_for(g.account)]

    @blp.arguments(CallbackCreate)
    @blp.response(200, CallbackCreated)
    @blp.alt_response(400, schema=ErrorEnvelope)
    @blp.alt_response(401, schema=ErrorEnvelope)
    def post(self, data):
        """Register a callback; the answer shows its signing secret, this once."""
        callback = callbacks.create(g.account, data, _settings(), resolve=_resolve())
        return callbacks.to_dict(callback, with_secret=True)


@blp.route("/<int:callback_id>")
class CallbackItem(MethodView):
    @blp.response(200, CallbackOut)
    @blp.alt_response(401, schema=ErrorEnvelope)
    @blp.alt_response(404, schema=ErrorEnvelope)
    def get(self, callback_id):
        """One callback."""
        return callbacks.to_dict(callbacks.get(g.account, callback_id))

    @blp.arguments(CallbackUpdate)
    @blp.response(200, CallbackOut)
    @blp.alt_response(400, schema=ErrorEnvelope)
    @blp.alt_response(401, schema=ErrorEnvelope)
    @blp.alt_response(404, schema=ErrorEnvelope)
    def put(self, changes, callback_id):
        """Edit any subset of url, filter, attempt, enabled; nested objects merge."""
        callback = callbacks.update(
            g.account, callback_id, changes, _settings(), resolve=_resolve()
        )
        return callbacks.to_dict(callback)

    @blp.response(200, Deleted)
    @blp.alt_response(401, schema=ErrorEnvelope)
    @blp.alt_response(404, schema=ErrorEnvelope)
    def delete(self, callback_id):
        """Delete a callback; its pending retries are dropped with it."""
        callbacks.delete(g.account, callback_id)
        return {"id": callback_id, "deleted": True}
