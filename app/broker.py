"""Publishing work to the Celery workers without importing them.

The web process only needs to put messages on the broker, so it talks to Celery
by task name through a light client app; the tasks themselves live in
``workers``, which depends on ``app`` and never the other way round.

A stored event does not get a message of its own. It asks for a *drain*, a
task that fans out every event waiting in the outbox, and only when no drain
holds the flag in Redis that says one is queued or watching. A drain holds
that flag from its publishing until it stops watching (``workers.drain``),
and every event stored while the flag is up also leaves a wake-up in Redis
for the drain that holds it. Every event is stored before it tests the flag,
and a drain that puts the flag down looks once more before it ends, so each
event is seen by a drain that looks after it was stored. Under load one task
serves a whole batch of events, and a steady trickle of them is taken as it
comes by a drain already running, without a message of its own.
"""

from __future__ import annotations

import logging

import redis
from celery import Celery
from kombu.exceptions import OperationalError as KombuOperationalError

from app.errors import DependencyUnavailable
from app.packed import PackedCommands

log = logging.getLogger("modelhooks.broker")

DRAIN_TASK = "modelhooks.drain"
DELIVER_TASK = "modelhooks.deliver"
SWEEP_TASK = "modelhooks.sweep"

DRAIN_QUEUED_KEY = "modelhooks:drain-queued"
DRAIN_WAKE_KEY = "modelhooks:drain-wake"

# How long the flag stands unless its drain renews it. A drain message that
# is stuck (its worker died holding it) stops suppressing new ones after this;
# until then the sweep is the safety net for the events it would have taken.
DRAIN_QUEUED_TTL_MS = 5_000


class Broker:
    """Sends task messages to the broker at ``url`` (Redis, or memory in dev)."""

    def __init__(self, url: str, celery_app: Celery | None = None) -> None:
        self.url = url
        self.celery = celery_app or self._publisher(url)
        self._flags = self._flag_client(url)
        if self._flags is not None:
            self._raise_or_wake = PackedCommands(self._flags, [
                ("SET", DRAIN_QUEUED_KEY, 1, "NX", "PX", DRAIN_QUEUED_TTL_MS),
                ("LPUSH", DRAIN_WAKE_KEY, 1),
                ("LTRIM", DRAIN_WAKE_KEY, 0, 0),
            ])

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
            if self._flags is not None and not self._raise_flag_or_wake():
                return True  # the drain holding the flag will take this event
            self.celery.send_task(DRAIN_TASK, retry=False)
        except (redis.RedisError, KombuOperationalError, OSError) as error:
            log.warning("event %s: could not publish its fan-out; the sweep will: %s",
                        event_id, error)
            # The flag may stand for a drain that never reached the queue.
            self.release_flag()
            return False
        return True

    def _raise_flag_or_wake(self) -> bool:
        """Raise the flag (True: publish a drain), and wake a drain watching.

        One round trip: the wake-up is left either way, and a new drain finds
        it already answered by its first look. The list keeps one wake-up at
        most, however many events leave one before a drain takes it.
        """
        raised, _, _ = self._raise_or_wake.run()
        return raised is not None

    @property
    def can_watch(self) -> bool:
        """Whether a drain can hold the flag and be woken (Redis is the broker)."""
        return self._flags is not None

    def hold_flag(self) -> bool:
        """Take the flag up again; False if another drain holds it meanwhile."""
        if self._flags is None:
            return False
        return bool(self._flags.set(DRAIN_QUEUED_KEY, 1, nx=True,
                                    px=DRAIN_QUEUED_TTL_MS))

    def renew_flag(self) -> None:
        """Keep the flag up for another ``DRAIN_QUEUED_TTL_MS``."""
        if self._flags is not None:
            self._flags.set(DRAIN_QUEUED_KEY, 1, px=DRAIN_QUEUED_TTL_MS)

    def wait_for_wake(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an event's wake-up; True if one came.

        The list holds one wake-up at most, so taking it answers every event
        that left one so far; one left after that wakes the next wait at once.
        """
        if self._flags is None:
            return False
        return self._flags.blpop([DRAIN_WAKE_KEY], timeout=timeout) is not None

    def publish_drain(self) -> bool:
        """Queue a drain whatever the flag says (more events wait than one took)."""
        try:
            if self._flags is not None:
                self._flags.set(DRAIN_QUEUED_KEY, 1, px=DRAIN_QUEUED_TTL_MS)
            self.celery.send_task(DRAIN_TASK, retry=False)
        except (redis.RedisError, KombuOperationalError, OSError) as error:
            log.warning("could not publish a drain; the sweep will: %s", error)
            self.release_flag()
            return False
        return True

    def release_flag(self) -> None:
        """Put the flag down: events stored from now on ask for another drain."""
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
