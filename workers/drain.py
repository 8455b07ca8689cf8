"""The drain: the outbox's waiting events fanned out a batch at a time, and,
where Redis is the broker, a watch for the next ones.

A drain starts holding the flag its publisher raised (``app.broker``): while
it stands, the API publishes no other drain and leaves a wake-up instead.
After its last batch the drain keeps the flag up and waits for a wake-up, so
events that come one by one are taken as they come, without a task message
and Celery's hop each. If a batch's POSTs and their record take longer than
``SLOW_SENDING``, it puts the flag down until they are done, so that events
stored meanwhile get a drain of their own instead of waiting behind slow
receivers, and takes it up again after unless another drain has it by then.
When no event came for ``linger`` seconds, the drain puts the flag down,
looks once more (for events stored while it stood) and ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis

from app.broker import Broker
from workers.sender import Attempted, FanOutBatch, Sender

log = logging.getLogger("modelhooks.worker")

# Events fanned out together at most (a batch also stops at one wave of
# deliveries), and full batches in a row after which a drain hands the rest
# to a drain of its own (so other tasks get their turn in between).
BATCH_EVENTS = 50
BATCHES = 20

# The longest single wait for a wake-up, and how often the flag is renewed
# while the drain watches (both well within the flag's 5 s).
WAKE_WAIT = 1.0
RENEW_EVERY = 1.0

# How long a batch may send before the flag goes down for its remainder: a
# fast batch ends sooner than a new drain's message would start.
SLOW_SENDING = 0.02

# A drain ends after this long in all, well within any visibility timeout,
# so that Redis never hands its message to a second worker.
LIFETIME = 60.0


class Drain:
    """One run of the drain task; ``run`` returns when it is done."""

    def __init__(self, sender: Sender, broker: Broker, linger: float,
                 schedule: Callable[[list[Attempted]], None],
                 stopping: threading.Event,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sender = sender
        self.broker = broker
        self.linger = linger
        self.schedule = schedule
        self.stopping = stopping
        self.clock = clock

    def run(self) -> None:
        if self.linger <= 0 or not self.broker.can_watch:
            self.broker.release_flag()
            self._until_none_wait()
            return

        try:
            self._watching()
        except redis.RedisError as error:
            log.warning("the drain stopped watching for events: %s", error)
            self.broker.release_flag()
            self._until_none_wait()

    def _watching(self) -> None:
        slow = SlowSending(self.broker.release_flag)
        try:
            self._watch_with(slow)
        finally:
            slow.close()

    def _watch_with(self, slow: SlowSending) -> None:
        started = last_event = renewed = self.clock()
        holding, backlog = True, 0
        while self.clock() - started < LIFETIME:
            batch, released = self._batch(slow if holding else None)
            if batch.events:
                last_event = self.clock()
            if released:
                holding = self.broker.hold_flag()
            if batch.more:
                backlog += 1
                if backlog == BATCHES:
                    self.broker.publish_drain()
                    return
                continue
            backlog = 0
            if not holding:
                return  # the drain holding the flag now looks after the rest

            waited = self._wait_for_events(started, last_event, renewed)
            if waited is None:
                break
            renewed = waited
        self.broker.release_flag()
        self._until_none_wait()

    def _wait_for_events(self, started: float, last_event: float,
                         renewed: float) -> float | None:
        """Wait for a wake-up; answer when the flag was last renewed, or None
        once the drain should end."""
        while True:
            now = self.clock()
            remaining = min(last_event + self.linger, started + LIFETIME) - now
            if remaining <= 0 or self.stopping.is_set():
                return None
            if now - renewed >= RENEW_EVERY:
                self.broker.renew_flag()
                renewed = now
            if self.broker.wait_for_wake(min(WAKE_WAIT, remaining)):
                return renewed

    def _until_none_wait(self) -> None:
        """Batches until none is left: the flag is down, nothing is watched."""
        for _ in range(BATCHES):
            batch, _ = self._batch()
            if not batch.more:
                return
        self.broker.publish_drain()

    def _batch(self, slow: SlowSending | None = None) -> tuple[FanOutBatch, bool]:
        """One batch; answers it, and whether ``slow`` put the flag down."""
        try:
            batch = self.sender.fan_out_waiting(
                BATCH_EVENTS, slow.arm if slow is not None else None)
        except Exception:
            # Its events are still waiting (the batch's transaction rolled
            # back); with the flag down, new events ask for drains of their own.
            self.broker.release_flag()
            raise
        finally:
            released = slow is not None and slow.disarm()
        self.schedule(batch.attempted)
        return batch, released


class SlowSending:
    """Puts the flag down for a batch still sending ``SLOW_SENDING`` after it
    began.

    One thread for a drain's whole watch, armed for each batch: arming costs
    the batch a notify, where a timer would cost it a new thread.
    """

    def __init__(self, release: Callable[[], None]) -> None:
        self._release = release
        self._changed = threading.Condition()
        self._armed_at: float | None = None
        self._released = False
        self._closed = False
        self._thread = threading.Thread(target=self._watch, daemon=True,
                                        name="modelhooks-slow-sending")
        self._thread.start()

    def arm(self) -> None:
        with self._changed:
            self._armed_at = time.monotonic()
            self._changed.notify()

    def disarm(self) -> bool:
        """Stop watching this batch; answer whether the flag went down for it.

        The release happens under the lock, so the answer is final.
        """
        with self._changed:
            released, self._released = self._released, False
            self._armed_at = None
            return released

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._thread.join()

    def _watch(self) -> None:
        with self._changed:
            while not self._closed:
                if self._armed_at is None:
                    self._changed.wait()
                    continue
                remaining = self._armed_at + SLOW_SENDING - time.monotonic()
                if remaining > 0:
                    self._changed.wait(remaining)
                    continue
                self._release()
                self._released = True
                self._armed_at = None
