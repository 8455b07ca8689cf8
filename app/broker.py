"""Publishing work to the Celery workers without importing them.

The web process only needs to put messages on the broker, so it talks to Celery
by task name through a light client app; the tasks themselves live in
``workers``, which depends on ``app`` and never the other way round.

A stored event does not get a message of its own. It asks for a *drain*, a
task that fans out every event waiting in the outbox, and only when no drain
is queued yet: a flag in Redis, set when a drain is published and cleared when
one starts, says so. Every event is stored before its flag is tested and every
drain clears the flag before it looks, so each event is seen by a drain that
starts after it was stored. Under load one task then serves a whole batch of
events, and Celery's own cost per task is paid once per batch.
"""

from __future__ import annotations

import logging

import redis
from celery import Celery
from kombu.exceptions import OperationalError as KombuOperationalError

from app.command import PackedCommand
from app.errors import DependencyUnavailable

log = logging.getLogger("modelhooks.broker")

DRAIN_TASK = "modelhooks.drain"
DELIVER_TASK = "modelhooks.deliver"
SWEEP_TASK = "modelhooks.sweep"

DRAIN_QUEUED_KEY = "modelhooks:drain-queued"

# How long a queued drain holds the flag at most. A drain message that is
# stuck (its worker died holding it) stops suppressing new ones after this;
# until then the sweep is the safety net for the events it would have taken.
DRAIN_QUEUED_TTL_MS = 5_000


class Broker:
    """Sends task messages to the broker at ``url`` (Redis, or memory in dev)."""

    def __init__(self, url: str, celery_app: Celery | None = None) -> None:
        self.url = url
        self.celery = celery_app or self._publisher(url)
        self._flags = self._flag_client(url)
        if self._flags is not None:
            self._set_flag_if_absent = PackedCommand(
                self._flags, "SET", DRAIN_QUEUED_KEY, 1, "NX", "PX",
                DRAIN_QUEUED_TTL_MS)

    @staticmethod
    def _flag_client(url: str) -> redis.Redis | None:
        # The in-memory broker of ``modelhooks dev`` has no Redis: there every
        # event publishes its own drain, which costs nothing that matters there.
        if not url.startswith(("redis://", "rediss://")):
            return None
        return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)

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
        """Make sure a worker fans out ``event_id``, stored and committed already.

        Answers False if the broker is down; the sweep then publishes it.
        """
        try:
            if self._flags is not None and self._set_flag_if_absent.run() is None:
                return True  # a drain is queued and will take this event
            self.celery.send_task(DRAIN_TASK, retry=False)
        except (redis.RedisError, KombuOperationalError, OSError) as error:
            log.warning("event %s: could not publish its fan-out; the sweep will: %s",
                        event_id, error)
            # The flag may stand for a drain that never reached the queue.
            self._clear_queued_flag()
            return False
        return True

    def drain_started(self) -> None:
        """Clear the flag: events stored from now on ask for another drain."""
        self._clear_queued_flag()

    def publish_drain(self) -> bool:
        """Queue a drain whatever the flag says (more events wait than one took)."""
        try:
            if self._flags is not None:
                self._flags.set(DRAIN_QUEUED_KEY, 1, px=DRAIN_QUEUED_TTL_MS)
            self.celery.send_task(DRAIN_TASK, retry=False)
        except (redis.RedisError, KombuOperationalError, OSError) as error:
            log.warning("could not publish a drain; the sweep will: %s", error)
            self._clear_queued_flag()
            return False
        return True

    def _clear_queued_flag(self) -> None:
        if self._flags is None:
            return
        try:
            self._flags.delete(DRAIN_QUEUED_KEY)
        except redis.RedisError as error:
            # The flag then expires on its own; events wait at most that long.
            log.warning("could not clear the queued-drain flag: %s", error)

    def ping(self) -> None:
        """Raise ``DependencyUnavailable`` unless the broker accepts a connection."""
        try:
            with self.celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except Exception as error:
            raise DependencyUnavailable(f"broker unavailable: {error}") from error
