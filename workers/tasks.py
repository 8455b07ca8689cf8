"""The Celery tasks: the drain of the outbox, one delivery's next attempt, and
the sweep."""

from __future__ import annotations

import logging
import threading

from celery import Task, signals

from app import broker, db, deliveries
from workers import sweeper
from workers.batch_transport import BatchTransport
from workers.celery_app import celery_app, settings
from workers.drain import Drain
from workers.sender import Attempted, Sender

log = logging.getLogger("modelhooks.worker")

# How early a message may arrive and still be put back to wait (seconds).
EARLY_TOLERANCE = 5.0

# How long a drain whose batch failed (the database went away) waits to retry.
DRAIN_RETRY_SECONDS = 5

publisher = broker.Broker(settings.redis_url, celery_app)

_sender: Sender | None = None
_sender_lock = threading.Lock()


def sender() -> Sender:
    """This process's sender, made on first use (after any fork)."""
    global _sender
    with _sender_lock:
        if _sender is None:
            transport = BatchTransport(allow_private=settings.allow_private_targets,
                                       excerpt_limit=settings.response_excerpt_bytes,
                                       concurrency=settings.fan_out_concurrency)
            _sender = Sender(settings, transport)
        return _sender


# Set when the worker begins a warm shutdown: a drain watching for events
# stops waiting, so that the shutdown is not held up by it.
_stopping = threading.Event()


# Acknowledged as it starts, unlike the other tasks: a drain spends most of
# its life watching, and a message left unacknowledged then would be handed
# out again only after the visibility timeout, long after the sweep and the
# next worker's first drain take the events it left. Held unacknowledged, it
# also made kombu fail to close its connection when Redis went away (the
# worker stopped with "Unrecoverable error").
@celery_app.task(name=broker.DRAIN_TASK, bind=True, max_retries=None,
                 acks_late=False)
def drain(self: Task) -> None:
    """Fan out the events waiting in the outbox; then watch for more a while."""
    run = Drain(sender(), publisher, settings.drain_linger,
                schedule=_schedule_retries, stopping=_stopping)
    try:
        run.run()
    except Exception as error:
        # Its events are still waiting (the batch's transaction rolled back),
        # and the flag is down: this drain must come back for them.
        log.error("a drain batch failed; draining again in %d s: %s",
                  DRAIN_RETRY_SECONDS, error, exc_info=True)
        raise self.retry(countdown=DRAIN_RETRY_SECONDS) from error


def _schedule_retries(attempted: list[Attempted]) -> None:
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
        sweeper.sweep(settings, deliver=_publish_delivery, drain=_publish_drain)


def _publish_delivery(delivery_id: str) -> None:
    deliver.apply_async(args=[delivery_id])


def _publish_drain() -> None:
    publisher.publish_drain()


@signals.worker_shutting_down.connect
def _stop_watching(**_kwargs) -> None:
    _stopping.set()


@signals.worker_ready.connect
def _drain_on_start(**_kwargs) -> None:
    # Events stored while no worker ran (or whose drain died with its worker)
    # are taken at once rather than at the sweep's next turn.
    publisher.publish_drain()
