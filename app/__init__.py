"""modelhooks: callbacks for machine-learning model lifecycle events."""

from __future__ import annotations

__version__ = "0.1.0"


def create_app(settings=None):
    """The WSGI application (``gunicorn 'app:create_app()'``)."""
    from app.api import build_app

    return build_app(settings)
