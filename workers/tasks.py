"""The Celery tasks: fan-out of an event, one delivery's next attempt, the sweep."""

from __future__ import annotations

import logging
import threading

from celery import Task

from app import broker, db, deliveries
from workers import sweeper
from workers.celery_app import celery_app, settings
from workers.sender import Sender
from workers.transport import Transport

log = logging.getLogger("modelhooks.worker")

# How early a message may arrive and still be put back to wait (seconds).
EARLY_TOLERANCE = 5.0

_sender: Sender | None = None
_sender_lock = threading.Lock()


def sender() -> Sender:
    """This process's sender, made on first use (after any fork)."""
    global _sender
    with _sender_lock:
        if _sender is None:
            transport = Transport(allow_private=settings.allow_private_targets,
                                  excerpt_limit=settings.response_excerpt_bytes,
                                  connections_per_pool=settings.fan_out_concurrency)
            _sender = Sender(settings, transport)
        return _sender


@celery_app.task(name=broker.FAN_OUT_TASK)
def fan_out(event_id: str) -> None:
    """Make an event's deliveries and their first attempts; schedule the retries."""
    attempted = sender().fan_out(event_id)

    for item in attempted:
        if item.retry_in is not None:
            deliver.apply_async(args=[item.delivery_id], countdown=item.retry_in)


@celery_app.task(name=broker.DELIVER_TASK, bind=True, max_retries=None)
def deliver(self: Task, delivery_id: str) -> None:
    """The next attempt of one delivery; a failure retries after its interval."""
    attempted = sender().attempt([delivery_id])
    if not attempted:
        _wait_if_early(self, delivery_id)

    for item in attempted:
        if item.retry_in is not None:
            raise self.retry(countdown=item.retry_in)


def _wait_if_early(task: Task, delivery_id: str) -> None:
    # A message that arrives a moment before its delivery is due (a clock a
    # little ahead of the database's) comes back when it is. A copy that is
    # early by more is a stale duplicate: the delivery's own message or the
    # sweep will make the attempt, and keeping the copy alive would only let
    # copies pile up attempt after attempt.
    with db.connection():
        remaining = deliveries.seconds_until_due(delivery_id)
    if remaining and remaining <= EARLY_TOLERANCE:
        raise task.retry(countdown=remaining)


@celery_app.task(name=broker.SWEEP_TASK)
def sweep() -> None:
    """Publish again what fell out of the broker (see ``workers.sweeper``)."""
    with db.connection():
        sweeper.sweep(settings, deliver=_publish_delivery, fan_out=_publish_fan_out)


def _publish_delivery(delivery_id: str) -> None:
    deliver.apply_async(args=[delivery_id])


def _publish_fan_out(event_id: str) -> None:
    fan_out.apply_async(args=[event_id])
