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

from app import db
from app.models import Account, ModelVersion, new_id, utcnow
from app.payload import build_body
from app.statement import Statement

log = logging.getLogger("modelhooks.events")

# The statements of every report, written once (see ``db.execute``); the
# columns are those of ``app.models.ModelVersion`` and ``Event``.
SELECT_VERSION = (
    "SELECT id, status, active, predictor_id, predictor_created_at"
    " FROM model_versions"
    " WHERE account_id = %s AND project_name = %s AND name = %s AND version = %s"
)
# The row is made with its final values in one statement, so its id, which is
# the default predictor id, is chosen in the statement itself.
INSERT_VERSION = (
    "INSERT INTO model_versions (id, account_id, project_name, name, version,"
    " predictor_id, active, status, predictor_created_at, updated_at)"
    " SELECT fresh.id, %s, %s, %s, %s, COALESCE(%s, fresh.id), %s, %s, %s, %s"
    " FROM (SELECT {next_id} AS id) AS fresh WHERE true"
    " ON CONFLICT DO NOTHING RETURNING id, predictor_id"
)
NEXT_VERSION_ID = {
    "postgres": "nextval('model_versions_id_seq')",
    # What SQLite itself would choose; the write lock is held (BEGIN IMMEDIATE).
    "sqlite": "(SELECT COALESCE(MAX(id), 0) + 1 FROM model_versions)",
}
UPDATE_VERSION = (
    "UPDATE model_versions SET status = %s, active = %s, predictor_id = %s,"
    " predictor_created_at = %s, updated_at = %s WHERE id = %s"
)
INSERT_EVENT = Statement(
    "insert_event",
    "INSERT INTO events (id, account_id, model_version_id, old_status, new_status,"
    " changed_at, triggered, body, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
    ("varchar", "integer", "integer", "varchar", "varchar", "timestamp", "boolean",
     "text", "timestamp"),
)
# On PostgreSQL the steps of ``_save_version`` in one statement, one round trip:
# lock the version's row and update it from the report, or make it if there is
# none. It answers the row as left and its last status; no row if a concurrent
# report made the version first (the INSERT then waited for it and did nothing).
# The INSERT's SELECT only runs, and only takes an id, when no row was locked.
# $1-$4 the version's key, $5 status, $6 active, $7 predictor_id (NULL: keep,
# or assign the row id), $8 whether predictor_created_at was given, $9 its
# value, $10 now.
SAVE_VERSION = Statement(
    "save_version",
    "WITH stored AS ("
    " SELECT id, status, active, predictor_id, predictor_created_at"
    " FROM model_versions"
    " WHERE account_id = $1 AND project_name = $2 AND name = $3 AND version = $4"
    " FOR UPDATE),"
    " updated AS ("
    " UPDATE model_versions AS target SET status = $5,"
    " active = COALESCE($6, stored.active),"
    " predictor_id = COALESCE($7, stored.predictor_id, stored.id),"
    " predictor_created_at = CASE WHEN $8 THEN $9"
    " ELSE stored.predictor_created_at END,"
    " updated_at = $10"
    " FROM stored WHERE target.id = stored.id"
    " RETURNING target.id, stored.status AS last_status, target.active,"
    " target.predictor_id, target.predictor_created_at),"
    " made AS ("
    " INSERT INTO model_versions (id, account_id, project_name, name, version,"
    " predictor_id, active, status, predictor_created_at, updated_at)"
    " SELECT fresh.id, $1, $2, $3, $4, COALESCE($7, fresh.id), COALESCE($6, true),"
    " $5, COALESCE($9, $10), $10"
    " FROM (SELECT nextval('model_versions_id_seq') AS id) AS fresh"
    " WHERE NOT EXISTS (SELECT FROM stored)"
    " ON CONFLICT DO NOTHING"
    " RETURNING id, NULL::varchar, active, predictor_id, predictor_created_at)"
    " SELECT * FROM updated UNION ALL SELECT * FROM made",
    ("integer", "varchar", "varchar", "integer", "varchar", "boolean", "bigint",
     "boolean", "timestamp", "timestamp"),
)


@dataclass(frozen=True)
class StatusChange:
    """What ``record`` decided: the event (None if nothing changed) and why."""

    event_id: str | None
    old_status: str | None
    new_status: str
    triggered: bool


@dataclass(frozen=True)
class VersionState:
    """A model version's row as this report leaves it."""

    id: int
    status: str | None
    active: bool
    predictor_id: int | None
    predictor_created_at: datetime | None


def record(account: Account, report: dict[str, Any],
           trigger_statuses: frozenset[str]) -> StatusChange:
    """Store a producer's status report; see the module docstring."""
    # db.atomic joins a transaction already open without nesting one, so the
    # COMMIT may only ride on the insert when this call opens the transaction.
    outermost = not db.database.in_transaction()
    return db.atomic(lambda: _record(account.id, report, trigger_statuses,
                                     outermost))


def _record(account_id, report, trigger_statuses, outermost: bool) -> StatusChange:
    version, last_status = _save_version(account_id, report)
    old_status = report["old_status"] if "old_status" in report else last_status
    new_status = report["status"]
    if old_status == new_status:
        return StatusChange(None, old_status, new_status, triggered=False)

    triggered = new_status in trigger_statuses
    changed_at = _naive_utc(report.get("changed_at")) or utcnow()
    body = _body(report, version, old_status, changed_at)
    event_id = new_id("evt")
    if outermost:
        db.commit_with_next()  # the insert is the transaction's last statement
    INSERT_EVENT.run((event_id, account_id, version.id, old_status, new_status,
                      changed_at, triggered, body, utcnow()))

    log.info("event %s: %s/%s v%d %s -> %s (triggered=%s)", event_id,
             report["project_name"], report["name"], report["version"], old_status,
             new_status, triggered)
    return StatusChange(event_id, old_status, new_status, triggered)


def _save_version(account_id: int, report: dict[str, Any]
                  ) -> tuple[VersionState, str | None]:
    """The version as the report leaves it, and its last known status.

    Its row stays locked until the transaction ends, so that two reports of
    one version take turns.
    """
    if db.is_postgres():
        return _saved_in_one_statement(account_id, report)
    return _saved_step_by_step(account_id, report)


def _saved_in_one_statement(account_id: int, report: dict[str, Any]
                            ) -> tuple[VersionState, str | None]:
    params = (account_id, report["project_name"], report["name"], report["version"],
              report["status"], report.get("active"), report.get("predictor_id"),
              "predictor_created_at" in report,
              _naive_utc(report.get("predictor_created_at")), utcnow())
    row = SAVE_VERSION.run(params).fetchone()
    if row is None:
        # A concurrent report made the row first: now it is there to lock.
        row = SAVE_VERSION.run(params).fetchone()
    id_, last_status, active, predictor_id, created = row
    version = VersionState(id_, report["status"], active, predictor_id, created)
    return version, last_status


def _saved_step_by_step(account_id: int, report: dict[str, Any]
                        ) -> tuple[VersionState, str | None]:
    stored = _locked_version(account_id, report)
    if stored is None:
        made = _insert_version(account_id, report)
        if made is not None:
            return made, None
        # A concurrent report made the row first: wait for its lock, then update.
        stored = _locked_version(account_id, report)

    version = _updated(stored, report)
    db.execute(UPDATE_VERSION, (version.status, version.active, version.predictor_id,
                                version.predictor_created_at, utcnow(), version.id))
    return version, stored.status


def _locked_version(account_id: int, report: dict[str, Any]) -> VersionState | None:
    key = (account_id, report["project_name"], report["name"], report["version"])
    row = db.execute(db.locking(SELECT_VERSION), key).fetchone()
    if row is None:
        return None
    id_, status, active, predictor_id, created = row
    # SQLite hands back booleans and times as stored; the fields convert them.
    return VersionState(id_, status, ModelVersion.active.python_value(active),
                        predictor_id,
                        ModelVersion.predictor_created_at.python_value(created))


def _insert_version(account_id: int, report: dict[str, Any]) -> VersionState | None:
    """The new version's row, or None if a concurrent report made it first."""
    # Without a savepoint: a row that a concurrent report made first is left
    # alone, and ``_locked_version`` then waits for it and locks it.
    created = _naive_utc(report.get("predictor_created_at")) or utcnow()
    active = report.get("active", True)
    sql = INSERT_VERSION.format(
        next_id=NEXT_VERSION_ID["postgres" if db.is_postgres() else "sqlite"])
    row = db.execute(sql, (account_id, report["project_name"], report["name"],
                           report["version"], report.get("predictor_id"), active,
                           report["status"], created, utcnow())).fetchone()
    if row is None:
        return None
    return VersionState(row[0], report["status"], active, row[1], created)


def _updated(stored: VersionState, report: dict[str, Any]) -> VersionState:
    predictor_id = report.get("predictor_id")
    if predictor_id is None:
        # Assigned once: the row id is stable and unique within the service.
        predictor_id = stored.id if stored.predictor_id is None else stored.predictor_id
    created = stored.predictor_created_at
    if "predictor_created_at" in report:
        created = _naive_utc(report["predictor_created_at"])
    return VersionState(stored.id, report["status"],
                        report.get("active", stored.active), predictor_id, created)


def _body(report: dict[str, Any], version: VersionState, old_status: str | None,
          changed_at: datetime) -> str:
    return build_body(
        name=report["name"],
        version=report["version"],
        active=version.active,
        predictor_id=version.predictor_id,
        project_name=report["project_name"],
        predictor_created_at=version.predictor_created_at,
        old_status=old_status,
        new_status=version.status,
        changed_at=changed_at,
    ).decode("utf-8")


def _naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None)
