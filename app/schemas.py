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
    """A JSON string that every database can store.

    PostgreSQL text cannot hold a NUL character, and a lone surrogate
    (``"\\ud800"`` in JSON) has no UTF-8 form: both are refused here rather
    than failing later inside the database driver.
    """

    default_error_messages = {
        "nul": "Must not contain a NUL character (\\u0000).",
        "surrogate": "Must be valid Unicode; got a lone surrogate.",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if "\x00" in value:
            raise self.make_error("nul")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise self.make_error("surrogate") from None
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



class TimeString(StrictString):
    """An ISO 8601 time or an HTTP date, loaded as an aware UTC datetime."""

    def _deserialize(self, value, attr, data, **kwargs):
        from app.payload import parse_time

        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return parse_time(text)
        except ValueError as error:
            raise self.make_error("invalid_time", detail=str(error)) from None

    default_error_messages = {"invalid_time": "{detail}"}


def _name(description: str) -> StrictString:
    return StrictString(required=True,
                        validate=validate.Length(min=1, max=MAX_NAME_LENGTH),
                        metadata={"description": description})


def _status(**kwargs) -> StrictString:
    return StrictString(validate=validate.Length(min=1, max=64), **kwargs)


class ModelStatusIn(StrictSchema):
    project_name = _name("Project of the model.")
    name = _name("Name of the model.")
    version = StrictInteger(required=True,
                            validate=validate.Range(min=0, max=2**31 - 1))
    status = _status(required=True, metadata={"description": "The new status."})
    predictor_id = StrictInteger(validate=validate.Range(min=0, max=2**63 - 1),
                                 metadata={"description": "Assigned once if omitted."})
    active = StrictBoolean()
    predictor_created_at = TimeString(
        metadata={"description": "ISO 8601 or HTTP date."})
    changed_at = TimeString(metadata={"description": "Defaults to the time received."})
    old_status = _status(allow_none=True, metadata={
        "description": "Defaults to the last status known for this version."})


class ModelStatusAccepted(Schema):
    event_id = fields.String(allow_none=True,
                             metadata={"description": "null when nothing changed."})
    old_status = fields.String(allow_none=True)
    new_status = fields.String()
    triggered = fields.Boolean()


class DeliveriesQuery(StrictSchema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    offset = fields.Integer(load_default=0,
                            validate=validate.Range(min=0, max=2**31 - 1))


class AttemptLog(Schema):
    number = fields.Integer()
    started_at = fields.String(metadata={"description": "ISO 8601, UTC."})
    duration_ms = fields.Float()
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    response_excerpt = fields.String()
    response_truncated = fields.Boolean()


class DeliveryOut(Schema):
    id = fields.String(metadata={"description": "Sent as webhook-id."})
    event_id = fields.String()
    state = fields.String(metadata={
        "description": "pending, sending, succeeded, failed or dropped."})
    attempts_made = fields.Integer()
    next_attempt_at = fields.String(allow_none=True)
    created_at = fields.String()
    finished_at = fields.String(allow_none=True)
    old_status = fields.String(allow_none=True)
    new_status = fields.String()
    changed_at = fields.String()
    attempts = fields.List(fields.Nested(AttemptLog))


class DeliveryPage(Schema):
    deliveries = fields.List(fields.Nested(DeliveryOut))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()
