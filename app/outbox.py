"""The outbox: triggering events stored by the API and not yet fanned out.

The web process stores an event and only then asks for a worker; the worker
takes whatever events are waiting, a batch at a time, so a burst of reports
costs one task, one query and one insert per batch rather than per event. An
event leaves the outbox when ``mark_fanned_out`` commits with its deliveries.
"""

from __future__ import annotations

from datetime import datetime

from app import bulk, db
from app.models import Account, Event, ModelVersion, loaded

# Written once as SQL text: every batch of the drain runs it.
SELECT_WAITING = (
    "SELECT events.id, events.account_id, events.body,"
    " model_versions.name, model_versions.project_name, accounts.callbacks_stamp"
    " FROM events JOIN model_versions ON model_versions.id = events.model_version_id"
    " JOIN accounts ON accounts.id = events.account_id"
    " WHERE events.triggered AND events.fanned_out_at IS NULL"
    " ORDER BY events.created_at LIMIT %s"
)
# Only the event rows are locked: the API locks model versions to record
# reports. Locked events are skipped, not waited for: another worker has them.
POSTGRES_LOCKING = " FOR UPDATE OF events SKIP LOCKED"

# PostgreSQL: the batch's events taken and marked in one statement (a round
# trip less for every batch). The order is the caller's to restore: an
# UPDATE's RETURNING keeps none.
#
# An event marked leaves a dead entry in the index of the waiting ones until
# a vacuum, which on a busy outbox is thousands of entries. Walked in order,
# the index marks each dead entry it meets so that no later take reads it
# again; a bitmap scan marks none and rereads them all, every batch. The
# planner picks a bitmap whenever its statistics lag behind a burst of events
# (a take then cost 0.96 instead of 0.60 ms after 5,000 events, in process),
# so the batch's transaction turns bitmaps off.
TAKE_AND_MARK = (
    "SET LOCAL enable_bitmapscan = off;"
    " UPDATE events SET fanned_out_at = %s FROM model_versions, accounts"
    " WHERE model_versions.id = events.model_version_id"
    " AND accounts.id = events.account_id AND events.id IN ("
    "SELECT id FROM events WHERE triggered AND fanned_out_at IS NULL"
    " ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED)"
    " RETURNING events.id, events.account_id, events.body,"
    " model_versions.name, model_versions.project_name,"
    " accounts.callbacks_stamp, events.created_at"
)
PUT_BACK = "UPDATE events SET fanned_out_at = NULL WHERE id IN ({ids})"


def take_waiting(limit: int) -> list[Event]:
    """Up to ``limit`` waiting events, oldest first, with their model's names
    and their account's ``callbacks_stamp``.

    On PostgreSQL, call it inside the batch's transaction: the events stay
    locked until it ends and a worker taking a batch at the same moment skips
    them. On SQLite it locks nothing; ``mark_fanned_out`` then answers which
    events are still this batch's to fan out.
    """
    sql = SELECT_WAITING + POSTGRES_LOCKING if db.is_postgres() else SELECT_WAITING
    return _events(db.execute(sql, (limit,)).fetchall())


def take_marked(limit: int, moment: datetime) -> list[Event]:
    """PostgreSQL: ``take_waiting`` and ``mark_fanned_out`` in one statement.

    Call it inside the batch's transaction: the events stay locked until it
    ends, and those the batch leaves out go back with ``put_back``.
    """
    rows = db.execute(TAKE_AND_MARK, (moment, limit)).fetchall()
    oldest_first = sorted(rows, key=lambda row: row[-1])  # by created_at
    return _events([row[:-1] for row in oldest_first])


def put_back(events: list[Event]) -> None:
    """Return events that ``take_marked`` took to the outbox, still waiting."""
    if events:
        db.execute(PUT_BACK.format(ids=bulk.placeholders(len(events))),
                   [event.id for event in events])


def _events(rows) -> list[Event]:
    """Events of rows (id, account, body, model name, project name, the
    account's callbacks stamp)."""
    return [loaded(Event, id=event_id, body=body,
                   account=loaded(Account, id=account_id,
                                  callbacks_stamp=callbacks_stamp),
                   model_version=loaded(ModelVersion, name=name,
                                        project_name=project_name))
            for event_id, account_id, body, name, project_name, callbacks_stamp
            in rows]


def mark_fanned_out(events: list[Event], moment: datetime) -> set[str]:
    """Take the events out of the outbox; answer the ids of those still in it.

    An event another worker took first is left as it is and not answered.
    """
    if not events:
        return set()
    query = (Event.update(fanned_out_at=moment)
             .where(Event.id.in_([event.id for event in events])
                    & Event.fanned_out_at.is_null())
             .returning(Event.id))
    return {row.id for row in query.execute()}
