"""What every request to the account's endpoints must pass, in order: a valid
API key first (401), then a JSON object as its body, if it has one (415, 400)."""

from __future__ import annotations

from flask import g, request

from app.accounts import authenticate
from app.api.errors import error_response

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def require_account() -> None:
    """The key's account becomes ``g.account``, or the request is answered 401."""
    g.account = authenticate(request.headers.get("Authorization"))


def require_json_body():
    """A body must be a JSON object; answers the error, or None to go on."""
    if request.method not in BODY_METHODS:
        return None
    if not request.is_json:
        return error_response(
            415, f"the body must be JSON (Content-Type: application/json); "
                 f"got {request.mimetype or 'no Content-Type'!r}")
    if request.get_json(silent=True) is None:
        return error_response(400, "the body is not valid JSON",
                              {"body": ["Not valid JSON."]})
    if not isinstance(request.get_json(), dict):
        return error_response(400, "the body must be a JSON object",
                              {"body": ["Must be a JSON object."]})
    return None


def guard(blueprint) -> None:
    """Install both guards on ``blueprint``, key first."""
    blueprint.before_request(require_account)
    blueprint.before_request(require_json_body)
