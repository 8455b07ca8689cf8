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
          drain: Callable[[], None]) -> tuple[int, int]:
    """Publish again what the broker lost; answer how many events and deliveries.

    Events left waiting past the grace period get one drain, which takes the
    oldest first. Deliveries whose worker died mid-attempt are handed out at
    once; overdue ones, whose message was lost, too.
    """
    grace = timedelta(seconds=settings.sweep_grace)

    stale_events = _stale_events(grace)
    if stale_events:
        drain()

    abandoned = deliveries.reclaim_abandoned()
    overdue = deliveries.take_overdue(grace, limit=BATCH)
    for delivery_id in [*abandoned, *overdue]:
        deliver(delivery_id)

    if stale_events or abandoned or overdue:
        log.warning("sweep: %d events waiting past the grace period (a drain is "
                    "published), %d deliveries reclaimed and %d overdue published "
                    "again", stale_events, len(abandoned), len(overdue))
    return stale_events, len(abandoned) + len(overdue)


def _stale_events(grace: timedelta) -> int:
    cutoff = utcnow() - grace
    return (Event.select(Event.id)
            .where(Event.triggered & Event.fanned_out_at.is_null()
                   & (Event.created_at < cutoff))
            .limit(BATCH).count())
