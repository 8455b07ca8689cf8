"""Typed results: what the service answers, and what a callback request carries.

Each ``from_dict`` reads the service's JSON; a missing key or a wrong type raises
``KeyError``, ``TypeError`` or ``ValueError``, which the caller turns into its
own exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modelhooks_sdk._times import parse_optional_time, parse_time


@dataclass(frozen=True)
class Filter:
    """Which model versions a callback hears about: regular expressions, whole name."""

    model_name: str = ".*"
    project_name: str = ".*"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Filter:
        return cls(model_name=data["model_name"], project_name=data["project_name"])


@dataclass(frozen=True)
class AttemptPolicy:
    """How a delivery is tried: attempts in all, wait after a failure, deadline."""

    count: int = 5
    interval: float = 10
    http_timeout: float = 10

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttemptPolicy:
        return cls(
            count=int(data["count"]),
            interval=data["interval"],
            http_timeout=data["http_timeout"],
        )


@dataclass(frozen=True)
class Callback:
    """A registered URL; ``secret`` is set only on the result of ``add_callback``."""

    id: int
    url: str
    filter: Filter
    attempt: AttemptPolicy
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime
    secret: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Callback:
        return cls(
            id=int(data["id"]),
            url=data["url"],
            filter=Filter.from_dict(data["filter"]),
            attempt=AttemptPolicy.from_dict(data["attempt"]),
            enabled=bool(data["enabled"]),
            disabled_reason=data.get("disabled_reason"),
            created_at=parse_time(data["created_at"]),
            updated_at=parse_time(data["updated_at"]),
            secret=data.get("secret"),
        )


@dataclass(frozen=True)
class Attempt:
    """One POST of a delivery, as the service logged it."""

    number: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None
    response_excerpt: str
    response_truncated: bool

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attempt:
        return cls(
            number=int(data["number"]),
            started_at=parse_time(data["started_at"]),
            duration_ms=float(data["duration_ms"]),
            status_code=data.get("status_code"),
            error=data.get("error"),
            response_excerpt=data.get("response_excerpt") or "",
            response_truncated=bool(data.get("response_truncated", False)),
        )


@dataclass(frozen=True)
class Delivery:
    """One event for one callback; ``id`` is the ``webhook-id`` its requests carry."""

    id: str
    event_id: str
    state: str
    attempts_made: int
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    old_status: str | None
    new_status: str
    changed_at: datetime
    attempts: list[Attempt] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delivery:
        return cls(
            id=data["id"],
            event_id=data["event_id"],
            state=data["state"],
            attempts_made=int(data["attempts_made"]),
            next_attempt_at=parse_optional_time(data.get("next_attempt_at")),
            created_at=parse_time(data["created_at"]),
            finished_at=parse_optional_time(data.get("finished_at")),
            old_status=data.get("old_status"),
            new_status=data["new_status"],
            changed_at=parse_time(data["changed_at"]),
            attempts=[Attempt.from_dict(item) for item in data.get("attempts", [])],
        )


@dataclass(frozen=True)
class DeliveryPage:
    """A page of a callback's deliveries, newest first; ``total`` counts them all."""

    deliveries: list[Delivery]
    total: int
    limit: int
    offset: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeliveryPage:
        return cls(
            deliveries=[Delivery.from_dict(item) for item in data["deliveries"]],
            total=int(data["total"]),
            limit=int(data["limit"]),
            offset=int(data["offset"]),
        )


@dataclass(frozen=True)
class StatusReport:
    """The answer to a status report; ``event_id`` is None when nothing changed."""

    event_id: str | None
    old_status: str | None
    new_status: str
    triggered: bool

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatusReport:
        return cls(
            event_id=data.get("event_id"),
            old_status=data.get("old_status"),
            new_status=data["new_status"],
            triggered=bool(data["triggered"]),
        )


@dataclass(frozen=True)
class ModelStatusChange:
    """The body of a verified callback request, with its ``webhook-id``.

    Receivers may get one change twice (at-least-once): drop repeats by
    ``webhook_id``, and order changes by ``changed_at``, not by arrival.
    """

    webhook_id: str
    name: str
    version: int
    active: bool
    predictor_id: int
    project_name: str
    predictor_created_at: datetime | None
    old_status: str | None
    new_status: str
    changed_at: datetime

    @classmethod
    def from_dict(cls, data: dict[str, Any], webhook_id: str) -> ModelStatusChange:
        version, predictor_id = data["version"], data["predictor_id"]
        if not isinstance(version, int) or not isinstance(predictor_id, int):
            raise TypeError("version and predictor_id must be integers")
        return cls(
            webhook_id=webhook_id,
            name=str(data["name"]),
            version=version,
            active=bool(data["active"]),
            predictor_id=predictor_id,
            project_name=str(data["project_name"]),
            predictor_created_at=parse_optional_time(data.get("predictor_created_at")),
            old_status=data.get("old_status"),
            new_status=str(data["new_status"]),
            changed_at=parse_time(data["changed_at"]),
        )
