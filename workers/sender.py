"""Sending deliveries: claim, sign, POST, and record how each attempt went.

A ``Sender`` works on batches. The fan-out makes an event's first attempts
concurrently in one task, because Celery's own cost per task dwarfs a POST;
each failure is then left to its own ``deliver`` task, which Celery retries
with a countdown of the callback's interval. Database work is done in bulk by
the calling thread; the POSTs of a batch run together on the transport's
event loop (``workers.batch_transport``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import peewee

from app import __version__, callbacks, db, deliveries, outbox, retry
from app.config import Settings
from app.deliveries import AttemptRecord, Outcome
from app.errors import DependencyUnavailable
from app.models import (
    Callback,
    Delivery,
    DeliveryState,
    Event,
    utcnow,
)
from app.signing import signature_headers
from workers.batch_transport import BatchTransport, PostRequest
from workers.callback_cache import CallbackCache, Matching
from workers.transport import AttemptResult

log = logging.getLogger("modelhooks.delivery")

USER_AGENT = f"modelhooks/{__version__}"

# Pauses between tries at recording a batch of attempts (seconds).
RECORD_RETRY_PAUSES = (0.5, 2.0)


@dataclass(frozen=True)
class Attempted:
    """One delivery after one attempt: when to try again, if at all."""

    delivery_id: str
    state: str
    retry_in: float | None


# An event and the callbacks it goes to.
Match = tuple[Event, list[Callback]]


@dataclass(frozen=True)
class FanOutBatch:
    """What one batch of the drain did, and whether more events may be waiting."""

    events: int
    attempted: list[Attempted]
    more: bool


class Sender:
    """Makes attempts for a worker process; one per process, shared by its tasks.

    A database connection is held only around the claims and the records, never
    while POSTs are in flight.
    """

    def __init__(self, settings: Settings, transport: BatchTransport) -> None:
        self.settings = settings
        self.transport = transport
        self.callbacks = CallbackCache(settings.callback_cache)
        self._lease_margin = timedelta(seconds=settings.sweep_grace)

    def close(self) -> None:
        self.transport.close()

    def fan_out_waiting(self, limit: int,
                        before_sending: Callable[[], None] | None = None
                        ) -> FanOutBatch:
        """Fan out up to ``limit`` waiting events, oldest first, up to one wave
        of deliveries (see ``_match_one_wave``).

        ``before_sending`` is called once the deliveries are stored, before
        their POSTs, if the batch took any event.
        """
        with db.connection():
            if db.is_postgres():
                events, made, more = self._taken_and_created(limit)
            else:
                # SQLite's write lock stops every writer: match before taking it.
                wave, more = self._take_one_wave(limit)
                events, made = db.atomic(lambda: self._create(wave))
        if events:
            log.info("fanned out %d events into %d deliveries: %s", len(events),
                     len(made), ", ".join(event.id for event in events[:20]))
            if before_sending is not None:
                before_sending()
        return FanOutBatch(len(events), self._send(made), more)

    def _taken_and_created(self, limit: int
                           ) -> tuple[list[Event], list[Delivery], bool]:
        # The read locks only the events taken (others skip them), so matching
        # inside the transaction holds up nobody's reports.
        try:
            return db.atomic(lambda: self._take_and_create(limit, careful=False))
        except peewee.IntegrityError as error:
            # The deliveries' insert was refused and the batch rolled back
            # whole: a kept callback deleted after its account's stamp was
            # read (the foreign key), or a delivery that already exists.
            # Taken again with every account loaded afresh for this batch,
            # whatever other threads keep meanwhile (the load locks the
            # callbacks until the batch commits: a second refusal would fail
            # the whole drain), and with existing deliveries skipped.
            log.info("a batch's deliveries were refused (%s): the batch is "
                     "taken again with the callbacks loaded afresh", error)
            self.callbacks.forget_all()
            return db.atomic(lambda: self._take_and_create(limit, careful=True))

    def _take_and_create(self, limit: int, careful: bool
                         ) -> tuple[list[Event], list[Delivery], bool]:
        """PostgreSQL: the events are taken and marked at once; those beyond
        the wave go back to the outbox before the transaction ends. Unless
        ``careful``, the deliveries' insert ends the transaction; if careful,
        the callbacks are loaded afresh and existing deliveries skipped."""
        taken = outbox.take_marked(limit, utcnow())
        wave, more = self._one_wave(taken, limit, fresh=careful)
        outbox.put_back(taken[len(wave):])

        made = self._made(wave, ends_transaction=not careful)
        return [event for event, _ in wave], made, more

    def _take_one_wave(self, limit: int) -> tuple[list[Match], bool]:
        return self._one_wave(outbox.take_waiting(limit), limit)

    def _one_wave(self, taken: list[Event], limit: int, fresh: bool = False
                  ) -> tuple[list[Match], bool]:
        """The wave of ``taken``, and whether more events may be waiting."""
        wave = self._match_one_wave(taken, fresh)
        return wave, len(taken) == limit or len(wave) < len(taken)

    def _create(self, wave: list[Match]) -> tuple[list[Event], list[Delivery]]:
        """SQLite: in the write lock, the wave read before it, as it still is.

        In one transaction the events leave the outbox exactly when their
        deliveries exist; only events still waiting, and callbacks still
        enabled, count.
        """
        marked = outbox.mark_fanned_out([event for event, _ in wave], utcnow())
        wave = [(event, matched) for event, matched in wave if event.id in marked]
        wave = self._still_enabled(wave)

        return [event for event, _ in wave], self._made(wave)

    def _made(self, wave: list[Match], ends_transaction: bool = False
              ) -> list[Delivery]:
        # Born claimed, so that no second load is needed before sending.
        deliveries_count = sum(len(matched) for _, matched in wave)
        return deliveries.create_claimed(wave, self._lease_margin,
                                         self._rounds(deliveries_count),
                                         ends_transaction=ends_transaction)

    @staticmethod
    def _still_enabled(wave: list[Match]) -> list[Match]:
        ids = {callback.id for _, matched in wave for callback in matched}
        enabled = callbacks.enabled_among(ids)
        return [(event, [c for c in matched if c.id in enabled])
                for event, matched in wave]

    def attempt(self, delivery_ids: list[str]) -> list[Attempted]:
        """One attempt for each delivery that is pending and due; the rest are left."""
        with db.connection():
            claimed = deliveries.claim_loaded(delivery_ids, self._lease_margin,
                                              self._rounds(len(delivery_ids)))
            sendable = self._drop_disabled(claimed)
        return self._send(sendable)

    def _rounds(self, batch: int) -> int:
        return max(1, math.ceil(batch / self.settings.fan_out_concurrency))

    def _send(self, sendable: list[Delivery]) -> list[Attempted]:
        outcomes = self._send_all(sendable)

        recorded = self._record_with_retries(outcomes)
        return [self._report(o) for o in outcomes if o.delivery.id in recorded]

    def _send_all(self, sendable: list[Delivery]) -> list[Outcome]:
        """Make the batch's attempts at once; a fault of ours fails its attempt."""
        requests, outcomes = [], {}
        for delivery in sendable:
            try:
                requests.append((delivery, self._request(delivery)))
            except Exception as error:
                outcomes[delivery.id] = self._broken(delivery, error)

        results = self.transport.post_many([request for _, request in requests])
        # One moment for the whole batch: failures with the same interval then
        # share their next attempt, and are moved on by one UPDATE.
        judged_at = utcnow()
        for (delivery, _), result in zip(requests, results, strict=True):
            outcomes[delivery.id] = self._judge(delivery, self._record_of(result),
                                                result.ok, result.retry_after,
                                                judged_at)
        return [outcomes[delivery.id] for delivery in sendable]

    def _record_with_retries(self, outcomes: list[Outcome]) -> set[str]:
        # The POSTs are made: losing their record to a passing database fault
        # (a deadlock, a dropped connection) would have the sweep send them
        # again, so the record is tried a few times before giving up.
        for pause in RECORD_RETRY_PAUSES:
            try:
                with db.connection():
                    return self._record(outcomes)
            except DependencyUnavailable as error:
                log.warning("recording %d attempts failed, again in %.1f s: %s",
                            len(outcomes), pause, error)
                time.sleep(pause)
        with db.connection():
            return self._record(outcomes)

    def _record(self, outcomes: list[Outcome]) -> set[str]:
        gone = sorted({o.delivery.callback_id for o in outcomes
                       if retry.is_gone(o.record.status_code)})
        if not gone:
            # The record is a transaction of its own (one statement on
            # PostgreSQL): nothing else to do in it.
            return self._recorded(outcomes)
        # A callback is disabled in the transaction that logs its 410.
        return db.atomic(lambda: self._recorded_and_gone(outcomes, gone))

    def _recorded_and_gone(self, outcomes: list[Outcome],
                           gone_callbacks: list[int]) -> set[str]:
        # The accounts are locked before the deliveries, as every change to
        # callbacks locks them first (``_apply_gone`` asks again: a statement
        # more on this rare path). Being a read, the lock is also the first
        # statement, which the pool runs again on a connection that answers
        # if the database restarted during the POSTs: the record, a prepared
        # statement, could not be prepared again inside the transaction.
        callbacks.lock_owners(gone_callbacks)
        recorded = self._recorded(outcomes)

        self._apply_gone([o for o in outcomes if o.delivery.id in recorded])
        return recorded

    def _recorded(self, outcomes: list[Outcome]) -> set[str]:
        recorded = set(deliveries.finish_attempts(outcomes))
        for outcome in outcomes:
            if outcome.delivery.id not in recorded:
                log.warning("delivery %s: its claim ran out during the attempt; "
                            "the attempt is not logged", outcome.delivery.id)
        return recorded

    def _match_one_wave(self, events: list[Event], fresh: bool = False
                        ) -> list[Match]:
        """The first events and their matching callbacks, up to one wave of them.

        A batch stops once its deliveries fill one wave of the fan-out
        concurrency, never splitting an event: a worker killed mid-batch then
        has at most one wave to send again, and every lease covers one attempt.
        """
        wave: list[Match] = []
        deliveries_count = 0
        loaded_now: dict[int, Matching] = {}
        for event in events:
            matching = self._matching(event, fresh, loaded_now)
            version = event.model_version
            matched = matching.match(version.name, version.project_name)

            deliveries_count += len(matched)
            if wave and deliveries_count > self.settings.fan_out_concurrency:
                break
            wave.append((event, matched))
        return wave

    def _matching(self, event: Event, fresh: bool,
                  loaded_now: dict[int, Matching]) -> Matching:
        """The callbacks of the event's account: those kept at its stamp, or,
        if ``fresh``, loaded for this batch alone (into ``loaded_now``)."""
        stamp = event.account.callbacks_stamp
        if not fresh:
            return self.callbacks.matching(event.account_id, stamp)
        if event.account_id not in loaded_now:
            loaded_now[event.account_id] = Matching.of(
                stamp, callbacks.enabled_for(event.account_id))
        return loaded_now[event.account_id]

    def _drop_disabled(self, rows: list[Delivery]) -> list[Delivery]:
        disabled = [d.id for d in rows if not d.callback.enabled]
        if disabled:
            deliveries.release(disabled, DeliveryState.DROPPED)
            log.info("dropped %d deliveries of disabled callbacks: %s",
                     len(disabled), ", ".join(disabled[:20]))
        return [d for d in rows if d.callback.enabled]

    def _request(self, delivery: Delivery) -> PostRequest:
        callback = delivery.callback
        body = delivery.event.body.encode("utf-8")

        def headers() -> dict[str, str]:
            # Signed as the attempt starts: its timestamp is that of the POST.
            return {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                **signature_headers(callback.secret, delivery.id, body,
                                    int(time.time())),
            }

        return PostRequest(callback.url, body, headers,
                           timeout=callback.attempt_http_timeout)

    @staticmethod
    def _record_of(result: AttemptResult) -> AttemptRecord:
        return AttemptRecord(
            started_at=result.started_at or utcnow(), duration=result.duration,
            status_code=result.status_code, error=result.error,
            excerpt=result.excerpt, truncated=result.truncated,
        )

    def _broken(self, delivery: Delivery, error: Exception) -> Outcome:
        log.error("delivery %s (event %s, callback %s): attempt broke inside "
                  "modelhooks", delivery.id, delivery.event_id,
                  delivery.callback_id, exc_info=True)
        record = AttemptRecord(
            started_at=utcnow(), duration=0.0, status_code=None,
            error=f"InternalError: {type(error).__name__}: {error}",
            excerpt="", truncated=False,
        )
        return self._judge(delivery, record, ok=False, retry_after=None,
                           judged_at=utcnow())

    def _judge(self, delivery: Delivery, record: AttemptRecord, ok: bool,
               retry_after: str | None, judged_at: datetime) -> Outcome:
        callback = delivery.callback
        number = delivery.attempts_made + 1

        if ok:
            return Outcome(delivery, record, DeliveryState.SUCCEEDED)
        if retry.is_gone(record.status_code):
            return Outcome(delivery, record, DeliveryState.FAILED)
        if number >= callback.attempt_count:
            return Outcome(delivery, record, DeliveryState.FAILED)

        delay = retry.next_delay(
            interval=callback.attempt_interval, status_code=record.status_code,
            retry_after=retry_after,
            max_interval=self.settings.max_retry_interval, now=judged_at,
        )
        return Outcome(delivery, record, DeliveryState.PENDING,
                       next_attempt_at=judged_at + timedelta(seconds=delay))

    def _apply_gone(self, outcomes: list[Outcome]) -> None:
        gone = {o.delivery.callback_id: o.delivery.id for o in outcomes
                if retry.is_gone(o.record.status_code)}
        # Their accounts first, in account order, then the callbacks in id
        # order: two batches disabling callbacks lock both in the same order
        # and cannot deadlock.
        callbacks.lock_owners(sorted(gone))
        for callback_id in sorted(gone):
            callbacks.disable(callback_id, "the receiver answered 410 Gone")
            dropped = deliveries.drop_pending(callback_id)
            log.warning("callback %s disabled: delivery %s answered 410 Gone; "
                        "%d pending deliveries dropped", callback_id,
                        gone[callback_id], dropped)

    def _report(self, outcome: Outcome) -> Attempted:
        delivery, record = outcome.delivery, outcome.record
        number = delivery.attempts_made + 1
        answer = record.status_code if record.error is None else record.error
        retry_in = None
        if outcome.next_attempt_at is not None:
            retry_in = max(0.0, (outcome.next_attempt_at - utcnow()).total_seconds())

        waiting = outcome.state == DeliveryState.PENDING
        level = logging.WARNING if waiting else logging.INFO
        log.log(level, "delivery %s (event %s, callback %s) attempt %d: %s -> %s%s",
                delivery.id, delivery.event_id, delivery.callback_id, number, answer,
                outcome.state,
                f", next attempt in {retry_in:.1f} s" if retry_in is not None else "")
        return Attempted(delivery.id, outcome.state, retry_in)
