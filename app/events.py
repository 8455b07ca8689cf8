"""Status changes reported by producers, kept as events before anything is sent.

``record`` stores the model version's new state and, when the status really
changed, an event with the exact body every delivery will send, in one
transaction (the outbox). Publishing the fan-out happens after the commit, so a
worker never looks for an event that is not there yet, and an event whose
publish failed is found by the sweep.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import peewee

from app import db
from app.models import Account, Event, ModelVersion, new_id, utcnow
from app.payload import build_body

log = logging.getLogger("modelhooks.events")


@dataclass(frozen=True)
class StatusChange:
    """What ``record`` decided: the event (None if nothing changed) and why."""

    event_id: str | None
    old_status: str | None
    new_status: str
    triggered: bool


def record(account: Account, report: dict[str, Any],
           trigger_statuses: frozenset[str]) -> StatusChange:
    """Store a producer's status report; see the module docstring."""
    return db.atomic(lambda: _record(account, report, trigger_statuses))


def _record(account, report, trigger_statuses) -> StatusChange:
    version = _lock_model_version(account, report)
    old_status = report["old_status"] if "old_status" in report else version.status
    new_status = report["status"]

    _apply(version, report)
    if old_status == new_status:
        return StatusChange(None, old_status, new_status, triggered=False)

    triggered = new_status in trigger_statuses
    changed_at = _naive_utc(report.get("changed_at")) or utcnow()
    event = Event.create(
        id=new_id("evt"),
        account=account,
        model_version=version,
        old_status=old_status,
        new_status=new_status,
        changed_at=changed_at,
        triggered=triggered,
        body=_body(version, old_status, new_status, changed_at).decode("utf-8"),
    )

    log.info("event %s: %s/%s v%d %s -> %s (triggered=%s)", event.id,
             version.project_name, version.name, version.version, old_status,
             new_status, triggered)
    return StatusChange(event.id, old_status, new_status, triggered)


def _lock_model_version(account: Account, report: dict[str, Any]) -> ModelVersion:
    """The model version row, locked for this transaction; made if new."""
    key = (
        (ModelVersion.account == account)
        & (ModelVersion.project_name == report["project_name"])
        & (ModelVersion.name == report["name"])
        & (ModelVersion.version == report["version"])
    )
    query = db.for_update(ModelVersion.select().where(key))

    version = query.first()
    if version is not None:
        return version

    try:
        with db.database.atomic():
            return ModelVersion.create(
                account=account, project_name=report["project_name"],
                name=report["name"], version=report["version"],
                predictor_created_at=_naive_utc(report.get("predictor_created_at"))
                or utcnow(),
            )
    except peewee.IntegrityError:
        # Another report for the same new version won the race; take its row.
        return query.get()


def _apply(version: ModelVersion, report: dict[str, Any]) -> None:
    version.status = report["status"]
    if "active" in report:
        version.active = report["active"]
    if "predictor_created_at" in report:
        version.predictor_created_at = _naive_utc(report["predictor_created_at"])
    if report.get("predictor_id") is not None:
        version.predictor_id = report["predictor_id"]
    elif version.predictor_id is None:
        # Assigned once: the row id is stable and unique within the service.
        version.predictor_id = version.id
    version.updated_at = utcnow()
    version.save()


def _body(version: ModelVersion, old_status: str | None, new_status: str,
          changed_at: datetime) -> bytes:
    return build_body(
        name=version.name,
        version=version.version,
        active=version.active,
        predictor_id=version.predictor_id,
        project_name=version.project_name,
        predictor_created_at=version.predictor_created_at,
        old_status=old_status,
        new_status=new_status,
        changed_at=changed_at,
    )


def _naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None)
