"""modelhooks: callbacks for machine-learning model lifecycle events."""

from __future__ import annotations

__version__ = "0.1.0"


def create_app(settings=None):
    """The WSGI application (``gunicorn 'app:create_app()'``).

    Without ``settings`` it reads the environment; a bad value stops the process
    with one line naming the variable, rather than a traceback per web worker.
    """
    import sys

    from app import config
    from app.api import build_app
    from app.errors import ConfigError

    if settings is None:
        try:
            settings = config.from_env()
        except ConfigError as error:
            print(f"modelhooks: configuration error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
    return build_app(settings)
