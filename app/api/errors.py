"""The one JSON error envelope every failure is answered with.

``{"error": {"code": ..., "message": ..., "fields": {...}}}``: the code is
stable and meant for programs, the message for people, and ``fields`` names
each bad input by its path. No answer ever carries a traceback.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException

from app.db import UNAVAILABLE_ERRORS
from app.errors import DependencyUnavailable, InvalidInput, NotFound, Unauthorized
from app.schemas import flatten_messages

log = logging.getLogger("modelhooks.api")

HTTP_CODES = {
    400: "invalid_input",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    503: "service_unavailable",
}


def error_response(status: int, message: str, fields: dict | None = None):
    body = {
        "error": {
            "code": HTTP_CODES.get(status, "http_error"),
            "message": message,
            "fields": fields or {},
        }
    }
    return jsonify(body), status


def register(app: Flask) -> None:
    """Install the handlers; call after flask-smorest so that ours win."""
    app.register_error_handler(InvalidInput, _invalid_input)
    app.register_error_handler(Unauthorized, _unauthorized)
    app.register_error_handler(NotFound, _not_found)
    app.register_error_handler(DependencyUnavailable, _unavailable)
    for error_class in UNAVAILABLE_ERRORS:
        app.register_error_handler(error_class, _unavailable)
    app.register_error_handler(HTTPException, _http_exception)
    app.register_error_handler(Exception, _unexpected)


def _invalid_input(error: InvalidInput):
    return error_response(400, str(error), error.fields)


def _unauthorized(error: Unauthorized):
    response, status = error_response(401, str(error))
    response.headers["WWW-Authenticate"] = "Bearer"
    return response, status


def _not_found(error: NotFound):
    return error_response(404, str(error))


def _unavailable(error: Exception):
    log.warning("dependency unavailable: %s", error)
    response, status = error_response(
        503, "a dependency of the service is unavailable; try again shortly"
    )
    response.headers["Retry-After"] = "5"
    return response, status


def _http_exception(error: HTTPException):
    status = error.code or 500
    if status == 422:
        return _unprocessable(error)
    if status == 413:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return error_response(413, f"the request body is larger than {limit} bytes")
    return error_response(status, error.description or error.name)


def _unprocessable(error: HTTPException):
    # webargs reports schema errors as 422 {"json": {...}}; the API promises 400
    # with each field named by its path.
    messages = getattr(error, "data", {}).get("messages", {})
    if len(messages) == 1 and set(messages) <= {"json", "query"}:
        messages = next(iter(messages.values()))
    fields = flatten_messages(messages)
    names = ", ".join(sorted(fields))
    return error_response(400, f"invalid input: {names}", fields)


def _unexpected(error: Exception):
    log.error("unhandled error", exc_info=error)
    return jsonify({"error": {"code": "internal_error",
                              "message": "internal error", "fields": {}}}), 500
