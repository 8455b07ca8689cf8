"""Marshmallow schemas: what the HTTP API accepts and answers.

Numbers are strict: ``true``, ``"3"`` and ``2.9`` are not counts, and nothing is
silently truncated. Unknown fields are rejected at every level, and the error
names them by their path (``attempt.intervall``).
"""

from __future__ import annotations

import math
import numbers

from marshmallow import RAISE, Schema, fields, validate

MAX_URL_LENGTH = 2048
MAX_PATTERN_LENGTH = 256
MAX_NAME_LENGTH = 256


class StrictInteger(fields.Integer):
    """A JSON integer: rejects booleans, strings and numbers with a fraction."""

    default_error_messages = {"invalid": "Must be an integer, not a string, "
                                         "boolean or fraction."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise self.make_error("invalid")
        return int(value)


class StrictNumber(fields.Float):
    """A finite JSON number: rejects booleans, strings, NaN and infinity."""

    default_error_messages = {"invalid": "Must be a number, not a string or boolean."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self.make_error("invalid")
        if not math.isfinite(value):
            raise self.make_error("invalid")
        return float(value)


class StrictBoolean(fields.Boolean):
    """A JSON boolean: ``"yes"`` and ``1`` are not booleans."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class StrictString(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        return value


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


def _pattern(default: bool) -> StrictString:
    extra = {"load_default": ".*"} if default else {}
    return StrictString(
        validate=validate.Length(max=MAX_PATTERN_LENGTH),
        metadata={"description": "Python regular expression matched against the "
                                 "whole name (re.fullmatch)."},
        **extra,
    )


def _attempt_fields(default: bool) -> dict[str, fields.Field]:
    def extra(value):
        return {"load_default": value} if default else {}

    return {
        "count": StrictInteger(
            validate=validate.Range(min=1, max=25), **extra(5),
            metadata={"description": "Attempts in all, the first included."}),
        "interval": StrictNumber(
            validate=validate.Range(min=0, max=3600), **extra(10.0),
            metadata={"description": "Seconds to wait after a failed attempt."}),
        "http_timeout": StrictNumber(
            validate=validate.Range(min=0.1, max=60), **extra(10.0),
            metadata={"description": "Seconds one attempt may take in all."}),
    }


FilterIn = StrictSchema.from_dict(
    {"model_name": _pattern(True), "project_name": _pattern(True)}, name="FilterIn")
FilterPatch = StrictSchema.from_dict(
    {"model_name": _pattern(False), "project_name": _pattern(False)},
    name="FilterPatch")
AttemptIn = StrictSchema.from_dict(_attempt_fields(True), name="AttemptIn")
AttemptPatch = StrictSchema.from_dict(_attempt_fields(False), name="AttemptPatch")


def _url(**kwargs) -> StrictString:
    return StrictString(validate=validate.Length(min=1, max=MAX_URL_LENGTH),
                        metadata={"description": "http or https URL to POST to."},
                        **kwargs)


class CallbackCreate(StrictSchema):
    url = _url(required=True)
    filter = fields.Nested(FilterIn, load_default=lambda: FilterIn().load({}))
    attempt = fields.Nested(AttemptIn, load_default=lambda: AttemptIn().load({}))


class CallbackUpdate(StrictSchema):
    url = _url()
    filter = fields.Nested(FilterPatch)
    attempt = fields.Nested(AttemptPatch)
    enabled = StrictBoolean(
        metadata={"description": "true re-enables a callback the service disabled."})


class FilterOut(Schema):
    model_name = fields.String()
    project_name = fields.String()


class AttemptOut(Schema):
    count = fields.Integer()
    interval = fields.Raw(metadata={"type": "number"})
    http_timeout = fields.Raw(metadata={"type": "number"})


class CallbackOut(Schema):
    id = fields.Integer()
    url = fields.String()
    filter = fields.Nested(FilterOut)
    attempt = fields.Nested(AttemptOut)
    enabled = fields.Boolean()
    disabled_reason = fields.String(allow_none=True)
    created_at = fields.String(metadata={"description": "HTTP date (GMT)."})
    updated_at = fields.String(metadata={"description": "HTTP date (GMT)."})


class CallbackCreated(CallbackOut):
    secret = fields.String(metadata={
        "description": "whsec_ signing secret; shown only in this answer."})


class Deleted(Schema):
    id = fields.Integer()
    deleted = fields.Boolean()


class ErrorBody(Schema):
    code = fields.String()
    message = fields.String()
    fields = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class ErrorEnvelope(Schema):
    error = fields.Nested(ErrorBody)


class Health(Schema):
    status = fields.String()
    checks = fields.Dict(keys=fields.String(), values=fields.String())


def flatten_messages(messages, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into ``{"attempt.count": [...]}``."""
    if isinstance(messages, list):
        return {prefix or "body": [str(m) for m in messages]}

    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        name = "body" if key == "_schema" and not prefix else str(key)
        path = f"{prefix}.{name}" if prefix and key != "_schema" else (prefix or name)
        flat.update(flatten_messages(value, path))
    return flat

