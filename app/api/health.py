"""Liveness and readiness, for load balancers and orchestrators."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from app import db
from app.errors import DependencyUnavailable
from app.schemas import Health

blp = Blueprint("health", __name__, description="Process health")


@blp.route("/healthz")
@blp.response(200, Health)
def healthz():
    """The process is alive (no dependency is checked)."""
    return {"status": "ok", "checks": {}}


@blp.route("/readyz")
@blp.response(200, Health)
@blp.alt_response(503, schema=Health, description="A dependency is down.")
def readyz():
    """The database and the broker both answer."""
    checks = {}
    for name, probe in (("database", db.ping),
                        ("broker", current_app.extensions["modelhooks.broker"].ping)):
        try:
            probe()
            checks[name] = "ok"
        except DependencyUnavailable as error:
            checks[name] = str(error)

    ready = all(value == "ok" for value in checks.values())
    return {"status": "ok" if ready else "unavailable", "checks": checks}, (
        200 if ready else 503
    )
