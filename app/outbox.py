"""The outbox: triggering events stored by the API and not yet fanned out.

The web process stores an event and only then asks for a worker; the worker
takes whatever events are waiting, a batch at a time, so a burst of reports
costs one task, one query and one insert per batch rather than per event. An
event leaves the outbox when ``mark_fanned_out`` commits with its deliveries.
"""

from __future__ import annotations

from datetime import datetime

import peewee

from app import db
from app.models import Event, ModelVersion


def take_waiting(limit: int, event_ids: list[str] | None = None) -> list[Event]:
    """Up to ``limit`` waiting events, oldest first, with their model versions.

    Call it inside a transaction: the events stay locked until it ends, and a
    worker taking a batch at the same moment skips them (PostgreSQL) or waits
    for the write lock (SQLite), so no event is fanned out twice. ``event_ids``
    narrows the batch to those events.
    """
    query = (Event.select(Event, ModelVersion).join(ModelVersion)
             .where(Event.triggered & Event.fanned_out_at.is_null())
             .order_by(Event.created_at)
             .limit(limit))
    if event_ids is not None:
        query = query.where(Event.id.in_(event_ids))
    if isinstance(db.database.obj, peewee.PostgresqlDatabase):
        # Only the event rows: the API locks model versions to record reports.
        query = query.for_update(of=Event, skip_locked=True)
    return list(query)


def mark_fanned_out(events: list[Event], moment: datetime) -> None:
    """Take the events out of the outbox (their deliveries exist as of now)."""
    if events:
        Event.update(fanned_out_at=moment).where(
            Event.id.in_([event.id for event in events])).execute()
