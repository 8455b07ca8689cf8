"""Bearer-key authentication for the API's blueprints."""

from __future__ import annotations

from flask import g, request

from app.accounts import authenticate


def require_account() -> None:
    """Before each request: the key's account becomes ``g.account``, or 401."""
    g.account = authenticate(request.headers.get("Authorization"))
