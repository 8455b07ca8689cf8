"""The safety net run by beat: work that the broker lost is published again.

Redis may restart empty, and a worker may die holding messages. Neither loses
anything, because the database knows what is left: events that were never
fanned out, deliveries whose attempt is overdue, and deliveries whose worker
stopped in the middle of an attempt. Publishing one of these twice is harmless:
the fan-out makes each delivery once, and every attempt claims its delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from app import deliveries
from app.config import Settings
from app.models import Event, utcnow

log = logging.getLogger("modelhooks.sweep")

BATCH = 1000


def sweep(settings: Settings, *, deliver: Callable[[str], None],
          fan_out: Callable[[str], None]) -> tuple[int, int]:
    """Publish stale events and overdue deliveries; answer how many of each."""
    grace = timedelta(seconds=settings.sweep_grace)

    stale_events = _stale_events(grace)
    for event_id in stale_events:
        fan_out(event_id)

    deliveries.reclaim_abandoned()
    overdue = deliveries.take_overdue(grace, limit=BATCH)
    for delivery_id in overdue:
        deliver(delivery_id)

    if stale_events or overdue:
        log.warning("sweep published %d events and %d deliveries again",
                    len(stale_events), len(overdue))
    return len(stale_events), len(overdue)


def _stale_events(grace: timedelta) -> list[str]:
    cutoff = utcnow() - grace
    query = (Event.select(Event.id)
             .where(Event.triggered & Event.fanned_out_at.is_null()
                    & (Event.created_at < cutoff))
             .order_by(Event.created_at).limit(BATCH))
    return [row.id for row in query]
