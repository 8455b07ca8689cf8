"""The HTTP API: a Flask app with flask-smorest blueprints and one error envelope."""

from __future__ import annotations

import logging

from flask import Flask
from flask_smorest import Api

from app import __version__, config, db, targets
from app.api import errors
from app.broker import Broker
from app.config import Settings

log = logging.getLogger("modelhooks.api")


def build_app(
    settings: Settings | None = None,
    broker: Broker | None = None,
    resolve: targets.Resolver = targets.resolve_host,
) -> Flask:
    """The API app; ``resolve`` looks up the names of callback URLs (tests fake it)."""
    settings = settings or config.from_env()
    db.open_database(settings.database_url)

    app = Flask("modelhooks")
    app.config.update(
        MODELHOOKS_SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_TITLE="modelhooks",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
        },
    )
    app.extensions["modelhooks.broker"] = broker or Broker(settings.redis_url)
    app.extensions["modelhooks.resolve"] = resolve

    _register_blueprints(Api(app))
    errors.register(app)
    app.teardown_appcontext(_release_connection)
    return app


def _register_blueprints(api: Api) -> None:
    from app.api import callbacks, deliveries, health, model_status

    api.register_blueprint(health.blp)
    api.register_blueprint(callbacks.blp)
    api.register_blueprint(deliveries.blp)
    api.register_blueprint(model_status.blp)


def _release_connection(_error=None) -> None:
    if not db.database.is_closed():
        db.database.close()
