"""Publishing work to the Celery workers without importing them.

The web process only needs to put messages on the broker, so it talks to Celery
by task name through a light client app; the tasks themselves live in
``workers``, which depends on ``app`` and never the other way round.
"""

from __future__ import annotations

import logging

from celery import Celery
from kombu.exceptions import OperationalError as KombuOperationalError

from app.errors import DependencyUnavailable

log = logging.getLogger("modelhooks.broker")

FAN_OUT_TASK = "modelhooks.fan_out"
DELIVER_TASK = "modelhooks.deliver"
SWEEP_TASK = "modelhooks.sweep"


class Broker:
    """Sends task messages to the broker at ``url`` (Redis, or memory in dev)."""

    def __init__(self, url: str, celery_app: Celery | None = None) -> None:
        self.url = url
        self.celery = celery_app or self._publisher(url)

    @staticmethod
    def _publisher(url: str) -> Celery:
        publisher = Celery("modelhooks-publisher", broker=url)
        publisher.conf.broker_connection_retry_on_startup = False
        # A publish waits at most this long when Redis is down: the event is
        # already stored, and the sweep publishes it once the broker is back.
        publisher.conf.broker_transport_options = {
            "max_retries": 1,
            "socket_connect_timeout": 1,
            "socket_timeout": 2,
        }
        publisher.conf.task_default_queue = "modelhooks"
        return publisher

    def publish_fan_out(self, event_id: str) -> bool:
        """Ask a worker to fan ``event_id`` out; False if the broker is down."""
        return self._send(FAN_OUT_TASK, event_id)

    def _send(self, task: str, object_id: str) -> bool:
        try:
            self.celery.send_task(task, args=[object_id], retry=False)
        except (KombuOperationalError, OSError) as error:
            log.warning("could not publish %s for %s; the sweep will: %s",
                        task, object_id, error)
            return False
        return True

    def ping(self) -> None:
        """Raise ``DependencyUnavailable`` unless the broker accepts a connection."""
        try:
            with self.celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception as error:
            raise DependencyUnavailable(f"broker unavailable: {error}") from error
