"""A Flask view decorator that lets only verified callback requests through.

Flask is imported when the decorator is used, not when the SDK is: the SDK
itself depends on requests alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from modelhooks_sdk._errors import WebhookVerificationError
from modelhooks_sdk._models import ModelStatusChange
from modelhooks_sdk._webhooks import DEFAULT_TOLERANCE, _as_list, _key, verify_webhook

View = Callable[..., Any]


def webhook_handler(
    secrets: str | list[str], tolerance: int = DEFAULT_TOLERANCE
) -> Callable[[Callable[..., Any]], View]:
    """Decorate a Flask view that takes the verified ``ModelStatusChange`` first.

    A request that fails verification gets a 401 JSON error and never reaches
    the view::

        @app.post("/hooks/models")
        @webhook_handler(os.environ["MODELHOOKS_SECRET"])
        def on_change(change):
            ...
            return "", 204
    """
    try:
        from flask import jsonify, request
    except ImportError:
        raise ImportError(
            "webhook_handler needs Flask: pip install 'modelhooks-sdk[flask]'"
        ) from None

    listed = _as_list(secrets)
    for secret in listed:
        _key(secret)  # A bad secret is a set-up mistake: say so now, not per request.

    def decorate(view: Callable[..., Any]) -> View:
        @functools.wraps(view)
        def verified_view(*args: Any, **kwargs: Any) -> Any:
            body = request.get_data(cache=True)
            try:
                change: ModelStatusChange = verify_webhook(
                    body, request.headers, listed, tolerance
                )
            except WebhookVerificationError as error:
                envelope = {"code": "invalid_signature", "message": str(error)}
                return jsonify({"error": envelope}), 401
            return view(change, *args, **kwargs)

        return verified_view

    return decorate
